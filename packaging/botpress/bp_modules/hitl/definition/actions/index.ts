/* eslint-disable */
/* tslint:disable */
// This file is generated. Do not edit it manually.
// Vendored by hand for hitl@2.1.0 (the layout `bp add interface:hitl@2.1.0` writes); refresh with a Botpress CLI.
import * as createUser from './createUser/index'
export * as createUser from './createUser/index'
import * as startHitl from './startHitl/index'
export * as startHitl from './startHitl/index'
import * as stopHitl from './stopHitl/index'
export * as stopHitl from './stopHitl/index'

export const actions = {
  createUser: createUser.createUser,
  startHitl: startHitl.startHitl,
  stopHitl: stopHitl.stopHitl,
}
