/**
 * A PeerTap VLAN as an MLS group (RFC 9420, through ts-mls, suite 1:
 * MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519), docs/spec/11-mls.md.
 *
 * - Credentials name the member's libp2p PeerId and are bound to its
 *   identity key; key packages and commits whose credential does not match
 *   are refused.
 * - Only the owner commits (an admin only under an owner-signed lease);
 *   members propose. Commits travel as bundles with the proposals they
 *   reference, and every member keeps a log others catch up from. The
 *   owner may hand the VLAN to a member by a signed transfer carried in a
 *   commit (`VlanGroup.transfer`); the VLAN-ID stays the founder's.
 * - Every change is written through a {@link StateStorage} before it is
 *   returned; `@peertap/mls/file-storage` is the atomic file implementation.
 * - Each epoch's data-path keys (frameBase, vftKey, hpKey, authSeed) come
 *   from the MLS exporter and are handed over as @peertap/switch's
 *   `EpochKeys` of kind 'mls'.
 *
 * - How a node carries its VLANs' MLS messages (spec §11) is
 *   {@link MlsVlanNode}, pure code over ports (switch, links, log) with
 *   time passed in: the CONTROL and in-VLAN layouts (`encodeMlsControl`,
 *   `encodeVlanControl` and their decoders, which never throw), the epoch
 *   change ({@link EpochChange}), catch-up ({@link CatchUp}) and proposal
 *   allowances ({@link ProposalAllowances}).
 *
 * Bad input never changes the state: it throws an {@link MlsError} with a
 * stable `code`.
 *
 * @example
 * ```ts
 * import {
 *   createKeyPackage, createVlanGroup, joinVlanGroup, MemoryStorage,
 *   nodeIdentityFromEd25519PrivateKey,
 * } from '@peertap/mls'
 *
 * const vlanId = new Uint8Array(32) // derive_key("PeerTap v1 VLAN-ID", ...) in practice
 * const owner = await nodeIdentityFromEd25519PrivateKey(crypto.getRandomValues(new Uint8Array(32)))
 * const bob = await nodeIdentityFromEd25519PrivateKey(crypto.getRandomValues(new Uint8Array(32)))
 *
 * const group = await createVlanGroup({ vlanId, identity: owner, storage: new MemoryStorage() })
 * const kp = await createKeyPackage({ identity: bob }) // bob keeps kp.secret
 * const { bundle, welcome } = await group.addMembers({
 *   keyPackages: [{ keyPackage: kp.keyPackage, from: bob.peerId }],
 * })
 * const bobGroup = await joinVlanGroup({
 *   vlanId, ownerPeerId: owner.peerId, welcome: welcome!, keyPackageSecret: kp.secret,
 *   identity: bob, storage: new MemoryStorage(),
 * })
 * // `bundle` goes to the other members: await member.processCommit({ bundle })
 * const keys = bobGroup.epochKeys() // { kind: 'mls', epoch: 1, secrets, leafIndex: 1, acceptLeaf }
 * console.log(keys.epoch === group.epochKeys().epoch, bundle.length > 0)
 * ```
 *
 * @packageDocumentation
 */

export {
  due,
  holdKeyPackage,
  KEY_PACKAGE_RESEND_MS,
  MAX_HELD_KEY_PACKAGES,
  MAX_PROPOSAL_PEERS,
  PROPOSALS_BURST,
  PROPOSALS_PER_SECOND,
  ProposalAllowances,
  UPDATE_RESEND_MS,
} from './allowances.ts'
export { type CommitBundle, decodeBundle, encodeBundle } from './bundle.ts'
export {
  CATCH_UP_ANSWER_INTERVAL_MS,
  CATCH_UP_ANSWERED_MAX,
  CATCH_UP_RETRY_LONGEST_MS,
  CATCH_UP_RETRY_MS,
  CatchUp,
  type CatchUpAnswer,
  catchUpAnswer,
  MAX_CATCH_UP_BYTES,
  RESEND_EPOCHS,
  resendSince,
} from './catch-up.ts'
export {
  CIPHERSUITE_ID,
  CIPHERSUITE_NAME,
  CREDENTIAL_BINDING_LABEL,
  DEFAULT_LOG_LIMIT,
  LEASE_CLOCK_SKEW_SECONDS,
  LEASE_LABEL,
  MAX_LEASE_SECONDS,
  TRANSFER_LABEL,
} from './constants.ts'
export {
  ACK_TIMEOUT_MS,
  EpochChange,
  type EpochChangeAction,
  type PromoteReason,
  SETTLE_MS,
} from './epoch-change.ts'
export { MLS_ERROR_CODES, MlsError, type MlsErrorCode } from './errors.ts'
export { type ExportEpochSecretsParams, exportEpochSecrets } from './exporter.ts'
export {
  type Clock,
  type CommitOutput,
  type CreateVlanGroupParams,
  createKeyPackage,
  createVlanGroup,
  type JoinVlanGroupParams,
  joinVlanGroup,
  type KeyPackageOutput,
  type LoadVlanGroupParams,
  loadVlanGroup,
  type Member,
  type MlsEpochKeys,
  type ProcessOutput,
  type ProposalSummary,
  recordName,
  VlanGroup,
  type VlanGroupOptions,
  verifyKeyPackage,
} from './group.ts'
export {
  type CredentialClaim,
  ed25519PublicKeyOfPeerId,
  type NodeIdentity,
  nodeIdentityFromEd25519PrivateKey,
  peerIdFromEd25519PublicKey,
} from './identity.ts'
export { decodeLease, type Lease, type LeaseFields, verifyLease } from './lease.ts'
export { MemoryStorage, type StateStorage } from './storage.ts'
export {
  decodeTransfer,
  signTransfer,
  type Transfer,
  type TransferFields,
  verifyTransfer,
} from './transfer.ts'
export {
  type AdmitOutcome,
  type LeaveResult,
  type LogLevel,
  MAX_IN_VLAN_COMMIT_BYTES,
  type MlsVlanCounters,
  MlsVlanNode,
  type MlsVlanPorts,
  type MlsVlanSpec,
  type Reply,
  type SwitchPort,
  type TransferResult,
  type VlanEpochKeys,
  type VlanMember,
} from './vlan-node.ts'
export {
  type AdmissionRecord,
  CATCH_UP_ANSWER,
  CATCH_UP_COMMIT,
  CATCH_UP_REQUEST,
  type Decoded,
  decodeAdmissionRecord,
  decodeKeyPackageRecord,
  decodeMlsControl,
  decodeVlanControl,
  encodeAdmissionRecord,
  encodeKeyPackageRecord,
  encodeMlsControl,
  encodeVlanControl,
  type KeyPackageRecord,
  MLS_CONTROL_CHANNELS,
  type MlsControlChannel,
  type MlsControlMessage,
  mlsControlChannelOf,
  VLAN_ACK,
  VLAN_COMMIT,
  VLAN_SWITCH,
  type VlanControlMessage,
  WIRE_ERROR_REASONS,
  type WireError,
  type WireErrorReason,
} from './vlan-wire.ts'
