import { createHash, createHmac, randomBytes } from 'node:crypto'
import http from 'node:http'

export type Recorded = { method: string; path: string; query: Record<string, string>; headers: http.IncomingHttpHeaders; body: any }
export type Reply = { status: number; body?: unknown }

/** A tiny fake of handoff's bot API. `override` answers a "METHOD /path" before the default behaviour. */
export async function startFakeHandoff(apiKey = 'hk_test_key') {
  const requests: Recorded[] = []
  const sessions = new Map<string, { sessionId: string; status: string; userId: string; externalId?: string; messages: any[] }>()
  const users = new Map<string, string>()
  const overrides = new Map<string, (r: Recorded) => Reply>()
  let webhook: { url: string | null; secret?: string } = { url: null }
  // GET /api/v1/availability: what handoff answers, and the inboxes it is connected to
  let availability: Record<string, unknown> = { available: true, agentsAvailable: 2 }
  const inboxIds = new Set(['42'])
  let n = 0

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const url = new URL(req.url ?? '/', 'http://x')
      const rec: Recorded = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: raw ? JSON.parse(raw) : undefined,
      }
      requests.push(rec)
      const reply = (status: number, body?: unknown) => {
        if (body === undefined) res.writeHead(status).end()
        else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
      }
      const err = (status: number, code: string, message: string) => reply(status, { error: { code, message } })
      const o = overrides.get(`${rec.method} ${rec.path}`)
      if (o) {
        const r = o(rec)
        return reply(r.status, r.body)
      }
      if (req.headers.authorization !== `Bearer ${apiKey}`) return err(401, 'unauthorized', 'invalid API key')
      const key = `${rec.method} ${rec.path}`
      let m: RegExpExecArray | null
      if (key === 'GET /api/v1/webhook') return reply(200, { url: webhook.url })
      if (key === 'PUT /api/v1/webhook') {
        webhook = { url: rec.body.url, secret: `whsec_${randomBytes(24).toString('base64')}` }
        return reply(200, webhook)
      }
      if (key === 'DELETE /api/v1/webhook') {
        webhook = { url: null }
        return reply(204)
      }
      if (key === 'GET /api/v1/availability') {
        const inbox = rec.query.inboxId
        if (inbox !== undefined && !inboxIds.has(inbox)) {
          return err(422, 'unknown-inbox', `inboxId \`${inbox}\` is not an inbox handoff is connected to (connected: ${[...inboxIds].join(', ')})`)
        }
        return reply(200, availability)
      }
      if (key === 'POST /api/v1/users') {
        const ident = rec.body.email ?? rec.body.phone ?? rec.body.externalId
        if (!ident) return err(422, 'invalid-user', 'a user needs an email, a phone or an externalId')
        if (!users.has(ident)) users.set(ident, `usr_${createHash('sha256').update(ident).digest('hex').slice(0, 12)}`)
        return reply(201, { userId: users.get(ident), name: rec.body.name, email: rec.body.email, externalId: rec.body.externalId })
      }
      if (key === 'POST /api/v1/sessions') {
        for (const s of sessions.values()) {
          if (rec.body.externalId && s.externalId === rec.body.externalId && s.status !== 'closed') {
            return reply(202, { sessionId: s.sessionId, status: s.status })
          }
        }
        const s = { sessionId: `ses_${++n}`, status: 'pending', userId: rec.body.userId, externalId: rec.body.externalId, messages: [] }
        sessions.set(s.sessionId, s)
        return reply(202, { sessionId: s.sessionId, status: s.status })
      }
      if ((m = /^POST \/api\/v1\/sessions\/([^/]+)\/messages$/.exec(key))) {
        const s = sessions.get(m[1]!)
        if (!s) return err(404, 'session-not-found', 'no such session')
        if (s.status === 'closed') return err(409, 'session-closed', 'the session is closed')
        if (!s.messages.some((x) => x.messageId === rec.body.messageId)) s.messages.push(rec.body)
        return reply(202, { messageId: rec.body.messageId })
      }
      if ((m = /^POST \/api\/v1\/sessions\/([^/]+)\/stop$/.exec(key))) {
        const s = sessions.get(m[1]!)
        if (!s) return err(404, 'session-not-found', 'no such session')
        s.status = 'closed'
        return reply(202, { sessionId: s.sessionId, status: 'closed' })
      }
      if ((m = /^GET \/api\/v1\/sessions\/([^/]+)$/.exec(key))) {
        const s = sessions.get(m[1]!)
        if (!s) return err(404, 'session-not-found', 'no such session')
        return reply(200, { sessionId: s.sessionId, status: s.status, userId: s.userId, externalId: s.externalId })
      }
      return err(404, 'not-found', `no route ${key}`)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    requests,
    sessions,
    overrides,
    inboxIds,
    get availability() {
      return availability
    },
    set availability(a) {
      availability = a
    },
    get webhook() {
      return webhook
    },
    set webhook(w) {
      webhook = w
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

/** Standard Webhooks signature, computed independently of src/signature.ts. */
export function signed(secret: string, body: string, opts: { id?: string; timestamp?: number } = {}) {
  const id = opts.id ?? `evt_${randomBytes(8).toString('hex')}`
  const ts = opts.timestamp ?? Math.floor(Date.now() / 1000)
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const sig = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64')
  return {
    id,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(ts),
      'webhook-signature': `v1,${sig}`,
    } as Record<string, string>,
  }
}

export function webhookReq(headers: Record<string, string>, body: string, path = '/') {
  return { req: { method: 'POST', path, query: '', headers, body } }
}

export const parse = (body: string | undefined) => (body ? JSON.parse(body) : undefined)
