/**
 * Relay tickets (spec 12-relay.md §12.8.2): a VLAN owner's signed word that
 * the holder of an invitation may open a libp2p circuit through a relay to
 * the owner, and to nobody else, until the ticket's `notAfter`.
 *
 *   version u8 (1) ‖ ownerLen u8 ‖ owner (PeerId multihash) ‖
 *   notAfter u64 (unix seconds, big-endian) ‖ ticketId (16) ‖ signature (64)
 *
 * signature = Ed25519 by the owner's identity key over
 * `"PeerTap v1 relay ticket" ‖ everything before the signature`. The owner
 * must be an Ed25519 PeerId (`00 24 08 01 12 20 ‖ key`): the relay takes the
 * key from it, with no key directory and no libp2p.
 *
 * Pure: node:crypto for Ed25519, the time is an argument. Verification
 * never throws on a peer's bytes; signing throws RelayError for the
 * caller's own bad arguments.
 */
import { Buffer } from 'node:buffer'
import { createPrivateKey, createPublicKey, randomBytes, sign } from 'node:crypto'
import { verifyEd25519Strict } from '@peertap/crypto'
import {
  ED25519_PEER_ID_LENGTH,
  ED25519_PEER_ID_PREFIX,
  RELAY_TICKET_ID_LENGTH,
  RELAY_TICKET_LABEL,
  RELAY_TICKET_MAX_LIFETIME_SECONDS,
  RELAY_TICKET_SIGNATURE_LENGTH,
  RELAY_TICKET_VERSION,
} from './constants.ts'
import { RelayError } from './errors.ts'

/** Why a relay does not honour a ticket, in the order they are checked (spec 12 §12.8.2). */
export type RelayTicketRejection =
  | 'truncated'
  | 'unknown-version'
  | 'trailing-bytes'
  | 'not-ed25519'
  | 'expired'
  | 'too-long-lived'
  | 'bad-key'
  | 'bad-signature'

export const RELAY_TICKET_REJECTIONS: readonly RelayTicketRejection[] = [
  'truncated',
  'unknown-version',
  'trailing-bytes',
  'not-ed25519',
  'expired',
  'too-long-lived',
  'bad-key',
  'bad-signature',
]

export type RelayTicketVerdict =
  | {
      readonly ok: true
      /** The owner's PeerId (multihash bytes, a view into the ticket). */
      readonly owner: Uint8Array
      /** Unix seconds; the ticket is honoured while now ≤ notAfter. */
      readonly notAfter: number
      readonly ticketId: Uint8Array
    }
  | { readonly ok: false; readonly reason: RelayTicketRejection }

export interface SignRelayTicketParams {
  /** The owner's Ed25519 PeerId as multihash bytes (38 bytes). */
  readonly ownerPeerId: Uint8Array
  /** libp2p's raw Ed25519 private key: 64 bytes, seed ‖ public key. */
  readonly privateKey: Uint8Array
  /** Unix seconds after which no relay honours the ticket. */
  readonly notAfter: number
  /** 16 bytes; random if left out. */
  readonly ticketId?: Uint8Array
}

const LABEL = new TextEncoder().encode(RELAY_TICKET_LABEL)
/** Bytes after the owner: notAfter, ticket id, signature. */
const TAIL = 8 + RELAY_TICKET_ID_LENGTH + RELAY_TICKET_SIGNATURE_LENGTH
const U32 = 0x1_0000_0000
/** Largest high word of a u64 that still fits a safe integer. */
const MAX_SAFE_HIGH = 0x1f_ffff
/** PKCS#8 DER of an Ed25519 private key, before its 32-byte seed (RFC 8410 §7). */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')

