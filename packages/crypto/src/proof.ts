/**
 * Membership proofs (DESIGN.md 5, docs/spec/07-membership-proof.md): a
 * subscriber shows a relay that it holds a VLAN epoch's `authSeed` by signing
 * its PeerId, an expiry, a VFT window and the VFTs it subscribes to with the
 * Ed25519 key that seed makes (RFC 8032). The relay learns the public key
 * and the opaque VFTs, nothing about the VLAN.
 *
 * Wire form (big-endian, spec 07 §2):
 *
 *   proof = publicKey 32 ‖ signature 64 ‖ body
 *   body  = u8 peerIdLength ‖ peerId ‖ u64 expiry ‖ u32 window
 *           ‖ u16 vftCount ‖ vftCount × VFT 16 (strictly ascending)
 *   signed message = "PeerTap v1 proof" ‖ body
 *
 * The body is both signed and sent, so a verifier signs over the bytes it
 * received and never re-encodes. Verification is pure (the caller passes
 * `now`), never throws on peer input, and runs its cheap checks before the
 * signature.
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import {
  PROOF_BODY_FIXED_LENGTH,
  PROOF_CLOCK_SKEW_SECONDS,
  PROOF_HEADER_LENGTH,
  PROOF_LABEL,
  PROOF_MAX_VFTS,
  PROOF_PEER_ID_MAX_LENGTH,
  PROOF_PUBLIC_KEY_LENGTH,
  PROOF_SEED_LENGTH,
  PROOF_SIGNATURE_LENGTH,
  PROOF_WINDOW_SECONDS,
  VFT_LENGTH,
} from './constants.ts'
import { InvalidArgumentError } from './errors.ts'

/** A decoded membership proof. Byte fields are views into the decoded buffer. */
export interface MembershipProof {
  /** The epoch's Ed25519 public key, 32 bytes: what a relay keys its table by. */
  readonly publicKey: Uint8Array
  /** Ed25519 signature over `"PeerTap v1 proof" ‖ body`, 64 bytes. */
  readonly signature: Uint8Array
  /** The subscriber's PeerId as multihash bytes, 1 to 64 bytes. */
  readonly peerId: Uint8Array
  /** Unix seconds; the proof is valid while `now < expiry`. */
  readonly expiry: number
  /** The VFT window the VFTs belong to: floor(unixSeconds / 600). */
  readonly window: number
  /** 1 to 1024 VFTs of 16 bytes, strictly ascending. */
  readonly vfts: readonly Uint8Array[]
}

/** What a subscriber signs: everything of a proof but the key and signature. */
export interface MembershipProofFields {
  readonly peerId: Uint8Array
  readonly expiry: number
  readonly window: number
  /** Any order, duplicates allowed: they are sorted and deduplicated. */
  readonly vfts: readonly Uint8Array[]
}

export interface CreateMembershipProofParams extends MembershipProofFields {
  /** The epoch's 32-byte authSeed, used as an RFC 8032 Ed25519 private key. */
  readonly authSeed: Uint8Array
}

export interface VerifyMembershipProofParams {
  /** The proof as received (`encodeMembershipProof`'s output). */
  readonly proof: Uint8Array
  /** The PeerId (multihash bytes) of the peer the proof must speak for. */
  readonly peerId: Uint8Array
  /** The verifier's clock, in whole unix seconds. */
  readonly now: number
}

/** Why a proof was refused, in the order the checks run (spec 07 §4). */
export type MembershipProofRejection =
  | 'malformed'
  | 'wrong-peer'
  | 'wrong-window'
  | 'bad-expiry'
  | 'expired'
  | 'bad-key'
  | 'bad-signature'

export type MembershipProofVerdict =
  | { readonly ok: true; readonly proof: MembershipProof }
  | { readonly ok: false; readonly reason: MembershipProofRejection }

export type MembershipProofDecoding =
  | { readonly ok: true; readonly proof: MembershipProof }
  | { readonly ok: false; readonly reason: 'malformed' }

const LABEL = new TextEncoder().encode(PROOF_LABEL)
const U32 = 0x1_0000_0000
/** Largest high word of a u64 expiry that still fits a safe integer. */
const MAX_EXPIRY_HIGH = 0x1f_ffff
const MALFORMED: MembershipProofDecoding = { ok: false, reason: 'malformed' }

/** The Ed25519 public key of an epoch's authSeed (RFC 8032 §5.1.5). */
export function membershipProofPublicKey(authSeed: Uint8Array): Uint8Array {
  checkSeed(authSeed)
  return ed25519.getPublicKey(authSeed)
}

/**
 * The bytes a proof's signature covers: `"PeerTap v1 proof" ‖ body` (spec
 * 07 §3). Throws `InvalidArgumentError` on fields out of range.
 */
export function membershipProofMessage(fields: MembershipProofFields): Uint8Array {
  const body = encodeBody(fields)
  const message = new Uint8Array(LABEL.length + body.length)
  message.set(LABEL, 0)
  message.set(body, LABEL.length)
  return message
}

