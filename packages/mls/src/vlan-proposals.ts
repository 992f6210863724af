/**
 * Proposals and leases (docs/spec/11-mls.md §5, §11.5): a member sends its
 * proposals (its own update, resent until applied; leaving; adds and
 * removals of others) to the owner and the config's admins; the committer
 * takes them within each peer's allowance (`allowances.ts`), records them
 * with its policy (`proposers`) and commits at once; an admin accepts the
 * owner's lease.
 */
import { MlsError } from './errors.ts'
import type { ProposalSummary, VlanGroup } from './group.ts'
import { afterAddOrUpdate, afterRemoval } from './vlan-commits.ts'
import { fromHex, toHex, type Vlan, type VlanContext } from './vlan-context.ts'
import { promotePending } from './vlan-epochs.ts'
import { admit, forget, storeChanges } from './vlan-records.ts'
import type { MlsControlMessage } from './vlan-wire.ts'

/**
 * Sends a member's proposal to the owner and to the config's admins:
 * only one of them can commit at a time (the owner, or the admin holding
 * a lease while the owner is away), the others drop it.
 */
export function sendProposal(ctx: VlanContext, vlan: Vlan, proposal: Uint8Array): void {
  const message: MlsControlMessage = { type: 'proposal', vlanId: vlan.vlanId, proposal }
  let sent = 0
  for (const peer of new Set([vlan.ownerPeerId, ...vlan.admins])) {
    if (peer === ctx.selfPeerId()) continue
    if (ctx.ports.isUp(peer) && ctx.ports.send(peer, message)) sent++
  }
  if (sent === 0) throw new Error(`no link to the owner ${vlan.ownerPeerId} or an admin`)
  vlan.counters.proposalsSent++
}

/** Member: (re)sends its Update proposal for the current epoch (the same one within an epoch). */
export async function proposeUpdate(ctx: VlanContext, vlan: Vlan): Promise<void> {
  const group = vlan.group
  if (!vlan.wantUpdate || group === undefined || group.removed) return
  vlan.lastUpdateSentAt = ctx.now
  const proposal = await group.proposeUpdate()
  sendProposal(ctx, vlan, proposal)
}

/**
 * Committer: a member's proposal. Its own update and leaving are always
 * accepted; adds and removals of others only from the config's
 * proposers. Committed at once, with the same epoch timing as the
 * committer's own operations.
 */
export async function onProposal(
  ctx: VlanContext,
  vlan: Vlan,
  message: Uint8Array,
  peer: string,
): Promise<void> {
  const group = vlan.group
  if (group === undefined || group.removed || !group.canCommit()) {
    vlan.counters.proposalsRefused++
    return
  }
  // Each proposal costs a commit (and every member its processing): an
  // allowance per peer, checked before the signature. A refused update is
  // sent again by its member (every 2 s until applied).
  if (!vlan.allowances.take(peer, ctx.now)) {
    vlan.counters.proposalsRefused++
    vlan.counters.proposalsRateLimited++
    ctx.log('debug', { vlan: vlan.name, peer }, 'proposal over the rate, refused')
    return
  }
  await ctx.run(vlan, async () => {
    let summary: ProposalSummary
    try {
      summary = await group.receiveProposal({
        message,
        policy: (p) => vlan.proposers.has(ctx.peerText(p.proposer)),
      })
    } catch (error) {
      // The same update proposal again (resent before the commit reached its maker).
      if (error instanceof MlsError && error.code === 'mls-replayed') return
      vlan.counters.proposalsRefused++
      throw error
    }
    // An authentic proposal: a held epoch takes effect before the next commit.
    promotePending(ctx, vlan)
    const subject = ctx.peerText(summary.subject)
    const before = group.members().map((m) => toHex(m.peerId))
    // Stored before the commit, as `remove` does: a crash between the two
    // must not leave the removed peer admitted.
    if (vlan.isOwner && summary.kind === 'remove') await forget(ctx, vlan, subject)
    let out: Awaited<ReturnType<VlanGroup['commitPending']>>
    try {
      out = await group.commitPending()
    } catch (error) {
      await group.discardProposals()
      throw error
    }
    vlan.counters.proposalsCommitted++
    const after = new Set(group.members().map((m) => toHex(m.peerId)))
    ctx.log(
      'info',
      { vlan: vlan.name, kind: summary.kind, proposer: peer, subject, epoch: Number(out.epoch) },
      'proposal committed',
    )
    if (vlan.isOwner && summary.kind === 'add') {
      admit(vlan, subject)
      await storeChanges(ctx, vlan)
    }
    const gone = before.filter((p) => !after.has(p))
    if (gone.length > 0) {
      const peers = gone.map((p) => ctx.peerText(fromHex(p)))
      await afterRemoval(ctx, vlan, out.bundle, Number(out.epoch), peers)
      return
    }
    const joiner = out.welcome !== undefined ? subject : undefined
    await afterAddOrUpdate(ctx, vlan, out.bundle, out.welcome, joiner)
  })
}

/** Admin: a lease from the owner; the group verifies it and stores it. */
export async function onLease(
  ctx: VlanContext,
  vlan: Vlan,
  lease: Uint8Array,
  peer: string,
): Promise<void> {
  if (vlan.isOwner || peer !== vlan.ownerPeerId) return
  const group = vlan.group
  if (group === undefined || group.removed) return
  await ctx.run(vlan, () => group.acceptLease({ lease }))
  vlan.counters.leasesAccepted++
  ctx.log('info', { vlan: vlan.name }, 'lease accepted: this node may commit while it runs')
}
