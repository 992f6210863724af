/**
 * Membership proofs (docs/spec/07-membership-proof.md): a
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
 *
 * Signatures are checked by node:crypto (OpenSSL's Ed25519, about 9 times
 * as many per second as @noble/curves here: spec 07 §7), behind byte
 * checks of our own for what RFC 8032 strictness asks beyond OpenSSL's
 * equation: A and R canonical and not of small order, S < L. Signing stays
 * on @noble/curves.
 */
import { Buffer } from 'node:buffer'
import { createPublicKey, type KeyObject, verify } from 'node:crypto'
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
 * (the caller's own mistake) throws `InvalidArgumentError`. A caller that
 * sees the same proofs again (renewals) should use a `ProofVerifier`.
 */
export function verifyMembershipProof(params: VerifyMembershipProofParams): MembershipProofVerdict {
  const checked = checkMembershipProofClaims(params)
  if (!checked.ok) return checked
  const signature = verifyProofSignature(params.proof, checked.proof)
  return signature === 'ok' ? checked : { ok: false, reason: signature }
}

/**
 * Spec 07 §4 steps 1-5, everything but the key and the signature: what a
 * cached proof must pass again. Throws only for a bad `now`.
 */
export function checkMembershipProofClaims(
  params: VerifyMembershipProofParams,
): MembershipProofVerdict {
  const { now } = params
  if (!Number.isSafeInteger(now) || now < 0) {
    throw new InvalidArgumentError('now must be a non-negative safe integer of unix seconds')
  }
  const decoded = decodeMembershipProof(params.proof)
  if (!decoded.ok) return decoded
  const { proof } = decoded
  if (!equalBytes(proof.peerId, params.peerId)) return { ok: false, reason: 'wrong-peer' }
  // A node proves the current and the next window (07-membership-proof.md §4), so a proof
  // for window w is in use from the start of w - 1 to the end of w; allow
  // the VFT layer's clock skew on both sides.
  const start = proof.window * PROOF_WINDOW_SECONDS
  const end = start + PROOF_WINDOW_SECONDS
  if (now < start - PROOF_WINDOW_SECONDS - PROOF_CLOCK_SKEW_SECONDS) {
    return { ok: false, reason: 'wrong-window' }
  }
  if (now >= end + PROOF_CLOCK_SKEW_SECONDS) return { ok: false, reason: 'wrong-window' }
  // Proofs expire with their window (07-membership-proof.md §4): no expiry past its end plus skew.
  if (proof.expiry > end + PROOF_CLOCK_SKEW_SECONDS) return { ok: false, reason: 'bad-expiry' }
  if (now >= proof.expiry) return { ok: false, reason: 'expired' }
  return decoded
}

/**
 * Spec 07 §4 steps 6-7 for a proof whose claims passed: its key, then its
 * signature over `"PeerTap v1 proof" ‖ body`. `keyObject` gives the public
 * key as a node:crypto KeyObject, for a caller that keeps them.
 */
export function verifyProofSignature(
  bytes: Uint8Array,
  proof: MembershipProof,
  keyObject?: (publicKey: Uint8Array) => KeyObject,
): 'ok' | 'bad-key' | 'bad-signature' {
  const message = new Uint8Array(LABEL.length + bytes.length - PROOF_HEADER_LENGTH)
  message.set(LABEL, 0)
  message.set(bytes.subarray(PROOF_HEADER_LENGTH), LABEL.length)
  return verifyEd25519Strict(proof.publicKey, message, proof.signature, keyObject)
}

/**
 * RFC 8032 §5.1.7 verification, strict (spec 07 §4 steps 6-7): `bad-key`
 * unless A is a canonical encoding that is not of small order; then
 * `bad-signature` unless R is canonical and not of small order, S < L, and
 * OpenSSL's cofactorless equation holds (it compares the encoding of
 * [S]B - [k]A with R, so it also refuses an A that is no curve point).
 * The byte checks are ours so that the rule does not depend on OpenSSL's
 * version: 3.0 accepted small-order and non-canonical keys and small-order
 * R (ed25519-speccheck's results), 3.5 refuses some of them.
 */
export function verifyEd25519Strict(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  keyObject: (publicKey: Uint8Array) => KeyObject = ed25519PublicKeyObject,
): 'ok' | 'bad-key' | 'bad-signature' {
  if (
    publicKey.length !== PROOF_PUBLIC_KEY_LENGTH ||
    !isCanonicalPoint(publicKey) ||
    hasSmallOrder(publicKey)
  ) {
    return 'bad-key'
  }
  if (signature.length !== PROOF_SIGNATURE_LENGTH) return 'bad-signature'
  const r = signature.subarray(0, 32)
  if (!isCanonicalPoint(r) || hasSmallOrder(r) || !isCanonicalScalar(signature.subarray(32))) {
    return 'bad-signature'
  }
  try {
    return verify(null, message, keyObject(publicKey), signature) ? 'ok' : 'bad-signature'
  } catch {
    return 'bad-signature'
  }
}

/** A node:crypto KeyObject for a 32-byte Ed25519 public key (not checked: see verifyEd25519Strict). */
export function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength)
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: x.toString('base64url') },
    format: 'jwk',
  })
}

// RFC 8032 §5.1.3 encodings, little-endian: the y coordinate in bits 0-254,
// the sign of x in bit 255.
/** p = 2^255 - 19. */
const P_BYTES = fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')
/** L = 2^252 + 27742317777372353535851937790883648493, the group order. */
const L_BYTES = fromHex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010')
/**
 * The y of every point of small order: the 8 points of the torsion
 * subgroup have these 5 y values (each y holds the points ±x). So a
 * canonical encoding names a small-order point iff its y is one of them,
 * whatever its sign bit (x = 0 with the sign bit set, which RFC 8032
 * refuses to decode, has y = 1 or p - 1 and is caught here too).
 */
const SMALL_ORDER_Y = [
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0100000000000000000000000000000000000000000000000000000000000000', // 1: the identity
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p - 1: order 2
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8: p - the above
].map(fromHex)

/** y < p (RFC 8032 §5.1.3 step 1), a comparison of bytes from the top. */
function isCanonicalPoint(encoding: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const byte = i === 31 ? encoding[i]! & 0x7f : encoding[i]!
    if (byte !== P_BYTES[i]) return byte < P_BYTES[i]!
  }
  return false
}

function hasSmallOrder(encoding: Uint8Array): boolean {
  for (const y of SMALL_ORDER_Y) {
    let same = (encoding[31]! & 0x7f) === y[31]
    for (let i = 0; same && i < 31; i++) same = encoding[i] === y[i]
    if (same) return true
  }
  return false
}

/** S < L (RFC 8032 §5.1.7 step 1). */
function isCanonicalScalar(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (s[i] !== L_BYTES[i]) return s[i]! < L_BYTES[i]!
  }
  return false
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
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
