/**
 * A VLAN's MLS group (docs/spec/11-mls.md): create, add, remove, update,
 * proposals, commit ordering (only the owner, or an admin under a lease,
 * commits), the commit log and catch-up, persistence, and the epoch's keys.
 *
 * Every operation runs in order (one at a time per group) and follows the
 * same pipeline:
 *
 *   1. decode and check the input (typed MlsError on any defect)
 *   2. compute the next state with ts-mls, which never mutates the old one
 *   3. write the whole record (state, log, leases, proposals) to storage
 *   4. only then adopt the new state and return (or acknowledge)
 *
 * A refused input stops before 3, so the state stays byte for byte what it
 * was; a crash before 3 completes leaves the old record, after it the new.
 */
import type { EpochSecrets } from '@peertap/crypto'
import {
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  createCommit,
  createGroup,
  createProposal,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  type IncomingMessageCallback,
  joinGroup,
  type KeyPackage,
  type LeafNode,
  type MLSMessage,
  type PrivateKeyPackage,
  type Proposal,
  processPrivateMessage,
  processPublicMessage,
  type Welcome,
  zeroOutUint8Array,
} from 'ts-mls'
import { defaultClientConfig } from 'ts-mls/clientConfig.js'
import { encode } from 'ts-mls/codec/tlsEncoder.js'
import { signWithLabel } from 'ts-mls/crypto/signature.js'
import {
  makeKeyPackageRef,
  verifyKeyPackage as verifyKeyPackageSignature,
} from 'ts-mls/keyPackage.js'
import { leafNodeTBSEncoder, verifyLeafNodeSignature } from 'ts-mls/leafNode.js'
import { bundleEpoch, decodeBundle, encodeBundle } from './bundle.ts'
import {
  CIPHERSUITE_NAME,
  DEFAULT_LOG_LIMIT,
  LEASE_CLOCK_SKEW_SECONDS,
  VLAN_ID_LENGTH,
} from './constants.ts'
import { MlsError } from './errors.ts'
import { exportEpochSecrets } from './exporter.ts'
import {
  bytesEqual,
  createCredential,
  hex,
  type NodeIdentity,
  parseCredential,
  peerTapAuthenticationService,
  verifyCredential,
} from './identity.ts'
import {
  decodeLease,
  decodeLeaseAad,
  encodeLeaseAad,
  type Lease,
  leaseCovers,
  signLease,
  verifyLease,
} from './lease.ts'
import { decodeRecord, encodeRecord, type GroupRecord } from './record.ts'
import type { StateStorage } from './storage.ts'
import { suite } from './suite.ts'
import { decodeTransferAad, encodeTransferAad, signTransfer, verifyTransfer } from './transfer.ts'

/** Unix seconds now; the clock is a parameter so tests and the node control it. */
export type Clock = () => number

const systemClock: Clock = () => Math.floor(Date.now() / 1000)

/** The keys of one epoch exactly as @peertap/switch's `EpochKeys` of kind 'mls' takes them. */
export interface MlsEpochKeys {
  readonly kind: 'mls'
  /** The MLS epoch (a safe integer; the KID carries its low 8 bits). */
  readonly epoch: number
  /** frameBase, vftKey, hpKey, authSeed from the MLS exporter (11-mls.md §3). */
  readonly secrets: EpochSecrets
  /** This member's leaf index: the KID's leaf field when it sends. */
  readonly leafIndex: number
  /** True for leaf indices that hold a member in this epoch (receivers drop others). */
  readonly acceptLeaf: (leafIndex: number) => boolean
}

/** A member of the group. */
export interface Member {
  readonly leafIndex: number
  /** The member's PeerId, multihash bytes, from its credential. */
  readonly peerId: Uint8Array
}

/** What a commit produced: send `bundle` to the members and `welcome` to those added. */
export interface CommitOutput {
  /** The commit bundle (11-mls.md §6), already in this member's log and storage. */
  readonly bundle: Uint8Array
  /** The Welcome (an MLS message) for added members, if any were added. */
  readonly welcome: Uint8Array | undefined
  /** The epoch the group is in now. */
  readonly epoch: bigint
}

/** What processing a commit did. */
export interface ProcessOutput {
  /** The epoch the group is in now. */
  readonly epoch: bigint
  /** True if the commit removed this member: it holds no keys any more. */
  readonly removed: boolean
  /**
   * True if the commit applied this member's own Update proposal
   * ({@link VlanGroup.proposeUpdate}): its leaf now holds the fresh keys.
   */
  readonly updated: boolean
  /**
   * The new owner's PeerId if the commit transferred ownership (11-mls.md
   * §12.1): from this epoch on only it commits (or an admin under its lease).
   */
  readonly newOwner: Uint8Array | undefined
}

/** A proposal received by a committer, as it was recorded. */
export interface ProposalSummary {
  readonly kind: 'add' | 'remove' | 'update'
  /** Who proposed it. */
  readonly proposer: Uint8Array
  /** Whom it adds, removes or updates (an update's subject is its proposer). */
  readonly subject: Uint8Array
}

/** A fresh key package and the private keys its holder keeps until the Welcome comes. */
export interface KeyPackageOutput {
  /** The key package as an MLS message: send it to the VLAN's owner. */
  readonly keyPackage: Uint8Array
  /** Private: the key package's secrets, for {@link joinVlanGroup}. Store it as a secret. */
  readonly secret: Uint8Array
}

/** Options shared by every way of getting a {@link VlanGroup}. */
export interface VlanGroupOptions {
  /** Where the group's record lives. */
  readonly storage: StateStorage
  /** The node's identity (its PeerId and identity key). */
  readonly identity: NodeIdentity
  /** Unix seconds; defaults to the system clock. */
  readonly clock?: Clock
  /** Commits kept in the log for others to catch up from; default 64. */
  readonly logLimit?: number
}

/** Parameters of {@link createVlanGroup}. */
export interface CreateVlanGroupParams extends VlanGroupOptions {
  /** The VLAN-ID (spec 01 §1.2), 32 bytes: the MLS group ID and exporter context. */
  readonly vlanId: Uint8Array
}

/** Parameters of {@link joinVlanGroup}. */
export interface JoinVlanGroupParams extends VlanGroupOptions {
  /** The VLAN-ID the joiner expects (from its invitation). */
  readonly vlanId: Uint8Array
  /** The owner's PeerId the joiner expects (from its invitation). */
  readonly ownerPeerId: Uint8Array
  /** The Welcome (an MLS message) the owner sent. */
  readonly welcome: Uint8Array
  /** The `secret` of the key package the owner added ({@link createKeyPackage}). */
  readonly keyPackageSecret: Uint8Array
}

/** Parameters of {@link loadVlanGroup}. */
export interface LoadVlanGroupParams extends VlanGroupOptions {
  readonly vlanId: Uint8Array
}

/** The storage name of a VLAN's record: `mls-` and the VLAN-ID in hex. */
export function recordName(vlanId: Uint8Array): string {
  return `mls-${hex(vlanId)}`
}

function clientConfig(): ClientConfig {
  return {
    ...defaultClientConfig,
    authService: peerTapAuthenticationService(),
    // PeerTap sends no MLS application messages, so old epochs' receiver
    // secrets have no use. (0 would keep every epoch in ts-mls 1.6.4, whose
    // pruning does slice(-max); see also #adopt, which drops them outright.)
    keyRetentionConfig: { ...defaultClientConfig.keyRetentionConfig, retainKeysForEpochs: 1 },
  }
}

