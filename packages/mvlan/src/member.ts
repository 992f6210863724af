/**
 * A node's membership of its fabric (docs/spec/16-fabric.md §16.7): whom
 * it counts as a fabric member, when it publishes its presence and to
 * whom it answers, which batches it takes, what it dials from the
 * directory, when it has roamed, and grants in and out (§16.8). Pure: the
 * node's switch, trunk, store and clock come in through `MemberPorts`,
 * and every effect goes out through them.
 */
import { formatVlanId } from '@peertap/vft'
import { base58btcDecode } from './base58.ts'
import { equalBytes, toHex, utf8 } from './bytes.ts'
import {
  MAX_ADDRESS_BYTES,
  MAX_ADDRESSES,
  MAX_RECORD_BYTES,
  MAX_VLANS,
  RECORD_FIXED_LENGTH,
  VLAN_ID_LENGTH,
} from './constants.ts'
import { Directory, type DirectoryEntry } from './directory.ts'
import { type FabricKeys, fabricKeys, mvlanPortMac } from './fabric.ts'
import { decodeFabricGrant, encodeFabricGrant } from './grant.ts'
import {
  decodePresenceBatch,
  decodePresenceFrame,
  encodePresenceBatches,
  encodePresenceFrame,
} from './messages.ts'
import { type PresenceVlan, signPresence } from './presence.ts'
import { type FabricState, judgeGrant } from './state.ts'
import { verifyFabricEpoch } from './statement.ts'

/** How often a member signs its presence again, and how long a record lives. */
export const PUBLISH_EVERY_S = 300
export const RECORD_LIFETIME_S = 900
/** Relays a member keeps links to from the directory. */
export const MAX_RELAY_LINKS = 3
/** Nodes a member keeps links to from the directory at most (those sharing a VLAN with it). */
export const MAX_DIRECT_DIALS = 32
/** A directory peer is dialled again at most this often while unreachable. */
export const REDIAL_S = 5
/** After the directory starts afresh (a rotation), new peers are not answered for this long. */
export const QUIET_AFTER_RESET_S = 60
/** The previous MVLAN epoch is kept this long after a rotation (frames in flight). */
export const PREVIOUS_EPOCH_S = 10
/** The statement goes to our relays again this often (with the SUB renewals). */
export const STATEMENT_EVERY_S = 60
/** Dials from the directory in flight at once. */
export const MAX_DIALS_IN_FLIGHT = 16
/** The longest wait before a peer that did not answer is dialled again. */
export const MAX_REDIAL_S = 300
const BROADCAST = new Uint8Array(6).fill(0xff)

/** What a member needs of its node. */
export interface MemberPorts {
  /** Our PeerId as text and as multihash bytes, and its Ed25519 seed (it signs our records). */
  readonly self: {
    readonly peerId: string
    readonly peerIdBytes: Uint8Array
    readonly seed: Uint8Array
  }
  /** Whole unix seconds. */
  now(): number
  /** Puts the MVLAN into the switch (`previous`: the epoch before is kept until `dropPrevious`). */
  useKeys(keys: FabricKeys, epoch: number, change: 'attach' | 'epoch'): void
  dropPrevious(): void
  detach(): void
  /** Sends a presence frame (an Ethernet frame) from our MVLAN port. */
  sendFrame(frame: Uint8Array): void
  /** CONTROL 11, 12, 13 to a peer's link; false when it has none up or refused. */
  sendStatement(peer: string, statement: Uint8Array): boolean
  sendBatch(peer: string, batch: Uint8Array): boolean
  sendGrant(peer: string, grant: Uint8Array): boolean
  isLinked(peer: string): boolean
  anyLinkUp(): boolean
  /** Peers with a link up whose HELLO says relay. */
  relayLinks(): readonly string[]
  /** Dials one address of a peer; rejects when it fails. */
  dial(peer: string, address: string): Promise<void>
  /** Keeps an address dialled while its link is down, or stops. */
  keepDialled(address: string, keep: boolean): void
  /** Sends a peer all our SUBs now (it became a fabric member). */
  announceAll(peer: string): void
  /** Trusts a peer's relay role (reflexive addresses, declarations). */
  trustRelay(peer: string): void
  /** Whether the node trusts the peer's relay role already. */
  trustsRelay(peer: string): boolean
  /** Whether `proof` verifies for the peer at the other end of its link. */
  verifyProof(peer: string, proof: Uint8Array): boolean
  /** Whether we began joining, lately, a VLAN by invitation whose owner is `peer`. */
  joiningFrom(peer: string): boolean
  /** Our addresses to publish (never loopback, link-local, or on a VLAN port). */
  addresses(): readonly string[]
  vlans(): readonly PresenceVlan[]
  /** The host's IP addresses now. */
  localIps(): ReadonlySet<string>
  /** Closes every direct connection (they are dead: we roamed); how many. */
  dropDirectConnections(): number
  /** Writes the state atomically (undefined: removes it). */
  store(state: FabricState | undefined): Promise<void>
  /** The membership proof's public key if it decodes (a cheap look before verifying). */
  proofKey(proof: Uint8Array): Uint8Array | undefined
  info(fields: Record<string, unknown>, message: string): void
  warn(fields: Record<string, unknown>, message: string): void
}

