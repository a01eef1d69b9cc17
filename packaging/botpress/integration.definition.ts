import { IntegrationDefinition, z } from '@botpress/sdk'
import hitl from './bp_modules/hitl'

export const INTEGRATION_NAME = 'handoff'
export const INTEGRATION_VERSION = '0.1.0'

/** The priorities handoff's POST /api/v1/sessions accepts (HubSpot ticket priorities). */
export const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const

/** Output of the checkAvailability action: handoff's `Availability` as it answers it. */
export const checkAvailabilityOutput = z.object({
  available: z
    .boolean()
    .nullable()
    .title('Available')
    .describe('true: an agent can answer now; false: nobody can (away, off hours, out of office); null: handoff cannot tell'),
  agentsAvailable: z
    .number()
    .int()
    .min(0)
    .nullable()
    .title('Agents available')
    .describe('How many agents can answer now (counted for the whole HubSpot portal); null when handoff cannot tell'),
  reason: z
    .string()
    .optional()
    .title('Reason')
    .describe('Why handoff cannot tell (e.g. the HubSpot app lacks the crm.objects.users.read scope), or other detail'),
})

export default new IntegrationDefinition({
  name: INTEGRATION_NAME,
  version: INTEGRATION_VERSION,
  title: 'handoff',
  description:
    'Human handoff through handoff: escalations from the HITL plugin open a HubSpot conversation; agent replies, assignment and closing come back to the bot.',
  readme: 'README.md',
  configuration: {
    schema: z.object({
      handoffUrl: z
        .string()
        .min(1)
        .title('handoff URL')
        .describe(
          'Public base URL of your handoff server, e.g. https://handoff.example.com (https required; http only for 127.0.0.1/localhost/[::1])'
        ),
      apiKey: z.string().min(1).secret().title('API key').describe("The bot API key shown in handoff's setup wizard (Bot step)"),
    }),
  },
  entities: {
    session: {
      title: 'handoff session',
      description: 'Options for one handoff session',
      schema: z.object({
        inboxId: z
          .string()
          .optional()
          .title('Inbox ID')
          .describe('HubSpot inbox to open the conversation in; handoff uses its default inbox when empty'),
        priority: z
          .enum(PRIORITIES)
          .optional()
          .title('Priority')
          .describe('Priority of the HubSpot ticket: low, medium, high or urgent; handoff uses its default when empty'),
      }),
    },
  },
  actions: {
    checkAvailability: {
      title: 'Check agent availability',
      description:
        'Whether a HubSpot agent is there to answer now, so the flow can choose between escalating (Start HITL) and collecting an email. `available` is null when handoff cannot tell; `reason` then says why.',
      input: {
        schema: z.object({
          inboxId: z
            .string()
            .optional()
            .title('Inbox ID')
            .describe('HubSpot inbox to ask about (one handoff is connected to); handoff uses its default inbox when empty'),
        }),
      },
      output: {
        schema: checkAvailabilityOutput,
      },
    },
  },
  user: {
    tags: {
      handoffUserId: { title: 'handoff user ID', description: 'The handoff user (end user) this Botpress user stands for' },
      agentId: { title: 'handoff agent ID', description: 'The HubSpot agent this Botpress user stands for' },
    },
  },
  states: {
    webhook: {
      type: 'integration',
      schema: z.object({
        secret: z.string().describe('Standard Webhooks signing secret (whsec_...) returned by handoff at register'),
      }),
    },
    handledEvents: {
      type: 'conversation',
      schema: z.object({
        ids: z.array(z.string()).describe('webhook-id of the last events that produced a Botpress event'),
      }),
    },
  },
}).extend(hitl, (self) => ({
  entities: { hitlSession: self.entities.session },
  channels: {
    hitl: {
      title: 'handoff session',
      description: 'One conversation per handoff session (HubSpot conversation thread)',
      conversation: {
        tags: {
          sessionId: { title: 'handoff session ID', description: 'The handoff session (ses_...) of this conversation' },
          startKey: { title: 'Start key', description: 'Hash of the startHitl input, makes a retried startHitl reuse this conversation' },
        },
      },
      message: {
        tags: {
          handoffEventId: {
            title: 'handoff event item',
            description: '<webhook-id>:<index> of the handoff event item this message was created from',
          },
        },
      },
    },
  },
}))
