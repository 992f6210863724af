/**
 * The presence directory (docs/spec/16-fabric.md §16.5): the live presence
 * records of a fabric's members, one per PeerId, the highest seq kept.
 *
 * Every offered record passes these checks in order, cheapest first and the
 * signature last, so a flood of forged or replayed records costs a map
 * lookup each and never a signature check:
 *
 *   1. decode        structure (§16.3)                              malformed
 *   2. lifetime      expiresAt − issuedAt > maxLifetimeSeconds       lifetime
 *   3. expired       expiresAt ≤ now                                 expired
 *   4. future        issuedAt > now + clockSkewSeconds               future
 *   5. role          not the role the caller requires                role
 *   6. stale         seq ≤ the held record's seq (or our own PeerId) stale
 *   7. rate          recordsPerPeerPerMinute accepted in the last 60 s  rate
 *   8. full          a new PeerId and its role's table full after pruning  full
 *   9. signature     strict Ed25519 under the PeerId's key            bad-signature
 *
 * A refused record changes nothing. Memory is bounded: at most maxPeers
 * nodes and maxRelays relays, each with at most recordsPerPeerPerMinute
 * acceptance times.
 */
import { base58btc } from './base58.ts'
import { checkNow, equalBytes, isIntegerIn, toHex } from './bytes.ts'
import {
  BATCH_HEADER_LENGTH,
  BATCH_RECORD_OVERHEAD,
  DEFAULT_CLOCK_SKEW_SECONDS,
  DEFAULT_MAX_PEERS,
  DEFAULT_MAX_RELAYS,
  DEFAULT_RECORDS_PER_PEER_PER_MINUTE,
  MAX_BATCH_BYTES,
  MAX_BATCH_RECORDS,
  PRESENCE_MAX_LIFETIME_SECONDS,
  RATE_WINDOW_SECONDS,
} from './constants.ts'
import { MvlanError } from './errors.ts'
import {
  decodePresence,
  PRESENCE_REJECTIONS,
  type PresenceRecord,
  type PresenceRejection,
  type PresenceRole,
  verifyPresence,
} from './presence.ts'

export interface DirectoryLimits {
  /** Nodes held at most; default 4096. */
  readonly maxPeers?: number
  /** Relays held at most; default 64. */
  readonly maxRelays?: number
  /** Records accepted from one PeerId in any 60 seconds; default 6. */
  readonly recordsPerPeerPerMinute?: number
  /** The longest expiresAt − issuedAt accepted; default 3600. */
  readonly maxLifetimeSeconds?: number
  /** How far in the future issuedAt may be; default 300. */
  readonly clockSkewSeconds?: number
}

export interface DirectoryInit extends DirectoryLimits {
  /** Our own PeerId (multihash bytes): records of it are never stored (refused as `stale`). */
  readonly self?: Uint8Array
  /**
   * The signature check, step 9; default {@link verifyPresence}. A caller
   * that meets the same records many times (a relay hearing them from
   * several neighbours, a simulation of many members) may pass one that
   * caches verdicts by the record's bytes; it MUST give verifyPresence's
   * answer.
   */
  readonly verify?: (record: PresenceRecord) => boolean
}

export interface DirectoryEntry {
  readonly record: PresenceRecord
  /** The PeerId in base58btc, as libp2p prints it (`12D3KooW…` for Ed25519). */
  readonly peerId: string
  /** The `now` the record was accepted at. */
  readonly receivedAt: number
}

export type DirectoryOffer =
  | { readonly ok: true; readonly entry: DirectoryEntry; readonly change: 'new' | 'updated' }
  | { readonly ok: false; readonly reason: PresenceRejection }

export interface DirectoryOfferOptions {
  /** Require this role; a record of the other is refused as `role`. */
  readonly role?: PresenceRole
}

export interface DirectoryCounters {
  accepted: number
  readonly refused: Record<PresenceRejection, number>
}

export interface DirectoryVlan {
  /** The name most of the VLAN's members give it (ties: the smallest in code-unit order). */
  readonly name?: string
  /** Base58btc PeerIds of the live members that list it, sorted. */
  readonly peers: string[]
}

/** The held state of one PeerId: its entry and when its last records were accepted. */
interface Slot {
  entry: DirectoryEntry
  /** Acceptance times, oldest first, at most recordsPerPeerPerMinute. */
  accepted: number[]
}

export class Directory {
  readonly counters: DirectoryCounters
  readonly #maxPeers: number
  readonly #maxRelays: number
  readonly #rate: number
  readonly #maxLifetime: number
  readonly #skew: number
  readonly #self: Uint8Array | undefined
  readonly #verify: (record: PresenceRecord) => boolean
  /** By the PeerId's bytes as a binary string: found without base58 on every offer. */
  readonly #slots = new Map<string, Slot>()
  /** The same slots by base58btc text, for get() and remove(). */
  readonly #byText = new Map<string, Slot>()
  #nodes = 0
  #relays = 0
  /** No entry expires before this; a lower bound, so a prune may find nothing. */
  #nextExpiry = Number.POSITIVE_INFINITY

