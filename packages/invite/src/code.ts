/**
 * The invitation code (docs/spec/15-invitations.md §15.1 to §15.3): the
 * binary payload, its text form `peertap-invite:` ‖ base32(payload ‖
 * checksum), and a decoder that never throws and names what is wrong, so
 * that a typo is caught before any network traffic.
 */
import { constantTimeEqual } from '@peertap/crypto'
import { deriveVlanId, normaliseVlanName } from '@peertap/vft'
import { base32Decode, base32Encode, base32Value } from './base32.ts'
import {
  concat,
  deriveBytes,
  fromUtf8,
  isBytes,
  isIntegerIn,
  isPeerIdBytes,
  utf8,
} from './bytes.ts'
import {
  CODE_CHECKSUM_LENGTH,
  CODE_MAX_TEXT_LENGTH,
  CODE_PREFIX,
  CODE_VERSION,
  CONTEXT_CODE_CHECKSUM,
  HPKE_KEY_LENGTH,
  MAX_ADDRESS_BYTES,
  MAX_ADDRESSES,
  MAX_EXPIRES_AT,
  MAX_TICKET_BYTES,
  SECRET_LENGTH,
  VLAN_ID_LENGTH,
} from './constants.ts'
import { InviteError } from './errors.ts'

/** What an invitation code carries (§15.1). */
export interface Invitation {
  /** 32 bytes: deriveVlanId(founder ?? owner, name). */
  readonly vlanId: Uint8Array
  /** The VLAN name, NFC (01-identifiers.md §1.1). */
  readonly name: string
  /** The owner's PeerId as multihash bytes: who answers the join request. */
  readonly owner: Uint8Array
  /**
   * The founder's PeerId as multihash bytes, the VLAN-ID's basis, when the
   * owner is not the founder (the VLAN was handed over, 11-mls.md §12);
   * absent: the owner founded it.
   */
  readonly founder?: Uint8Array
  /** The owner's static X25519 public key (06-hpke.md), 32 bytes. */
  readonly ownerHpkeKey: Uint8Array
  /** 0 to 8 multiaddrs where the owner (or a relay circuit to it) answers. */
  readonly addresses: readonly string[]
  /** The one-time secret, 16 bytes. */
  readonly secret: Uint8Array
  /** Unix seconds after which the owner refuses the code. */
  readonly expiresAt: number
  /** An opaque relay ticket (12-relay.md), 0 to 1024 bytes; empty: none. */
  readonly ticket: Uint8Array
}

/** Why a code was refused (§15.3), checked in this order. */
export type InvitationRefusal =
  | 'too-long'
  | 'not-a-code'
  | 'bad-character'
  | 'truncated'
  | 'checksum'
  | 'unknown-version'
  | 'bad-field'
  | 'trailing-bytes'
  | 'vlan-id-mismatch'

export type InvitationDecoding =
  | { readonly ok: true; readonly invitation: Invitation }
  | {
      readonly ok: false
      readonly reason: InvitationRefusal
      /** For a person: what is wrong and where. */
      readonly detail: string
      /** `bad-character`: the index of the first bad character in the text. */
      readonly position?: number
    }

type PayloadDecoding =
  | { readonly ok: true; readonly invitation: Invitation }
  | { readonly ok: false; readonly reason: InvitationRefusal; readonly detail: string }

/** The binary payload of §15.1. Throws {@link InviteError} (`invalid-argument`) on a field out of range. */
export function encodeInvitationPayload(inv: Invitation): Uint8Array {
  const bad = (what: string): never => {
    throw new InviteError('invalid-argument', `invitation ${what}`)
  }
  if (!isBytes(inv.vlanId, VLAN_ID_LENGTH)) bad('vlanId must be 32 bytes')
  let name: Uint8Array
  try {
    name = normaliseVlanName(inv.name)
  } catch (error) {
    return bad(`name: ${(error as Error).message}`)
  }
  if (!isBytes(inv.owner) || !isPeerIdBytes(inv.owner) || inv.owner.length > 255)
    bad('owner must be PeerId multihash bytes')
  const founder = inv.founder ?? new Uint8Array(0)
  if (inv.founder !== undefined) {
    if (!isBytes(inv.founder) || !isPeerIdBytes(inv.founder) || inv.founder.length > 255)
      bad('founder must be PeerId multihash bytes')
    if (sameBytes(inv.founder, inv.owner))
      bad('founder must be absent when the owner is the founder')
  }
  if (!isBytes(inv.ownerHpkeKey, HPKE_KEY_LENGTH)) bad('ownerHpkeKey must be 32 bytes')
  if (!Array.isArray(inv.addresses) || inv.addresses.length > MAX_ADDRESSES)
    bad(`addresses: at most ${MAX_ADDRESSES}`)
  const addresses = inv.addresses.map((address) => {
    const bytes = typeof address === 'string' && address.isWellFormed() ? utf8(address) : undefined
    if (bytes === undefined || addressProblem(address, bytes) !== undefined)
      bad(`address ${JSON.stringify(address)}: ${addressProblem(address, bytes) ?? 'not a string'}`)
    return bytes as Uint8Array
  })
  if (!isBytes(inv.secret, SECRET_LENGTH)) bad('secret must be 16 bytes')
  if (!isIntegerIn(inv.expiresAt, 0, MAX_EXPIRES_AT)) bad('expiresAt must be a u32 of seconds')
  if (!isBytes(inv.ticket) || inv.ticket.length > MAX_TICKET_BYTES)
    bad(`ticket: at most ${MAX_TICKET_BYTES} bytes`)

  const parts: Uint8Array[] = [
    Uint8Array.of(CODE_VERSION),
    inv.vlanId,
    Uint8Array.of(name.length),
    name,
    Uint8Array.of(inv.owner.length),
    inv.owner,
    Uint8Array.of(founder.length),
    founder,
    inv.ownerHpkeKey,
    Uint8Array.of(addresses.length),
  ]
  for (const address of addresses) parts.push(Uint8Array.of(address.length), address)
  const expires = new Uint8Array(4)
  new DataView(expires.buffer).setUint32(0, inv.expiresAt)
  parts.push(inv.secret, expires, Uint8Array.of(inv.ticket.length >>> 8, inv.ticket.length & 0xff))
  parts.push(inv.ticket)
  return concat(...parts)
}

