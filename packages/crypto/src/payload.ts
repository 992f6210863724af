/**
 * The sealed payload (docs/spec/04-sealed-payload.md), stateless layer:
 *
 *   header = config u8 ‖ KID 8 ‖ CTR 1..7 (minimal, big-endian), config = 0xF8 | (ctrLen - 1)
 *   ciphertext ‖ tag = AES-256-GCM(key, nonce, aad = VFT ‖ header, plaintext)
 *   sealed = (header XOR AES-256-ECB(hpKey, tag)[0, len(header))) ‖ ciphertext ‖ tag
 *
 * FrameSender (send.ts) and FrameReceiver (receive.ts) add counters, KID
 * rollover, the replay window and the KID cache on top.
 */

import type { AeadKey, CryptoBackend, HeaderMaskKey } from './backend.ts'
import {
  CONFIG_BASE,
  HEADER_FIXED_LENGTH,
  MAX_CTR_LENGTH,
  MAX_HEADER_LENGTH,
  MIN_PLAINTEXT_LENGTH,
  MIN_SEALED_LENGTH,
  NONCE_LENGTH,
  TAG_LENGTH,
  VFT_LENGTH,
} from './constants.ts'
import { InvalidArgumentError } from './errors.ts'
import { deriveSenderKeyMaterialHiLo } from './keys.ts'
import { checkKid, type Kid } from './kid.ts'

/**
 * A sealed frame on its way between nodes and relays: the sealed payload,
 * the VFT it was sealed under (the first part of its AAD) and the hops it may
 * still take; the fields of the trunk's FRAME message (08-trunk.md §4.2).
 * The one type of it: @peertap/trunk's and @peertap/relay's `Frame` and
 * @peertap/switch's `SealedFrame` are this type, so frames pass between
 * the three without a cast. The forwarding table writes the outgoing hop
 * limit into `hopLimit`; `vft` and `sealed` are views nobody writes through.
 */
export interface SealedFrame {
  /** Hops left; relays decrement it and drop at zero (09-forwarding.md). */
  hopLimit: number
  /** The 16-byte VLAN Forwarding Token. */
  readonly vft: Uint8Array
  /** The sealed payload, header ‖ ciphertext ‖ tag (04-sealed-payload.md). */
  readonly sealed: Uint8Array
}

/** Why a receiver dropped a sealed payload; stable codes (04-sealed-payload.md §5). */
export type DropReason =
  | 'short'
  | 'bad-config'
  | 'non-minimal-ctr'
  | 'ctr-limit'
  | 'unknown-epoch'
  | 'unknown-sender'
  | 'kid-cache-full'
  | 'replay'
  | 'too-old'
  | 'auth'

/** Every drop code, in the order the receiver applies its rules. */
export const DROP_REASONS: readonly DropReason[] = [
  'short',
  'bad-config',
  'non-minimal-ctr',
  'ctr-limit',
  'unknown-epoch',
  'unknown-sender',
  'kid-cache-full',
  'replay',
  'too-old',
  'auth',
]

/** One sender's prepared key (03-keys.md §5): KID, AES-256-GCM key and nonce salt. */
export class SenderKey {
  /** The KID this key belongs to. */
  readonly kid: Kid
  /** @internal High and low 32 bits of the KID. */
  readonly kidHi: number
  /** @internal */
  readonly kidLo: number
  /** @internal */
  readonly aead: AeadKey
  /** @internal The 12-byte nonce salt. */
  readonly salt: Uint8Array

  private constructor(kidHi: number, kidLo: number, aead: AeadKey, salt: Uint8Array) {
    this.kidHi = kidHi
    this.kidLo = kidLo
    this.kid = (BigInt(kidHi) << 32n) | BigInt(kidLo)
    this.aead = aead
    this.salt = salt
  }

  /** Derives and prepares the key of `kid` under `frameBase` (03-keys.md §5). */
  static derive(backend: CryptoBackend, frameBase: Uint8Array, kid: Kid): SenderKey {
    checkKid(kid)
    return SenderKey.deriveHiLo(backend, frameBase, Number(kid >> 32n), Number(kid & 0xffff_ffffn))
  }

