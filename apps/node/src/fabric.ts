/**
 * The node's fabric (docs/spec/16-fabric.md §16.7), wiring only: the
 * formats, the directory and its bounds are @peertap/mvlan's. This file
 *
 * - keeps the fabric (fabric-store.ts) and puts its MVLAN into the switch
 *   as a PSK VLAN with one in-process port, whose frames are presence
 *   records (no TAP device);
 * - publishes the node's signed presence on the MVLAN: at start, every
 *   PUBLISH_EVERY_S, and at once when its addresses, VLANs or the fabric's
 *   epoch change;
 * - keeps the directory: records from the MVLAN, relay records relays send
 *   on CONTROL 12, and the directory a fabric member hands a newcomer on
 *   CONTROL 12 when its link comes up;
 * - presents the fabric's epoch statement to each relay it greets (CONTROL
 *   11), before its SUBs, so the relay admits its fabric credential (the
 *   SUB's proof under the MVLAN's key);
 * - dials, from the directory, the relays (up to MAX_RELAY_LINKS) and the
 *   nodes that share a VLAN with it (up to MAX_DIRECT_DIALS);
 * - roams: when an address of the host goes away it drops its direct
 *   connections (dead, but a dial would reuse them), dials again from the
 *   new address and publishes its new presence;
 * - takes grants (CONTROL 13): the fabric from the owner of a VLAN it is
 *   joining by invitation, a rotation from an admin; and gives them: to a
 *   joiner whose invitation carried the fabric, and, as the admin, to every
 *   member still in the fabric when it rotates.
 */
import { randomBytes } from 'node:crypto'
import { networkInterfaces } from 'node:os'
import { decodeMembershipProof, type ProofVerifier } from '@peertap/crypto'
import type { Dialler } from '@peertap/daemon'
import {
  Directory,
  type DirectoryEntry,
  decodeFabricGrant,
  decodePresenceBatch,
  decodePresenceFrame,
  encodeFabricGrant,
  encodePresenceBatch,
  encodePresenceFrame,
  type FabricKeys,
  fabricKeys,
  mvlanPortMac,
  type PresenceVlan,
  rootKeyOf,
  signFabricEpoch,
  signPresence,
  verifyFabricEpoch,
} from '@peertap/mvlan'
import type { SealedFrame, Switch } from '@peertap/switch'
import {
  CONTROL_FABRIC_EPOCH,
  CONTROL_FABRIC_GRANT,
  CONTROL_PRESENCE,
  type Control,
  type Link,
  type Trunk,
} from '@peertap/trunk'
import { formatVlanId } from '@peertap/vft'
import type { Logger } from 'pino'
import { type FabricState, readFabric, removeFabric, writeFabric } from './fabric-store.ts'
import { hex, peerIdBytes, peerIdText } from './peer-ids.ts'

/** The switch's name for the MVLAN (a VLAN name never starts with '@'). */
export const MVLAN = '@fabric'
const PORT = 'presence'
const BROADCAST = new Uint8Array(6).fill(0xff)
/** How often the node signs its presence again, and how long a record lives (§16.7). */
export const PUBLISH_EVERY_S = 300
export const RECORD_LIFETIME_S = 900
/** Relays the node keeps links to from the directory, beside its bootstrap addresses. */
export const MAX_RELAY_LINKS = 3
/** Nodes the node dials from the directory at most (those sharing a VLAN with it). */
export const MAX_DIRECT_DIALS = 32
/** A directory peer is dialled again at most this often while unreachable. */
const REDIAL_S = 5
/** After the directory starts afresh (a rotation), new peers are not answered for this long: all publish anyway. */
const QUIET_AFTER_RESET_S = 60
/** How long `rotate` waits for links to members it must dial before it hands out grants. */
const ROTATE_DIAL_MS = 5_000
/** The previous MVLAN epoch is kept this long after a rotation (frames in flight). */
const PREVIOUS_EPOCH_S = 10

