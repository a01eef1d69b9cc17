/* eslint-disable */
/* tslint:disable */
// This file is generated. Do not edit it manually.
// Vendored by hand for hitl@2.1.0 (the layout `bp add interface:hitl@2.1.0` writes); refresh with a Botpress CLI.

import * as sdk from '@botpress/sdk'

import definition from './definition'

export default {
  type: 'interface',
  // The real 2.1.0 interface version id (ifver_...) cannot be fetched offline; left undefined,
  // `bp deploy` resolves the interface by name and version.
  id: undefined,
  uri: undefined,
  name: 'hitl',
  version: '2.1.0',
  definition,
} satisfies sdk.InterfacePackage