/** §15.2: the first 5 bytes of derive_key("PeerTap v1 invitation code checksum", payload). */
export function codeChecksum(payload: Uint8Array): Uint8Array {
  return deriveBytes(CONTEXT_CODE_CHECKSUM, payload, CODE_CHECKSUM_LENGTH)
}

/**
 * The text form (§15.2): `peertap-invite:` and the lower-case base32 of
 * `payload ‖ checksum`, one unbroken word. Throws {@link InviteError} on a
 * field out of range.
 */
export function encodeInvitationCode(inv: Invitation): string {
  const payload = encodeInvitationPayload(inv)
  return CODE_PREFIX + base32Encode(concat(payload, codeChecksum(payload)))
}

/** §15.2: ASCII whitespace, which decoding ignores anywhere. */
const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d)

/**
 * Reads a code as a person pasted it (§15.3): case-insensitive, ignoring
 * ASCII whitespace anywhere and '-' after the prefix. Never throws; checks in
 * the order of {@link InvitationRefusal}. Expiry is not checked here
 * ({@link isExpired}).
 */
export function decodeInvitationCode(text: string): InvitationDecoding {
  if (typeof text !== 'string') return refuse('not-a-code', 'not text') // a caller's mistake, not a person's
  if (text.length > CODE_MAX_TEXT_LENGTH)
    return refuse('too-long', `longer than ${CODE_MAX_TEXT_LENGTH} characters`)
  let index = 0
  for (let p = 0; p < CODE_PREFIX.length; p++) {
    while (index < text.length && isSpace(text.charCodeAt(index))) index++
    let char = text.charCodeAt(index)
    if (char >= 0x41 && char <= 0x5a) char |= 0x20 // ASCII upper case to lower, nothing else
    if (index >= text.length || char !== CODE_PREFIX.charCodeAt(p))
      return refuse('not-a-code', `an invitation code starts with "${CODE_PREFIX}"`)
    index++
  }
  const values: number[] = []
  for (; index < text.length; index++) {
    const char = text.charCodeAt(index)
    if (isSpace(char) || char === 0x2d) continue
    const value = base32Value(char)
    if (value < 0) {
      const shown = String.fromCodePoint(text.codePointAt(index) ?? char)
      return {
        ok: false,
        reason: 'bad-character',
        detail: `character ${index + 1} is ${JSON.stringify(shown)}: a code holds only letters, digits 2 to 7 and '-'`,
        position: index,
      }
    }
    values.push(value)
  }
  if (Math.floor((values.length * 5) / 8) < 1 + CODE_CHECKSUM_LENGTH)
    return refuse('truncated', 'the code is cut short')
  const bytes = base32Decode(values)
  if (bytes === undefined)
    return refuse('checksum', 'the code is damaged (a character is missing, extra or changed)')
  const payload = bytes.subarray(0, bytes.length - CODE_CHECKSUM_LENGTH)
  if (!constantTimeEqual(codeChecksum(payload), bytes.subarray(payload.length)))
    return refuse('checksum', 'the code is damaged (a character is missing, extra or changed)')
  return decodeInvitationPayload(payload)
}

/**
 * The binary payload (§15.1) after its checksum passed; never throws.
 * Checks the version, every field, trailing bytes, then the VLAN-ID.
 */
