/**
 * Commits on a node (docs/spec/11-mls.md §11.3, §11.4, §11.7): the
 * committer's adds and removals and what follows every commit it makes
 * (the commit sent inside the VLAN, or point to point when too large for
 * one frame; the Welcome; the new epoch held or switched at once; the
 * acks awaited, the silent members sent the commit again), and a
 * member's side: a commit received, applied, acknowledged; acks and
 * `switch` from inside the VLAN.
 */
import { resendSince } from './catch-up.ts'
import type { EpochChangeAction } from './epoch-change.ts'
import { MlsError } from './errors.ts'
import { requestCatchUp, sendLog } from './vlan-catch-up.ts'
import { equal, toHex, type Vlan, type VlanContext } from './vlan-context.ts'
import { ack, expectAcks, promote, promotePending, removed, switchNow } from './vlan-epochs.ts'
import type { Reply } from './vlan-ports.ts'
import { adoptMembership, followOwner } from './vlan-records.ts'
import { decodeVlanControl, encodeVlanControl, type MlsControlMessage } from './vlan-wire.ts'

/**
 * A commit bundle up to this size goes inside the VLAN as one kind-2 frame;
 * a larger one goes point to point to each member (CONTROL catch-up
 * `0x03`, in fragments), §11.4.
 */
export const MAX_IN_VLAN_COMMIT_BYTES = 60_000

/**
 * Sends a commit to every member: inside the VLAN as one frame if it fits,
 * else point to point to each member this node has a link to (and those
 * the commit removes, so they learn they are out).
 */
export function sendCommit(
  ctx: VlanContext,
  vlan: Vlan,
  bundle: Uint8Array,
  removedPeers: readonly string[] = [],
): void {
  vlan.counters.commitsSent++
  if (bundle.length <= MAX_IN_VLAN_COMMIT_BYTES) {
    ctx.ports.sendInVlan(vlan.name, encodeVlanControl({ type: 'commit', bundle }))
    return
  }
  const group = vlan.group!
  const message: MlsControlMessage = { type: 'catch-up-commit', vlanId: vlan.vlanId, bundle }
  const self = group.members().find((m) => m.leafIndex === group.leafIndex)
  const peers = new Set([...group.members().map((m) => ctx.peerText(m.peerId)), ...removedPeers])
  if (self !== undefined) peers.delete(ctx.peerText(self.peerId))
  for (const peer of peers) if (ctx.ports.isUp(peer)) ctx.ports.send(peer, message)
}

/**
 * The committer after an add or update commit: hold the new epoch, tell
 * everyone, wait for acks. The Welcome goes to the joiner by `reply` if
 * given (an invitation's join request is answered on its own channel),
 * else on the joiner's link.
 */
export async function afterAddOrUpdate(
  ctx: VlanContext,
  vlan: Vlan,
  bundle: Uint8Array,
  welcome: Uint8Array | undefined,
  joiner: string | undefined,
  reply?: Reply,
): Promise<void> {
  const group = vlan.group!
  const keys = group.epochKeys()
  const startedAt = ctx.now
  ctx.ports.sw.prepareEpoch(vlan.name, keys)
  await ctx.ports.refresh()
  sendCommit(ctx, vlan, bundle)
  if (welcome !== undefined && joiner !== undefined) {
    const message = { type: 'welcome', vlanId: vlan.vlanId, welcome } as const
    const sent =
      reply !== undefined
        ? reply(message)
        : ctx.ports.hasLink(joiner) && ctx.ports.send(joiner, message)
    if (sent) {
      vlan.counters.welcomesSent++
      ctx.log('info', { vlan: vlan.name, joiner, bytes: welcome.length }, 'Welcome sent')
    }
  }
  const epoch = keys.epoch
  vlan.epochs.committed = epoch
  vlan.epochs.hold(epoch, startedAt)
  expectAcks(ctx, vlan, epoch, joiner, true)
}

