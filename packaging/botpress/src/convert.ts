// Botpress message payloads and history -> handoff's six message types.
import { createHash, randomUUID } from 'node:crypto'
import type { HandoffContent, HandoffHistoryItem } from './handoff'

export const MAX_HISTORY = 500

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)

function text(t: unknown): HandoffContent[] {
  return typeof t === 'string' && t.trim() !== '' ? [{ type: 'text', payload: { text: t } }] : []
}

type Card = { title?: unknown; subtitle?: unknown; imageUrl?: unknown; actions?: unknown }

/** card -> "title\nsubtitle\nimageUrl\n[label] value..." */
export function renderCard(card: Card): string {
  const lines: string[] = []
  const title = str(card.title)
  const subtitle = str(card.subtitle)
  const image = str(card.imageUrl)
  if (title) lines.push(title)
  if (subtitle) lines.push(subtitle)
  if (image) lines.push(image)
  if (Array.isArray(card.actions)) {
    for (const a of card.actions) {
      if (!isObj(a)) continue
      const label = str(a.label) ?? ''
      const value = str(a.value) ?? ''
      lines.push(`[${label}] ${value}`.trim())
    }
  }
  return lines.join('\n')
}

/** choice / dropdown -> "text\n- label..." */
export function renderChoice(payload: Obj): string {
  const lines: string[] = []
  const t = str(payload.text)
  if (t) lines.push(t)
  if (Array.isArray(payload.options)) {
    for (const o of payload.options) {
      if (!isObj(o)) continue
      const label = str(o.label) ?? str(o.value)
      if (label) lines.push(`- ${label}`)
    }
  }
  return lines.join('\n')
}

/**
 * One Botpress message (any standard type, markdown and the markdown bloc included)
 * -> zero or more handoff messages. Unknown types become nothing.
 */
export function toHandoffContents(type: string, payload: unknown): HandoffContent[] {
  if (!isObj(payload)) return []
  switch (type) {
    case 'text':
      return text(payload.text)
    case 'markdown':
      return text(payload.markdown)
    case 'image': {
      const imageUrl = str(payload.imageUrl)
      return imageUrl ? [{ type: 'image', payload: { imageUrl } }] : []
    }
    case 'audio': {
      const audioUrl = str(payload.audioUrl)
      return audioUrl ? [{ type: 'audio', payload: { audioUrl } }] : []
    }
    case 'video': {
      const videoUrl = str(payload.videoUrl)
      return videoUrl ? [{ type: 'video', payload: { videoUrl } }] : []
    }
    case 'file': {
      const fileUrl = str(payload.fileUrl)
      if (!fileUrl) return []
      const title = str(payload.title)
      return [{ type: 'file', payload: title ? { fileUrl, title } : { fileUrl } }]
    }
    case 'location': {
      const latitude = num(payload.latitude)
      const longitude = num(payload.longitude)
      if (latitude === undefined || longitude === undefined) return []
      const out: { latitude: number; longitude: number; address?: string; title?: string } = { latitude, longitude }
      const address = str(payload.address)
      const title = str(payload.title)
      if (address) out.address = address
      if (title) out.title = title
      return [{ type: 'location', payload: out }]
    }
    case 'card':
      return text(renderCard(payload))
    case 'carousel': {
      const items = Array.isArray(payload.items) ? payload.items : []
      return text(
        items
          .filter(isObj)
          .map((c) => renderCard(c))
          .filter((s) => s !== '')
          .join('\n\n')
      )
    }
    case 'choice':
    case 'dropdown':
      return text(renderChoice(payload))
    case 'bloc': {
      const items = Array.isArray(payload.items) ? payload.items : []
      return items.flatMap((item) => (isObj(item) && typeof item.type === 'string' ? toHandoffContents(item.type, item.payload) : []))
    }
    default:
      return []
  }
}

type HistoryIn = { source: { type: string }; type: string; payload: unknown }

/** messageHistory -> handoff history (newest MAX_HISTORY items kept). */
export function historyToHandoff(history: readonly HistoryIn[] | undefined): HandoffHistoryItem[] {
  const out: HandoffHistoryItem[] = []
  for (const item of history ?? []) {
    if (!isObj(item)) continue
    const source: HandoffHistoryItem['source'] = item.source?.type === 'user' ? { type: 'user' } : { type: 'bot' }
    for (const content of toHandoffContents(item.type, item.payload)) {
      out.push({ source, ...content } as HandoffHistoryItem)
    }
  }
  return out.length > MAX_HISTORY ? out.slice(out.length - MAX_HISTORY) : out
}

/** An attachment of a handoff agent message -> the Botpress message to create. */
export function attachmentToMessage(att: { url: string; name?: string; mimeType?: string }):
  | { type: 'image'; payload: { imageUrl: string } }
  | { type: 'audio'; payload: { audioUrl: string } }
  | { type: 'video'; payload: { videoUrl: string } }
  | { type: 'file'; payload: { fileUrl: string; title?: string } } {
  const mime = (att.mimeType ?? '').toLowerCase()
  if (mime.startsWith('image/')) return { type: 'image', payload: { imageUrl: att.url } }
  if (mime.startsWith('audio/')) return { type: 'audio', payload: { audioUrl: att.url } }
  if (mime.startsWith('video/')) return { type: 'video', payload: { videoUrl: att.url } }
  const title = att.name && att.name !== '' ? att.name : undefined
  return { type: 'file', payload: title ? { fileUrl: att.url, title } : { fileUrl: att.url } }
}

const MADE_UP_EMAIL = [
  /@no-reply\.[^@]*\.botpress\.com$/i, // the HITL plugin's <userId>@no-reply.<bot-id>.botpress.com
  /@([^@]*\.)?botpress\.invalid$/i,
  /^anonymous@noemail\.com$/i,
]

/** True for the placeholder addresses Botpress invents when it knows no real email. */
export function isMadeUpEmail(email: string): boolean {
  const e = email.trim()
  return MADE_UP_EMAIL.some((re) => re.test(e))
}

/** The identity to give handoff for createUser: a real email, or an externalId. */
export function userIdentity(email: string | undefined): { email: string } | { externalId: string } {
  const e = email?.trim()
  if (e && e.includes('@') && !isMadeUpEmail(e)) return { email: e }
  if (e && isMadeUpEmail(e)) return { externalId: e.toLowerCase().slice(0, 200) }
  return { externalId: `bp_${randomUUID()}` }
}

/** Deterministic key of a startHitl input, so a retried startHitl finds the same conversation. */
export function startKey(input: {
  userId: string
  title?: string
  description?: string
  messageHistory?: unknown
  hitlSession?: unknown
}): string {
  const json = JSON.stringify([
    input.userId,
    input.title ?? null,
    input.description ?? null,
    input.messageHistory ?? [],
    input.hitlSession ?? null,
  ])
  return createHash('sha256').update(json, 'utf8').digest('hex')
}