/** What the fabric uses of the node. */
export interface FabricHost {
  readonly selfPeerId: string
  /** The node's Ed25519 seed (32 bytes): it signs the presence records. */
  readonly seed: Uint8Array
  readonly stateDir: string
  readonly log: Logger
  readonly sw: Switch
  readonly trunk: Trunk
  readonly dialler: Dialler
  readonly verifier: ProofVerifier
  /** Seconds (wall clock). */
  now(): number
  /** Sends our sealed frames on to the neighbours. */
  sendLocal(frames: SealedFrame[]): void
  /** The largest sealed frame the links up take (ports.ts `maxSealed`). */
  maxSealed(): number
  /** Re-reads the switch's subscriptions (a VLAN or epoch changed). */
  refresh(): Promise<void>
  /** Sends a link all our SUBs now (a peer that became a fabric member). */
  announceAll(link: Link): void
  /** Trusts a relay's role (reflexive addresses, declarations; 14-roles.md §14.2). */
  trustRelay(peerId: string): void
  /** The VLANs this node holds, for its presence record. */
  vlans(): PresenceVlan[]
  /** The IP addresses on this node's VLAN ports (never published: 15 §15.9). */
  portAddresses(): ReadonlySet<string>
  /** Whether the node is joining a VLAN by invitation whose owner is `peer` (its grant is taken). */
  joiningFrom(peer: string): boolean
}

export class Fabric {
  readonly #host: FabricHost
  #state: FabricState | undefined
  #keys: FabricKeys | undefined
  #directory: Directory
  readonly #mac: Uint8Array
  #seq = 0n
  #publishedAt = Number.NEGATIVE_INFINITY
  /** What our last record said (addresses, VLANs): a change publishes at once. */
  #published = ''
  /** Links whose peer proved the fabric (a verified proof under the credential key). */
  readonly #members = new Set<string>()
  /** Links we handed our directory to. */
  readonly #dumped = new Set<string>()
  /** Peers dialled from the directory: when last tried. */
  readonly #dialled = new Map<string, number>()
  /** Joiners whose invitation carried the fabric: admitted, their grant to send. */
  readonly #grantTo = new Set<string>()
  /** When the previous MVLAN epoch goes (after a rotation). */
  #dropPreviousAt: number | undefined
  /** When the directory last started afresh (a rotation): new peers are not answered for a while. */
  #resetAt = Number.NEGATIVE_INFINITY
  /** The IPs of the direct addresses we last published: one that goes away is a roam. */
  #publishedIps = new Set<string>()
  readonly counters = {
    published: 0,
    recordsIn: 0,
    batchesIn: 0,
    batchesOut: 0,
    statementsSent: 0,
    grantsSent: 0,
    grantsTaken: 0,
    grantsRefused: 0,
    roams: 0,
  }

  private constructor(host: FabricHost, state: FabricState | undefined) {
    this.#host = host
    this.#mac = mvlanPortMac(peerIdBytes(host.selfPeerId))
    this.#directory = this.#newDirectory()
    if (state !== undefined) this.#attach(state)
  }

  /** Opens the state directory's fabric, if the node has one. */
  static async open(host: FabricHost): Promise<Fabric> {
    return new Fabric(host, await readFabric(host.stateDir))
  }

  /** Whether the node is in a fabric. */
  get joined(): boolean {
    return this.#state !== undefined
  }

