import type * as sdk from '@botpress/sdk'
// `bp gen` cannot run here (no CLI for SDK 5.x), so the typings it would write to
// .botpress/ are written by hand from bp_modules/hitl (interface hitl 2.1.0) and
// integration.definition.ts. Keep them in step.

export type Configuration = {
  handoffUrl: string
  apiKey: string
}

export type Priority = 'low' | 'medium' | 'high' | 'urgent'

export type SessionEntity = {
  inboxId?: string
  priority?: Priority
}

export type CheckAvailabilityInput = { inboxId?: string }
export type CheckAvailabilityOutput = { available: boolean | null; agentsAvailable: number | null; reason?: string }

type Text = { text: string }
type Markdown = { markdown: string }
type Image = { imageUrl: string; title?: string }
type Audio = { audioUrl: string; title?: string }
type Video = { videoUrl: string; title?: string }
type File = { fileUrl: string; title?: string }
type Location = { latitude: number; longitude: number; address?: string; title?: string }
type CardAction = { action: 'postback' | 'url' | 'say'; label: string; value: string }
type Card = { title: string; subtitle?: string; imageUrl?: string; actions: CardAction[] }
type Choice = { text: string; options: { label: string; value: string }[] }

export type BlocItem =
  | { type: 'text'; payload: Text }
  | { type: 'markdown'; payload: Markdown }
  | { type: 'image'; payload: Image }
  | { type: 'audio'; payload: Audio }
  | { type: 'video'; payload: Video }
  | { type: 'file'; payload: File }
  | { type: 'location'; payload: Location }
type Bloc = { items: BlocItem[] }

type Source = { type: 'user'; userId: string } | { type: 'bot' }
export type HistoryItem = { source: Source } & (
  | { type: 'text'; payload: Text }
  | { type: 'image'; payload: Image }
  | { type: 'audio'; payload: Audio }
  | { type: 'video'; payload: Video }
  | { type: 'file'; payload: File }
  | { type: 'location'; payload: Location }
  | { type: 'carousel'; payload: { items: Card[] } }
  | { type: 'card'; payload: Card }
  | { type: 'dropdown'; payload: Choice }
  | { type: 'choice'; payload: Choice }
  | { type: 'bloc'; payload: Bloc }
  | { type: 'markdown'; payload: Markdown }
)

export type StartHitlInput = {
  userId: string
  title?: string
  description?: string
  hitlSession?: SessionEntity
  messageHistory: HistoryItem[]
}

/** Added by the interface to every hitl channel payload. */
type ChannelExtra = { userId?: string; additionalData?: string }

export type ChannelMessages = {
  text: Text & ChannelExtra
  image: Image & ChannelExtra
  audio: Audio & ChannelExtra
  video: Video & ChannelExtra
  file: File & ChannelExtra
  bloc: Bloc & ChannelExtra
}

export type TIntegration = sdk.DefaultIntegration<{
  name: 'handoff'
  version: '0.1.0'
  configuration: Configuration
  actions: {
    createUser: {
      input: { name: string; pictureUrl?: string; email?: string }
      output: { userId: string }
    }
    startHitl: {
      input: StartHitlInput
      output: { conversationId: string }
    }
    stopHitl: {
      input: { conversationId: string }
      output: {}
    }
    checkAvailability: {
      input: CheckAvailabilityInput
      output: CheckAvailabilityOutput
    }
  }
  channels: {
    hitl: {
      messages: ChannelMessages
      message: { tags: { handoffEventId: '' } }
      conversation: { tags: { sessionId: ''; startKey: '' } }
    }
  }
  events: {
    hitlAssigned: { conversationId: string; userId: string }
    hitlStopped: { conversationId: string }
  }
  states: {
    webhook: { type: 'integration'; payload: { secret: string } }
    handledEvents: { type: 'conversation'; payload: { ids: string[] } }
  }
  user: { tags: { handoffUserId: ''; agentId: '' } }
  entities: {
    session: SessionEntity
  }
}>

export type Client = sdk.IntegrationSpecificClient<TIntegration>
export type Logger = sdk.IntegrationLogger
