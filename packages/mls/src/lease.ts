/**
 * Admin leases (docs/spec/11-mls.md §5). Only a VLAN's owner commits; an
 * admin may commit in its place while it holds a lease the owner signed with
 * its identity key:
 *
 *   lease = vlanId(32) ‖ u8 len ‖ adminPeerId(len) ‖ u64 notBefore ‖ u64 notAfter ‖ sig(64)
 *   sig   = Ed25519-Sign(ownerIdentityKey, "PeerTap v1 mls-lease" ‖ all fields before sig)
 *
 * Times are unix seconds. The admin puts the lease and its commit time in the
 * authenticated data of each commit it sends, so every member (also one that
 * catches up later) can check it.
 */
import { verifyEd25519Strict } from '@peertap/crypto'
import {
  AAD_LEASE,
  ED25519_SIGNATURE_LENGTH,
  LEASE_CLOCK_SKEW_SECONDS,
  LEASE_LABEL,
  MAX_LEASE_SECONDS,
  MAX_PEER_ID_LENGTH,
  VLAN_ID_LENGTH,
} from './constants.ts'
import { MlsError } from './errors.ts'
import { bytesEqual, ed25519PublicKeyOfPeerId, type NodeIdentity } from './identity.ts'
import { decodeTaggedAad, encodeTaggedAad } from './tagged-aad.ts'

const LABEL = new TextEncoder().encode(LEASE_LABEL)

/** The fields of an admin lease. */
export interface LeaseFields {
  /** The VLAN (MLS group) the lease is for. */
  readonly vlanId: Uint8Array
  /** The admin's PeerId, multihash bytes. */
  readonly adminPeerId: Uint8Array
  /** First second (unix) the admin may commit. */
  readonly notBefore: number
  /** Last second (unix) the admin may commit. */
  readonly notAfter: number
}

/** A decoded lease with its signature and its encoding. */
export interface Lease extends LeaseFields {
  readonly signature: Uint8Array
  readonly bytes: Uint8Array
}

function checkTime(name: string, t: number): void {
  if (!Number.isSafeInteger(t) || t < 0)
    throw new MlsError('mls-lease-invalid', `${name} must be unix seconds`)
}

function encodeFields(f: LeaseFields): Uint8Array {
  if (f.vlanId.length !== VLAN_ID_LENGTH)
    throw new MlsError('mls-lease-invalid', 'a VLAN-ID is 32 bytes')
  const len = f.adminPeerId.length
  if (len === 0 || len > MAX_PEER_ID_LENGTH)
    throw new MlsError('mls-lease-invalid', 'a PeerId is 1 to 64 bytes')
  checkTime('notBefore', f.notBefore)
  checkTime('notAfter', f.notAfter)
  const out = new Uint8Array(VLAN_ID_LENGTH + 1 + len + 16)
  const view = new DataView(out.buffer)
  out.set(f.vlanId, 0)
  out[VLAN_ID_LENGTH] = len
  out.set(f.adminPeerId, VLAN_ID_LENGTH + 1)
  view.setBigUint64(VLAN_ID_LENGTH + 1 + len, BigInt(f.notBefore))
  view.setBigUint64(VLAN_ID_LENGTH + 9 + len, BigInt(f.notAfter))
  return out
}

function signedMessage(fields: Uint8Array): Uint8Array {
  const out = new Uint8Array(LABEL.length + fields.length)
  out.set(LABEL, 0)
  out.set(fields, LABEL.length)
  return out
}

/** 11-mls.md §5: the owner signs a lease for `adminPeerId`. */
export async function signLease(params: {
  readonly owner: NodeIdentity
  readonly fields: LeaseFields
}): Promise<Lease> {
  const { fields } = params
  if (
    fields.notAfter < fields.notBefore ||
    fields.notAfter - fields.notBefore > MAX_LEASE_SECONDS
  ) {
    throw new MlsError('mls-lease-invalid', `a lease lasts 0 to ${MAX_LEASE_SECONDS} s`)
  }
  const body = encodeFields(fields)
  const signature = await params.owner.sign(signedMessage(body))
  const bytes = new Uint8Array(body.length + signature.length)
  bytes.set(body, 0)
  bytes.set(signature, body.length)
  return { ...fields, signature, bytes }
}