  /**
   * Whether the node deals with `peer` as a fabric member (14-roles.md
   * §14.2): a bootstrap peer, a peer whose live record is in the
   * directory, or one that proved the fabric on its link.
   */
  knows(peer: string): boolean {
    const state = this.#state
    if (state === undefined) return false
    if (this.#members.has(peer)) return true
    // The bootstrap peers are the fabric's as the config's `peers` are the node's.
    if (state.bootstrap.some((address) => peerOfAddress(address) === peer)) return true
    const entry = this.#directory.get(peer)
    return entry !== undefined && entry.record.expiresAt > this.#now()
  }

  // -- commands ------------------------------------------------------------

  /** `peertap fabric init`: a new fabric with this node its admin. */
  async init(bootstrap: readonly string[]): Promise<FabricSummary> {
    if (this.#state !== undefined)
      throw new Error(
        'this node is in a fabric already (`peertap fabric show`); a node is in one fabric',
      )
    const rootSeed = randomBytes(32)
    const secret = randomBytes(32)
    const state: FabricState = {
      secret,
      epoch: 0,
      statement: this.#statement(rootSeed, secret, 0),
      rootKey: rootKeyOf(rootSeed),
      rootSeed,
      admins: [this.#host.selfPeerId],
      bootstrap: [...bootstrap],
      invitations: {},
    }
    await writeFabric(this.#host.stateDir, state)
    this.#attach(state)
    this.#host.log.info({ fabric: this.#id(), rootKey: hex(state.rootKey) }, 'fabric made')
    await this.#host.refresh()
    return this.show()
  }

  /**
   * `peertap fabric rotate`: the admin makes a new secret and epoch, hands
   * them to every member in its directory but `expel` (dialling those
   * without a link, for up to 5 s), and switches the relays to it (CONTROL
   * 11). A member it cannot reach gets no grant: it is out with the
   * expelled, and must be invited again.
   */
  async rotate(
    expel: readonly string[],
  ): Promise<FabricSummary & { granted: string[]; missed: string[] }> {
    const state = this.#stateOrThrow()
    if (state.rootSeed === undefined)
      throw new Error(
        `only the fabric's admin rotates it (${state.admins.join(', ')}); this node holds no root key`,
      )
    const now = this.#now()
    const expelled = new Set(expel)
    const members = this.#directory
      .nodes(now)
      .map((e) => e.peerId)
      .filter((id) => !expelled.has(id))
    const secret = randomBytes(32)
    const epoch = state.epoch + 1
    const next: FabricState = {
      ...state,
      secret,
      epoch,
      statement: this.#statement(state.rootSeed, secret, epoch),
    }
    // Members without a link now are dialled from the directory (the old one: a rotation starts
    // a fresh one) and waited for; a member still unreachable gets no grant and must be invited again.
    const { trunk } = this.#host
    for (const id of members) this.#dialFromDirectory(id, now, true)
    const deadline = Date.now() + ROTATE_DIAL_MS
    while (Date.now() < deadline && members.some((id) => trunk.getLink(id)?.status !== 'up'))
      await new Promise((resolve) => setTimeout(resolve, 100))
    await writeFabric(this.#host.stateDir, next)
    const grant = this.#grantOf(next)
    const granted = members.filter((id) => this.#sendGrant(id, grant))
    this.#switchEpoch(next)
    const missed = members.filter((id) => !granted.includes(id))
    this.#host.log.info(
      { fabric: this.#id(), epoch, granted: granted.length, missed, expelled: expel },
      'fabric rotated',
    )
    return { ...this.show(), granted, missed }
  }

  /** `peertap fabric leave`: forgets the fabric. */
  async leave(): Promise<{ left: boolean }> {
    if (this.#state === undefined) return { left: false }
    await removeFabric(this.#host.stateDir)
    this.#detach()
    await this.#host.refresh()
    return { left: true }
  }

  /** `peertap fabric show`. */
  show(): FabricSummary {
    const state = this.#stateOrThrow()
    const now = this.#now()
    const keys = this.#keys as FabricKeys
    const entry = (e: DirectoryEntry) => ({
      peerId: e.peerId,
      addresses: e.record.addresses,
      seq: e.record.seq.toString(),
      expiresIn: Math.max(0, e.record.expiresAt - now),
      linked: this.#host.trunk.getLink(e.peerId)?.status === 'up',
      ...(e.record.role === 'relay' ? { load: e.record.load } : {}),
    })
    return {
      fabric: this.#id(),
      epoch: state.epoch,
      rootKey: hex(state.rootKey),
      credentialKey: hex(keys.credentialKey),
      admin: state.rootSeed !== undefined,
      admins: [...state.admins],
      bootstrap: [...state.bootstrap],
      nodes: this.#directory.nodes(now).map((e) => ({
        ...entry(e),
        vlans: e.record.vlans.map((v) => ({
          vlanId: formatVlanId(v.vlanId),
          ...(v.name === undefined ? {} : { name: v.name }),
        })),
      })),
      relays: this.#directory.relays(now).map(entry),
      vlans: [...this.#directory.vlans(now)].map(([id, v]) => ({
        vlanId: formatVlanId(Buffer.from(id, 'hex')),
        ...(v.name === undefined ? {} : { name: v.name }),
        peers: v.peers,
      })),
      counters: { ...this.counters, directory: this.#directory.counters },
    }
  }

  // -- invitations ----------------------------------------------------------

  /** Throws unless the node is in a fabric (before an invitation that carries it is made). */
  check(): void {
    this.#stateOrThrow()
  }

  /** An invitation just made carries the fabric: its joiners get the grant (kept in fabric.json). */
  async carryWith(invitation: string, expiresAt: number): Promise<void> {
    const state = this.#stateOrThrow()
    const now = this.#now()
    const invitations: Record<string, number> = { [invitation]: expiresAt }
    for (const [id, until] of Object.entries(state.invitations))
      if (until > now) invitations[id] = until
    const next = { ...state, invitations }
    await writeFabric(this.#host.stateDir, next)
    this.#state = next
  }

  /** A joiner was admitted with `invitation`: if it carries the fabric, the joiner gets the grant. */
  admitted(peer: string, invitation: string | undefined): void {
    if (invitation === undefined || this.#state === undefined) return
    const until = this.#state.invitations[invitation]
    if (until === undefined) return
    this.#grantTo.add(peer)
    this.#sendGrant(peer, this.#grantOf(this.#state))
  }

  // -- the links -------------------------------------------------------------

  /**
   * A peer we deal with is about to get our SUBs: a relay gets the
   * statement first, so our fabric credential in them admits us.
   */
  greeting(link: Link): void {
    if (this.#state === undefined || link.hello.remoteRole !== 'relay') return
    if (link.sendControl({ channel: CONTROL_FABRIC_EPOCH, payload: this.#state.statement }))
      this.counters.statementsSent++
  }

  /** A peer we deal with got our SUBs: a grant owed to it goes now. */
  greeted(link: Link): void {
    if (this.#state !== undefined && this.#grantTo.has(link.id))
      this.#sendGrant(link.id, this.#grantOf(this.#state))
  }

  /** A SUB's proof from a link: one under the fabric's credential key makes its peer a member. */
  onProof(link: Link, proof: Uint8Array): void {
    const keys = this.#keys
    if (keys === undefined || this.#members.has(link.id)) return
    const decoded = decodeMembershipProof(proof)
    if (!decoded.ok || hex(decoded.proof.publicKey) !== hex(keys.credentialKey)) return
    const verdict = this.#host.verifier.verify({
      proof,
      peerId: peerIdBytes(link.id),
      now: this.#now(),
    })
    if (!verdict.ok) return
    this.#members.add(link.id)
    // A newcomer gets our directory once per link; and, now a member, all our SUBs.
    this.#dump(link)
    this.#host.announceAll(link)
  }

  /** CONTROL 11 (never for a node), 12 and 13; true if it was the fabric's. */
  onControl(control: Control, link: Link, dealsWith: boolean): boolean {
    if (control.channel === CONTROL_PRESENCE) {
      if (dealsWith) this.#onBatch(control.payload, link)
      return true
    }
    // A grant's own rules say whom it is taken from (an admin, or the owner we join): not dealsWith.
    if (control.channel === CONTROL_FABRIC_GRANT) {
      void this.#onGrant(control.payload, link).catch((error: unknown) =>
        this.#host.log.error({ err: error, peer: link.id }, 'fabric grant not stored'),
      )
      return true
    }
    return control.channel === CONTROL_FABRIC_EPOCH
  }

  linkDown(id: string): void {
    this.#members.delete(id)
    this.#dumped.delete(id)
  }

  // -- the tick --------------------------------------------------------------

  /** Every tick: roaming, expiry, publishing, dialling. */
  tick(): void {
    if (this.#state === undefined) return
    const now = this.#now()
    this.#watchAddresses()
    if (this.#dropPreviousAt !== undefined && now >= this.#dropPreviousAt) {
      this.#dropPreviousAt = undefined
      this.#host.sw.dropPreviousEpoch(MVLAN)
    }
    for (const id of this.#directory.prune(now)) this.#dialled.delete(id)
    this.#publishIfDue(now)
    this.#dial(now)
  }

  // -- inside ------------------------------------------------------------------

  #attach(state: FabricState): void {
    const { sw, log } = this.#host
    this.#state = state
    this.#keys = fabricKeys(state.secret)
    sw.addVlan(MVLAN, { kind: 'psk', epoch: state.epoch, secrets: this.#keys.secrets })
    sw.addPort(MVLAN, PORT, { mac: this.#mac, writeFrames: (frames) => this.#onFrames(frames) })
    for (const address of state.bootstrap) this.#host.dialler.add(address)
    // A bootstrap address is usually a relay: trusted as one, as a dialled `peers` entry is.
    for (const address of state.bootstrap) this.#host.trustRelay(peerOfAddress(address))
    this.#publishedAt = Number.NEGATIVE_INFINITY
    log.info(
      { fabric: this.#id(), epoch: state.epoch, bootstrap: state.bootstrap.length },
      'fabric attached',
    )
  }

  #detach(): void {
    const state = this.#state
    if (state === undefined) return
    for (const address of state.bootstrap) this.#host.dialler.remove(address)
    this.#host.sw.removePort(MVLAN, PORT)
    this.#host.sw.removeVlan(MVLAN)
    this.#state = undefined
    this.#keys = undefined
    this.#directory = this.#newDirectory()
    this.#members.clear()
    this.#dumped.clear()
    this.#grantTo.clear()
  }

  /** A new epoch of our fabric (a rotation, ours or an admin's): new keys, a fresh directory of nodes. */
  #switchEpoch(next: FabricState): void {
    const { sw, trunk } = this.#host
    const relays = this.#directory.records(this.#now()).filter((bytes) => bytes[1] === 1)
    this.#state = next
    this.#keys = fabricKeys(next.secret)
    sw.setEpoch(MVLAN, { kind: 'psk', epoch: next.epoch, secrets: this.#keys.secrets })
    this.#dropPreviousAt = this.#now() + PREVIOUS_EPOCH_S
    // Records of the old epoch came from whoever held its secret, the expelled included.
    this.#directory = this.#newDirectory()
    this.#resetAt = this.#now()
    for (const bytes of relays) this.#directory.offer(bytes, this.#now(), { role: 'relay' })
    this.#members.clear()
    this.#dumped.clear()
    this.#publishedAt = Number.NEGATIVE_INFINITY
    void this.#host.refresh().then(() => {
      // The relays switch to the new credential key; our SUBs under it follow the statement.
      for (const link of trunk.links())
        if (link.status === 'up' && link.hello.remoteRole === 'relay') {
          this.greeting(link)
          this.#host.announceAll(link)
        }
    })
  }

  #statement(rootSeed: Uint8Array, secret: Uint8Array, epoch: number): Uint8Array {
    return signFabricEpoch({
      rootSeed,
      epoch,
      credentialKey: fabricKeys(secret).credentialKey,
      issuedAt: this.#now(),
    })
  }

  /** The grant of `state`; with no bootstrap addresses of its own, the fabric is reached through us. */
  #grantOf(state: FabricState): Uint8Array {
    const self = `/p2p/${this.#host.selfPeerId}`
    const bootstrap =
      state.bootstrap.length > 0
        ? state.bootstrap
        : this.#addresses().filter((a) => a.endsWith(self) && !a.includes('/p2p-circuit'))
    return encodeFabricGrant({
      secret: state.secret,
      statement: state.statement,
      admins: state.admins.map(peerIdBytes),
      bootstrap: bootstrap.slice(0, 8),
    })
  }

  /** Sends a grant on the peer's link if it is up; true if sent (then it is owed no more). */
  #sendGrant(peer: string, grant: Uint8Array): boolean {
    const link = this.#host.trunk.getLink(peer)
    if (link === undefined || link.status !== 'up') return false
    if (!link.sendControl({ channel: CONTROL_FABRIC_GRANT, payload: grant })) return false
    this.#grantTo.delete(peer)
    this.counters.grantsSent++
    this.#host.log.info({ peer }, 'fabric grant sent')
    return true
  }

  /**
   * A grant (§16.8): taken from an admin of our fabric for a later epoch
   * under our root (a rotation), or, while we have no fabric, from the
   * owner of a VLAN we are joining by invitation. Anything else is refused
   * and counted.
   */
  async #onGrant(payload: Uint8Array, link: Link): Promise<void> {
    const { log } = this.#host
    const refuse = (why: string) => {
      this.counters.grantsRefused++
      log.warn({ peer: link.id, why }, 'fabric grant refused')
    }
    const decoded = decodeFabricGrant(payload)
    if (!decoded.ok) return refuse(decoded.reason)
    const { grant } = decoded
    if (!verifyFabricEpoch(grant.statement)) return refuse('bad statement signature')
    const state = this.#state
    const admins = grant.admins.map(peerIdText)
    if (state === undefined) {
      if (!this.#host.joiningFrom(link.id)) return refuse('not from the owner of a VLAN we join')
    } else {
      if (!state.admins.includes(link.id)) return refuse('not from an admin of our fabric')
      if (hex(grant.statement.rootKey) !== hex(state.rootKey)) return refuse('another fabric')
      if (grant.statement.epoch <= state.epoch) return refuse('not a later epoch')
    }
    const next: FabricState = {
      secret: grant.secret,
      epoch: grant.statement.epoch,
      statement: grant.statement.bytes,
      rootKey: grant.statement.rootKey,
      ...(state?.rootSeed === undefined ? {} : { rootSeed: state.rootSeed }),
      admins,
      bootstrap: state?.bootstrap.length ? state.bootstrap : grant.bootstrap,
      invitations: state?.invitations ?? {},
    }
    await writeFabric(this.#host.stateDir, next)
    this.counters.grantsTaken++
    if (state === undefined) {
      this.#attach(next)
      await this.#host.refresh()
      log.info({ fabric: this.#id(), from: link.id }, 'fabric joined')
      // The inviter is a member: our SUBs (the MVLAN's with them) go to it now.
      this.greeting(link)
      this.#host.announceAll(link)
    } else {
      this.#switchEpoch(next)
      log.info(
        { fabric: this.#id(), epoch: next.epoch, from: link.id },
        'fabric rotated by its admin',
      )
    }
  }

  /** Presence frames from the MVLAN port: records into the directory. */
  #onFrames(frames: readonly Uint8Array[]): void {
    const now = this.#now()
    for (const frame of frames) {
      const decoded = decodePresenceFrame(frame)
      if (decoded === undefined) continue
      this.counters.recordsIn++
      const offer = this.#directory.offer(decoded.record, now, { role: 'node' })
      if (!offer.ok) continue
      this.#learned(offer.entry, offer.change)
      // A newcomer's broadcast is answered with our record, to it alone, so it knows the fabric
      // at once rather than at our next publication (a unicast answer is not answered).
      const broadcast = frame.subarray(0, 6).every((b) => b === 0xff)
      if (offer.change === 'new' && broadcast && now - this.#resetAt >= QUIET_AFTER_RESET_S)
        this.#sendRecord(decoded.src, now)
    }
  }

  /**
   * A CONTROL 12 batch from a peer we deal with: relay records from a
   * relay; from a fabric member (its directory), records of both roles.
   */
  #onBatch(payload: Uint8Array, link: Link): void {
    if (this.#state === undefined) return
    const records = decodePresenceBatch(payload)
    if (records === undefined) return
    this.counters.batchesIn++
    const fromRelay = link.hello.remoteRole === 'relay'
    if (!fromRelay && !this.knows(link.id)) return
    const now = this.#now()
    for (const bytes of records) {
      const offer = this.#directory.offer(bytes, now, fromRelay ? { role: 'relay' } : {})
      if (offer.ok) this.#learned(offer.entry, offer.change)
    }
  }

  /** A record taken: relays are trusted as such; a node now known hears all our SUBs. */
  #learned(entry: DirectoryEntry, change: 'new' | 'updated'): void {
    if (entry.record.role === 'relay') this.#host.trustRelay(entry.peerId)
    const link = this.#host.trunk.getLink(entry.peerId)
    if (change === 'new' && link?.status === 'up' && !this.#members.has(entry.peerId))
      this.#host.announceAll(link)
    // An updated record may carry new addresses (the peer roamed): dial again now.
    if (change === 'updated') this.#dialled.delete(entry.peerId)
  }

  #dump(link: Link): void {
    if (this.#dumped.has(link.id) || this.#state === undefined) return
    const now = this.#now()
    const own = this.#record(now)
    const records = [own, ...this.#directory.records(now)].filter(
      (r) => r !== undefined,
    ) as Uint8Array[]
    if (link.sendControl({ channel: CONTROL_PRESENCE, payload: encodePresenceBatch(records) })) {
      this.#dumped.add(link.id)
      this.counters.batchesOut++
    }
  }

  #publishIfDue(now: number): void {
    const what = JSON.stringify([this.#addresses(), this.#host.vlans().map((v) => hex(v.vlanId))])
    const anyLink = this.#host.trunk.links().some((l) => l.status === 'up')
    if (!anyLink) return
    if (what === this.#published && now - this.#publishedAt < PUBLISH_EVERY_S) return
    if (!this.#sendRecord(BROADCAST, now)) return
    this.#published = what
    this.#publishedAt = now
    this.#publishedIps = new Set(
      this.#addresses()
        .map(ipOf)
        .filter((ip) => ip !== ''),
    )
  }

  /** Sends our record on the MVLAN to `dst` (broadcast, or one member's port); true if made. */
  #sendRecord(dst: Uint8Array, now: number): boolean {
    const record = this.#record(now)
    if (record === undefined) return false
    const frame = encodePresenceFrame({ dst, src: this.#mac, record })
    const sealed = this.#host.sw.fromPort(MVLAN, PORT, [frame], now, this.#host.maxSealed())
    if (sealed.length > 0) this.#host.sendLocal(sealed)
    this.counters.published++
    return true
  }

  /** Our presence record now, signed with a seq above every earlier one (ms of the clock). */
  #record(now: number): Uint8Array | undefined {
    const issuedAt = Math.floor(now)
    const seq = BigInt(Date.now())
    this.#seq = seq > this.#seq ? seq : this.#seq + 1n
    try {
      return signPresence({
        seed: this.#host.seed,
        peerId: peerIdBytes(this.#host.selfPeerId),
        role: 'node',
        seq: this.#seq,
        issuedAt,
        expiresAt: issuedAt + RECORD_LIFETIME_S,
        addresses: this.#addresses(),
        vlans: this.#host.vlans().slice(0, 32),
      })
    } catch (error) {
      this.#host.log.warn({ err: (error as Error).message }, 'presence record not made')
      return undefined
    }
  }

  /**
   * The addresses we publish: our direct listen addresses (never
   * loopback, link-local, or on a VLAN port), then circuit ones; at most 8,
   * and as many as fit a record.
   */
  #addresses(): string[] {
    const own = this.#host.portAddresses()
    const usable = this.#host.trunk
      .getMultiaddrs()
      .map(String)
      .filter((a) => {
        const ip = ipOf(a)
        return !/^(127\.|169\.254\.|::1$|fe80:)/.test(ip) && !own.has(ip)
      })
    const direct = usable.filter((a) => !a.includes('/p2p-circuit'))
    const circuits = usable.filter((a) => a.includes('/p2p-circuit'))
    return [...direct, ...circuits].filter((a) => a.length <= 120).slice(0, 8)
  }

  /** Dials what the directory offers: relays up to MAX_RELAY_LINKS, nodes sharing a VLAN. */
  #dial(now: number): void {
    const { trunk } = this.#host
    const relays = this.#directory.relays(now)
    let relayLinks = relays.filter((e) => trunk.getLink(e.peerId)?.status === 'up').length
    for (const e of relays) {
      if (relayLinks >= MAX_RELAY_LINKS) break
      if (this.#dialFromDirectory(e.peerId, now)) relayLinks++
    }
    const ours = new Set(this.#host.vlans().map((v) => hex(v.vlanId)))
    let dials = 0
    for (const e of this.#directory.nodes(now)) {
      if (dials >= MAX_DIRECT_DIALS) break
      if (!e.record.vlans.some((v) => ours.has(hex(v.vlanId)))) continue
      if (this.#dialFromDirectory(e.peerId, now)) dials++
    }
  }

  /** Dials a directory peer with no link, at most every REDIAL_S (unless `force`); true if a dial started. */
  #dialFromDirectory(peer: string, now: number, force = false): boolean {
    const { trunk, log } = this.#host
    if (peer === this.#host.selfPeerId || trunk.getLink(peer)?.status === 'up') return false
    const entry = this.#directory.get(peer)
    if (entry === undefined) return false
    const last = this.#dialled.get(peer) ?? Number.NEGATIVE_INFINITY
    if (!force && now - last < REDIAL_S) return false
    this.#dialled.set(peer, now)
    const addresses = entry.record.addresses.filter((a) => a.endsWith(`/p2p/${peer}`))
    void (async () => {
      for (const address of addresses) {
        try {
          await trunk.dial(address, { signal: AbortSignal.timeout(5_000) })
          log.info({ peer, address, role: entry.record.role }, 'dialled from the fabric directory')
          return
        } catch {
          // The next address.
        }
      }
    })()
    return addresses.length > 0
  }

  /**
   * Roaming: an address we published is no longer the host's. Its
   * connections are dead (their packets leave from an address we no longer
   * have), so they are dropped, the directory's peers and the bootstrap
   * dialled again from the new address, and our new record published as
   * soon as a link is up. (Addresses only added change the record, which
   * #publishIfDue sees.)
   */
  #watchAddresses(): void {
    if (this.#publishedIps.size === 0) return
    const local = localAddresses()
    const gone = [...this.#publishedIps].filter((ip) => !local.has(ip))
    if (gone.length === 0) return
    const { trunk, log } = this.#host
    this.counters.roams++
    this.#publishedIps = new Set([...this.#publishedIps].filter((ip) => local.has(ip)))
    const dropped = trunk.dropDirectConnections('underlay address changed')
    log.info({ gone, dropped }, 'underlay address gone (roamed): dialling again from the new one')
    this.#dialled.clear()
    this.#publishedAt = Number.NEGATIVE_INFINITY
    this.#published = ''
  }

  #newDirectory(): Directory {
    return new Directory({ self: peerIdBytes(this.#host.selfPeerId) })
  }

  /** Whole unix seconds: the directory's and the records' clock. */
  #now(): number {
    return Math.floor(this.#host.now())
  }

  #stateOrThrow(): FabricState {
    if (this.#state === undefined)
      throw new Error(
        'this node is in no fabric: `peertap fabric init` makes one, an invitation with the fabric joins one',
      )
    return this.#state
  }

  #id(): string {
    return this.#keys === undefined ? '' : formatVlanId(this.#keys.mvlanId)
  }
}

export interface FabricSummary {
  fabric: string
  epoch: number
  rootKey: string
  credentialKey: string
  admin: boolean
  admins: string[]
  bootstrap: string[]
  nodes: unknown[]
  relays: unknown[]
  vlans: unknown[]
  counters: unknown
}

/** The host's IP addresses (not loopback or link-local), as text. */
function localAddresses(): Set<string> {
  const out = new Set<string>()
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? [])
      if (!a.internal && !a.address.startsWith('fe80:') && !a.address.startsWith('169.254.'))
        out.add(a.address)
  return out
}

/** The IP address of a multiaddr (`/ip4/…` or `/ip6/…`), or ''. */
function ipOf(address: string): string {
  return /^\/ip[46]\/([^/]+)/.exec(address)?.[1] ?? ''
}

/** The PeerId at the end of a multiaddr. */
function peerOfAddress(address: string): string {
  return address.slice(address.lastIndexOf('/p2p/') + 5)
}
