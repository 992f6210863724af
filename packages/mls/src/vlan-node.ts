/**
 * A node's MLS VLANs (docs/spec/11-mls.md §11): each VLAN's group, the
 * messages that carry it between nodes and the moments its switch keys
 * change. The node wires it to its switch, its trunk links and its log
 * through {@link MlsVlanPorts}; the protocol is here:
 *
 * - the wire layouts are `vlan-wire.ts` (§11.2, §11.3, §11.6);
 * - when a new epoch takes effect is `epoch-change.ts` (§11.7): an add or
 *   update held for receiving, acknowledged, promoted after every ack or
 *   2 s, the previous epoch settled 2 s later; a removal at once;
 * - catch-up is `catch-up.ts` (§6, §11.8): answers at most once a second
 *   per member, retries with a doubling wait;
 * - proposal allowances, held key packages and resends are
 *   `allowances.ts` (§11.5).
 *
 * Who commits: the owner, or an admin while it holds a lease the owner
 * issued; every node processes the other's commits (the group checks the
 * lease) and the committer collects the acks. Members propose: their own
 * update, leaving, and, if the owner's config lists them as proposers,
 * adds and removals of others; the committer commits at once.
 *
 * No timers and no I/O: time comes in with every call (`now`, wall-clock
 * milliseconds), the caller calls {@link MlsVlanNode.tick} by
 * {@link MlsVlanNode.nextDeadline}, and the group records go through the
 * storage port. Group operations are asynchronous (MLS and the storage
 * port); each VLAN's run one after another.
 */
import { derivePskEpochSecrets, type EpochSecrets } from '@peertap/crypto'
import {
  due,
  holdKeyPackage,
  KEY_PACKAGE_RESEND_MS,
  ProposalAllowances,
  UPDATE_RESEND_MS,
} from './allowances.ts'
import { CatchUp, catchUpAnswer, resendSince } from './catch-up.ts'
import { EpochChange, type EpochChangeAction, type PromoteReason } from './epoch-change.ts'
import { MlsError } from './errors.ts'
import {
  createKeyPackage,
  createVlanGroup,
  joinVlanGroup,
  loadVlanGroup,
  type MlsEpochKeys,
  type ProposalSummary,
  type VlanGroup,
} from './group.ts'
import type { NodeIdentity } from './identity.ts'
import type { StateStorage } from './storage.ts'
import {
  decodeAdmissionRecord,
  decodeKeyPackageRecord,
  decodeVlanControl,
  encodeAdmissionRecord,
  encodeKeyPackageRecord,
  encodeVlanControl,
  type MlsControlMessage,
} from './vlan-wire.ts'

/**
 * A commit bundle up to this size goes inside the VLAN as one kind-2 frame;
 * a larger one goes point to point to each member (CONTROL catch-up
 * `0x03`, in fragments), §11.4.
 */
export const MAX_IN_VLAN_COMMIT_BYTES = 60_000

/** The keys a VLAN holds: its group's, or keys nobody holds (joining, removed). */
export type VlanEpochKeys =
  | MlsEpochKeys
  | { readonly kind: 'psk'; readonly epoch: number; readonly secrets: EpochSecrets }

/** The switch's epoch operations (structurally @peertap/switch's `Switch`). */
export interface SwitchPort {
  addVlan(name: string, keys: VlanEpochKeys): void
  prepareEpoch(name: string, keys: VlanEpochKeys): void
  setEpoch(name: string, keys: VlanEpochKeys): void
  dropPreviousEpoch(name: string): void
  epochsOf(name: string): { current: number; previous?: number; next?: number }
}

export type LogLevel = 'debug' | 'info' | 'warn'

/** What the node lends its MLS VLANs. */
export interface MlsVlanPorts {
  readonly sw: SwitchPort
  /** Sends a CONTROL message to the neighbour `peer` if a link to it exists (in fragments when large); false if not sent. */
  send(peer: string, message: MlsControlMessage): boolean
  /** Whether the link to `peer` is up. */
  isUp(peer: string): boolean
  /** Whether there is a link to `peer`, up or not. */
  hasLink(peer: string): boolean
  /** Some neighbour (to ask for a catch-up when the owner has no link). */
  anyPeer(): string | undefined
  /** Seals a kind-2 plaintext for every member of a VLAN and sends it. */
  sendInVlan(vlan: string, body: Uint8Array): void
  /** Recomputes subscriptions now and sends the SUB/UNSUB changes. */
  refresh(): Promise<void>
  /** A PeerId's bytes from its text; throws if it is none. */
  peerIdBytes(text: string): Uint8Array
  /** A PeerId's text from its bytes. */
  peerIdText(bytes: Uint8Array): string
  /** What happened, for the node's log. */
  log(level: LogLevel, fields: Record<string, unknown>, message: string): void
  /** Call `tick` at `at` (replacing the previous request); undefined: nothing due. */
  wakeAt?(at: number | undefined): void
}

