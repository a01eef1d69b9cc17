#!/usr/bin/env node
// E2E harness for the handoff Botpress integration.
//
// One HTTP server on 127.0.0.1 with three roles:
//   1. a fake Botpress Runtime API under /v1/chat/...  (what @botpress/client 1.35.0 calls)
//   2. a fake webhook gateway: /webhook/<webhookId>[/<sub...>] -> operation webhook_received
//   3. a control API under /_control/...
// The integration bundle (.botpress/dist/index.cjs, or $BUNDLE) is loaded in-process after
// BP_API_URL / BP_TOKEN point at this server, and invoked through its own `handler(req)`.
//
// Run: node packaging/botpress/test/e2e/fake-runtime.mjs   -> prints {"ready":true,"port":N}
// Import: `startHarness({ bundle?, port? })` for in-process use by the unit tests.
import http from 'node:http'
import path from 'node:path'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
export const DEFAULT_BUNDLE = path.resolve(here, '../../.botpress/dist/index.cjs')

export const CONTEXT = {
  botId: 'bot_e2e',
  botUserId: 'user_bot',
  integrationId: 'int_e2e',
  integrationAlias: 'handoff',
  integrationName: 'handoff',
  webhookId: 'wh_e2e',
}

const ERROR_TYPES = {
  400: 'InvalidPayload',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'ResourceNotFound',
  409: 'ResourceAlreadyExists',
  429: 'RateLimited',
  500: 'Internal',
  502: 'Internal',
  503: 'Internal',
}

let counter = 0
const newId = (prefix) => `${prefix}_${(++counter).toString(36).padStart(4, '0')}${randomBytes(6).toString('hex')}`
const now = () => new Date().toISOString()
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)))

function cleanTags(tags) {
  const out = {}
  for (const [k, v] of Object.entries(tags ?? {})) {
    if (typeof v === 'string' && v !== '') out[k] = v
  }
  return out
}
function mergeTags(current, patch) {
  const out = { ...current }
  for (const [k, v] of Object.entries(patch ?? {})) {
    if (v === '' || v === null || v === undefined) delete out[k]
    else out[k] = String(v)
  }
  return out
}
/** With `discriminateByTags`, only those tags must match; without, ALL tags must match exactly. */
function tagsMatch(recordTags, wanted, discriminateByTags) {
  const want = cleanTags(wanted)
  if (Array.isArray(discriminateByTags)) {
    return discriminateByTags.every((k) => want[k] !== undefined && recordTags[k] === want[k])
  }
  const a = Object.keys(recordTags)
  const b = Object.keys(want)
  return a.length === b.length && b.every((k) => recordTags[k] === want[k])
}
function queryTags(searchParams) {
  const tags = {}
  for (const [k, v] of searchParams) {
    if (k.startsWith('tags.')) tags[k.slice(5)] = v
    else if (k.startsWith('tags[') && k.endsWith(']')) tags[k.slice(5, -1)] = v
  }
  return tags
}
const filterByTags = (records, tags) => records.filter((r) => Object.entries(tags).every(([k, v]) => r.tags[k] === v))

class ApiFailure extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}
const notFound = (what) => new ApiFailure(404, `${what} doesn't exist`)

function errorBody(status, message) {
  return { id: `err_${randomBytes(8).toString('hex')}`, code: status, type: ERROR_TYPES[status] ?? 'Unknown', message }
}

export function createStore() {
  const t = now()
  return {
    users: [{ id: CONTEXT.botUserId, name: 'Bot', tags: {}, createdAt: t, updatedAt: t }],
    conversations: [],
    messages: [],
    events: [],
    states: [],
    calls: {},
    gateway: [],
  }
}

