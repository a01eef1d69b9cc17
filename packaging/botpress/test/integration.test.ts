// Calls the BUNDLED integration (.botpress/dist/index.cjs) through its own handler(req),
// against the fake Runtime API of test/e2e/fake-runtime.mjs and a fake handoff.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { checkAvailabilityOutput } from '../integration.definition'
import { startHarness, type Harness } from './e2e/fake-runtime.mjs'
import { parse, signed, startFakeHandoff, webhookReq } from './helpers'

let h: Harness
let handoff: Awaited<ReturnType<typeof startFakeHandoff>>

beforeAll(async () => {
  handoff = await startFakeHandoff()
  h = await startHarness()
  h.setConfiguration({ handoffUrl: handoff.url, apiKey: handoff.apiKey })
})
afterAll(async () => {
  await h.close()
  await handoff.close()
})

const webhookUrl = () => `${h.baseUrl}/webhook/wh_e2e`
async function register() {
  const r = await h.invoke('register', { webhookUrl: webhookUrl() })
  expect(r.status, r.body).toBe(200)
  return handoff.webhook.secret!
}
async function action(type: string, input: unknown) {
  const r = await h.invoke('action_triggered', { type, input })
  return { status: r.status, body: parse(r.body) }
}
async function openSession(history: unknown[] = [{ source: { type: 'bot' }, type: 'text', payload: { text: 'hi' } }]) {
  const u = await action('createUser', { name: 'Jane', email: `u${Math.random()}@no-reply.bot-e2e.botpress.com` })
  expect(u.status, JSON.stringify(u.body)).toBe(200)
  const s = await action('startHitl', { userId: u.body.output.userId, title: 'Help', messageHistory: history })
  expect(s.status, JSON.stringify(s.body)).toBe(200)
  const conversationId: string = s.body.output.conversationId
  const conv = h.store.conversations.find((c) => c.id === conversationId)!
  return { userId: u.body.output.userId as string, conversationId, sessionId: conv.tags.sessionId as string }
}
async function deliver(secret: string, event: Record<string, unknown>, opts: { id?: string; timestamp?: number } = {}) {
  const body = JSON.stringify(event)
  const s = signed(secret, body, opts)
  const r = await h.invoke('webhook_received', webhookReq(s.headers, body))
  return { ...r, id: s.id }
}
const callCount = () => Object.values(h.store.calls).reduce((a, b) => a + b, 0)

describe('register', () => {
  it('registers the webhook URL and stores the secret', async () => {
    const secret = await register()
    expect(secret).toMatch(/^whsec_/)
    expect(handoff.webhook.url).toBe(webhookUrl())
    const state = h.store.states.find((s) => s.type === 'integration' && s.name === 'webhook')
    expect(state?.id).toBe('int_e2e')
    expect(state?.payload).toEqual({ secret })
    const put = handoff.requests.find((r) => r.method === 'PUT')!
    expect(put.headers.authorization).toBe(`Bearer ${handoff.apiKey}`)
  })

  it('explains a refused API key', async () => {
    h.setConfiguration({ handoffUrl: handoff.url, apiKey: 'wrong' })
    try {
      const r = await h.invoke('register', { webhookUrl: webhookUrl() })
      expect(r.status).toBe(400)
      expect(parse(r.body).message).toMatch(/handoff refused the API key/)
      expect(r.body).not.toContain('wrong')
    } finally {
      h.setConfiguration({ handoffUrl: handoff.url, apiKey: handoff.apiKey })
    }
  })

  it('explains an unreachable handoff', async () => {
    h.setConfiguration({ handoffUrl: 'http://127.0.0.1:9', apiKey: handoff.apiKey })
    try {
      const r = await h.invoke('register', { webhookUrl: webhookUrl() })
      expect(r.status).toBe(400)
      expect(parse(r.body).message).toMatch(/cannot reach handoff at http:\/\/127\.0\.0\.1:9/)
      expect(r.body).not.toContain(handoff.apiKey)
    } finally {
      h.setConfiguration({ handoffUrl: handoff.url, apiKey: handoff.apiKey })
    }
  })

  it('names handoff’s message when the webhook is locked (409)', async () => {
    handoff.overrides.set('PUT /api/v1/webhook', () => ({
      status: 409,
      body: { error: { code: 'webhook-locked', message: 'the webhook URL is set by bot.webhook_url in handoff.toml' } },
    }))
    try {
      const r = await h.invoke('register', { webhookUrl: webhookUrl() })
      expect(r.status).toBe(400)
      expect(parse(r.body).message).toMatch(/locks its webhook URL.*bot\.webhook_url/)
    } finally {
      handoff.overrides.delete('PUT /api/v1/webhook')
    }
  })

  it('rejects a plain-http public handoffUrl with a clear message', async () => {
    h.setConfiguration({ handoffUrl: 'http://handoff.example.com', apiKey: handoff.apiKey })
    try {
      const r = await h.invoke('register', { webhookUrl: webhookUrl() })
      expect(r.status).toBe(400)
      expect(parse(r.body).message).toMatch(/https/)
    } finally {
      h.setConfiguration({ handoffUrl: handoff.url, apiKey: handoff.apiKey })
    }
  })
})