function checkVlanId(vlanId: Uint8Array): void {
  if (!(vlanId instanceof Uint8Array) || vlanId.length !== VLAN_ID_LENGTH) {
    throw new MlsError('mls-malformed', 'a VLAN-ID is 32 bytes')
  }
}

function decodeMessage(bytes: Uint8Array, what: string): MLSMessage {
  let decoded: [MLSMessage, number] | undefined
  try {
    decoded = decodeMlsMessage(bytes, 0)
  } catch (cause) {
    throw new MlsError('mls-malformed', `${what} does not decode`, { cause })
  }
  if (decoded === undefined || decoded[1] !== bytes.length) {
    throw new MlsError('mls-malformed', `${what} does not decode`)
  }
  return decoded[0]
}

/** Runs a ts-mls step; any error it throws becomes 'mls-rejected' (typed errors pass through). */
async function mls<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (cause) {
    if (cause instanceof MlsError) throw cause
    const why = cause instanceof Error ? cause.message : String(cause)
    throw new MlsError('mls-rejected', `${what}: ${why}`, { cause })
  }
}

// ---------------------------------------------------------------------------
// Key packages (11-mls.md §2)
// ---------------------------------------------------------------------------

function encodeSecret(kp: Uint8Array, priv: PrivateKeyPackage): Uint8Array {
  return encodeParts([kp, priv.initPrivateKey, priv.hpkePrivateKey, priv.signaturePrivateKey])
}

/** `(u32 len ‖ bytes)*`: key package secrets and a pending update's keys. */
function encodeParts(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0))
  const view = new DataView(out.buffer)
  let o = 0
  for (const p of parts) {
    view.setUint32(o, p.length)
    out.set(p, o + 4)
    o += 4 + p.length
  }
  return out
}

/** Exactly `n` parts of {@link encodeParts}, or undefined. */
function decodeParts(bytes: Uint8Array, n: number): Uint8Array[] | undefined {
  const parts: Uint8Array[] = []
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let o = 0
  while (o < bytes.length && parts.length < n) {
    if (o + 4 > bytes.length) break
    const len = view.getUint32(o)
    if (o + 4 + len > bytes.length) break
    parts.push(bytes.slice(o + 4, o + 4 + len))
    o += 4 + len
  }
  return parts.length === n && o === bytes.length ? parts : undefined
}

function decodeSecret(bytes: Uint8Array): { keyPackage: KeyPackage; priv: PrivateKeyPackage } {
  const parts = decodeParts(bytes, 4)
  if (parts === undefined) {
    throw new MlsError('mls-malformed', 'a key package secret does not decode')
  }
  const message = decodeMessage(parts[0]!, 'the key package')
  if (message.wireformat !== 'mls_key_package') {
    throw new MlsError('mls-malformed', 'not a key package')
  }
  return {
    keyPackage: message.keyPackage,
    priv: {
      initPrivateKey: parts[1]!,
      hpkePrivateKey: parts[2]!,
      signaturePrivateKey: parts[3]!,
    },
  }
}

async function newKeyPackage(
  identity: NodeIdentity,
  cs: CiphersuiteImpl,
): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }> {
  const signatureKeyPair = await cs.signature.keygen()
  const credential = await createCredential(identity, signatureKeyPair.publicKey)
  return generateKeyPackageWithKey(
    credential,
    defaultCapabilities(),
    defaultLifetime,
    [],
    signatureKeyPair,
    cs,
  )
}

/**
 * 11-mls.md §2: a key package naming `identity`'s PeerId, with a fresh MLS
 * signature key bound to the identity key. Send `keyPackage` to the owner,
 * keep `secret` until the Welcome arrives.
 */
export async function createKeyPackage(params: {
  readonly identity: NodeIdentity
}): Promise<KeyPackageOutput> {
  const cs = await suite()
  const { publicPackage, privatePackage } = await newKeyPackage(params.identity, cs)
  const keyPackage = encodeMlsMessage({
    version: 'mls10',
    wireformat: 'mls_key_package',
    keyPackage: publicPackage,
  })
  return { keyPackage, secret: encodeSecret(keyPackage, privatePackage) }
}

/**
 * 11-mls.md §2: decodes a key package and checks that its credential is a
 * PeerTap credential bound to its identity key and naming `from`, the peer
 * it came from. Returns the PeerId it names.
 */
export async function verifyKeyPackage(params: {
  readonly keyPackage: Uint8Array
  readonly from: Uint8Array
}): Promise<Uint8Array> {
  const kp = await checkedKeyPackage(params.keyPackage, params.from)
  return parseCredential(kp.leafNode.credential)!.peerId
}

/**
 * A key package's own checks (11-mls.md §2): suite 1, mls10, its signature,
 * and a valid PeerTap credential. Catching a bad one here, rather than when
 * a commit fails on it, keeps a bad proposal from blocking the committer.
 */
async function checkKeyPackage(kp: KeyPackage, cs: CiphersuiteImpl): Promise<void> {
  if (kp.cipherSuite !== CIPHERSUITE_NAME || kp.version !== 'mls10') {
    throw new MlsError('mls-rejected', 'a key package of another ciphersuite or version')
  }
  if (!(await verifyKeyPackageSignature(kp, cs.signature))) {
    throw new MlsError('mls-rejected', 'the key package signature does not verify')
  }
  if (!(await verifyCredential(kp.leafNode.credential, kp.leafNode.signaturePublicKey))) {
    throw new MlsError('mls-credential-invalid', 'the key package has no valid PeerTap credential')
  }
}

async function checkedKeyPackage(bytes: Uint8Array, from: Uint8Array): Promise<KeyPackage> {
  const message = decodeMessage(bytes, 'the key package')
  if (message.wireformat !== 'mls_key_package')
    throw new MlsError('mls-malformed', 'not a key package')
  const kp = message.keyPackage
  await checkKeyPackage(kp, await suite())
  const claim = parseCredential(kp.leafNode.credential)!
  if (!bytesEqual(claim.peerId, from)) {
    throw new MlsError(
      'mls-credential-mismatch',
      'the key package names another PeerId than its sender',
    )
  }
  return kp
}

// ---------------------------------------------------------------------------
// Creating, joining, loading
// ---------------------------------------------------------------------------

/** 11-mls.md §4: the owner creates the VLAN's group (epoch 0, one member) and stores it. */
export async function createVlanGroup(params: CreateVlanGroupParams): Promise<VlanGroup> {
  checkVlanId(params.vlanId)
  const cs = await suite()
  const { publicPackage, privatePackage } = await newKeyPackage(params.identity, cs)
  const state = await createGroup(
    params.vlanId.slice(),
    publicPackage,
    privatePackage,
    [],
    cs,
    clientConfig(),
  )
  const group = new VlanGroup(params, cs, state, {
    vlanId: params.vlanId.slice(),
    ownerPeerId: params.identity.peerId.slice(),
    selfPeerId: params.identity.peerId.slice(),
    leaseOutstandingUntil: 0,
    heldLease: new Uint8Array(0),
    pendingProposals: [],
    pendingUpdate: new Uint8Array(0),
    groupState: new Uint8Array(0),
    commitLog: [],
  })
  await group.init()
  return group
}

/**
 * 11-mls.md §4: joins from a Welcome made for the key package whose secret
 * the caller kept; checks the VLAN-ID and that the expected owner is a member.
 */
