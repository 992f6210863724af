/**
 * Transfer of ownership (docs/spec/11-mls.md §12.1). The current owner
 * names a member as the new owner, signed with its identity key and bound
 * to the VLAN and to the epoch the transfer commit leaves:
 *
 *   transfer = vlanId(32) ‖ u8 len ‖ newOwnerPeerId(len) ‖ u64 epoch ‖ sig(64)
 *   sig      = Ed25519-Sign(ownerIdentityKey, "PeerTap v1 mls-transfer" ‖ all fields before sig)
 *
 * The owner carries it in the authenticated data of an update commit that
 * adds and removes nobody (0x02 ‖ u16 len ‖ transfer ‖ u64 commitTime), so
 * every member, also one catching up from a log later, checks it and takes
 * the new owner from that epoch on.
 */
import { verifyEd25519Strict } from '@peertap/crypto'
import {
  AAD_TRANSFER,
  ED25519_SIGNATURE_LENGTH,
  MAX_PEER_ID_LENGTH,
  TRANSFER_LABEL,
  VLAN_ID_LENGTH,
} from './constants.ts'
import { MlsError } from './errors.ts'
import { bytesEqual, ed25519PublicKeyOfPeerId, type NodeIdentity } from './identity.ts'
import { decodeTaggedAad, encodeTaggedAad } from './tagged-aad.ts'

const LABEL = new TextEncoder().encode(TRANSFER_LABEL)
const U64_MAX = (1n << 64n) - 1n

/** The fields of a transfer of ownership. */
export interface TransferFields {
  /** The VLAN (MLS group) whose owner changes. */
  readonly vlanId: Uint8Array
  /** The new owner's PeerId, multihash bytes: a member of the group. */
  readonly newOwnerPeerId: Uint8Array
  /** The epoch the transfer commit leaves (the bundle's epoch, §6). */
  readonly epoch: bigint
}

/** A decoded transfer with its signature and its encoding. */
export interface Transfer extends TransferFields {
  readonly signature: Uint8Array
  readonly bytes: Uint8Array
}

const invalid = (why: string) => new MlsError('mls-transfer-invalid', why)

function encodeFields(f: TransferFields): Uint8Array {
  if (f.vlanId.length !== VLAN_ID_LENGTH) throw invalid('a VLAN-ID is 32 bytes')
  const len = f.newOwnerPeerId.length
  if (len === 0 || len > MAX_PEER_ID_LENGTH) throw invalid('a PeerId is 1 to 64 bytes')
  if (f.epoch < 0n || f.epoch > U64_MAX) throw invalid('an epoch is a u64')
  const out = new Uint8Array(VLAN_ID_LENGTH + 1 + len + 8)
  out.set(f.vlanId, 0)
  out[VLAN_ID_LENGTH] = len
  out.set(f.newOwnerPeerId, VLAN_ID_LENGTH + 1)
  new DataView(out.buffer).setBigUint64(VLAN_ID_LENGTH + 1 + len, f.epoch)
  return out
}

function signedMessage(fields: Uint8Array): Uint8Array {
  const out = new Uint8Array(LABEL.length + fields.length)
  out.set(LABEL, 0)
  out.set(fields, LABEL.length)
  return out
}

/** 11-mls.md §12.1: the owner signs the transfer of its VLAN to `newOwnerPeerId` at `epoch`. */
export async function signTransfer(params: {
  readonly owner: NodeIdentity
  readonly fields: TransferFields
}): Promise<Transfer> {
  const body = encodeFields(params.fields)
  const signature = await params.owner.sign(signedMessage(body))
  const bytes = new Uint8Array(body.length + signature.length)
  bytes.set(body, 0)
  bytes.set(signature, body.length)
  return { ...params.fields, signature, bytes }
}

/** Decodes a transfer's bytes (no signature check); throws 'mls-transfer-invalid' on malformed input. */
export function decodeTransfer(bytes: Uint8Array): Transfer {
  const len = bytes[VLAN_ID_LENGTH]
  if (
    len === undefined ||
    len === 0 ||
    len > MAX_PEER_ID_LENGTH ||
    bytes.length !== VLAN_ID_LENGTH + 1 + len + 8 + ED25519_SIGNATURE_LENGTH
  ) {
    throw invalid('a transfer has a bad length')
  }
  // A copy of its own (not Buffer#slice, which shares a pooled buffer): the view starts at 0.
  const copy = new Uint8Array(bytes)
  const view = new DataView(copy.buffer, copy.byteOffset, copy.byteLength)
  return {
    vlanId: copy.slice(0, VLAN_ID_LENGTH),
    newOwnerPeerId: copy.slice(VLAN_ID_LENGTH + 1, VLAN_ID_LENGTH + 1 + len),
    epoch: view.getBigUint64(VLAN_ID_LENGTH + 1 + len),
    signature: copy.slice(copy.length - ED25519_SIGNATURE_LENGTH),
    bytes: copy,
  }
}

/**
 * 11-mls.md §12.1: decodes and verifies a transfer of `vlanId` at `epoch`
 * signed by the identity key inside `ownerPeerId` (the current owner), by
 * the strict rule of membership proofs (`verifyEd25519Strict`, 07 §4 steps
 * 6-7: no non-canonical or small-order key or R, S below L), whatever the
 * OpenSSL underneath accepts. Throws 'mls-transfer-invalid'.
 */
export async function verifyTransfer(params: {
  readonly transfer: Uint8Array
  readonly vlanId: Uint8Array
  readonly epoch: bigint
  readonly ownerPeerId: Uint8Array
}): Promise<Transfer> {
  const t = decodeTransfer(params.transfer)
  if (!bytesEqual(t.vlanId, params.vlanId)) throw invalid('the transfer is for another VLAN')
  if (t.epoch !== params.epoch) {
    throw invalid(`the transfer is for epoch ${t.epoch}, its commit leaves epoch ${params.epoch}`)
  }
  const ownerKey = ed25519PublicKeyOfPeerId(params.ownerPeerId)
  const body = t.bytes.subarray(0, t.bytes.length - ED25519_SIGNATURE_LENGTH)
  if (
    ownerKey === undefined ||
    verifyEd25519Strict(ownerKey, signedMessage(body), t.signature) !== 'ok'
  ) {
    throw invalid('the transfer is not signed by the current owner')
  }
  if (bytesEqual(t.newOwnerPeerId, params.ownerPeerId)) {
    throw invalid('the transfer names the current owner')
  }
  return t
}

/** 11-mls.md §12.1: a transfer commit's authenticated data: 0x02 ‖ u16 len ‖ transfer ‖ u64 commitTime. */
export function encodeTransferAad(transfer: Uint8Array, commitTime: number): Uint8Array {
  if (!Number.isSafeInteger(commitTime) || commitTime < 0)
    throw invalid('commitTime is unix seconds')
  return encodeTaggedAad(AAD_TRANSFER, transfer, commitTime)
}

/**
 * Parses a commit's authenticated data if it carries a transfer (first
 * byte 0x02); undefined for any other (empty, or a lease's, lease.ts).
 */
export function decodeTransferAad(
  aad: Uint8Array,
): { readonly transfer: Uint8Array; readonly commitTime: bigint } | undefined {
  if (aad[0] !== AAD_TRANSFER) return undefined
  const decoded = decodeTaggedAad(aad)
  if (decoded === undefined) throw invalid('bad authenticated data')
  return { transfer: decoded.body, commitTime: decoded.commitTime }
}
