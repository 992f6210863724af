/**
 * The PeerTap fabric (docs/spec/16-fabric.md): the MVLAN every fabric member
 * joins with one shared secret, and what travels on it. The fabric's keys
 * (MVLAN-ID, the MVLAN's PSK epoch secrets, the credential key relays admit
 * fabric members by) and each member's port MAC; the root-signed fabric
 * epoch statement that tells relays the current credential key; signed
 * presence records (who a member is, where it is reached, which VLANs it is
 * in), their Ethernet frames on the MVLAN and batches on trunk CONTROL
 * channel 12; and a directory of them with bounded size, rate and
 * lifetime. Pure: no I/O, time is an argument.
 *
 * @example
 * ```ts
 * import { Directory, ed25519PeerIdOf, fabricKeys, signPresence } from '@peertap/mvlan'
 *
 * const keys = fabricKeys(new TextEncoder().encode('our fabric secret, 32 bytes long'))
 * const seed = new Uint8Array(32).fill(7) // the member's Ed25519 seed
 * const peerId = ed25519PeerIdOf(seed)
 * const now = 1_800_000_000
 *
 * const record = signPresence({ seed, peerId, role: 'node', seq: 1n, issuedAt: now, expiresAt: now + 900,
 *   addresses: ['/ip4/192.0.2.7/udp/7400'], vlans: [{ vlanId: keys.mvlanId, name: 'fabric' }] })
 * const directory = new Directory()
 * console.log(directory.offer(record, now)) // { ok: true, change: 'new', entry: { peerId: '12D3KooW…', … } }
 * console.log(directory.offer(record, now)) // { ok: false, reason: 'stale' }
 * ```
 *
 * @packageDocumentation
 */

export { base58btc, base58btcDecode } from './base58.ts'
export {
  BATCH_SEND_BYTES,
  CONTEXT_MVLAN_MAC,
  DEFAULT_CLOCK_SKEW_SECONDS,
  DEFAULT_MAX_PEERS,
  DEFAULT_MAX_RELAYS,
  DEFAULT_RECORDS_PER_PEER_PER_MINUTE,
  ETHERNET_HEADER_LENGTH,
  FABRIC_SECRET_LENGTH,
  MAX_ADDRESSES,
  MAX_BATCH_BYTES,
  MAX_BATCH_RECORDS,
  MAX_RECORD_BYTES,
  MAX_VLAN_NAME_BYTES,
  MAX_VLANS,
  PRESENCE_CONTROL_CHANNEL,
  PRESENCE_ETHERTYPE,
  PRESENCE_LABEL,
  PRESENCE_MAX_LIFETIME_SECONDS,
  RATE_WINDOW_SECONDS,
  STATEMENT_LABEL,
  STATEMENT_LENGTH,
} from './constants.ts'
export {
  Directory,
  type DirectoryCounters,
  type DirectoryEntry,
  type DirectoryInit,
  type DirectoryLimits,
  type DirectoryOffer,
  type DirectoryOfferOptions,
  type DirectoryVlan,
} from './directory.ts'
export { MvlanError, type MvlanErrorCode } from './errors.ts'
export { type FabricKeys, fabricKeys, mvlanPortMac } from './fabric.ts'
export {
  decodeFabricGrant,
  encodeFabricGrant,
  type FabricGrant,
  type FabricGrantDecoding,
  GRANT_VERSION,
  MAX_GRANT_ADMINS,
} from './grant.ts'
export {
  FabricMember,
  fitRecord,
  MAX_DIALS_IN_FLIGHT,
  MAX_DIRECT_DIALS,
  MAX_REDIAL_S,
  MAX_RELAY_LINKS,
  type MemberCounters,
  type MemberPorts,
  PREVIOUS_EPOCH_S,
  PUBLISH_EVERY_S,
  peerOfAddress,
  QUIET_AFTER_RESET_S,
  RECORD_LIFETIME_S,
  REDIAL_S,
  STATEMENT_EVERY_S,
} from './member.ts'
export {
  decodePresenceBatch,
  decodePresenceFrame,
  encodePresenceBatch,
  encodePresenceBatches,
  encodePresenceFrame,
  type PresenceFrameParams,
} from './messages.ts'
export {
  decodePresence,
  ed25519PeerIdOf,
  isEd25519PeerId,
  PRESENCE_REJECTIONS,
  type PresenceDecoding,
  type PresenceRecord,
  type PresenceRejection,
  type PresenceRole,
  type PresenceVlan,
  type SignPresenceParams,
  signPresence,
  verifyPresence,
} from './presence.ts'
export {
  checkFabricState,
  type FabricState,
  judgeGrant,
  newFabric,
  nextFabricEpoch,
} from './state.ts'
export {
  decodeFabricEpoch,
  type FabricEpochDecoding,
  type FabricEpochStatement,
  rootKeyOf,
  type SignFabricEpochParams,
  signFabricEpoch,
  verifyFabricEpoch,
} from './statement.ts'
