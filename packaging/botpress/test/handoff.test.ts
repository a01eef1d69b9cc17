// Unit tests of the handoff client (src/handoff.ts) against the fake handoff of helpers.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { checkAvailabilityOutput } from '../integration.definition'
import { HandoffClient, HandoffError } from '../src/handoff'
import { startFakeHandoff } from './helpers'

let handoff: Awaited<ReturnType<typeof startFakeHandoff>>
let client: HandoffClient

beforeAll(async () => {
  handoff = await startFakeHandoff()
  client = new HandoffClient(handoff.url, handoff.apiKey)
})
afterAll(async () => {
  await handoff.close()
})
beforeEach(() => {
  handoff.overrides.clear()
  handoff.availability = { available: true, agentsAvailable: 2 }
})

const lastRequest = () => handoff.requests.at(-1)!
async function failure(p: Promise<unknown>): Promise<HandoffError> {
  const thrown = await p.then(
    () => undefined,
    (e: unknown) => e
  )
  expect(thrown).toBeInstanceOf(HandoffError)
  return thrown as HandoffError
}

describe('getAvailability', () => {
  it('available: GET /api/v1/availability with the bearer key, no query without an inbox', async () => {
    const a = await client.getAvailability()
    expect(a).toEqual({ available: true, agentsAvailable: 2 })
    expect(checkAvailabilityOutput.safeParse(a).success).toBe(true)
    expect(lastRequest()).toMatchObject({ method: 'GET', path: '/api/v1/availability', query: {}, body: undefined })
    expect(lastRequest().headers.authorization).toBe(`Bearer ${handoff.apiKey}`)
  })

  it('away: available false with a count of 0; the inbox goes in the query', async () => {
    handoff.availability = { available: false, agentsAvailable: 0 }
    expect(await client.getAvailability('42')).toEqual({ available: false, agentsAvailable: 0 })
    expect(lastRequest().query).toEqual({ inboxId: '42' })
  })

  it('cannot tell: available null, agentsAvailable null, with the reason', async () => {
    const reason = 'the HubSpot app lacks the crm.objects.users.read scope'
    handoff.availability = { available: null, agentsAvailable: null, reason }
    const a = await client.getAvailability()
    expect(a).toEqual({ available: null, agentsAvailable: null, reason })
    expect(checkAvailabilityOutput.safeParse(a).success).toBe(true)
  })

  it('encodes the inbox in the query', async () => {
    await failure(client.getAvailability('4 2&x=1'))
    expect(lastRequest().query).toEqual({ inboxId: '4 2&x=1' })
  })

  it('422 unknown-inbox: a permanent HandoffError carrying handoff’s code and message', async () => {
    const e = await failure(client.getAvailability('7'))
    expect(e).toMatchObject({ kind: 'http', status: 422, code: 'unknown-inbox', transient: false })
    expect(e.handoffMessage).toBe('inboxId `7` is not an inbox handoff is connected to (connected: 42)')
  })

  it('5xx: a transient HandoffError', async () => {
    handoff.overrides.set('GET /api/v1/availability', () => ({ status: 503, body: { error: { code: 'unavailable', message: 'shutting down' } } }))
    const e = await failure(client.getAvailability())
    expect(e).toMatchObject({ kind: 'http', status: 503, transient: true })
    expect(e.message).toBe('handoff answered 503 to GET /api/v1/availability: shutting down')
    handoff.overrides.set('GET /api/v1/availability', () => ({ status: 500 }))
    expect(await failure(client.getAvailability())).toMatchObject({ status: 500, transient: true })
  })

  it('network failure: a transient HandoffError', async () => {
    const e = await failure(new HandoffClient('http://127.0.0.1:9', 'k').getAvailability())
    expect(e).toMatchObject({ kind: 'network', transient: true })
  })

  it('401 is permanent', async () => {
    const e = await failure(new HandoffClient(handoff.url, 'wrong').getAvailability())
    expect(e).toMatchObject({ status: 401, transient: false })
  })

  it('an answer outside the Availability schema is refused', async () => {
    for (const body of [
      { available: 'yes', agentsAvailable: 1 },
      { available: true },
      { available: true, agentsAvailable: -1 },
      { available: true, agentsAvailable: 1.5 },
      { available: null, agentsAvailable: null, reason: 3 },
      [],
    ]) {
      handoff.overrides.set('GET /api/v1/availability', () => ({ status: 200, body }))
      expect(await failure(client.getAvailability()), JSON.stringify(body)).toMatchObject({ kind: 'invalid-response' })
    }
  })

  it('extra fields are dropped', async () => {
    handoff.availability = { available: true, agentsAvailable: 3, reason: 'in working hours', extra: 1 }
    expect(await client.getAvailability()).toEqual({ available: true, agentsAvailable: 3, reason: 'in working hours' })
  })
})
