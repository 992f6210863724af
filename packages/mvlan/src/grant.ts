/**
 * Fabric grants (docs/spec/16-fabric.md §16.8): what hands a node the
 * fabric, on CONTROL channel 13 over an authenticated trunk link: an
 * invitation's owner to its joiner (15-invitations.md, with the Welcome),
 * and an admin to each member still in the fabric when it rotates the
 * secret. The trunk link is encrypted end to end (libp2p Noise, also
 * through a relay's circuit), so the grant is not sealed again; who may
 * send one is the receiver's rule (§16.8), not this format's.
 *
 * Wire form:
 *
 *   grant = 0x01 ‖ secret 32 ‖ statement 141
 *           ‖ adminCount u8 (1..8) ‖ adminCount × (length u8 ‖ PeerId bytes)
 *           ‖ bootstrapCount u8 (0..8) ‖ bootstrapCount × (length u8 ‖ multiaddr text)
 *
 * The statement (§16.2) is of the secret's epoch: its credential key is
 * the secret's (§16.1), or the grant is refused (`mismatch`).
 */
import { assertPeerIdBytes } from '@peertap/vft'
import { concat, equalBytes, fromUtf8, isBytes, utf8 } from './bytes.ts'
import { FABRIC_SECRET_LENGTH, MAX_ADDRESSES, STATEMENT_LENGTH } from './constants.ts'
import { MvlanError } from './errors.ts'
import { fabricKeys } from './fabric.ts'
import { decodeFabricEpoch, type FabricEpochStatement } from './statement.ts'

export const GRANT_VERSION = 0x01
export const MAX_GRANT_ADMINS = 8

/** A decoded grant. */
export interface FabricGrant {
  readonly secret: Uint8Array
  readonly statement: FabricEpochStatement
  /** PeerIds (multihash bytes) whose later grants (rotations) the receiver takes. */
  readonly admins: readonly Uint8Array[]
  /** Multiaddrs to dial to reach the fabric. */
  readonly bootstrap: readonly string[]
}

export type FabricGrantDecoding =
  | { readonly ok: true; readonly grant: FabricGrant }
  | { readonly ok: false; readonly reason: 'malformed' | 'mismatch' }

const ADDRESS_FORBIDDEN = /[\s\p{Cc}]/u

/** Encodes a grant; throws an MvlanError on a field out of range. */
export function encodeFabricGrant(grant: {
  secret: Uint8Array
  statement: Uint8Array
  admins: readonly Uint8Array[]
  bootstrap: readonly string[]
}): Uint8Array {
  if (!isBytes(grant.secret, FABRIC_SECRET_LENGTH))
    throw new MvlanError('invalid-argument', `a grant's secret is ${FABRIC_SECRET_LENGTH} bytes`)
  if (!isBytes(grant.statement, STATEMENT_LENGTH))
    throw new MvlanError('invalid-argument', `a statement is ${STATEMENT_LENGTH} bytes`)
  if (grant.admins.length < 1 || grant.admins.length > MAX_GRANT_ADMINS)
    throw new MvlanError('invalid-argument', `a grant names 1 to ${MAX_GRANT_ADMINS} admins`)
  if (grant.bootstrap.length > MAX_ADDRESSES)
    throw new MvlanError('invalid-argument', `a grant carries 0 to ${MAX_ADDRESSES} addresses`)
  const parts: Uint8Array[] = [Uint8Array.of(GRANT_VERSION), grant.secret, grant.statement]
  parts.push(Uint8Array.of(grant.admins.length))
  for (const admin of grant.admins) {
    assertPeerIdBytes(admin)
    parts.push(Uint8Array.of(admin.length), admin)
  }
  parts.push(Uint8Array.of(grant.bootstrap.length))
  for (const address of grant.bootstrap) {
    const bytes = utf8(address)
    if (!address.startsWith('/') || ADDRESS_FORBIDDEN.test(address) || bytes.length > 255)
      throw new MvlanError('invalid-argument', `not a multiaddr: ${JSON.stringify(address)}`)
    parts.push(Uint8Array.of(bytes.length), bytes)
  }
  return concat(...parts)
}

/** Decodes a grant from a peer: never throws. The statement's signature is the caller's to check. */
export function decodeFabricGrant(bytes: Uint8Array): FabricGrantDecoding {
  const malformed = { ok: false, reason: 'malformed' } as const
  if (
    !(bytes instanceof Uint8Array) ||
    bytes.length < 1 + FABRIC_SECRET_LENGTH + STATEMENT_LENGTH + 2
  )
    return malformed
  if (bytes[0] !== GRANT_VERSION) return malformed
  let at = 1
  const secret = bytes.slice(at, at + FABRIC_SECRET_LENGTH)
  at += FABRIC_SECRET_LENGTH
  const decoded = decodeFabricEpoch(bytes.slice(at, at + STATEMENT_LENGTH))
  if (!decoded.ok) return malformed
  at += STATEMENT_LENGTH
  const adminCount = bytes[at++]!
  if (adminCount < 1 || adminCount > MAX_GRANT_ADMINS) return malformed
  const admins: Uint8Array[] = []
  for (let i = 0; i < adminCount; i++) {
    const length = bytes[at++]
    if (length === undefined || length === 0 || at + length > bytes.length) return malformed
    const admin = bytes.slice(at, at + length)
    try {
      assertPeerIdBytes(admin)
    } catch {
      return malformed
    }
    admins.push(admin)
    at += length
  }
  const bootstrapCount = bytes[at++]
  if (bootstrapCount === undefined || bootstrapCount > MAX_ADDRESSES) return malformed
  const bootstrap: string[] = []
  for (let i = 0; i < bootstrapCount; i++) {
    const length = bytes[at++]
    if (length === undefined || length === 0 || at + length > bytes.length) return malformed
    const text = fromUtf8(bytes.subarray(at, at + length))
    if (text === undefined || !text.startsWith('/') || ADDRESS_FORBIDDEN.test(text))
      return malformed
    bootstrap.push(text)
    at += length
  }
  if (at !== bytes.length) return malformed
  if (!equalBytes(fabricKeys(secret).credentialKey, decoded.statement.credentialKey))
    return { ok: false, reason: 'mismatch' }
  return { ok: true, grant: { secret, statement: decoded.statement, admins, bootstrap } }
}