export async function joinVlanGroup(params: JoinVlanGroupParams): Promise<VlanGroup> {
  checkVlanId(params.vlanId)
  const cs = await suite()
  const { keyPackage, priv } = decodeSecret(params.keyPackageSecret)
  const message = decodeMessage(params.welcome, 'the Welcome')
  if (message.wireformat !== 'mls_welcome') throw new MlsError('mls-malformed', 'not a Welcome')
  const welcome: Welcome = message.welcome
  const ref = await makeKeyPackageRef(keyPackage, cs.hash)
  if (!welcome.secrets.some((s) => bytesEqual(s.newMember, ref))) {
    throw new MlsError(
      'mls-welcome-not-for-us',
      'the Welcome holds no secrets for this key package',
    )
  }
  const state = await mls('the Welcome', () =>
    joinGroup(welcome, keyPackage, priv, emptyPskIndex, cs, undefined, undefined, clientConfig()),
  )
  if (!bytesEqual(state.groupContext.groupId, params.vlanId)) {
    throw new MlsError('mls-wrong-group', 'the Welcome is for another VLAN')
  }
  const members = membersOf(state)
  if (!members.some((m) => bytesEqual(m.peerId, params.ownerPeerId))) {
    throw new MlsError('mls-credential-mismatch', 'the expected owner is not a member of the group')
  }
  const self = members.find((m) => m.leafIndex === state.privatePath.leafIndex)
  if (self === undefined || !bytesEqual(self.peerId, params.identity.peerId)) {
    throw new MlsError('mls-credential-mismatch', 'the key package does not name this identity')
  }
  const group = new VlanGroup(params, cs, state, {
    vlanId: params.vlanId.slice(),
    ownerPeerId: params.ownerPeerId.slice(),
    selfPeerId: params.identity.peerId.slice(),
    leaseOutstandingUntil: 0,
    heldLease: new Uint8Array(0),
    pendingProposals: [],
    pendingUpdate: new Uint8Array(0),
    groupState: new Uint8Array(0),
    commitLog: [],
  })
  await group.init()
  return group
}

/**
 * 11-mls.md §7: loads a VLAN's group from storage, or returns undefined if
 * none was stored. Throws 'mls-state-corrupt' if the record is damaged or
 * belongs to another identity or VLAN.
 */
export async function loadVlanGroup(params: LoadVlanGroupParams): Promise<VlanGroup | undefined> {
  checkVlanId(params.vlanId)
  const bytes = await params.storage.read(recordName(params.vlanId))
  if (bytes === undefined) return undefined
  const record = decodeRecord(bytes)
  if (!bytesEqual(record.vlanId, params.vlanId)) {
    throw new MlsError('mls-state-corrupt', 'the stored record is for another VLAN')
  }
  if (!bytesEqual(record.selfPeerId, params.identity.peerId)) {
    throw new MlsError('mls-state-corrupt', 'the stored record belongs to another identity')
  }
  const decoded = decodeGroupState(record.groupState, 0)
  if (decoded === undefined || decoded[1] !== record.groupState.length) {
    throw new MlsError('mls-state-corrupt', 'the stored MLS state does not decode')
  }
  const cs = await suite()
  const state: ClientState = { ...decoded[0], clientConfig: clientConfig() }
  const group = new VlanGroup(params, cs, state, record)
  await group.refreshKeys()
  return group
}

function membersOf(state: ClientState): Member[] {
  const out: Member[] = []
  const tree = state.ratchetTree
  for (let i = 0; i < tree.length; i += 2) {
    const node = tree[i]
    if (node?.nodeType !== 'leaf') continue
    const claim = parseCredential(node.leaf.credential)
    if (claim !== undefined) out.push({ leafIndex: i / 2, peerId: claim.peerId })
  }
  return out
}

function leafPeerId(state: ClientState, leafIndex: number): Uint8Array | undefined {
  const node = state.ratchetTree[leafIndex * 2]
  if (node?.nodeType !== 'leaf') return undefined
  return parseCredential(node.leaf.credential)?.peerId
}

/** A member's own Update proposal waiting for a commit, with its new leaf's private keys. */
interface PendingUpdate {
  /** The proposal as sent (an MLS PublicMessage). */
  readonly message: Uint8Array
  /** The epoch it was made in: it is void in any other. */
  readonly epoch: bigint
  /** The new leaf's HPKE private key. */
  readonly hpkePrivateKey: Uint8Array
  /** The new leaf's MLS signature private key. */
  readonly signaturePrivateKey: Uint8Array
}

function decodePendingUpdate(bytes: Uint8Array): PendingUpdate | undefined {
  if (bytes.length === 0) return undefined
  const parts = decodeParts(bytes, 3)
  if (parts === undefined)
    throw new MlsError('mls-state-corrupt', 'the pending update does not decode')
  const m = decodeMessage(parts[0]!, 'the pending update')
  if (m.wireformat !== 'mls_public_message') {
    throw new MlsError('mls-state-corrupt', 'the pending update is not a public message')
  }
  return {
    message: parts[0]!,
    epoch: m.publicMessage.content.epoch,
    hpkePrivateKey: parts[1]!,
    signaturePrivateKey: parts[2]!,
  }
}

/**
 * Leaves an Update or Remove proposal already pending for `leafIndex` would
 * touch: MLS refuses a commit with two such proposals for one leaf (RFC
 * §12.2), so a committer accepts at most one.
 */
function leafHasPendingChange(state: ClientState, leafIndex: number): boolean {
  return Object.values(state.unappliedProposals).some(
    ({ proposal, senderLeafIndex }) =>
      (proposal.proposalType === 'update' && senderLeafIndex === leafIndex) ||
      (proposal.proposalType === 'remove' && proposal.remove.removed === leafIndex),
  )
}

// ---------------------------------------------------------------------------
// The group
// ---------------------------------------------------------------------------

/**
 * One VLAN's MLS group on this node. Get one with {@link createVlanGroup},
 * {@link joinVlanGroup} or {@link loadVlanGroup}. Operations run one at a
 * time; each is persisted before it returns.
 */
export class VlanGroup {
  readonly #storage: StateStorage
  readonly #identity: NodeIdentity
  readonly #clock: Clock
  readonly #logLimit: number
  readonly #cs: CiphersuiteImpl
  #state: ClientState
  #record: GroupRecord
  #keys: MlsEpochKeys | undefined
  #queue: Promise<unknown> = Promise.resolve()

