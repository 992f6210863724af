/**
 * The node's commands on an MLS VLAN (`vlan add / remove / update /
 * lease / transfer`, leaving; docs/spec/11-mls.md §4, §5, §11.5, §12) and the config's periodic
 * self-update: the owner, or an admin under a lease, commits; another
 * member proposes to them. Each sets the context's time to `now` first,
 * as every entry point does.
 */
import { due } from './allowances.ts'
import { MlsError } from './errors.ts'
import { addMember, afterAddOrUpdate, commitRemoval } from './vlan-commits.ts'
import type { Vlan, VlanContext } from './vlan-context.ts'
import { promotePending } from './vlan-epochs.ts'
import { proposeUpdate, sendProposal } from './vlan-proposals.ts'
import { admit, followOwner, forget, storeChanges } from './vlan-records.ts'

/**
 * Owner: admits `peer`; adds it at once if its key package is here, else
 * when it arrives. Admin under a lease: adds it from the key package it
 * sent here. Other members: propose the add to the owner (with that key
 * package), who commits it if its config lists this member as a proposer.
 */
export async function add(
  ctx: VlanContext,
  vlanName: string | undefined,
  peer: string,
  now: number,
): Promise<unknown> {
  ctx.now = now
  const vlan = ctx.vlan(vlanName)
  const bytes = ctx.ports.peerIdBytes(peer) // a PeerId, or throws
  if (!vlan.isOwner) {
    const group = ctx.memberGroup(vlan)
    const keyPackage = vlan.heldKeyPackages.get(peer)
    if (keyPackage === undefined) {
      throw new Error(
        `no key package from ${peer} here (a joiner sends it to the owner and to the admins its config names)`,
      )
    }
    if (group.canCommit()) {
      vlan.admitted.add(peer)
      await addMember(ctx, vlan, peer, keyPackage)
      return { vlan: vlan.name, peer, committed: 'add', ...ctx.summary(vlan) }
    }
    const proposal = await group.propose({ add: { keyPackage, from: bytes } })
    sendProposal(ctx, vlan, proposal)
    return { vlan: vlan.name, peer, proposed: 'add', ...ctx.summary(vlan) }
  }
  admit(vlan, peer)
  await storeChanges(ctx, vlan)
  const kp = vlan.heldKeyPackages.get(peer)
  if (kp !== undefined) await addMember(ctx, vlan, peer, kp)
  return { vlan: vlan.name, peer, admitted: true, ...ctx.summary(vlan) }
}

/**
 * Owner: removes `peer` and stops admitting it. Admin under a lease:
 * removes it. Other members: propose it to the owner (leaving, if `peer`
 * is this node; removing another only if the owner's config lists this
 * member as a proposer).
 */
export async function remove(
  ctx: VlanContext,
  vlanName: string | undefined,
  peer: string,
  now: number,
): Promise<unknown> {
  ctx.now = now
  const vlan = ctx.vlan(vlanName)
  const bytes = ctx.ports.peerIdBytes(peer)
  if (!vlan.isOwner) {
    const group = ctx.memberGroup(vlan)
    if (group.canCommit() && peer !== ctx.selfPeerId()) {
      await ctx.run(vlan, () => commitRemoval(ctx, vlan, peer))
      return { vlan: vlan.name, peer, committed: 'remove', ...ctx.summary(vlan) }
    }
    const proposal = await group.propose({ remove: bytes })
    sendProposal(ctx, vlan, proposal)
    return { vlan: vlan.name, peer, proposed: 'remove', ...ctx.summary(vlan) }
  }
  await forget(ctx, vlan, peer)
  await ctx.run(vlan, () => commitRemoval(ctx, vlan, peer))
  return { vlan: vlan.name, peer, removed: true, ...ctx.summary(vlan) }
}

/** What {@link leave} did: whether it sent the proposal, and the epoch it was made in. */
export interface LeaveResult {
  readonly vlan: string
  /** False when this node is not a member (joining, or removed): there was nothing to leave. */
  readonly proposed: boolean
  readonly epoch: number | undefined
}

/**
 * A member leaves: its Remove proposal of itself goes to the owner and the
 * config's admins (as `remove` of itself), who commit it at once and stop
 * admitting it. The node then closes the VLAN (forgetting it). Refused
 * for the owner (`mls-owner-removal`): an owner deletes its VLAN instead,
 * or hands it to another owner first. Rejects if no link to the owner or
 * an admin is up.
 */
export async function leave(ctx: VlanContext, vlanName: string, now: number): Promise<LeaveResult> {
  ctx.now = now
  const vlan = ctx.vlan(vlanName)
  if (vlan.isOwner) {
    throw new MlsError(
      'mls-owner-removal',
      `this node owns VLAN ${vlan.name} and cannot leave it: delete the VLAN, or hand it to another owner first`,
    )
  }
  const group = vlan.group
  if (group === undefined || group.removed || vlan.state !== 'member')
    return { vlan: vlan.name, proposed: false, epoch: undefined }
  // In the queue, so that a close after it waits for it.
  await ctx.run(vlan, async () => {
    const proposal = await group.propose({ remove: ctx.identity.peerId })
    sendProposal(ctx, vlan, proposal)
  })
  ctx.log('info', { vlan: vlan.name, epoch: Number(group.epoch) }, 'leaving: proposal sent')
  return { vlan: vlan.name, proposed: true, epoch: Number(group.epoch) }
}

