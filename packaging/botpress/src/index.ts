import * as sdk from '@botpress/sdk'
import { historyToHandoff, startKey, toHandoffContents, userIdentity } from './convert'
import { badRequest, dispatch, MalformedEvent, parseEvent, unavailable } from './events'
import { HandoffClient, HandoffError, validateHandoffUrl } from './handoff'
import { verify } from './signature'
import type { Client, Configuration, Logger, TIntegration } from './types'

const { RuntimeError, isApiError } = sdk

const UNAUTHORIZED: sdk.Response = {
  status: 401,
  headers: { 'content-type': 'application/json' },
  body: '{"error":"invalid signature"}',
}

function handoffFor(configuration: Configuration): HandoffClient {
  let base: string
  try {
    base = validateHandoffUrl(configuration.handoffUrl)
  } catch (thrown) {
    throw new RuntimeError((thrown as Error).message)
  }
  if (typeof configuration.apiKey !== 'string' || configuration.apiKey.trim() === '') {
    throw new RuntimeError("apiKey is required: copy the bot API key from handoff's setup wizard (Bot step)")
  }
  return new HandoffClient(base, configuration.apiKey.trim())
}

/** A HandoffError (or anything) -> RuntimeError with a message for the bot builder. */
function asRuntimeError(thrown: unknown, doing: string): sdk.RuntimeError {
  if (thrown instanceof RuntimeError) return thrown
  if (thrown instanceof HandoffError) {
    if (thrown.status === 401) {
      return new RuntimeError(`${doing}: handoff refused the API key (401); copy the key again from handoff's setup wizard (Bot step)`)
    }
    if (thrown.transient) {
      return new RuntimeError(`${doing}: ${thrown.message}; this is temporary, retrying the action is safe`)
    }
    return new RuntimeError(`${doing}: ${thrown.message}`)
  }
  if (isApiError(thrown)) return new RuntimeError(`${doing}: Botpress API error: ${thrown.message}`)
  return new RuntimeError(`${doing}: ${(thrown as Error)?.message ?? String(thrown)}`)
}

async function sessionIdOf(client: Client, conversationId: string): Promise<string | undefined> {
  const { conversation } = await client.getConversation({ id: conversationId })
  return conversation.tags.sessionId || undefined
}

type ChannelProps = {
  ctx: { configuration: Configuration }
  conversation: { id: string; tags: { sessionId?: string } }
  message: { id: string }
  type: string
  payload: unknown
  logger: Logger
}

async function sendToHandoff({ ctx, conversation, message, type, payload, logger }: ChannelProps): Promise<void> {
  const sessionId = conversation.tags.sessionId
  if (!sessionId) {
    throw new RuntimeError(`conversation ${conversation.id} has no handoff session (tag sessionId); was startHitl called?`)
  }
  const handoff = handoffFor(ctx.configuration)
  const contents = toHandoffContents(type, payload)
  if (contents.length === 0) {
    logger.info(`message ${message.id} of type ${type} has nothing handoff can show; skipped`)
    return
  }
  const split = type === 'bloc'
  for (const [i, content] of contents.entries()) {
    const messageId = split ? `${message.id}:${i}` : message.id
    let result: 'sent' | 'closed'
    try {
      result = await handoff.postMessage(sessionId, content, messageId)
    } catch (thrown) {
      throw asRuntimeError(thrown, `could not forward message ${message.id} to handoff session ${sessionId}`)
    }
    if (result === 'closed') {
      logger.info(`handoff session ${sessionId} is closed; message ${messageId} not delivered (counted as done)`)
      return
    }
  }
}