/** Signs `fields` with `authSeed` and returns the proof's wire encoding. */
export function createMembershipProof(params: CreateMembershipProofParams): Uint8Array {
  checkSeed(params.authSeed)
  const body = encodeBody(params)
  const out = new Uint8Array(PROOF_HEADER_LENGTH + body.length)
  // The message is the label followed by the body; sign it from a scratch
  // copy, then lay out pk ‖ sig ‖ body in the output.
  const message = new Uint8Array(LABEL.length + body.length)
  message.set(LABEL, 0)
  message.set(body, LABEL.length)
  out.set(ed25519.getPublicKey(params.authSeed), 0)
  out.set(ed25519.sign(message, params.authSeed), PROOF_PUBLIC_KEY_LENGTH)
  out.set(body, PROOF_HEADER_LENGTH)
  return out
}

/**
 * The wire encoding of an already signed proof (for relays that rebuild one;
 * those that pass proofs on keep the received bytes instead). Throws
 * `InvalidArgumentError` on fields out of range or VFTs out of order.
 */
export function encodeMembershipProof(proof: MembershipProof): Uint8Array {
  if (proof.publicKey.length !== PROOF_PUBLIC_KEY_LENGTH) {
    throw new InvalidArgumentError(`public key must be ${PROOF_PUBLIC_KEY_LENGTH} bytes`)
  }
  if (proof.signature.length !== PROOF_SIGNATURE_LENGTH) {
    throw new InvalidArgumentError(`signature must be ${PROOF_SIGNATURE_LENGTH} bytes`)
  }
  for (let i = 1; i < proof.vfts.length; i++) {
    if (compareBytes(proof.vfts[i - 1]!, proof.vfts[i]!) >= 0) {
      throw new InvalidArgumentError('VFTs of a signed proof must be strictly ascending')
    }
  }
  const body = encodeBody(proof)
  const out = new Uint8Array(PROOF_HEADER_LENGTH + body.length)
  out.set(proof.publicKey, 0)
  out.set(proof.signature, PROOF_PUBLIC_KEY_LENGTH)
  out.set(body, PROOF_HEADER_LENGTH)
  return out
}

/**
 * Parses a proof's wire encoding without checking its signature. Never reads
 * out of bounds and never throws; anything but exactly one well-formed proof
 * (short, trailing bytes, a length or count out of range, VFTs not strictly
 * ascending, an expiry beyond 2^53 - 1) is `malformed`.
 */
export function decodeMembershipProof(bytes: Uint8Array): MembershipProofDecoding {
  // Fixed part first: pk, sig, the PeerId length byte.
  if (bytes.length < PROOF_HEADER_LENGTH + PROOF_BODY_FIXED_LENGTH) return MALFORMED
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = PROOF_HEADER_LENGTH
  const peerIdLength = view.getUint8(at)
  at += 1
  if (peerIdLength === 0 || peerIdLength > PROOF_PEER_ID_MAX_LENGTH) return MALFORMED
  // The PeerId, then u64 expiry, u32 window, u16 count must all fit.
  if (bytes.length < at + peerIdLength + 8 + 4 + 2) return MALFORMED
  const peerId = bytes.subarray(at, at + peerIdLength)
  at += peerIdLength
  const expiryHigh = view.getUint32(at)
  const expiryLow = view.getUint32(at + 4)
  at += 8
  if (expiryHigh > MAX_EXPIRY_HIGH) return MALFORMED
  const window = view.getUint32(at)
  at += 4
  const count = view.getUint16(at)
  at += 2
  if (count === 0 || count > PROOF_MAX_VFTS) return MALFORMED
  // Exactly count VFTs and nothing after them.
  if (bytes.length !== at + count * VFT_LENGTH) return MALFORMED
  const vfts: Uint8Array[] = new Array(count)
  let previous: Uint8Array | undefined
  for (let i = 0; i < count; i++) {
    const vft = bytes.subarray(at, at + VFT_LENGTH)
    at += VFT_LENGTH
    if (previous !== undefined && compareBytes(previous, vft) >= 0) return MALFORMED
    vfts[i] = vft
    previous = vft
  }
  return {
    ok: true,
    proof: {
      publicKey: bytes.subarray(0, PROOF_PUBLIC_KEY_LENGTH),
      signature: bytes.subarray(PROOF_PUBLIC_KEY_LENGTH, PROOF_HEADER_LENGTH),
      peerId,
      expiry: expiryHigh * U32 + expiryLow,
      window,
      vfts,
    },
  }
}

/**
 * Checks a received proof for the peer `peerId` at time `now` (spec 07 §4).
 * Cheap checks run first and the signature last: malformed, wrong-peer,
 * wrong-window, bad-expiry, expired, bad-key, bad-signature. Never throws on
 * the proof's bytes; only a `now` that is not a non-negative safe integer
 * (the caller's own mistake) throws `InvalidArgumentError`.
 */
