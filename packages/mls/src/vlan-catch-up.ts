/**
 * Catch-up on a node (docs/spec/11-mls.md §6, §11.8), wired to the
 * machine of `catch-up.ts`: asking the owner (or any neighbour) for the
 * commits since this member's epoch, answering a member from this node's
 * commit log (at most once a second each, nothing for one behind the
 * log), and applying an answer: the newest epoch at once, an answer that
 * does not reach back asked again later each time.
 */
import { catchUpAnswer } from './catch-up.ts'
import { MlsError } from './errors.ts'
import { toHex, type Vlan, type VlanContext } from './vlan-context.ts'
import { ack, removed, switchNow } from './vlan-epochs.ts'
import type { Reply } from './vlan-ports.ts'
import { adoptMembership, followOwner } from './vlan-records.ts'
import type { MlsControlMessage } from './vlan-wire.ts'

/** Asks for the commits since this member's epoch: on `to`, else the owner's link, else any. */
export function requestCatchUp(ctx: VlanContext, vlan: Vlan, to?: Reply): void {
  const group = vlan.group
  if (group === undefined || ctx.stopped) return
  const request: MlsControlMessage = {
    type: 'catch-up-request',
    vlanId: vlan.vlanId,
    since: group.epoch,
  }
  if (to !== undefined) {
    if (to(request)) vlan.counters.catchUpRequests++
    return
  }
  // The owner holds the log; any member would do.
  const peer = ctx.ports.hasLink(vlan.ownerPeerId) ? vlan.ownerPeerId : ctx.ports.anyPeer()
  if (peer !== undefined && ctx.ports.send(peer, request)) vlan.counters.catchUpRequests++
}

/** Sends the commits of epochs `since` on from this node's log (a catch-up answer). */
export function sendLog(
  ctx: VlanContext,
  vlan: Vlan,
  peer: string,
  since: bigint,
  reply: Reply = (m) => ctx.ports.send(peer, m),
): void {
  const group = vlan.group
  if (group === undefined || group.removed) return
  // Commit bundles are MLS PrivateMessages: only members can open them.
  const answer = catchUpAnswer(group.commitLog({ since }), since)
  if (!answer.ok) {
    if (answer.reason === 'too-old') {
      // The asker is behind the start of this log: no answer could help it.
      vlan.counters.catchUpTooOld++
      ctx.log(
        'warn',
        { vlan: vlan.name, peer, since: Number(since) },
        'catch-up request from before the commit log: the member must be added again',
      )
    }
    return
  }
  reply({ type: 'catch-up-answer', vlanId: vlan.vlanId, bundles: answer.bundles })
}

/** A catch-up request: answered only for a member, and not more often than the interval. */
export function onCatchUpRequest(
  ctx: VlanContext,
  vlan: Vlan,
  since: bigint,
  peer: string,
  reply: Reply,
): void {
  if (!ctx.isMember(vlan, peer) || !vlan.catchUp.mayAnswer(peer, ctx.now)) {
    vlan.counters.catchUpRefused++
    return
  }
  sendLog(ctx, vlan, peer, since, reply)
}

/**
 * A catch-up answer, applied in the VLAN's queue (the owner too: it
 * catches up on an admin's commits made while it was away).
 */
export async function onCatchUpAnswer(
  ctx: VlanContext,
  vlan: Vlan,
  bundles: Uint8Array[],
  peer: string,
): Promise<void> {
  await ctx.run(vlan, async () => {
    const group = vlan.group
    if (group === undefined || group.removed) return
    let applied: number
    const beforeCatchUp = group.members().map((m) => toHex(m.peerId))
    try {
      applied = await group.catchUp({ bundles })
    } catch (error) {
      if (error instanceof MlsError && error.code === 'mls-gap') {
        // The answer did not reach back to this epoch: ask again, later
        // each time (at once, it would loop as fast as the answers come).
        if (!ctx.stopped) vlan.catchUp.gap(ctx.now)
        ctx.wake()
        return
      }
      throw error
    }
    if (applied === 0) return
    vlan.catchUp.applied()
    vlan.counters.catchUpApplied += applied
    // A transfer among the commits (§12): follow the group's owner first.
    if (!group.removed) await followOwner(ctx, vlan)
    if (vlan.isOwner)
      await adoptMembership(
        ctx,
        vlan,
        beforeCatchUp,
        new Set(group.members().map((m) => toHex(m.peerId))),
      )
    ctx.log(
      'info',
      { vlan: vlan.name, applied, epoch: Number(group.epoch), from: peer },
      'caught up',
    )
    if (group.removed) return removed(ctx, vlan)
    switchNow(ctx, vlan, group)
    await ctx.ports.refresh()
    ack(ctx, vlan)
  })
}
