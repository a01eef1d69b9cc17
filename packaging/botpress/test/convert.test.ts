import { describe, expect, it } from 'vitest'
import definition from '../integration.definition'
import { attachmentToMessage, historyToHandoff, isMadeUpEmail, MAX_HISTORY, startKey, toHandoffContents, userIdentity } from '../src/convert'
import { sign, verify } from '../src/signature'
import { validateHandoffUrl } from '../src/handoff'

const user = { type: 'user' as const, userId: 'user_1' }
const bot = { type: 'bot' as const }
const card = {
  title: 'Plan A',
  subtitle: 'Best value',
  imageUrl: 'https://img.example/a.png',
  actions: [
    { action: 'url' as const, label: 'Open', value: 'https://example.com/a' },
    { action: 'postback' as const, label: 'Pick', value: 'plan_a' },
  ],
}
const fullHistory = [
  { source: user, type: 'text', payload: { text: 'hello' } },
  { source: bot, type: 'image', payload: { imageUrl: 'https://img.example/1.png', title: 'pic' } },
  { source: user, type: 'audio', payload: { audioUrl: 'https://a.example/1.mp3' } },
  { source: user, type: 'video', payload: { videoUrl: 'https://v.example/1.mp4' } },
  { source: user, type: 'file', payload: { fileUrl: 'https://f.example/1.pdf', title: 'Invoice.pdf' } },
  { source: user, type: 'location', payload: { latitude: 45.5, longitude: -73.6, address: '1 Main St', title: 'Office' } },
  { source: bot, type: 'markdown', payload: { markdown: '**bold**' } },
  { source: bot, type: 'card', payload: card },
  { source: bot, type: 'carousel', payload: { items: [card, { title: 'Plan B', actions: [] }] } },
  { source: bot, type: 'choice', payload: { text: 'Pick one', options: [{ label: 'Yes', value: 'y' }, { label: 'No', value: 'n' }] } },
  { source: bot, type: 'dropdown', payload: { text: 'Country', options: [{ label: 'Canada', value: 'ca' }] } },
  {
    source: bot,
    type: 'bloc',
    payload: {
      items: [
        { type: 'markdown', payload: { markdown: '# Title' } },
        { type: 'image', payload: { imageUrl: 'https://img.example/2.png' } },
        { type: 'text', payload: { text: 'after' } },
      ],
    },
  },
] as const

describe('history conversion', () => {
  it('converts every history type and splits blocs', () => {
    const out = historyToHandoff(fullHistory as never)
    expect(out).toEqual([
      { source: { type: 'user' }, type: 'text', payload: { text: 'hello' } },
      { source: { type: 'bot' }, type: 'image', payload: { imageUrl: 'https://img.example/1.png' } },
      { source: { type: 'user' }, type: 'audio', payload: { audioUrl: 'https://a.example/1.mp3' } },
      { source: { type: 'user' }, type: 'video', payload: { videoUrl: 'https://v.example/1.mp4' } },
      { source: { type: 'user' }, type: 'file', payload: { fileUrl: 'https://f.example/1.pdf', title: 'Invoice.pdf' } },
      { source: { type: 'user' }, type: 'location', payload: { latitude: 45.5, longitude: -73.6, address: '1 Main St', title: 'Office' } },
      { source: { type: 'bot' }, type: 'text', payload: { text: '**bold**' } },
      {
        source: { type: 'bot' },
        type: 'text',
        payload: { text: 'Plan A\nBest value\nhttps://img.example/a.png\n[Open] https://example.com/a\n[Pick] plan_a' },
      },
      {
        source: { type: 'bot' },
        type: 'text',
        payload: { text: 'Plan A\nBest value\nhttps://img.example/a.png\n[Open] https://example.com/a\n[Pick] plan_a\n\nPlan B' },
      },
      { source: { type: 'bot' }, type: 'text', payload: { text: 'Pick one\n- Yes\n- No' } },
      { source: { type: 'bot' }, type: 'text', payload: { text: 'Country\n- Canada' } },
      { source: { type: 'bot' }, type: 'text', payload: { text: '# Title' } },
      { source: { type: 'bot' }, type: 'image', payload: { imageUrl: 'https://img.example/2.png' } },
      { source: { type: 'bot' }, type: 'text', payload: { text: 'after' } },
    ])
    // the user's id is not sent to handoff
    expect(JSON.stringify(out)).not.toContain('user_1')
  })

  it('skips empty texts and unknown types', () => {
    expect(
      historyToHandoff([
        { source: user, type: 'text', payload: { text: '   ' } },
        { source: user, type: 'typing', payload: {} },
        { source: user, type: 'carousel', payload: { items: [] } },
      ] as never)
    ).toEqual([])
  })

  it('keeps the newest 500 items', () => {
    const many = Array.from({ length: 520 }, (_, i) => ({ source: user, type: 'text', payload: { text: `m${i}` } }))
    const out = historyToHandoff(many as never)
    expect(out).toHaveLength(MAX_HISTORY)
    expect(out[0]).toMatchObject({ payload: { text: 'm20' } })
    expect(out[499]).toMatchObject({ payload: { text: 'm519' } })
  })

  it('the vendored interface accepts the full history (schema of startHitl 2.1.0)', () => {
    const schema = (definition.actions as any).startHitl.input.schema
    const r = schema.safeParse({ userId: 'u', title: 't', messageHistory: fullHistory, hitlSession: { inboxId: '123' } })
    expect(r.success).toBe(true)
  })

  it('the hitlSession entity takes an optional inboxId and priority (low|medium|high|urgent)', () => {
    const schema = (definition.entities as any).session.schema
    for (const ok of [{}, { inboxId: '42' }, { priority: 'low' }, { inboxId: '42', priority: 'urgent' }]) {
      expect(schema.safeParse(ok).success, JSON.stringify(ok)).toBe(true)
    }
    expect(schema.safeParse({ priority: 'critical' }).success).toBe(false)
    expect(schema.safeParse({ priority: 'HIGH' }).success).toBe(false)
  })
})

