// A small typed client of handoff's bot API (/api/v1/...).
// It never puts the API key in an error message or a log line.

export const DEFAULT_TIMEOUT_MS = 15_000

export type HandoffMessageType = 'text' | 'image' | 'file' | 'audio' | 'video' | 'location'

export type HandoffContent =
  | { type: 'text'; payload: { text: string } }
  | { type: 'image'; payload: { imageUrl: string } }
  | { type: 'file'; payload: { fileUrl: string; title?: string } }
  | { type: 'audio'; payload: { audioUrl: string } }
  | { type: 'video'; payload: { videoUrl: string } }
  | { type: 'location'; payload: { latitude: number; longitude: number; address?: string; title?: string } }

export type HandoffHistoryItem = HandoffContent & { source: { type: 'user' } | { type: 'bot' } }

export type CreateUserBody = {
  name?: string
  email?: string
  phone?: string
  pictureUrl?: string
  externalId?: string
}
export type HandoffUser = { userId: string; name: string; email?: string; phone?: string; externalId?: string }

export type CreateSessionBody = {
  userId: string
  title?: string
  description?: string
  messageHistory?: HandoffHistoryItem[]
  externalId?: string
  inboxId?: string
  priority?: 'low' | 'medium' | 'high' | 'urgent'
}
export type HandoffSession = {
  sessionId: string
  status: string
  userId?: string
  externalId?: string
  hubspotThreadId?: string
  agent?: { id: string; name?: string; email?: string; avatarUrl?: string }
}

/** The answer of GET /api/v1/availability (schema `Availability`). */
export type HandoffAvailability = { available: boolean | null; agentsAvailable: number | null; reason?: string }

/** Why a call to handoff failed. `status` is set when handoff answered. */
export class HandoffError extends Error {
  public constructor(
    message: string,
    public readonly kind: 'network' | 'timeout' | 'http' | 'invalid-response',
    public readonly status?: number,
    public readonly code?: string,
    public readonly handoffMessage?: string
  ) {
    super(message)
    this.name = 'HandoffError'
  }

  /** A failure that may pass: handoff unreachable, too slow, or a 5xx. Retrying is safe. */
  public get transient(): boolean {
    return this.kind === 'network' || this.kind === 'timeout' || (this.status !== undefined && this.status >= 500)
  }
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

/**
 * Checks handoffUrl and returns the base URL without trailing slash.
 * https is required; http is accepted only for a loopback host.
 * Throws an Error with a message meant for the bot builder.
 */
export function validateHandoffUrl(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new Error('handoffUrl is required: the public https URL of your handoff server, e.g. https://handoff.example.com')
  }
  const value = raw.trim()
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new Error(`handoffUrl "${value}" is not a valid URL; expected e.g. https://handoff.example.com`)
  }
  if (url.username || url.password) {
    throw new Error('handoffUrl must not contain credentials; put the API key in the apiKey field')
  }
  if (url.search || url.hash) {
    throw new Error(`handoffUrl "${value}" must not have a query or fragment`)
  }
  if (url.protocol === 'http:') {
    if (!LOOPBACK_HOSTS.has(url.hostname.toLowerCase())) {
      throw new Error(
        `handoffUrl "${value}" uses http; handoff must be reached over https (http is allowed only for 127.0.0.1, localhost or [::1])`
      )
    }
  } else if (url.protocol !== 'https:') {
    throw new Error(`handoffUrl "${value}" must start with https://`)
  }
  return url.toString().replace(/\/+$/, '')
}

type Response<T> = { status: number; body: T | undefined }

export class HandoffClient {
  public readonly baseUrl: string

  public constructor(
    baseUrl: string,
    private readonly _apiKey: string,
    private readonly _timeoutMs: number = DEFAULT_TIMEOUT_MS
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
  }

