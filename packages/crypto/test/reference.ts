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

/** Rules 1 to 4 of 04-sealed-payload.md §5: the header in the clear, or the drop code. */
export function refUnprotect(
  hpKey: Uint8Array,
  sealed: Uint8Array,
): { ok: true; header: Buffer; kid: bigint; counter: bigint } | { ok: false; reason: string } {
  const s = Buffer.from(sealed)
  if (s.length < 1 + 8 + 1 + 1 + 16) return { ok: false, reason: 'short' }
  const mask = refMask(hpKey, s.subarray(s.length - 16))
  const config = s[0]! ^ mask[0]!
  if (config < 0xf8 || config > 0xfe) return { ok: false, reason: 'bad-config' }
  const ctrLen = (config & 7) + 1
  const h = 9 + ctrLen
  if (s.length < h + 1 + 16) return { ok: false, reason: 'short' }
  const header = Buffer.from(s.subarray(0, h).map((b, i) => b ^ mask[i]!))
  if (ctrLen > 1 && header[9] === 0) return { ok: false, reason: 'non-minimal-ctr' }
  const kid = header.readBigUInt64BE(1)
  const counter = BigInt(`0x${header.subarray(9).toString('hex')}`)
  return { ok: true, header, kid, counter }
}

/** Rule 8: AES-256-GCM under the key of `kid`; the plaintext, or undefined. */
function refDecrypt(
  frameBase: Uint8Array,
  kid: bigint,
  counter: bigint,
  header: Buffer,
  vft: Uint8Array,
  sealed: Uint8Array,
): Buffer | undefined {
  const s = Buffer.from(sealed)
  const { key, salt } = refSenderKey(frameBase, kid)
  const d = createDecipheriv('aes-256-gcm', key, refNonce(salt, counter))
  d.setAAD(Buffer.concat([vft, header]))
  d.setAuthTag(s.subarray(s.length - 16))
  const pt = d.update(s.subarray(header.length, s.length - 16))
  try {
    d.final()
  } catch {
    return undefined
  }
  return pt
}

/** Opens under the KID the header names: rules 1-4 and 8 of 04-sealed-payload.md §5. */
export function refOpen(
  frameBase: Uint8Array,
  hpKey: Uint8Array,
  vft: Uint8Array,
  sealed: Uint8Array,
): RefOpen {
  const u = refUnprotect(hpKey, sealed)
  if (!u.ok) return u
  const pt = refDecrypt(frameBase, u.kid, u.counter, u.header, vft, sealed)
  if (pt === undefined) return { ok: false, reason: 'auth' }
  return { ok: true, kid: u.kid, counter: u.counter, plaintext: pt }
}

/**
 * The stateless layer of 04-sealed-payload.md §5 (openPayload): rules 1 to 4,
 * then a header naming another KID than `keyKid` drops as unknown-sender,
 * then rule 8. No counter limit, no replay window, no cache.
 */
export function refOpenWithKey(
  frameBase: Uint8Array,
  hpKey: Uint8Array,
  keyKid: bigint,
  vft: Uint8Array,
  sealed: Uint8Array,
): RefOpen {
  const u = refUnprotect(hpKey, sealed)
  if (!u.ok) return u
  if (u.kid !== keyKid) return { ok: false, reason: 'unknown-sender' }
  const pt = refDecrypt(frameBase, keyKid, u.counter, u.header, vft, sealed)
  if (pt === undefined) return { ok: false, reason: 'auth' }
  return { ok: true, kid: u.kid, counter: u.counter, plaintext: pt }
}

/** How a reference receiver is set up (04-sealed-payload.md §5, §7). */
export interface RefReceiverConfig {
  kind: 'psk' | 'mls'
  /** MLS: the key set's epoch; KIDs must carry it mod 256. */
  epoch?: number
  /** MLS: the leaf indices in the group; absent: the caller cannot tell (rule 6b skipped). */
  leaves?: number[]
  maxKids: number
  oldestHeldWindow: number
}

interface RefEntry {
  /** The newest accepted counter (§6); every accepted counter is kept, the window is computed. */
  last: bigint
  seen: Set<bigint>
  lastWindow: number
}

/**
 * The stateful receiver of 04-sealed-payload.md §5 to §7, one rule per line of
 * the §5 table, with a Map of KIDs and a Set of every counter accepted (no
 * ring, no bit tricks). Throws if an eviction would have to choose between
 * entries with the same lastWindow: the spec leaves that choice open, so the
 * vectors never depend on it.
 */
export class RefReceiver {
  readonly cache = new Map<bigint, RefEntry>()
  readonly frameBase: Uint8Array
  readonly hpKey: Uint8Array
  readonly config: RefReceiverConfig
  oldestHeldWindow: number

  constructor(frameBase: Uint8Array, hpKey: Uint8Array, config: RefReceiverConfig) {
    this.frameBase = frameBase
    this.hpKey = hpKey
    this.config = config
    this.oldestHeldWindow = config.oldestHeldWindow
  }

  /** The evictable entry with the oldest lastWindow (§7), or undefined. */
  #victim(): bigint | undefined {
    let best: [bigint, RefEntry] | undefined
    let tie = false
    for (const [kid, e] of this.cache) {
      if (e.lastWindow >= this.oldestHeldWindow) continue
      if (best === undefined || e.lastWindow < best[1].lastWindow) {
        best = [kid, e]
        tie = false
      } else if (e.lastWindow === best[1].lastWindow) tie = true
    }
    if (tie) throw new Error('eviction tie: the spec leaves the victim open')
    return best?.[0]
  }

  open(sealed: Uint8Array, vft: Uint8Array, window: number): RefOpen {
    if (window < this.oldestHeldWindow) throw new Error('a frame under a VFT no longer held')
    const u = refUnprotect(this.hpKey, sealed) // rules 1-4
    if (!u.ok) return u
    if (u.counter >= 1n << 23n) return { ok: false, reason: 'ctr-limit' } // rule 5
    const entry = this.cache.get(u.kid)
    let victim: bigint | undefined
    if (entry === undefined) {
      if (this.config.kind === 'mls') {
        const epochByte = Number((u.kid >> 32n) & 0xffn)
        if (epochByte !== this.config.epoch! % 256) return { ok: false, reason: 'unknown-epoch' } // 6a
        const leaf = Number(u.kid >> 40n)
        if (this.config.leaves !== undefined && !this.config.leaves.includes(leaf)) {
          return { ok: false, reason: 'unknown-sender' } // 6b
        }
      }
      if (this.cache.size >= this.config.maxKids) {
        victim = this.#victim()
        if (victim === undefined) return { ok: false, reason: 'kid-cache-full' } // 6c
      }
    } else {
      // rule 7, the window of §6
      if (u.counter <= entry.last) {
        if (entry.last - u.counter >= 2048n) return { ok: false, reason: 'too-old' }
        if (entry.seen.has(u.counter)) return { ok: false, reason: 'replay' }
      }
    }
    const pt = refDecrypt(this.frameBase, u.kid, u.counter, u.header, vft, sealed) // rule 8
    if (pt === undefined) return { ok: false, reason: 'auth' }
    // rule 9
    if (entry === undefined) {
      if (victim !== undefined) this.cache.delete(victim)
      this.cache.set(u.kid, { last: u.counter, seen: new Set([u.counter]), lastWindow: window })
    } else {
      entry.seen.add(u.counter)
      if (u.counter > entry.last) entry.last = u.counter
      if (window > entry.lastWindow) entry.lastWindow = window
    }
    return { ok: true, kid: u.kid, counter: u.counter, plaintext: pt }
  }
}