/** The committer after a removal: `removedPeers` are those it removes (they learn it from the commit too). */
export async function afterRemoval(
  ctx: VlanContext,
  vlan: Vlan,
  bundle: Uint8Array,
  epoch: number,
  removedPeers: readonly string[],
): Promise<void> {
  const group = vlan.group!
  // Sealed under the epoch being left, which the members still hold.
  sendCommit(ctx, vlan, bundle, removedPeers)
  vlan.epochs.committed = epoch
  switchNow(ctx, vlan, group)
  await ctx.ports.refresh()
  expectAcks(ctx, vlan, epoch, undefined, false)
}

/**
 * The committer adds `peer` from its key package (in the VLAN's queue), if
 * admitted and not a member yet; the Welcome goes by `reply` if given.
 * Resolves to whether it added it.
 */
export function addMember(
  ctx: VlanContext,
  vlan: Vlan,
  peer: string,
  keyPackage: Uint8Array,
  reply?: Reply,
): Promise<boolean> {
  return ctx.run(vlan, async () => {
    const group = vlan.group!
    const bytes = ctx.ports.peerIdBytes(peer)
    if (group.members().some((m) => equal(m.peerId, bytes))) return false
    if (!vlan.admitted.has(peer)) return false
    promotePending(ctx, vlan)
    const out = await group.addMembers({ keyPackages: [{ keyPackage, from: bytes }] })
    vlan.heldKeyPackages.delete(peer)
    if (out.welcome !== undefined) vlan.welcomes.set(peer, { keyPackage, welcome: out.welcome })
    await afterAddOrUpdate(ctx, vlan, out.bundle, out.welcome, peer, reply)
    ctx.log('info', { vlan: vlan.name, peer, epoch: Number(out.epoch) }, 'member added')
    return true
  })
}

/** The committer removes `peer` (in the VLAN's queue): new keys at once, the old epoch dropped. */
export async function commitRemoval(ctx: VlanContext, vlan: Vlan, peer: string): Promise<void> {
  const group = vlan.group!
  const bytes = ctx.ports.peerIdBytes(peer)
  if (!group.members().some((m) => equal(m.peerId, bytes))) return
  promotePending(ctx, vlan)
  const out = await group.removeMembers({ peerIds: [bytes] })
  await afterRemoval(ctx, vlan, out.bundle, Number(out.epoch), [peer])
  ctx.log('info', { vlan: vlan.name, peer, epoch: Number(out.epoch) }, 'member removed')
}

/** Carries out what the epoch-change machine asks for. */
export function act(ctx: VlanContext, vlan: Vlan, action: EpochChangeAction): void {
  if (action.type === 'promote') {
    ctx
      .run(vlan, async () => promote(ctx, vlan, action.epoch, action.why))
      .catch((error: unknown) =>
        ctx.log('debug', { vlan: vlan.name, err: (error as Error).message }, 'not promoted'),
      )
  } else if (action.type === 'resend') {
    const group = vlan.group
    if (group === undefined) return
    // One pass over the members (a group may have thousands).
    const byLeaf = new Map(group.members().map((m) => [m.leafIndex, m.peerId]))
    for (const leaf of action.leaves) {
      const peerId = byLeaf.get(leaf)
      if (peerId === undefined) continue
      const peer = ctx.peerText(peerId)
      if (!ctx.ports.hasLink(peer)) continue
      sendLog(ctx, vlan, peer, resendSince(action.epoch))
      vlan.counters.commitsResent++
    }
  } else {
    ctx.ports.sw.dropPreviousEpoch(vlan.name)
    void ctx.ports.refresh()
  }
}

