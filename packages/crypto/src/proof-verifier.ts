/**
 * Membership proofs seen before (spec 07 §4, §7): a relay verifies a
 * subscriber's proof when it first arrives and remembers it, so the SUBs
 * that renew a subscription under the same proof cost a hash and the cheap
 * checks, not a signature. A bounded LRU set of SHA-256 digests of
 * (PeerId, proof bytes) whose signature verified; a hit still runs every
 * check that depends on `now` or on the PeerId (wrong-peer, window, expiry),
 * because a proof's verdict changes with time but its signature does not.
 *
 * Pure: no I/O and no clock; the caller passes `now` as to
 * verifyMembershipProof.
 */
import { Buffer } from 'node:buffer'
import { createHash, type KeyObject } from 'node:crypto'
import { InvalidArgumentError } from './errors.ts'
import {
  checkMembershipProofClaims,
  ed25519PublicKeyObject,
  type MembershipProof,
  type MembershipProofRejection,
  type VerifyMembershipProofParams,
  verifyProofSignature,
} from './proof.ts'

/** Verified proofs a ProofVerifier remembers by default: 64k digests, about 6 MB. */
export const DEFAULT_PROOF_CACHE_SIZE = 65_536
/**
 * Public keys kept as node:crypto KeyObjects. Members of a VLAN epoch share
 * one key, so a few hundred cover a relay's VLANs; making one costs about a
 * fifth of a verification (spec 07 §7).
 */
const KEY_CACHE_SIZE = 1_024

export interface ProofVerifierInit {
  /** Verified proofs remembered (LRU); 0 remembers none. Default DEFAULT_PROOF_CACHE_SIZE. */
  readonly cacheSize?: number
}

export interface ProofVerifyParams extends VerifyMembershipProofParams {
  /**
   * Called once for a proof that passed the cheap checks and is not
   * cached, before any key or signature work; returning false stops there
   * with reason `not-checked` (a rate limit: spec 09-forwarding.md §3).
   * Never called for a cached proof.
   */
  readonly beforeSignature?: () => boolean
}

export type ProofVerifierVerdict =
  | {
      readonly ok: true
      readonly proof: MembershipProof
      /** True when the signature was verified before and not checked again. */
      readonly cached: boolean
    }
  | { readonly ok: false; readonly reason: MembershipProofRejection | 'not-checked' }

export interface ProofVerifierCounters {
  /** Proofs accepted from the cache, with no key or signature work. */
  hits: number
  /** Proofs that passed the cheap checks but were not cached. */
  misses: number
  /** Signature checks run: misses that `beforeSignature` let through. */
  signatureChecks: number
  /** Cached proofs forgotten to stay within `cacheSize`. */
  evictions: number
}

/**
 * `verifyMembershipProof` with a memory: same checks, same order and same
 * verdicts, except that a proof whose signature verified before for the
 * same PeerId is not verified again.
 *
 * @example
 * ```ts
 * const verifier = new ProofVerifier()
 * const verdict = verifier.verify({ proof, peerId, now: Math.floor(Date.now() / 1000) })
 * if (verdict.ok) verdict.proof.publicKey // verdict.cached: no signature work this time
 * ```
 */
export class ProofVerifier {
  readonly cacheSize: number
  readonly counters: ProofVerifierCounters = {
    hits: 0,
    misses: 0,
    signatureChecks: 0,
    evictions: 0,
  }
  /** Digests of verified (PeerId, proof), least recently used first (a Set keeps insertion order). */
  readonly #verified = new Set<string>()
  readonly #keys = new Map<string, KeyObject>()

  constructor(init: ProofVerifierInit = {}) {
    const size = init.cacheSize ?? DEFAULT_PROOF_CACHE_SIZE
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new InvalidArgumentError('cacheSize must be a non-negative integer')
    }
    this.cacheSize = size
  }

  /** Proofs remembered now. */
  get size(): number {
    return this.#verified.size
  }

  /**
   * Checks `proof` for `peerId` at `now` (spec 07 §4): the cheap checks,
   * then the cache, then (on a miss, if `beforeSignature` agrees) key and
   * signature. Throws only for a bad `now`, as verifyMembershipProof.
   */
  verify(params: ProofVerifyParams): ProofVerifierVerdict {
    const checked = checkMembershipProofClaims(params)
    if (!checked.ok) return checked
    const { proof } = checked
    const digest = this.cacheSize === 0 ? undefined : digestOf(params.peerId, params.proof)
    if (digest !== undefined && this.#verified.delete(digest)) {
      this.#verified.add(digest) // now the most recently used
      this.counters.hits++
      return { ok: true, proof, cached: true }
    }
    this.counters.misses++
    if (params.beforeSignature !== undefined && !params.beforeSignature()) {
      return { ok: false, reason: 'not-checked' }
    }
    this.counters.signatureChecks++
    const signature = verifyProofSignature(params.proof, proof, this.#keyObject)
    if (signature !== 'ok') return { ok: false, reason: signature }
    if (digest !== undefined) {
      if (this.#verified.size >= this.cacheSize) {
        this.#verified.delete(this.#verified.values().next().value!)
        this.counters.evictions++
      }
      this.#verified.add(digest)
    }
    return { ok: true, proof, cached: false }
  }

  /** Forgets every remembered proof (e.g. after a change of what counts as valid). */
  clear(): void {
    this.#verified.clear()
    this.#keys.clear()
  }

  /** Called only for a key that passed the byte checks, so refused keys never fill the map. */
  readonly #keyObject = (publicKey: Uint8Array): KeyObject => {
    const name = Buffer.from(publicKey.buffer, publicKey.byteOffset, 32).toString('base64')
    let key = this.#keys.get(name)
    if (key === undefined) {
      key = ed25519PublicKeyObject(publicKey)
      if (this.#keys.size >= KEY_CACHE_SIZE) this.#keys.delete(this.#keys.keys().next().value!)
      this.#keys.set(name, key)
    }
    return key
  }
}

/** SHA-256 of (u8 length ‖ PeerId ‖ proof): one digest per proof and subscriber. */
function digestOf(peerId: Uint8Array, proof: Uint8Array): string {
  return createHash('sha256')
    .update(Uint8Array.of(peerId.length))
    .update(peerId)
    .update(proof)
    .digest('base64')
}
