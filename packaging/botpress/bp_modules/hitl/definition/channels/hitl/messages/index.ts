/* eslint-disable */
/* tslint:disable */
// This file is generated. Do not edit it manually.
// Vendored by hand for hitl@2.1.0 (the layout `bp add interface:hitl@2.1.0` writes); refresh with a Botpress CLI.
import * as text from './text'
export * as text from './text'
import * as image from './image'
export * as image from './image'
import * as audio from './audio'
export * as audio from './audio'
import * as video from './video'
export * as video from './video'
import * as file from './file'
export * as file from './file'
import * as bloc from './bloc'
export * as bloc from './bloc'

export const messages = {
  text: text.text,
  image: image.image,
  audio: audio.audio,
  video: video.video,
  file: file.file,
  bloc: bloc.bloc,
}