/** One MLS VLAN of the node's config. */
export interface MlsVlanSpec {
  readonly name: string
  /** deriveVlanId(ownerPeerId, name), 01-identifiers.md §1.2. */
  readonly vlanId: Uint8Array
  readonly owner: string
  readonly isOwner: boolean
  readonly members: readonly string[]
  readonly proposers: readonly string[]
  readonly admins: readonly string[]
  readonly updateSeconds: number | undefined
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
  /** Committer: commits sent again to members that did not acknowledge them. */
  commitsResent: number
  acksSent: number
  acksReceived: number
  catchUpRequests: number
  catchUpApplied: number
  /** Catch-up requests not answered: not from a member, or sooner than a second after the last. */
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
  /** Committer: proposals refused unread because their sender was over its allowance. */
  proposalsRateLimited: number
  /** Member: commits that applied its own update (fresh leaf keys). */
  updatesApplied: number
  /** Owner: leases issued; admin: leases accepted. */
  leasesIssued: number
  leasesAccepted: number
  /** Self-updates started by the config's `updateSeconds` timer. */
  periodicUpdates: number
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

type State = 'joining' | 'member' | 'removed'

interface Vlan {
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
  /** Config `updateSeconds` in ms: a self-update this often (undefined: only when asked). */
  readonly updateEveryMs: number | undefined
  /** When this node last started a self-update (or opened). */
  lastSelfUpdateAt: number
  /** Owner: `vlan add` / `vlan remove` over the config's list, stored so a restart keeps them. */
  readonly changes: { added: Set<string>; removed: Set<string> }
  /** The latest key package from each peer that sent one (owner; admin for `vlan add` under a lease). */
  readonly heldKeyPackages: Map<string, Uint8Array>
  /** Owner: the Welcome sent to each member it added, by the key package it answered (sent again if that key package comes again). */
  readonly welcomes: Map<string, { keyPackage: Uint8Array; welcome: Uint8Array }>
  /** Member while joining: the key package it sends and its secret. */
  keyPackage: { keyPackage: Uint8Array; secret: Uint8Array } | undefined
  lastKeyPackageAt: number
  readonly epochs: EpochChange
  readonly catchUp: CatchUp
  readonly allowances: ProposalAllowances
  /** Serialises this VLAN's group operations with the switch changes that follow them. */
  queue: Promise<unknown>
  readonly counters: MlsVlanCounters
}

const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
const fromHex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (x) => Number.parseInt(x, 16))
function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Keys nobody holds: a VLAN waiting for its Welcome, or whose member was removed, seals and opens nothing anyone else can. */
function noKeys(): VlanEpochKeys {
  const secret = crypto.getRandomValues(new Uint8Array(32))
  return { kind: 'psk', epoch: 0, secrets: derivePskEpochSecrets(secret) }
}

type CatchUpMessage = Extract<MlsControlMessage, { type: `catch-up-${string}` }>

/** Sends a CONTROL message back on the link a message came in on (or came up); false if not sent. */
export type Reply = (message: MlsControlMessage) => boolean

export class MlsVlanNode {
  readonly #ports: MlsVlanPorts
  readonly #identity: NodeIdentity
  readonly #storage: StateStorage
  readonly #vlans = new Map<string, Vlan>()
  readonly #byId = new Map<string, Vlan>()
  #now: number
  #stopped = false
  #wokeAt: number | undefined

  constructor(params: {
    readonly ports: MlsVlanPorts
    readonly identity: NodeIdentity
    readonly storage: StateStorage
    readonly now: number
  }) {
    this.#ports = params.ports
    this.#identity = params.identity
    this.#storage = params.storage
    this.#now = params.now
  }

