import { blake3 } from '@noble/hashes/blake3.js'
import {
  MVLAN_ID_CONTEXT,
  PSK_VLAN_ID_CONTEXT,
  VLAN_ID_CONTEXT,
  VLAN_ID_LENGTH,
  VLAN_NAME_MAX_BYTES,
  VLAN_NAME_MIN_BYTES,
} from './constants.ts'
import { VftError } from './errors.ts'

/** A VLAN-ID or MVLAN-ID: 32 bytes (spec 01-identifiers.md). */
export type VlanId = Uint8Array

const encoder = new TextEncoder()
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const VLAN_ID_CONTEXT_BYTES = encoder.encode(VLAN_ID_CONTEXT)
const MVLAN_ID_CONTEXT_BYTES = encoder.encode(MVLAN_ID_CONTEXT)
const PSK_VLAN_ID_CONTEXT_BYTES = encoder.encode(PSK_VLAN_ID_CONTEXT)
// C0 controls, DEL and C1 controls (spec 01-identifiers.md §1).
const CONTROL_CHAR = /\p{Cc}/u
/** A PeerId's multihash digest is at most this long (spec 01-identifiers.md §2). */
const MAX_DIGEST_BYTES = 64

/**
 * Validates and normalises a VLAN name (spec 01-identifiers.md §1): the name
 * is NFC-normalised, then must be 1 to 64 bytes of UTF-8 without control
 * characters. Returns the exact bytes that enter the VLAN-ID derivation.
 *
 * A `Uint8Array` name must be valid UTF-8 (it is decoded strictly, then
 * normalised like a string). Throws a {@link VftError} naming what is wrong.
 */
export function normaliseVlanName(name: string | Uint8Array): Uint8Array {
  let text: string
  if (typeof name === 'string') {
    if (!name.isWellFormed()) {
      throw new VftError('vlan-name-invalid-utf8', 'VLAN name has an unpaired surrogate')
    }
    text = name
  } else {
    try {
      text = strictDecoder.decode(name)
    } catch {
      throw new VftError('vlan-name-invalid-utf8', 'VLAN name is not valid UTF-8')
    }
  }
  text = text.normalize('NFC')
  if (CONTROL_CHAR.test(text)) {
    throw new VftError('vlan-name-control-char', 'VLAN name contains a control character')
  }
  const bytes = encoder.encode(text)
  if (bytes.length < VLAN_NAME_MIN_BYTES) {
    throw new VftError('vlan-name-empty', 'VLAN name is empty')
  }
  if (bytes.length > VLAN_NAME_MAX_BYTES) {
    throw new VftError(
      'vlan-name-too-long',
      `VLAN name is ${bytes.length} bytes of UTF-8; at most ${VLAN_NAME_MAX_BYTES} are allowed`,
    )
  }
  return bytes
}

/**
 * Checks that `peerId` is a well-formed multihash (varint code, varint
 * length, exactly that many digest bytes), as libp2p PeerIds are. This makes
 * `peerId ‖ 0x00 ‖ name` unambiguous (spec 01-identifiers.md §2).
 */
export function assertPeerIdBytes(peerId: Uint8Array): void {
  let offset = 0
  const readVarint = (): number => {
    let value = 0
    for (let shift = 0; shift < 28; shift += 7) {
      const byte = peerId[offset]
      if (byte === undefined) return -1
      offset++
      // A minimal varint never ends in a zero byte after the first.
      if (byte === 0 && shift > 0) return -1
      value |= (byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return value
    }
    return -1
  }
  const code = readVarint()
  const length = readVarint()
  if (code < 0 || length < 1 || length > MAX_DIGEST_BYTES || offset + length !== peerId.length) {
    throw new VftError('peer-id-invalid', 'owner PeerId bytes are not a well-formed multihash')
  }
}

/**
 * VLAN-ID = BLAKE3 derive_key("PeerTap v1 VLAN-ID", ownerPeerId ‖ 0x00 ‖ name)
 * (spec 01-identifiers.md §2). `ownerPeerId` is the owner's PeerId as
 * multihash bytes; `name` is normalised by {@link normaliseVlanName}.
 */
export function deriveVlanId(ownerPeerId: Uint8Array, name: string | Uint8Array): VlanId {
  assertPeerIdBytes(ownerPeerId)
  const nameBytes = normaliseVlanName(name)
  const input = new Uint8Array(ownerPeerId.length + 1 + nameBytes.length)
  input.set(ownerPeerId, 0)
  input[ownerPeerId.length] = 0x00
  input.set(nameBytes, ownerPeerId.length + 1)
  return blake3(input, { context: VLAN_ID_CONTEXT_BYTES, dkLen: VLAN_ID_LENGTH })
}

/**
 * MVLAN-ID = BLAKE3 derive_key("PeerTap v1 MVLAN-ID", fabricSecret)
 * (spec 01-identifiers.md §3).
 */
export function deriveMvlanId(fabricSecret: Uint8Array): VlanId {
  if (fabricSecret.length === 0) throw new VftError('secret-empty', 'fabric secret is empty')
  return blake3(fabricSecret, { context: MVLAN_ID_CONTEXT_BYTES, dkLen: VLAN_ID_LENGTH })
}

/**
 * The VLAN-ID of a PSK VLAN, which has no owner:
 * BLAKE3 derive_key("PeerTap v1 PSK VLAN-ID", secret) (spec 01-identifiers.md §1.5).
 */
export function pskVlanId(secret: Uint8Array): VlanId {
  if (secret.length === 0) throw new VftError('secret-empty', 'VLAN secret is empty')
  return blake3(secret, { context: PSK_VLAN_ID_CONTEXT_BYTES, dkLen: VLAN_ID_LENGTH })
}

const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/**
 * Shows a VLAN-ID as lowercase RFC 4648 base32 without padding: 52
 * characters for 32 bytes (spec 01-identifiers.md §4).
 */
export function formatVlanId(id: VlanId): string {
  assertVlanId(id)
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of id) {
    buffer = ((buffer << 8) | byte) & 0xffff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += BASE32_ALPHABET[(buffer >>> bits) & 31]
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31]
  return out
}

/**
 * Parses the form {@link formatVlanId} prints. Upper case is accepted; the
 * length must be exact and the unused low bits of the last character zero,
 * so each VLAN-ID has exactly one text form.
 */
export function parseVlanId(text: string): VlanId {
  const expectedChars = Math.ceil((VLAN_ID_LENGTH * 8) / 5)
  if (text.length !== expectedChars) {
    throw new VftError('vlan-id-invalid', `a VLAN-ID is ${expectedChars} base32 characters`)
  }
  const out = new Uint8Array(VLAN_ID_LENGTH)
  let buffer = 0
  let bits = 0
  let index = 0
  for (const char of text.toLowerCase()) {
    const value = BASE32_ALPHABET.indexOf(char)
    if (value < 0) {
      throw new VftError('vlan-id-invalid', `not a base32 character: ${JSON.stringify(char)}`)
    }
    buffer = ((buffer << 5) | value) & 0xffff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[index++] = (buffer >>> bits) & 0xff
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) {
    throw new VftError('vlan-id-invalid', 'VLAN-ID has non-zero padding bits')
  }
  return out
}

function assertVlanId(id: Uint8Array): void {
  if (id.length !== VLAN_ID_LENGTH) {
    throw new VftError('vlan-id-invalid', `a VLAN-ID is ${VLAN_ID_LENGTH} bytes, got ${id.length}`)
  }
}
