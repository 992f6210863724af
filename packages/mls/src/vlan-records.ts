/**
 * The two records an MLS VLAN keeps beside its group record
 * (docs/spec/11-mls.md §11.6), through the storage port:
 *
 * - `kp-‖hex(vlanId)`: a joining member's key package and its secret, so
 *   a Welcome for it still works after a restart; cleared once used. A
 *   record that does not decode is as none: a fresh key package is made.
 * - `admitted-‖hex(vlanId)`: the owner's run-time admission changes (`vlan
 *   add` / `vlan remove` over its config) with the group's epoch and
 *   members as of the write. A record that does not decode stops the VLAN
 *   from opening (`mls-state-corrupt`).
 *
 * The layouts are `vlan-wire.ts`'s; here is when they are read and written,
 * and how a VLAN forgotten deletes them with its group record.
 */
import { MlsError } from './errors.ts'
import { createKeyPackage, recordName } from './group.ts'
import { fromHex, toHex, type Vlan, type VlanContext } from './vlan-context.ts'
import {
  decodeAdmissionRecord,
  decodeKeyPackageRecord,
  encodeAdmissionRecord,
  encodeKeyPackageRecord,
} from './vlan-wire.ts'

/** The storage name of a VLAN's key-package record. */
export const keyPackageRecordName = (vlan: Vlan) => `kp-${vlan.vlanIdHex}`
/** The storage name of a VLAN's admission record. */
export const admissionRecordName = (vlan: Vlan) => `admitted-${vlan.vlanIdHex}`

/** A joining member's key package: the stored one (so a Welcome for it still works after a restart), or a fresh one. */
export async function newKeyPackage(ctx: VlanContext, vlan: Vlan, fresh = false): Promise<void> {
  const name = keyPackageRecordName(vlan)
  const stored = fresh ? undefined : await ctx.storage.read(name)
  const decoded = stored === undefined ? undefined : decodeKeyPackageRecord(stored)
  if (decoded?.ok === true && decoded.message !== undefined) {
    vlan.keyPackage = decoded.message
    return
  }
  const kp = await createKeyPackage({ identity: ctx.identity })
  await ctx.storage.write(name, encodeKeyPackageRecord(kp))
  vlan.keyPackage = kp
}

/** The key package is used (its Welcome processed): its secret is forgotten, stored first. */
export async function clearKeyPackage(ctx: VlanContext, vlan: Vlan): Promise<void> {
  await ctx.storage.write(keyPackageRecordName(vlan), encodeKeyPackageRecord(undefined))
  vlan.keyPackage = undefined
}

/**
 * Owner, on open: the stored admission changes applied over the config's
 * members. Returns the group's epoch and members (hex PeerIds) the record
 * was written at, if it says; throws `mls-state-corrupt` if it does not
 * decode.
 */
export async function loadAdmission(
  ctx: VlanContext,
  vlan: Vlan,
): Promise<{ epoch: number; members: readonly string[] } | undefined> {
  let recorded: { epoch: number; members: readonly string[] } | undefined
  const stored = await ctx.storage.read(admissionRecordName(vlan))
  if (stored !== undefined) {
    const decoded = decodeAdmissionRecord(stored)
    if (!decoded.ok) throw new MlsError('mls-state-corrupt', decoded.error.detail)
    for (const p of decoded.message.added) vlan.changes.added.add(p)
    for (const p of decoded.message.removed) vlan.changes.removed.add(p)
    recorded = decoded.message.at
  }
  for (const p of vlan.changes.added) vlan.admitted.add(p)
  for (const p of vlan.changes.removed) vlan.admitted.delete(p)
  return recorded
}

/**
 * Stores the run-time admission changes (atomically, beside the group
 * record), with the group's epoch and members as of now: a load that
 * finds the group at another epoch adopts what changed since.
 */
export async function storeChanges(ctx: VlanContext, vlan: Vlan): Promise<void> {
  // Closed (and perhaps forgotten): a command still running must not write it back.
  if (vlan.closed) return
  const group = vlan.group
  const record = encodeAdmissionRecord({
    added: [...vlan.changes.added],
    removed: [...vlan.changes.removed],
    ...(group === undefined || group.removed
      ? {}
      : {
          at: {
            epoch: Number(group.epoch),
            members: group.members().map((m) => toHex(m.peerId)),
          },
        }),
  })
  await ctx.storage.write(admissionRecordName(vlan), record)
}

