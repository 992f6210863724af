/**
 * A slow, obviously-correct reference of the datagram link's bytes, written
 * from docs/spec/13-datagram-link.md alone: plain number arrays, HKDF built
 * from node:crypto's HMAC-SHA256 (RFC 5869 step by step), AES-256-GCM from
 * node:crypto with the key as raw bytes, a replay window kept as a set of
 * counters. It shares no code with src/; test/vectors/generate-datagram.ts
 * takes every byte and every expected outcome of datagram.json from it.
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto'

/** Highest counter a receiver takes (spec 13 §2); a sender's last is one less (§3). */
export const REF_COUNTER_LIMIT = 2 ** 31 - 1
export const REF_TYPES = { data: 0x01, ping: 0x02, pong: 0x03 } as const
export const REF_LABEL = 'PeerTap v1 datagram path key'

export const fromHex = (s: string): number[] => [...Buffer.from(s, 'hex')]
export const toHex = (b: readonly number[] | Uint8Array): string =>
  Buffer.from(b as Uint8Array).toString('hex')
export const be = (n: number | bigint, bytes: number): number[] => {
  let v = BigInt(n)
  const out: number[] = []
  for (let i = 0; i < bytes; i++) {
    out.unshift(Number(v & 0xffn))
    v >>= 8n
  }
  return out
}
const readBe = (b: readonly number[], at: number, bytes: number): number => {
  let v = 0
  for (let i = 0; i < bytes; i++) v = v * 256 + (b[at + i] ?? 0)
  return v
}

// ---------------------------------------------------------------- keys (§3)

const hmac = (key: number[], data: number[]): number[] => [
  ...createHmac('sha256', Buffer.from(key)).update(Buffer.from(data)).digest(),
]

/** Every step of key(S -> R) = HKDF-SHA256(salt = empty, ikm = pathKey_S ‖ pathKey_R, info = label, 32). */
export function refPathKey(senderPathKey: string, receiverPathKey: string) {
  const ikm = [...fromHex(senderPathKey), ...fromHex(receiverPathKey)]
  const prk = hmac([], ikm) // HKDF-Extract with an empty salt
  const info = [...Buffer.from(REF_LABEL, 'ascii')]
  const t1 = hmac(prk, [...info, 0x01]) // HKDF-Expand: L = 32 is T(1)
  return { ikm: toHex(ikm), prk: toHex(prk), key: toHex(t1) }
}

// ---------------------------------------------------------------- offers (§4)

export interface RefOffer {
  receiverIndex: number
  pathKey: string
  port: number
  /** IPv4 dotted quads or IPv6 text (with or without "::"). */
  addresses: string[]
}

/** family (4 or 6) and bytes of an address's text. */
export function refAddress(text: string): { family: 4 | 6; bytes: number[] } {
  if (!text.includes(':')) {
    const parts = text.split('.').map((p) => Number.parseInt(p, 10))
    if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) {
      throw new Error(`bad IPv4 ${text}`)
    }
    return { family: 4, bytes: parts }
  }
  const [head = '', tail] = text.split('::')
  const groups = (s: string): number[] =>
    s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16))
  const h = groups(head)
  const t = tail === undefined ? [] : groups(tail)
  const all = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t]
  if (all.length !== 8 || all.some((g) => !(g >= 0 && g <= 0xffff)))
    throw new Error(`bad IPv6 ${text}`)
  return { family: 6, bytes: all.flatMap((g) => be(g, 2)) }
}

/** The offer's bytes, as written, with no check of the fields (so bad offers can be built too). */
export function refEncodeOffer(o: RefOffer, count = o.addresses.length): number[] {
  return [
    1,
    ...be(o.receiverIndex, 4),
    ...fromHex(o.pathKey),
    ...be(o.port, 2),
    count,
    ...o.addresses.flatMap((a) => {
      const { family, bytes } = refAddress(a)
      return [family, ...bytes]
    }),
  ]
}

/** Decodes an offer by the rules of spec 13 §4, or says it is a bad one. */
export function refDecodeOffer(b: readonly number[]): RefOffer | 'badOffers' {
  if (b.length < 1 + 4 + 32 + 2 + 1) return 'badOffers'
  if (b[0] !== 1) return 'badOffers'
  const receiverIndex = readBe(b, 1, 4)
  const pathKey = toHex(b.slice(5, 37))
  const port = readBe(b, 37, 2)
  const count = b[39] ?? 0
  if (receiverIndex === 0 || port === 0 || count > 8) return 'badOffers'
  const addresses: string[] = []
  let at = 40
  for (let i = 0; i < count; i++) {
    const family = b[at]
    const n = family === 4 ? 4 : family === 6 ? 16 : -1
    if (n < 0 || at + 1 + n > b.length) return 'badOffers'
    const a = b.slice(at + 1, at + 1 + n)
    addresses.push(
      n === 4
        ? a.join('.')
        : Array.from({ length: 8 }, (_, g) => readBe(a, 2 * g, 2).toString(16)).join(':'),
    )
    at += 1 + n
  }
  if (at !== b.length) return 'badOffers'
  return { receiverIndex, pathKey, port, addresses }
}

