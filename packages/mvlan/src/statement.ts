/**
 * Fabric epoch statements (docs/spec/16-fabric.md §16.2): the fabric's root
 * key signs "epoch n's credential key is K". Relays hold only the root's
 * public key; when the fabric secret is rotated, the root signs the new
 * epoch and relays take its credential key without their operator, while a
 * member expelled by the rotation, who knows the old secret but not the
 * root seed, cannot sign one.
 *
 * Wire form (big-endian, 141 bytes exactly):
 *
 *   statement = 0x01 ‖ rootKey 32 ‖ epoch u32 ‖ credentialKey 32
 *               ‖ issuedAt u64 (unix seconds) ‖ signature 64
 *   signed message = "PeerTap v1 fabric epoch" ‖ statement[0..77)
 */
import { verifyEd25519Strict } from '@peertap/crypto'
import { concat, equalBytes, isBytes, isIntegerIn, utf8 } from './bytes.ts'
import {
  KEY_LENGTH,
  MAX_EPOCH,
  STATEMENT_BODY_LENGTH,
  STATEMENT_LABEL,
  STATEMENT_LENGTH,
  STATEMENT_VERSION,
} from './constants.ts'
import { publicKeyOf, signWithSeed } from './ed25519.ts'
import { MvlanError } from './errors.ts'

/** A decoded statement. Byte fields are views into `bytes`. */
export interface FabricEpochStatement {
  /** The root's Ed25519 public key, 32 bytes. */
  readonly rootKey: Uint8Array
  /** 0 to 2^32 − 1; a relay takes a statement only for an epoch above the one it holds. */
  readonly epoch: number
  /** The epoch's credential key (§16.1), 32 bytes. */
  readonly credentialKey: Uint8Array
  /** Unix seconds, at most 2^53 − 1. */
  readonly issuedAt: number
  /** The whole statement, 141 bytes. */
  readonly bytes: Uint8Array
}

export interface SignFabricEpochParams {
  /** The root's 32-byte Ed25519 seed. */
  readonly rootSeed: Uint8Array
  readonly epoch: number
  readonly credentialKey: Uint8Array
  readonly issuedAt: number
}

export type FabricEpochDecoding =
  | { readonly ok: true; readonly statement: FabricEpochStatement }
  | { readonly ok: false; readonly reason: 'malformed' }

const LABEL = utf8(STATEMENT_LABEL)
const U32 = 0x1_0000_0000
/** Largest high word of a u64 that still fits a safe integer. */
const MAX_SAFE_HIGH = 0x1f_ffff
const MALFORMED: FabricEpochDecoding = { ok: false, reason: 'malformed' }

/** The root's public key: the Ed25519 public key of its 32-byte seed. */
export function rootKeyOf(rootSeed: Uint8Array): Uint8Array {
  return publicKeyOf(rootSeed)
}

/** §16.2: signs the statement and returns its 141 bytes. Throws `MvlanError` on a field out of range. */
export function signFabricEpoch(params: SignFabricEpochParams): Uint8Array {
  const { rootSeed, epoch, credentialKey, issuedAt } = params
  if (!isIntegerIn(epoch, 0, MAX_EPOCH)) {
    throw new MvlanError('invalid-argument', `epoch must be 0 to ${MAX_EPOCH}`)
  }
  if (!isBytes(credentialKey, KEY_LENGTH)) {
    throw new MvlanError('invalid-argument', `a credential key is ${KEY_LENGTH} bytes`)
  }
  if (!isIntegerIn(issuedAt, 0, Number.MAX_SAFE_INTEGER)) {
    throw new MvlanError('invalid-argument', 'issuedAt must be a non-negative safe integer')
  }
  const out = new Uint8Array(STATEMENT_LENGTH)
  const view = new DataView(out.buffer)
  out[0] = STATEMENT_VERSION
  out.set(rootKeyOf(rootSeed), 1)
  view.setUint32(1 + KEY_LENGTH, epoch)
  out.set(credentialKey, 1 + KEY_LENGTH + 4)
  view.setUint32(1 + 2 * KEY_LENGTH + 4, Math.floor(issuedAt / U32))
  view.setUint32(1 + 2 * KEY_LENGTH + 8, issuedAt % U32)
  const signature = signWithSeed(rootSeed, concat(LABEL, out.subarray(0, STATEMENT_BODY_LENGTH)))
  out.set(signature, STATEMENT_BODY_LENGTH)
  return out
}

/**
 * Parses a statement without checking its signature. Never throws; anything
 * but 141 bytes with version 1 and an issuedAt below 2^53 is `malformed`.
 */
export function decodeFabricEpoch(bytes: Uint8Array): FabricEpochDecoding {
  if (!(bytes instanceof Uint8Array) || bytes.length !== STATEMENT_LENGTH) return MALFORMED
  if (bytes[0] !== STATEMENT_VERSION) return MALFORMED
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const high = view.getUint32(1 + 2 * KEY_LENGTH + 4)
  if (high > MAX_SAFE_HIGH) return MALFORMED
  return {
    ok: true,
    statement: {
      rootKey: bytes.subarray(1, 1 + KEY_LENGTH),
      epoch: view.getUint32(1 + KEY_LENGTH),
      credentialKey: bytes.subarray(1 + KEY_LENGTH + 4, 1 + 2 * KEY_LENGTH + 4),
      issuedAt: high * U32 + view.getUint32(1 + 2 * KEY_LENGTH + 8),
      bytes,
    },
  }
}

/**
 * §16.2: true iff the statement's signature is a strict Ed25519 signature
 * (07-membership-proof.md §4) under `statement.rootKey`. The caller checks
 * that the root key is the one it trusts.
 */
export function verifyFabricEpoch(statement: FabricEpochStatement): boolean {
  const { bytes } = statement
  if (!(bytes instanceof Uint8Array) || bytes.length !== STATEMENT_LENGTH) return false
  const rootKey = bytes.subarray(1, 1 + KEY_LENGTH)
  if (!equalBytes(rootKey, statement.rootKey)) return false
  const message = concat(LABEL, bytes.subarray(0, STATEMENT_BODY_LENGTH))
  return verifyEd25519Strict(rootKey, message, bytes.subarray(STATEMENT_BODY_LENGTH)) === 'ok'
}
