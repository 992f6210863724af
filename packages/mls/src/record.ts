/**
 * The persisted record of one VLAN group (docs/spec/11-mls.md §7): the MLS
 * group state, the commit log, the owner's and admin's lease state and the
 * owner's pending proposals, in ONE blob, so that one atomic replace moves
 * all of them from one epoch to the next together.
 *
 *   record = "PTMLS" 0x02 ‖ vlanId(32) ‖ u8 len ‖ ownerPeerId ‖ u8 len ‖ selfPeerId
 *            ‖ u64 leaseOutstandingUntil ‖ blob heldLease ‖ u32 n ‖ blob* pendingProposals
 *            ‖ blob pendingUpdate ‖ blob groupState ‖ u32 n ‖ blob* commitLog
 *            ‖ SHA-256(everything before)
 *   blob   = u32 len ‖ bytes
 *
 * Version 0x01 records (before member self-updates) lack pendingUpdate and
 * still load, with none pending.
 */
import { createHash } from 'node:crypto'
import {
  RECORD_CHECKSUM_LENGTH,
  RECORD_MAGIC,
  RECORD_VERSION_1,
  VLAN_ID_LENGTH,
} from './constants.ts'
import { MlsError } from './errors.ts'

/** What a record holds. */
export interface GroupRecord {
  readonly vlanId: Uint8Array
  readonly ownerPeerId: Uint8Array
  readonly selfPeerId: Uint8Array
  /** Owner only: unix seconds until which a lease it issued runs (0: none). */
  readonly leaseOutstandingUntil: number
  /** Admin only: the lease it holds (empty: none). */
  readonly heldLease: Uint8Array
  /** Owner only: proposal messages received and not yet committed. */
  readonly pendingProposals: readonly Uint8Array[]
  /**
   * A member's own Update proposal not yet committed, with the private keys
   * of the leaf it proposes (empty: none); see group.ts `proposeUpdate`.
   */
  readonly pendingUpdate: Uint8Array
  /** ts-mls encodeGroupState. */
  readonly groupState: Uint8Array
  /** Commit bundles, oldest first. */
  readonly commitLog: readonly Uint8Array[]
}

/** 11-mls.md §7: encodes a record with its checksum. */
export function encodeRecord(r: GroupRecord): Uint8Array {
  const blobs = [r.heldLease, ...r.pendingProposals, r.pendingUpdate, r.groupState, ...r.commitLog]
  const size =
    RECORD_MAGIC.length +
    VLAN_ID_LENGTH +
    2 +
    r.ownerPeerId.length +
    r.selfPeerId.length +
    8 +
    8 +
    blobs.reduce((n, b) => n + 4 + b.length, 0) +
    RECORD_CHECKSUM_LENGTH
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  let o = 0
  const put = (b: Uint8Array) => {
    out.set(b, o)
    o += b.length
  }
  const blob = (b: Uint8Array) => {
    view.setUint32(o, b.length)
    o += 4
    put(b)
  }
  put(RECORD_MAGIC)
  put(r.vlanId)
  out[o++] = r.ownerPeerId.length
  put(r.ownerPeerId)
  out[o++] = r.selfPeerId.length
  put(r.selfPeerId)
  view.setBigUint64(o, BigInt(r.leaseOutstandingUntil))
  o += 8
  blob(r.heldLease)
  view.setUint32(o, r.pendingProposals.length)
  o += 4
  for (const p of r.pendingProposals) blob(p)
  blob(r.pendingUpdate)
  blob(r.groupState)
  view.setUint32(o, r.commitLog.length)
  o += 4
  for (const c of r.commitLog) blob(c)
  put(createHash('sha256').update(out.subarray(0, o)).digest())
  return out
}

/** Decodes and checks a record; throws 'mls-state-corrupt' on any defect. */
export function decodeRecord(bytes: Uint8Array): GroupRecord {
  const corrupt = (why: string) => new MlsError('mls-state-corrupt', `stored state: ${why}`)
  if (bytes.length < RECORD_MAGIC.length + VLAN_ID_LENGTH + RECORD_CHECKSUM_LENGTH) {
    throw corrupt('too short')
  }
  const bodyEnd = bytes.length - RECORD_CHECKSUM_LENGTH
  const sum = createHash('sha256').update(bytes.subarray(0, bodyEnd)).digest()
  if (!sum.equals(bytes.subarray(bodyEnd))) throw corrupt('checksum mismatch')
  for (let i = 0; i < RECORD_MAGIC.length - 1; i++) {
    if (bytes[i] !== RECORD_MAGIC[i]) throw corrupt('not a PeerTap MLS record')
  }
  const version = bytes[RECORD_MAGIC.length - 1]
  if (version !== RECORD_MAGIC[RECORD_MAGIC.length - 1] && version !== RECORD_VERSION_1) {
    throw corrupt(`record version ${version}`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let o = RECORD_MAGIC.length
  const take = (n: number) => {
    if (o + n > bodyEnd) throw corrupt('truncated')
    const b = bytes.slice(o, o + n)
    o += n
    return b
  }
  const u32 = () => {
    if (o + 4 > bodyEnd) throw corrupt('truncated')
    const v = view.getUint32(o)
    o += 4
    return v
  }
  const blob = () => take(u32())
  const vlanId = take(VLAN_ID_LENGTH)
  const ownerPeerId = take(take(1)[0]!)
  const selfPeerId = take(take(1)[0]!)
  const untilBytes = take(8)
  const until = new DataView(untilBytes.buffer).getBigUint64(0)
  const heldLease = blob()
  const pendingProposals: Uint8Array[] = []
  for (let n = u32(); n > 0; n--) pendingProposals.push(blob())
  const pendingUpdate = version === RECORD_VERSION_1 ? new Uint8Array(0) : blob()
  const groupState = blob()
  const commitLog: Uint8Array[] = []
  for (let n = u32(); n > 0; n--) commitLog.push(blob())
  if (o !== bodyEnd) throw corrupt('trailing bytes')
  return {
    vlanId,
    ownerPeerId,
    selfPeerId,
    leaseOutstandingUntil: Number(until),
    heldLease,
    pendingProposals,
    pendingUpdate,
    groupState,
    commitLog,
  }
}
