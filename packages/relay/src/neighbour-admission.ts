/**
 * Whom a node deals with (docs/spec/14-roles.md §14.2): it admits as a
 * neighbour — sends its SUBs, proofs and declarations to, takes SUBs and
 * frames from, forwards transit frames for — only
 *
 *   1. the peers its config names (the caller's `configured`), and
 *   2. peers that proved membership of a VLAN epoch it holds: a SUB whose
 *      proof is under one of its epochs' keys and verifies for the peer at
 *      the other end of the link (`SubscriptionProofs.membership`), until
 *      that proof expires.
 *
 * Anyone else is a stranger and gets nothing: the node sends it no SUB and
 * drops whatever it sends but its proofs (and, for an MLS owner, a key
 * package; spec 14 §14.2). A peer admitted by proof hears only of the VLAN
 * epochs it proved (`mayHear`), so a member of one VLAN learns nothing of
 * the node's other VLANs.
 *
 * The cost a stranger can cause is bounded: a proof under a key that is not
 * one of ours costs a map lookup, one under our key a signature check at
 * most `checksPerSecond` per peer, a proof already verified for that peer
 * (a renewal) nothing; and the state kept per peer is bounded.
 *
 * Pure: no I/O; time is an argument in seconds.
 */

import { hex } from './hash.ts'
import type { MembershipRefusal, SubscriptionProofs } from './subscription-proofs.ts'
import { TokenBucket } from './token-bucket.ts'

/** Proofs verified per peer per second, and the burst (a node proves two windows per VLAN). */
export const DEFAULT_PROOF_CHECKS_PER_SECOND = 4
export const DEFAULT_PROOF_CHECK_BURST = 16
/** Peers admitted by proof at once; past it a new one is refused until one lapses. */
export const DEFAULT_MAX_PROVEN_PEERS = 4096
/** Proofs remembered as verified per peer (the current and next window of a few VLANs). */
const VERIFIED_PER_PEER = 16
/** VLAN keys one peer may prove at once (a key per VLAN epoch it shares with us). */
const KEYS_PER_PEER = 64

export interface NeighbourAdmissionInit {
  /** Whether the config names this peer (PeerId string): admitted always, hears every VLAN. */
  readonly configured: (peer: string) => boolean
  /** This node's proofs: which keys are its own, and the verification. */
  readonly proofs: SubscriptionProofs
  readonly checksPerSecond?: number
  readonly checkBurst?: number
  readonly maxProvenPeers?: number
}

/** What became of a proof a peer sent. */
export type MembershipOutcome =
  /** The peer was not admitted before, and is now. */
  | 'admitted'
  /** Admitted already; the proof was recorded (a new window or VLAN) or known. */
  | 'renewed'
  /** Configured: proofs change nothing. */
  | 'configured'
  /** Not verified: over the peer's proof-check rate, or too many peers admitted by proof. */
  | 'rate'
  | 'full'
  | MembershipRefusal

export interface NeighbourAdmissionCounters {
  /** Peers admitted by a proof (each time one went from stranger to admitted). */
  admittedByProof: number
  /** Admissions by proof that ended (every proof expired, or the peer left). */
  ended: number
  /** Proofs signature-checked (cache misses). */
  proofsVerified: number
  /** Proofs refused, by reason. */
  refused: Partial<Record<MembershipRefusal | 'rate' | 'full', number>>
}

interface Proven {
  /** VLAN key (hex) -> the expiry of the latest proof under it. */
  readonly keys: Map<string, number>
  /** Fingerprints of proofs verified for this peer, oldest first. */
  readonly verified: string[]
}

export class NeighbourAdmission {
  readonly counters: NeighbourAdmissionCounters = {
    admittedByProof: 0,
    ended: 0,
    proofsVerified: 0,
    refused: {},
  }
  readonly #init: NeighbourAdmissionInit
  readonly #proven = new Map<string, Proven>()
  readonly #checks = new Map<string, TokenBucket>()
  readonly #rate: number
  readonly #burst: number
  readonly #maxProven: number

  constructor(init: NeighbourAdmissionInit) {
    this.#init = init
    this.#rate = init.checksPerSecond ?? DEFAULT_PROOF_CHECKS_PER_SECOND
    this.#burst = init.checkBurst ?? DEFAULT_PROOF_CHECK_BURST
    this.#maxProven = init.maxProvenPeers ?? DEFAULT_MAX_PROVEN_PEERS
  }

  /** Whether the node deals with `peer` now: configured, or a live proof of one of our VLAN epochs. */
  admits(peer: string, now: number): boolean {
    return this.#init.configured(peer) || this.#live(peer, now)
  }

