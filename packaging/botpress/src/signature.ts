// Standard Webhooks (https://www.standardwebhooks.com/) verification with node:crypto.
import { createHmac, timingSafeEqual } from 'node:crypto'

export const TOLERANCE_SECONDS = 5 * 60

export type VerifyResult = { ok: true; id: string; timestamp: number } | { ok: false; reason: string }

/** Decodes a `whsec_<base64>` secret to the HMAC key. */
export function secretKey(secret: string): Buffer {
  const b64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret
  return Buffer.from(b64, 'base64')
}

/** `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` */
export function sign(secret: string, id: string, timestamp: number | string, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64')
  return `v1,${mac}`
}

function header(headers: Record<string, string | undefined>, name: string): string | undefined {
  const direct = headers[name]
  if (direct !== undefined) return direct
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === name) return v
  }
  return undefined
}

/**
 * Verifies the webhook-id / webhook-timestamp / webhook-signature headers over `body` exactly as received.
 * The timestamp must be within TOLERANCE_SECONDS of `nowSeconds`, either way.
 */
export function verify(
  secret: string,
  headers: Record<string, string | undefined>,
  body: string,
  nowSeconds: number = Math.floor(Date.now() / 1000)
): VerifyResult {
  const id = header(headers, 'webhook-id')
  const ts = header(headers, 'webhook-timestamp')
  const sigs = header(headers, 'webhook-signature')
  if (!id || !ts || !sigs) {
    return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature header' }
  }
  if (!/^\d{1,12}$/.test(ts.trim())) {
    return { ok: false, reason: 'webhook-timestamp is not a unix time in seconds' }
  }
  const timestamp = Number(ts.trim())
  if (Math.abs(nowSeconds - timestamp) > TOLERANCE_SECONDS) {
    return { ok: false, reason: 'webhook-timestamp is outside the 5-minute tolerance' }
  }
  const key = secretKey(secret)
  if (key.length === 0) {
    return { ok: false, reason: 'empty signing secret' }
  }
  const expected = createHmac('sha256', key).update(`${id}.${ts.trim()}.${body}`, 'utf8').digest()
  for (const entry of sigs.split(' ')) {
    const comma = entry.indexOf(',')
    if (comma < 0) continue
    const version = entry.slice(0, comma)
    if (version !== 'v1') continue
    let given: Buffer
    try {
      given = Buffer.from(entry.slice(comma + 1), 'base64')
    } catch {
      continue
    }
    if (given.length === expected.length && timingSafeEqual(given, expected)) {
      return { ok: true, id, timestamp }
    }
  }
  return { ok: false, reason: 'no matching v1 signature' }
}
