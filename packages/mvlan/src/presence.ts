/**
 * Presence records (docs/spec/16-fabric.md §16.3): a fabric member's signed
 * statement of who it is (node or relay), where it can be reached, which
 * VLANs it is in and how loaded it is, for a bounded time. Signed with the
 * Ed25519 key inside the member's PeerId, so anyone can check it and nobody
 * else can make one; `seq` orders a member's records.
 *
 * Wire form (big-endian, at most 1200 bytes):
 *
 *   record = 0x01 ‖ role u8 ‖ peerIdLength u8 ‖ peerId ‖ seq u64
 *            ‖ issuedAt u32 ‖ expiresAt u32
 *            ‖ addressCount u8 ‖ addressCount × (length u8 ‖ multiaddr text)
 *            ‖ vlanCount u8 ‖ vlanCount × (vlanId 32 ‖ nameLength u8 ‖ name)
 *            ‖ load u16 ‖ signature 64
 *   signed message = "PeerTap v1 presence" ‖ record without its signature
 *
 * Decoding checks structure only, never throws and never reads out of
 * bounds; the directory (§16.5) checks time, order and rate, and the
 * signature last.
 */
import { verifyEd25519Strict } from '@peertap/crypto'
import { assertPeerIdBytes } from '@peertap/vft'
import { concat, equalBytes, fromUtf8, isBytes, isIntegerIn, toHex, utf8 } from './bytes.ts'
import {
  ED25519_PEER_ID_LENGTH,
  ED25519_PEER_ID_PREFIX,
  MAX_ADDRESS_BYTES,
  MAX_ADDRESSES,
  MAX_LOAD,
  MAX_RECORD_BYTES,
  MAX_SEQ,
  MAX_TIME,
  MAX_VLAN_NAME_BYTES,
  MAX_VLANS,
  PRESENCE_LABEL,
  PRESENCE_VERSION,
  RECORD_FIXED_LENGTH,
  ROLE_NODE,
  ROLE_RELAY,
  SIGNATURE_LENGTH,
  VLAN_ID_LENGTH,
} from './constants.ts'
import { publicKeyOf, signWithSeed } from './ed25519.ts'
import { MvlanError } from './errors.ts'

export type PresenceRole = 'node' | 'relay'

/** A VLAN the member is in: its VLAN-ID and, if the member says, its name. */
export interface PresenceVlan {
  readonly vlanId: Uint8Array
  readonly name?: string
}

/** A decoded record. Byte fields are views into `bytes`. */
export interface PresenceRecord {
  readonly role: PresenceRole
  /** The member's PeerId as multihash bytes. */
  readonly peerId: Uint8Array
  /** Orders the member's records: a directory keeps the highest. */
  readonly seq: bigint
  /** Unix seconds. */
  readonly issuedAt: number
  /** Unix seconds, after issuedAt; the record is live while now < expiresAt. */
  readonly expiresAt: number
  /** Multiaddrs in text form. */
  readonly addresses: readonly string[]
  readonly vlans: readonly PresenceVlan[]
  /** 0 to 65535, the member's own measure of how busy it is (relays: 0 idle, 65535 full). */
  readonly load: number
  /** The whole signed record. */
  readonly bytes: Uint8Array
}

export interface SignPresenceParams {
  /** The 32-byte Ed25519 seed of the PeerId's key. */
  readonly seed: Uint8Array
  /** An Ed25519 PeerId (`00 24 08 01 12 20 ‖ key`) whose key is the seed's. */
  readonly peerId: Uint8Array
  readonly role: PresenceRole
  readonly seq: bigint
  readonly issuedAt: number
  readonly expiresAt: number
  readonly addresses: readonly string[]
  readonly vlans: readonly PresenceVlan[]
  /** Default 0. */
  readonly load?: number
}

/** Why a record was refused: by decoding (`malformed`), verifying, or a directory (§16.5). */
export type PresenceRejection =
  | 'malformed'
  | 'bad-signature'
  | 'expired'
  | 'future'
  | 'lifetime'
  | 'stale'
  | 'rate'
  | 'full'
  | 'role'