export function verifyMembershipProof(params: VerifyMembershipProofParams): MembershipProofVerdict {
  const { now } = params
  if (!Number.isSafeInteger(now) || now < 0) {
    throw new InvalidArgumentError('now must be a non-negative safe integer of unix seconds')
  }
  const decoded = decodeMembershipProof(params.proof)
  if (!decoded.ok) return decoded
  const { proof } = decoded
  if (!equalBytes(proof.peerId, params.peerId)) return { ok: false, reason: 'wrong-peer' }
  // A node proves the current and the next window (DESIGN.md 3), so a proof
  // for window w is in use from the start of w - 1 to the end of w; allow
  // the VFT layer's clock skew on both sides.
  const start = proof.window * PROOF_WINDOW_SECONDS
  const end = start + PROOF_WINDOW_SECONDS
  if (now < start - PROOF_WINDOW_SECONDS - PROOF_CLOCK_SKEW_SECONDS) {
    return { ok: false, reason: 'wrong-window' }
  }
  if (now >= end + PROOF_CLOCK_SKEW_SECONDS) return { ok: false, reason: 'wrong-window' }
  // Proofs expire with their window (DESIGN.md 5): no expiry past its end plus skew.
  if (proof.expiry > end + PROOF_CLOCK_SKEW_SECONDS) return { ok: false, reason: 'bad-expiry' }
  if (now >= proof.expiry) return { ok: false, reason: 'expired' }
  if (!isUsablePublicKey(proof.publicKey)) return { ok: false, reason: 'bad-key' }
  const message = new Uint8Array(LABEL.length + params.proof.length - PROOF_HEADER_LENGTH)
  message.set(LABEL, 0)
  message.set(params.proof.subarray(PROOF_HEADER_LENGTH), LABEL.length)
  let valid: boolean
  try {
    // RFC 8032 §5.1.7 decoding rules (zip215: false): canonical A and R, s < L.
    valid = ed25519.verify(proof.signature, message, proof.publicKey, { zip215: false })
  } catch {
    valid = false
  }
  return valid ? decoded : { ok: false, reason: 'bad-signature' }
}

/** A canonical encoding of a point that is not of small order (spec 07 §4). */
function isUsablePublicKey(publicKey: Uint8Array): boolean {
  try {
    return !ed25519.Point.fromBytes(publicKey, false).isSmallOrder()
  } catch {
    return false
  }
}

function encodeBody(fields: MembershipProofFields): Uint8Array {
  const { peerId, expiry, window } = fields
  if (peerId.length === 0 || peerId.length > PROOF_PEER_ID_MAX_LENGTH) {
    throw new InvalidArgumentError(
      `PeerId must be 1 to ${PROOF_PEER_ID_MAX_LENGTH} bytes, got ${peerId.length}`,
    )
  }
  if (!Number.isSafeInteger(expiry) || expiry < 0) {
    throw new InvalidArgumentError('expiry must be a non-negative safe integer')
  }
  if (!Number.isInteger(window) || window < 0 || window >= U32) {
    throw new InvalidArgumentError('window must be a u32')
  }
  const vfts = sortedUnique(fields.vfts)
  if (vfts.length === 0 || vfts.length > PROOF_MAX_VFTS) {
    throw new InvalidArgumentError(
      `a proof carries 1 to ${PROOF_MAX_VFTS} distinct VFTs, got ${vfts.length}`,
    )
  }
  const length = PROOF_BODY_FIXED_LENGTH + peerId.length + vfts.length * VFT_LENGTH
  const body = new Uint8Array(length)
  const view = new DataView(body.buffer)
  let at = 0
  view.setUint8(at, peerId.length)
  at += 1
  body.set(peerId, at)
  at += peerId.length
  view.setUint32(at, Math.floor(expiry / U32))
  view.setUint32(at + 4, expiry % U32)
  at += 8
  view.setUint32(at, window)
  at += 4
  view.setUint16(at, vfts.length)
  at += 2
  for (const vft of vfts) {
    body.set(vft, at)
    at += VFT_LENGTH
  }
  return body
}

function sortedUnique(vfts: readonly Uint8Array[]): Uint8Array[] {
  for (const vft of vfts) {
    if (vft.length !== VFT_LENGTH) {
      throw new InvalidArgumentError(`a VFT is ${VFT_LENGTH} bytes, got ${vft.length}`)
    }
  }
  const sorted = [...vfts].sort(compareBytes)
  return sorted.filter((vft, i) => i === 0 || compareBytes(sorted[i - 1]!, vft) !== 0)
}

/** Lexicographic order of equal-length byte strings (public data: VFTs). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return a.length - b.length
}

/** PeerIds are public, so an early-exit comparison is fine here. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0
}

function checkSeed(authSeed: Uint8Array): void {
  if (authSeed.length !== PROOF_SEED_LENGTH) {
    throw new InvalidArgumentError(
      `authSeed must be ${PROOF_SEED_LENGTH} bytes, got ${authSeed.length}`,
    )
  }
}