/** Signs a ticket for `ownerPeerId` with its identity key. Throws RelayError on bad arguments. */
export function signRelayTicket(params: SignRelayTicketParams): Uint8Array {
  const { ownerPeerId, privateKey, notAfter } = params
  if (!isEd25519PeerId(ownerPeerId))
    throw new RelayError('invalid-argument', 'ownerPeerId: an Ed25519 PeerId (38 bytes)')
  if (privateKey.length !== 64)
    throw new RelayError('invalid-argument', 'privateKey: 64 bytes, seed ‖ public key')
  if (!(Number.isSafeInteger(notAfter) && notAfter >= 0))
    throw new RelayError('invalid-argument', 'notAfter: unix seconds, a non-negative integer')
  const ticketId = params.ticketId ?? randomBytes(RELAY_TICKET_ID_LENGTH)
  if (ticketId.length !== RELAY_TICKET_ID_LENGTH)
    throw new RelayError('invalid-argument', `ticketId: ${RELAY_TICKET_ID_LENGTH} bytes`)
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519, privateKey.subarray(0, 32)]),
    format: 'der',
    type: 'pkcs8',
  })
  // The key must be the owner's: a ticket under another key verifies for nobody.
  const publicKey = createPublicKey(key).export({ format: 'jwk' }).x
  const ownerKey = Buffer.from(ownerPeerId.subarray(ED25519_PEER_ID_PREFIX.length))
  if (publicKey !== ownerKey.toString('base64url') || !ownerKey.equals(privateKey.subarray(32)))
    throw new RelayError('invalid-argument', "privateKey: not the key of ownerPeerId's public key")
  const signedLength = 2 + ownerPeerId.length + 8 + RELAY_TICKET_ID_LENGTH
  const out = new Uint8Array(signedLength + RELAY_TICKET_SIGNATURE_LENGTH)
  out[0] = RELAY_TICKET_VERSION
  out[1] = ownerPeerId.length
  out.set(ownerPeerId, 2)
  const view = new DataView(out.buffer)
  const at = 2 + ownerPeerId.length
  view.setUint32(at, Math.floor(notAfter / U32))
  view.setUint32(at + 4, notAfter % U32)
  out.set(ticketId, at + 8)
  out.set(sign(null, signedMessage(out.subarray(0, signedLength)), key), signedLength)
  return out
}

/**
 * Whether a relay honours the ticket at `nowSeconds`, and for whom: the
 * cheap checks first (layout, key form, time), the signature last. Never
 * throws.
 */
export function verifyRelayTicket(bytes: Uint8Array, nowSeconds: number): RelayTicketVerdict {
  const checked = checkRelayTicket(bytes, nowSeconds)
  if (!checked.ok) return checked
  return verifyRelayTicketSignature(bytes, checked)
}

/** A ticket past the cheap checks, its signature not yet verified. */
export interface CheckedRelayTicket {
  readonly ok: true
  readonly owner: Uint8Array
  readonly notAfter: number
  readonly ticketId: Uint8Array
}

/** Every check but the signature's (so a caller may rate-limit signatures after the cheap refusals). */
export function checkRelayTicket(
  bytes: Uint8Array,
  nowSeconds: number,
): CheckedRelayTicket | { readonly ok: false; readonly reason: RelayTicketRejection } {
  if (bytes.length < 2) return { ok: false, reason: 'truncated' }
  if (bytes[0] !== RELAY_TICKET_VERSION) return { ok: false, reason: 'unknown-version' }
  const ownerLength = bytes[1]!
  const length = 2 + ownerLength + TAIL
  if (bytes.length < length) return { ok: false, reason: 'truncated' }
  if (bytes.length > length) return { ok: false, reason: 'trailing-bytes' }
  const owner = bytes.subarray(2, 2 + ownerLength)
  if (!isEd25519PeerId(owner)) return { ok: false, reason: 'not-ed25519' }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const at = 2 + ownerLength
  const high = view.getUint32(at)
  // Past 2^53 seconds: far more than the longest lifetime honoured.
  if (high > MAX_SAFE_HIGH) return { ok: false, reason: 'too-long-lived' }
  const notAfter = high * U32 + view.getUint32(at + 4)
  if (notAfter < nowSeconds) return { ok: false, reason: 'expired' }
  if (notAfter > nowSeconds + RELAY_TICKET_MAX_LIFETIME_SECONDS)
    return { ok: false, reason: 'too-long-lived' }
  return {
    ok: true,
    owner,
    notAfter,
    ticketId: bytes.subarray(at + 8, at + 8 + RELAY_TICKET_ID_LENGTH),
  }
}

/** The signature check of a ticket that passed `checkRelayTicket`. */
export function verifyRelayTicketSignature(
  bytes: Uint8Array,
  checked: CheckedRelayTicket,
): RelayTicketVerdict {
  const signedLength = bytes.length - RELAY_TICKET_SIGNATURE_LENGTH
  const verdict = verifyEd25519Strict(
    checked.owner.subarray(ED25519_PEER_ID_PREFIX.length),
    signedMessage(bytes.subarray(0, signedLength)),
    bytes.subarray(signedLength),
  )
  if (verdict !== 'ok') return { ok: false, reason: verdict }
  return checked
}

/** Whether `peerId` (multihash bytes) is an Ed25519 PeerId: `00 24 08 01 12 20 ‖ 32-byte key`. */
export function isEd25519PeerId(peerId: Uint8Array): boolean {
  if (peerId.length !== ED25519_PEER_ID_LENGTH) return false
  for (let i = 0; i < ED25519_PEER_ID_PREFIX.length; i++)
    if (peerId[i] !== ED25519_PEER_ID_PREFIX[i]) return false
  return true
}

function signedMessage(signed: Uint8Array): Uint8Array {
  const message = new Uint8Array(LABEL.length + signed.length)
  message.set(LABEL, 0)
  message.set(signed, LABEL.length)
  return message
}