describe('actions', () => {
  it('createUser drops a made-up email and tags the Botpress user', async () => {
    const r = await action('createUser', { name: 'Jane', email: 'User_X@no-reply.bot-e2e.botpress.com', pictureUrl: 'https://p/1.png' })
    expect(r.status).toBe(200)
    const sent = handoff.requests.filter((x) => x.path === '/api/v1/users').at(-1)!
    expect(sent.body).toEqual({ name: 'Jane', pictureUrl: 'https://p/1.png', externalId: 'user_x@no-reply.bot-e2e.botpress.com' })
    const u = h.store.users.find((x) => x.id === r.body.output.userId)!
    expect(u.tags.handoffUserId).toMatch(/^usr_/)
    expect(u.name).toBe('Jane')
    // same made-up address -> same handoff user -> same Botpress user
    const again = await action('createUser', { name: 'Jane', email: 'user_x@no-reply.bot-e2e.botpress.com' })
    expect(again.body.output.userId).toBe(u.id)
  })

  it('createUser sends a real email', async () => {
    await action('createUser', { name: 'Real', email: 'real@example.com' })
    const sent = handoff.requests.filter((x) => x.path === '/api/v1/users').at(-1)!
    expect(sent.body).toEqual({ name: 'Real', email: 'real@example.com' })
  })

  it('startHitl sends the converted history; a retried startHitl reuses the conversation and session', async () => {
    const u = await action('createUser', { name: 'Retry', email: 'retry@example.com' })
    const input = {
      userId: u.body.output.userId,
      title: 'Billing',
      description: 'needs help',
      hitlSession: { inboxId: '42', priority: 'high' },
      messageHistory: [
        { source: { type: 'user', userId: u.body.output.userId }, type: 'text', payload: { text: 'hi' } },
        { source: { type: 'bot' }, type: 'choice', payload: { text: 'Pick', options: [{ label: 'A', value: 'a' }] } },
      ],
    }
    const first = await action('startHitl', input)
    const second = await action('startHitl', input)
    expect(first.status).toBe(200)
    expect(second.body.output.conversationId).toBe(first.body.output.conversationId)
    const posts = handoff.requests.filter((x) => x.method === 'POST' && x.path === '/api/v1/sessions').slice(-2)
    expect(posts).toHaveLength(2)
    expect(posts[0]!.body.externalId).toBe(first.body.output.conversationId)
    expect(posts[1]!.body.externalId).toBe(first.body.output.conversationId)
    expect(posts[0]!.body).toEqual({
      userId: h.store.users.find((x) => x.id === input.userId)!.tags.handoffUserId,
      title: 'Billing',
      description: 'needs help',
      inboxId: '42',
      priority: 'high',
      externalId: first.body.output.conversationId,
      messageHistory: [
        { source: { type: 'user' }, type: 'text', payload: { text: 'hi' } },
        { source: { type: 'bot' }, type: 'text', payload: { text: 'Pick\n- A' } },
      ],
    })
    const sessionIds = new Set([...handoff.sessions.values()].filter((s) => s.externalId === first.body.output.conversationId).map((s) => s.sessionId))
    expect(sessionIds.size).toBe(1)
    const conv = h.store.conversations.find((c) => c.id === first.body.output.conversationId)!
    expect(conv.channel).toBe('hitl')
    expect(conv.tags.sessionId).toBe([...sessionIds][0])
  })

  it('startHitl explains a user that createUser did not make', async () => {
    const r = await action('startHitl', { userId: 'user_bot', messageHistory: [] })
    expect(r.status).toBe(400)
    expect(r.body.message).toMatch(/no handoff user/)
  })

  it('stopHitl stops the session; a 409 counts as done', async () => {
    const { conversationId, sessionId } = await openSession()
    expect((await action('stopHitl', { conversationId })).body.output).toEqual({})
    expect(handoff.requests.at(-1)).toMatchObject({ method: 'POST', path: `/api/v1/sessions/${sessionId}/stop` })
    handoff.overrides.set(`POST /api/v1/sessions/${sessionId}/stop`, () => ({ status: 409, body: { error: { code: 'session-closed', message: 'closed' } } }))
    const again = await action('stopHitl', { conversationId })
    expect(again.status).toBe(200)
    expect(again.body.output).toEqual({})
  })
})

