/**
 * A slow, obviously-correct reference of docs/spec/03-keys.md and
 * 04-sealed-payload.md, written straight from the spec with no caching, no
 * scratch buffers and no code shared with src/: HKDF-Expand from node:crypto
 * HMAC (RFC 5869 §2.3), AES from node:crypto with raw key buffers, integers
 * as bigint. BLAKE3 is @noble/hashes (the vectors cross-check it with b3sum).
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto'
import { blake3 } from '@noble/hashes/blake3.js'

const ascii = (s: string) => Buffer.from(s, 'ascii')

export function refDeriveKey(context: string, material: Uint8Array): Buffer {
  return Buffer.from(blake3(material, { context: Buffer.from(context, 'utf8'), dkLen: 32 }))
}

export function refPsk(secret: Uint8Array) {
  return {
    frameBase: refDeriveKey('PeerTap v1 PSK frame', secret),
    vftKey: refDeriveKey('PeerTap v1 PSK vft', secret),
    hpKey: refDeriveKey('PeerTap v1 PSK header', secret),
    authSeed: refDeriveKey('PeerTap v1 PSK relay-auth', secret),
  }
}

/** RFC 5869 §2.3 HKDF-Expand with SHA-256. */
export function refExpand(prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  let t = Buffer.alloc(0)
  let okm = Buffer.alloc(0)
  for (let i = 1; okm.length < length; i++) {
    t = createHmac('sha256', prk)
      .update(Buffer.concat([t, info, Buffer.from([i])]))
      .digest()
    okm = Buffer.concat([okm, t])
  }
  return okm.subarray(0, length)
}

export function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(v)
  return b
}

export function refSenderKey(frameBase: Uint8Array, kid: bigint) {
  const secret = refExpand(frameBase, Buffer.concat([ascii('PeerTap v1 sender'), u64(kid)]), 32)
  return {
    secret,
    key: refExpand(secret, ascii('PeerTap v1 key'), 32),
    salt: refExpand(secret, ascii('PeerTap v1 salt'), 12),
  }
}

/** Minimal big-endian bytes of a counter; 0 is one zero byte. */
export function refCtr(counter: bigint): Buffer {
  let hex = counter.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  return Buffer.from(hex, 'hex')
}

export function refNonce(salt: Uint8Array, counter: bigint): Buffer {
  const c = Buffer.alloc(12)
  c.writeBigUInt64BE(counter, 4) // 5 zero bytes ‖ 7-byte counter (counter < 2^56)
  return Buffer.from(c.map((b, i) => b ^ salt[i]!))
}

export function refMask(hpKey: Uint8Array, sample: Uint8Array): Buffer {
  const ecb = createCipheriv('aes-256-ecb', hpKey, null)
  ecb.setAutoPadding(false)
  return Buffer.concat([ecb.update(sample), ecb.final()])
}

export function refHeader(kid: bigint, counter: bigint): Buffer {
  const ctr = refCtr(counter)
  return Buffer.concat([Buffer.from([0xf8 | (ctr.length - 1)]), u64(kid), ctr])
}

/** seal = protect(header) ‖ ciphertext ‖ tag, from the clear header. */
export function refSealHeader(
  frameBase: Uint8Array,
  hpKey: Uint8Array,
  kid: bigint,
  header: Buffer,
  counter: bigint,
  vft: Uint8Array,
  plaintext: Uint8Array,
): Buffer {
  const { key, salt } = refSenderKey(frameBase, kid)
  const gcm = createCipheriv('aes-256-gcm', key, refNonce(salt, counter))
  gcm.setAAD(Buffer.concat([vft, header]))
  const ct = Buffer.concat([gcm.update(plaintext), gcm.final()])
  const tag = gcm.getAuthTag()
  const mask = refMask(hpKey, tag)
  const protectedHeader = Buffer.from(header.map((b, i) => b ^ mask[i]!))
  return Buffer.concat([protectedHeader, ct, tag])
}

export function refSeal(
  frameBase: Uint8Array,
  hpKey: Uint8Array,
  kid: bigint,
  counter: bigint,
  vft: Uint8Array,
  plaintext: Uint8Array,
): Buffer {
  return refSealHeader(frameBase, hpKey, kid, refHeader(kid, counter), counter, vft, plaintext)
}

export type RefOpen =
  | { ok: true; kid: bigint; counter: bigint; plaintext: Buffer }
  | { ok: false; reason: string }

/** Opens under the KID the header names: rules 1-4 and 8 of 04-sealed-payload.md §5. */
export function refOpen(
  frameBase: Uint8Array,
  hpKey: Uint8Array,
  vft: Uint8Array,
  sealed: Uint8Array,
): RefOpen {
  const s = Buffer.from(sealed)
  if (s.length < 1 + 8 + 1 + 1 + 16) return { ok: false, reason: 'short' }
  const tag = s.subarray(s.length - 16)
  const mask = refMask(hpKey, tag)
  const config = s[0]! ^ mask[0]!
  if (config < 0xf8 || config > 0xfe) return { ok: false, reason: 'bad-config' }
  const ctrLen = (config & 7) + 1
  const h = 9 + ctrLen
  if (s.length < h + 1 + 16) return { ok: false, reason: 'short' }
  const header = Buffer.from(s.subarray(0, h).map((b, i) => b ^ mask[i]!))
  if (ctrLen > 1 && header[9] === 0) return { ok: false, reason: 'non-minimal-ctr' }
  const kid = header.readBigUInt64BE(1)
  const counter = BigInt(`0x${header.subarray(9).toString('hex')}`)
  const { key, salt } = refSenderKey(frameBase, kid)
  const d = createDecipheriv('aes-256-gcm', key, refNonce(salt, counter))
  d.setAAD(Buffer.concat([vft, header]))
  d.setAuthTag(tag)
  const pt = d.update(s.subarray(h, s.length - 16))
  try {
    d.final()
  } catch {
    return { ok: false, reason: 'auth' }
  }
  return { ok: true, kid, counter, plaintext: pt }
}