  constructor(init: DirectoryInit = {}) {
    this.#maxPeers = limit(init.maxPeers, DEFAULT_MAX_PEERS, 'maxPeers', 0)
    this.#maxRelays = limit(init.maxRelays, DEFAULT_MAX_RELAYS, 'maxRelays', 0)
    this.#rate = limit(
      init.recordsPerPeerPerMinute,
      DEFAULT_RECORDS_PER_PEER_PER_MINUTE,
      'recordsPerPeerPerMinute',
      1,
    )
    this.#maxLifetime = limit(
      init.maxLifetimeSeconds,
      PRESENCE_MAX_LIFETIME_SECONDS,
      'maxLifetimeSeconds',
      1,
    )
    this.#skew = limit(init.clockSkewSeconds, DEFAULT_CLOCK_SKEW_SECONDS, 'clockSkewSeconds', 0)
    if (init.self !== undefined && !(init.self instanceof Uint8Array)) {
      throw new MvlanError('invalid-argument', 'self is a PeerId as multihash bytes')
    }
    this.#self = init.self
    if (init.verify !== undefined && typeof init.verify !== 'function') {
      throw new MvlanError('invalid-argument', 'verify is a function of a record')
    }
    this.#verify = init.verify ?? verifyPresence
    const refused = {} as Record<PresenceRejection, number>
    for (const reason of PRESENCE_REJECTIONS) refused[reason] = 0
    this.counters = { accepted: 0, refused }
  }

  /** Entries held, live or expired but not yet pruned. */
  get size(): number {
    return this.#slots.size
  }

  /**
   * Acceptance times held for the rate limit, all entries together: at most
   * recordsPerPeerPerMinute per entry, so bounded by the tables' sizes.
   */
  get rateTimes(): number {
    let n = 0
    for (const slot of this.#slots.values()) n += slot.accepted.length
    return n
  }

  /** §16.5: checks a record in the order of the header and keeps it if it passes. */
  offer(bytes: Uint8Array, now: number, options: DirectoryOfferOptions = {}): DirectoryOffer {
    checkNow(now)
    // Decoded from a copy, so an accepted entry never shares the caller's buffer.
    const decoded = decodePresence(bytes instanceof Uint8Array ? bytes.slice() : bytes)
    if (!decoded.ok) return this.#refuse(decoded.reason)
    const { record } = decoded
    if (record.expiresAt - record.issuedAt > this.#maxLifetime) return this.#refuse('lifetime')
    if (record.expiresAt <= now) return this.#refuse('expired')
    if (record.issuedAt > now + this.#skew) return this.#refuse('future')
    if (options.role !== undefined && record.role !== options.role) return this.#refuse('role')
    if (this.#self !== undefined && equalBytes(record.peerId, this.#self))
      return this.#refuse('stale')
    const key = binaryKey(record.peerId)
    const slot = this.#slots.get(key)
    if (slot !== undefined && record.seq <= slot.entry.record.seq) return this.#refuse('stale')
    if (slot !== undefined) {
      dropBefore(slot.accepted, now - RATE_WINDOW_SECONDS)
      if (slot.accepted.length >= this.#rate) return this.#refuse('rate')
    }
    // A PeerId changing role moves to the other table, so it must fit there.
    if (
      (slot === undefined || slot.entry.record.role !== record.role) &&
      this.#isFull(record.role, now)
    ) {
      return this.#refuse('full')
    }
    if (!this.#verify(record)) return this.#refuse('bad-signature')
    // #isFull may have pruned this PeerId's expired entry: look again.
    const held = this.#slots.get(key)
    const peerId = held?.entry.peerId ?? base58btc(record.peerId)
    const entry: DirectoryEntry = { record, peerId, receivedAt: now }
    if (held === undefined) {
      const added: Slot = { entry, accepted: [now] }
      this.#slots.set(key, added)
      this.#byText.set(peerId, added)
      this.#count(record.role, 1)
    } else {
      if (held.entry.record.role !== record.role) {
        this.#count(held.entry.record.role, -1)
        this.#count(record.role, 1)
      }
      held.entry = entry
      dropBefore(held.accepted, now - RATE_WINDOW_SECONDS)
      held.accepted.push(now)
    }
    if (record.expiresAt < this.#nextExpiry) this.#nextExpiry = record.expiresAt
    this.counters.accepted++
    return { ok: true, entry, change: held === undefined ? 'new' : 'updated' }
  }

  get(peerId: string): DirectoryEntry | undefined {
    return this.#byText.get(peerId)?.entry
  }

  /** Live nodes, sorted by PeerId. */
  nodes(now: number): DirectoryEntry[] {
    return this.#live(now, 'node')
  }

  /** Live relays, sorted by PeerId. */
  relays(now: number): DirectoryEntry[] {
    return this.#live(now, 'relay')
  }

  /** The VLANs live members list, by VLAN-ID in hex. */
  vlans(now: number): Map<string, DirectoryVlan> {
    const found = new Map<string, { names: Map<string, number>; peers: string[] }>()
    for (const entry of this.#live(now)) {
      for (const vlan of entry.record.vlans) {
        const id = toHex(vlan.vlanId)
        let item = found.get(id)
        if (item === undefined) {
          item = { names: new Map(), peers: [] }
          found.set(id, item)
        }
        item.peers.push(entry.peerId)
        if (vlan.name !== undefined) item.names.set(vlan.name, (item.names.get(vlan.name) ?? 0) + 1)
      }
    }
    const out = new Map<string, DirectoryVlan>()
    for (const [id, { names, peers }] of found) {
      let name: string | undefined
      let votes = 0
      for (const [candidate, n] of names) {
        if (n > votes || (n === votes && name !== undefined && candidate < name)) {
          name = candidate
          votes = n
        }
      }
      out.set(id, name === undefined ? { peers } : { name, peers })
    }
    return out
  }

  /**
   * §16.5: live records for a newcomer, relays first, then the most
   * recently issued; as many as a batch of at most `maxBytes` (default and
   * most 1 MiB, framing included) and 4096 records holds.
   */
  records(now: number, maxBytes: number = MAX_BATCH_BYTES): Uint8Array[] {
    checkNow(now)
    if (!isIntegerIn(maxBytes, 0, MAX_BATCH_BYTES)) {
      throw new MvlanError('invalid-argument', `maxBytes must be 0 to ${MAX_BATCH_BYTES}`)
    }
    const live = this.#live(now)
    live.sort((a, b) => {
      const ra = a.record.role === 'relay' ? 0 : 1
      const rb = b.record.role === 'relay' ? 0 : 1
      if (ra !== rb) return ra - rb
      if (a.record.issuedAt !== b.record.issuedAt) return b.record.issuedAt - a.record.issuedAt
      return a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0
    })
    const out: Uint8Array[] = []
    let total = BATCH_HEADER_LENGTH
    for (const { record } of live) {
      const size = BATCH_RECORD_OVERHEAD + record.bytes.length
      if (total + size > maxBytes || out.length === MAX_BATCH_RECORDS) break
      out.push(record.bytes)
      total += size
    }
    return out
  }

  /** Removes every entry expired at `now` and returns their PeerIds. */
  prune(now: number): string[] {
    checkNow(now)
    const removed: string[] = []
    let next = Number.POSITIVE_INFINITY
    for (const [key, slot] of this.#slots) {
      const { expiresAt, role } = slot.entry.record
      if (expiresAt <= now) {
        this.#slots.delete(key)
        this.#byText.delete(slot.entry.peerId)
        this.#count(role, -1)
        removed.push(slot.entry.peerId)
      } else if (expiresAt < next) {
        next = expiresAt
      }
    }
    this.#nextExpiry = next
    return removed
  }

  /** Forgets a PeerId, its seq and its rate history. */
  remove(peerId: string): void {
    const slot = this.#byText.get(peerId)
    if (slot === undefined) return
    this.#byText.delete(peerId)
    this.#slots.delete(binaryKey(slot.entry.record.peerId))
    this.#count(slot.entry.record.role, -1)
  }

  clear(): void {
    this.#slots.clear()
    this.#byText.clear()
    this.#nodes = 0
    this.#relays = 0
    this.#nextExpiry = Number.POSITIVE_INFINITY
  }

  #refuse(reason: PresenceRejection): DirectoryOffer {
    this.counters.refused[reason]++
    return { ok: false, reason }
  }

  #isFull(role: PresenceRole, now: number): boolean {
    const full = (): boolean =>
      role === 'node' ? this.#nodes >= this.#maxPeers : this.#relays >= this.#maxRelays
    if (!full()) return false
    // Prune only when something can have expired: a flood against a full
    // table of live entries costs no scan.
    if (now >= this.#nextExpiry) this.prune(now)
    return full()
  }

  #count(role: PresenceRole, delta: number): void {
    if (role === 'node') this.#nodes += delta
    else this.#relays += delta
  }

  #live(now: number, role?: PresenceRole): DirectoryEntry[] {
    checkNow(now)
    const out: DirectoryEntry[] = []
    for (const { entry } of this.#slots.values()) {
      if (entry.record.expiresAt > now && (role === undefined || entry.record.role === role))
        out.push(entry)
    }
    return out.sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
  }
}

/** The bytes as a string of code units 0-255: a Map key that costs no encoding. */
function binaryKey(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[])
}

/** Drops the times at or before `cutoff` from the front of an ascending list. */
function dropBefore(times: number[], cutoff: number): void {
  let n = 0
  while (n < times.length && times[n]! <= cutoff) n++
  if (n > 0) times.splice(0, n)
}

function limit(value: number | undefined, fallback: number, name: string, min: number): number {
  if (value === undefined) return fallback
  if (!isIntegerIn(value, min, Number.MAX_SAFE_INTEGER)) {
    throw new MvlanError('invalid-argument', `${name} must be an integer of at least ${min}`)
  }
  return value
}