  /** Sends one request; returns the status and parsed JSON for `okStatuses`, throws HandoffError otherwise. */
  public async request<T>(method: string, path: string, body: unknown, okStatuses: number[]): Promise<Response<T>> {
    const url = `${this.baseUrl}${path}`
    const headers: Record<string, string> = {
      authorization: `Bearer ${this._apiKey}`,
      accept: 'application/json',
    }
    if (body !== undefined) {
      headers['content-type'] = 'application/json'
    }
    let res: globalThis.Response
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this._timeoutMs),
        redirect: 'error',
      })
    } catch (thrown) {
      const err = thrown as { name?: string; message?: string; cause?: { code?: string; message?: string } }
      if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
        throw new HandoffError(`no answer from handoff at ${this.baseUrl} within ${this._timeoutMs / 1000} s`, 'timeout')
      }
      const cause = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? 'network error'
      throw new HandoffError(`cannot reach handoff at ${this.baseUrl} (${cause})`, 'network')
    }
    const text = await res.text().catch(() => '')
    let parsed: unknown = undefined
    if (text) {
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = undefined
      }
    }
    if (okStatuses.includes(res.status)) {
      return { status: res.status, body: parsed as T | undefined }
    }
    const apiErr = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
    const code = typeof apiErr?.code === 'string' ? apiErr.code : undefined
    const message = typeof apiErr?.message === 'string' ? apiErr.message : undefined
    const detail = message ? `: ${message}` : code ? `: ${code}` : ''
    throw new HandoffError(
      `handoff answered ${res.status} to ${method} ${path}${detail}`,
      'http',
      res.status,
      code,
      message
    )
  }

  private static _need<T>(r: Response<T>, what: string, check: (b: any) => boolean): T {
    if (r.body === undefined || !check(r.body)) {
      throw new HandoffError(`handoff sent an unexpected answer to ${what}`, 'invalid-response', r.status)
    }
    return r.body
  }

  public async getWebhook(): Promise<{ url: string | null }> {
    const r = await this.request<{ url: string | null }>('GET', '/api/v1/webhook', undefined, [200])
    return HandoffClient._need(r, 'GET /api/v1/webhook', (b) => typeof b === 'object' && b !== null && 'url' in b)
  }

  public async putWebhook(url: string): Promise<{ url: string; secret: string }> {
    const r = await this.request<{ url: string; secret: string }>('PUT', '/api/v1/webhook', { url }, [200])
    return HandoffClient._need(
      r,
      'PUT /api/v1/webhook',
      (b) => typeof b?.secret === 'string' && b.secret.startsWith('whsec_')
    )
  }

  public async deleteWebhook(): Promise<void> {
    await this.request('DELETE', '/api/v1/webhook', undefined, [200, 204])
  }

  public async createUser(body: CreateUserBody): Promise<HandoffUser> {
    const r = await this.request<HandoffUser>('POST', '/api/v1/users', body, [200, 201])
    return HandoffClient._need(r, 'POST /api/v1/users', (b) => typeof b?.userId === 'string' && b.userId !== '')
  }

  public async createSession(body: CreateSessionBody): Promise<HandoffSession> {
    const r = await this.request<HandoffSession>('POST', '/api/v1/sessions', body, [200, 201, 202])
    return HandoffClient._need(r, 'POST /api/v1/sessions', (b) => typeof b?.sessionId === 'string' && b.sessionId !== '')
  }

  /** Posts one message. Returns 'closed' when handoff says the session is closed (409). */
  public async postMessage(
    sessionId: string,
    content: HandoffContent,
    messageId: string
  ): Promise<'sent' | 'closed'> {
    const r = await this.request(
      'POST',
      `/api/v1/sessions/${encodeURIComponent(sessionId)}/messages`,
      { type: content.type, payload: content.payload, messageId },
      [200, 201, 202, 409]
    )
    return r.status === 409 ? 'closed' : 'sent'
  }

  /** Stops a session; 409 and 404 count as done. Returns the status handoff answered. */
  public async stopSession(sessionId: string, reason?: string): Promise<number> {
    const r = await this.request(
      'POST',
      `/api/v1/sessions/${encodeURIComponent(sessionId)}/stop`,
      reason === undefined ? {} : { reason },
      [200, 202, 204, 404, 409]
    )
    return r.status
  }

  /** Whether an agent can answer now; `inboxId` must be an inbox handoff is connected to (422 otherwise). */
  public async getAvailability(inboxId?: string): Promise<HandoffAvailability> {
    const query = inboxId === undefined ? '' : `?inboxId=${encodeURIComponent(inboxId)}`
    const r = await this.request<HandoffAvailability>('GET', `/api/v1/availability${query}`, undefined, [200])
    const b = HandoffClient._need(
      r,
      'GET /api/v1/availability',
      (b) =>
        typeof b === 'object' &&
        b !== null &&
        (b.available === null || typeof b.available === 'boolean') &&
        (b.agentsAvailable === null || (Number.isInteger(b.agentsAvailable) && b.agentsAvailable >= 0)) &&
        (b.reason === undefined || typeof b.reason === 'string')
    )
    return {
      available: b.available,
      agentsAvailable: b.agentsAvailable,
      ...(typeof b.reason === 'string' ? { reason: b.reason } : {}),
    }
  }

  public async getSession(sessionId: string): Promise<HandoffSession> {
    const r = await this.request<HandoffSession>('GET', `/api/v1/sessions/${encodeURIComponent(sessionId)}`, undefined, [200])
    return HandoffClient._need(r, 'GET /api/v1/sessions/{id}', (b) => typeof b?.sessionId === 'string')
  }
}