/** Runtime API routes: [method, pattern, handler(ctx)] */
function runtimeRoutes(store) {
  const user = (id) => store.users.find((u) => u.id === id) ?? (() => { throw notFound(`User ${id}`) })()
  const conversation = (id) =>
    store.conversations.find((c) => c.id === id) ?? (() => { throw notFound(`Conversation ${id}`) })()
  const message = (id) => store.messages.find((m) => m.id === id) ?? (() => { throw notFound(`Message ${id}`) })()

  const createUser = (b) => {
    const t = now()
    const u = { id: newId('user'), tags: cleanTags(b.tags), createdAt: t, updatedAt: t }
    if (b.name != null) u.name = b.name
    if (b.pictureUrl != null) u.pictureUrl = b.pictureUrl
    if (b.attributes) u.attributes = b.attributes
    store.users.push(u)
    return u
  }
  const createConversation = (b) => {
    const t = now()
    const c = {
      id: newId('conv'),
      channel: b.channel,
      integration: CONTEXT.integrationName,
      tags: cleanTags(b.tags),
      createdAt: t,
      updatedAt: t,
    }
    store.conversations.push(c)
    return c
  }
  const createMessage = (b, direction = 'incoming') => {
    if (!b.conversationId) throw new ApiFailure(400, 'conversationId is required')
    conversation(b.conversationId)
    if (!b.userId) throw new ApiFailure(400, 'userId is required')
    user(b.userId)
    const t = now()
    const m = {
      id: newId('msg'),
      conversationId: b.conversationId,
      userId: b.userId,
      type: b.type,
      payload: b.payload ?? {},
      tags: cleanTags(b.tags),
      direction,
      createdAt: t,
      updatedAt: t,
    }
    if (b.origin) m.origin = b.origin
    store.messages.push(m)
    return m
  }
  // A state record's `id` is its owner's id (the `{id}` of the route), as in the Runtime API paths.
  const stateKey = (p) => (s) => s.type === p.type && s.id === p.id && s.name === p.name
  const stateView = (s) => s
  const setState = (p, payload) => {
    const idx = store.states.findIndex(stateKey(p))
    if (payload === null) {
      if (idx >= 0) store.states.splice(idx, 1)
      const t = now()
      return { id: p.id, type: p.type, name: p.name, botId: CONTEXT.botId, payload: {}, createdAt: t, updatedAt: t }
    }
    const t = now()
    if (idx >= 0) {
      store.states[idx].payload = payload
      store.states[idx].updatedAt = t
      return store.states[idx]
    }
    const s = { id: p.id, type: p.type, name: p.name, botId: CONTEXT.botId, payload, createdAt: t, updatedAt: t }
    if (p.type === 'conversation') s.conversationId = p.id
    if (p.type === 'user') s.userId = p.id
    store.states.push(s)
    return s
  }

  return [
    ['POST', '/v1/chat/users', ({ body }) => ({ user: createUser(body) })],
    ['POST', '/v1/chat/users/get-or-create', ({ body }) => {
      const found = store.users.find((u) => u.id !== CONTEXT.botUserId && tagsMatch(u.tags, body.tags, body.discriminateByTags))
      return { user: found ?? createUser(body) }
    }],
    ['GET', '/v1/chat/users', ({ query }) => {
      let users = filterByTags(store.users, queryTags(query))
      const conversationId = query.get('conversationId')
      if (conversationId) {
        const ids = new Set(store.messages.filter((m) => m.conversationId === conversationId).map((m) => m.userId))
        users = users.filter((u) => ids.has(u.id))
      }
      return { users, meta: {} }
    }],
    ['GET', '/v1/chat/users/:id', ({ params }) => ({ user: user(params.id) })],
    ['PUT', '/v1/chat/users/:id', ({ params, body }) => {
      const u = user(params.id)
      if (body.tags) u.tags = mergeTags(u.tags, body.tags)
      for (const f of ['name', 'pictureUrl']) {
        if (body[f] === null) delete u[f]
        else if (body[f] !== undefined) u[f] = body[f]
      }
      if (body.attributes) u.attributes = { ...(u.attributes ?? {}), ...body.attributes }
      u.updatedAt = now()
      return { user: u }
    }],
    ['POST', '/v1/chat/conversations', ({ body }) => ({ conversation: createConversation(body) })],
    ['POST', '/v1/chat/conversations/get-or-create', ({ body }) => {
      const found = store.conversations.find(
        (c) => c.channel === body.channel && tagsMatch(c.tags, body.tags, body.discriminateByTags)
      )
      return { conversation: found ?? createConversation(body) }
    }],
    ['GET', '/v1/chat/conversations', ({ query }) => {
      let conversations = filterByTags(store.conversations, queryTags(query))
      const channel = query.get('channel')
      if (channel) conversations = conversations.filter((c) => c.channel === channel)
      const integrationName = query.get('integrationName')
      if (integrationName) conversations = conversations.filter((c) => c.integration === integrationName)
      return { conversations, meta: {} }
    }],
    ['GET', '/v1/chat/conversations/:id', ({ params }) => ({ conversation: conversation(params.id) })],
    ['PUT', '/v1/chat/conversations/:id', ({ params, body }) => {
      const c = conversation(params.id)
      c.tags = mergeTags(c.tags, body.tags)
      if (body.currentTaskId !== undefined) c.currentTaskId = body.currentTaskId
      c.updatedAt = now()
      return { conversation: c }
    }],
    ['POST', '/v1/chat/messages', ({ body }) => ({ message: createMessage(body) })],
    ['POST', '/v1/chat/messages/get-or-create', ({ body }) => {
      const found = store.messages.find(
        (m) => m.conversationId === body.conversationId && tagsMatch(m.tags, body.tags, body.discriminateByTags)
      )
      return { message: found ?? createMessage(body) }
    }],
    ['GET', '/v1/chat/messages', ({ query }) => {
      let messages = filterByTags(store.messages, queryTags(query))
      const conversationId = query.get('conversationId')
      if (conversationId) messages = messages.filter((m) => m.conversationId === conversationId)
      return { messages: [...messages].reverse(), meta: {} }
    }],
    ['GET', '/v1/chat/messages/:id', ({ params }) => ({ message: message(params.id) })],
    ['PUT', '/v1/chat/messages/:id', ({ params, body }) => {
      const m = message(params.id)
      m.tags = mergeTags(m.tags, body.tags)
      if (body.payload !== undefined) m.payload = body.payload
      m.updatedAt = now()
      return { message: m }
    }],
    ['POST', '/v1/chat/events', ({ body }) => {
      if (!body.type) throw new ApiFailure(400, 'type is required')
      const e = {
        id: newId('evt'),
        type: body.type,
        payload: body.payload ?? {},
        status: 'pending',
        failureReason: null,
        createdAt: now(),
      }
      for (const f of ['conversationId', 'userId', 'messageId']) if (body[f]) e[f] = body[f]
      store.events.push(e)
      return { event: e }
    }],
    ['GET', '/v1/chat/states/:type/:id/:name', ({ params }) => {
      const s = store.states.find(stateKey(params))
      if (!s) throw notFound(`State ${params.type}/${params.id}/${params.name}`)
      return { state: stateView(s), meta: { cached: false } }
    }],
    ['POST', '/v1/chat/states/:type/:id/:name', ({ params, body }) => ({ state: stateView(setState(params, body.payload ?? null)) })],
    ['POST', '/v1/chat/states/:type/:id/:name/get-or-set', ({ params, body }) => {
      const s = store.states.find(stateKey(params)) ?? setState(params, body.payload ?? {})
      return { state: stateView(s), meta: { cached: false } }
    }],
    ['PATCH', '/v1/chat/states/:type/:id/:name', ({ params, body }) => {
      const s = store.states.find(stateKey(params))
      if (!s) throw notFound(`State ${params.type}/${params.id}/${params.name}`)
      s.payload = { ...s.payload, ...(body.payload ?? {}) }
      s.updatedAt = now()
      return { state: stateView(s) }
    }],
  ].map(([method, pattern, fn]) => {
    const names = []
    const re = new RegExp(
      '^' + pattern.replace(/:([a-zA-Z]+)/g, (_, n) => (names.push(n), '([^/]+)')) + '$'
    )
    return { method, pattern, re, names, fn }
  })
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}
function send(res, status, body, headers = {}) {
  if (body === undefined) {
    res.writeHead(status, headers).end()
    return
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(text)
}
function parseMaybeJson(text) {
  if (text === undefined || text === null || text === '') return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * Starts the harness. `bundle`: path of the integration bundle, or false to run the fake
 * Runtime API alone. Returns { port, baseUrl, store, invoke, setConfiguration, fail, close }.
 */
export async function startHarness({ bundle = process.env.BUNDLE || DEFAULT_BUNDLE, port = 0, host = '127.0.0.1' } = {}) {
  const store = createStore()
  const routes = runtimeRoutes(store)
  let configuration = { handoffUrl: 'http://127.0.0.1:1', apiKey: 'unset' }
  let failUntil = 0
  let failStatus = 500
  let failRoute = null // optional "METHOD /pattern" the injected failure is limited to
  let integration = null

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', `http://${host}`)
      const raw = await readBody(req)

      // 1. Runtime API
      if (url.pathname.startsWith('/v1/')) {
        const method = (req.method ?? 'GET').toUpperCase()
        const route = routes.find((r) => r.method === method && r.re.test(url.pathname))
        const key = `${method} ${route ? route.pattern : url.pathname}`
        store.calls[key] = (store.calls[key] ?? 0) + 1
        if (Date.now() < failUntil && (!failRoute || failRoute === key)) {
          return send(res, failStatus, errorBody(failStatus, `injected failure ${failStatus}`), { 'retry-after': '0' })
        }
        if (!route) return send(res, 404, errorBody(404, `no fake route for ${key}`))
        const m = route.re.exec(url.pathname)
        const params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]))
        let body = {}
        if (raw) {
          try {
            body = JSON.parse(raw)
          } catch {
            return send(res, 400, errorBody(400, 'body is not JSON'))
          }
        }
        try {
          const out = route.fn({ params, body, query: url.searchParams })
          return send(res, 200, clone(out))
        } catch (e) {
          if (e instanceof ApiFailure) return send(res, e.status, errorBody(e.status, e.message))
          throw e
        }
      }

      // 2. Webhook gateway
      const wh = /^\/webhook\/([^/]+)(\/.*)?$/.exec(url.pathname)
      if (wh) {
        const headers = {}
        for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
        const r = await invoke('webhook_received', {
          req: {
            method: (req.method ?? 'GET').toUpperCase(),
            path: wh[2] || '/',
            query: url.search.replace(/^\?/, ''),
            headers,
            body: raw,
          },
        })
        store.gateway.push({ status: r.status, at: now(), method: req.method, path: url.pathname })
        return send(res, r.status, r.body ?? '', r.headers ?? {})
      }

      // 3. Control API
      if (url.pathname.startsWith('/_control/')) {
        const body = raw ? JSON.parse(raw) : {}
        switch (`${req.method} ${url.pathname}`) {
          case 'POST /_control/configuration':
            configuration = { handoffUrl: body.handoffUrl, apiKey: body.apiKey }
            return send(res, 204)
          case 'POST /_control/operation': {
            const opBody = { ...(body.body ?? {}) }
            if ((body.operation === 'register' || body.operation === 'unregister') && !opBody.webhookUrl) {
              opBody.webhookUrl = `${baseUrl}/webhook/${CONTEXT.webhookId}`
            }
            const r = await invoke(body.operation, opBody)
            return send(res, 200, { status: r.status, body: parseMaybeJson(r.body) })
          }
          case 'POST /_control/message': {
            const conv = store.conversations.find((c) => c.id === body.conversationId)
            if (!conv) return send(res, 404, { error: `conversation ${body.conversationId} not found` })
            const t = now()
            const msg = {
              id: newId('msg'),
              conversationId: conv.id,
              userId: CONTEXT.botUserId,
              type: body.type,
              payload: body.payload ?? {},
              tags: {},
              direction: 'outgoing',
              createdAt: t,
              updatedAt: t,
            }
            store.messages.push(msg)
            const botUser = store.users.find((u) => u.id === CONTEXT.botUserId)
            const r = await invoke('message_created', {
              type: msg.type,
              payload: msg.payload,
              conversation: clone(conv),
              user: clone(botUser),
              message: clone(msg),
            })
            return send(res, 200, { status: r.status, body: parseMaybeJson(r.body), messageId: msg.id })
          }
          case 'POST /_control/fail':
            failStatus = Number(body.status ?? 500)
            failUntil = Date.now() + Number(body.ms ?? 0)
            failRoute = typeof body.route === 'string' ? body.route : null
            return send(res, 204)
          case 'GET /_control/state':
            return send(res, 200, {
              users: store.users,
              conversations: store.conversations,
              messages: store.messages,
              events: store.events,
              states: store.states,
              calls: store.calls,
              gateway: store.gateway,
            })
          default:
            return send(res, 404, { error: `unknown control route ${req.method} ${url.pathname}` })
        }
      }
      send(res, 404, { error: 'not found' })
    } catch (e) {
      send(res, 500, { error: String(e?.stack ?? e) })
    }
  })

  await new Promise((resolve) => server.listen(port, host, resolve))
  const actualPort = server.address().port
  const baseUrl = `http://${host}:${actualPort}`
  process.env.BP_API_URL = baseUrl
  process.env.BP_TOKEN = 'e2e-token'

  if (bundle) {
    const require = createRequire(import.meta.url)
    const mod = require(bundle)
    integration = mod.default ?? mod
    if (typeof integration?.handler !== 'function') throw new Error(`${bundle} does not export an integration`)
  }

  async function invoke(operation, body) {
    if (!integration) throw new Error('no integration bundle loaded')
    const headers = {
      'x-bot-id': CONTEXT.botId,
      'x-bot-user-id': CONTEXT.botUserId,
      'x-integration-id': CONTEXT.integrationId,
      'x-integration-alias': CONTEXT.integrationAlias,
      'x-webhook-id': CONTEXT.webhookId,
      'x-bp-operation': operation,
      'x-bp-configuration': Buffer.from(JSON.stringify(configuration), 'utf8').toString('base64'),
      'content-type': 'application/json',
    }
    const r = await integration.handler({ method: 'POST', path: '/', query: '', headers, body: JSON.stringify(body ?? {}) })
    return { status: r?.status ?? 200, headers: r?.headers ?? {}, body: r?.body }
  }

  return {
    port: actualPort,
    baseUrl,
    store,
    invoke,
    setConfiguration: (c) => (configuration = { ...c }),
    fail: (status, ms, route = null) => ((failStatus = status), (failUntil = Date.now() + ms), (failRoute = route)),
    resetCalls: () => {
      for (const k of Object.keys(store.calls)) delete store.calls[k]
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href
if (isMain) {
  // stdout carries exactly one line (the ready line): integration logs go to stderr.
  for (const m of ['log', 'info', 'debug']) console[m] = (...args) => console.error(...args)
  const h = await startHarness({ port: Number(process.env.PORT ?? 0) })
  process.stdout.write(JSON.stringify({ ready: true, port: h.port }) + '\n')
  const stop = () => h.close().then(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
