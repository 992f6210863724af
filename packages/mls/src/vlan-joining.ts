/**
 * Joining (docs/spec/11-mls.md §11.5): a joining member sends its key
 * package to the owner and the config's admins (on link up and every 3 s
 * until a Welcome comes) and joins by the Welcome of one of them; the
 * owner adds a key package from a peer it admits, keeps the others
 * (bounded) for `vlan add`, and sends the same Welcome again to a member
 * still sending the key package it was added with; an admin keeps them
 * for `vlan add` under a lease.
 *
 * Joining by invitation (docs/spec/15-invitations.md): a joiner whose
 * config has the `sendKeyPackage` hook hands its key package to the hook,
 * for the owner only, at the same moments; the owner's node, having
 * checked the invitation, calls {@link admitJoiner}, which admits the
 * joiner and takes its key package as one received on channel 1 from it.
 */
import { holdKeyPackage } from './allowances.ts'
import { MlsError } from './errors.ts'
import { joinVlanGroup, verifyKeyPackage } from './group.ts'
import { requestCatchUp } from './vlan-catch-up.ts'
import { addMember, commitRemoval } from './vlan-commits.ts'
import { equal, type Vlan, type VlanContext } from './vlan-context.ts'
import { switchNow } from './vlan-epochs.ts'
import type { Reply } from './vlan-ports.ts'
import { admit, clearKeyPackage, storeChanges } from './vlan-records.ts'
import type { MlsControlMessage } from './vlan-wire.ts'

/**
 * A joining member sends its key package to `peer` (the owner or an
 * admin): on channel 1 by `send`, or, with the config's `sendKeyPackage`
 * hook, through the hook and to the owner only.
 */
export function sendKeyPackage(ctx: VlanContext, vlan: Vlan, peer: string, send: Reply): void {
  const kp = vlan.keyPackage
  if (kp === undefined) return
  const hook = vlan.sendKeyPackage
  if (hook !== undefined && peer !== vlan.ownerPeerId) return
  vlan.lastKeyPackageAt = ctx.now
  if (hook === undefined) {
    const message: MlsControlMessage = {
      type: 'key-package',
      vlanId: vlan.vlanId,
      keyPackage: kp.keyPackage,
    }
    if (send(message)) vlan.counters.keyPackagesSent++
    return
  }
  const notSent = (error: unknown) =>
    ctx.log('warn', { vlan: vlan.name, err: (error as Error).message }, 'join request not sent')
  let sent: boolean | Promise<boolean>
  try {
    sent = hook(peer, vlan.vlanId, kp.keyPackage)
  } catch (error) {
    notSent(error)
    return
  }
  if (typeof sent === 'boolean') {
    if (sent) vlan.counters.keyPackagesSent++
    return
  }
  sent.then((ok) => {
    if (ok) vlan.counters.keyPackagesSent++
  }, notSent)
}

/** The owner (or an admin) sends a member the Welcome it was added with again, if `keyPackage` is the one it was added by. */
function welcomeAgain(vlan: Vlan, peer: string, keyPackage: Uint8Array, reply: Reply): boolean {
  const sent = vlan.welcomes.get(peer)
  if (sent === undefined || !equal(sent.keyPackage, keyPackage)) return false
  const welcome = { type: 'welcome', vlanId: vlan.vlanId, welcome: sent.welcome } as const
  if (reply(welcome)) vlan.counters.welcomesResent++
  return true
}

/** A key package from `peer`: the owner adds it, answers it with the Welcome again, or keeps it; an admin keeps it. */
export async function onKeyPackage(
  ctx: VlanContext,
  vlan: Vlan,
  keyPackage: Uint8Array,
  peer: string,
  reply: Reply,
): Promise<void> {
  if (!vlan.isOwner) {
    // An admin (the joiner's config names it): kept for `vlan add` under a lease.
    if (vlan.state !== 'member') return
    vlan.counters.keyPackagesReceived++
    holdKeyPackage(vlan.heldKeyPackages, peer, keyPackage)
    return
  }
  vlan.counters.keyPackagesReceived++
  if (ctx.isMember(vlan, peer)) {
    // A member still sending the key package it was added with lost its Welcome.
    welcomeAgain(vlan, peer, keyPackage, reply)
    return
  }
  if (!vlan.admitted.has(peer)) {
    vlan.counters.keyPackagesRefused++
    // Kept (bounded) so that `vlan add` can add it at once.
    holdKeyPackage(vlan.heldKeyPackages, peer, keyPackage)
    ctx.log('info', { vlan: vlan.name, peer }, 'key package from a peer not admitted')
    return
  }
  try {
    await addMember(ctx, vlan, peer, keyPackage)
  } catch (error) {
    vlan.counters.keyPackagesRefused++
    throw error
  }
}

