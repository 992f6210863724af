// Ed25519 signing with a raw 32-byte seed (RFC 8032 §5.1.5-6) on
// node:crypto: OpenSSL signs and derives keys many times faster than a pure
// JavaScript curve, and a fabric node signs a presence record every few
// minutes while a bench signs thousands. Signatures are deterministic, so
// every implementation gives the same bytes. Verification is
// @peertap/crypto's verifyEd25519Strict (07-membership-proof.md §4).
import { Buffer } from 'node:buffer'
import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto'
import { KEY_LENGTH } from './constants.ts'
import { MvlanError } from './errors.ts'

/** RFC 8410 PKCS #8 prefix of an Ed25519 private key; the 32-byte seed follows. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

function privateKeyOf(seed: Uint8Array): KeyObject {
  if (!(seed instanceof Uint8Array) || seed.length !== KEY_LENGTH) {
    throw new MvlanError('invalid-argument', `an Ed25519 seed is ${KEY_LENGTH} bytes`)
  }
  return createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  })
}

/** The 32-byte Ed25519 public key of a 32-byte seed. */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  const der = createPublicKey(privateKeyOf(seed)).export({ format: 'der', type: 'spki' })
  // SPKI of Ed25519 (RFC 8410): a 12-byte prefix, then the key.
  return new Uint8Array(der.subarray(der.length - KEY_LENGTH))
}

/** The 64-byte Ed25519 signature of `message` under `seed`. */
export function signWithSeed(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKeyOf(seed)))
}