  /** @internal Use createVlanGroup, joinVlanGroup or loadVlanGroup. */
  constructor(
    options: VlanGroupOptions,
    cs: CiphersuiteImpl,
    state: ClientState,
    record: GroupRecord,
  ) {
    this.#storage = options.storage
    this.#identity = options.identity
    this.#clock = options.clock ?? systemClock
    const limit = options.logLimit ?? DEFAULT_LOG_LIMIT
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new MlsError('mls-malformed', 'logLimit is a non-negative integer')
    }
    this.#logLimit = limit
    this.#cs = cs
    this.#state = state
    this.#record = record
  }

  /** @internal Persists a new group's first record and derives its keys. */
  async init(): Promise<void> {
    await this.#adopt(this.#state, {}, [])
  }

  /** @internal Derives the current epoch's keys (after load). */
  async refreshKeys(): Promise<void> {
    this.#keys = await this.#deriveKeys(this.#state)
  }

  /** The VLAN-ID (the MLS group ID). */
  get vlanId(): Uint8Array {
    return this.#record.vlanId.slice()
  }

  /**
   * The current owner's PeerId: the founder (whose PeerId derived the
   * VLAN-ID) until a transfer (11-mls.md §12.1) names another member.
   */
  get ownerPeerId(): Uint8Array {
    return this.#record.ownerPeerId.slice()
  }

  /** True if this node owns the VLAN. */
  get isOwner(): boolean {
    return bytesEqual(this.#record.ownerPeerId, this.#record.selfPeerId)
  }

  /** The current MLS epoch. */
  get epoch(): bigint {
    return this.#state.groupContext.epoch
  }

  /** This member's leaf index. */
  get leafIndex(): number {
    return this.#state.privatePath.leafIndex
  }

  /** True once a commit removed this member. */
  get removed(): boolean {
    return this.#state.groupActiveState.kind === 'removedFromGroup'
  }

  /**
   * True if this member may commit now (11-mls.md §4, §5): the owner while
   * no lease it issued runs, or an admin within the lease it holds.
   */
  canCommit(): boolean {
    if (this.removed) return false
    try {
      this.#committerAad(this.#clock())
      return true
    } catch {
      return false
    }
  }

  /** The members of the current epoch, by leaf index. */
  members(): Member[] {
    return membersOf(this.#state)
  }

  /**
   * The current epoch's data-path keys, as @peertap/switch's `EpochKeys`
   * (kind 'mls') takes them. Throws 'mls-removed' once this member is removed.
   */
  epochKeys(): MlsEpochKeys {
    if (this.removed || this.#keys === undefined) {
      throw new MlsError('mls-removed', 'this member was removed from the group')
    }
    return this.#keys
  }

  /** The commit bundles in this member's log, oldest first (for others to catch up from). */
  commitLog(params: { readonly since?: bigint } = {}): Uint8Array[] {
    const since = params.since ?? 0n
    return this.#record.commitLog
      .filter((b) => (bundleEpoch(b) ?? -1n) >= since)
      .map((b) => b.slice())
  }

  /** The record as stored (for tests and diagnostics: it holds private keys). */
  snapshot(): Uint8Array {
    return encodeRecord({ ...this.#record, groupState: encodeGroupState(this.#state) })
  }

  // -- committer operations (11-mls.md §4, §5) ------------------------------

  /**
   * 11-mls.md §4: adds members by their key packages, each checked against
   * the PeerId of the peer it came from. Pending proposals go in the same
   * commit. Returns the bundle for the members and the Welcome for the new ones.
   */
  addMembers(params: {
    readonly keyPackages: readonly { readonly keyPackage: Uint8Array; readonly from: Uint8Array }[]
  }): Promise<CommitOutput> {
    return this.#run(async () => {
      const members = this.members()
      const seen: Uint8Array[] = []
      const proposals: Proposal[] = []
      for (const { keyPackage, from } of params.keyPackages) {
        const kp = await checkedKeyPackage(keyPackage, from)
        if (
          members.some((m) => bytesEqual(m.peerId, from)) ||
          seen.some((p) => bytesEqual(p, from))
        ) {
          throw new MlsError('mls-membership', 'that PeerId is already a member')
        }
        seen.push(from)
        proposals.push({ proposalType: 'add', add: { keyPackage: kp } })
      }
      if (proposals.length === 0) throw new MlsError('mls-malformed', 'no key packages to add')
      return this.#commit(proposals)
    })
  }

  /** 11-mls.md §4: removes members by PeerId. The owner cannot be removed, nor the committer itself. */
  removeMembers(params: { readonly peerIds: readonly Uint8Array[] }): Promise<CommitOutput> {
    return this.#run(async () => {
      const members = this.members()
      const proposals: Proposal[] = []
      for (const peerId of params.peerIds) {
        if (bytesEqual(peerId, this.#record.ownerPeerId)) {
          throw new MlsError('mls-owner-removal', 'the owner cannot be removed')
        }
        const m = members.find((x) => bytesEqual(x.peerId, peerId))
        if (m === undefined || m.leafIndex === this.leafIndex) {
          throw new MlsError('mls-membership', 'not a member this committer can remove')
        }
        proposals.push({ proposalType: 'remove', remove: { removed: m.leafIndex } })
      }
      if (proposals.length === 0) throw new MlsError('mls-malformed', 'no members to remove')
      return this.#commit(
        proposals,
        new Set(proposals.map((p) => (p.proposalType === 'remove' ? p.remove.removed : -1))),
      )
    })
  }

  /**
   * 11-mls.md §4: the committer's self-update: a commit with a fresh path
   * (new leaf and path keys, a new epoch), carrying any pending proposals.
   */
  update(): Promise<CommitOutput> {
    return this.#run(() => this.#commit([]))
  }

  /**
   * 11-mls.md §5: the owner grants `adminPeerId` (a member) the right to
   * commit from `notBefore` to `notAfter` (unix seconds, at most one day).
   * The owner itself does not commit until the lease has run out; the
   * returned lease bytes go to the admin ({@link VlanGroup.acceptLease}).
   */
  issueLease(params: {
    readonly adminPeerId: Uint8Array
    readonly notBefore: number
    readonly notAfter: number
  }): Promise<Uint8Array> {
    return this.#run(async () => {
      this.#checkActive()
      if (!this.isOwner) throw new MlsError('mls-not-committer', 'only the owner issues leases')
      if (!this.members().some((m) => bytesEqual(m.peerId, params.adminPeerId))) {
        throw new MlsError('mls-membership', 'an admin must be a member')
      }
      const lease = await signLease({
        owner: this.#identity,
        fields: { vlanId: this.#record.vlanId, ...params },
      })
      const until = Math.max(this.#record.leaseOutstandingUntil, params.notAfter)
      await this.#persist(this.#state, { ...this.#record, leaseOutstandingUntil: until })
      return lease.bytes
    })
  }

  /** 11-mls.md §5: an admin keeps the lease the owner gave it, to commit under it. */
  acceptLease(params: { readonly lease: Uint8Array }): Promise<void> {
    return this.#run(async () => {
      this.#checkActive()
      const lease = await verifyLease({
        lease: params.lease,
        vlanId: this.#record.vlanId,
        ownerPeerId: this.#record.ownerPeerId,
      })
      if (!bytesEqual(lease.adminPeerId, this.#record.selfPeerId)) {
        throw new MlsError('mls-lease-invalid', 'the lease names another admin')
      }
      await this.#persist(this.#state, { ...this.#record, heldLease: lease.bytes })
    })
  }

  /**
   * 11-mls.md §12.1: the owner hands the VLAN to `newOwnerPeerId`, a
   * member: an update commit that adds and removes nobody, carrying the
   * transfer it signs with its identity key for this epoch. From the new
   * epoch on this node is a plain member (its record names the new owner,
   * stored with the commit) and every member that processes the commit
   * takes the new owner. Refused: on a node that is not the owner
   * ('mls-not-committer'), while a lease it issued runs
   * ('mls-lease-outstanding'), for itself or a non-member
   * ('mls-membership'), with proposals pending ('mls-proposal-refused':
   * commit or discard them first, so the transfer commit carries none).
   * `signed` is for tests only: a transfer to carry as it is instead of
   * signing one (receivers check it).
   */
  transfer(params: {
    readonly newOwnerPeerId: Uint8Array
    /** @internal Tests only: the transfer to carry, unchecked here. */
    readonly signed?: Uint8Array
  }): Promise<CommitOutput> {
    return this.#run(async () => {
      this.#checkActive()
      if (!this.isOwner) throw new MlsError('mls-not-committer', 'only the owner transfers a VLAN')
      const to = params.newOwnerPeerId
      if (bytesEqual(to, this.#record.ownerPeerId)) {
        throw new MlsError('mls-membership', 'this node owns the VLAN already')
      }
      if (!this.members().some((m) => bytesEqual(m.peerId, to))) {
        throw new MlsError('mls-membership', 'the new owner must be a member')
      }
      if (this.#record.pendingProposals.length > 0) {
        throw new MlsError(
          'mls-proposal-refused',
          'proposals are pending: commit or discard them before transferring',
        )
      }
      const now = this.#clock()
      this.#committerAad(now) // the owner may commit now (no lease of its own runs)
      const signed =
        params.signed ??
        (
          await signTransfer({
            owner: this.#identity,
            fields: { vlanId: this.#record.vlanId, newOwnerPeerId: to, epoch: this.epoch },
          })
        ).bytes
      return this.#commit([], new Set(), {
        authenticatedData: encodeTransferAad(signed, now),
        newOwner: to.slice(),
      })
    })
  }

  // -- member operations ------------------------------------------------------

  /**
   * 11-mls.md §4: a member's proposal (to the committer): remove itself
   * (leave) or another member, or add a key package. Returns the proposal
   * message; the member's own state does not change.
   */
  propose(
    params:
      | { readonly remove: Uint8Array }
      | { readonly add: { readonly keyPackage: Uint8Array; readonly from: Uint8Array } },
  ): Promise<Uint8Array> {
    return this.#run(async () => {
      this.#checkActive()
      let proposal: Proposal
      if ('remove' in params) {
        if (bytesEqual(params.remove, this.#record.ownerPeerId)) {
          throw new MlsError('mls-owner-removal', 'the owner cannot be removed')
        }
        const m = this.members().find((x) => bytesEqual(x.peerId, params.remove))
        if (m === undefined) throw new MlsError('mls-membership', 'not a member')
        proposal = { proposalType: 'remove', remove: { removed: m.leafIndex } }
      } else {
        const kp = await checkedKeyPackage(params.add.keyPackage, params.add.from)
        if (this.members().some((m) => bytesEqual(m.peerId, params.add.from))) {
          throw new MlsError('mls-membership', 'that PeerId is already a member')
        }
        proposal = { proposalType: 'add', add: { keyPackage: kp } }
      }
      const result = await mls('proposal', () =>
        createProposal(this.#state, true, proposal, this.#cs),
      )
      return encodeMlsMessage(result.message)
    })
  }

  /**
   * 11-mls.md §4: a member's self-update (post-compromise security for its
   * own leaf): an MLS Update proposal (RFC 9420 §12.1.2) carrying a fresh
   * leaf (fresh HPKE key, fresh MLS signature key, its credential bound to
   * the same PeerId). Send it to the committer; once a commit applies it
   * ({@link ProcessOutput.updated}) the old leaf keys open nothing new.
   * The new leaf's private keys are stored before this returns; asked again
   * in the same epoch, it returns the same proposal (so it can be re-sent).
   * A commit that leaves the epoch without it voids it: propose again.
   */
  proposeUpdate(): Promise<Uint8Array> {
    return this.#run(async () => {
      this.#checkActive()
      if (this.isOwner) {
        throw new MlsError('mls-proposal-refused', 'the owner updates by committing (update())')
      }
      const pending = decodePendingUpdate(this.#record.pendingUpdate)
      if (pending !== undefined && pending.epoch === this.epoch) return pending.message.slice()
      const cs = this.#cs
      const current = this.#state.ratchetTree[this.leafIndex * 2]
      if (current?.nodeType !== 'leaf') throw new MlsError('mls-removed', 'no leaf')
      const hpke = await cs.hpke.generateKeyPair()
      const hpkePrivateKey = await cs.hpke.exportPrivateKey(hpke.privateKey)
      const hpkePublicKey = await cs.hpke.exportPublicKey(hpke.publicKey)
      const sig = await cs.signature.keygen()
      const credential = await createCredential(this.#identity, sig.publicKey)
      const data = {
        hpkePublicKey,
        signaturePublicKey: sig.publicKey,
        credential,
        capabilities: current.leaf.capabilities,
        leafNodeSource: 'update' as const,
        extensions: [],
      }
      // RFC §7.2: an update leaf signs its group ID and leaf index too.
      const tbs = encode(leafNodeTBSEncoder)({
        ...data,
        groupId: this.#record.vlanId,
        leafIndex: this.leafIndex,
      })
      const leafNode: LeafNode = {
        ...data,
        signature: await signWithLabel(sig.signKey, 'LeafNodeTBS', tbs, cs.signature),
      }
      const result = await mls('proposal', () =>
        createProposal(this.#state, true, { proposalType: 'update', update: { leafNode } }, cs),
      )
      const message = encodeMlsMessage(result.message)
      await this.#persist(this.#state, {
        ...this.#record,
        pendingUpdate: encodeParts([message, hpkePrivateKey, sig.signKey]),
      })
      return message
    })
  }

  /**
   * 11-mls.md §4: a committer records a member's proposal for its next
   * commit. Always accepted: a member removing itself, and a member's
   * Update of its own leaf. Adds (of a key package with a valid PeerTap
   * credential of a non-member) and removals of other members go to
   * `policy`; by default adds are accepted and removals of others refused.
   * The owner's removal is always refused ('mls-owner-removal'), as is
   * anything `policy` refuses ('mls-proposal-refused').
   */
  receiveProposal(params: {
    readonly message: Uint8Array
    /**
     * The committer's policy for a member's proposal to add someone or to
     * remove another member (the node decides by proposer, from its config).
     */
    readonly policy?: (proposal: ProposalSummary) => boolean
  }): Promise<ProposalSummary> {
    const policy = params.policy ?? ((p: ProposalSummary) => p.kind === 'add')
    return this.#run(async () => {
      this.#checkActive()
      const message = decodeMessage(params.message, 'the proposal')
      if (message.wireformat !== 'mls_public_message') {
        throw new MlsError('mls-malformed', 'a proposal is a public MLS message')
      }
      const pm = message.publicMessage
      if (pm.content.contentType !== 'proposal')
        throw new MlsError('mls-malformed', 'not a proposal')
      this.#checkGroupAndEpoch(pm.content.groupId, pm.content.epoch, 'proposal')
      if (this.#record.pendingProposals.some((p) => bytesEqual(p, params.message))) {
        throw new MlsError('mls-replayed', 'this proposal is already pending')
      }
      let summary: ProposalSummary | undefined
      let refusal: MlsError | undefined
      let added: KeyPackage | undefined
      let updated: { leaf: LeafNode; leafIndex: number } | undefined
      const callback: IncomingMessageCallback = (incoming) => {
        if (incoming.kind !== 'proposal') return 'reject'
        const from = incoming.proposal.senderLeafIndex
        const proposer = from === undefined ? undefined : leafPeerId(this.#state, from)
        const p = incoming.proposal.proposal
        if (proposer === undefined) {
          refusal = new MlsError('mls-proposal-refused', 'proposals come from members')
        } else if (p.proposalType === 'remove') {
          const subject = leafPeerId(this.#state, p.remove.removed)
          if (subject === undefined) refusal = new MlsError('mls-membership', 'not a member')
          else if (bytesEqual(subject, this.#record.ownerPeerId)) {
            refusal = new MlsError('mls-owner-removal', 'the owner cannot be removed')
          } else if (p.remove.removed !== from && !policy({ kind: 'remove', proposer, subject })) {
            refusal = new MlsError(
              'mls-proposal-refused',
              "this committer's policy does not let that member remove others",
            )
          } else if (
            p.remove.removed === this.leafIndex ||
            leafHasPendingChange(this.#state, p.remove.removed)
          ) {
            refusal = new MlsError(
              'mls-proposal-refused',
              'a change to that member is already pending, or it is the committer',
            )
          } else summary = { kind: 'remove', proposer, subject }
        } else if (p.proposalType === 'update') {
          const leaf = p.update.leafNode
          const claim = parseCredential(leaf.credential)
          if (from === this.leafIndex) {
            refusal = new MlsError('mls-proposal-refused', 'a committer updates by committing')
          } else if (leaf.leafNodeSource !== 'update') {
            refusal = new MlsError('mls-malformed', 'an update proposal carries an update leaf')
          } else if (claim === undefined) {
            refusal = new MlsError('mls-credential-invalid', 'not a PeerTap credential')
          } else if (!bytesEqual(claim.peerId, proposer)) {
            refusal = new MlsError(
              'mls-credential-mismatch',
              'an update must keep the PeerId of the leaf it replaces',
            )
          } else if (leafHasPendingChange(this.#state, from!)) {
            refusal = new MlsError(
              'mls-proposal-refused',
              'a change to that member is already pending',
            )
          } else {
            summary = { kind: 'update', proposer, subject: proposer }
            updated = { leaf, leafIndex: from! }
          }
        } else if (p.proposalType === 'add') {
          const subject = parseCredential(p.add.keyPackage.leafNode.credential)?.peerId
          if (subject === undefined) {
            refusal = new MlsError('mls-credential-invalid', 'not a PeerTap credential')
          } else if (this.members().some((m) => bytesEqual(m.peerId, subject))) {
            refusal = new MlsError('mls-membership', 'that PeerId is already a member')
          } else if (!policy({ kind: 'add', proposer, subject })) {
            refusal = new MlsError(
              'mls-proposal-refused',
              "this committer's policy does not let that member propose adds",
            )
          } else {
            summary = { kind: 'add', proposer, subject }
            added = p.add.keyPackage
          }
        } else {
          refusal = new MlsError(
            'mls-proposal-refused',
            `${p.proposalType} proposals are not accepted`,
          )
        }
        return refusal === undefined ? 'accept' : 'reject'
      }
      const result = await mls('proposal', () =>
        processPublicMessage(this.#state, pm, emptyPskIndex, this.#cs, callback),
      )
      if (refusal !== undefined) throw refusal
      if (summary === undefined || result.actionTaken !== 'accept') {
        throw new MlsError('mls-proposal-refused', 'proposal refused')
      }
      if (added !== undefined) await checkKeyPackage(added, this.#cs)
      if (updated !== undefined) await this.#checkUpdateLeaf(updated.leaf, updated.leafIndex)
      await this.#persist(result.newState, {
        ...this.#record,
        pendingProposals: [...this.#record.pendingProposals, params.message.slice()],
      })
      this.#state = result.newState
      return summary
    })
  }

  /** Commits the pending proposals (a committer's answer to members' proposals). */
  commitPending(): Promise<CommitOutput> {
    return this.#run(async () => {
      if (this.#record.pendingProposals.length === 0) {
        throw new MlsError('mls-malformed', 'no pending proposals')
      }
      return this.#commit([])
    })
  }

  /**
   * Drops every pending proposal (they are valid for one epoch anyway):
   * the committer's way out if a commit cannot include them.
   */
  discardProposals(): Promise<number> {
    return this.#run(async () => {
      const n = this.#record.pendingProposals.length
      if (n === 0) return 0
      const state: ClientState = { ...this.#state, unappliedProposals: {} }
      await this.#persist(state, { ...this.#record, pendingProposals: [] })
      this.#state = state
      return n
    })
  }

  /**
   * 11-mls.md §6: applies a commit bundle from the committer. Refuses,
   * with the state untouched: a malformed bundle, another group's, an older
   * epoch's ('mls-replayed' if it is the commit already applied, 'mls-fork'
   * if a different one, 'mls-stale' if older than the log), a later epoch's
   * ('mls-gap': catch up first), a commit from a member that may not commit
   * ('mls-not-committer'), and anything MLS rejects ('mls-rejected').
   * Returns after the new state is stored.
   */
  processCommit(params: { readonly bundle: Uint8Array }): Promise<ProcessOutput> {
    return this.#run(() => this.#process(params.bundle))
  }

  /**
   * 11-mls.md §6: catches up from another member's log: bundles in epoch
   * order. Bundles of epochs already passed are checked against this
   * member's log (identical: skipped; different: 'mls-fork'); the rest must
   * follow on without a hole ('mls-gap', checked before anything is
   * applied). Each applied commit is stored before the next; on an error
   * the commits before it stay applied. Returns how many were applied.
   */
  catchUp(params: { readonly bundles: readonly Uint8Array[] }): Promise<number> {
    return this.#run(async () => {
      this.#checkActive()
      const epochs = params.bundles.map((b) => {
        const e = bundleEpoch(b)
        if (e === undefined) throw new MlsError('mls-malformed', 'a bundle is too short')
        return e
      })
      for (let i = 1; i < epochs.length; i++) {
        if (epochs[i] !== epochs[i - 1]! + 1n) {
          throw new MlsError('mls-gap', 'the catch-up sequence is not consecutive')
        }
      }
      const first = epochs[0]
      if (first !== undefined && first > this.epoch) {
        throw new MlsError(
          'mls-gap',
          `the catch-up starts at epoch ${first}, this member is at ${this.epoch}`,
        )
      }
      let applied = 0
      for (const [i, bundle] of params.bundles.entries()) {
        const e = epochs[i]!
        if (e < this.epoch) {
          const mine = this.#record.commitLog.find((b) => bundleEpoch(b) === e)
          if (mine !== undefined && !bytesEqual(mine, bundle)) {
            throw new MlsError('mls-fork', `the commit for epoch ${e} differs from the one applied`)
          }
          continue
        }
        await this.#process(bundle)
        applied++
        if (this.removed) break
      }
      return applied
    })
  }

  // -- internals --------------------------------------------------------------

  #run<T>(f: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(f, f)
    this.#queue = next.catch(() => undefined)
    return next
  }

  #checkActive(): void {
    if (this.removed) throw new MlsError('mls-removed', 'this member was removed from the group')
  }

  #checkGroupAndEpoch(groupId: Uint8Array, epoch: bigint, what: string): void {
    if (!bytesEqual(groupId, this.#record.vlanId)) {
      throw new MlsError('mls-wrong-group', `the ${what} is for another group`)
    }
    if (epoch < this.epoch)
      throw new MlsError('mls-stale', `the ${what} is for epoch ${epoch}, now ${this.epoch}`)
    if (epoch > this.epoch)
      throw new MlsError('mls-gap', `the ${what} is for epoch ${epoch}, now ${this.epoch}`)
  }

  /**
   * An update leaf's own checks, on receipt (so a bad one cannot block the
   * committer's next commit): its signature over group ID and leaf index,
   * and its credential's binding to the fresh signature key.
   */
  async #checkUpdateLeaf(leaf: LeafNode, leafIndex: number): Promise<void> {
    if (
      !(await verifyLeafNodeSignature(leaf, this.#record.vlanId, leafIndex, this.#cs.signature))
    ) {
      throw new MlsError('mls-rejected', 'the update leaf signature does not verify')
    }
    if (!(await verifyCredential(leaf.credential, leaf.signaturePublicKey))) {
      throw new MlsError(
        'mls-credential-invalid',
        'the update leaf has no valid PeerTap credential',
      )
    }
  }

  /** Who may commit now: undefined (the owner), a lease to put in the AAD, or a refusal. */
  #committerAad(now: number): Uint8Array {
    if (this.isOwner) {
      // 11-mls.md §5: past notAfter by the skew allowance too, so that an
      // admin whose clock is behind (and members who accept its commit time)
      // has stopped before the owner commits again.
      if (now <= this.#record.leaseOutstandingUntil + LEASE_CLOCK_SKEW_SECONDS) {
        throw new MlsError('mls-lease-outstanding', 'a lease issued by the owner has not run out')
      }
      return new Uint8Array(0)
    }
    if (this.#record.heldLease.length > 0) {
      const lease = decodeLease(this.#record.heldLease)
      if (now >= lease.notBefore && now <= lease.notAfter) {
        return encodeLeaseAad(this.#record.heldLease, now)
      }
    }
    throw new MlsError(
      'mls-not-committer',
      'only the owner, or an admin under a valid lease, commits',
    )
  }

  /**
   * Commits the pending proposals and `extraProposals`. `removing`: leaves
   * this commit removes; a pending Update from or Remove of one of them is
   * left out (MLS refuses a commit with two changes to one leaf, RFC
   * §12.2, and the removal supersedes it), so a member's pending update can
   * never keep the committer from removing it.
   */
  async #commit(
    extraProposals: Proposal[],
    removing: ReadonlySet<number> = new Set(),
    transfer?: { readonly authenticatedData: Uint8Array; readonly newOwner: Uint8Array },
  ): Promise<CommitOutput> {
    this.#checkActive()
    const authenticatedData = transfer?.authenticatedData ?? this.#committerAad(this.#clock())
    let state = this.#state
    let pending = this.#record.pendingProposals
    if (removing.size > 0) {
      const touches = (p: Proposal, sender: number | undefined) =>
        (p.proposalType === 'update' && sender !== undefined && removing.has(sender)) ||
        (p.proposalType === 'remove' && removing.has(p.remove.removed))
      state = {
        ...state,
        unappliedProposals: Object.fromEntries(
          Object.entries(state.unappliedProposals).filter(
            ([, u]) => !touches(u.proposal, u.senderLeafIndex),
          ),
        ),
      }
      pending = pending.filter((bytes) => {
        const m = decodeMessage(bytes, 'a pending proposal')
        if (m.wireformat !== 'mls_public_message') return true
        const c = m.publicMessage.content
        if (c.contentType !== 'proposal') return true
        return !touches(
          c.proposal,
          c.sender.senderType === 'member' ? c.sender.leafIndex : undefined,
        )
      })
    }
    const result = await mls('commit', () =>
      createCommit(
        { state, cipherSuite: this.#cs },
        { extraProposals, ratchetTreeExtension: true, authenticatedData },
      ),
    )
    const bundle = encodeBundle({
      epoch: this.epoch,
      proposals: pending,
      commit: encodeMlsMessage(result.commit),
    })
    const welcome =
      result.welcome === undefined
        ? undefined
        : encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome })
    await this.#adopt(result.newState, { bundle, newOwner: transfer?.newOwner }, result.consumed)
    return { bundle, welcome, epoch: this.epoch }
  }

  async #process(bytes: Uint8Array): Promise<ProcessOutput> {
    this.#checkActive()
    const bundle = decodeBundle(bytes)
    const commitMessage = decodeMessage(bundle.commit, 'the commit')
    if (commitMessage.wireformat !== 'mls_private_message') {
      throw new MlsError('mls-malformed', 'a commit is a private MLS message')
    }
    const pm = commitMessage.privateMessage
    if (pm.contentType !== 'commit') throw new MlsError('mls-malformed', 'not a commit')
    if (pm.epoch !== bundle.epoch)
      throw new MlsError('mls-malformed', 'the bundle and its commit name different epochs')
    if (!bytesEqual(pm.groupId, this.#record.vlanId)) {
      throw new MlsError('mls-wrong-group', 'the commit is for another group')
    }
    if (bundle.epoch < this.epoch) {
      const mine = this.#record.commitLog.find((b) => bundleEpoch(b) === bundle.epoch)
      if (mine === undefined)
        throw new MlsError('mls-stale', `a commit for epoch ${bundle.epoch}, now ${this.epoch}`)
      if (bytesEqual(mine, bytes))
        throw new MlsError('mls-replayed', `the commit for epoch ${bundle.epoch} was applied`)
      throw new MlsError(
        'mls-fork',
        `the commit for epoch ${bundle.epoch} differs from the one applied`,
      )
    }
    if (bundle.epoch > this.epoch) {
      throw new MlsError(
        'mls-gap',
        `a commit for epoch ${bundle.epoch}, this member is at ${this.epoch}: catch up`,
      )
    }

    // A transfer of ownership in the authenticated data (§12.1): signed by
    // the current owner for this VLAN and this epoch, in a commit that
    // carries no proposal; the committer (the owner) and the new owner's
    // membership are checked below, once MLS has named the sender.
    const transferAad = decodeTransferAad(pm.authenticatedData)
    const transfer =
      transferAad === undefined
        ? undefined
        : await verifyTransfer({
            transfer: transferAad.transfer,
            vlanId: this.#record.vlanId,
            epoch: bundle.epoch,
            ownerPeerId: this.#record.ownerPeerId,
          })
    if (transfer !== undefined && bundle.proposals.length > 0) {
      throw new MlsError('mls-transfer-invalid', 'a transfer commit carries no proposals')
    }

    // A lease in the authenticated data (an admin's commit): verify it now,
    // check the committer against it below, once MLS has named the sender.
    let leaseRef: { lease: Lease; commitTime: number } | undefined
    const aad = (() => {
      if (transfer !== undefined) return undefined
      try {
        return decodeLeaseAad(pm.authenticatedData)
      } catch (e) {
        throw e instanceof MlsError
          ? e
          : new MlsError('mls-lease-invalid', 'bad authenticated data')
      }
    })()
    if (aad !== undefined) {
      const lease = await verifyLease({
        lease: aad.lease,
        vlanId: this.#record.vlanId,
        ownerPeerId: this.#record.ownerPeerId,
      })
      leaseRef = { lease, commitTime: aad.commitTime }
    }

    let state = this.#state
    for (const p of bundle.proposals) {
      const m = decodeMessage(p, 'a proposal')
      if (
        m.wireformat !== 'mls_public_message' ||
        m.publicMessage.content.contentType !== 'proposal'
      ) {
        throw new MlsError('mls-malformed', 'a bundled proposal is not a public proposal message')
      }
      this.#checkGroupAndEpoch(
        m.publicMessage.content.groupId,
        m.publicMessage.content.epoch,
        'proposal',
      )
      const r = await mls('a bundled proposal', () =>
        processPublicMessage(state, m.publicMessage, emptyPskIndex, this.#cs),
      )
      state = r.newState
    }

    // This member's own Update proposal is in the bundle: the commit puts
    // its new leaf in the tree and encrypts the path secret to that leaf's
    // key, so process it holding the new leaf's private keys. The update
    // blanks this member's direct path (RFC §12.1.2), so no older path key
    // is kept: the commit's path supplies the ones that hold again.
    const pending = decodePendingUpdate(this.#record.pendingUpdate)
    const ownUpdate =
      pending !== undefined &&
      pending.epoch === this.epoch &&
      bundle.proposals.some((p) => bytesEqual(p, pending.message))
    if (ownUpdate) {
      state = {
        ...state,
        privatePath: {
          leafIndex: state.privatePath.leafIndex,
          privateKeys: { [state.privatePath.leafIndex * 2]: pending.hpkePrivateKey },
        },
        signaturePrivateKey: pending.signaturePrivateKey,
      }
    }

    const now = this.#clock()
    let refusal: MlsError | undefined
    const callback: IncomingMessageCallback = (incoming) => {
      if (incoming.kind !== 'commit') return 'reject'
      refusal = this.#committerRefusal(state, incoming.senderLeafIndex, leaseRef, now)
      if (refusal === undefined && transfer !== undefined) {
        if (incoming.proposals.length > 0) {
          refusal = new MlsError(
            'mls-transfer-invalid',
            'a transfer commit adds and removes nobody',
          )
        } else if (!membersOf(state).some((m) => bytesEqual(m.peerId, transfer.newOwnerPeerId))) {
          refusal = new MlsError('mls-transfer-invalid', 'the transfer names a non-member')
        }
      }
      if (refusal === undefined) {
        for (const { proposal, senderLeafIndex } of incoming.proposals) {
          if (proposal.proposalType === 'remove') {
            const subject = leafPeerId(state, proposal.remove.removed)
            if (subject !== undefined && bytesEqual(subject, this.#record.ownerPeerId)) {
              refusal = new MlsError('mls-owner-removal', 'a commit may not remove the owner')
            }
          } else if (proposal.proposalType === 'update') {
            // A member may refresh its leaf, never change whom it names.
            const before =
              senderLeafIndex === undefined ? undefined : leafPeerId(state, senderLeafIndex)
            const after = parseCredential(proposal.update.leafNode.credential)?.peerId
            if (before === undefined || after === undefined || !bytesEqual(before, after)) {
              refusal = new MlsError(
                'mls-credential-mismatch',
                'an update leaf names another PeerId than the leaf it replaces',
              )
            }
          }
        }
      }
      return refusal === undefined ? 'accept' : 'reject'
    }
    const result = await mls('the commit', () =>
      processPrivateMessage(state, pm, emptyPskIndex, this.#cs, callback),
    )
    if (refusal !== undefined) throw refusal
    if (result.kind !== 'newState' || result.actionTaken !== 'accept') {
      throw new MlsError('mls-rejected', 'the commit was not applied')
    }
    const newOwner = transfer?.newOwnerPeerId
    await this.#adopt(result.newState, { bundle: bytes, newOwner }, result.consumed)
    return {
      epoch: this.epoch,
      removed: this.removed,
      updated: ownUpdate && !this.removed,
      newOwner: newOwner?.slice(),
    }
  }

  #committerRefusal(
    state: ClientState,
    sender: number | undefined,
    leaseRef: { lease: Lease; commitTime: number } | undefined,
    now: number,
  ): MlsError | undefined {
    const peerId = sender === undefined ? undefined : leafPeerId(state, sender)
    if (peerId === undefined) return new MlsError('mls-not-committer', 'commits come from members')
    if (leaseRef === undefined) {
      return bytesEqual(peerId, this.#record.ownerPeerId)
        ? undefined
        : new MlsError(
            'mls-not-committer',
            'a commit from a member that is not the owner, without a lease',
          )
    }
    if (!bytesEqual(peerId, leaseRef.lease.adminPeerId)) {
      return new MlsError(
        'mls-credential-mismatch',
        'the lease names another admin than the committer',
      )
    }
    if (!leaseCovers(leaseRef.lease, leaseRef.commitTime, now)) {
      return new MlsError('mls-lease-invalid', 'the commit falls outside its lease')
    }
    return undefined
  }

  /**
   * Stores the record for `state` (and a bundle to log, and the new owner
   * after a transfer, §12.1), then adopts it.
   */
  async #adopt(
    next: ClientState,
    change: { bundle?: Uint8Array; newOwner?: Uint8Array | undefined },
    consumed: readonly Uint8Array[],
  ): Promise<void> {
    // Drop the previous epochs' receiver secrets (secret trees and ratchet
    // trees): they only serve late MLS application messages, which PeerTap
    // never sends, and keeping them would grow the record by a tree per
    // epoch and keep old-epoch secrets on disk (forward secrecy).
    const state: ClientState = { ...next, historicalReceiverData: new Map() }
    let log = this.#record.commitLog
    if (change.bundle !== undefined) {
      log = [...log, change.bundle].slice(Math.max(0, log.length + 1 - this.#logLimit))
    }
    const epochChanged = state.groupContext.epoch !== this.#state.groupContext.epoch
    const record: GroupRecord = {
      ...this.#record,
      commitLog: log,
      // Proposals are valid for one epoch; a commit consumes or voids them.
      pendingProposals: epochChanged ? [] : this.#record.pendingProposals,
      pendingUpdate: epochChanged ? new Uint8Array(0) : this.#record.pendingUpdate,
      // A held lease stays until it expires; the owner's outstanding one too.
      // A transfer ends every lease the old owner issued (§12.1): the new
      // owner's record and the old lease's admin forget it in this write.
      ...(change.newOwner === undefined
        ? {}
        : {
            ownerPeerId: change.newOwner,
            heldLease: new Uint8Array(0),
            leaseOutstandingUntil: 0,
          }),
    }
    const keys =
      state.groupActiveState.kind === 'removedFromGroup' ? undefined : await this.#deriveKeys(state)
    const dropped = epochChanged ? this.#record.pendingUpdate : undefined
    await this.#persist(state, record)
    this.#state = state
    this.#keys = keys
    if (dropped !== undefined) zeroOutUint8Array(dropped)
    // The old epoch's secrets that ts-mls hands back are no longer needed.
    for (const c of consumed) zeroOutUint8Array(c)
  }

  async #persist(state: ClientState, record: GroupRecord): Promise<void> {
    const full: GroupRecord = { ...record, groupState: encodeGroupState(state) }
    await this.#storage.write(recordName(record.vlanId), encodeRecord(full))
    this.#record = { ...record, groupState: new Uint8Array(0) }
  }

  async #deriveKeys(state: ClientState): Promise<MlsEpochKeys> {
    const epoch = state.groupContext.epoch
    if (epoch > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new MlsError('mls-rejected', 'epoch beyond 2^53')
    }
    const secrets = await exportEpochSecrets({
      exporterSecret: state.keySchedule.exporterSecret,
      vlanId: this.#record.vlanId,
    })
    const leaves = new Set(membersOf(state).map((m) => m.leafIndex))
    return {
      kind: 'mls',
      epoch: Number(epoch),
      secrets,
      leafIndex: state.privatePath.leafIndex,
      acceptLeaf: (leafIndex) => leaves.has(leafIndex),
    }
  }
}