/** Decodes a lease's bytes (no signature check); throws 'mls-lease-invalid' on malformed input. */
export function decodeLease(bytes: Uint8Array): Lease {
  const fixed = VLAN_ID_LENGTH + 1 + 16 + ED25519_SIGNATURE_LENGTH
  const len = bytes[VLAN_ID_LENGTH]
  if (len === undefined || len === 0 || len > MAX_PEER_ID_LENGTH || bytes.length !== fixed + len) {
    throw new MlsError('mls-lease-invalid', 'a lease has a bad length')
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const nb = view.getBigUint64(VLAN_ID_LENGTH + 1 + len)
  const na = view.getBigUint64(VLAN_ID_LENGTH + 9 + len)
  if (nb > BigInt(Number.MAX_SAFE_INTEGER) || na > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new MlsError('mls-lease-invalid', 'lease times out of range')
  }
  const copy = bytes.slice()
  return {
    vlanId: copy.slice(0, VLAN_ID_LENGTH),
    adminPeerId: copy.slice(VLAN_ID_LENGTH + 1, VLAN_ID_LENGTH + 1 + len),
    notBefore: Number(nb),
    notAfter: Number(na),
    signature: copy.slice(copy.length - ED25519_SIGNATURE_LENGTH),
    bytes: copy,
  }
}

/**
 * 11-mls.md §5: decodes and verifies a lease for `vlanId` signed by the
 * identity key inside `ownerPeerId`, by the strict rule of membership
 * proofs (`verifyEd25519Strict`, 07 §4 steps 6-7: no non-canonical or
 * small-order key or R, S below L), whatever the OpenSSL underneath
 * accepts. Throws 'mls-lease-invalid'.
 */
export async function verifyLease(params: {
  readonly lease: Uint8Array
  readonly vlanId: Uint8Array
  readonly ownerPeerId: Uint8Array
}): Promise<Lease> {
  const lease = decodeLease(params.lease)
  if (!bytesEqual(lease.vlanId, params.vlanId)) {
    throw new MlsError('mls-lease-invalid', 'the lease is for another VLAN')
  }
  if (lease.notAfter < lease.notBefore || lease.notAfter - lease.notBefore > MAX_LEASE_SECONDS) {
    throw new MlsError('mls-lease-invalid', 'the lease lasts longer than allowed')
  }
  const ownerKey = ed25519PublicKeyOfPeerId(params.ownerPeerId)
  const body = lease.bytes.subarray(0, lease.bytes.length - ED25519_SIGNATURE_LENGTH)
  if (
    ownerKey === undefined ||
    verifyEd25519Strict(ownerKey, signedMessage(body), lease.signature) !== 'ok'
  ) {
    throw new MlsError('mls-lease-invalid', 'the lease is not signed by the owner')
  }
  return lease
}

/** 11-mls.md §5: a commit's authenticated data when sent under a lease: 0x01 ‖ u16 len ‖ lease ‖ u64 commitTime. */
export function encodeLeaseAad(lease: Uint8Array, commitTime: number): Uint8Array {
  checkTime('commitTime', commitTime)
  return encodeTaggedAad(AAD_LEASE, lease, commitTime)
}

/** Parses a commit's authenticated data: empty (an owner's commit) or a lease and a commit time. */
export function decodeLeaseAad(
  aad: Uint8Array,
): { readonly lease: Uint8Array; readonly commitTime: number } | undefined {
  if (aad.length === 0) return undefined
  const decoded = aad[0] === AAD_LEASE ? decodeTaggedAad(aad) : undefined
  if (decoded === undefined) throw new MlsError('mls-lease-invalid', 'bad authenticated data')
  if (decoded.commitTime > BigInt(Number.MAX_SAFE_INTEGER))
    throw new MlsError('mls-lease-invalid', 'bad commit time')
  return { lease: decoded.body, commitTime: Number(decoded.commitTime) }
}

/**
 * 11-mls.md §5: may a commit made at `commitTime` under `lease` be accepted
 * by a receiver whose clock reads `now`? Within the lease, and not from the future.
 */
export function leaseCovers(lease: LeaseFields, commitTime: number, now: number): boolean {
  return (
    commitTime >= lease.notBefore &&
    commitTime <= lease.notAfter &&
    commitTime <= now + LEASE_CLOCK_SKEW_SECONDS
  )
}
