/**
 * The ciphersuite implementation (11-mls.md §1), made once per process:
 * ts-mls's default implementation of suite 1 (X25519, AES-128-GCM,
 * SHA-256, Ed25519), with its SHA-256, HMAC and HKDF replaced by
 * synchronous node:crypto calls that give the same bytes.
 *
 * Why: ts-mls's defaults hash and derive through WebCrypto, one thread-pool
 * round trip per call, and validating a Welcome's ratchet tree makes a
 * number of such calls that grows with the square of the group: joining a
 * 1000-member group whose owner had committed an update path took about
 * 27 s on the 2-core test machine, and 0.9 s with these (README, Figures).
 * test/suite.test.ts checks them against ts-mls's own, byte for byte.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import {
  type CiphersuiteImpl,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type Hash,
  type Kdf,
} from 'ts-mls'
import { CIPHERSUITE_NAME } from './constants.ts'

const SHA256_BYTES = 32

/** SHA-256 and HMAC-SHA256 (RFC 2104), as ts-mls's `Hash`. */
export const nodeSha256: Hash = {
  digest: async (data) => new Uint8Array(createHash('sha256').update(data).digest()),
  mac: async (key, data) => new Uint8Array(createHmac('sha256', key).update(data).digest()),
  verifyMac: async (key, mac, data) => {
    const expected = createHmac('sha256', key).update(data).digest()
    return mac.length === expected.length && timingSafeEqual(expected, mac)
  },
}

/** HKDF-SHA256 (RFC 5869) Extract and Expand, as ts-mls's `Kdf`. */
export const nodeHkdfSha256: Kdf = {
  // RFC 5869 §2.2: an absent salt is HashLen zeros, which HMAC treats like an empty key.
  extract: async (salt, ikm) => new Uint8Array(createHmac('sha256', salt).update(ikm).digest()),
  expand: async (prk, info, length) => {
    if (length > 255 * SHA256_BYTES) throw new RangeError('HKDF-Expand: length too large')
    const out = new Uint8Array(length)
    let t = new Uint8Array(0)
    for (let i = 1, at = 0; at < length; i++) {
      t = createHmac('sha256', prk).update(t).update(info).update(Uint8Array.of(i)).digest()
      out.set(t.subarray(0, Math.min(t.length, length - at)), at)
      at += t.length
    }
    return out
  },
  size: SHA256_BYTES,
}

let impl: Promise<CiphersuiteImpl> | undefined

/** Suite 1: ts-mls's implementation with node:crypto hashing and HKDF. */
export function suite(): Promise<CiphersuiteImpl> {
  impl ??= getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE_NAME)).then((cs) => ({
    ...cs,
    hash: nodeSha256,
    kdf: nodeHkdfSha256,
  }))
  return impl
}