describe('checkAvailability schemas', () => {
  const { input, output } = (definition.actions as any).checkAvailability
  it('is declared next to the hitl actions', () => {
    expect(Object.keys(definition.actions ?? {}).sort()).toEqual(['checkAvailability', 'createUser', 'startHitl', 'stopHitl'])
  })
  it('input: an optional inboxId', () => {
    expect(input.schema.safeParse({}).success).toBe(true)
    expect(input.schema.safeParse({ inboxId: '42' }).success).toBe(true)
    expect(input.schema.safeParse({ inboxId: 42 }).success).toBe(false)
  })
  it('output: available boolean|null, agentsAvailable integer >= 0|null, reason optional', () => {
    for (const ok of [
      { available: true, agentsAvailable: 2 },
      { available: false, agentsAvailable: 0 },
      { available: null, agentsAvailable: null, reason: 'no scope' },
    ]) {
      expect(output.schema.safeParse(ok).success, JSON.stringify(ok)).toBe(true)
    }
    for (const bad of [{ available: true }, { available: 'yes', agentsAvailable: 1 }, { available: true, agentsAvailable: -1 }]) {
      expect(output.schema.safeParse(bad).success, JSON.stringify(bad)).toBe(false)
    }
  })
})

describe('channel messages', () => {
  it('maps the six channel types and splits a bloc with markdown', () => {
    expect(toHandoffContents('text', { text: 'hi', userId: 'u' })).toEqual([{ type: 'text', payload: { text: 'hi' } }])
    expect(toHandoffContents('image', { imageUrl: 'i', title: 't' })).toEqual([{ type: 'image', payload: { imageUrl: 'i' } }])
    expect(toHandoffContents('audio', { audioUrl: 'a' })).toEqual([{ type: 'audio', payload: { audioUrl: 'a' } }])
    expect(toHandoffContents('video', { videoUrl: 'v' })).toEqual([{ type: 'video', payload: { videoUrl: 'v' } }])
    expect(toHandoffContents('file', { fileUrl: 'f', title: 'x.pdf', additionalData: 'z' })).toEqual([
      { type: 'file', payload: { fileUrl: 'f', title: 'x.pdf' } },
    ])
    expect(
      toHandoffContents('bloc', {
        items: [
          { type: 'markdown', payload: { markdown: '*a*' } },
          { type: 'file', payload: { fileUrl: 'f' } },
          { type: 'location', payload: { latitude: 1, longitude: 2 } },
        ],
      })
    ).toEqual([
      { type: 'text', payload: { text: '*a*' } },
      { type: 'file', payload: { fileUrl: 'f' } },
      { type: 'location', payload: { latitude: 1, longitude: 2 } },
    ])
  })

  it('maps agent attachments by mime type', () => {
    expect(attachmentToMessage({ url: 'u', mimeType: 'image/png' })).toEqual({ type: 'image', payload: { imageUrl: 'u' } })
    expect(attachmentToMessage({ url: 'u', mimeType: 'audio/ogg' })).toEqual({ type: 'audio', payload: { audioUrl: 'u' } })
    expect(attachmentToMessage({ url: 'u', mimeType: 'VIDEO/mp4' })).toEqual({ type: 'video', payload: { videoUrl: 'u' } })
    expect(attachmentToMessage({ url: 'u', mimeType: 'application/pdf', name: 'a.pdf' })).toEqual({
      type: 'file',
      payload: { fileUrl: 'u', title: 'a.pdf' },
    })
    expect(attachmentToMessage({ url: 'u' })).toEqual({ type: 'file', payload: { fileUrl: 'u' } })
  })
})

