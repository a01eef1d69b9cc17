// Smoke test of test/e2e/fake-runtime.mjs as the Rust e2e suite runs it: a child process,
// one ready line on stdout, the control API, the webhook gateway.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import readline from 'node:readline'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { signed, startFakeHandoff } from './helpers'

let child: ChildProcess
let base: string
let handoff: Awaited<ReturnType<typeof startFakeHandoff>>
let stdoutLines: string[] = []
let stderr = ''

const control = async (method: string, p: string, body?: unknown) => {
  const r = await fetch(`${base}${p}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await r.text()
  return { status: r.status, body: text ? JSON.parse(text) : undefined }
}

beforeAll(async () => {
  handoff = await startFakeHandoff()
  child = spawn(process.execPath, [path.join(__dirname, 'e2e', 'fake-runtime.mjs')], {
    cwd: '/',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BP_API_URL: 'http://should-be-overridden', BUNDLE: '' },
  })
  child.stderr!.on('data', (d) => (stderr += d))
  const rl = readline.createInterface({ input: child.stdout! })
  const first = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`harness exited ${code}: ${stderr}`)))
  })
  rl.on('line', (l) => stdoutLines.push(l))
  const ready = JSON.parse(first)
  expect(ready).toEqual({ ready: true, port: expect.any(Number) })
  base = `http://127.0.0.1:${ready.port}`
})
afterAll(async () => {
  child?.kill('SIGTERM')
  await handoff?.close()
})

it('registers, opens a session, relays a message both ways and records everything', async () => {
  expect((await control('POST', '/_control/configuration', { handoffUrl: handoff.url, apiKey: handoff.apiKey })).status).toBe(204)
  const reg = await control('POST', '/_control/operation', { operation: 'register', body: {} })
  expect(reg.body).toEqual({ status: 200, body: null })
  expect(handoff.webhook.url).toBe(`${base}/webhook/wh_e2e`)

  const u = await control('POST', '/_control/operation', {
    operation: 'action_triggered',
    body: { type: 'createUser', input: { name: 'Jane', email: 'jane@example.com' } },
  })
  expect(u.body.status).toBe(200)
  const s = await control('POST', '/_control/operation', {
    operation: 'action_triggered',
    body: { type: 'startHitl', input: { userId: u.body.body.output.userId, title: 'T', messageHistory: [] } },
  })
  const conversationId = s.body.body.output.conversationId
  expect(conversationId).toMatch(/^conv_/)

  const avail = await control('POST', '/_control/operation', {
    operation: 'action_triggered',
    body: { type: 'checkAvailability', input: { inboxId: '42' } },
  })
  expect(avail.body).toMatchObject({ status: 200, body: { output: { available: true, agentsAvailable: 2 } } })

  const m = await control('POST', '/_control/message', {
    conversationId,
    type: 'text',
    payload: { text: 'hi agent', userId: u.body.body.output.userId },
  })
  expect(m.body).toMatchObject({ status: 200, messageId: expect.stringMatching(/^msg_/) })
  const session = [...handoff.sessions.values()].find((x) => x.externalId === conversationId)!
  expect(session.messages).toEqual([{ type: 'text', payload: { text: 'hi agent' }, messageId: m.body.messageId }])

  // an agent reply through the gateway, at a sub-path
  const body = JSON.stringify({
    id: 'evt_h1',
    type: 'session.message',
    sessionId: session.sessionId,
    externalId: conversationId,
    createdAt: new Date().toISOString(),
    data: { agent: { id: 'a1', name: 'Agent One' }, text: 'hello user', attachments: [] },
  })
  const sig = signed(handoff.webhook.secret!, body, { id: 'evt_h1' })
  const gw = await fetch(`${base}/webhook/wh_e2e/events?x=1`, { method: 'POST', headers: sig.headers, body })
  expect(gw.status).toBe(200)
  expect(await gw.json()).toEqual({ ok: true })
  const forged = await fetch(`${base}/webhook/wh_e2e`, { method: 'POST', headers: { ...sig.headers, 'webhook-id': 'evt_x' }, body })
  expect(forged.status).toBe(401)

  const state = (await control('GET', '/_control/state')).body
  expect(state.gateway.map((g: { status: number }) => g.status)).toEqual([200, 401])
  expect(state.users.find((x: any) => x.id === 'user_bot')).toBeTruthy()
  const reply = state.messages.find((x: any) => x.tags.handoffEventId === 'evt_h1:0')
  expect(reply).toMatchObject({ type: 'text', payload: { text: 'hello user' }, conversationId })
  expect(reply.createdAt).toMatch(/\.\d{3}Z$/)
  expect(state.states.find((x: any) => x.name === 'webhook')).toMatchObject({ type: 'integration', id: 'int_e2e' })
  expect(state.calls['POST /v1/chat/messages/get-or-create']).toBe(1)

  // injected failures
  expect((await control('POST', '/_control/fail', { status: 500, ms: 2000 })).status).toBe(204)
  const again = await fetch(`${base}/webhook/wh_e2e`, { method: 'POST', headers: signed(handoff.webhook.secret!, body, { id: 'evt_h2' }).headers, body })
  expect(again.status).toBe(503)
  await control('POST', '/_control/fail', { status: 500, ms: 0 })

  // stdout carried only the ready line; logs went to stderr and never show the key or secret
  await vi.waitFor(() => expect(stderr).toContain('webhook delivery refused'))
  expect(stdoutLines).toEqual([])
  expect(stderr).not.toContain(handoff.apiKey)
  expect(stderr).not.toContain(handoff.webhook.secret!.slice(6))
})