export interface MemberCounters {
  published: number
  recordsIn: number
  batchesIn: number
  batchesOut: number
  statementsSent: number
  grantsSent: number
  grantsTaken: number
  grantsRefused: number
  roams: number
}

export class FabricMember {
  readonly #ports: MemberPorts
  #state: FabricState | undefined
  #keys: FabricKeys | undefined
  #directory: Directory
  readonly #mac: Uint8Array
  #seq = 0n
  #publishedAt = Number.NEGATIVE_INFINITY
  /** What our last record said (addresses, VLANs): a change publishes at once. */
  #published = ''
  /** The IPs of the direct addresses we last published: one that goes away is a roam. */
  #publishedIps = new Set<string>()
  /** Peers that proved the fabric on their link (a verified proof under the credential key). */
  readonly #members = new Set<string>()
  /** Peers we handed our directory to, on their current link. */
  readonly #dumped = new Set<string>()
  /** Joiners owed a grant (their invitation carried the fabric). */
  readonly #grantTo = new Set<string>()
  #dropPreviousAt: number | undefined
  /** Changes of the state, one at a time (`serial`). */
  #changes: Promise<void> = Promise.resolve()
  /** When a refusal from a peer was last logged. */
  readonly #refusalLogged = new Map<string, number>()
  /** Dials from the directory under way, and per peer its failures in a row and when it may be tried again. */
  readonly #dialling = new Set<string>()
  readonly #backoff = new Map<string, { failures: number; until: number }>()
  /** When the statement last went to our relays (it goes again with each SUB renewal). */
  #statementAt = Number.NEGATIVE_INFINITY
  /** Whether the last record left something out to fit (warned once per change). */
  #trimmed = ''
  /** When the directory last started afresh (a rotation). */
  #resetAt = Number.NEGATIVE_INFINITY
  readonly counters: MemberCounters = {
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

  constructor(ports: MemberPorts, state: FabricState | undefined) {
    this.#ports = ports
    this.#mac = mvlanPortMac(ports.self.peerIdBytes)
    this.#directory = this.#newDirectory()
    if (state !== undefined) this.#attach(state)
  }

  get state(): FabricState | undefined {
    return this.#state
  }

  get keys(): FabricKeys | undefined {
    return this.#keys
  }

  get directory(): Directory {
    return this.#directory
  }

  /** Our MVLAN port's MAC. */
  get mac(): Uint8Array {
    return this.#mac
  }

  /**
   * Whether `peer` is a fabric member to us (14-roles.md §14.2): a
   * bootstrap peer, a peer whose live record is in the directory, or one
   * that proved the fabric on its link.
   */
  knows(peer: string): boolean {
    const state = this.#state
    if (state === undefined) return false
    if (this.#members.has(peer)) return true
    if (state.bootstrap.some((address) => peerOfAddress(address) === peer)) return true
    const entry = this.#directory.get(peer)
    return entry !== undefined && entry.record.expiresAt > this.#ports.now()
  }

  // -- the state -----------------------------------------------------------

  /** Starts a fabric (made here, or granted): stored first, then attached. */
  async start(state: FabricState): Promise<void> {
    if (this.#state !== undefined)
      throw new Error(
        'this node is in a fabric already (`peertap fabric show`); a node is in one fabric',
      )
    await this.#ports.store(state)
    this.#attach(state)
  }

  /** Stores a change that keeps the epoch (invitations). */
  async update(next: FabricState): Promise<void> {
    await this.#ports.store(next)
    this.#state = next
  }

  /** Forgets the fabric. */
  async leave(): Promise<boolean> {
    if (this.#state === undefined) return false
    await this.#ports.store(undefined)
    const state = this.#state
    for (const address of state.bootstrap) this.#ports.keepDialled(address, false)
    this.#ports.detach()
    this.#state = undefined
    this.#keys = undefined
    this.#directory = this.#newDirectory()
    this.#members.clear()
    this.#dumped.clear()
    this.#grantTo.clear()
    return true
  }

  /**
   * The admin's rotation (§16.7): grants `next` to each of `members` that
   * has a link up, stores it, switches; returns those granted. The caller
   * chose the members (the live nodes of the directory, less the
   * expelled) and dialled them first.
   */
  async rotate(next: FabricState, members: readonly string[]): Promise<string[]> {
    await this.#ports.store(next)
    const grant = this.#grantOf(next)
    const granted = members.filter((peer) => this.#sendGrant(peer, grant))
    this.#switchEpoch(next)
    return granted
  }

  /** Starts dialling a directory peer now (a rotation reaching its members); whether it has addresses. */
  dialNow(peer: string): boolean {
    return this.#dialFromDirectory(peer, this.#ports.now(), true)
  }

  // -- invitations -----------------------------------------------------------

  /** A joiner was admitted with `invitation`: if it carries the fabric, the joiner gets a grant. */
  admitted(peer: string, invitation: string | undefined): void {
    const state = this.#state
    if (invitation === undefined || state === undefined) return
    if (state.invitations[invitation] === undefined) return
    this.#grantTo.add(peer)
    this.#sendGrant(peer, this.#grantOf(state))
  }

  // -- the links ---------------------------------------------------------------

  /** A peer is about to get our SUBs: a relay gets the statement first (our credential's key). */
  greeting(peer: string, isRelay: boolean): void {
    if (this.#state === undefined || !isRelay) return
    if (this.#ports.sendStatement(peer, this.#state.statement)) this.counters.statementsSent++
  }

  /** A peer got our SUBs: a grant owed to it goes now. */
  greeted(peer: string): void {
    if (this.#state !== undefined && this.#grantTo.has(peer))
      this.#sendGrant(peer, this.#grantOf(this.#state))
  }

  /** A SUB's proof from a peer we deal with: one under the credential key makes it a member. */
  onProof(peer: string, proof: Uint8Array): void {
    const keys = this.#keys
    if (keys === undefined || this.#members.has(peer)) return
    const key = this.#ports.proofKey(proof)
    if (key === undefined || !equalBytes(key, keys.credentialKey)) return
    if (!this.#ports.verifyProof(peer, proof)) return
    this.#members.add(peer)
    // Now a member: all our SUBs, and our directory once per link.
    this.#ports.announceAll(peer)
    this.#dump(peer)
  }

  /**
   * A CONTROL 12 batch from a peer we deal with: from a relay, relay
   * records only; from a node, only if it is a fabric member, both roles.
   */
  onBatch(peer: string, payload: Uint8Array, fromRelay: boolean): void {
    if (this.#state === undefined) return
    // A relay's only from one we trust as a relay (a bootstrap or configured one, or one whose
    // record a trusted source gave us); a node's only from a fabric member.
    if (fromRelay ? !this.#ports.trustsRelay(peer) : !this.knows(peer)) return
    const records = decodePresenceBatch(payload)
    if (records === undefined) return
    this.counters.batchesIn++
    const now = this.#ports.now()
    for (const bytes of records) {
      const offer = this.#directory.offer(bytes, now, fromRelay ? { role: 'relay' } : {})
      if (offer.ok) this.#learned(offer.entry, offer.change)
    }
  }

  /** A grant on CONTROL 13 (§16.8); taken by its own rules, in turn with every change. Never throws. */
  onGrant(peer: string, payload: Uint8Array): Promise<void> {
    return this.serial(() => this.#takeGrant(peer, payload))
  }

  /**
   * Runs a change of the fabric's state (a grant, init, rotation, leave,
   * an invitation noted) after the ones before it: each is stored before
   * the next is judged.
   */
  serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#changes.then(run, run)
    this.#changes = next.then(
      () => undefined,
      () => undefined,
    )
    return next
  }

  /** A refusal, counted by the caller; logged at most once a minute per peer (a flood floods no log). */
  #noteRefusal(peer: string, why: string): void {
    const now = this.#ports.now()
    if (now - (this.#refusalLogged.get(peer) ?? Number.NEGATIVE_INFINITY) < 60) return
    if (this.#refusalLogged.size >= 1024) this.#refusalLogged.clear()
    this.#refusalLogged.set(peer, now)
    this.#ports.warn(
      { peer, why },
      'fabric grant refused (further ones from this peer for a minute are only counted)',
    )
  }

  async #takeGrant(peer: string, payload: Uint8Array): Promise<void> {
    const refuse = (why: string) => {
      this.counters.grantsRefused++
      this.#noteRefusal(peer, why)
    }
    // Cheapest first, the signature last: who sent it (a map lookup), the layout, then the rules.
    const state = this.#state
    const joiningFrom = state === undefined && this.#ports.joiningFrom(peer)
    if (state === undefined ? !joiningFrom : !state.admins.includes(peer))
      return refuse(
        state === undefined
          ? 'not from the owner of a VLAN we join'
          : 'not from an admin of our fabric',
      )
    const decoded = decodeFabricGrant(payload)
    if (!decoded.ok) return refuse(decoded.reason)
    // The grant we hold already (an owner answers a resent join request again): nothing to do.
    if (state !== undefined && equalBytes(decoded.grant.statement.bytes, state.statement)) return
    const judged = judgeGrant({ grant: decoded.grant, from: peer, state, joiningFrom })
    if (!judged.ok) return refuse(judged.why)
    if (!verifyFabricEpoch(decoded.grant.statement)) return refuse('bad statement signature')
    try {
      await this.#ports.store(judged.next)
    } catch (error) {
      return refuse(`not stored: ${(error as Error).message}`)
    }
    this.counters.grantsTaken++
    if (state === undefined) {
      this.#attach(judged.next)
      this.#ports.info({ fabric: this.#id(), from: peer }, 'fabric joined')
      // The inviter is a member: it hears all our SUBs (the MVLAN's among them) now.
      this.#ports.announceAll(peer)
    } else {
      this.#switchEpoch(judged.next)
      this.#ports.info(
        { fabric: this.#id(), epoch: judged.next.epoch, from: peer },
        'fabric rotated by its admin',
      )
    }
  }

  /** Presence frames from our MVLAN port. */
  onFrames(frames: readonly Uint8Array[]): void {
    const now = this.#ports.now()
    for (const frame of frames) {
      const decoded = decodePresenceFrame(frame)
      if (decoded === undefined) continue
      this.counters.recordsIn++
      const offer = this.#directory.offer(decoded.record, now, { role: 'node' })
      if (!offer.ok) continue
      this.#learned(offer.entry, offer.change)
      // A newcomer's broadcast is answered with our record, to it alone (never a unicast one).
      const broadcast = frame.subarray(0, 6).every((b) => b === 0xff)
      if (offer.change === 'new' && broadcast && now - this.#resetAt >= QUIET_AFTER_RESET_S)
        this.#sendRecord(decoded.src, now)
    }
  }

  linkDown(peer: string): void {
    this.#members.delete(peer)
    this.#dumped.delete(peer)
  }

  /** Every tick: roaming, the previous epoch, expiry, publishing, dialling. */
  tick(): void {
    if (this.#state === undefined) return
    const now = this.#ports.now()
    this.#watchAddresses()
    if (this.#dropPreviousAt !== undefined && now >= this.#dropPreviousAt) {
      this.#dropPreviousAt = undefined
      this.#ports.dropPrevious()
    }
    for (const id of this.#directory.prune(now)) this.#backoff.delete(id)
    // The statement again with each SUB renewal: a relay that was busy, restarted or added our
    // root since takes it then (a stale one costs it a comparison).
    if (now - this.#statementAt >= STATEMENT_EVERY_S) {
      this.#statementAt = now
      for (const peer of this.#ports.relayLinks()) this.greeting(peer, true)
    }
    this.#publishIfDue(now)
    this.#dial(now)
  }

  // -- inside -------------------------------------------------------------------

  #attach(state: FabricState): void {
    this.#state = state
    this.#keys = fabricKeys(state.secret)
    this.#ports.useKeys(this.#keys, state.epoch, 'attach')
    for (const address of state.bootstrap) {
      this.#ports.keepDialled(address, true)
      // A bootstrap peer is usually a relay: trusted as one, as a dialled `peers` entry is.
      this.#ports.trustRelay(peerOfAddress(address))
    }
    this.#publishedAt = Number.NEGATIVE_INFINITY
    this.#ports.info(
      { fabric: this.#id(), epoch: state.epoch, bootstrap: state.bootstrap.length },
      'fabric attached',
    )
  }

  /** A new epoch (a rotation, ours or an admin's): new keys, a fresh directory of nodes. */
  #switchEpoch(next: FabricState): void {
    const now = this.#ports.now()
    // Invitations that carried the old epoch, and grants owed under it, end with it: an expelled
    // member holding such a code gets nothing of the new one.
    this.#state = { ...next, invitations: {} }
    this.#keys = fabricKeys(next.secret)
    this.#ports.useKeys(this.#keys, next.epoch, 'epoch')
    this.#dropPreviousAt = now + PREVIOUS_EPOCH_S
    // Records of the old epoch came from whoever held its secret, the expelled included; relays
    // send theirs again when they admit our new credential.
    this.#directory = this.#newDirectory()
    this.#resetAt = now
    this.#grantTo.clear()
    this.#members.clear()
    this.#dumped.clear()
    this.#publishedAt = Number.NEGATIVE_INFINITY
    // The relays switch to the new credential key; our SUBs under it follow the statement.
    for (const peer of this.#ports.relayLinks()) {
      this.greeting(peer, true)
      this.#ports.announceAll(peer)
    }
  }

  /** The grant of `state`; with no bootstrap addresses of its own, the fabric is reached through us. */
  #grantOf(state: FabricState): Uint8Array {
    const self = `/p2p/${this.#ports.self.peerId}`
    const bootstrap =
      state.bootstrap.length > 0
        ? state.bootstrap
        : this.#addresses().filter((a) => a.endsWith(self) && !a.includes('/p2p-circuit'))
    return encodeFabricGrant({
      secret: state.secret,
      statement: state.statement,
      admins: state.admins.map(base58btcDecode),
      bootstrap: bootstrap.slice(0, 8),
    })
  }

  #sendGrant(peer: string, grant: Uint8Array): boolean {
    if (!this.#ports.sendGrant(peer, grant)) return false
    this.#grantTo.delete(peer)
    this.counters.grantsSent++
    this.#ports.info({ peer }, 'fabric grant sent')
    return true
  }

  /** A record taken: relays are trusted as such; a node newly known hears all our SUBs. */
  #learned(entry: DirectoryEntry, change: 'new' | 'updated'): void {
    if (entry.record.role === 'relay') this.#ports.trustRelay(entry.peerId)
    if (change === 'new' && this.#ports.isLinked(entry.peerId) && !this.#members.has(entry.peerId))
      this.#ports.announceAll(entry.peerId)
    // An updated record may carry new addresses (the peer roamed): dial it again now.
    if (change === 'updated') this.#backoff.delete(entry.peerId)
  }

  /** Our directory to a peer that just proved the fabric, once per link, in batches of one trunk message. */
  #dump(peer: string): void {
    if (this.#dumped.has(peer) || this.#state === undefined) return
    const now = this.#ports.now()
    const own = this.#record(now)
    const records = [...(own === undefined ? [] : [own]), ...this.#directory.records(now)]
    this.#dumped.add(peer)
    for (const batch of encodePresenceBatches(records)) {
      if (!this.#ports.sendBatch(peer, batch)) break
      this.counters.batchesOut++
    }
  }

  #publishIfDue(now: number): void {
    if (!this.#ports.anyLinkUp()) return
    const addresses = this.#addresses()
    const what = JSON.stringify([addresses, this.#ports.vlans().map((v) => toHex(v.vlanId))])
    if (what === this.#published && now - this.#publishedAt < PUBLISH_EVERY_S) return
    if (!this.#sendRecord(BROADCAST, now, addresses)) return
    this.#published = what
    this.#publishedAt = now
    // A roam is one of these going away: the direct addresses we published that are the host's.
    const local = this.#ports.localIps()
    this.#publishedIps = new Set(
      addresses
        .filter((a) => !a.includes('/p2p-circuit'))
        .map(ipOf)
        .filter((ip) => local.has(ip)),
    )
  }

  /** Sends our record on the MVLAN to `dst` (broadcast, or one member's port); true if made. */
  #sendRecord(dst: Uint8Array, now: number, addresses = this.#addresses()): boolean {
    const record = this.#record(now, addresses)
    if (record === undefined) return false
    this.#ports.sendFrame(encodePresenceFrame({ dst, src: this.#mac, record }))
    this.counters.published++
    return true
  }

  /**
   * Our record now, its seq above every earlier one (the clock in ms, or
   * one more), fitted to MAX_RECORD_BYTES (§16.7): VLAN names go first,
   * then the last VLANs, then the last addresses; a record that had to
   * leave something out says so in the log once per change.
   */
  #record(now: number, addresses = this.#addresses()): Uint8Array | undefined {
    const seq = BigInt(Date.now())
    this.#seq = seq > this.#seq ? seq : this.#seq + 1n
    const fitted = fitRecord(
      this.#ports.self.peerIdBytes.length,
      addresses,
      this.#ports.vlans().slice(0, MAX_VLANS),
    )
    const trimmed = JSON.stringify(fitted.left)
    if (
      fitted.left.names + fitted.left.vlans + fitted.left.addresses > 0 &&
      trimmed !== this.#trimmed
    )
      this.#ports.warn(fitted.left, 'presence record too large: left out what does not fit')
    this.#trimmed = trimmed
    try {
      return signPresence({
        seed: this.#ports.self.seed,
        peerId: this.#ports.self.peerIdBytes,
        role: 'node',
        seq: this.#seq,
        issuedAt: now,
        expiresAt: now + RECORD_LIFETIME_S,
        addresses: fitted.addresses,
        vlans: fitted.vlans,
      })
    } catch (error) {
      this.#ports.warn({ err: (error as Error).message }, 'presence record not made')
      return undefined
    }
  }

  /** The addresses we publish: direct first, then circuits; at most 8. */
  #addresses(): string[] {
    const all = this.#ports.addresses().filter((a) => utf8(a).length <= MAX_ADDRESS_BYTES)
    const direct = all.filter((a) => !a.includes('/p2p-circuit'))
    return [...direct, ...all.filter((a) => a.includes('/p2p-circuit'))].slice(0, MAX_ADDRESSES)
  }

  /**
   * Dials what the directory offers: relays until MAX_RELAY_LINKS are
   * linked, nodes sharing a VLAN until MAX_DIRECT_DIALS are; at most
   * MAX_DIALS_IN_FLIGHT dials at once, one per peer, and a peer that did
   * not answer only after a backoff (5 s, doubling to 300 s).
   */
  #dial(now: number): void {
    const relays = this.#directory.relays(now)
    let relayLinks = relays.filter((e) => this.#ports.isLinked(e.peerId)).length
    for (const e of relays) {
      if (relayLinks >= MAX_RELAY_LINKS) break
      if (this.#dialFromDirectory(e.peerId, now)) relayLinks++
    }
    const ours = new Set(this.#ports.vlans().map((v) => toHex(v.vlanId)))
    const sharing = this.#directory
      .nodes(now)
      .filter((e) => e.record.vlans.some((v) => ours.has(toHex(v.vlanId))))
    let links = sharing.filter((e) => this.#ports.isLinked(e.peerId)).length
    for (const e of sharing) {
      if (links >= MAX_DIRECT_DIALS) break
      if (this.#dialFromDirectory(e.peerId, now)) links++
    }
  }

  /** Dials a directory peer with no link if the bounds allow (`force`: no backoff); true if a dial started. */
  #dialFromDirectory(peer: string, now: number, force = false): boolean {
    if (peer === this.#ports.self.peerId || this.#ports.isLinked(peer)) return false
    if (this.#dialling.has(peer) || this.#dialling.size >= MAX_DIALS_IN_FLIGHT) return false
    const entry = this.#directory.get(peer)
    if (entry === undefined) return false
    const backoff = this.#backoff.get(peer)
    if (!force && backoff !== undefined && now < backoff.until) return false
    const addresses = entry.record.addresses.filter(
      (a) => a.endsWith(`/p2p/${peer}`) && dialable(a),
    )
    if (addresses.length === 0) return false
    this.#dialling.add(peer)
    void (async () => {
      try {
        for (const address of addresses) {
          try {
            await this.#ports.dial(peer, address)
            this.#backoff.delete(peer)
            this.#ports.info(
              { peer, address, role: entry.record.role },
              'dialled from the fabric directory',
            )
            return
          } catch {
            // The next address.
          }
        }
        const failures = (this.#backoff.get(peer)?.failures ?? 0) + 1
        const wait = Math.min(MAX_REDIAL_S, REDIAL_S * 2 ** (failures - 1))
        this.#backoff.set(peer, { failures, until: this.#ports.now() + wait })
      } finally {
        this.#dialling.delete(peer)
      }
    })()
    return true
  }

  /**
   * Roaming: an address we published is no longer the host's. Its
   * connections are dead, so they are dropped, the bootstrap and the
   * directory dialled again from the new address, and our new record
   * published as soon as a link is up.
   */
  #watchAddresses(): void {
    if (this.#publishedIps.size === 0) return
    const local = this.#ports.localIps()
    const gone = [...this.#publishedIps].filter((ip) => !local.has(ip))
    if (gone.length === 0) return
    this.counters.roams++
    this.#publishedIps = new Set([...this.#publishedIps].filter((ip) => local.has(ip)))
    const dropped = this.#ports.dropDirectConnections()
    this.#ports.info(
      { gone, dropped },
      'underlay address gone (roamed): dialling again from the new one',
    )
    this.#backoff.clear()
    this.#publishedAt = Number.NEGATIVE_INFINITY
    this.#published = ''
  }

  #newDirectory(): Directory {
    return new Directory({ self: this.#ports.self.peerIdBytes })
  }

  #id(): string {
    return this.#keys === undefined ? '' : formatVlanId(this.#keys.mvlanId)
  }
}

/**
 * What of `addresses` and `vlans` fits one record (MAX_RECORD_BYTES):
 * names are dropped first, then VLANs from the end, then addresses from
 * the end; `left` counts what was left out.
 */
export function fitRecord(
  peerIdLength: number,
  addresses: readonly string[],
  vlans: readonly PresenceVlan[],
): {
  addresses: string[]
  vlans: PresenceVlan[]
  left: { names: number; vlans: number; addresses: number }
} {
  const addressBytes = (list: readonly string[]) => list.reduce((n, a) => n + 1 + utf8(a).length, 0)
  const vlanBytes = (list: readonly PresenceVlan[]) =>
    list.reduce(
      (n, v) => n + VLAN_ID_LENGTH + 1 + (v.name === undefined ? 0 : utf8(v.name).length),
      0,
    )
  const fixed = RECORD_FIXED_LENGTH + peerIdLength
  let kept = [...addresses]
  let listed = [...vlans]
  const left = { names: 0, vlans: 0, addresses: 0 }
  const size = () => fixed + addressBytes(kept) + vlanBytes(listed)
  if (size() > MAX_RECORD_BYTES) {
    left.names = listed.filter((v) => v.name !== undefined && v.name !== '').length
    listed = listed.map((v) => ({ vlanId: v.vlanId }))
  }
  while (size() > MAX_RECORD_BYTES && listed.length > 0) {
    listed = listed.slice(0, -1)
    left.vlans++
  }
  while (size() > MAX_RECORD_BYTES && kept.length > 0) {
    kept = kept.slice(0, -1)
    left.addresses++
  }
  return { addresses: kept, vlans: listed, left }
}

/**
 * Whether a directory address may be dialled: never loopback, link-local
 * or unspecified (a record is its signer's word only, and must not turn
 * us on our own host's services).
 */
function dialable(address: string): boolean {
  const ip = ipOf(address)
  return !/^(127\.|0\.0\.0\.0$|169\.254\.|::1?$|fe80:)/i.test(ip)
}

/** The IP address of a multiaddr (`/ip4/…` or `/ip6/…`), or ''. */
function ipOf(address: string): string {
  return /^\/ip[46]\/([^/]+)/.exec(address)?.[1] ?? ''
}

/** The PeerId at the end of a multiaddr. */
export function peerOfAddress(address: string): string {
  return address.slice(address.lastIndexOf('/p2p/') + 5)
}