describe('made-up emails', () => {
  it.each([
    ['user_01ABC@no-reply.bot-123.botpress.com', true],
    ['X@No-Reply.Bot-1.Botpress.COM', true],
    ['someone@anything.botpress.invalid', true],
    ['a@b.c.botpress.invalid', true],
    ['anonymous@noemail.com', true],
    ['ANONYMOUS@NOEMAIL.COM', true],
    ['jane@example.com', false],
    ['jane@botpress.com', false],
    ['anonymous2@noemail.com', false],
  ])('%s -> %s', (email, madeUp) => {
    expect(isMadeUpEmail(email)).toBe(madeUp)
  })

  it('gives handoff an externalId for made-up or missing emails', () => {
    expect(userIdentity('User_1@no-reply.bot-1.botpress.com')).toEqual({ externalId: 'user_1@no-reply.bot-1.botpress.com' })
    expect(userIdentity('jane@example.com')).toEqual({ email: 'jane@example.com' })
    const a = userIdentity(undefined) as { externalId: string }
    const b = userIdentity(undefined) as { externalId: string }
    expect(a.externalId).toMatch(/^bp_/)
    expect(a.externalId).not.toBe(b.externalId)
  })
})

describe('startKey', () => {
  it('is stable for the same input and differs otherwise', () => {
    const input = { userId: 'u', title: 't', messageHistory: [{ source: bot, type: 'text', payload: { text: 'a' } }] }
    expect(startKey(input)).toBe(startKey(JSON.parse(JSON.stringify(input))))
    expect(startKey(input)).not.toBe(startKey({ ...input, title: 'u' }))
    expect(startKey(input)).toMatch(/^[0-9a-f]{64}$/)
  })
})

describe('handoffUrl validation', () => {
  it.each([
    ['https://handoff.example.com/', 'https://handoff.example.com'],
    ['https://handoff.example.com/base/', 'https://handoff.example.com/base'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['http://localhost:8080/', 'http://localhost:8080'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
  ])('accepts %s', (url, base) => expect(validateHandoffUrl(url)).toBe(base))

  it.each([
    ['http://handoff.example.com', /uses http/],
    ['ftp://handoff.example.com', /https/],
    ['not a url', /not a valid URL/],
    ['', /required/],
    ['https://user:pw@handoff.example.com', /credentials/],
  ])('rejects %s', (url, msg) => expect(() => validateHandoffUrl(url)).toThrow(msg))
})

describe('signature', () => {
  const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`
  const body = '{"id":"evt_1","type":"handoff.test"}'
  const now = 1_700_000_000
  const headers = (sig: string, ts = now, id = 'evt_1') => ({ 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': sig })

  it('accepts a valid signature, also in a list', () => {
    const sig = sign(secret, 'evt_1', now, body)
    expect(verify(secret, headers(sig), body, now)).toMatchObject({ ok: true, id: 'evt_1' })
    expect(verify(secret, headers(`v1,bogus ${sig}`), body, now).ok).toBe(true)
    expect(verify(secret, headers(sig, now), body, now + 299).ok).toBe(true)
    expect(verify(secret, headers(sig, now), body, now - 299).ok).toBe(true)
  })
  it('rejects forged, stale, future, altered and unsigned deliveries', () => {
    const sig = sign(secret, 'evt_1', now, body)
    expect(verify(secret, headers(sign('whsec_' + Buffer.from('other').toString('base64'), 'evt_1', now, body)), body, now).ok).toBe(false)
    expect(verify(secret, headers(sig), body, now + 301).ok).toBe(false)
    expect(verify(secret, headers(sig), body, now - 301).ok).toBe(false)
    expect(verify(secret, headers(sig), body + ' ', now).ok).toBe(false)
    expect(verify(secret, headers(sig, now, 'evt_2'), body, now).ok).toBe(false)
    expect(verify(secret, headers(sig.replace('v1,', 'v2,')), body, now).ok).toBe(false)
    expect(verify(secret, {}, body, now).ok).toBe(false)
  })
})
