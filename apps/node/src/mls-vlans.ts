/**
 * MLS VLANs on a running node (docs/spec/11-mls.md §11): the node's side of
 * each VLAN's MLS group, wired to the switch and the trunk. The group is
 * @peertap/mls's VlanGroup; the wire layouts (trunk CONTROL key package,
 * Welcome, catch-up, proposal, lease; the in-VLAN commit, ack and switch;
 * the key-package and admission records) are @peertap/mls's codec
 * (spec §11.2, §11.3, §11.6), sent on the trunk registry's channels
 * (08-trunk.md §4.6.1), in fragments when large (§4.6.2).
 *
 * Epoch timing (spec 11-mls.md §11): an add or update is held for receiving first
 * (`prepareEpoch`, subscriptions refreshed), acknowledged, and takes effect
 * for sending once every member acknowledged or after 2 s; a removal takes
 * effect at once and the previous epoch is dropped at once.
 *
 * Who commits: the owner, or an admin while it holds a lease the owner
 * issued (`peertap vlan lease`); every node processes the other's commits
 * (the package checks the lease) and the committer collects the acks.
 * Members propose: their own update (`vlan update` on a member), leaving
 * (`vlan remove SELF`), and, if the owner's config lists them as
 * proposers, adds and removals of others; the owner commits at once.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import { derivePskEpochSecrets } from '@peertap/crypto'
import {
  createKeyPackage,
  createVlanGroup,
  decodeAdmissionRecord,
  decodeBundle,
  decodeKeyPackageRecord,
  decodeMlsControl,
  decodeVlanControl,
  encodeAdmissionRecord,
  encodeKeyPackageRecord,
  encodeMlsControl,
  encodeVlanControl,
  joinVlanGroup,
  loadVlanGroup,
  type MlsControlChannel,
  type MlsControlMessage,
  MlsError,
  mlsControlChannelOf,
  type NodeIdentity,
  nodeIdentityFromEd25519PrivateKey,
  type ProposalSummary,
  type VlanGroup,
} from '@peertap/mls'
import { FileStorage } from '@peertap/mls/file-storage'
import { TokenBucket } from '@peertap/relay'
import type { Switch } from '@peertap/switch'
import {
  CONTROL_COMMIT_CATCH_UP,
  CONTROL_FRAGMENT,
  CONTROL_FRAGMENT_MAX_MESSAGE_BYTES,
  CONTROL_KEY_PACKAGE,
  CONTROL_LEASE,
  CONTROL_PROPOSAL,
  CONTROL_WELCOME,
  type Control,
  ControlFragments,
  type Link,
} from '@peertap/trunk'
import { deriveVlanId } from '@peertap/vft'
import * as Digest from 'multiformats/hashes/digest'
import type { Logger } from 'pino'
import type { VlanConfig } from './config.ts'

/** The trunk's CONTROL channel (its registry, 08-trunk.md §4.6.1) for each MLS message role. */
const CHANNEL_OF: Record<MlsControlChannel, number> = {
  'key-package': CONTROL_KEY_PACKAGE,
  welcome: CONTROL_WELCOME,
  'catch-up': CONTROL_COMMIT_CATCH_UP,
  proposal: CONTROL_PROPOSAL,
  lease: CONTROL_LEASE,
}
const ROLE_OF = new Map(
  Object.entries(CHANNEL_OF).map(([role, channel]) => [channel, role as MlsControlChannel]),
)
/**
 * A commit bundle up to this size goes inside the VLAN as one kind-2 frame;
 * a larger one (an add of hundreds of members) goes point to point to each
 * member over CONTROL 3, in fragments (08-trunk.md §4.6.2).
 */
const MAX_IN_VLAN_COMMIT_BYTES = 60_000
/** A catch-up answer carries at most this many bytes of bundles (in fragments if need be). */
const MAX_CATCH_UP_BYTES = CONTROL_FRAGMENT_MAX_MESSAGE_BYTES - 1024
/**
 * An add or update takes effect for sending after this long without every ack
 * (spec 11-mls.md §11).
 */
const ACK_TIMEOUT_MS = 2_000
/** How long the previous epoch stays held for receiving after the switch to a new one. */
const SETTLE_MS = 2_000
/** A joining member resends its key package this often until its Welcome comes. */
const KEY_PACKAGE_RESEND_MS = 3_000
/** Key packages kept per VLAN from peers not (yet) admitted, for `vlan add`. */
const MAX_HELD_KEY_PACKAGES = 256
/** Proposals a committer takes from one peer at once, then PROPOSALS_PER_SECOND (each costs a commit). */
export const PROPOSALS_BURST = 5
export const PROPOSALS_PER_SECOND = 0.2
/** Peers a committer keeps a proposal allowance for; beyond, a new peer's proposals wait. */
const MAX_PROPOSAL_PEERS = 1024
/** A member that asked for its own update sends its proposal again this often until a commit applies it. */
const UPDATE_RESEND_MS = 2_000
/** A node answers each member's catch-up requests at most this often (an answer may be 1 MiB). */
const CATCH_UP_ANSWER_INTERVAL_MS = 1_000
/** Members whose last answer time is kept; past it the record starts afresh. */
const CATCH_UP_ANSWERED_MAX = 1024
/** After a catch-up answer that did not reach back to its epoch, a member asks again after this long, doubling each time. */
const CATCH_UP_RETRY_MS = 1_000
const CATCH_UP_RETRY_LONGEST_MS = 60_000

/** What the node lends the MLS layer. */
export interface MlsHost {
  readonly sw: Switch
  readonly log: Logger
  getLink(peer: string): Link | undefined
  links(): Link[]
  /** Seals a kind-2 plaintext for every member of a VLAN and sends it. */
  sendInVlan(vlan: string, body: Uint8Array): void
  /** Recomputes subscriptions now and sends the SUB/UNSUB changes. */
  refresh(): Promise<void>
}

export interface MlsVlanCounters {
  keyPackagesSent: number
  keyPackagesReceived: number
  keyPackagesRefused: number
  welcomesSent: number
  /** Owner: Welcomes sent again to members still sending the key package they were added with. */
  welcomesResent: number
  welcomesReceived: number
  commitsSent: number
  commitsApplied: number
  commitsRefused: number
  /** Owner: commits sent again to members that did not acknowledge them. */
  commitsResent: number
  acksSent: number
  acksReceived: number
  catchUpRequests: number
  catchUpApplied: number
  /** Catch-up requests not answered: not from a member, or sooner than CATCH_UP_ANSWER_INTERVAL_MS after the last. */
  catchUpRefused: number
  /** Catch-up requests from before this node's log begins: the asker must be added again. */
  catchUpTooOld: number
  /** Times this member was removed by the owner. */
  removed: number
  /** Milliseconds from the last add or update commit to sending under its epoch. */
  lastSwitchMs: number
  /** Member: proposals sent to the owner (its update, leaving, adds and removals). */
  proposalsSent: number
  /** Committer: proposals recorded and committed. */
  proposalsCommitted: number
  /** Committer: proposals refused (policy, malformed, not a committer now, over the rate). */
  proposalsRefused: number
  /** Committer: proposals refused unread because their sender was over PROPOSALS_PER_SECOND. */
  proposalsRateLimited: number
  /** Member: commits that applied its own update (fresh leaf keys). */
  updatesApplied: number
  /** Owner: leases issued; admin: leases accepted. */
  leasesIssued: number
  leasesAccepted: number
  /** Self-updates started by the config's `updateSeconds` timer. */
  periodicUpdates: number
}

type State = 'joining' | 'member' | 'removed'