  /**
   * Opens one MLS VLAN: loads its group (the owner creates it), or makes a
   * key package to join with, and adds the VLAN to the switch with its
   * current keys.
   */
  async open(spec: MlsVlanSpec, now: number): Promise<void> {
    this.#now = now
    const { name, vlanId, isOwner } = spec
    const vlan: Vlan = {
      name,
      vlanId,
      vlanIdHex: toHex(vlanId),
      ownerPeerId: spec.owner,
      isOwner,
      state: 'joining',
      group: undefined,
      admitted: new Set(spec.members),
      proposers: new Set(spec.proposers),
      admins: new Set(spec.admins),
      wantUpdate: false,
      lastUpdateSentAt: 0,
      updateEveryMs: spec.updateSeconds === undefined ? undefined : spec.updateSeconds * 1000,
      lastSelfUpdateAt: now,
      changes: { added: new Set(), removed: new Set() },
      heldKeyPackages: new Map(),
      welcomes: new Map(),
      keyPackage: undefined,
      lastKeyPackageAt: 0,
      epochs: new EpochChange(),
      catchUp: new CatchUp(),
      allowances: new ProposalAllowances(),
      queue: Promise.resolve(),
      counters: emptyCounters(),
    }
    /** The group's members (hex PeerIds) at `epoch`, as the owner's record last saw them. */
    let recorded: { epoch: number; members: readonly string[] } | undefined
    if (isOwner) {
      const stored = await this.#storage.read(`admitted-${vlan.vlanIdHex}`)
      if (stored !== undefined) {
        const decoded = decodeAdmissionRecord(stored)
        if (!decoded.ok) throw new MlsError('mls-state-corrupt', decoded.error.detail)
        for (const p of decoded.message.added) vlan.changes.added.add(p)
        for (const p of decoded.message.removed) vlan.changes.removed.add(p)
        recorded = decoded.message.at
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
      this.#ports.sw.addVlan(name, group.epochKeys())
      // The group record and the admission record are two writes: a crash
      // between an admin's commit and the owner adopting it (or the
      // owner's own commit and its record) leaves the group ahead. Adopt
      // what changed since the record's epoch, so a member an admin
      // removed is not admitted again by its next key package.
      if (recorded !== undefined && recorded.epoch !== Number(group.epoch)) {
        const current = new Set(group.members().map((m) => toHex(m.peerId)))
        await this.#adoptMembership(vlan, [...recorded.members], current)
        await this.#storeChanges(vlan)
        this.#log(
          'info',
          { vlan: name, from: recorded.epoch, to: Number(group.epoch) },
          'admission record brought up to the group',
        )
      }
    } else {
      this.#ports.sw.addVlan(name, noKeys())
      await this.#newKeyPackage(vlan)
    }
    this.#vlans.set(name, vlan)
    this.#byId.set(vlan.vlanIdHex, vlan)
    this.#log(
      'info',
      { vlan: name, owner: spec.owner, isOwner, state: vlan.state, epoch: group?.epoch.toString() },
      'MLS VLAN',
    )
  }

  #log(level: LogLevel, fields: Record<string, unknown>, message: string): void {
    this.#ports.log(level, fields, message)
  }

  /** Tells the caller when `tick` next has something to do, if that changed. */
  #wake(): void {
    const at = this.#stopped ? undefined : this.nextDeadline()
    if (at === this.#wokeAt) return
    this.#wokeAt = at
    this.#ports.wakeAt?.(at)
  }

  /** A joining member's key package: the stored one (so a Welcome for it still works after a restart), or a fresh one. */
  async #newKeyPackage(vlan: Vlan, fresh = false): Promise<void> {
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

  #run<T>(vlan: Vlan, job: () => Promise<T>): Promise<T> {
    const next = vlan.queue.then(job)
    vlan.queue = next.catch(() => undefined)
    return next
  }

  #vlan(name: string | undefined): Vlan {
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

  #peerText(bytes: Uint8Array): string {
    return this.#ports.peerIdText(bytes)
  }

  #selfPeerId(): string {
    return this.#peerText(this.#identity.peerId)
  }

  // -- operations (the node's `vlan add / remove / update / lease`) ---------

  /**
   * Owner: admits `peer`; adds it at once if its key package is here, else
   * when it arrives. Admin under a lease: adds it from the key package it
   * sent here. Other members: propose the add to the owner (with that key
   * package), who commits it if its config lists this member as a proposer.
   */
  async add(vlanName: string | undefined, peer: string, now: number): Promise<unknown> {
    this.#now = now
    const vlan = this.#vlan(vlanName)
    const bytes = this.#ports.peerIdBytes(peer) // a PeerId, or throws
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
      const proposal = await group.propose({ add: { keyPackage, from: bytes } })
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
  async remove(vlanName: string | undefined, peer: string, now: number): Promise<unknown> {
    this.#now = now
    const vlan = this.#vlan(vlanName)
    const bytes = this.#ports.peerIdBytes(peer)
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

  /**
   * The committer's self-update (owner, or admin under a lease): fresh path
   * secrets, a new epoch, taking effect like an add. A member's: an MLS
   * Update proposal (fresh leaf keys) to the owner, sent again every 2 s
   * and in each new epoch until a commit applies it (11-mls.md §4).
   */
  async update(vlanName: string | undefined, now: number): Promise<unknown> {
    this.#now = now
    const vlan = this.#vlan(vlanName)
    const group = this.#memberGroup(vlan)
    vlan.lastSelfUpdateAt = now
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

  /**
   * Owner: grants `peer` (a member its config names in `admins`) the right
   * to commit for `seconds` (at most a day); the owner itself commits again
   * only once the lease has run out (11-mls.md §5).
   */
  async lease(
    vlanName: string | undefined,
    peer: string,
    seconds: number,
    now: number,
  ): Promise<unknown> {
    this.#now = now
    const vlan = this.#vlan(vlanName)
    if (!vlan.isOwner) throw new Error(`this node does not own VLAN ${vlan.name}`)
    if (!vlan.admins.has(peer)) throw new Error(`${peer} is not one of the config's admins`)
    if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > 86_400)
      throw new Error('a lease runs 1 to 86400 seconds')
    if (!this.#ports.isUp(peer)) throw new Error(`no link to ${peer}`)
    const notBefore = Math.floor(now / 1000)
    const notAfter = notBefore + seconds
    const lease = await this.#run(vlan, async () => {
      this.#promotePending(vlan)
      return vlan.group!.issueLease({
        adminPeerId: this.#ports.peerIdBytes(peer),
        notBefore,
        notAfter,
      })
    })
    vlan.counters.leasesIssued++
    this.#ports.send(peer, { type: 'lease', vlanId: vlan.vlanId, lease })
    this.#log('info', { vlan: vlan.name, admin: peer, notAfter }, 'lease issued')
    return { vlan: vlan.name, admin: peer, notBefore, notAfter }
  }

  /** Owner: `peer` is no longer admitted (stored), its key package and Welcome forgotten. */
  async #forget(vlan: Vlan, peer: string): Promise<void> {
    vlan.admitted.delete(peer)
    vlan.changes.removed.add(peer)
    vlan.changes.added.delete(peer)
    await this.#storeChanges(vlan)
    vlan.heldKeyPackages.delete(peer)
    vlan.welcomes.delete(peer)
  }

  /** The committer removes `peer` (in the VLAN's queue): new keys at once, the old epoch dropped. */
  async #commitRemoval(vlan: Vlan, peer: string): Promise<void> {
    const group = vlan.group!
    const bytes = this.#ports.peerIdBytes(peer)
    if (!group.members().some((m) => equal(m.peerId, bytes))) return
    this.#promotePending(vlan)
    const out = await group.removeMembers({ peerIds: [bytes] })
    await this.#afterRemoval(vlan, out.bundle, Number(out.epoch), [peer])
    this.#log('info', { vlan: vlan.name, peer, epoch: Number(out.epoch) }, 'member removed')
  }

  /** `removed`: the peers the commit removes (they learn it from the commit too). */
  async #afterRemoval(
    vlan: Vlan,
    bundle: Uint8Array,
    epoch: number,
    removed: readonly string[],
  ): Promise<void> {
    const group = vlan.group!
    // Sealed under the epoch being left, which the members still hold.
    this.#sendCommit(vlan, bundle, removed)
    vlan.epochs.committed = epoch
    this.#switchNow(vlan, group)
    await this.#ports.refresh()
    this.#expectAcks(vlan, epoch, undefined, false)
  }

  /** A member's group, or an error saying why it has none. */
  #memberGroup(vlan: Vlan): VlanGroup {
    const group = vlan.group
    if (group === undefined || group.removed || vlan.state !== 'member') {
      throw new Error(`this node is not a member of VLAN ${vlan.name} (${vlan.state})`)
    }
    return group
  }

  /**
   * Sends a member's proposal to the owner and to the config's admins:
   * only one of them can commit at a time (the owner, or the admin holding
   * a lease while the owner is away), the others drop it.
   */
  #sendProposal(vlan: Vlan, proposal: Uint8Array): void {
    const message: MlsControlMessage = { type: 'proposal', vlanId: vlan.vlanId, proposal }
    let sent = 0
    for (const peer of new Set([vlan.ownerPeerId, ...vlan.admins])) {
      if (peer === this.#selfPeerId()) continue
      if (this.#ports.isUp(peer) && this.#ports.send(peer, message)) sent++
    }
    if (sent === 0) throw new Error(`no link to the owner ${vlan.ownerPeerId} or an admin`)
    vlan.counters.proposalsSent++
  }

  /**
   * Stores the run-time admission changes (atomically, beside the group
   * record), with the group's epoch and members as of now: a load that
   * finds the group at another epoch adopts what changed since.
   */
  async #storeChanges(vlan: Vlan): Promise<void> {
    const group = vlan.group
    const record = encodeAdmissionRecord({
      added: [...vlan.changes.added],
      removed: [...vlan.changes.removed],
      ...(group === undefined || group.removed
        ? {}
        : {
            at: {
              epoch: Number(group.epoch),
              members: group.members().map((m) => toHex(m.peerId)),
            },
          }),
    })
    await this.#storage.write(`admitted-${vlan.vlanIdHex}`, record)
  }

  /** Member: (re)sends its Update proposal for the current epoch (the same one within an epoch). */
  async #proposeUpdate(vlan: Vlan): Promise<void> {
    const group = vlan.group
    if (!vlan.wantUpdate || group === undefined || group.removed) return
    vlan.lastUpdateSentAt = this.#now
    const proposal = await group.proposeUpdate()
    this.#sendProposal(vlan, proposal)
  }

  #addMember(vlan: Vlan, peer: string, keyPackage: Uint8Array): Promise<void> {
    return this.#run(vlan, async () => {
      const group = vlan.group!
      const bytes = this.#ports.peerIdBytes(peer)
      if (group.members().some((m) => equal(m.peerId, bytes))) return
      if (!vlan.admitted.has(peer)) return
      this.#promotePending(vlan)
      const out = await group.addMembers({ keyPackages: [{ keyPackage, from: bytes }] })
      vlan.heldKeyPackages.delete(peer)
      if (out.welcome !== undefined) vlan.welcomes.set(peer, { keyPackage, welcome: out.welcome })
      await this.#afterAddOrUpdate(vlan, out.bundle, out.welcome, peer)
      this.#log('info', { vlan: vlan.name, peer, epoch: Number(out.epoch) }, 'member added')
    })
  }

  /** The committer after an add or update commit: hold the new epoch, tell everyone, wait for acks. */
  async #afterAddOrUpdate(
    vlan: Vlan,
    bundle: Uint8Array,
    welcome: Uint8Array | undefined,
    joiner: string | undefined,
  ): Promise<void> {
    const group = vlan.group!
    const keys = group.epochKeys()
    const startedAt = this.#now
    this.#ports.sw.prepareEpoch(vlan.name, keys)
    await this.#ports.refresh()
    this.#sendCommit(vlan, bundle)
    if (welcome !== undefined && joiner !== undefined) {
      if (
        this.#ports.hasLink(joiner) &&
        this.#ports.send(joiner, { type: 'welcome', vlanId: vlan.vlanId, welcome })
      ) {
        vlan.counters.welcomesSent++
        this.#log('info', { vlan: vlan.name, joiner, bytes: welcome.length }, 'Welcome sent')
      }
    }
    const epoch = keys.epoch
    vlan.epochs.committed = epoch
    vlan.epochs.hold(epoch, startedAt)
    this.#expectAcks(vlan, epoch, joiner, true)
  }

  /**
   * Committer: waits for every member but itself (and a joiner, who has its
   * Welcome) to acknowledge `epoch`. With `promote`, all acks make the
   * epoch take effect for sending. Members that have not acknowledged in
   * time get the commit again, point to point (§11.8).
   */
  #expectAcks(vlan: Vlan, epoch: number, joiner: string | undefined, promote: boolean): void {
    const group = vlan.group!
    const joinerBytes = joiner === undefined ? undefined : this.#ports.peerIdBytes(joiner)
    const waiting = group
      .members()
      .filter(
        (m) =>
          m.leafIndex !== group.leafIndex &&
          (joinerBytes === undefined || !equal(m.peerId, joinerBytes)),
      )
      .map((m) => m.leafIndex)
    const action = vlan.epochs.expectAcks(epoch, waiting, this.#now, promote)
    if (action?.type === 'promote') this.#promote(vlan, action.epoch, action.why)
    this.#wake()
  }

  /** Sends under a held next epoch (acks in, or 2 s passed); the previous one settles, then goes. */
  #promote(vlan: Vlan, epoch: number, why: PromoteReason): void {
    if (vlan.epochs.held === epoch) {
      vlan.epochs.release(epoch, this.#now)
      vlan.counters.lastSwitchMs = vlan.epochs.lastSwitchMs
    }
    const group = vlan.group
    if (group === undefined || group.removed || Number(group.epoch) !== epoch) return
    if (this.#ports.sw.epochsOf(vlan.name).next !== epoch) return
    this.#ports.sw.setEpoch(vlan.name, group.epochKeys())
    if (vlan.epochs.committed === epoch)
      this.#ports.sendInVlan(vlan.name, encodeVlanControl({ type: 'switch', epoch: BigInt(epoch) }))
    vlan.epochs.settle(this.#now)
    this.#wake()
    void this.#ports.refresh()
    this.#log(
      'info',
      { vlan: vlan.name, epoch, why, switchMs: vlan.counters.lastSwitchMs },
      'sending under new epoch',
    )
  }

  /** Before another commit: a held epoch takes effect now. */
  #promotePending(vlan: Vlan): void {
    const next = this.#ports.sw.epochsOf(vlan.name).next
    if (next !== undefined) this.#promote(vlan, next, 'next commit')
  }

  /** A removal (or a catch-up, or a join): the new epoch for sending and receiving at once, the old one gone at once. */
  #switchNow(vlan: Vlan, group: VlanGroup): void {
    vlan.epochs.switchNow()
    this.#ports.sw.setEpoch(vlan.name, group.epochKeys())
    this.#ports.sw.dropPreviousEpoch(vlan.name)
  }

  // -- messages -----------------------------------------------------------

  /**
   * A decoded CONTROL message from the neighbour `peer` (its authenticated
   * PeerId). Resolves when handled; rejects with the reason it was refused
   * (for the log). A message for a VLAN this node does not have is ignored.
   */
  async receive(
    peer: string,
    message: MlsControlMessage,
    now: number,
    reply: Reply = (m) => this.#ports.send(peer, m),
  ): Promise<void> {
    this.#now = now
    const vlan = this.#byId.get(toHex(message.vlanId))
    if (vlan === undefined) return
    switch (message.type) {
      case 'key-package':
        return this.#onKeyPackage(vlan, message.keyPackage, peer, reply)
      case 'proposal':
        return this.#onProposal(vlan, message.proposal, peer)
      case 'lease':
        return this.#onLease(vlan, message.lease, peer)
      case 'welcome':
        return this.#onWelcome(vlan, message.welcome, peer)
      default:
        return this.#onCatchUp(vlan, message, peer, reply)
    }
  }

  /** Whether `peer` is a member of the VLAN's group now. */
  #isMember(vlan: Vlan, peer: string): boolean {
    const group = vlan.group
    if (group === undefined || group.removed) return false
    let bytes: Uint8Array
    try {
      bytes = this.#ports.peerIdBytes(peer)
    } catch {
      return false
    }
    return group.members().some((m) => equal(m.peerId, bytes))
  }

  /**
   * Whether an MLS VLAN here names `peer`: its owner, an admin, a member
   * the owner's config or a run-time add admits, or a member of its group
   * now (docs/spec/14-roles.md §14.2).
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
  maySendLarge(peer: string): boolean {
    for (const vlan of this.#vlans.values())
      if (peer === vlan.ownerPeerId || vlan.admins.has(peer) || this.#isMember(vlan, peer))
        return true
    return false
  }

  async #onKeyPackage(
    vlan: Vlan,
    keyPackage: Uint8Array,
    peer: string,
    reply: Reply,
  ): Promise<void> {
    if (!vlan.isOwner) {
      // An admin (the joiner's config names it): kept for `vlan add` under a lease.
      if (vlan.state !== 'member') return
      vlan.counters.keyPackagesReceived++
      holdKeyPackage(vlan.heldKeyPackages, peer, keyPackage)
      return
    }
    vlan.counters.keyPackagesReceived++
    if (this.#isMember(vlan, peer)) {
      // A member still sending the key package it was added with lost its Welcome.
      const sent = vlan.welcomes.get(peer)
      if (sent !== undefined && equal(sent.keyPackage, keyPackage)) {
        const welcome = { type: 'welcome', vlanId: vlan.vlanId, welcome: sent.welcome } as const
        if (reply(welcome)) vlan.counters.welcomesResent++
      }
      return
    }
    if (!vlan.admitted.has(peer)) {
      vlan.counters.keyPackagesRefused++
      // Kept (bounded) so that `vlan add` can add it at once.
      holdKeyPackage(vlan.heldKeyPackages, peer, keyPackage)
      this.#log('info', { vlan: vlan.name, peer }, 'key package from a peer not admitted')
      return
    }
    try {
      await this.#addMember(vlan, peer, keyPackage)
    } catch (error) {
      vlan.counters.keyPackagesRefused++
      throw error
    }
  }

  async #onWelcome(vlan: Vlan, welcome: Uint8Array, peer: string): Promise<void> {
    // From the owner, or an admin the config names (who commits under a lease).
    if (vlan.isOwner || vlan.state === 'member') return
    if (peer !== vlan.ownerPeerId && !vlan.admins.has(peer)) return
    const kp = vlan.keyPackage
    if (kp === undefined) return
    await this.#run(vlan, async () => {
      if (vlan.state === 'member') return
      const group = await joinVlanGroup({
        vlanId: vlan.vlanId,
        ownerPeerId: this.#ports.peerIdBytes(vlan.ownerPeerId),
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
      await this.#ports.refresh()
      this.#log('info', { vlan: vlan.name, epoch: Number(group.epoch) }, 'joined by Welcome')
      // Commits made since this Welcome (if it was sent again) come from the owner's log.
      this.#requestCatchUp(vlan)
    })
  }

  /**
   * Committer: a member's proposal. Its own update and leaving are always
   * accepted; adds and removals of others only from the config's
   * proposers. Committed at once, with the same epoch timing as the
   * committer's own operations.
   */
  async #onProposal(vlan: Vlan, message: Uint8Array, peer: string): Promise<void> {
    const group = vlan.group
    if (group === undefined || group.removed || !group.canCommit()) {
      vlan.counters.proposalsRefused++
      return
    }
    // Each proposal costs a commit (and every member its processing): an
    // allowance per peer, checked before the signature. A refused update is
    // sent again by its member (every 2 s until applied).
    if (!vlan.allowances.take(peer, this.#now)) {
      vlan.counters.proposalsRefused++
      vlan.counters.proposalsRateLimited++
      this.#log('debug', { vlan: vlan.name, peer }, 'proposal over the rate, refused')
      return
    }
    await this.#run(vlan, async () => {
      let summary: ProposalSummary
      try {
        summary = await group.receiveProposal({
          message,
          policy: (p) => vlan.proposers.has(this.#peerText(p.proposer)),
        })
      } catch (error) {
        // The same update proposal again (resent before the commit reached its maker).
        if (error instanceof MlsError && error.code === 'mls-replayed') return
        vlan.counters.proposalsRefused++
        throw error
      }
      // An authentic proposal: a held epoch takes effect before the next commit.
      this.#promotePending(vlan)
      const subject = this.#peerText(summary.subject)
      const before = group.members().map((m) => toHex(m.peerId))
      // Stored before the commit, as `remove` does: a crash between the two
      // must not leave the removed peer admitted.
      if (vlan.isOwner && summary.kind === 'remove') await this.#forget(vlan, subject)
      let out: Awaited<ReturnType<VlanGroup['commitPending']>>
      try {
        out = await group.commitPending()
      } catch (error) {
        await group.discardProposals()
        throw error
      }
      vlan.counters.proposalsCommitted++
      const after = new Set(group.members().map((m) => toHex(m.peerId)))
      this.#log(
        'info',
        { vlan: vlan.name, kind: summary.kind, proposer: peer, subject, epoch: Number(out.epoch) },
        'proposal committed',
      )
      if (vlan.isOwner && summary.kind === 'add') {
        vlan.admitted.add(subject)
        vlan.changes.added.add(subject)
        vlan.changes.removed.delete(subject)
        await this.#storeChanges(vlan)
      }
      const gone = before.filter((p) => !after.has(p))
      if (gone.length > 0) {
        const peers = gone.map((p) => this.#peerText(fromHex(p)))
        await this.#afterRemoval(vlan, out.bundle, Number(out.epoch), peers)
        return
      }
      const joiner = out.welcome !== undefined ? subject : undefined
      await this.#afterAddOrUpdate(vlan, out.bundle, out.welcome, joiner)
    })
  }

  /** Admin: a lease from the owner; the group verifies it and stores it. */
  async #onLease(vlan: Vlan, lease: Uint8Array, peer: string): Promise<void> {
    if (vlan.isOwner || peer !== vlan.ownerPeerId) return
    const group = vlan.group
    if (group === undefined || group.removed) return
    await this.#run(vlan, () => group.acceptLease({ lease }))
    vlan.counters.leasesAccepted++
    this.#log('info', { vlan: vlan.name }, 'lease accepted: this node may commit while it runs')
  }

  /** A kind-2 plaintext of an MLS VLAN (from the switch). */
  receiveInVlan(vlanName: string, body: Uint8Array, now: number): void {
    this.#now = now
    const vlan = this.#vlans.get(vlanName)
    if (vlan === undefined) return
    const decoded = decodeVlanControl(body)
    if (!decoded.ok) {
      // A commit without a bundle is still a refused commit.
      if (decoded.error.reason === 'empty' && vlan.group !== undefined)
        vlan.counters.commitsRefused++
      return
    }
    const message = decoded.message
    if (message.type === 'commit') {
      // The owner too: an admin commits under a lease (the group checks it).
      if (vlan.group === undefined) return
      this.#run(vlan, () => this.#onCommit(vlan, message.bundle)).catch((error: unknown) => {
        vlan.counters.commitsRefused++
        this.#log('warn', { vlan: vlan.name, err: (error as Error).message }, 'commit refused')
      })
    } else if (message.type === 'ack') {
      // Whoever committed last collects the acks.
      vlan.counters.acksReceived++
      const action = vlan.epochs.ack(Number(message.epoch), message.leafIndex)
      if (action?.type === 'promote') this.#act(vlan, action)
    } else {
      this.#act(vlan, { type: 'promote', epoch: Number(message.epoch), why: 'owner switched' })
    }
  }

  /** Carries out what the epoch-change machine asks for. */
  #act(vlan: Vlan, action: EpochChangeAction): void {
    if (action.type === 'promote') {
      void this.#run(vlan, async () => this.#promote(vlan, action.epoch, action.why))
    } else if (action.type === 'resend') {
      const group = vlan.group
      if (group === undefined) return
      // One pass over the members (a group may have thousands).
      const byLeaf = new Map(group.members().map((m) => [m.leafIndex, m.peerId]))
      for (const leaf of action.leaves) {
        const peerId = byLeaf.get(leaf)
        if (peerId === undefined) continue
        const peer = this.#peerText(peerId)
        if (!this.#ports.hasLink(peer)) continue
        this.#sendLog(vlan, peer, resendSince(action.epoch))
        vlan.counters.commitsResent++
      }
    } else {
      this.#ports.sw.dropPreviousEpoch(vlan.name)
      void this.#ports.refresh()
    }
  }

  async #onCommit(vlan: Vlan, bundle: Uint8Array): Promise<void> {
    const group = vlan.group!
    if (group.removed) return
    const before = group.members().map((m) => toHex(m.peerId))
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
      this.#log('info', { vlan: vlan.name, epoch: Number(group.epoch) }, 'own update applied')
    } else if (vlan.wantUpdate) {
      // The commit left the epoch without this member's update: propose it in the new one.
      vlan.lastUpdateSentAt = 0
    }
    const after = new Set(group.members().map((m) => toHex(m.peerId)))
    const removal = before.some((p) => !after.has(p))
    if (vlan.isOwner) await this.#adoptMembership(vlan, before, after)
    if (removal) {
      // Security first: the new keys at once, the old epoch dropped at once.
      this.#switchNow(vlan, group)
      await this.#ports.refresh()
      this.#ack(vlan)
      this.#log('info', { vlan: vlan.name, epoch: Number(group.epoch) }, 'removal applied')
      return
    }
    // An add or update: hold the new epoch for receiving, subscribe, then acknowledge.
    const keys = group.epochKeys()
    this.#ports.sw.prepareEpoch(vlan.name, keys)
    await this.#ports.refresh()
    this.#ack(vlan)
    vlan.epochs.hold(keys.epoch, this.#now)
    this.#wake()
  }

  /**
   * Owner, after an admin's commit: whom it removed is no longer admitted,
   * whom it added is, so the owner's own adds (from its config) agree.
   */
  async #adoptMembership(vlan: Vlan, before: string[], after: Set<string>): Promise<void> {
    const was = new Set(before)
    for (const p of before) if (!after.has(p)) await this.#forget(vlan, this.#peerText(fromHex(p)))
    let changed = false
    for (const p of after) {
      if (was.has(p)) continue
      const peer = this.#peerText(fromHex(p))
      if (vlan.admitted.has(peer)) continue
      vlan.admitted.add(peer)
      vlan.changes.added.add(peer)
      vlan.changes.removed.delete(peer)
      changed = true
    }
    if (changed) await this.#storeChanges(vlan)
  }

  /** Tells the committer this member holds its current epoch (sealed under the epoch it sends under). */
  #ack(vlan: Vlan): void {
    const group = vlan.group
    if (group === undefined || group.removed) return
    const ack = encodeVlanControl({ type: 'ack', epoch: group.epoch, leafIndex: group.leafIndex })
    this.#ports.sendInVlan(vlan.name, ack)
    vlan.counters.acksSent++
  }

  async #removed(vlan: Vlan): Promise<void> {
    vlan.epochs.switchNow()
    vlan.state = 'removed'
    vlan.counters.removed++
    // No keys any more: the VLAN seals and opens under keys nobody else holds.
    this.#ports.sw.setEpoch(vlan.name, noKeys())
    this.#ports.sw.dropPreviousEpoch(vlan.name)
    await this.#ports.refresh()
    this.#log('warn', { vlan: vlan.name }, 'removed from the VLAN by its owner')
    // Ready to be added again: a fresh key package goes to the owner, who admits it only if told to.
    vlan.group = undefined
    await this.#newKeyPackage(vlan, true)
    vlan.state = 'joining'
    vlan.lastKeyPackageAt = this.#now
  }

  #requestCatchUp(vlan: Vlan, to?: Reply): void {
    const group = vlan.group
    if (group === undefined || this.#stopped) return
    const request: MlsControlMessage = {
      type: 'catch-up-request',
      vlanId: vlan.vlanId,
      since: group.epoch,
    }
    if (to !== undefined) {
      if (to(request)) vlan.counters.catchUpRequests++
      return
    }
    // The owner holds the log; any member would do.
    const peer = this.#ports.hasLink(vlan.ownerPeerId) ? vlan.ownerPeerId : this.#ports.anyPeer()
    if (peer !== undefined && this.#ports.send(peer, request)) vlan.counters.catchUpRequests++
  }

  async #onCatchUp(vlan: Vlan, message: CatchUpMessage, peer: string, reply: Reply): Promise<void> {
    if (vlan.group === undefined) return
    if (message.type === 'catch-up-request') {
      // Only a member may ask, and not more often than the interval.
      if (!this.#isMember(vlan, peer) || !vlan.catchUp.mayAnswer(peer, this.#now)) {
        vlan.counters.catchUpRefused++
        return
      }
      this.#sendLog(vlan, peer, message.since, reply)
      return
    }
    if (message.type === 'catch-up-commit') {
      // Sent point to point by the committer: the owner or an admin.
      if (peer !== vlan.ownerPeerId && !vlan.admins.has(peer)) {
        vlan.counters.commitsRefused++
        return
      }
      // A commit too large for a frame: handled as if it had come inside the VLAN.
      await this.#run(vlan, () => this.#onCommit(vlan, message.bundle)).catch((error: unknown) => {
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
      const beforeCatchUp = group.members().map((m) => toHex(m.peerId))
      try {
        applied = await group.catchUp({ bundles })
      } catch (error) {
        if (error instanceof MlsError && error.code === 'mls-gap') {
          // The answer did not reach back to this epoch: ask again, later
          // each time (at once, it would loop as fast as the answers come).
          if (!this.#stopped) vlan.catchUp.gap(this.#now)
          this.#wake()
          return
        }
        throw error
      }
      if (applied === 0) return
      vlan.catchUp.applied()
      vlan.counters.catchUpApplied += applied
      if (vlan.isOwner)
        await this.#adoptMembership(
          vlan,
          beforeCatchUp,
          new Set(group.members().map((m) => toHex(m.peerId))),
        )
      this.#log(
        'info',
        { vlan: vlan.name, applied, epoch: Number(group.epoch), from: peer },
        'caught up',
      )
      if (group.removed) return this.#removed(vlan)
      this.#switchNow(vlan, group)
      await this.#ports.refresh()
      this.#ack(vlan)
    })
  }

  /** Sends the commits of epochs `since` on from this node's log (a catch-up answer). */
  #sendLog(
    vlan: Vlan,
    peer: string,
    since: bigint,
    reply: Reply = (m) => this.#ports.send(peer, m),
  ): void {
    const group = vlan.group
    if (group === undefined || group.removed) return
    // Commit bundles are MLS PrivateMessages: only members can open them.
    const answer = catchUpAnswer(group.commitLog({ since }), since)
    if (!answer.ok) {
      if (answer.reason === 'too-old') {
        // The asker is behind the start of this log: no answer could help it.
        vlan.counters.catchUpTooOld++
        this.#log(
          'warn',
          { vlan: vlan.name, peer, since: Number(since) },
          'catch-up request from before the commit log: the member must be added again',
        )
      }
      return
    }
    reply({ type: 'catch-up-answer', vlanId: vlan.vlanId, bundles: answer.bundles })
  }

  /**
   * Sends a commit to every member: inside the VLAN as one frame if it fits,
   * else point to point to each member this node has a link to (and those
   * the commit removes, so they learn they are out).
   */
  #sendCommit(vlan: Vlan, bundle: Uint8Array, removed: readonly string[] = []): void {
    vlan.counters.commitsSent++
    if (bundle.length <= MAX_IN_VLAN_COMMIT_BYTES) {
      this.#ports.sendInVlan(vlan.name, encodeVlanControl({ type: 'commit', bundle }))
      return
    }
    const group = vlan.group!
    const message: MlsControlMessage = { type: 'catch-up-commit', vlanId: vlan.vlanId, bundle }
    const self = group.members().find((m) => m.leafIndex === group.leafIndex)
    const peers = new Set([...group.members().map((m) => this.#peerText(m.peerId)), ...removed])
    if (self !== undefined) peers.delete(this.#peerText(self.peerId))
    for (const peer of peers) if (this.#ports.isUp(peer)) this.#ports.send(peer, message)
  }

  /** A link came up: a joining member sends its key package to the owner; a member asks for missed commits. */
  linkUp(peer: string, now: number, reply: Reply = (m) => this.#ports.send(peer, m)): void {
    this.#now = now
    for (const vlan of this.#vlans.values()) {
      if (vlan.isOwner) {
        // An admin may have committed while the owner was away.
        if (vlan.admins.has(peer)) this.#requestCatchUp(vlan, reply)
        continue
      }
      const toOwner = peer === vlan.ownerPeerId
      if (!toOwner && !vlan.admins.has(peer)) continue
      if (vlan.state === 'joining') this.#sendKeyPackage(vlan, reply)
      else if (vlan.state === 'member' && toOwner) this.#requestCatchUp(vlan)
    }
  }

  /**
   * The config's `updateSeconds`: a self-update that often (a commit on the
   * owner or a leased admin, an Update proposal on a member).
   */
  #periodicUpdate(vlan: Vlan): void {
    if (vlan.updateEveryMs === undefined || vlan.state !== 'member' || vlan.wantUpdate) return
    const group = vlan.group
    if (group === undefined || group.removed) return
    // The owner while its lease runs cannot commit: it waits.
    if (vlan.isOwner && !group.canCommit()) return
    if (!due(vlan.lastSelfUpdateAt, vlan.updateEveryMs, this.#now)) return
    vlan.counters.periodicUpdates++
    this.update(vlan.name, this.#now).catch((error: unknown) =>
      this.#log('warn', { vlan: vlan.name, err: (error as Error).message }, 'periodic update'),
    )
  }

  #sendKeyPackage(vlan: Vlan, send: Reply): void {
    if (vlan.keyPackage === undefined) return
    vlan.lastKeyPackageAt = this.#now
    const message: MlsControlMessage = {
      type: 'key-package',
      vlanId: vlan.vlanId,
      keyPackage: vlan.keyPackage.keyPackage,
    }
    if (send(message)) vlan.counters.keyPackagesSent++
  }

  /**
   * What is due at `now`: epochs to promote or settle, commits to resend,
   * catch-up retries; the periodic self-update; joining members resend
   * their key package (to the owner and the config's admins) until a
   * Welcome comes; a member that asked for its own update resends its
   * proposal until a commit applies it.
   */
  tick(now: number): void {
    this.#now = now
    if (this.#stopped) return
    for (const vlan of this.#vlans.values()) {
      for (const action of vlan.epochs.tick(now)) this.#act(vlan, action)
      if (vlan.catchUp.tick(now)) this.#requestCatchUp(vlan)
      this.#periodicUpdate(vlan)
      if (vlan.isOwner) continue
      if (vlan.state === 'member' && vlan.wantUpdate) {
        if (!due(vlan.lastUpdateSentAt, UPDATE_RESEND_MS, now)) continue
        vlan.lastUpdateSentAt = now
        this.#run(vlan, () => this.#proposeUpdate(vlan)).catch((error: unknown) =>
          this.#log(
            'warn',
            { vlan: vlan.name, err: (error as Error).message },
            'update proposal not sent',
          ),
        )
        continue
      }
      if (vlan.state !== 'joining') continue
      if (!due(vlan.lastKeyPackageAt, KEY_PACKAGE_RESEND_MS, now)) continue
      for (const peer of [vlan.ownerPeerId, ...vlan.admins])
        if (this.#ports.isUp(peer)) this.#sendKeyPackage(vlan, (m) => this.#ports.send(peer, m))
    }
    this.#wokeAt = undefined
    this.#wake()
  }

  /** When `tick` next has an epoch change or a catch-up retry to carry out (undefined: none). */
  nextDeadline(): number | undefined {
    let next: number | undefined
    for (const vlan of this.#vlans.values())
      for (const t of [vlan.epochs.nextDeadline(), vlan.catchUp.nextDeadline()])
        if (t !== undefined && (next === undefined || t < next)) next = t
    return next
  }

  #summary(vlan: Vlan) {
    const group = vlan.group
    return {
      epoch: group === undefined || group.removed ? undefined : Number(group.epoch),
      members:
        group === undefined || group.removed
          ? []
          : group.members().map((m) => this.#peerText(m.peerId)),
    }
  }

  /** Per MLS VLAN: role, state, epoch, members, held epochs, counters (`extra` after `canCommit`). */
  status(extra: Record<string, unknown> = {}): Record<string, unknown> {
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
        ...extra,
        wantUpdate: vlan.wantUpdate || undefined,
        switchEpochs: vlan.state === 'member' ? this.#ports.sw.epochsOf(vlan.name) : undefined,
        counters: vlan.counters,
      }
    }
    return out
  }

  isMls(vlan: string): boolean {
    return this.#vlans.has(vlan)
  }

  /** Nothing more is due; operations still queued finish. */
  stop(): void {
    this.#stopped = true
    for (const vlan of this.#vlans.values()) {
      vlan.epochs.stop()
      vlan.catchUp.stop()
    }
    this.#wake()
  }
}
