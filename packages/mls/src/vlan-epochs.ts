/**
 * The switch's keys following the group (docs/spec/11-mls.md §11.7): what
 * the node does when `epoch-change.ts` says an epoch takes effect, when a
 * member acknowledges, and when a removal (or a catch-up, or a join)
 * moves it at once; a member removed from the group holds keys nobody
 * else holds and gets ready to be added again.
 */
import type { PromoteReason } from './epoch-change.ts'
import type { VlanGroup } from './group.ts'
import { equal, noKeys, type Vlan, type VlanContext } from './vlan-context.ts'
import { newKeyPackage } from './vlan-records.ts'
import { encodeVlanControl } from './vlan-wire.ts'

/** Sends under a held next epoch (acks in, or 2 s passed); the previous one settles, then goes. */
export function promote(ctx: VlanContext, vlan: Vlan, epoch: number, why: PromoteReason): void {
  if (vlan.epochs.held === epoch) {
    vlan.epochs.release(epoch, ctx.now)
    vlan.counters.lastSwitchMs = vlan.epochs.lastSwitchMs
  }
  const group = vlan.group
  if (group === undefined || group.removed || Number(group.epoch) !== epoch) return
  if (ctx.ports.sw.epochsOf(vlan.name).next !== epoch) return
  ctx.ports.sw.setEpoch(vlan.name, group.epochKeys())
  if (vlan.epochs.committed === epoch)
    ctx.ports.sendInVlan(vlan.name, encodeVlanControl({ type: 'switch', epoch: BigInt(epoch) }))
  vlan.epochs.settle(ctx.now)
  ctx.wake()
  void ctx.ports.refresh()
  ctx.log(
    'info',
    { vlan: vlan.name, epoch, why, switchMs: vlan.counters.lastSwitchMs },
    'sending under new epoch',
  )
}

/** Before another commit: a held epoch takes effect now. */
export function promotePending(ctx: VlanContext, vlan: Vlan): void {
  const next = ctx.ports.sw.epochsOf(vlan.name).next
  if (next !== undefined) promote(ctx, vlan, next, 'next commit')
}

/** A removal (or a catch-up, or a join): the new epoch for sending and receiving at once, the old one gone at once. */
export function switchNow(ctx: VlanContext, vlan: Vlan, group: VlanGroup): void {
  vlan.epochs.switchNow()
  ctx.ports.sw.setEpoch(vlan.name, group.epochKeys())
  ctx.ports.sw.dropPreviousEpoch(vlan.name)
}

/** Tells the committer this member holds its current epoch (sealed under the epoch it sends under). */
export function ack(ctx: VlanContext, vlan: Vlan): void {
  const group = vlan.group
  if (group === undefined || group.removed) return
  const message = encodeVlanControl({ type: 'ack', epoch: group.epoch, leafIndex: group.leafIndex })
  ctx.ports.sendInVlan(vlan.name, message)
  vlan.counters.acksSent++
}

/**
 * Committer: waits for every member but itself (and a joiner, who has its
 * Welcome) to acknowledge `epoch`. With `promote`, all acks make the
 * epoch take effect for sending. Members that have not acknowledged in
 * time get the commit again, point to point (§11.8).
 */
export function expectAcks(
  ctx: VlanContext,
  vlan: Vlan,
  epoch: number,
  joiner: string | undefined,
  promoteAfter: boolean,
): void {
  const group = vlan.group!
  const joinerBytes = joiner === undefined ? undefined : ctx.ports.peerIdBytes(joiner)
  const waiting = group
    .members()
    .filter(
      (m) =>
        m.leafIndex !== group.leafIndex &&
        (joinerBytes === undefined || !equal(m.peerId, joinerBytes)),
    )
    .map((m) => m.leafIndex)
  const action = vlan.epochs.expectAcks(epoch, waiting, ctx.now, promoteAfter)
  if (action?.type === 'promote') promote(ctx, vlan, action.epoch, action.why)
  ctx.wake()
}

/**
 * This member was removed: keys nobody else holds (the VLAN seals and
 * opens nothing the group accepts), then a fresh key package, joining
 * again (the owner admits it only if told to).
 */
export async function removed(ctx: VlanContext, vlan: Vlan): Promise<void> {
  vlan.epochs.switchNow()
  vlan.state = 'removed'
  vlan.counters.removed++
  ctx.ports.sw.setEpoch(vlan.name, noKeys())
  ctx.ports.sw.dropPreviousEpoch(vlan.name)
  await ctx.ports.refresh()
  ctx.log('warn', { vlan: vlan.name }, 'removed from the VLAN by its owner')
  vlan.group = undefined
  await newKeyPackage(ctx, vlan, true)
  vlan.state = 'joining'
  vlan.lastKeyPackageAt = ctx.now
}