export const PRESENCE_REJECTIONS: readonly PresenceRejection[] = [
  'malformed',
  'bad-signature',
  'expired',
  'future',
  'lifetime',
  'stale',
  'rate',
  'full',
  'role',
]

export type PresenceDecoding =
  | { readonly ok: true; readonly record: PresenceRecord }
  | { readonly ok: false; readonly reason: PresenceRejection }

const LABEL = utf8(PRESENCE_LABEL)
const MALFORMED: PresenceDecoding = { ok: false, reason: 'malformed' }
// §16.3: an address has no white space and no control character; a name no control character.
const ADDRESS_FORBIDDEN = /[\s\p{Cc}]/u
const NAME_FORBIDDEN = /\p{Cc}/u

/** §16.3: signs a record. Throws `MvlanError` on a field out of range or a record over 1200 bytes. */
export function signPresence(params: SignPresenceParams): Uint8Array {
  const { seed, peerId, role, seq, issuedAt, expiresAt } = params
  const load = params.load ?? 0
  if (!isEd25519PeerId(peerId)) {
    throw new MvlanError(
      'invalid-argument',
      'peerId must be an Ed25519 PeerId (00 24 08 01 12 20 ‖ key)',
    )
  }
  if (!isBytes(seed, 32)) throw new MvlanError('invalid-argument', 'seed must be 32 bytes')
  if (role !== 'node' && role !== 'relay')
    throw new MvlanError('invalid-argument', "role is 'node' or 'relay'")
  if (typeof seq !== 'bigint' || seq < 0n || seq > MAX_SEQ) {
    throw new MvlanError('invalid-argument', 'seq must be a u64 bigint')
  }
  if (!isIntegerIn(issuedAt, 0, MAX_TIME) || !isIntegerIn(expiresAt, 0, MAX_TIME)) {
    throw new MvlanError('invalid-argument', 'issuedAt and expiresAt must be u32 unix seconds')
  }
  if (expiresAt <= issuedAt)
    throw new MvlanError('invalid-argument', 'expiresAt must be after issuedAt')
  if (!isIntegerIn(load, 0, MAX_LOAD))
    throw new MvlanError('invalid-argument', 'load must be a u16')
  const addresses = encodeAddresses(params.addresses)
  const vlans = encodeVlans(params.vlans)
  let length = RECORD_FIXED_LENGTH + peerId.length
  for (const a of addresses) length += 1 + a.length
  for (const v of vlans) length += VLAN_ID_LENGTH + 1 + v.name.length
  if (length > MAX_RECORD_BYTES) {
    throw new MvlanError(
      'too-large',
      `the record would be ${length} bytes, over ${MAX_RECORD_BYTES}`,
    )
  }
  const key = publicKeyOf(seed)
  if (!equalBytes(key, peerId.subarray(ED25519_PEER_ID_PREFIX.length))) {
    throw new MvlanError('wrong-seed', "the seed's public key is not the PeerId's")
  }

  const out = new Uint8Array(length)
  const view = new DataView(out.buffer)
  let at = 0
  out[at++] = PRESENCE_VERSION
  out[at++] = role === 'node' ? ROLE_NODE : ROLE_RELAY
  out[at++] = peerId.length
  out.set(peerId, at)
  at += peerId.length
  view.setBigUint64(at, seq)
  at += 8
  view.setUint32(at, issuedAt)
  view.setUint32(at + 4, expiresAt)
  at += 8
  out[at++] = addresses.length
  for (const a of addresses) {
    out[at++] = a.length
    out.set(a, at)
    at += a.length
  }
  out[at++] = vlans.length
  for (const v of vlans) {
    out.set(v.vlanId, at)
    at += VLAN_ID_LENGTH
    out[at++] = v.name.length
    out.set(v.name, at)
    at += v.name.length
  }
  view.setUint16(at, load)
  at += 2
  out.set(signWithSeed(seed, concat(LABEL, out.subarray(0, at))), at)
  return out
}

