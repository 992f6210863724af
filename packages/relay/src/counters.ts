/**
 * The table's counters: one plain object of numbers, cumulative since the
 * table was made, so that metrics can export it as it is. Every limit and
 * every drop reason has one (spec 09-forwarding.md §8 defines each).
 */

/**
 * Why a frame was dropped, in the order the checks run (spec 09-forwarding.md §5).
 * - `neighbour-limit`: the table already keeps state for `maxNeighbours` others.
 * - `denied`: the source is on the deny list.
 * - `not-admitted`: admission is closed and the source is not allowed.
 * - `malformed`: VFT not 16 bytes, hop limit not a u8, or a sealed payload
 *   shorter than the smallest legal one.
 * - `too-large`: sealed payload longer than `maxSealedLength`.
 * - `hop-limit`: arrived with hop limit 0 or 1, so it cannot be sent on.
 * - `rate-frames`: the source's frames/s bucket is empty.
 * - `no-subscriber`: nobody but the source receives under the VFT.
 * - `no-proof`: proofs required and the source has not proved a key for the VFT.
 * - `proof-mismatch`: there are receivers, but none proved the source's key.
 * - `duplicate`: the frame's tag is in the duplicate cache.
 * - `rate-bytes`: the source's bytes/s bucket cannot pay for the copies.
 */
export const FRAME_DROP_REASONS = [
  'neighbour-limit',
  'denied',
  'not-admitted',
  'malformed',
  'too-large',
  'hop-limit',
  'rate-frames',
  'no-subscriber',
  'no-proof',
  'proof-mismatch',
  'duplicate',
  'rate-bytes',
] as const
export type FrameDropReason = (typeof FRAME_DROP_REASONS)[number]

/**
 * Why one subscription entry (one VFT of a SUB) was refused, in check order
 * (spec 09-forwarding.md §3).
 * - `sub-neighbour-limit`: the table keeps state for `maxNeighbours` others.
 * - `sub-denied`, `sub-not-admitted`: as for frames.
 * - `sub-rate`: the neighbour's entry bucket or proof-check bucket is empty
 *   (before any signature work).
 * - `sub-proof-invalid`: the membership proof did not verify.
 * - `sub-proof-vft`: the entry's VFT is not among the VFTs the proof signs.
 * - `sub-malformed`: VFT not 16 bytes, no flag or an unknown flag bit, or a
 *   proving key not 32 bytes.
 * - `sub-ttl-invalid`: TTL not a finite number in (0, maxTtlSeconds].
 * - `sub-no-proof`: proofs are required and the SUB carries no proving key.
 * - `sub-limit`: the neighbour already holds `maxSubscriptions` subscriptions.
 * - `sub-table-full`: the table already holds `maxSubscriptions` in all and
 *   the neighbour its fair share of them (spec 09-forwarding.md §7); below
 *   its share, it takes a record from the neighbour holding the most instead.
 */
export const SUBSCRIPTION_DROP_REASONS = [
  'sub-neighbour-limit',
  'sub-denied',
  'sub-not-admitted',
  'sub-rate',
  'sub-proof-invalid',
  'sub-proof-vft',
  'sub-malformed',
  'sub-ttl-invalid',
  'sub-no-proof',
  'sub-limit',
  'sub-table-full',
] as const
export type SubscriptionDropReason = (typeof SUBSCRIPTION_DROP_REASONS)[number]

export interface TableCounters {
  /** Batches passed to `route`. */
  batches: number
  /** Frames passed to `route`, dropped or not. */
  framesIn: number
  /** Sealed bytes passed to `route`. */
  bytesIn: number
  /** Frames sent to at least one neighbour. */
  framesForwarded: number
  /** Copies sent: the sum over forwarded frames of their fan-out. */
  copiesOut: number
  /** Bytes charged for the copies: `copies × (FRAME_OVERHEAD + sealed length)`. */
  bytesOut: number
  /** Frames dropped, by reason. Their sum plus `framesForwarded` is `framesIn`. */
  frameDrops: Record<FrameDropReason, number>
  /** Subscriptions created by a SUB. */
  subscriptionsAdded: number
  /** Subscriptions whose TTL and flags a SUB renewed. */
  subscriptionsRefreshed: number
  /** Subscriptions removed by an UNSUB that cleared all their flags. */
  subscriptionsRemoved: number
  /** Subscriptions removed by `expire` when their TTL ran out. */
  subscriptionsExpired: number
  /** Subscriptions removed because their neighbour left, was denied or lost admission. */
  subscriptionsEvicted: number
  /**
   * Subscriptions removed from a full table to make room for a neighbour
   * below its fair share: the least recently renewed of the neighbour
   * holding the most (spec 09-forwarding.md §7).
   */
  subscriptionsDisplaced: number
  /** Subscription entries refused, by reason. */
  subscriptionDrops: Record<SubscriptionDropReason, number>
  /**
   * Proof checks refused because the table-wide proof-check budget was
   * spent (and the neighbour's quiet allowance too); their entries count
   * as `sub-rate` (spec 09-forwarding.md §7).
   */
  proofChecksOverBudget: number
}

/** Fresh counters, all zero. */
export function createCounters(): TableCounters {
  const frameDrops = {} as Record<FrameDropReason, number>
  for (const reason of FRAME_DROP_REASONS) frameDrops[reason] = 0
  const subscriptionDrops = {} as Record<SubscriptionDropReason, number>
  for (const reason of SUBSCRIPTION_DROP_REASONS) subscriptionDrops[reason] = 0
  return {
    batches: 0,
    framesIn: 0,
    bytesIn: 0,
    framesForwarded: 0,
    copiesOut: 0,
    bytesOut: 0,
    frameDrops,
    subscriptionsAdded: 0,
    subscriptionsRefreshed: 0,
    subscriptionsRemoved: 0,
    subscriptionsExpired: 0,
    subscriptionsEvicted: 0,
    subscriptionsDisplaced: 0,
    subscriptionDrops,
    proofChecksOverBudget: 0,
  }
}