  /** Whether the config names `peer`. */
  configured(peer: string): boolean {
    return this.#init.configured(peer)
  }

  /**
   * Whether `peer` may hear of subscriptions under the VLAN key `key` (hex
   * Ed25519 public key of the epoch, spec 07 §1): a configured peer hears
   * of all, a peer admitted by proof only of the keys it proved, and a
   * VFT with no key (`undefined`) only a configured peer hears of.
   */
  mayHear(peer: string, key: string | undefined, now: number): boolean {
    if (this.#init.configured(peer)) return true
    if (key === undefined) return false
    const until = this.#proven.get(peer)?.keys.get(key)
    return until !== undefined && until > now
  }

  /**
   * A SUB's proof from `peer` (`peerId` its multihash bytes, as the trunk
   * authenticated it). Verified only if it is under one of our keys, within
   * the peer's check rate, and not verified for this peer before.
   */
  prove(peer: string, peerId: Uint8Array, proof: Uint8Array, now: number): MembershipOutcome {
    if (this.#init.configured(peer)) return 'configured'
    const wasLive = this.#live(peer, now)
    const print = fingerprint(proof)
    const known = this.#proven.get(peer)
    if (known?.verified.includes(print)) return wasLive ? 'renewed' : this.#refuse('expired')
    if (known === undefined && this.#proven.size >= this.#maxProven) return this.#refuse('full')
    // Not ours: no signature check, so no charge either.
    const notOurs = this.#init.proofs.notOurs(proof)
    if (notOurs !== undefined) return this.#refuse(notOurs)
    let bucket = this.#checks.get(peer)
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#rate, this.#burst, now)
      this.#checks.set(peer, bucket)
    }
    bucket.refill(now)
    if (!bucket.take(1)) return this.#refuse('rate')
    this.counters.proofsVerified++
    const verdict = this.#init.proofs.membership(proof, peerId, now)
    if (!verdict.ok) return this.#refuse(verdict.reason)
    let proven = known
    if (proven === undefined) {
      proven = { keys: new Map(), verified: [] }
      this.#proven.set(peer, proven)
    }
    const key = hex(verdict.publicKey)
    if (!proven.keys.has(key) && proven.keys.size >= KEYS_PER_PEER) {
      for (const [k, until] of proven.keys) if (until <= now) proven.keys.delete(k)
      if (proven.keys.size >= KEYS_PER_PEER) return this.#refuse('full')
    }
    proven.keys.set(key, Math.max(proven.keys.get(key) ?? 0, verdict.expiry))
    proven.verified.push(print)
    if (proven.verified.length > VERIFIED_PER_PEER) proven.verified.shift()
    if (wasLive) return 'renewed'
    this.counters.admittedByProof++
    return 'admitted'
  }

  /**
   * Drops lapsed proofs, and proofs of VLAN epochs this node no longer
   * holds (a member removed from an MLS VLAN proved the epoch it was
   * removed from); returns the peers whose admission by proof ended now
   * (not configured, no live proof left), for the caller to drop their
   * state (forwarding table, subscriptions it sent).
   */
  expire(now: number): string[] {
    const ended: string[] = []
    for (const [peer, proven] of this.#proven) {
      for (const [key, until] of proven.keys)
        if (until <= now || !this.#init.proofs.ownsKey(key)) proven.keys.delete(key)
      if (proven.keys.size > 0) continue
      this.#proven.delete(peer)
      if (!this.#init.configured(peer)) {
        this.counters.ended++
        ended.push(peer)
      }
    }
    return ended
  }

  /** The peer's link went down: forget its proofs and its rate state. */
  remove(peer: string): void {
    if (this.#proven.delete(peer) && !this.#init.configured(peer)) this.counters.ended++
    this.#checks.delete(peer)
  }

  /** Peers admitted by proof now (for status pages). */
  get provenPeers(): number {
    return this.#proven.size
  }

  #live(peer: string, now: number): boolean {
    const proven = this.#proven.get(peer)
    if (proven === undefined) return false
    for (const until of proven.keys.values()) if (until > now) return true
    return false
  }

  #refuse(reason: MembershipRefusal | 'rate' | 'full'): MembershipOutcome {
    this.counters.refused[reason] = (this.counters.refused[reason] ?? 0) + 1
    return reason
  }
}

/**
 * A proof's identity in a peer's verified list: its length and signature
 * (64 bytes at offset 32, spec 07 §2). A proof altered around a copied
 * signature would match, but a match records nothing new: it only spares
 * the check of a proof whose key and expiry are recorded already.
 */
function fingerprint(proof: Uint8Array): string {
  return `${proof.length}:${hex(proof.subarray(32, 96))}`
}