/**
 * §16.3: parses a record's structure without checking its signature or its
 * times against a clock. Never throws; `malformed` for anything but one
 * well-formed record of at most 1200 bytes.
 */
export function decodePresence(bytes: Uint8Array): PresenceDecoding {
  if (!(bytes instanceof Uint8Array)) return MALFORMED
  const end = bytes.length - SIGNATURE_LENGTH
  if (bytes.length > MAX_RECORD_BYTES || end < RECORD_FIXED_LENGTH - SIGNATURE_LENGTH + 1)
    return MALFORMED
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes[0] !== PRESENCE_VERSION) return MALFORMED
  const roleByte = bytes[1]
  if (roleByte !== ROLE_NODE && roleByte !== ROLE_RELAY) return MALFORMED
  const peerIdLength = bytes[2]!
  let at = 3
  // The PeerId, seq, issuedAt, expiresAt and the address count must fit before the signature.
  if (peerIdLength === 0 || at + peerIdLength + 8 + 8 + 1 > end) return MALFORMED
  const peerId = bytes.subarray(at, at + peerIdLength)
  if (!isPeerIdBytes(peerId)) return MALFORMED
  at += peerIdLength
  const seq = view.getBigUint64(at)
  at += 8
  const issuedAt = view.getUint32(at)
  const expiresAt = view.getUint32(at + 4)
  at += 8
  if (expiresAt <= issuedAt) return MALFORMED

  const addressCount = bytes[at++]!
  if (addressCount > MAX_ADDRESSES) return MALFORMED
  const addresses: string[] = []
  for (let i = 0; i < addressCount; i++) {
    if (at >= end) return MALFORMED
    const length = bytes[at++]!
    if (length === 0 || at + length > end) return MALFORMED
    const text = fromUtf8(bytes.subarray(at, at + length))
    if (text === undefined || !text.startsWith('/') || ADDRESS_FORBIDDEN.test(text))
      return MALFORMED
    addresses.push(text)
    at += length
  }

  if (at >= end) return MALFORMED
  const vlanCount = bytes[at++]!
  if (vlanCount > MAX_VLANS) return MALFORMED
  const vlans: PresenceVlan[] = []
  for (let i = 0; i < vlanCount; i++) {
    if (at + VLAN_ID_LENGTH + 1 > end) return MALFORMED
    const vlanId = bytes.subarray(at, at + VLAN_ID_LENGTH)
    at += VLAN_ID_LENGTH
    // At most 32 VLANs: comparing pairs is cheaper than building strings.
    for (const other of vlans) if (equalBytes(other.vlanId, vlanId)) return MALFORMED
    const nameLength = bytes[at++]!
    if (nameLength > MAX_VLAN_NAME_BYTES || at + nameLength > end) return MALFORMED
    if (nameLength === 0) {
      vlans.push({ vlanId })
      continue
    }
    const name = fromUtf8(bytes.subarray(at, at + nameLength))
    if (name === undefined || name.normalize('NFC') !== name || NAME_FORBIDDEN.test(name))
      return MALFORMED
    vlans.push({ vlanId, name })
    at += nameLength
  }

  // The load, then exactly the signature.
  if (at + 2 !== end) return MALFORMED
  const load = view.getUint16(at)
  return {
    ok: true,
    record: {
      role: roleByte === ROLE_NODE ? 'node' : 'relay',
      peerId,
      seq,
      issuedAt,
      expiresAt,
      addresses,
      vlans,
      load,
      bytes,
    },
  }
}

/**
 * §16.3: true iff the record's signature is a strict Ed25519 signature
 * (07-membership-proof.md §4) under the key inside its PeerId. A PeerId that
 * is not an Ed25519 identity multihash cannot be checked and is refused.
 */
