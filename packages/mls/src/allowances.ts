/**
 * What a node allows and repeats for a VLAN (docs/spec/11-mls.md §11.5):
 * each peer's proposal allowance at a committer (every proposal costs a
 * commit, and every member its processing), the bounded set of key
 * packages held from peers not (yet) admitted, and how often a joiner's
 * key package and a member's own update proposal are sent again.
 *
 * Pure: no timers, no I/O; times are milliseconds passed in.
 */

/** Proposals a committer takes from one peer at once… */
export const PROPOSALS_BURST = 5
/** …then this many per second. */
export const PROPOSALS_PER_SECOND = 0.2
/** Peers a committer keeps a proposal allowance for; beyond, a new peer's proposals wait. */
export const MAX_PROPOSAL_PEERS = 1024
/** Key packages kept per VLAN from peers not (yet) admitted, for `vlan add`. */
export const MAX_HELD_KEY_PACKAGES = 256
/** A joining member resends its key package this often until its Welcome comes. */
export const KEY_PACKAGE_RESEND_MS = 3_000
/** A member that asked for its own update sends its proposal again this often until a commit applies it. */
export const UPDATE_RESEND_MS = 2_000

/**
 * A token bucket in seconds (the one of spec 09-forwarding.md §7, which may
 * go into debt by one charge): @peertap/relay's TokenBucket, repeated here
 * because this package depends on nothing but @peertap/crypto and ts-mls.
 */
class Bucket {
  readonly rate: number
  readonly burst: number
  tokens: number
  last: number
  constructor(rate: number, burst: number, now: number) {
    this.rate = rate
    this.burst = burst
    this.tokens = burst
    this.last = now
  }
  refill(now: number): void {
    const elapsed = now - this.last
    if (elapsed <= 0) return
    this.last = now
    this.tokens = Math.min(this.tokens + elapsed * this.rate, this.burst)
  }
  take(cost: number): boolean {
    if (this.tokens <= 0) return false
    this.tokens -= cost
    return true
  }
}

/** Per peer, the proposals a committer takes: PROPOSALS_BURST, then PROPOSALS_PER_SECOND. */
export class ProposalAllowances {
  readonly #buckets = new Map<string, Bucket>()
  readonly #rate: number
  readonly #burst: number
  readonly #maxPeers: number

  constructor(options: { perSecond?: number; burst?: number; maxPeers?: number } = {}) {
    this.#rate = options.perSecond ?? PROPOSALS_PER_SECOND
    this.#burst = options.burst ?? PROPOSALS_BURST
    this.#maxPeers = options.maxPeers ?? MAX_PROPOSAL_PEERS
  }

  /** Takes one from `peer`'s allowance at `nowMs`; false if it has none (or no room for a new peer). */
  take(peer: string, nowMs: number): boolean {
    const now = nowMs / 1000
    const buckets = this.#buckets
    let bucket = buckets.get(peer)
    if (bucket === undefined) {
      // Bounded: peers whose allowance is whole again hold nothing worth keeping.
      if (buckets.size >= this.#maxPeers) {
        for (const [id, b] of buckets) {
          b.refill(now)
          if (b.tokens >= b.burst) buckets.delete(id)
        }
        if (buckets.size >= this.#maxPeers) return false
      }
      bucket = new Bucket(this.#rate, this.#burst, now)
      buckets.set(peer, bucket)
    }
    bucket.refill(now)
    return bucket.take(1)
  }

  /** Peers with an allowance held. */
  get size(): number {
    return this.#buckets.size
  }
}

/** Keeps `keyPackage` as `peer`'s latest, unless MAX_HELD_KEY_PACKAGES others are held. */
export function holdKeyPackage(
  held: Map<string, Uint8Array>,
  peer: string,
  keyPackage: Uint8Array,
): void {
  if (held.size < MAX_HELD_KEY_PACKAGES || held.has(peer)) held.set(peer, keyPackage)
}

/** Whether something last sent at `last` is due again at `now`, every `everyMs`. */
export function due(last: number, everyMs: number, now: number): boolean {
  return now - last >= everyMs
}
