/* eslint-disable */
/* tslint:disable */
// This file is generated. Do not edit it manually.
// Vendored by hand for hitl@2.1.0 (the layout `bp add interface:hitl@2.1.0` writes); refresh with a Botpress CLI.
import { messages } from './messages/index'
export * from './messages/index'

export const hitl = {
  messages: messages,
}
