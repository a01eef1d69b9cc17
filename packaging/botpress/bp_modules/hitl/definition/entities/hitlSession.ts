/* eslint-disable */
/* tslint:disable */
// This file is generated. Do not edit it manually.
// Vendored by hand for hitl@2.1.0 (the layout `bp add interface:hitl@2.1.0` writes); refresh with a Botpress CLI.

import { z } from '@botpress/sdk'
export const hitlSession = {
  schema: z.object({}).catchall(z.never()),
}
