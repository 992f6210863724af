// Small byte helpers shared by the modules: hex, strict UTF-8, concatenation,
// BLAKE3 derive_key with any output length (docs/spec/README.md, BLAKE3).
import { blake3 } from '@noble/hashes/blake3.js'
import { MvlanError } from './errors.ts'

const encoder = new TextEncoder()
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export const utf8 = (text: string): Uint8Array => encoder.encode(text)

/** Strict UTF-8 (RFC 3629), or undefined; a BOM stays a character. */
export function fromUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes)
  } catch {
    return undefined
  }
}

export function toHex(bytes: Uint8Array): string {
  let out = ''
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0')
  return out
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** Public data (PeerIds, VLAN-IDs), so an early-exit comparison is fine. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** BLAKE3 derive_key(context, material), `length` bytes of its extendable output. */
export function deriveBytes(context: string, material: Uint8Array, length: number): Uint8Array {
  return blake3(material, { context: utf8(context), dkLen: length })
}

export function isBytes(value: unknown, length?: number): value is Uint8Array {
  return value instanceof Uint8Array && (length === undefined || value.length === length)
}

/** True for a JavaScript number that is an integer in [min, max]. */
export function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max
}

/** Throws `invalid-argument` unless `now` is a non-negative safe integer of unix seconds. */
export function checkNow(now: number): void {
  if (!isIntegerIn(now, 0, Number.MAX_SAFE_INTEGER)) {
    throw new MvlanError(
      'invalid-argument',
      'now must be a non-negative safe integer of unix seconds',
    )
  }
}