export function decodeInvitationPayload(payload: Uint8Array): PayloadDecoding {
  if (payload.length < 1) return refuse('truncated', 'empty payload')
  if (payload[0] !== CODE_VERSION)
    return refuse(
      'unknown-version',
      `code version ${payload[0]}; this PeerTap reads version ${CODE_VERSION}`,
    )
  let offset = 1
  const take = (n: number): Uint8Array | undefined => {
    if (offset + n > payload.length) return undefined
    const out = payload.slice(offset, offset + n)
    offset += n
    return out
  }
  const u8 = (): number | undefined => take(1)?.[0]
  const cut = () => refuse('truncated', 'the code ends inside a field')

  const vlanId = take(VLAN_ID_LENGTH)
  const nameLength = u8()
  if (vlanId === undefined || nameLength === undefined) return cut()
  if (nameLength < 1 || nameLength > 64) return refuse('bad-field', `name length ${nameLength}`)
  const nameBytes = take(nameLength)
  if (nameBytes === undefined) return cut()
  const name = fromUtf8(nameBytes)
  if (name === undefined) return refuse('bad-field', 'the VLAN name is not UTF-8')
  let normalised: Uint8Array
  try {
    normalised = normaliseVlanName(name)
  } catch (error) {
    return refuse('bad-field', `VLAN name: ${(error as Error).message}`)
  }
  if (!sameBytes(normalised, nameBytes)) return refuse('bad-field', 'the VLAN name is not in NFC')

  const ownerLength = u8()
  if (ownerLength === undefined) return cut()
  const owner = take(ownerLength)
  if (owner === undefined) return cut()
  if (!isPeerIdBytes(owner)) return refuse('bad-field', 'the owner is not a PeerId multihash')
  const founderLength = u8()
  if (founderLength === undefined) return cut()
  const founderBytes = take(founderLength)
  if (founderBytes === undefined) return cut()
  let founder: Uint8Array | undefined
  if (founderLength > 0) {
    if (!isPeerIdBytes(founderBytes))
      return refuse('bad-field', 'the founder is not a PeerId multihash')
    if (sameBytes(founderBytes, owner))
      return refuse('bad-field', 'the founder is the owner: a code writes no founder then')
    founder = founderBytes
  }
  const ownerHpkeKey = take(HPKE_KEY_LENGTH)
  const count = u8()
  if (ownerHpkeKey === undefined || count === undefined) return cut()
  if (count > MAX_ADDRESSES)
    return refuse('bad-field', `${count} addresses; at most ${MAX_ADDRESSES}`)
  const addresses: string[] = []
  for (let i = 0; i < count; i++) {
    const length = u8()
    if (length === undefined) return cut()
    if (length === 0) return refuse('bad-field', `address ${i + 1} is empty`)
    const bytes = take(length)
    if (bytes === undefined) return cut()
    const address = fromUtf8(bytes)
    const problem = address === undefined ? 'not UTF-8' : addressProblem(address, bytes)
    if (problem !== undefined) return refuse('bad-field', `address ${i + 1}: ${problem}`)
    addresses.push(address as string)
  }
  const secret = take(SECRET_LENGTH)
  const expires = take(4)
  const ticketLength = take(2)
  if (secret === undefined || expires === undefined || ticketLength === undefined) return cut()
  const expiresAt = new DataView(expires.buffer, expires.byteOffset, 4).getUint32(0)
  const ticketBytes = ((ticketLength[0] ?? 0) << 8) | (ticketLength[1] ?? 0)
  if (ticketBytes > MAX_TICKET_BYTES)
    return refuse('bad-field', `ticket of ${ticketBytes} bytes; at most ${MAX_TICKET_BYTES}`)
  const ticket = take(ticketBytes)
  if (ticket === undefined) return cut()
  if (offset !== payload.length)
    return refuse('trailing-bytes', `${payload.length - offset} bytes after the last field`)

  if (!sameBytes(deriveVlanId(founder ?? owner, nameBytes), vlanId))
    return refuse(
      'vlan-id-mismatch',
      founder === undefined
        ? 'the VLAN-ID is not the one the owner and the name give'
        : 'the VLAN-ID is not the one the founder and the name give',
    )
  return {
    ok: true,
    invitation: {
      vlanId,
      name,
      owner,
      ...(founder === undefined ? {} : { founder }),
      ownerHpkeKey,
      addresses,
      secret,
      expiresAt,
      ticket,
    },
  }
}

/** True once `nowSeconds` reaches `expiresAt`: the owner refuses the code from then on (§15.6). */
export function isExpired(inv: Pick<Invitation, 'expiresAt'>, nowSeconds: number): boolean {
  return nowSeconds >= inv.expiresAt
}

/** §15.1: what makes an address unusable, or undefined. */
function addressProblem(address: string, bytes: Uint8Array | undefined): string | undefined {
  if (bytes === undefined) return 'not well-formed text'
  if (bytes.length < 1 || bytes.length > MAX_ADDRESS_BYTES)
    return `1 to ${MAX_ADDRESS_BYTES} bytes of UTF-8`
  if (!address.startsWith('/')) return "a multiaddr starts with '/'"
  if (/[\p{Cc}\s]/u.test(address)) return 'contains a space or a control character'
  return undefined
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i])
}

function refuse(
  reason: InvitationRefusal,
  detail: string,
): { ok: false; reason: InvitationRefusal; detail: string } {
  return { ok: false, reason, detail }
}
