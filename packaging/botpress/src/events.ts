// handoff events (Standard Webhooks deliveries) -> Botpress Runtime API calls.
import type { Response } from '@botpress/sdk'
import { isApiError } from '@botpress/sdk'
import { attachmentToMessage } from './convert'
import type { Client, Logger } from './types'

export const HANDLED_EVENTS_KEPT = 50

export type HandoffEvent = {
  id?: string
  type: string
  sessionId?: string | null
  externalId?: string | null
  createdAt?: string
  data?: Record<string, unknown>
}

type Agent = { id: string; name?: string; email?: string; avatarUrl?: string }
type Attachment = { url: string; name?: string; mimeType?: string; size?: number }

const json = (status: number, body: unknown): Response => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
})
export const ok = (extra: Record<string, unknown> = {}) => json(200, { ok: true, ...extra })
export const badRequest = (message: string) => json(400, { error: message })
export const unavailable = (message: string) => json(503, { error: message })

/** Raised for a delivery whose JSON is valid but not a usable event: answered 400. */
export class MalformedEvent extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function parseAgent(v: unknown): Agent {
  if (!isObj(v) || typeof v.id !== 'string' || v.id === '') {
    throw new MalformedEvent('event data.agent.id is missing')
  }
  return {
    id: v.id,
    name: typeof v.name === 'string' && v.name !== '' ? v.name : undefined,
    email: typeof v.email === 'string' ? v.email : undefined,
    avatarUrl: typeof v.avatarUrl === 'string' && v.avatarUrl !== '' ? v.avatarUrl : undefined,
  }
}

/** Parses the body; throws MalformedEvent (-> 400). */
export function parseEvent(body: string): HandoffEvent {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    throw new MalformedEvent('body is not JSON')
  }
  if (!isObj(parsed) || typeof parsed.type !== 'string' || parsed.type === '') {
    throw new MalformedEvent('body is not a handoff event (no "type")')
  }
  return parsed as HandoffEvent
}

type Props = { client: Client; logger: Logger; webhookId: string; event: HandoffEvent }

async function findConversationId({ client, logger, event }: Props): Promise<string | undefined> {
  if (typeof event.externalId === 'string' && event.externalId !== '') {
    return event.externalId
  }
  if (typeof event.sessionId !== 'string' || event.sessionId === '') {
    return undefined
  }
  const { conversations } = await client.listConversations({ channel: 'hitl', tags: { sessionId: event.sessionId } })
  const found = conversations[0]?.id
  if (!found) {
    logger.info(`handoff event ${event.type} for session ${event.sessionId}: no Botpress conversation, ignored`)
  }
  return found
}

async function agentUser(client: Client, agent: Agent): Promise<string> {
  const name = agent.name ?? agent.id
  const { user } = await client.getOrCreateUser({
    name,
    pictureUrl: agent.avatarUrl,
    tags: { agentId: agent.id },
    discriminateByTags: ['agentId'],
  })
  const nameDiffers = user.name !== name
  const pictureDiffers = agent.avatarUrl !== undefined && user.pictureUrl !== agent.avatarUrl
  if (nameDiffers || pictureDiffers) {
    await client.updateUser({
      id: user.id,
      ...(nameDiffers ? { name } : {}),
      ...(pictureDiffers ? { pictureUrl: agent.avatarUrl } : {}),
    })
  }
  return user.id
}

/** Runs `emit` once per webhook-id per conversation (state `handledEvents`). Returns false if already done. */
async function once(client: Client, conversationId: string, webhookId: string, emit: () => Promise<unknown>) {
  let ids: string[] = []
  try {
    const { state } = await client.getState({ type: 'conversation', id: conversationId, name: 'handledEvents' })
    ids = Array.isArray(state.payload?.ids) ? state.payload.ids.filter((x: unknown) => typeof x === 'string') : []
  } catch (thrown) {
    if (!(isApiError(thrown) && thrown.code === 404)) throw thrown
  }
  if (ids.includes(webhookId)) {
    return false
  }
  await emit()
  await client.setState({
    type: 'conversation',
    id: conversationId,
    name: 'handledEvents',
    payload: { ids: [...ids, webhookId].slice(-HANDLED_EVENTS_KEPT) },
  })
  return true
}

/** Dispatches one verified event. Botpress API errors propagate (the caller answers 503). */
export async function dispatch(props: Props): Promise<Response> {
  const { client, logger, webhookId, event } = props
  const data = isObj(event.data) ? event.data : {}

  switch (event.type) {
    case 'handoff.test':
      logger.info('handoff test event received')
      return ok()
    case 'session.opened':
      return ok()
    case 'session.assigned':
    case 'session.message':
    case 'session.closed':
    case 'session.failed':
      break
    default:
      logger.info(`handoff event of unknown type ${event.type} ignored`)
      return ok({ ignored: true })
  }

  if (event.type === 'session.closed' && data.by === 'bot') {
    // The bot (stopHitl) closed it: the plugin already knows.
    return ok()
  }

  // Validate before any Botpress call.
  const agent = event.type === 'session.assigned' || event.type === 'session.message' ? parseAgent(data.agent) : undefined
  const attachments: Attachment[] = []
  if (event.type === 'session.message') {
    if (data.attachments !== undefined && !Array.isArray(data.attachments)) {
      throw new MalformedEvent('event data.attachments is not an array')
    }
    for (const a of (data.attachments as unknown[] | undefined) ?? []) {
      if (!isObj(a) || typeof a.url !== 'string' || a.url === '') throw new MalformedEvent('attachment without url')
      attachments.push({
        url: a.url,
        name: typeof a.name === 'string' ? a.name : undefined,
        mimeType: typeof a.mimeType === 'string' ? a.mimeType : undefined,
      })
    }
  }

  const conversationId = await findConversationId(props)
  if (!conversationId) {
    logger.info(`handoff event ${event.type} (${webhookId}) has no Botpress conversation, ignored`)
    return ok({ ignored: true })
  }

  switch (event.type) {
    case 'session.assigned': {
      const userId = await agentUser(client, agent!)
      const emitted = await once(client, conversationId, webhookId, () =>
        client.createEvent({ type: 'hitlAssigned', payload: { conversationId, userId } })
      )
      return ok(emitted ? {} : { duplicate: true })
    }
    case 'session.message': {
      const userId = await agentUser(client, agent!)
      const items: Array<{ type: 'text'; payload: { text: string } } | ReturnType<typeof attachmentToMessage>> = []
      if (typeof data.text === 'string' && data.text.trim() !== '') {
        items.push({ type: 'text', payload: { text: data.text } })
      }
      for (const a of attachments) items.push(attachmentToMessage(a))
      for (const [i, item] of items.entries()) {
        await client.getOrCreateMessage({
          conversationId,
          userId,
          type: item.type,
          payload: item.payload,
          tags: { handoffEventId: `${webhookId}:${i}` },
          discriminateByTags: ['handoffEventId'],
        })
      }
      return ok()
    }
    case 'session.closed':
    case 'session.failed': {
      if (event.type === 'session.failed') {
        const error = isObj(data.error) ? data.error : {}
        logger.forBot().warn(`handoff session ${event.sessionId ?? ''} failed: ${String(error.code ?? '')} ${String(error.message ?? '')}`)
      }
      const emitted = await once(client, conversationId, webhookId, () =>
        client.createEvent({ type: 'hitlStopped', payload: { conversationId } })
      )
      return ok(emitted ? {} : { duplicate: true })
    }
  }
  return ok()
}
