/**
 * Key IDs (docs/spec/03-keys.md §4). A KID is a u64, 8 bytes big-endian in
 * the header. MLS VLANs: leafIndex u24 ‖ epoch & 0xff u8 ‖ generation u32.
 * PSK VLANs and the MVLAN: 64 random bits.
 */
import { KID_LENGTH, MAX_LEAF_INDEX } from './constants.ts'
import { InvalidArgumentError } from './errors.ts'

/** A KID as an unsigned 64-bit integer (0 <= kid < 2^64). */
export type Kid = bigint

/** The fields of an MLS KID. */
export interface MlsKidFields {
  /** The sender's MLS leaf index, u24. */
  readonly leafIndex: number
  /** The low 8 bits of the MLS epoch the key belongs to. */
  readonly epochByte: number
  /** The sender's generation, u32. */
  readonly generation: number
}

/** Source of randomness: fills `bytes` and returns it (crypto.getRandomValues has this shape). */
export type RandomSource = (bytes: Uint8Array) => Uint8Array

/** The platform's CSPRNG (Web Crypto, present in Node and browsers). */
export const defaultRandom: RandomSource = (bytes) => globalThis.crypto.getRandomValues(bytes)

const U64_MAX = (1n << 64n) - 1n

function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new InvalidArgumentError(`${name} must be a u32, got ${v}`)
  }
}

/** The low 8 bits of an MLS epoch (u64). */
export function epochByte(epoch: number | bigint): number {
  if (typeof epoch === 'bigint') {
    if (epoch < 0n || epoch > U64_MAX) throw new InvalidArgumentError('epoch must be a u64')
    return Number(epoch & 0xffn)
  }
  if (!Number.isSafeInteger(epoch) || epoch < 0)
    throw new InvalidArgumentError('epoch must be a u64')
  return epoch & 0xff
}

/** 03-keys.md §4: KID = leafIndex u24 ‖ epoch & 0xff u8 ‖ generation u32. */
export function mlsKid(leafIndex: number, epoch: number | bigint, generation: number): Kid {
  if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex > MAX_LEAF_INDEX) {
    throw new InvalidArgumentError(`leafIndex must be a u24, got ${leafIndex}`)
  }
  checkU32('generation', generation)
  const hi = ((leafIndex << 8) | epochByte(epoch)) >>> 0
  return (BigInt(hi) << 32n) | BigInt(generation)
}

/** Splits an MLS KID into its fields. */
export function parseMlsKid(kid: Kid): MlsKidFields {
  checkKid(kid)
  const hi = Number(kid >> 32n)
  return { leafIndex: hi >>> 8, epochByte: hi & 0xff, generation: Number(kid & 0xffff_ffffn) }
}

/** 03-keys.md §4: a fresh random 64-bit KID for a PSK VLAN or the MVLAN. */
export function randomPskKid(random: RandomSource = defaultRandom): Kid {
  return kidFromBytes(random(new Uint8Array(KID_LENGTH)))
}

/** A random u32 (the first generation of an MLS sender, 03-keys.md §4). */
export function randomGeneration(random: RandomSource = defaultRandom): number {
  const b = random(new Uint8Array(4))
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0
}

/** The KID's 8 big-endian bytes. */
export function kidToBytes(kid: Kid): Uint8Array {
  checkKid(kid)
  const out = new Uint8Array(KID_LENGTH)
  new DataView(out.buffer).setBigUint64(0, kid)
  return out
}

/** Reads a KID from 8 big-endian bytes at `offset`. */
export function kidFromBytes(bytes: Uint8Array, offset = 0): Kid {
  if (offset < 0 || bytes.length < offset + KID_LENGTH) {
    throw new InvalidArgumentError('a KID needs 8 bytes')
  }
  return new DataView(bytes.buffer, bytes.byteOffset + offset, KID_LENGTH).getBigUint64(0)
}

/** The high 32 bits of a KID. */
export function kidHigh(kid: Kid): number {
  return Number(kid >> 32n)
}

/** The low 32 bits of a KID. */
export function kidLow(kid: Kid): number {
  return Number(kid & 0xffff_ffffn)
}

/** @internal */
export function checkKid(kid: Kid): void {
  if (typeof kid !== 'bigint' || kid < 0n || kid > U64_MAX) {
    throw new InvalidArgumentError('a KID is a u64 bigint')
  }
}