/** A commit from the committer (run in the VLAN's queue): applied, then the new epoch held or switched, then acknowledged. */
export async function onCommit(ctx: VlanContext, vlan: Vlan, bundle: Uint8Array): Promise<void> {
  const group = vlan.group!
  if (group.removed) return
  const before = group.members().map((m) => toHex(m.peerId))
  let result: { removed: boolean; updated: boolean; newOwner: Uint8Array | undefined }
  try {
    result = await group.processCommit({ bundle })
  } catch (error) {
    if (error instanceof MlsError && error.code === 'mls-replayed') return
    if (error instanceof MlsError && error.code === 'mls-gap') {
      requestCatchUp(ctx, vlan)
      return
    }
    throw error
  }
  // Only an authentic commit: a held epoch takes effect before this one's.
  promotePending(ctx, vlan)
  vlan.counters.commitsApplied++
  if (result.removed) return removed(ctx, vlan)
  if (result.updated) {
    vlan.wantUpdate = false
    vlan.counters.updatesApplied++
    ctx.log('info', { vlan: vlan.name, epoch: Number(group.epoch) }, 'own update applied')
  } else if (vlan.wantUpdate) {
    // The commit left the epoch without this member's update: propose it in the new one.
    vlan.lastUpdateSentAt = 0
  }
  const after = new Set(group.members().map((m) => toHex(m.peerId)))
  const removal = before.some((p) => !after.has(p))
  // A transfer (§12): this node may have become the owner, or learnt of a new one.
  if (result.newOwner !== undefined) await followOwner(ctx, vlan)
  else if (vlan.isOwner) await adoptMembership(ctx, vlan, before, after)
  if (removal) {
    // Security first: the new keys at once, the old epoch dropped at once.
    switchNow(ctx, vlan, group)
    await ctx.ports.refresh()
    ack(ctx, vlan)
    ctx.log('info', { vlan: vlan.name, epoch: Number(group.epoch) }, 'removal applied')
    return
  }
  // An add or update: hold the new epoch for receiving, subscribe, then acknowledge.
  const keys = group.epochKeys()
  ctx.ports.sw.prepareEpoch(vlan.name, keys)
  await ctx.ports.refresh()
  ack(ctx, vlan)
  vlan.epochs.hold(keys.epoch, ctx.now)
  ctx.wake()
}

/** A commit too large for a frame (CONTROL catch-up `0x03`): handled as if it had come inside the VLAN. */
export async function onLargeCommit(
  ctx: VlanContext,
  vlan: Vlan,
  bundle: Uint8Array,
  peer: string,
): Promise<void> {
  // Sent point to point by the committer: the owner, an admin, or a member
  // that became the owner by a transfer this node has not processed yet
  // (the group checks who may commit).
  if (peer !== vlan.ownerPeerId && !vlan.admins.has(peer) && !ctx.isMember(vlan, peer)) {
    vlan.counters.commitsRefused++
    return
  }
  await ctx
    .run(vlan, () => onCommit(ctx, vlan, bundle))
    .catch((error: unknown) => {
      vlan.counters.commitsRefused++
      throw error
    })
}

/** A kind-2 plaintext of an MLS VLAN (from the switch): a commit, an ack or `switch`. */
export function onInVlan(ctx: VlanContext, vlan: Vlan, body: Uint8Array): void {
  const decoded = decodeVlanControl(body)
  if (!decoded.ok) {
    // A commit without a bundle is still a refused commit.
    if (decoded.error.reason === 'empty' && vlan.group !== undefined) vlan.counters.commitsRefused++
    return
  }
  const message = decoded.message
  if (message.type === 'commit') {
    // The owner too: an admin commits under a lease (the group checks it).
    if (vlan.group === undefined) return
    ctx
      .run(vlan, () => onCommit(ctx, vlan, message.bundle))
      .catch((error: unknown) => {
        vlan.counters.commitsRefused++
        ctx.log('warn', { vlan: vlan.name, err: (error as Error).message }, 'commit refused')
      })
  } else if (message.type === 'ack') {
    // Whoever committed last collects the acks.
    vlan.counters.acksReceived++
    const action = vlan.epochs.ack(Number(message.epoch), message.leafIndex)
    if (action?.type === 'promote') act(ctx, vlan, action)
  } else {
    act(ctx, vlan, { type: 'promote', epoch: Number(message.epoch), why: 'owner switched' })
  }
}