  /** @internal */
  static deriveHiLo(
    backend: CryptoBackend,
    frameBase: Uint8Array,
    kidHi: number,
    kidLo: number,
  ): SenderKey {
    const m = deriveSenderKeyMaterialHiLo(frameBase, kidHi, kidLo)
    return new SenderKey(kidHi, kidLo, backend.aeadKey(m.key), m.salt)
  }
}

/** The header-protection key of an epoch (04-sealed-payload.md §4), prepared once. */
export class HeaderProtection {
  /** @internal */
  readonly maskKey: HeaderMaskKey

  constructor(backend: CryptoBackend, hpKey: Uint8Array) {
    this.maskKey = backend.headerMaskKey(hpKey)
  }
}

/**
 * @internal Scratch buffers of one sender or receiver: nonce, AAD (with a
 * view per CTR length, made once) and the tag copy. Each stateful object owns
 * one, so a caller's callback can never clobber a frame in flight.
 */
export class Scratch {
  readonly nonce = new Uint8Array(NONCE_LENGTH)
  readonly aad = new Uint8Array(VFT_LENGTH + MAX_HEADER_LENGTH)
  /** aadByCtrLength[n]: VFT ‖ header with an n-byte CTR. */
  readonly aadByCtrLength: Uint8Array[] = []
  /** A copy of the tag: the header-protection sample and node:crypto's setAuthTag() input. */
  readonly sample = new Uint8Array(TAG_LENGTH)
  /** The tags of a batch, back to back: one AES-ECB call masks them all. Grows to the largest batch. */
  samples = new Uint8Array(TAG_LENGTH * 64)

  /** The first `count` samples, growing the buffer if the batch is larger than any before. */
  samplesFor(count: number): Uint8Array {
    if (this.samples.length < count * TAG_LENGTH)
      this.samples = new Uint8Array(count * TAG_LENGTH * 2)
    return this.samples
  }

  constructor() {
    for (let n = 0; n <= MAX_CTR_LENGTH; n++) {
      this.aadByCtrLength.push(this.aad.subarray(0, VFT_LENGTH + HEADER_FIXED_LENGTH + n))
    }
  }
}

/** Scratch of the stateless sealPayload() and openPayload(). */
const SHARED = new Scratch()

/** 04-sealed-payload.md §2: the minimal big-endian length of a counter (0 takes one byte). */
export function ctrLength(counter: number): number {
  if (counter < 0x100) return 1
  if (counter < 0x1_0000) return 2
  if (counter < 0x100_0000) return 3
  if (counter < 0x1_0000_0000) return 4
  if (counter < 0x100_0000_0000) return 5
  if (counter < 0x1_0000_0000_0000) return 6
  return 7
}

/** Length of a sealed payload: header + plaintext + tag. */
export function sealedLength(counter: number, plaintextLength: number): number {
  return HEADER_FIXED_LENGTH + ctrLength(counter) + plaintextLength + TAG_LENGTH
}

function checkVft(vft: Uint8Array): void {
  if (vft.length !== VFT_LENGTH) throw new InvalidArgumentError('a VFT is 16 bytes')
}

/**
 * @internal Seal stages up to the AEAD, without checks on the arguments:
 * write the header in the clear, AAD = VFT ‖ header, nonce = salt XOR CTR,
 * AES-GCM. Returns the header length; the caller protects the header.
 */