describe('checkAvailability', () => {
  const reset = () => {
    handoff.overrides.delete('GET /api/v1/availability')
    handoff.availability = { available: true, agentsAvailable: 2 }
  }
  beforeEach(reset)
  afterAll(reset)
  const lastAvailability = () => handoff.requests.filter((x) => x.path === '/api/v1/availability').at(-1)!

  it('available: the answer as handoff gives it, asked with the bot API key', async () => {
    const r = await action('checkAvailability', { inboxId: '42' })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.output).toEqual({ available: true, agentsAvailable: 2 })
    expect(checkAvailabilityOutput.safeParse(r.body.output).success).toBe(true)
    expect(lastAvailability()).toMatchObject({ method: 'GET', query: { inboxId: '42' } })
    expect(lastAvailability().headers.authorization).toBe(`Bearer ${handoff.apiKey}`)
  })

  it('away: available false; no inboxId (or an empty one) asks for handoff’s default inbox', async () => {
    handoff.availability = { available: false, agentsAvailable: 0 }
    for (const input of [{}, { inboxId: '' }, { inboxId: '  ' }]) {
      const r = await action('checkAvailability', input)
      expect(r.status).toBe(200)
      expect(r.body.output).toEqual({ available: false, agentsAvailable: 0 })
      expect(lastAvailability().query).toEqual({})
    }
  })

  it('cannot tell: null with the reason, not an error', async () => {
    const reason = 'the HubSpot app lacks the crm.objects.users.read scope; reconnect HubSpot in the setup wizard'
    handoff.availability = { available: null, agentsAvailable: null, reason }
    const r = await action('checkAvailability', {})
    expect(r.status).toBe(200)
    expect(r.body.output).toEqual({ available: null, agentsAvailable: null, reason })
    expect(checkAvailabilityOutput.safeParse(r.body.output).success).toBe(true)
  })

  it('an inbox handoff is not connected to (422): a RuntimeError with handoff’s message', async () => {
    const r = await action('checkAvailability', { inboxId: '7' })
    expect(r.status).toBe(400)
    expect(r.body).toMatchObject({ type: 'Runtime' })
    expect(r.body.message).toBe(
      'could not check agent availability for inbox 7: inboxId `7` is not an inbox handoff is connected to (connected: 42)'
    )
  })

  it('a 5xx or an unreachable handoff: an error that says a retry is safe', async () => {
    handoff.overrides.set('GET /api/v1/availability', () => ({ status: 503, body: { error: { code: 'unavailable', message: 'starting' } } }))
    const r = await action('checkAvailability', {})
    expect(r.status).toBe(400)
    expect(r.body.message).toBe(
      "could not check agent availability for handoff's default inbox: handoff answered 503 to GET /api/v1/availability: starting; this is temporary, retrying the action is safe"
    )
    h.setConfiguration({ handoffUrl: 'http://127.0.0.1:9', apiKey: handoff.apiKey })
    try {
      const down = await action('checkAvailability', { inboxId: '42' })
      expect(down.status).toBe(400)
      expect(down.body.message).toMatch(/^could not check agent availability for inbox 42: cannot reach handoff at http:\/\/127\.0\.0\.1:9 .*retrying the action is safe$/)
      expect(JSON.stringify(down.body)).not.toContain(handoff.apiKey)
    } finally {
      h.setConfiguration({ handoffUrl: handoff.url, apiKey: handoff.apiKey })
    }
  })

  it('a refused API key is named like in the other actions', async () => {
    h.setConfiguration({ handoffUrl: handoff.url, apiKey: 'wrong' })
    try {
      const r = await action('checkAvailability', {})
      expect(r.status).toBe(400)
      expect(r.body.message).toMatch(/handoff refused the API key \(401\)/)
      expect(JSON.stringify(r.body)).not.toContain('wrong')
    } finally {
      h.setConfiguration({ handoffUrl: handoff.url, apiKey: handoff.apiKey })
    }
  })

  it('costs no Runtime API call', async () => {
    h.resetCalls()
    await action('checkAvailability', {})
    expect(callCount()).toBe(0)
  })
})