export function verifyPresence(record: PresenceRecord): boolean {
  const { bytes, peerId } = record
  if (!isEd25519PeerId(peerId) || bytes.length <= SIGNATURE_LENGTH) return false
  const end = bytes.length - SIGNATURE_LENGTH
  // The PeerId checked must be the one the signed bytes carry.
  if (!equalBytes(bytes.subarray(3, 3 + peerId.length), peerId) || bytes[2] !== peerId.length)
    return false
  const message = concat(LABEL, bytes.subarray(0, end))
  const key = peerId.subarray(ED25519_PEER_ID_PREFIX.length)
  return verifyEd25519Strict(key, message, bytes.subarray(end)) === 'ok'
}

/** The Ed25519 PeerId (`00 24 08 01 12 20 ‖ key`, 38 bytes) of a 32-byte seed. */
export function ed25519PeerIdOf(seed: Uint8Array): Uint8Array {
  return concat(ED25519_PEER_ID_PREFIX, publicKeyOf(seed))
}

/** An Ed25519 PeerId: `00 24 08 01 12 20 ‖ key`, 38 bytes (01-identifiers.md §1.2). */
export function isEd25519PeerId(peerId: Uint8Array): boolean {
  if (!(peerId instanceof Uint8Array) || peerId.length !== ED25519_PEER_ID_LENGTH) return false
  for (let i = 0; i < ED25519_PEER_ID_PREFIX.length; i++) {
    if (peerId[i] !== ED25519_PEER_ID_PREFIX[i]) return false
  }
  return true
}

function isPeerIdBytes(bytes: Uint8Array): boolean {
  try {
    assertPeerIdBytes(bytes)
    return true
  } catch {
    return false
  }
}

function encodeAddresses(addresses: readonly string[]): Uint8Array[] {
  if (!Array.isArray(addresses) || addresses.length > MAX_ADDRESSES) {
    throw new MvlanError('invalid-argument', `a record carries 0 to ${MAX_ADDRESSES} addresses`)
  }
  return addresses.map((text) => {
    if (
      typeof text !== 'string' ||
      !text.isWellFormed() ||
      !text.startsWith('/') ||
      ADDRESS_FORBIDDEN.test(text)
    ) {
      throw new MvlanError(
        'invalid-argument',
        `an address is multiaddr text starting with '/' without white space or control characters: ${JSON.stringify(text)}`,
      )
    }
    const bytes = utf8(text)
    if (bytes.length > MAX_ADDRESS_BYTES) {
      throw new MvlanError(
        'invalid-argument',
        `an address is at most ${MAX_ADDRESS_BYTES} bytes of UTF-8`,
      )
    }
    return bytes
  })
}

function encodeVlans(vlans: readonly PresenceVlan[]): { vlanId: Uint8Array; name: Uint8Array }[] {
  if (!Array.isArray(vlans) || vlans.length > MAX_VLANS) {
    throw new MvlanError('invalid-argument', `a record carries 0 to ${MAX_VLANS} VLANs`)
  }
  const seen = new Set<string>()
  return vlans.map(({ vlanId, name }) => {
    if (!isBytes(vlanId, VLAN_ID_LENGTH)) {
      throw new MvlanError('invalid-argument', `a VLAN-ID is ${VLAN_ID_LENGTH} bytes`)
    }
    const id = toHex(vlanId)
    if (seen.has(id)) throw new MvlanError('invalid-argument', `VLAN ${id} is listed twice`)
    seen.add(id)
    if (name === undefined || name === '') return { vlanId, name: new Uint8Array(0) }
    if (
      typeof name !== 'string' ||
      !name.isWellFormed() ||
      name.normalize('NFC') !== name ||
      NAME_FORBIDDEN.test(name)
    ) {
      throw new MvlanError('invalid-argument', 'a VLAN name is NFC text without control characters')
    }
    const bytes = utf8(name)
    if (bytes.length > MAX_VLAN_NAME_BYTES) {
      throw new MvlanError(
        'invalid-argument',
        `a VLAN name is at most ${MAX_VLAN_NAME_BYTES} bytes of UTF-8`,
      )
    }
    return { vlanId, name: bytes }
  })
}