// ---------------------------------------------------------------- datagrams (§2, §3)

export interface RefSealInput {
  /** The direction's key, hex. */
  key: string
  type: number
  receiverIndex: number
  counter: number
  /** DATA: hop ‖ VFT; PING: nonce ‖ padding; PONG: nonce ‖ size. */
  plaintext: number[]
  /** DATA only: the sealed payload, in clear after the tag and in the AAD. */
  sealed?: number[]
  /** Deliberate mistakes, for invalid vectors. */
  mistake?: 'aad-header-only' | 'nonce-counter-first'
}

/** Seals one datagram; every intermediate value, hex. */
export function refSeal(s: RefSealInput) {
  const header = [s.type, ...be(s.receiverIndex, 4), ...be(s.counter, 4)]
  const gcmNonce =
    s.mistake === 'nonce-counter-first'
      ? [...be(s.counter, 4), ...new Array(8).fill(0)]
      : [...new Array(8).fill(0), ...be(s.counter, 4)]
  const sealed = s.sealed ?? []
  const aad = s.mistake === 'aad-header-only' ? header : [...header, ...sealed]
  const c = createCipheriv('aes-256-gcm', Buffer.from(fromHex(s.key)), Buffer.from(gcmNonce))
  c.setAAD(Buffer.from(aad))
  const ciphertext = [...c.update(Buffer.from(s.plaintext)), ...c.final()]
  const tag = [...c.getAuthTag()]
  return {
    key: s.key,
    gcmNonce: toHex(gcmNonce),
    header: toHex(header),
    aad: toHex(aad),
    plaintext: toHex(s.plaintext),
    ciphertext: toHex(ciphertext),
    tag: toHex(tag),
    hex: toHex([...header, ...ciphertext, ...tag, ...sealed]),
  }
}

/** A replay window as spec 04 §6 states it: the newest accepted counter and the set of accepted ones. */
export class RefWindow {
  last = -1
  readonly seen = new Set<number>()
  check(counter: number): 'replay' | 'too-old' | undefined {
    if (counter > this.last) return undefined
    if (this.last - counter >= 2048) return 'too-old'
    return this.seen.has(counter) ? 'replay' : undefined
  }
  accept(counter: number): void {
    this.seen.add(counter)
    if (counter > this.last) this.last = counter
  }
}

export type RefOpened =
  | { type: 'data'; counter: number; hopLimit: number; vft: string; sealed: string }
  | { type: 'ping'; counter: number; nonce: string; size: number }
  | { type: 'pong'; counter: number; nonce: string; size: number }

export type RefDrop = 'unknown-index' | 'malformed' | 'unknown-type' | 'replay' | 'too-old' | 'auth'

/**
 * Receives one datagram at a node whose only link holds `index` and
 * receives under `key` with `window`, in the order of checks of spec 13
 * §2.3; the window takes the counter only if the datagram opened.
 */
export function refReceive(
  d: readonly number[],
  index: number,
  key: string,
  window: RefWindow,
): RefOpened | RefDrop {
  if (d.length < 9 || readBe(d, 1, 4) !== index) return 'unknown-index'
  if (d.length < 9 + 16) return 'malformed'
  const counter = readBe(d, 5, 4)
  if (counter > REF_COUNTER_LIMIT) return 'malformed'
  const type = d[0]
  if (type !== REF_TYPES.data && type !== REF_TYPES.ping && type !== REF_TYPES.pong) {
    return 'unknown-type'
  }
  if (type === REF_TYPES.data && d.length < 9 + 17 + 16 + 27) return 'malformed'
  if (type === REF_TYPES.ping && d.length < 9 + 8 + 16) return 'malformed'
  if (type === REF_TYPES.pong && d.length !== 9 + 10 + 16) return 'malformed'
  const seen = window.check(counter)
  if (seen !== undefined) return seen
  const header = d.slice(0, 9)
  const ctEnd = type === REF_TYPES.data ? 9 + 17 : d.length - 16
  const sealed = type === REF_TYPES.data ? d.slice(9 + 17 + 16) : []
  const decipher = createDecipheriv(
    'aes-256-gcm',
    Buffer.from(fromHex(key)),
    Buffer.from([...new Array(8).fill(0), ...be(counter, 4)]),
  )
  decipher.setAAD(Buffer.from([...header, ...sealed]))
  decipher.setAuthTag(Buffer.from(d.slice(ctEnd, ctEnd + 16)))
  let plain: number[]
  try {
    plain = [...decipher.update(Buffer.from(d.slice(9, ctEnd))), ...decipher.final()]
  } catch {
    return 'auth'
  }
  window.accept(counter)
  const nonce = BigInt(`0x${toHex(plain.slice(0, 8))}`).toString()
  if (type === REF_TYPES.data) {
    return {
      type: 'data',
      counter,
      hopLimit: plain[0] ?? 0,
      vft: toHex(plain.slice(1, 17)),
      sealed: toHex(sealed),
    }
  }
  if (type === REF_TYPES.ping) return { type: 'ping', counter, nonce, size: d.length }
  return { type: 'pong', counter, nonce, size: readBe(plain, 8, 2) }
}
