/**
 * The relay's forwarding table as its config asks: closed unless
 * `admission.open`, proofs required if `admission.requireProofs`, the
 * allow and deny lists, table-wide limits, per-peer limits, and no entry
 * rate for the configured relays that pass on their side's SUBs.
 */
import { ForwardingTable, type NeighbourLimits } from '@peertap/relay'
import type { PeerLimitsConfig, RelayConfig } from './config.ts'

/** Limits as the table takes them: omitted rates unlimited, omitted bursts one second of the rate. */
export function tableLimits(limits: PeerLimitsConfig): Partial<NeighbourLimits> {
  const out: Partial<NeighbourLimits> = {}
  if (limits.maxSubscriptions !== undefined) out.maxSubscriptions = limits.maxSubscriptions
  const rate = (
    perSecond: number | undefined,
    burst: number | undefined,
    rateKey:
      | 'framesPerSecond'
      | 'bytesPerSecond'
      | 'proofChecksPerSecond'
      | 'subscriptionEntriesPerSecond',
    burstKey: 'frameBurst' | 'byteBurst' | 'proofCheckBurst' | 'subscriptionEntryBurst',
  ) => {
    if (perSecond === undefined) return
    out[rateKey] = perSecond
    out[burstKey] = burst ?? perSecond
  }
  rate(limits.framesPerSecond, limits.frameBurst, 'framesPerSecond', 'frameBurst')
  rate(limits.bytesPerSecond, limits.byteBurst, 'bytesPerSecond', 'byteBurst')
  rate(
    limits.proofChecksPerSecond,
    limits.proofCheckBurst,
    'proofChecksPerSecond',
    'proofCheckBurst',
  )
  rate(
    limits.subscriptionEntriesPerSecond,
    limits.subscriptionEntryBurst,
    'subscriptionEntriesPerSecond',
    'subscriptionEntryBurst',
  )
  return out
}

/** The table, its access lists and its limits, from the config. */
export function relayTable(config: RelayConfig): ForwardingTable {
  const { admission, limits } = config
  const table = new ForwardingTable({
    requireProofs: admission.requireProofs,
    // Closed unless the config says open (docs/spec/14-roles.md §14.3).
    admitByDefault: admission.open,
    limits: tableLimits(limits),
    ...(limits.maxTableSubscriptions === undefined
      ? {}
      : { maxSubscriptions: limits.maxTableSubscriptions }),
    ...(limits.maxNeighbours === undefined ? {} : { maxNeighbours: limits.maxNeighbours }),
    ...(limits.maxSealedLength === undefined ? {} : { maxSealedLength: limits.maxSealedLength }),
    ...(limits.maxTtlSeconds === undefined ? {} : { maxTtlSeconds: limits.maxTtlSeconds }),
    // What many identities together may make the relay verify (spec 09 §9.7).
    ...(limits.proofCheckBudgetPerSecond === 0
      ? {}
      : {
          proofCheckBudget: {
            perSecond: limits.proofCheckBudgetPerSecond,
            burst: limits.proofCheckBudgetPerSecond,
          },
        }),
  })
  for (const id of [...admission.allow, ...admission.relays]) table.setAccess(id, 'allow')
  for (const id of admission.deny) table.setAccess(id, 'deny')
  // Configured relays pass on their side's SUBs: no entry rate unless their peerLimits set one.
  const unlimitedEntries = {
    subscriptionEntriesPerSecond: Number.POSITIVE_INFINITY,
    subscriptionEntryBurst: Number.POSITIVE_INFINITY,
  }
  for (const id of admission.relays) {
    table.setLimits(id, { ...unlimitedEntries, ...tableLimits(config.peerLimits[id] ?? {}) })
  }
  for (const [id, peerLimits] of Object.entries(config.peerLimits)) {
    if (admission.relays.includes(id)) continue
    table.setLimits(id, tableLimits(peerLimits))
  }
  return table
}
