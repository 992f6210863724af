/**
 * A SUB with a membership proof, end to end (DESIGN.md 5 "Membership
 * proof"; spec 09-forwarding.md §3-4): the cheap checks and the rate limit
 * first, then the Ed25519 signature (@peertap/crypto), then the table binds
 * each proved VFT to the proof's public key. The table itself never
 * verifies anything; this is the one place that does.
 */
import { type MembershipProofRejection, verifyMembershipProof } from '@peertap/crypto'
import { VFT_LENGTH } from './constants.ts'
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
}

export interface AdmitSubscriptionResult extends SubscribeResult {
  /** Why the proof was refused, when it was (`reason` is then `sub-proof-invalid`). */
  proofRejection?: MembershipProofRejection
}

/**
 * Verifies `proof` and subscribes the entries it covers under its public
 * key, with the TTL cut to the proof's expiry. Order: admission and the
 * neighbour's proof-check rate limit (no signature work for a flood),
 * then the proof (malformed, wrong peer, window, expiry, key, signature),
 * then each entry's VFT must be one the proof signs (`sub-proof-vft`),
 * then the table's own subscription checks. Never throws on peer input.
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
  const early = table.chargeProofCheck(neighbour, entries.length, now)
  if (early !== undefined) return refused(early)
  const verdict = verifyMembershipProof({
    proof: params.proof,
    peerId: params.peerId,
    now: Math.floor(now),
  })
  if (!verdict.ok) {
    table.countRefused('sub-proof-invalid', entries.length)
    return { ...refused('sub-proof-invalid'), proofRejection: verdict.reason }
  }
  const { proof } = verdict
  const signed = new Set(proof.vfts.map(hex))
  const covered = entries.filter((e) => e.vft.length === VFT_LENGTH && signed.has(hex(e.vft)))
  const uncovered = entries.length - covered.length
  if (uncovered > 0) table.countRefused('sub-proof-vft', uncovered)
  // A subscription never outlives its proof (DESIGN.md 5: proofs expire with their window).
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

function hex(bytes: Uint8Array): string {
  let out = ''
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0')
  return out
}