/** Owner: `peer` is admitted from now on (a run-time change; the caller stores it). */
export function admit(vlan: Vlan, peer: string): void {
  vlan.admitted.add(peer)
  vlan.changes.added.add(peer)
  vlan.changes.removed.delete(peer)
}

/** Owner: `peer` is no longer admitted (stored), its key package and Welcome forgotten. */
export async function forget(ctx: VlanContext, vlan: Vlan, peer: string): Promise<void> {
  vlan.admitted.delete(peer)
  vlan.changes.removed.add(peer)
  vlan.changes.added.delete(peer)
  await storeChanges(ctx, vlan)
  vlan.heldKeyPackages.delete(peer)
  vlan.welcomes.delete(peer)
}

/**
 * Owner, after an admin's commit: whom it removed is no longer admitted,
 * whom it added is, so the owner's own adds (from its config) agree.
 */
export async function adoptMembership(
  ctx: VlanContext,
  vlan: Vlan,
  before: string[],
  after: Set<string>,
): Promise<void> {
  const was = new Set(before)
  for (const p of before) if (!after.has(p)) await forget(ctx, vlan, ctx.peerText(fromHex(p)))
  let changed = false
  for (const p of after) {
    if (was.has(p)) continue
    const peer = ctx.peerText(fromHex(p))
    if (vlan.admitted.has(peer)) continue
    admit(vlan, peer)
    changed = true
  }
  if (changed) await storeChanges(ctx, vlan)
}

/**
 * After a transfer of ownership (11-mls.md §12.2) made or processed here,
 * or on open when the stored group names another owner than the config:
 * the VLAN follows the group's owner. The new owner admits the group's
 * current members (stored in its `admitted-` record); the old one stops
 * admitting anyone (its record deleted). Returns whether the owner changed.
 */
export async function followOwner(ctx: VlanContext, vlan: Vlan): Promise<boolean> {
  const group = vlan.group
  if (group === undefined || group.removed) return false
  const owner = ctx.peerText(group.ownerPeerId)
  if (owner === vlan.ownerPeerId && vlan.isOwner === group.isOwner) return false
  const previous = vlan.ownerPeerId
  vlan.ownerPeerId = owner
  vlan.isOwner = group.isOwner
  vlan.admitted.clear()
  vlan.changes.added.clear()
  vlan.changes.removed.clear()
  vlan.welcomes.clear()
  if (vlan.isOwner) {
    await admitMembers(ctx, vlan)
  } else if (!vlan.closed) {
    await ctx.storage.delete(admissionRecordName(vlan))
  }
  ctx.log(
    'info',
    { vlan: vlan.name, from: previous, to: owner, epoch: Number(group.epoch) },
    vlan.isOwner ? 'ownership transferred to this node' : 'ownership transferred',
  )
  ctx.ports.ownerChanged?.(vlan.name, owner)
  return true
}

/**
 * A new owner (§12.2) admits the group's current members, stored as its
 * `admitted-` record; also on open, when the group makes this node the
 * owner and no such record was written (a crash between the transfer
 * commit and the record).
 */
export async function admitMembers(ctx: VlanContext, vlan: Vlan): Promise<void> {
  const group = vlan.group
  if (group === undefined || group.removed) return
  for (const m of group.members())
    if (m.leafIndex !== group.leafIndex) admit(vlan, ctx.peerText(m.peerId))
  await storeChanges(ctx, vlan)
}

/**
 * A VLAN forgotten (closed with `forget`): every record keyed by its
 * VLAN-ID is deleted, the group record (§7), `kp-` and `admitted-`, so
 * that opening it again starts afresh.
 */
export async function deleteRecords(ctx: VlanContext, vlan: Vlan): Promise<void> {
  for (const name of [
    recordName(vlan.vlanId),
    keyPackageRecordName(vlan),
    admissionRecordName(vlan),
  ])
    await ctx.storage.delete(name)
}