/**
 * What {@link admitJoiner} did: `added` (the Add committed, the Welcome
 * sent by `reply`), `again` (the joiner is a member by this very key
 * package, its Welcome was lost: sent again), `member` (a member already,
 * by another key package: nothing done).
 */
export type AdmitOutcome = 'added' | 'again' | 'member'

/**
 * The owner, or an admin holding a lease: admits `peer` (as `vlan add`
 * does; the owner stores it in its `admitted-` record) and takes
 * `keyPackage` as a key package received from `peer` on channel 1: added
 * with the usual epoch timing (§11.7), the Welcome sent by `reply`; the
 * same key package again gets the same Welcome again. A key package whose
 * credential does not name `peer` (`verifyKeyPackage`'s `from`, §2), or
 * that does not verify, is refused with its MlsError before anyone is
 * admitted.
 */
export async function admitJoiner(
  ctx: VlanContext,
  vlanName: string,
  peer: string,
  keyPackage: Uint8Array,
  now: number,
  reply: Reply,
): Promise<AdmitOutcome> {
  ctx.now = now
  const vlan = ctx.vlan(vlanName)
  const from = ctx.ports.peerIdBytes(peer) // a PeerId, or throws
  const group = vlan.group
  if (!vlan.isOwner && (group === undefined || group.removed || !group.canCommit())) {
    throw new MlsError(
      'mls-not-committer',
      `this node may not admit members to VLAN ${vlan.name}: neither its owner nor an admin holding a lease`,
    )
  }
  vlan.counters.keyPackagesReceived++
  try {
    await verifyKeyPackage({ keyPackage, from })
  } catch (error) {
    vlan.counters.keyPackagesRefused++
    throw error
  }
  if (ctx.isMember(vlan, peer)) {
    if (welcomeAgain(vlan, peer, keyPackage, reply)) return 'again'
    // A member that redeemed an invitation with a key package it was not added with has lost
    // its group (it left and its leaving was not committed yet, or its state was reset): it can
    // no longer read the group, so its old leaf goes, and the new key package is added below.
    await ctx.run(vlan, () => commitRemoval(ctx, vlan, peer))
    vlan.welcomes.delete(peer)
  }
  // As it was before, so that a failed add admits nobody (the invitation's use is given back).
  const before = {
    admitted: vlan.admitted.has(peer),
    added: vlan.changes.added.has(peer),
    removed: vlan.changes.removed.has(peer),
  }
  const restore = async () => {
    if (!before.admitted) vlan.admitted.delete(peer)
    if (!vlan.isOwner) return
    if (!before.added) vlan.changes.added.delete(peer)
    if (before.removed) vlan.changes.removed.add(peer)
    await storeChanges(ctx, vlan).catch(() => undefined)
  }
  if (vlan.isOwner) {
    admit(vlan, peer)
    try {
      await storeChanges(ctx, vlan)
    } catch (error) {
      await restore()
      throw error
    }
  } else {
    vlan.admitted.add(peer)
  }
  let added: boolean
  try {
    added = await addMember(ctx, vlan, peer, keyPackage, reply)
  } catch (error) {
    vlan.counters.keyPackagesRefused++
    await restore()
    throw error
  }
  if (added) return 'added'
  // Added meanwhile (the same join request twice at once): as a key package again.
  return welcomeAgain(vlan, peer, keyPackage, reply) ? 'again' : 'member'
}

/** A Welcome: a joining member joins by it (from the owner, or an admin the config names). */
export async function onWelcome(
  ctx: VlanContext,
  vlan: Vlan,
  welcome: Uint8Array,
  peer: string,
): Promise<void> {
  // From the owner, or an admin the config names (who commits under a lease).
  if (vlan.isOwner || vlan.state === 'member') return
  if (peer !== vlan.ownerPeerId && !vlan.admins.has(peer)) return
  const kp = vlan.keyPackage
  if (kp === undefined) return
  await ctx.run(vlan, async () => {
    if (vlan.state === 'member') return
    const group = await joinVlanGroup({
      vlanId: vlan.vlanId,
      ownerPeerId: ctx.ports.peerIdBytes(vlan.ownerPeerId),
      welcome,
      keyPackageSecret: kp.secret,
      identity: ctx.identity,
      storage: ctx.storage,
    })
    vlan.counters.welcomesReceived++
    // The key package is used: forget its secret.
    await clearKeyPackage(ctx, vlan)
    vlan.group = group
    vlan.state = 'member'
    switchNow(ctx, vlan, group)
    await ctx.ports.refresh()
    ctx.log('info', { vlan: vlan.name, epoch: Number(group.epoch) }, 'joined by Welcome')
    // Commits made since this Welcome (if it was sent again) come from the owner's log.
    requestCatchUp(ctx, vlan)
  })
}