interface MlsVlan {
  readonly name: string
  readonly vlanId: Uint8Array
  readonly vlanIdHex: string
  readonly ownerPeerId: string
  readonly isOwner: boolean
  state: State
  group: VlanGroup | undefined
  /** Owner: PeerIds whose key packages it adds. */
  readonly admitted: Set<string>
  /** Owner: members whose proposals to add or remove others it commits (config `proposers`). */
  readonly proposers: Set<string>
  /** Config `admins`: the owner may lease them; a joiner also sends them its key package and takes their Welcome. */
  readonly admins: Set<string>
  /** Member: it asked for its own update, not yet applied (the proposal is resent until it is). */
  wantUpdate: boolean
  lastUpdateSentAt: number
  /** The epoch this node's last commit started (it sends `switch` for it). */
  committed: number | undefined
  /** Config `updateSeconds` in ms: a self-update this often (undefined: only when asked). */
  readonly updateEveryMs: number | undefined
  /** When this node last started a self-update (or started), by the clock. */
  lastSelfUpdateAt: number
  /** Owner: `vlan add` / `vlan remove` over the config's list, stored so a restart keeps them. */
  readonly changes: { added: Set<string>; removed: Set<string> }
  /** Owner: the latest key package from each peer that sent one. */
  readonly heldKeyPackages: Map<string, Uint8Array>
  /** Owner: the Welcome sent to each member it added since it started, by the key package it answered (sent again if that key package comes again: the Welcome was lost). */
  readonly welcomes: Map<string, { keyPackage: Uint8Array; welcome: Uint8Array }>
  /** Member while joining: the key package it sends and its secret. */
  keyPackage: { keyPackage: Uint8Array; secret: Uint8Array } | undefined
  lastKeyPackageAt: number
  /** An add or update held for receiving, not yet sending. */
  pending:
    | { epoch: number; waiting: Set<number>; timer: NodeJS.Timeout; startedAt: number }
    | undefined
  settleTimer: NodeJS.Timeout | undefined
  /** Owner: the members that have not acknowledged its last commit yet. */
  acks: { epoch: number; waiting: Set<number>; timer: NodeJS.Timeout } | undefined
  /** Committer: when it last answered each member's catch-up request (by the clock). */
  readonly catchUpAnsweredAt: Map<string, number>
  /** Committer: per peer that sent proposals, its allowance (PROPOSALS_PER_SECOND). */
  readonly proposalBuckets: Map<string, TokenBucket>
  /** Member: the retry after a catch-up answer with a gap, and how long the next one waits. */
  catchUp: { waitMs: number; timer: NodeJS.Timeout | undefined }
  /** Serialises this VLAN's group operations with the switch changes that follow them. */
  queue: Promise<unknown>
  readonly counters: MlsVlanCounters
}

