/**
 * Joining (docs/spec/11-mls.md §11.5): a joining member sends its key
 * package to the owner and the config's admins (on link up and every 3 s
 * until a Welcome comes) and joins by the Welcome of one of them; the
 * owner adds a key package from a peer it admits, keeps the others
 * (bounded) for `vlan add`, and sends the same Welcome again to a member
 * still sending the key package it was added with; an admin keeps them
 * for `vlan add` under a lease.
 */
import { holdKeyPackage } from './allowances.ts'
import { joinVlanGroup } from './group.ts'
import { requestCatchUp } from './vlan-catch-up.ts'
import { addMember } from './vlan-commits.ts'
import { equal, type Vlan, type VlanContext } from './vlan-context.ts'
import { switchNow } from './vlan-epochs.ts'
import type { Reply } from './vlan-ports.ts'
import { clearKeyPackage } from './vlan-records.ts'
import type { MlsControlMessage } from './vlan-wire.ts'

/** A joining member sends its key package by `send`. */
export function sendKeyPackage(ctx: VlanContext, vlan: Vlan, send: Reply): void {
  if (vlan.keyPackage === undefined) return
  vlan.lastKeyPackageAt = ctx.now
  const message: MlsControlMessage = {
    type: 'key-package',
    vlanId: vlan.vlanId,
    keyPackage: vlan.keyPackage.keyPackage,
  }
  if (send(message)) vlan.counters.keyPackagesSent++
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
    const sent = vlan.welcomes.get(peer)
    if (sent !== undefined && equal(sent.keyPackage, keyPackage)) {
      const welcome = { type: 'welcome', vlanId: vlan.vlanId, welcome: sent.welcome } as const
      if (reply(welcome)) vlan.counters.welcomesResent++
    }
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
