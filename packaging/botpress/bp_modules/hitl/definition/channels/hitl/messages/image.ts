/* eslint-disable */
/* tslint:disable */
// This file is generated. Do not edit it manually.
// Vendored by hand for hitl@2.1.0 (the layout `bp add interface:hitl@2.1.0` writes); refresh with a Botpress CLI.

import { z } from '@botpress/sdk'
export const image = {
  schema: z
    .object({
      imageUrl: z.string().min(1, undefined),
      title: z.optional(z.string().min(1, undefined)),
      userId: z
          .optional(z.string().describe('Allows sending a message pretending to be a certain user'))
          .describe('Allows sending a message pretending to be a certain user'),
      additionalData: z
          .optional(
            z
              .string()
              .max(500, undefined)
              .describe('Additional data attached to the message (at most 500 characters, the maximum message tag size of the Runtime API)'),
          )
          .describe('Additional data attached to the message (at most 500 characters, the maximum message tag size of the Runtime API)'),
    })
    .catchall(z.never()),
}
