/**
 * A SUB with a membership proof, end to end (docs/design.md §5 "Membership
 * proof"; spec 09-forwarding.md §3-4): admission, the proof's cheap checks,
 * then, unless the proof was verified before (a ProofVerifier's cache), the
 * rate limit and the Ed25519 signature (@peertap/crypto); then the table
 * binds each proved VFT to the proof's public key. The table itself never
 * verifies anything; this is the one place that does.
 */
import {
  type MembershipProofRejection,
  ProofVerifier,
  type ProofVerifierVerdict,
} from '@peertap/crypto'
import { VFT_LENGTH } from './constants.ts'
import type { SubscriptionDropReason } from './counters.ts'
import type { ForwardingTable, SubscribeResult, SubscriptionEntry } from './table.ts'

export interface AdmitSubscriptionParams {
  /** The neighbour the SUB came from (its PeerId string, the table's id for it). */
  readonly neighbour: string
  /**
   * The PeerId (multihash bytes) the proof must speak for: the subscriber's.
   * For a direct neighbour that is the neighbour itself; a relay passing a
   * subscription on sends the original subscriber's PeerId with its proof.
   */
  readonly peerId: Uint8Array
  readonly entries: readonly SubscriptionEntry[]
  readonly ttlSeconds: number
  /** Unix seconds (the proof's clock); fractions are allowed and floored for the proof. */
  readonly now: number
  /** The membership proof as received (spec 07 wire form). */
  readonly proof: Uint8Array
  /**
   * Remembers proofs whose signature verified, so that a SUB renewing a
   * subscription under the same proof is not verified again and costs no
   * proof-check token (spec 09-forwarding.md §3). Keep one per relay and
   * pass it with every SUB. Default: none, every proof is verified.
   */
  readonly verifier?: ProofVerifier
}

export interface AdmitSubscriptionResult extends SubscribeResult {
  /** Why the proof was refused, when it was (`reason` is then `sub-proof-invalid`). */
  proofRejection?: MembershipProofRejection
}

/**
 * Verifies `proof` and subscribes the entries it covers under its public
 * key, with the TTL cut to the proof's expiry. Order (spec 09 §3):
 * admission; the proof's cheap checks (malformed, wrong peer, window,
 * expiry); then, for a proof the verifier has not seen verified, one token
 * of the neighbour's proof-check rate limit (no signature work for a
 * flood) and the key and signature; then each entry's VFT must be one the
 * proof signs (`sub-proof-vft`), then the table's own subscription checks.
 * Never throws on peer input.
 */
export function admitSubscription(
  table: ForwardingTable,
  params: AdmitSubscriptionParams,
): AdmitSubscriptionResult {
  const { neighbour, entries, now } = params
  const refused = (reason: AdmitSubscriptionResult['reason']): AdmitSubscriptionResult => ({
    added: 0,
    refreshed: 0,
    rejected: entries.length,
    ...(reason === undefined || entries.length === 0 ? {} : { reason }),
  })
  const early = table.checkAdmission(neighbour, entries.length, now)
  if (early !== undefined) return refused(early)
  let rate: SubscriptionDropReason | undefined
  // Without a verifier, one that remembers nothing: the same order of checks.
  const verifier = params.verifier ?? new ProofVerifier({ cacheSize: 0 })
  const verdict: ProofVerifierVerdict = verifier.verify({
    proof: params.proof,
    peerId: params.peerId,
    now: Math.floor(now),
    // Only a signature check costs a token: a renewal under a proof verified
    // before is accepted even while the bucket is empty.
    beforeSignature: () => {
      rate = table.chargeProofCheck(neighbour, entries.length, now)
      return rate === undefined
    },
  })
  if (!verdict.ok) {
    if (verdict.reason === 'not-checked') return refused(rate) // counted by chargeProofCheck
    table.countRefused('sub-proof-invalid', entries.length)
    return { ...refused('sub-proof-invalid'), proofRejection: verdict.reason }
  }
  const { proof } = verdict
  const covered = entries.filter((e) => signs(proof.vfts, e.vft))
  const uncovered = entries.length - covered.length
  if (uncovered > 0) table.countRefused('sub-proof-vft', uncovered)
  // A subscription never outlives its proof (spec 07 §4: proofs expire with their window).
  const ttl = Math.min(params.ttlSeconds, proof.expiry - now)
  const result: AdmitSubscriptionResult = table.subscribe(
    neighbour,
    covered,
    ttl,
    now,
    proof.publicKey,
  )
  if (uncovered > 0) {
    result.rejected += uncovered
    result.reason ??= 'sub-proof-vft'
  }
  return result
}

/**
 * Whether `vft` is one of `signed`, which a decoded proof holds strictly
 * ascending (spec 07 §2): a binary search, no strings. A renewal under a
 * cached proof pays this per entry, so it must stay cheap next to the
 * signature it saves: with hex strings in a Set, renewals of 1024 VFTs ran
 * about 600/s, fewer than signature checks; now about 5,000/s.
 */
function signs(signed: readonly Uint8Array[], vft: Uint8Array): boolean {
  if (vft.length !== VFT_LENGTH) return false
  let low = 0
  let high = signed.length - 1
  while (low <= high) {
    const middle = (low + high) >>> 1
    const order = compare(signed[middle]!, vft)
    if (order === 0) return true
    if (order < 0) low = middle + 1
    else high = middle - 1
  }
  return false
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < VFT_LENGTH; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return 0
}
