/* eslint-disable */
/* tslint:disable */
// This file is generated. Do not edit it manually.
// Vendored by hand for hitl@2.1.0 (the layout `bp add interface:hitl@2.1.0` writes); refresh with a Botpress CLI.
import * as hitlAssigned from './hitlAssigned'
export * as hitlAssigned from './hitlAssigned'
import * as hitlStopped from './hitlStopped'
export * as hitlStopped from './hitlStopped'

export const events = {
  hitlAssigned: hitlAssigned.hitlAssigned,
  hitlStopped: hitlStopped.hitlStopped,
}