export function sealClear(
  s: Scratch,
  key: SenderKey,
  counter: number,
  vft: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
  offset: number,
): number {
  const ctrLen = ctrLength(counter)
  const headerLength = HEADER_FIXED_LENGTH + ctrLen
  // Header, in the clear for now (04-sealed-payload.md §2).
  out[offset] = CONFIG_BASE | (ctrLen - 1)
  const hi = key.kidHi
  const lo = key.kidLo
  out[offset + 1] = hi >>> 24
  out[offset + 2] = hi >>> 16
  out[offset + 3] = hi >>> 8
  out[offset + 4] = hi
  out[offset + 5] = lo >>> 24
  out[offset + 6] = lo >>> 16
  out[offset + 7] = lo >>> 8
  out[offset + 8] = lo
  let c = counter
  for (let i = offset + headerLength - 1; i >= offset + HEADER_FIXED_LENGTH; i--) {
    out[i] = c % 256
    c = Math.floor(c / 256)
  }
  // AAD = VFT ‖ header (§3); nonce = salt XOR (0^5 ‖ counter as 7 bytes), 03-keys.md §6.
  const aad = s.aad
  const nonce = s.nonce
  aad.set(vft, 0)
  nonce.set(key.salt, 0)
  for (let i = 0; i < headerLength; i++) aad[VFT_LENGTH + i] = out[offset + i]!
  for (let i = 0; i < ctrLen; i++) {
    nonce[NONCE_LENGTH - ctrLen + i]! ^= out[offset + HEADER_FIXED_LENGTH + i]!
  }
  key.aead.seal(nonce, s.aadByCtrLength[ctrLen]!, plaintext, out, offset + headerLength)
  return headerLength
}

/** @internal Copies 16 bytes (a tag) from src at `from` to dst at `to`. */
export function copyTag(src: Uint8Array, from: number, dst: Uint8Array, to: number): void {
  for (let i = 0; i < TAG_LENGTH; i++) dst[to + i] = src[from + i]!
}

/** @internal Header protection (§4): XOR the header with the mask at `maskOffset`. */
export function protectHeader(
  out: Uint8Array,
  offset: number,
  headerLength: number,
  mask: Uint8Array,
  maskOffset: number,
): void {
  for (let i = 0; i < headerLength; i++) out[offset + i]! ^= mask[maskOffset + i]!
}

/**
 * @internal Seals without checks on the arguments; returns the bytes written.
 * Stages: sealClear(), then mask = AES-ECB(hpKey, tag), header XOR mask.
 */
export function sealUnchecked(
  s: Scratch,
  hp: HeaderMaskKey,
  key: SenderKey,
  counter: number,
  vft: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
  offset: number,
): number {
  const headerLength = sealClear(s, key, counter, vft, plaintext, out, offset)
  // Header protection (§4): the sample is the tag.
  copyTag(out, offset + headerLength + plaintext.length, s.sample, 0)
  protectHeader(out, offset, headerLength, hp.mask(s.sample), 0)
  return headerLength + plaintext.length + TAG_LENGTH
}

/**
 * Seals one plaintext under `key` with an explicit counter (0 <= counter <
 * 2^53). Nothing here stops a caller from using a counter twice: this is the
 * layer the vectors and tests use; senders use {@link FrameSender}.
 */
export function sealPayload(
  hp: HeaderProtection,
  key: SenderKey,
  counter: number,
  vft: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  checkVft(vft)
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new InvalidArgumentError('the counter is an integer in [0, 2^53)')
  }
  if (plaintext.length < MIN_PLAINTEXT_LENGTH) {
    throw new InvalidArgumentError('the plaintext holds at least its kind byte')
  }
  const out = new Uint8Array(sealedLength(counter, plaintext.length))
  sealUnchecked(SHARED, hp.maskKey, key, counter, vft, plaintext, out, 0)
  return out
}

/**
 * @internal Header stages of open (04-sealed-payload.md §5 rules 1 to 4):
 * length, unmask config, length again, unmask the rest into the AAD scratch
 * after the VFT, minimal CTR. Returns the CTR length (1..7) or a drop reason.
 */
export function unprotectHeader(
  s: Scratch,
  hp: HeaderMaskKey,
  sealed: Uint8Array,
  vft: Uint8Array,
): number | DropReason {
  if (sealed.length < MIN_SEALED_LENGTH) return 'short'
  copyTag(sealed, sealed.length - TAG_LENGTH, s.sample, 0)
  return unprotectHeaderWithMask(s, sealed, vft, hp.mask(s.sample), 0)
}

/**
 * @internal Rules 2 to 4 with the mask already computed (a batch computes
 * all masks at once); rule 1 (MIN_SEALED_LENGTH) was checked by the caller.
 * Also leaves a copy of the tag in s.sample for the AEAD.
 */
