export const DEFAULT_BUNDLE: string
export const CONTEXT: {
  botId: string
  botUserId: string
  integrationId: string
  integrationAlias: string
  integrationName: string
  webhookId: string
}
export type Rec = Record<string, any>
export type Store = {
  users: Rec[]
  conversations: Rec[]
  messages: Rec[]
  events: Rec[]
  states: Rec[]
  calls: Record<string, number>
  gateway: { status: number; at: string }[]
}
export type Harness = {
  port: number
  baseUrl: string
  store: Store
  invoke(operation: string, body: unknown): Promise<{ status: number; headers: Record<string, string>; body?: string }>
  setConfiguration(c: { handoffUrl: string; apiKey: string }): void
  fail(status: number, ms: number, route?: string | null): void
  resetCalls(): void
  close(): Promise<void>
}
export function startHarness(opts?: { bundle?: string | false; port?: number; host?: string }): Promise<Harness>
