// Compile-time checks only (run by `npm run check`): the hand-written typings reject
// undeclared tags, states and events. Never executed.
import type { z } from '@botpress/sdk'
import type { checkAvailabilityOutput as outputSchema, default as definition } from '../integration.definition'
import type { CheckAvailabilityInput, CheckAvailabilityOutput, Client, SessionEntity } from '../src/types'

// The hand-written typings say exactly what the definition's schemas say (the SDK widens an
// action's output schema to ZuiObjectSchema, so the output is checked on its exported schema).
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Actions = NonNullable<(typeof definition)['actions']>
type Entities = NonNullable<(typeof definition)['entities']>
export const checkAvailabilityInput: Equals<z.infer<Actions['checkAvailability']['input']['schema']>, CheckAvailabilityInput> = true
export const checkAvailabilityOutput: Equals<z.infer<typeof outputSchema>, CheckAvailabilityOutput> = true
export const sessionEntity: Equals<z.infer<Entities['session']['schema']>, SessionEntity> = true

export async function typecheck(client: Client) {
  await client.getOrCreateUser({ name: 'a', tags: { agentId: 'x' }, discriminateByTags: ['agentId'] })
  // @ts-expect-error undeclared user tag
  await client.getOrCreateUser({ name: 'a', tags: { nope: 'x' } })
  await client.getOrCreateConversation({ channel: 'hitl', tags: { startKey: 'k' }, discriminateByTags: ['startKey'] })
  // @ts-expect-error undeclared conversation tag
  await client.getOrCreateConversation({ channel: 'hitl', tags: { id: 'k' } })
  // @ts-expect-error unknown channel
  await client.getOrCreateConversation({ channel: 'web', tags: {} })
  await client.getOrCreateMessage({
    conversationId: 'c',
    userId: 'u',
    type: 'text',
    payload: { text: 't' },
    tags: { handoffEventId: 'e' },
    discriminateByTags: ['handoffEventId'],
  })
  // @ts-expect-error wrong payload field for text
  await client.createMessage({ conversationId: 'c', userId: 'u', type: 'text', payload: { markdown: 't' }, tags: {} })
  // @ts-expect-error undeclared event
  await client.createEvent({ type: 'hitlStarted', payload: { conversationId: 'c' } })
  // @ts-expect-error wrong event payload
  await client.createEvent({ type: 'hitlAssigned', payload: { conversationId: 'c' } })
  // @ts-expect-error undeclared state
  await client.getState({ type: 'integration', id: 'i', name: 'secrets' })
  // @ts-expect-error wrong state payload
  await client.setState({ type: 'integration', id: 'i', name: 'webhook', payload: { token: 'x' } })
}
