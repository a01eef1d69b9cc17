/* eslint-disable */
/* tslint:disable */
// This file is generated. Do not edit it manually.
// Vendored by hand for hitl@2.1.0 (the layout `bp add interface:hitl@2.1.0` writes); refresh with a Botpress CLI.
import * as input from './input'
export * as input from './input'
import * as output from './output'
export * as output from './output'

export const startHitl = {
  input: input.input,
  output: output.output,
  billable: false,
  cacheable: false,
  attributes: { bpActionHiddenInStudio: 'true' },
}
