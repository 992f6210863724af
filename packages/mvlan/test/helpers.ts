// Shared by the tests: hex, the vectors, identities, and a slow reference
// encoder of presence records that writes any field values, in range or
// not, so that each malformed case can be built and signed (tests only).
import { createPrivateKey, createPublicKey, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'

export const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'))
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

export function vectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`vectors/${name}`, import.meta.url), 'utf8')) as T
}

const PKCS8 = hex('302e020100300506032b657004220420')

export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8, seed]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  return new Uint8Array(spki.subarray(spki.length - 32))
}

export function ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8, seed]), format: 'der', type: 'pkcs8' })
  return new Uint8Array(sign(null, message, key))
}

export interface Identity {
  readonly seed: Uint8Array
  readonly peerId: Uint8Array
}

/** A distinct Ed25519 identity per number. */
export function identity(n: number): Identity {
  const seed = new Uint8Array(32).fill(0x5a)
  new DataView(seed.buffer).setUint32(0, n)
  return {
    seed,
    peerId: Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...ed25519PublicKey(seed)]),
  }
}

export interface RawRecord {
  version?: number
  role?: number
  peerId: Uint8Array
  seq?: bigint
  issuedAt?: number
  expiresAt?: number
  /** Raw address bytes, written with their one-byte length. */
  addresses?: Uint8Array[]
  /** Overrides the address count byte. */
  addressCount?: number
  vlans?: { vlanId: Uint8Array; name?: Uint8Array }[]
  vlanCount?: number
  load?: number
}

const enc = new TextEncoder()
export const utf8 = (s: string): Uint8Array => enc.encode(s)

/** The record's bytes before the signature, written field by field (16-fabric.md §16.3). */
export function rawBody(r: RawRecord): Uint8Array {
  const out: number[] = []
  const u = (n: number, bytes: number) => {
    for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(n / 256 ** i) % 256)
  }
  out.push(r.version ?? 1, r.role ?? 0, r.peerId.length, ...r.peerId)
  const seq = r.seq ?? 1n
  for (let i = 7; i >= 0; i--) out.push(Number((seq >> BigInt(8 * i)) & 0xffn))
  u(r.issuedAt ?? 1_800_000_000, 4)
  u(r.expiresAt ?? 1_800_000_900, 4)
  const addresses = r.addresses ?? []
  out.push(r.addressCount ?? addresses.length)
  for (const a of addresses) out.push(a.length, ...a)
  const vlans = r.vlans ?? []
  out.push(r.vlanCount ?? vlans.length)
  for (const v of vlans) out.push(...v.vlanId, v.name?.length ?? 0, ...(v.name ?? []))
  u(r.load ?? 0, 2)
  return Uint8Array.from(out)
}

/** A raw record signed with `seed` over "PeerTap v1 presence" ‖ body. */
export function rawRecord(seed: Uint8Array, r: RawRecord): Uint8Array {
  const body = rawBody(r)
  const signature = ed25519Sign(seed, Uint8Array.from([...utf8('PeerTap v1 presence'), ...body]))
  return Uint8Array.from([...body, ...signature])
}

export function flip(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = bytes.slice()
  out[index]! ^= 1 << bit
  return out
}