/**
 * The committer's self-update (owner, or admin under a lease): fresh path
 * secrets, a new epoch, taking effect like an add. A member's: an MLS
 * Update proposal (fresh leaf keys) to the owner, sent again every 2 s
 * and in each new epoch until a commit applies it (11-mls.md §4).
 */
export async function update(
  ctx: VlanContext,
  vlanName: string | undefined,
  now: number,
): Promise<unknown> {
  ctx.now = now
  const vlan = ctx.vlan(vlanName)
  const group = ctx.memberGroup(vlan)
  vlan.lastSelfUpdateAt = now
  if (!vlan.isOwner && !group.canCommit()) {
    vlan.wantUpdate = true
    await ctx.run(vlan, () => proposeUpdate(ctx, vlan))
    return { vlan: vlan.name, proposed: 'update', ...ctx.summary(vlan) }
  }
  await ctx.run(vlan, async () => {
    promotePending(ctx, vlan)
    const out = await group.update()
    await afterAddOrUpdate(ctx, vlan, out.bundle, undefined, undefined)
  })
  return { vlan: vlan.name, updated: true, ...ctx.summary(vlan) }
}

/**
 * Owner: grants `peer` (a member its config names in `admins`) the right
 * to commit for `seconds` (at most a day); the owner itself commits again
 * only once the lease has run out (11-mls.md §5).
 */
export async function lease(
  ctx: VlanContext,
  vlanName: string | undefined,
  peer: string,
  seconds: number,
  now: number,
): Promise<unknown> {
  ctx.now = now
  const vlan = ctx.vlan(vlanName)
  if (!vlan.isOwner) throw new Error(`this node does not own VLAN ${vlan.name}`)
  if (!vlan.admins.has(peer)) throw new Error(`${peer} is not one of the config's admins`)
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > 86_400)
    throw new Error('a lease runs 1 to 86400 seconds')
  if (!ctx.ports.isUp(peer)) throw new Error(`no link to ${peer}`)
  const notBefore = Math.floor(now / 1000)
  const notAfter = notBefore + seconds
  const issued = await ctx.run(vlan, async () => {
    promotePending(ctx, vlan)
    return vlan.group!.issueLease({
      adminPeerId: ctx.ports.peerIdBytes(peer),
      notBefore,
      notAfter,
    })
  })
  vlan.counters.leasesIssued++
  ctx.ports.send(peer, { type: 'lease', vlanId: vlan.vlanId, lease: issued })
  ctx.log('info', { vlan: vlan.name, admin: peer, notAfter }, 'lease issued')
  return { vlan: vlan.name, admin: peer, notBefore, notAfter }
}

/** What {@link transfer} did. */
export interface TransferResult {
  readonly vlan: string
  /** The new owner (PeerId text). */
  readonly owner: string
  /** The owner before (this node). */
  readonly previousOwner: string
  /** The epoch the transfer commit started. */
  readonly epoch: number
}

/**
 * Owner: hands the VLAN to `newOwner`, a member (11-mls.md §12.2): the
 * transfer commit is stored, this node follows the new owner (it stops
 * admitting), and the commit goes out as an update's does (held, acks,
 * `switch`). Refused with an MlsError on a non-owner (`mls-not-committer`)
 * and for a non-member (`mls-membership`).
 */
export async function transfer(
  ctx: VlanContext,
  vlanName: string,
  newOwner: string,
  now: number,
): Promise<TransferResult> {
  ctx.now = now
  const vlan = ctx.vlan(vlanName)
  if (!vlan.isOwner) {
    throw new MlsError(
      'mls-not-committer',
      `this node does not own VLAN ${vlan.name} (its owner is ${vlan.ownerPeerId}): only the owner transfers it`,
    )
  }
  let bytes: Uint8Array
  try {
    bytes = ctx.ports.peerIdBytes(newOwner)
  } catch (cause) {
    throw new MlsError('mls-membership', `${newOwner} is not a PeerId`, { cause })
  }
  if (newOwner === ctx.selfPeerId()) {
    throw new MlsError('mls-membership', `this node owns VLAN ${vlan.name} already`)
  }
  if (!ctx.isMember(vlan, newOwner)) {
    throw new MlsError('mls-membership', `${newOwner} is not a member of VLAN ${vlan.name}`)
  }
  const group = ctx.memberGroup(vlan)
  const previousOwner = vlan.ownerPeerId
  const epoch = await ctx.run(vlan, async () => {
    promotePending(ctx, vlan)
    const out = await group.transfer({ newOwnerPeerId: bytes })
    await followOwner(ctx, vlan)
    await afterAddOrUpdate(ctx, vlan, out.bundle, undefined, undefined)
    return Number(out.epoch)
  })
  return { vlan: vlan.name, owner: newOwner, previousOwner, epoch }
}

/**
 * The config's `updateSeconds`: a self-update that often (a commit on the
 * owner or a leased admin, an Update proposal on a member).
 */
export function periodicUpdate(ctx: VlanContext, vlan: Vlan): void {
  if (vlan.updateEveryMs === undefined || vlan.state !== 'member' || vlan.wantUpdate) return
  const group = vlan.group
  if (group === undefined || group.removed) return
  // The owner while its lease runs cannot commit: it waits.
  if (vlan.isOwner && !group.canCommit()) return
  if (!due(vlan.lastSelfUpdateAt, vlan.updateEveryMs, ctx.now)) return
  vlan.counters.periodicUpdates++
  update(ctx, vlan.name, ctx.now).catch((error: unknown) =>
    ctx.log('warn', { vlan: vlan.name, err: (error as Error).message }, 'periodic update'),
  )
}