const integration = new sdk.Integration<TIntegration>({
  register: async ({ ctx, client, logger, webhookUrl }) => {
    const handoff = handoffFor(ctx.configuration)
    try {
      await handoff.getWebhook()
    } catch (thrown) {
      if (thrown instanceof HandoffError && thrown.status === 401) {
        throw new RuntimeError(
          `handoff refused the API key (401 from ${handoff.baseUrl}); copy the bot API key again from handoff's setup wizard (Bot step)`
        )
      }
      if (thrown instanceof HandoffError && (thrown.kind === 'network' || thrown.kind === 'timeout')) {
        throw new RuntimeError(
          `cannot reach handoff at ${handoff.baseUrl}: ${thrown.message}. handoff must be reachable from Botpress Cloud at a public https URL`
        )
      }
      throw asRuntimeError(thrown, `cannot use handoff at ${handoff.baseUrl}`)
    }
    let secret: string
    try {
      ;({ secret } = await handoff.putWebhook(webhookUrl))
    } catch (thrown) {
      if (thrown instanceof HandoffError && thrown.status === 409) {
        throw new RuntimeError(
          `handoff's own configuration locks its webhook URL, so it cannot be set to ${webhookUrl}: ${thrown.handoffMessage ?? thrown.message}`
        )
      }
      if (thrown instanceof HandoffError && thrown.status === 422) {
        throw new RuntimeError(`handoff rejected the webhook URL ${webhookUrl}: ${thrown.handoffMessage ?? thrown.message}`)
      }
      throw asRuntimeError(thrown, 'could not register the webhook URL with handoff')
    }
    await client.setState({ type: 'integration', id: ctx.integrationId, name: 'webhook', payload: { secret } })
    logger.forBot().info(`handoff at ${handoff.baseUrl} will send its events to ${webhookUrl}`)
  },

  unregister: async ({ ctx, client, logger }) => {
    let handoff: HandoffClient
    try {
      handoff = handoffFor(ctx.configuration)
    } catch (thrown) {
      logger.forBot().warn(`unregister: ${(thrown as Error).message}; handoff's webhook left as it is`)
      return
    }
    try {
      await handoff.deleteWebhook()
      logger.forBot().info(`handoff at ${handoff.baseUrl} no longer sends events to this bot`)
    } catch (thrown) {
      if (thrown instanceof HandoffError && (thrown.status === 404 || thrown.status === 409)) {
        logger.forBot().info(`handoff kept its webhook (${thrown.status}): ${thrown.handoffMessage ?? thrown.message}`)
      } else {
        logger.forBot().warn(`could not remove handoff's webhook: ${(thrown as Error).message}`)
      }
    }
    try {
      await client.setState({ type: 'integration', id: ctx.integrationId, name: 'webhook', payload: null })
    } catch (thrown) {
      logger.warn(`could not clear the webhook state: ${(thrown as Error).message}`)
    }
  },

  actions: {
    createUser: async ({ ctx, client, input, logger }) => {
      const handoff = handoffFor(ctx.configuration)
      const identity = userIdentity(input.email)
      let handoffUserId: string
      try {
        ;({ userId: handoffUserId } = await handoff.createUser({
          name: input.name,
          pictureUrl: input.pictureUrl || undefined,
          ...identity,
        }))
      } catch (thrown) {
        throw asRuntimeError(thrown, 'could not create the handoff user')
      }
      const { user } = await client.getOrCreateUser({
        name: input.name,
        pictureUrl: input.pictureUrl || undefined,
        tags: { handoffUserId },
        discriminateByTags: ['handoffUserId'],
      })
      logger.info(`handoff user ${handoffUserId} is Botpress user ${user.id}`)
      return { userId: user.id }
    },

    startHitl: async ({ ctx, client, input, logger }) => {
      const handoff = handoffFor(ctx.configuration)
      const { user } = await client.getUser({ id: input.userId })
      const handoffUserId = user.tags.handoffUserId
      if (!handoffUserId) {
        throw new RuntimeError(
          `Botpress user ${input.userId} has no handoff user (tag handoffUserId); create it with the createUser action of this integration first`
        )
      }
      const key = startKey(input)
      const { conversation } = await client.getOrCreateConversation({
        channel: 'hitl',
        tags: { startKey: key },
        discriminateByTags: ['startKey'],
      })
      let sessionId: string
      try {
        ;({ sessionId } = await handoff.createSession({
          userId: handoffUserId,
          title: input.title || undefined,
          description: input.description || undefined,
          messageHistory: historyToHandoff(input.messageHistory),
          externalId: conversation.id,
          inboxId: input.hitlSession?.inboxId || undefined,
          priority: input.hitlSession?.priority || undefined,
        }))
      } catch (thrown) {
        throw asRuntimeError(thrown, 'could not open the handoff session')
      }
      if (conversation.tags.sessionId !== sessionId) {
        await client.updateConversation({ id: conversation.id, tags: { sessionId } })
      }
      logger.info(`handoff session ${sessionId} is conversation ${conversation.id}`)
      return { conversationId: conversation.id }
    },

    stopHitl: async ({ ctx, client, input, logger }) => {
      const handoff = handoffFor(ctx.configuration)
      const sessionId = await sessionIdOf(client, input.conversationId)
      if (!sessionId) {
        logger.info(`conversation ${input.conversationId} has no handoff session; nothing to stop`)
        return {}
      }
      try {
        const status = await handoff.stopSession(sessionId)
        if (status === 404 || status === 409) {
          logger.info(`handoff session ${sessionId} was already closed or gone (${status})`)
        }
      } catch (thrown) {
        throw asRuntimeError(thrown, `could not stop handoff session ${sessionId}`)
      }
      return {}
    },

    checkAvailability: async ({ ctx, input, logger }) => {
      const handoff = handoffFor(ctx.configuration)
      const inboxId = input.inboxId?.trim() || undefined
      const inbox = inboxId === undefined ? "handoff's default inbox" : `inbox ${inboxId}`
      try {
        const answer = await handoff.getAvailability(inboxId)
        logger.info(
          `availability for ${inbox}: ${answer.available === null ? 'unknown' : answer.available ? 'available' : 'away'}` +
            (answer.agentsAvailable === null ? '' : `, ${answer.agentsAvailable} agent(s)`) +
            (answer.reason ? ` (${answer.reason})` : '')
        )
        return answer
      } catch (thrown) {
        if (thrown instanceof HandoffError && thrown.status === 422) {
          throw new RuntimeError(
            `could not check agent availability for ${inbox}: ${thrown.handoffMessage ?? thrown.message}`
          )
        }
        throw asRuntimeError(thrown, `could not check agent availability for ${inbox}`)
      }
    },
  },

  channels: {
    hitl: {
      messages: {
        text: async (props) => sendToHandoff(props),
        image: async (props) => sendToHandoff(props),
        audio: async (props) => sendToHandoff(props),
        video: async (props) => sendToHandoff(props),
        file: async (props) => sendToHandoff(props),
        bloc: async (props) => sendToHandoff(props),
      },
    },
  },

  handler: async ({ ctx, req, client, logger }) => {
    const body = req.body ?? ''
    let secret: string | undefined
    try {
      const { state } = await client.getState({ type: 'integration', id: ctx.integrationId, name: 'webhook' })
      secret = typeof state.payload?.secret === 'string' ? state.payload.secret : undefined
    } catch (thrown) {
      if (!(isApiError(thrown) && thrown.code === 404)) {
        logger.error(`could not read the webhook secret: ${(thrown as Error).message}`)
        return unavailable('could not read the webhook secret from Botpress; retry later')
      }
    }
    if (!secret) {
      logger.warn('webhook delivery refused: no signing secret stored; re-save the integration configuration')
      return UNAUTHORIZED
    }
    const verified = verify(secret, req.headers, body)
    if (!verified.ok) {
      logger.warn(`webhook delivery refused: ${verified.reason}`)
      return UNAUTHORIZED
    }
    try {
      const event = parseEvent(body)
      return await dispatch({ client, logger, webhookId: verified.id, event })
    } catch (thrown) {
      if (thrown instanceof MalformedEvent) {
        logger.warn(`webhook delivery ${verified.id} refused: ${thrown.message}`)
        return badRequest(thrown.message)
      }
      const message = (thrown as Error)?.message ?? String(thrown)
      logger.error(`webhook delivery ${verified.id} failed, handoff will retry: ${message}`)
      return unavailable(`Botpress API call failed: ${message}`)
    }
  },
})

export default integration