function emptyCounters(): MlsVlanCounters {
  return {
    keyPackagesSent: 0,
    keyPackagesReceived: 0,
    keyPackagesRefused: 0,
    welcomesSent: 0,
    welcomesResent: 0,
    welcomesReceived: 0,
    commitsSent: 0,
    commitsApplied: 0,
    commitsRefused: 0,
    commitsResent: 0,
    acksSent: 0,
    acksReceived: 0,
    catchUpRequests: 0,
    catchUpApplied: 0,
    catchUpRefused: 0,
    catchUpTooOld: 0,
    removed: 0,
    lastSwitchMs: 0,
    proposalsSent: 0,
    proposalsCommitted: 0,
    proposalsRefused: 0,
    proposalsRateLimited: 0,
    updatesApplied: 0,
    leasesIssued: 0,
    leasesAccepted: 0,
    periodicUpdates: 0,
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const peerIdBytes = (text: string) => peerIdFromString(text).toMultihash().bytes
const peerIdText = (bytes: Uint8Array) => peerIdFromMultihash(Digest.decode(bytes)).toString()

/** Keys nobody holds: a VLAN waiting for its Welcome, or whose member was removed, seals and opens nothing anyone else can. */
function noKeys() {
  return { kind: 'psk' as const, epoch: 0, secrets: derivePskEpochSecrets(randomBytes(32)) }
}

/** A CONTROL message's channel number and payload (spec 11-mls.md §11). */
function control(message: MlsControlMessage): Control {
  return { channel: CHANNEL_OF[mlsControlChannelOf(message)], payload: encodeMlsControl(message) }
}

export class MlsVlans {
  readonly #host: MlsHost
  readonly #identity: NodeIdentity
  readonly #storage: FileStorage
  readonly #vlans = new Map<string, MlsVlan>()
  readonly #byId = new Map<string, MlsVlan>()
  /** MLS messages larger than one trunk message, both ways. */
  readonly #fragments = new ControlFragments()
  /** Milliseconds; drives the periodic self-update (a parameter so tests control it). */
  readonly #clock: () => number
  #stopped = false

  private constructor(
    host: MlsHost,
    identity: NodeIdentity,
    storage: FileStorage,
    clock: () => number,
  ) {
    this.#host = host
    this.#identity = identity
    this.#storage = storage
    this.#clock = clock
  }

  /**
   * Opens the node's MLS state (`<stateDir>/mls`), loads or creates each MLS
   * VLAN's group and adds the VLAN to the switch with its current keys.
   */
  static async open(params: {
    readonly host: MlsHost
    readonly stateDir: string
    /** The node's libp2p Ed25519 private key, raw (64 bytes). */
    readonly privateKey: Uint8Array
    readonly selfPeerId: string
    readonly vlans: readonly VlanConfig[]
    /** Milliseconds, for the periodic self-update; default Date.now. */
    readonly clock?: () => number
  }): Promise<MlsVlans> {
    const identity = await nodeIdentityFromEd25519PrivateKey(params.privateKey)
    const storage = await FileStorage.open(join(params.stateDir, 'mls'))
    const self = new MlsVlans(params.host, identity, storage, params.clock ?? Date.now)
    for (const [i, config] of params.vlans.entries()) {
      if (config.mls === undefined) continue
      const owner = config.mls.owner === 'self' ? params.selfPeerId : config.mls.owner
      const isOwner = owner === params.selfPeerId
      if (!isOwner && config.mls.members !== undefined) {
        throw new Error(`vlans.${i}.mls.members: only the owner lists members`)
      }
      if (!isOwner && config.mls.proposers !== undefined) {
        throw new Error(`vlans.${i}.mls.proposers: only the owner lists proposers`)
      }
      await self.#open(config.name, owner, isOwner, {
        members: config.mls.members ?? [],
        proposers: config.mls.proposers ?? [],
        admins: config.mls.admins ?? [],
        updateSeconds: config.mls.updateSeconds,
      })
    }
    return self
  }

  async #open(
    name: string,
    owner: string,
    isOwner: boolean,
    lists: {
      members: string[]
      proposers: string[]
      admins: string[]
      updateSeconds: number | undefined
    },
  ): Promise<void> {
    const vlanId = deriveVlanId(peerIdBytes(owner), name)
    const vlan: MlsVlan = {
      name,
      vlanId,
      vlanIdHex: hex(vlanId),
      ownerPeerId: owner,
      isOwner,
      state: 'joining',
      group: undefined,
      admitted: new Set(lists.members),
      proposers: new Set(lists.proposers),
      admins: new Set(lists.admins),
      wantUpdate: false,
      lastUpdateSentAt: 0,
      committed: undefined,
      updateEveryMs: lists.updateSeconds === undefined ? undefined : lists.updateSeconds * 1000,
      lastSelfUpdateAt: this.#clock(),
      changes: { added: new Set(), removed: new Set() },
      heldKeyPackages: new Map(),
      welcomes: new Map(),
      keyPackage: undefined,
      lastKeyPackageAt: 0,
      catchUpAnsweredAt: new Map(),
      proposalBuckets: new Map(),
      catchUp: { waitMs: CATCH_UP_RETRY_MS, timer: undefined },
      pending: undefined,
      settleTimer: undefined,
      acks: undefined,
      queue: Promise.resolve(),
      counters: emptyCounters(),
    }
    /** The group's members (hex PeerIds) at `epoch`, as the owner's record last saw them. */
    let recorded: { epoch: number; members: string[] } | undefined
    if (isOwner) {
      const stored = await this.#storage.read(`admitted-${vlan.vlanIdHex}`)
      if (stored !== undefined) {
        const decoded = decodeAdmissionRecord(stored)
        if (!decoded.ok) throw new Error(decoded.error.detail)
        const changes = decoded.message
        for (const p of changes.added) vlan.changes.added.add(p)
        for (const p of changes.removed) vlan.changes.removed.add(p)
        if (changes.at !== undefined)
          recorded = { epoch: changes.at.epoch, members: [...changes.at.members] }
      }
      for (const p of vlan.changes.added) vlan.admitted.add(p)
      for (const p of vlan.changes.removed) vlan.admitted.delete(p)
    }
    const options = { vlanId, identity: this.#identity, storage: this.#storage }
    let group = await loadVlanGroup(options)
    if (group === undefined && isOwner) group = await createVlanGroup(options)
    if (group !== undefined && !group.removed) {
      vlan.group = group
      vlan.state = 'member'
      this.#host.sw.addVlan(name, group.epochKeys())
      // The group record and the admission record are two writes: a crash
      // between an admin's commit and the owner adopting it (or the
      // owner's own commit and its record) leaves the group ahead. Adopt
      // what changed since the record's epoch, so a member an admin
      // removed is not admitted again by its next key package.
      if (recorded !== undefined && recorded.epoch !== Number(group.epoch)) {
        const now = new Set(group.members().map((m) => hex(m.peerId)))
        await this.#adoptMembership(vlan, recorded.members, now)
        await this.#storeChanges(vlan)
        this.#host.log.info(
          { vlan: name, from: recorded.epoch, to: Number(group.epoch) },
          'admission record brought up to the group',
        )
      }
    } else {
      this.#host.sw.addVlan(name, noKeys())
      await this.#newKeyPackage(vlan)
    }
    this.#vlans.set(name, vlan)
    this.#byId.set(vlan.vlanIdHex, vlan)
    this.#host.log.info(
      { vlan: name, owner, isOwner, state: vlan.state, epoch: group?.epoch.toString() },
      'MLS VLAN',
    )
  }

  /** A joining member's key package: the stored one (so a Welcome for it still works after a restart), or a fresh one. */
  async #newKeyPackage(vlan: MlsVlan, fresh = false): Promise<void> {
    const name = `kp-${vlan.vlanIdHex}`
    const stored = fresh ? undefined : await this.#storage.read(name)
    const decoded = stored === undefined ? undefined : decodeKeyPackageRecord(stored)
    if (decoded?.ok === true && decoded.message !== undefined) {
      vlan.keyPackage = decoded.message
      return
    }
    const kp = await createKeyPackage({ identity: this.#identity })
    await this.#storage.write(name, encodeKeyPackageRecord(kp))
    vlan.keyPackage = kp
  }

  #run<T>(vlan: MlsVlan, job: () => Promise<T>): Promise<T> {
    const next = vlan.queue.then(job)
    vlan.queue = next.catch(() => undefined)
    return next
  }

  #vlan(name: string | undefined): MlsVlan {
    if (name === undefined) {
      const owned = [...this.#vlans.values()].filter((v) => v.isOwner)
      if (owned.length === 1) return owned[0]!
      if (owned.length === 0 && this.#vlans.size === 1) return [...this.#vlans.values()][0]!
      throw new Error('name the VLAN (this node owns several, or has several MLS VLANs)')
    }
    const vlan = this.#vlans.get(name)
    if (vlan === undefined) throw new Error(`no MLS VLAN ${name}`)
    return vlan
  }

  // -- operations (status API: vlan add / remove / update / lease) ---------

  /**
   * Owner: admits `peer`; adds it at once if its key package is here, else
   * when it arrives. Admin under a lease: adds it from the key package it
   * sent here. Other members: propose the add to the owner (with that key
   * package), who commits it if its config lists this member as a proposer.
   */
  async add(vlanName: string | undefined, peer: string): Promise<unknown> {
    const vlan = this.#vlan(vlanName)
    peerIdBytes(peer) // a PeerId, or throws
    if (!vlan.isOwner) {
      const group = this.#memberGroup(vlan)
      const keyPackage = vlan.heldKeyPackages.get(peer)
      if (keyPackage === undefined) {
        throw new Error(
          `no key package from ${peer} here (a joiner sends it to the owner and to the admins its config names)`,
        )
      }
      if (group.canCommit()) {
        vlan.admitted.add(peer)
        await this.#addMember(vlan, peer, keyPackage)
        return { vlan: vlan.name, peer, committed: 'add', ...this.#summary(vlan) }
      }
      const proposal = await group.propose({ add: { keyPackage, from: peerIdBytes(peer) } })
      this.#sendProposal(vlan, proposal)
      return { vlan: vlan.name, peer, proposed: 'add', ...this.#summary(vlan) }
    }
    vlan.admitted.add(peer)
    vlan.changes.added.add(peer)
    vlan.changes.removed.delete(peer)
    await this.#storeChanges(vlan)
    const kp = vlan.heldKeyPackages.get(peer)
    if (kp !== undefined) await this.#addMember(vlan, peer, kp)
    return { vlan: vlan.name, peer, admitted: true, ...this.#summary(vlan) }
  }

  /**
   * Owner: removes `peer` and stops admitting it. Admin under a lease:
   * removes it. Other members: propose it to the owner (leaving, if `peer`
   * is this node; removing another only if the owner's config lists this
   * member as a proposer).
   */
  async remove(vlanName: string | undefined, peer: string): Promise<unknown> {
    const vlan = this.#vlan(vlanName)
    const bytes = peerIdBytes(peer)
    if (!vlan.isOwner) {
      const group = this.#memberGroup(vlan)
      if (group.canCommit() && peer !== this.#selfPeerId()) {
        await this.#run(vlan, () => this.#commitRemoval(vlan, peer))
        return { vlan: vlan.name, peer, committed: 'remove', ...this.#summary(vlan) }
      }
      const proposal = await group.propose({ remove: bytes })
      this.#sendProposal(vlan, proposal)
      return { vlan: vlan.name, peer, proposed: 'remove', ...this.#summary(vlan) }
    }
    await this.#forget(vlan, peer)
    await this.#run(vlan, () => this.#commitRemoval(vlan, peer))
    return { vlan: vlan.name, peer, removed: true, ...this.#summary(vlan) }
  }

  /** Owner: `peer` is no longer admitted (stored), its key package and Welcome forgotten. */
  async #forget(vlan: MlsVlan, peer: string): Promise<void> {
    vlan.admitted.delete(peer)
    vlan.changes.removed.add(peer)
    vlan.changes.added.delete(peer)
    await this.#storeChanges(vlan)
    vlan.heldKeyPackages.delete(peer)
    vlan.welcomes.delete(peer)
  }

  /** The committer removes `peer` (in the VLAN's queue): new keys at once, the old epoch dropped. */
  async #commitRemoval(vlan: MlsVlan, peer: string): Promise<void> {
    const group = vlan.group!
    const bytes = peerIdBytes(peer)
    if (!group.members().some((m) => Buffer.from(m.peerId).equals(bytes))) return
    this.#promotePending(vlan)
    const out = await group.removeMembers({ peerIds: [bytes] })
    await this.#afterRemoval(vlan, out.bundle, Number(out.epoch), [peer])
    this.#host.log.info({ vlan: vlan.name, peer, epoch: Number(out.epoch) }, 'member removed')
  }

  /** `removed`: the peers the commit removes (they learn it from the commit too). */
  async #afterRemoval(
    vlan: MlsVlan,
    bundle: Uint8Array,
    epoch: number,
    removed: readonly string[],
  ): Promise<void> {
    const group = vlan.group!
    // Sealed under the epoch being left, which the members still hold.
    this.#sendCommit(vlan, bundle, removed)
    vlan.committed = epoch
    this.#switchNow(vlan, group)
    await this.#host.refresh()
    this.#expectAcks(vlan, epoch, undefined, false)
  }

  /** A member's group, or an error saying why it has none. */
  #memberGroup(vlan: MlsVlan): VlanGroup {
    const group = vlan.group
    if (group === undefined || group.removed || vlan.state !== 'member') {
      throw new Error(`this node is not a member of VLAN ${vlan.name} (${vlan.state})`)
    }
    return group
  }

  #selfPeerId(): string {
    return peerIdText(this.#identity.peerId)
  }

  /**
   * Sends a member's proposal to the owner and to the config's admins over
   * CONTROL channel 5: only one of them can commit at a time (the owner, or
   * the admin holding a lease while the owner is away), the others drop it.
   */
  #sendProposal(vlan: MlsVlan, proposal: Uint8Array): void {
    const message = control({ type: 'proposal', vlanId: vlan.vlanId, proposal })
    let sent = 0
    for (const peer of new Set([vlan.ownerPeerId, ...vlan.admins])) {
      if (peer === this.#selfPeerId()) continue
      const link = this.#host.getLink(peer)
      if (link?.status === 'up' && this.#fragments.send(link, message.channel, message.payload))
        sent++
    }
    if (sent === 0) throw new Error(`no link to the owner ${vlan.ownerPeerId} or an admin`)
    vlan.counters.proposalsSent++
  }

  /**
   * Stores the run-time admission changes (atomically, beside the group
   * record), with the group's epoch and members as of now: a load that
   * finds the group at another epoch adopts what changed since.
   */
  async #storeChanges(vlan: MlsVlan): Promise<void> {
    const group = vlan.group
    const record = encodeAdmissionRecord({
      added: [...vlan.changes.added],
      removed: [...vlan.changes.removed],
      ...(group === undefined || group.removed
        ? {}
        : {
            at: { epoch: Number(group.epoch), members: group.members().map((m) => hex(m.peerId)) },
          }),
    })
    await this.#storage.write(`admitted-${vlan.vlanIdHex}`, record)
  }

  /**
   * The committer's self-update (owner, or admin under a lease): fresh path
   * secrets, a new epoch, taking effect like an add. A member's: an MLS
   * Update proposal (fresh leaf keys) to the owner, sent again every 2 s
   * and in each new epoch until a commit applies it (11-mls.md §4).
   */
  async update(vlanName: string | undefined): Promise<unknown> {
    const vlan = this.#vlan(vlanName)
    const group = this.#memberGroup(vlan)
    vlan.lastSelfUpdateAt = this.#clock()
    if (!vlan.isOwner && !group.canCommit()) {
      vlan.wantUpdate = true
      await this.#run(vlan, () => this.#proposeUpdate(vlan))
      return { vlan: vlan.name, proposed: 'update', ...this.#summary(vlan) }
    }
    await this.#run(vlan, async () => {
      this.#promotePending(vlan)
      const out = await group.update()
      await this.#afterAddOrUpdate(vlan, out.bundle, undefined, undefined)
    })
    return { vlan: vlan.name, updated: true, ...this.#summary(vlan) }
  }

  /** Member: (re)sends its Update proposal for the current epoch (the same one within an epoch). */
  async #proposeUpdate(vlan: MlsVlan): Promise<void> {
    const group = vlan.group
    if (!vlan.wantUpdate || group === undefined || group.removed) return
    vlan.lastUpdateSentAt = Date.now()
    const proposal = await group.proposeUpdate()
    this.#sendProposal(vlan, proposal)
  }

  /**
   * Owner: grants `peer` (a member its config names in `admins`) the right
   * to commit for `seconds` (at most a day); the owner itself commits again
   * only once the lease has run out (11-mls.md §5). The lease goes to the
   * admin over CONTROL channel 6.
   */
  async lease(vlanName: string | undefined, peer: string, seconds: number): Promise<unknown> {
    const vlan = this.#vlan(vlanName)
    if (!vlan.isOwner) throw new Error(`this node does not own VLAN ${vlan.name}`)
    if (!vlan.admins.has(peer)) throw new Error(`${peer} is not one of the config's admins`)
    if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > 86_400)
      throw new Error('a lease runs 1 to 86400 seconds')
    const link = this.#host.getLink(peer)
    if (link?.status !== 'up') throw new Error(`no link to ${peer}`)
    const now = Math.floor(Date.now() / 1000)
    const notAfter = now + seconds
    const lease = await this.#run(vlan, async () => {
      this.#promotePending(vlan)
      return vlan.group!.issueLease({ adminPeerId: peerIdBytes(peer), notBefore: now, notAfter })
    })
    vlan.counters.leasesIssued++
    link.sendControl(control({ type: 'lease', vlanId: vlan.vlanId, lease }))
    this.#host.log.info({ vlan: vlan.name, admin: peer, notAfter }, 'lease issued')
    return { vlan: vlan.name, admin: peer, notBefore: now, notAfter }
  }

  #addMember(vlan: MlsVlan, peer: string, keyPackage: Uint8Array): Promise<void> {
    return this.#run(vlan, async () => {
      const group = vlan.group!
      const bytes = peerIdBytes(peer)
      if (group.members().some((m) => Buffer.from(m.peerId).equals(bytes))) return
      if (!vlan.admitted.has(peer)) return
      this.#promotePending(vlan)
      const out = await group.addMembers({ keyPackages: [{ keyPackage, from: bytes }] })
      vlan.heldKeyPackages.delete(peer)
      if (out.welcome !== undefined) vlan.welcomes.set(peer, { keyPackage, welcome: out.welcome })
      await this.#afterAddOrUpdate(vlan, out.bundle, out.welcome, peer)
      this.#host.log.info({ vlan: vlan.name, peer, epoch: Number(out.epoch) }, 'member added')
    })
  }

  /** The owner after an add or update commit: hold the new epoch, tell everyone, wait for acks. */
  async #afterAddOrUpdate(
    vlan: MlsVlan,
    bundle: Uint8Array,
    welcome: Uint8Array | undefined,
    joiner: string | undefined,
  ): Promise<void> {
    const group = vlan.group!
    const keys = group.epochKeys()
    const startedAt = performance.now()
    this.#host.sw.prepareEpoch(vlan.name, keys)
    await this.#host.refresh()
    this.#sendCommit(vlan, bundle)
    if (welcome !== undefined && joiner !== undefined) {
      const link = this.#host.getLink(joiner)
      const message = control({ type: 'welcome', vlanId: vlan.vlanId, welcome })
      if (link !== undefined && this.#fragments.send(link, message.channel, message.payload)) {
        vlan.counters.welcomesSent++
        this.#host.log.info({ vlan: vlan.name, joiner, bytes: welcome.length }, 'Welcome sent')
      }
    }
    const epoch = keys.epoch
    vlan.committed = epoch
    const timer = setTimeout(() => {
      void this.#run(vlan, async () => this.#promote(vlan, epoch, 'timeout'))
    }, ACK_TIMEOUT_MS)
    vlan.pending = { epoch, waiting: new Set(), timer, startedAt }
    this.#expectAcks(vlan, epoch, joiner, true)
  }

  /**
   * Owner: waits for every member but itself (and a joiner, who has its
   * Welcome) to acknowledge `epoch`. With `promote`, all acks make the
   * epoch take effect for sending. Members that have not acknowledged
   * within ACK_TIMEOUT_MS (the commit was lost, e.g. sent before a new
   * member's SUBs arrived) get the commit again, point to point over
   * CONTROL channel 3.
   */
  #expectAcks(vlan: MlsVlan, epoch: number, joiner: string | undefined, promote: boolean): void {
    const group = vlan.group!
    if (vlan.acks !== undefined) clearTimeout(vlan.acks.timer)
    const joinerBytes = joiner === undefined ? undefined : peerIdBytes(joiner)
    const waiting = new Set(
      group
        .members()
        .filter(
          (m) =>
            m.leafIndex !== group.leafIndex &&
            (joinerBytes === undefined || !Buffer.from(m.peerId).equals(joinerBytes)),
        )
        .map((m) => m.leafIndex),
    )
    const timer = setTimeout(() => {
      if (this.#stopped || vlan.acks?.epoch !== epoch) return
      // One pass over the members (a group may have thousands).
      const byLeaf = new Map(group.members().map((m) => [m.leafIndex, m.peerId]))
      for (const leaf of vlan.acks.waiting) {
        const peerId = byLeaf.get(leaf)
        const link = peerId === undefined ? undefined : this.#host.getLink(peerIdText(peerId))
        if (link === undefined) continue
        this.#sendLog(vlan, link, BigInt(Math.max(0, epoch - 8)))
        vlan.counters.commitsResent++
      }
      vlan.acks = undefined
    }, ACK_TIMEOUT_MS)
    vlan.acks = { epoch, waiting, timer }
    if (waiting.size === 0 && promote) this.#promote(vlan, epoch, 'acked')
  }

  /** Sends under a held next epoch (acks in, or 2 s passed); the previous one settles, then goes. */
  #promote(vlan: MlsVlan, epoch: number, why: string): void {
    const pending = vlan.pending
    if (pending !== undefined && pending.epoch === epoch) {
      clearTimeout(pending.timer)
      vlan.pending = undefined
      vlan.counters.lastSwitchMs = Math.round(performance.now() - pending.startedAt)
    }
    const group = vlan.group
    if (group === undefined || group.removed || Number(group.epoch) !== epoch) return
    if (this.#host.sw.epochsOf(vlan.name).next !== epoch) return
    this.#host.sw.setEpoch(vlan.name, group.epochKeys())
    if (vlan.committed === epoch)
      this.#host.sendInVlan(vlan.name, encodeVlanControl({ type: 'switch', epoch: BigInt(epoch) }))
    this.#settle(vlan)
    void this.#host.refresh()
    this.#host.log.info(
      { vlan: vlan.name, epoch, why, switchMs: vlan.counters.lastSwitchMs },
      'sending under new epoch',
    )
  }

  /** Before another commit: a held epoch takes effect now. */
  #promotePending(vlan: MlsVlan): void {
    const next = this.#host.sw.epochsOf(vlan.name).next
    if (next !== undefined) this.#promote(vlan, next, 'next commit')
  }

  /** Drops the previous epoch once the change has settled. */
  #settle(vlan: MlsVlan): void {
    clearTimeout(vlan.settleTimer)
    vlan.settleTimer = setTimeout(() => {
      if (this.#stopped) return
      this.#host.sw.dropPreviousEpoch(vlan.name)
      void this.#host.refresh()
    }, SETTLE_MS)
  }

  /** A removal (or a catch-up): the new epoch for sending and receiving at once, the old one gone at once. */
  #switchNow(vlan: MlsVlan, group: VlanGroup): void {
    if (vlan.pending !== undefined) {
      clearTimeout(vlan.pending.timer)
      vlan.pending = undefined
    }
    clearTimeout(vlan.settleTimer)
    this.#host.sw.setEpoch(vlan.name, group.epochKeys())
    this.#host.sw.dropPreviousEpoch(vlan.name)
  }

  // -- messages -----------------------------------------------------------

  /** A trunk CONTROL message on channels 1 to 3; others are not ours (returns false). */
  onControl(control: Control, link: Link): boolean {
    if (control.channel === CONTROL_FRAGMENT) {
      // Only an owner, an admin or a member sends MLS messages this large
      // (a joiner's key package is small): nobody else may hold reassembly
      // buffers here, or crowd out the owner's Welcome.
      if (!this.#maySendLarge(link.id)) {
        this.#fragments.counters.fragmentsRefused++
        return true
      }
      const whole = this.#fragments.receive(link.id, control.payload, performance.now())
      // Only MLS channels travel in fragments (never a fragment in fragments).
      if (whole !== undefined && whole.channel !== CONTROL_FRAGMENT) {
        this.#host.log.debug(
          { peer: link.id, channel: whole.channel, bytes: whole.payload.length },
          'MLS message reassembled',
        )
        this.onControl(whole, link)
      }
      return true
    }
    const { channel, payload } = control
    const role = ROLE_OF.get(channel)
    if (role === undefined) return false
    const decoded = decodeMlsControl(role, payload)
    if (!decoded.ok) {
      this.#host.log.debug({ peer: link.id, channel, err: decoded.error.detail }, 'MLS malformed')
      return true
    }
    const message = decoded.message
    const handle = async () => {
      const vlan = this.#byId.get(hex(message.vlanId))
      if (vlan === undefined) return
      switch (message.type) {
        case 'key-package':
          return this.#onKeyPackage(vlan, message.keyPackage, link)
        case 'proposal':
          return this.#onProposal(vlan, message.proposal, link)
        case 'lease':
          return this.#onLease(vlan, message.lease, link)
        case 'welcome':
          return this.#onWelcome(vlan, message.welcome, link)
        default:
          return this.#onCatchUp(vlan, message, link)
      }
    }
    handle().catch((error: unknown) =>
      this.#host.log.warn(
        { peer: link.id, channel, err: (error as Error).message },
        'MLS control refused',
      ),
    )
    return true
  }

  /** Whether `peer` is a member of the VLAN's group now. */
  #isMember(vlan: MlsVlan, peer: string): boolean {
    const group = vlan.group
    if (group === undefined || group.removed) return false
    let bytes: Uint8Array
    try {
      bytes = peerIdBytes(peer)
    } catch {
      return false
    }
    return group.members().some((m) => Buffer.from(m.peerId).equals(bytes))
  }

  /**
   * Whether an MLS VLAN here names `peer`: its owner, an admin, a member
   * the owner's config or a run-time add admits, or a member of its group
   * now. The node deals with such peers as with configured ones
   * (docs/spec/14-roles.md §14.2).
   */
  knows(peer: string): boolean {
    for (const vlan of this.#vlans.values())
      if (
        peer === vlan.ownerPeerId ||
        vlan.admins.has(peer) ||
        vlan.admitted.has(peer) ||
        this.#isMember(vlan, peer)
      )
        return true
    return false
  }

  /** Whether `peer` may send MLS messages in fragments: an owner, an admin or a member of one of this node's VLANs. */
  #maySendLarge(peer: string): boolean {
    for (const vlan of this.#vlans.values())
      if (peer === vlan.ownerPeerId || vlan.admins.has(peer) || this.#isMember(vlan, peer))
        return true
    return false
  }

  async #onKeyPackage(vlan: MlsVlan, keyPackage: Uint8Array, link: Link): Promise<void> {
    const peer = link.id
    if (!vlan.isOwner) {
      // An admin (the joiner's config names it): kept for `vlan add` under a lease.
      if (vlan.state !== 'member') return
      vlan.counters.keyPackagesReceived++
      if (vlan.heldKeyPackages.size < MAX_HELD_KEY_PACKAGES || vlan.heldKeyPackages.has(peer))
        vlan.heldKeyPackages.set(peer, keyPackage)
      return
    }
    vlan.counters.keyPackagesReceived++
    if (vlan.group!.members().some((m) => Buffer.from(m.peerId).equals(peerIdBytes(peer)))) {
      // A member still sending the key package it was added with lost its Welcome.
      const sent = vlan.welcomes.get(peer)
      if (sent !== undefined && Buffer.from(sent.keyPackage).equals(keyPackage)) {
        const { channel, payload } = control({
          type: 'welcome',
          vlanId: vlan.vlanId,
          welcome: sent.welcome,
        })
        if (this.#fragments.send(link, channel, payload)) vlan.counters.welcomesResent++
      }
      return
    }
    if (!vlan.admitted.has(peer)) {
      vlan.counters.keyPackagesRefused++
      // Kept (bounded) so that `peertap vlan add` can add it at once.
      if (vlan.heldKeyPackages.size < MAX_HELD_KEY_PACKAGES || vlan.heldKeyPackages.has(peer))
        vlan.heldKeyPackages.set(peer, keyPackage)
      this.#host.log.info({ vlan: vlan.name, peer }, 'key package from a peer not admitted')
      return
    }
    try {
      await this.#addMember(vlan, peer, keyPackage)
    } catch (error) {
      vlan.counters.keyPackagesRefused++
      throw error
    }
  }

  async #onWelcome(vlan: MlsVlan, welcome: Uint8Array, link: Link): Promise<void> {
    // From the owner, or an admin the config names (who commits under a lease).
    if (vlan.isOwner || vlan.state === 'member') return
    if (link.id !== vlan.ownerPeerId && !vlan.admins.has(link.id)) return
    const kp = vlan.keyPackage
    if (kp === undefined) return
    await this.#run(vlan, async () => {
      if (vlan.state === 'member') return
      const group = await joinVlanGroup({
        vlanId: vlan.vlanId,
        ownerPeerId: peerIdBytes(vlan.ownerPeerId),
        welcome,
        keyPackageSecret: kp.secret,
        identity: this.#identity,
        storage: this.#storage,
      })
      vlan.counters.welcomesReceived++
      // The key package is used: forget its secret.
      await this.#storage.write(`kp-${vlan.vlanIdHex}`, encodeKeyPackageRecord(undefined))
      vlan.keyPackage = undefined
      vlan.group = group
      vlan.state = 'member'
      this.#switchNow(vlan, group)
      await this.#host.refresh()
      this.#host.log.info({ vlan: vlan.name, epoch: Number(group.epoch) }, 'joined by Welcome')
      // Commits made since this Welcome (if it was sent again) come from the owner's log.
      this.#requestCatchUp(vlan)
    })
  }

  /**
   * Committer: a member's proposal (CONTROL 5). Its own update and leaving
   * are always accepted; adds and removals of others only from the
   * config's proposers. Committed at once, with the same epoch timing as
   * the committer's own operations.
   */
  async #onProposal(vlan: MlsVlan, message: Uint8Array, link: Link): Promise<void> {
    const group = vlan.group
    if (group === undefined || group.removed || !group.canCommit()) {
      vlan.counters.proposalsRefused++
      return
    }
    // Each proposal costs a commit (and every member its processing), so a
    // peer gets PROPOSALS_BURST and then one every 1/PROPOSALS_PER_SECOND s,
    // checked before the signature. A refused update is sent again by its
    // member (every 2 s until applied), so it goes through later.
    if (!this.#proposalAllowed(vlan, link.id)) {
      vlan.counters.proposalsRefused++
      vlan.counters.proposalsRateLimited++
      this.#host.log.debug({ vlan: vlan.name, peer: link.id }, 'proposal over the rate, refused')
      return
    }
    await this.#run(vlan, async () => {
      let summary: ProposalSummary
      try {
        summary = await group.receiveProposal({
          message,
          policy: (p) => vlan.proposers.has(peerIdText(p.proposer)),
        })
      } catch (error) {
        // The same update proposal again (resent before the commit reached its maker).
        if (error instanceof MlsError && error.code === 'mls-replayed') return
        vlan.counters.proposalsRefused++
        throw error
      }
      // An authentic proposal: a held epoch takes effect before the next commit.
      this.#promotePending(vlan)
      const subject = peerIdText(summary.subject)
      const before = group.members().map((m) => hex(m.peerId))
      // Stored before the commit, as `remove` does: a crash between the two
      // must not leave the removed peer admitted (its next key package would
      // add it back).
      if (vlan.isOwner && summary.kind === 'remove') await this.#forget(vlan, subject)
      let out: Awaited<ReturnType<VlanGroup['commitPending']>>
      try {
        out = await group.commitPending()
      } catch (error) {
        await group.discardProposals()
        throw error
      }
      vlan.counters.proposalsCommitted++
      const after = new Set(group.members().map((m) => hex(m.peerId)))
      this.#host.log.info(
        {
          vlan: vlan.name,
          kind: summary.kind,
          proposer: link.id,
          subject,
          epoch: Number(out.epoch),
        },
        'proposal committed',
      )
      if (vlan.isOwner && summary.kind === 'add') {
        vlan.admitted.add(subject)
        vlan.changes.added.add(subject)
        vlan.changes.removed.delete(subject)
        await this.#storeChanges(vlan)
      }
      if (before.some((p) => !after.has(p))) {
        const gone = before
          .filter((p) => !after.has(p))
          .map((p) => peerIdText(Buffer.from(p, 'hex')))
        await this.#afterRemoval(vlan, out.bundle, Number(out.epoch), gone)
        return
      }
      const joiner = out.welcome !== undefined ? subject : undefined
      await this.#afterAddOrUpdate(vlan, out.bundle, out.welcome, joiner)
    })
  }

  /** Takes a token from `peer`'s proposal allowance; false if it has none. */
  #proposalAllowed(vlan: MlsVlan, peer: string): boolean {
    const now = this.#clock() / 1000
    const buckets = vlan.proposalBuckets
    let bucket = buckets.get(peer)
    if (bucket === undefined) {
      // Bounded: peers whose allowance is whole again hold nothing worth keeping.
      if (buckets.size >= MAX_PROPOSAL_PEERS) {
        for (const [id, b] of buckets) {
          b.refill(now)
          if (b.tokens >= b.burst) buckets.delete(id)
        }
        if (buckets.size >= MAX_PROPOSAL_PEERS) return false
      }
      bucket = new TokenBucket(PROPOSALS_PER_SECOND, PROPOSALS_BURST, now)
      buckets.set(peer, bucket)
    }
    bucket.refill(now)
    return bucket.take(1)
  }

  /** Admin: a lease from the owner (CONTROL 6); the package verifies it and stores it. */
  async #onLease(vlan: MlsVlan, lease: Uint8Array, link: Link): Promise<void> {
    if (vlan.isOwner || link.id !== vlan.ownerPeerId) return
    const group = vlan.group
    if (group === undefined || group.removed) return
    await this.#run(vlan, () => group.acceptLease({ lease }))
    vlan.counters.leasesAccepted++
    this.#host.log.info({ vlan: vlan.name }, 'lease accepted: this node may commit while it runs')
  }

  /** A kind-2 plaintext of an MLS VLAN (from the switch). */
  onVlanControl(vlanName: string, body: Uint8Array): void {
    const vlan = this.#vlans.get(vlanName)
    if (vlan === undefined) return
    const decoded = decodeVlanControl(body)
    if (!decoded.ok) {
      // An empty commit is still refused as a commit (it was counted so before the codec).
      if (decoded.error.reason === 'empty' && vlan.group !== undefined)
        vlan.counters.commitsRefused++
      return
    }
    const message = decoded.message
    if (message.type === 'commit') {
      // The owner too: an admin commits under a lease (the package checks it).
      if (vlan.group === undefined) return
      this.#run(vlan, () => this.#onCommit(vlan, message.bundle)).catch((error: unknown) => {
        vlan.counters.commitsRefused++
        this.#host.log.warn({ vlan: vlan.name, err: (error as Error).message }, 'commit refused')
      })
    } else if (message.type === 'ack') {
      // Whoever committed last collects the acks.
      const epoch = Number(message.epoch)
      const leaf = message.leafIndex
      vlan.counters.acksReceived++
      const acks = vlan.acks
      if (acks === undefined || acks.epoch !== epoch) return
      acks.waiting.delete(leaf)
      if (acks.waiting.size > 0) return
      clearTimeout(acks.timer)
      vlan.acks = undefined
      if (vlan.pending?.epoch === epoch)
        void this.#run(vlan, async () => this.#promote(vlan, epoch, 'acked'))
    } else {
      const epoch = Number(message.epoch)
      void this.#run(vlan, async () => this.#promote(vlan, epoch, 'owner switched'))
    }
  }

  async #onCommit(vlan: MlsVlan, bundle: Uint8Array): Promise<void> {
    const group = vlan.group!
    if (group.removed) return
    const before = group.members().map((m) => hex(m.peerId))
    let result: { removed: boolean; updated: boolean }
    try {
      result = await group.processCommit({ bundle })
    } catch (error) {
      if (error instanceof MlsError && error.code === 'mls-replayed') return
      if (error instanceof MlsError && error.code === 'mls-gap') {
        this.#requestCatchUp(vlan)
        return
      }
      throw error
    }
    // Only an authentic commit: a held epoch takes effect before this one's.
    this.#promotePending(vlan)
    vlan.counters.commitsApplied++
    if (result.removed) return this.#removed(vlan)
    if (result.updated) {
      vlan.wantUpdate = false
      vlan.counters.updatesApplied++
      this.#host.log.info({ vlan: vlan.name, epoch: Number(group.epoch) }, 'own update applied')
    } else if (vlan.wantUpdate) {
      // The commit left the epoch without this member's update: propose it in the new one.
      vlan.lastUpdateSentAt = 0
    }
    const after = new Set(group.members().map((m) => hex(m.peerId)))
    const removal = before.some((p) => !after.has(p))
    if (vlan.isOwner) await this.#adoptMembership(vlan, before, after)
    if (removal) {
      // Security first: the new keys at once, the old epoch dropped at once.
      this.#switchNow(vlan, group)
      await this.#host.refresh()
      this.#ack(vlan)
      this.#host.log.info({ vlan: vlan.name, epoch: Number(group.epoch) }, 'removal applied')
      return
    }
    // An add or update: hold the new epoch for receiving, subscribe, then acknowledge.
    const keys = group.epochKeys()
    this.#host.sw.prepareEpoch(vlan.name, keys)
    await this.#host.refresh()
    this.#ack(vlan)
    const epoch = keys.epoch
    const timer = setTimeout(() => {
      void this.#run(vlan, async () => this.#promote(vlan, epoch, 'timeout'))
    }, ACK_TIMEOUT_MS)
    vlan.pending = { epoch, waiting: new Set(), timer, startedAt: performance.now() }
  }

  /**
   * Owner, after an admin's commit: whom it removed is no longer admitted,
   * whom it added is, so the owner's own adds (from its config) agree.
   */
  async #adoptMembership(vlan: MlsVlan, before: string[], after: Set<string>): Promise<void> {
    const was = new Set(before)
    for (const p of before)
      if (!after.has(p)) await this.#forget(vlan, peerIdText(Buffer.from(p, 'hex')))
    let changed = false
    for (const p of after) {
      if (was.has(p)) continue
      const peer = peerIdText(Buffer.from(p, 'hex'))
      if (vlan.admitted.has(peer)) continue
      vlan.admitted.add(peer)
      vlan.changes.added.add(peer)
      vlan.changes.removed.delete(peer)
      changed = true
    }
    if (changed) await this.#storeChanges(vlan)
  }

  /** Tells the owner this member holds its current epoch (sealed under the epoch it sends under). */
  #ack(vlan: MlsVlan): void {
    const group = vlan.group
    if (group === undefined || group.removed) return
    const ack = encodeVlanControl({ type: 'ack', epoch: group.epoch, leafIndex: group.leafIndex })
    this.#host.sendInVlan(vlan.name, ack)
    vlan.counters.acksSent++
  }

  async #removed(vlan: MlsVlan): Promise<void> {
    if (vlan.pending !== undefined) clearTimeout(vlan.pending.timer)
    vlan.pending = undefined
    clearTimeout(vlan.settleTimer)
    vlan.state = 'removed'
    vlan.counters.removed++
    // No keys any more: the VLAN seals and opens under keys nobody else holds.
    this.#host.sw.setEpoch(vlan.name, noKeys())
    this.#host.sw.dropPreviousEpoch(vlan.name)
    await this.#host.refresh()
    this.#host.log.warn({ vlan: vlan.name }, 'removed from the VLAN by its owner')
    // Ready to be added again: a fresh key package goes to the owner, who admits it only if told to.
    vlan.group = undefined
    await this.#newKeyPackage(vlan, true)
    vlan.state = 'joining'
    vlan.lastKeyPackageAt = Date.now()
  }

  #requestCatchUp(vlan: MlsVlan, to?: Link): void {
    const group = vlan.group
    if (group === undefined || this.#stopped) return
    const request = control({ type: 'catch-up-request', vlanId: vlan.vlanId, since: group.epoch })
    // The owner holds the log; any member would do.
    const link = to ?? this.#host.getLink(vlan.ownerPeerId) ?? this.#host.links()[0]
    if (link?.sendControl(request)) vlan.counters.catchUpRequests++
  }

  async #onCatchUp(
    vlan: MlsVlan,
    message: Extract<MlsControlMessage, { type: `catch-up-${string}` }>,
    link: Link,
  ): Promise<void> {
    if (vlan.group === undefined) return
    if (message.type === 'catch-up-request') {
      // Only a member may ask, and not more often than the interval: an
      // answer can be a thousand times the request's size.
      const now = Date.now()
      if (
        !this.#isMember(vlan, link.id) ||
        now - (vlan.catchUpAnsweredAt.get(link.id) ?? 0) < CATCH_UP_ANSWER_INTERVAL_MS
      ) {
        vlan.counters.catchUpRefused++
        return
      }
      if (vlan.catchUpAnsweredAt.size >= CATCH_UP_ANSWERED_MAX) vlan.catchUpAnsweredAt.clear()
      vlan.catchUpAnsweredAt.set(link.id, now)
      this.#sendLog(vlan, link, message.since)
      return
    }
    if (message.type === 'catch-up-commit') {
      // Sent point to point by the committer: the owner or an admin.
      if (link.id !== vlan.ownerPeerId && !vlan.admins.has(link.id)) {
        vlan.counters.commitsRefused++
        return
      }
      // A commit too large for a frame: handled as if it had come inside the VLAN.
      const bundle = message.bundle
      await this.#run(vlan, () => this.#onCommit(vlan, bundle)).catch((error: unknown) => {
        vlan.counters.commitsRefused++
        throw error
      })
      return
    }
    // The owner too: it catches up on an admin's commits made while it was away.
    const bundles = [...message.bundles]
    await this.#run(vlan, async () => {
      const group = vlan.group
      if (group === undefined || group.removed) return
      let applied: number
      const beforeCatchUp = group.members().map((m) => hex(m.peerId))
      try {
        applied = await group.catchUp({ bundles })
      } catch (error) {
        if (error instanceof MlsError && error.code === 'mls-gap') {
          // The answer did not reach back to this epoch: ask again, later
          // each time (at once, it would loop as fast as the answers come).
          this.#retryCatchUp(vlan)
          return
        }
        throw error
      }
      if (applied === 0) return
      vlan.catchUp.waitMs = CATCH_UP_RETRY_MS
      vlan.counters.catchUpApplied += applied
      if (vlan.isOwner)
        await this.#adoptMembership(
          vlan,
          beforeCatchUp,
          new Set(group.members().map((m) => hex(m.peerId))),
        )
      this.#host.log.info(
        { vlan: vlan.name, applied, epoch: Number(group.epoch), from: link.id },
        'caught up',
      )
      if (group.removed) return this.#removed(vlan)
      this.#switchNow(vlan, group)
      await this.#host.refresh()
      this.#ack(vlan)
    })
  }

  /** One catch-up request after the current wait, which then doubles (up to CATCH_UP_RETRY_LONGEST_MS). */
  #retryCatchUp(vlan: MlsVlan): void {
    const wait = vlan.catchUp
    if (wait.timer !== undefined || this.#stopped) return
    wait.timer = setTimeout(() => {
      wait.timer = undefined
      this.#requestCatchUp(vlan)
    }, wait.waitMs)
    wait.waitMs = Math.min(wait.waitMs * 2, CATCH_UP_RETRY_LONGEST_MS)
  }

  /** Sends the commits of epochs `since` on from this node's log (a catch-up answer). */
  #sendLog(vlan: MlsVlan, link: Link, since: bigint): void {
    const group = vlan.group
    if (group === undefined || group.removed) return
    // Commit bundles are MLS PrivateMessages: only members can open them.
    const log = group.commitLog({ since })
    if (log.length === 0) return
    if (decodeBundle(log[0]!).epoch !== since) {
      // The asker is behind the start of this log: no answer could help it.
      vlan.counters.catchUpTooOld++
      this.#host.log.warn(
        { vlan: vlan.name, peer: link.id, since: Number(since) },
        'catch-up request from before the commit log: the member must be added again',
      )
      return
    }
    const bundles: Uint8Array[] = []
    let size = 0
    for (const bundle of log) {
      size += 4 + bundle.length
      if (size > MAX_CATCH_UP_BYTES) break
      bundles.push(bundle)
    }
    if (bundles.length === 0) return
    const answer = control({ type: 'catch-up-answer', vlanId: vlan.vlanId, bundles })
    this.#fragments.send(link, answer.channel, answer.payload)
  }

  /**
   * Sends a commit to every member: inside the VLAN as one frame if it fits,
   * else point to point (CONTROL 3, in fragments) to each member this node
   * has a link to. (Members reached only through relays then get it from
   * the ack timeout's resend, or catch up when they see the next commit.)
   */
  #sendCommit(vlan: MlsVlan, bundle: Uint8Array, removed: readonly string[] = []): void {
    vlan.counters.commitsSent++
    if (bundle.length <= MAX_IN_VLAN_COMMIT_BYTES) {
      this.#host.sendInVlan(vlan.name, encodeVlanControl({ type: 'commit', bundle }))
      return
    }
    const group = vlan.group!
    const { channel, payload } = control({ type: 'catch-up-commit', vlanId: vlan.vlanId, bundle })
    // The members now, and those the commit removed (so they learn they are out).
    const self = group.members().find((m) => m.leafIndex === group.leafIndex)
    const peers = new Set([...group.members().map((m) => peerIdText(m.peerId)), ...removed])
    if (self !== undefined) peers.delete(peerIdText(self.peerId))
    for (const peer of peers) {
      const link = this.#host.getLink(peer)
      if (link?.status === 'up') this.#fragments.send(link, channel, payload)
    }
  }

  /** A link came up: a joining member sends its key package to the owner; a member asks for missed commits. */
  onLinkUp(link: Link): void {
    for (const vlan of this.#vlans.values()) {
      if (vlan.isOwner) {
        // An admin may have committed while the owner was away.
        if (vlan.admins.has(link.id)) this.#requestCatchUp(vlan, link)
        continue
      }
      const toOwner = link.id === vlan.ownerPeerId
      if (!toOwner && !vlan.admins.has(link.id)) continue
      if (vlan.state === 'joining') this.#sendKeyPackage(vlan, link)
      else if (vlan.state === 'member' && toOwner) this.#requestCatchUp(vlan)
    }
  }

  /**
   * The config's `updateSeconds`: a self-update that often (a commit on the
   * owner or a leased admin, an Update proposal on a member), so a key
   * taken from a node stops opening anything after at most that long.
   */
  #periodicUpdate(vlan: MlsVlan): void {
    if (vlan.updateEveryMs === undefined || vlan.state !== 'member' || vlan.wantUpdate) return
    const group = vlan.group
    if (group === undefined || group.removed) return
    // The owner while its lease runs cannot commit: it waits.
    if (vlan.isOwner && !group.canCommit()) return
    if (this.#clock() - vlan.lastSelfUpdateAt < vlan.updateEveryMs) return
    vlan.counters.periodicUpdates++
    this.update(vlan.name).catch((error: unknown) =>
      this.#host.log.warn({ vlan: vlan.name, err: (error as Error).message }, 'periodic update'),
    )
  }

  #sendKeyPackage(vlan: MlsVlan, link: Link): void {
    if (vlan.keyPackage === undefined) return
    vlan.lastKeyPackageAt = Date.now()
    const message = control({
      type: 'key-package',
      vlanId: vlan.vlanId,
      keyPackage: vlan.keyPackage.keyPackage,
    })
    if (link.sendControl(message)) vlan.counters.keyPackagesSent++
  }

  /**
   * Called every tick: joining members resend their key package (to the
   * owner and the config's admins) until a Welcome comes; a member that
   * asked for its own update resends its proposal until a commit applies it.
   */
  tick(): void {
    const now = Date.now()
    for (const vlan of this.#vlans.values()) {
      this.#periodicUpdate(vlan)
      if (vlan.isOwner) continue
      if (vlan.state === 'member' && vlan.wantUpdate) {
        if (now - vlan.lastUpdateSentAt < UPDATE_RESEND_MS) continue
        vlan.lastUpdateSentAt = now
        this.#run(vlan, () => this.#proposeUpdate(vlan)).catch((error: unknown) =>
          this.#host.log.warn(
            { vlan: vlan.name, err: (error as Error).message },
            'update proposal not sent',
          ),
        )
        continue
      }
      if (vlan.state !== 'joining') continue
      if (now - vlan.lastKeyPackageAt < KEY_PACKAGE_RESEND_MS) continue
      for (const peer of [vlan.ownerPeerId, ...vlan.admins]) {
        const link = this.#host.getLink(peer)
        if (link?.status === 'up') this.#sendKeyPackage(vlan, link)
      }
    }
  }

  #summary(vlan: MlsVlan) {
    const group = vlan.group
    return {
      epoch: group === undefined || group.removed ? undefined : Number(group.epoch),
      members:
        group === undefined || group.removed
          ? []
          : group.members().map((m) => peerIdText(m.peerId)),
    }
  }

  /** Per MLS VLAN: role, state, epoch, members, held epochs, counters. */
  status(): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const vlan of this.#vlans.values()) {
      out[vlan.name] = {
        vlanId: vlan.vlanIdHex,
        owner: vlan.ownerPeerId,
        role: vlan.isOwner ? 'owner' : 'member',
        state: vlan.state,
        ...this.#summary(vlan),
        admitted: vlan.isOwner ? [...vlan.admitted] : undefined,
        proposers: vlan.isOwner ? [...vlan.proposers] : undefined,
        admins: vlan.admins.size > 0 ? [...vlan.admins] : undefined,
        canCommit: vlan.group?.canCommit() ?? false,
        fragments: this.#fragments.counters,
        wantUpdate: vlan.wantUpdate || undefined,
        switchEpochs: vlan.state === 'member' ? this.#host.sw.epochsOf(vlan.name) : undefined,
        counters: vlan.counters,
      }
    }
    return out
  }

  isMls(vlan: string): boolean {
    return this.#vlans.has(vlan)
  }

  stop(): void {
    this.#stopped = true
    for (const vlan of this.#vlans.values()) {
      if (vlan.pending !== undefined) clearTimeout(vlan.pending.timer)
      if (vlan.acks !== undefined) clearTimeout(vlan.acks.timer)
      clearTimeout(vlan.settleTimer)
      clearTimeout(vlan.catchUp.timer)
    }
  }
}