describe('channel hitl', () => {
  async function send(conversationId: string, type: string, payload: unknown) {
    const conversation = h.store.conversations.find((c) => c.id === conversationId)
    const message = { id: `msg_${Math.random().toString(36).slice(2)}`, conversationId, userId: 'user_bot', type, payload, tags: {}, direction: 'outgoing', createdAt: '', updatedAt: '' }
    const user = h.store.users.find((u) => u.id === 'user_bot')
    const r = await h.invoke('message_created', { type, payload, conversation, user, message })
    return { ...r, messageId: message.id }
  }

  it('forwards all six types, splits blocs, and sends the plugin notes too', async () => {
    const { conversationId, sessionId, userId } = await openSession()
    const sent = [
      await send(conversationId, 'text', { text: 'hello', userId }),
      await send(conversationId, 'image', { imageUrl: 'https://i/1.png', userId }),
      await send(conversationId, 'audio', { audioUrl: 'https://a/1.mp3', userId }),
      await send(conversationId, 'video', { videoUrl: 'https://v/1.mp4', userId }),
      await send(conversationId, 'file', { fileUrl: 'https://f/1.pdf', title: '1.pdf', userId }),
      await send(conversationId, 'bloc', {
        userId,
        items: [
          { type: 'markdown', payload: { markdown: '**x**' } },
          { type: 'image', payload: { imageUrl: 'https://i/2.png' } },
        ],
      }),
      await send(conversationId, 'text', { text: '( The user has ended the session. )' }),
    ]
    for (const s of sent) expect(s.status, s.body).toBe(200)
    const msgs = handoff.sessions.get(sessionId)!.messages
    expect(msgs).toEqual([
      { type: 'text', payload: { text: 'hello' }, messageId: sent[0]!.messageId },
      { type: 'image', payload: { imageUrl: 'https://i/1.png' }, messageId: sent[1]!.messageId },
      { type: 'audio', payload: { audioUrl: 'https://a/1.mp3' }, messageId: sent[2]!.messageId },
      { type: 'video', payload: { videoUrl: 'https://v/1.mp4' }, messageId: sent[3]!.messageId },
      { type: 'file', payload: { fileUrl: 'https://f/1.pdf', title: '1.pdf' }, messageId: sent[4]!.messageId },
      { type: 'text', payload: { text: '**x**' }, messageId: `${sent[5]!.messageId}:0` },
      { type: 'image', payload: { imageUrl: 'https://i/2.png' }, messageId: `${sent[5]!.messageId}:1` },
      { type: 'text', payload: { text: '( The user has ended the session. )' }, messageId: sent[6]!.messageId },
    ])
  })

  it('counts a closed session (409) as done and reports other failures', async () => {
    const { conversationId, sessionId } = await openSession()
    handoff.sessions.get(sessionId)!.status = 'closed'
    const r = await send(conversationId, 'text', { text: '( The user has ended the session. )' })
    expect(r.status).toBe(200)
    handoff.overrides.set(`POST /api/v1/sessions/${sessionId}/messages`, () => ({ status: 500, body: { error: { code: 'internal', message: 'boom' } } }))
    const failed = await send(conversationId, 'text', { text: 'x' })
    expect(failed.status).toBe(400)
    expect(parse(failed.body).message).toMatch(/could not forward message .* 500.*boom/)
  })
})