export function unprotectHeaderWithMask(
  s: Scratch,
  sealed: Uint8Array,
  vft: Uint8Array,
  mask: Uint8Array,
  m: number,
): number | DropReason {
  const length = sealed.length
  const config = sealed[0]! ^ mask[m]!
  // 0xF8..0xFE: ctrLen 1..7; 0xFF would mean an 8-byte CTR.
  if (config < CONFIG_BASE || config === 0xff) return 'bad-config'
  const ctrLen = (config & 0x07) + 1
  const headerLength = HEADER_FIXED_LENGTH + ctrLen
  if (length < headerLength + MIN_PLAINTEXT_LENGTH + TAG_LENGTH) return 'short'
  const aad = s.aad
  aad.set(vft, 0)
  aad[VFT_LENGTH] = config
  for (let i = 1; i < headerLength; i++) aad[VFT_LENGTH + i] = sealed[i]! ^ mask[m + i]!
  if (ctrLen > 1 && aad[VFT_LENGTH + HEADER_FIXED_LENGTH] === 0) return 'non-minimal-ctr'
  copyTag(sealed, length - TAG_LENGTH, s.sample, 0)
  return ctrLen
}

/** @internal The KID's high 32 bits, read from the unprotected header. */
export function headerKidHigh(s: Scratch): number {
  const AAD = s.aad
  const o = VFT_LENGTH + 1
  return ((AAD[o]! << 24) | (AAD[o + 1]! << 16) | (AAD[o + 2]! << 8) | AAD[o + 3]!) >>> 0
}

/** @internal The KID's low 32 bits, read from the unprotected header. */
export function headerKidLow(s: Scratch): number {
  const AAD = s.aad
  const o = VFT_LENGTH + 5
  return ((AAD[o]! << 24) | (AAD[o + 1]! << 16) | (AAD[o + 2]! << 8) | AAD[o + 3]!) >>> 0
}

/** @internal The counter of a header whose CTR has at most 3 bytes. */
export function headerCounter(s: Scratch, ctrLen: number): number {
  const AAD = s.aad
  let c = 0
  const start = VFT_LENGTH + HEADER_FIXED_LENGTH
  for (let i = 0; i < ctrLen; i++) c = (c << 8) | AAD[start + i]!
  return c
}

/**
 * @internal AEAD stage of open, after unprotectHeader(): nonce = salt XOR
 * CTR, then AES-GCM with AAD = VFT ‖ header. Returns the plaintext or
 * undefined when the tag does not verify.
 */
export function openUnchecked(
  s: Scratch,
  key: SenderKey,
  sealed: Uint8Array,
  ctrLen: number,
): Uint8Array | undefined {
  const nonce = s.nonce
  const aad = s.aad
  nonce.set(key.salt, 0)
  const ctrStart = VFT_LENGTH + HEADER_FIXED_LENGTH
  for (let i = 0; i < ctrLen; i++) nonce[NONCE_LENGTH - ctrLen + i]! ^= aad[ctrStart + i]!
  const headerLength = HEADER_FIXED_LENGTH + ctrLen
  const tagStart = sealed.length - TAG_LENGTH
  return key.aead.open(nonce, s.aadByCtrLength[ctrLen]!, sealed, headerLength, tagStart, s.sample)
}

/**
 * Opens one sealed payload under a known key, without a replay window or the
 * counter limit: the layer the vectors and tests use; receivers use
 * {@link FrameReceiver}. A header naming another KID is dropped as
 * 'unknown-sender'. Never throws on bad input.
 */
export function openPayload(
  hp: HeaderProtection,
  key: SenderKey,
  vft: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | DropReason {
  checkVft(vft)
  const ctrLen = unprotectHeader(SHARED, hp.maskKey, sealed, vft)
  if (typeof ctrLen === 'string') return ctrLen
  if (headerKidHigh(SHARED) !== key.kidHi || headerKidLow(SHARED) !== key.kidLo) {
    return 'unknown-sender'
  }
  return openUnchecked(SHARED, key, sealed, ctrLen) ?? 'auth'
}