describe('webhook', () => {
  let secret: string
  let conv: Awaited<ReturnType<typeof openSession>>
  beforeAll(async () => {
    secret = await register()
    conv = await openSession()
  })
  beforeEach(() => h.resetCalls())

  const agent = { id: 'agent_7', name: 'Alice Agent', email: 'alice@corp.example', avatarUrl: 'https://avatars/alice.png' }
  const ev = (type: string, data: unknown, extra: Record<string, unknown> = {}) => ({
    id: `evt_${type}`,
    type,
    sessionId: conv.sessionId,
    externalId: conv.conversationId,
    createdAt: new Date().toISOString(),
    data,
    ...extra,
  })
  const onlySecretRead = () => expect(h.store.calls).toEqual({ 'GET /v1/chat/states/:type/:id/:name': 1 })

  it('rejects forged, stale and unsigned deliveries with 401 and no Botpress call besides the secret', async () => {
    const body = JSON.stringify(ev('session.assigned', { agent }))
    const forged = signed(`whsec_${Buffer.from('not the secret').toString('base64')}`, body)
    for (const headers of [
      forged.headers,
      signed(secret, body, { timestamp: Math.floor(Date.now() / 1000) - 600 }).headers,
      signed(secret, body, { timestamp: Math.floor(Date.now() / 1000) + 600 }).headers,
      { 'content-type': 'application/json' },
      { ...signed(secret, body).headers, 'webhook-signature': '' },
    ]) {
      h.resetCalls()
      const r = await h.invoke('webhook_received', webhookReq(headers, body))
      expect(r.status).toBe(401)
      expect(r.body).toBe('{"error":"invalid signature"}')
      onlySecretRead()
    }
    // a valid signature over a different body
    h.resetCalls()
    const s = signed(secret, body)
    const r = await h.invoke('webhook_received', webhookReq(s.headers, body.replace('Alice', 'Mallory')))
    expect(r.status).toBe(401)
    onlySecretRead()
    expect(h.store.events).toHaveLength(0)
  })

  it('answers handoff.test, session.opened and unknown types with 200', async () => {
    for (const e of [
      { id: 'evt_t', type: 'handoff.test', sessionId: null, createdAt: new Date().toISOString(), data: {} },
      ev('session.opened', { hubspotThreadId: '123' }),
      ev('session.mystery', {}),
    ]) {
      const r = await deliver(secret, e)
      expect(r.status, r.body).toBe(200)
    }
    expect(h.store.events).toHaveLength(0)
  })

  it('malformed JSON after a valid signature -> 400', async () => {
    const s = signed(secret, '{not json')
    const r = await h.invoke('webhook_received', webhookReq(s.headers, '{not json'))
    expect(r.status).toBe(400)
  })

  it('session.assigned -> agent user + one hitlAssigned, even when retried', async () => {
    const e = ev('session.assigned', { agent })
    const first = await deliver(secret, e, { id: 'evt_assigned_1' })
    expect(first.status, first.body).toBe(200)
    const agentUser = h.store.users.find((u) => u.tags.agentId === 'agent_7')!
    expect(agentUser).toMatchObject({ name: 'Alice Agent', pictureUrl: 'https://avatars/alice.png' })
    expect(h.store.events).toEqual([
      expect.objectContaining({ type: 'hitlAssigned', payload: { conversationId: conv.conversationId, userId: agentUser.id } }),
    ])
    const retry = await deliver(secret, e, { id: 'evt_assigned_1' })
    expect(retry.status).toBe(200)
    expect(h.store.events).toHaveLength(1)
    expect(h.store.users.filter((u) => u.tags.agentId === 'agent_7')).toHaveLength(1)
  })

  it('a renamed agent is updated', async () => {
    await deliver(secret, ev('session.assigned', { agent: { ...agent, name: 'Alice B.' } }), { id: 'evt_assigned_2' })
    const agentUser = h.store.users.find((u) => u.tags.agentId === 'agent_7')!
    expect(agentUser.name).toBe('Alice B.')
    expect(h.store.calls['PUT /v1/chat/users/:id']).toBe(1)
  })

  it('session.message with text + PDF + image -> text, file, image; a retry posts nothing twice', async () => {
    const e = ev('session.message', {
      agent: { ...agent, name: 'Alice B.' },
      text: 'Here you go',
      attachments: [
        { url: 'https://handoff/files/1', name: 'invoice.pdf', mimeType: 'application/pdf', size: 1234 },
        { url: 'https://handoff/files/2', name: 'shot.png', mimeType: 'image/png' },
      ],
    })
    const r = await deliver(secret, e, { id: 'evt_msg_1' })
    expect(r.status, r.body).toBe(200)
    const agentUser = h.store.users.find((u) => u.tags.agentId === 'agent_7')!
    const created = h.store.messages.filter((m) => m.tags.handoffEventId?.startsWith('evt_msg_1:'))
    expect(created.map((m) => [m.type, m.payload, m.tags.handoffEventId, m.userId, m.conversationId])).toEqual([
      ['text', { text: 'Here you go' }, 'evt_msg_1:0', agentUser.id, conv.conversationId],
      ['file', { fileUrl: 'https://handoff/files/1', title: 'invoice.pdf' }, 'evt_msg_1:1', agentUser.id, conv.conversationId],
      ['image', { imageUrl: 'https://handoff/files/2' }, 'evt_msg_1:2', agentUser.id, conv.conversationId],
    ])
    // calls: secret + agent user + one per item
    expect(h.store.calls).toEqual({
      'GET /v1/chat/states/:type/:id/:name': 1,
      'POST /v1/chat/users/get-or-create': 1,
      'POST /v1/chat/messages/get-or-create': 3,
    })
    const before = h.store.messages.length
    await deliver(secret, e, { id: 'evt_msg_1' })
    expect(h.store.messages.length).toBe(before)
    expect(h.store.events.filter((x) => x.type !== 'hitlAssigned')).toHaveLength(0)
  })

  it('one agent text message costs 3 Runtime API calls', async () => {
    await deliver(secret, ev('session.message', { agent: { ...agent, name: 'Alice B.' }, text: 'ok', attachments: [] }), { id: 'evt_msg_2' })
    expect(callCount()).toBe(3)
  })

  it('finds the conversation by sessionId when the event has no externalId', async () => {
    const e = ev('session.message', { agent: { ...agent, name: 'Alice B.' }, text: 'by session', attachments: [] }, { externalId: undefined })
    await deliver(secret, e, { id: 'evt_msg_3' })
    expect(h.store.messages.find((m) => m.tags.handoffEventId === 'evt_msg_3:0')?.conversationId).toBe(conv.conversationId)
    const none = await deliver(secret, { ...e, sessionId: 'ses_unknown' }, { id: 'evt_msg_4' })
    expect(none.status).toBe(200)
  })

  it('session.closed by bot -> nothing; by agent -> one hitlStopped', async () => {
    const before = h.store.events.length
    expect((await deliver(secret, ev('session.closed', { by: 'bot' }), { id: 'evt_closed_bot' })).status).toBe(200)
    expect(h.store.events.length).toBe(before)
    const e = ev('session.closed', { by: 'agent' })
    expect((await deliver(secret, e, { id: 'evt_closed_1' })).status).toBe(200)
    expect((await deliver(secret, e, { id: 'evt_closed_1' })).status).toBe(200)
    const stopped = h.store.events.filter((x) => x.type === 'hitlStopped')
    expect(stopped).toEqual([expect.objectContaining({ payload: { conversationId: conv.conversationId } })])
  })

  it('session.failed -> hitlStopped', async () => {
    const other = await openSession()
    const e = { ...ev('session.failed', { error: { code: 'hubspot-error', message: 'boom' } }), sessionId: other.sessionId, externalId: other.conversationId }
    expect((await deliver(secret, e, { id: 'evt_failed_1' })).status).toBe(200)
    expect(h.store.events.filter((x) => x.type === 'hitlStopped' && x.payload.conversationId === other.conversationId)).toHaveLength(1)
  })

  it('a Runtime API 500 -> 503 so handoff retries', async () => {
    h.fail(500, 300)
    const r = await deliver(secret, ev('session.message', { agent, text: 'x', attachments: [] }), { id: 'evt_msg_fail' })
    expect(r.status).toBe(503)
    expect(parse(r.body).error).toBeTruthy()
    await new Promise((res) => setTimeout(res, 350))
    // the secret reads fine, then getOrCreateMessage fails
    h.fail(500, 5_000, 'POST /v1/chat/messages/get-or-create')
    const r1 = await deliver(secret, ev('session.message', { agent, text: 'z', attachments: [] }), { id: 'evt_msg_fail1' })
    h.fail(500, 0)
    expect(r1.status).toBe(503)
    expect(h.store.calls['POST /v1/chat/messages/get-or-create']).toBe(1)
    // createEvent fails -> 503, and the retry then emits the event once
    h.fail(500, 5_000, 'POST /v1/chat/events')
    const closed = ev('session.closed', { by: 'system' })
    expect((await deliver(secret, closed, { id: 'evt_closed_retry' })).status).toBe(503)
    h.fail(500, 0)
    const stoppedBefore = h.store.events.filter((x) => x.type === 'hitlStopped').length
    expect((await deliver(secret, closed, { id: 'evt_closed_retry' })).status).toBe(200)
    expect(h.store.events.filter((x) => x.type === 'hitlStopped').length).toBe(stoppedBefore + 1)
    const e2 = ev('session.message', { agent, text: 'y', attachments: [] }, { externalId: 'conv_does_not_exist' })
    const r2 = await deliver(secret, e2, { id: 'evt_msg_fail2' })
    expect(r2.status).toBe(503)
  })

  it('no stored secret -> 401', async () => {
    const state = h.store.states.find((s) => s.name === 'webhook')!
    const saved = h.store.states.splice(h.store.states.indexOf(state), 1)
    try {
      const r = await deliver(secret, ev('session.assigned', { agent }))
      expect(r.status).toBe(401)
    } finally {
      h.store.states.push(...saved)
    }
  })
})
