/**
 * A relay's presence (spec 12-relay.md §12.9, 16-fabric.md §16.3): its own
 * record, signed with its PeerId's key (role relay, its addresses, no
 * VLANs, its load), and the verified records of its configured neighbour
 * relays, which it passes on with its own in one CONTROL 12 batch. Carried
 * over the trunk, never on an MVLAN: a relay holds no fabric secret.
 *
 *   refresh(addresses, load, now) -> signs anew when it has no record, its
 *     addresses changed, or the record is `resignSeconds` old (seq strictly
 *     increasing across restarts: max(last + 1, now in ms))
 *   batch(now) -> its own record and the live records of neighbour relays
 *   CONTROL 12 from a configured relay -> offer: each record into a bounded
 *     `Directory` of relays (@peertap/mvlan: decoded, lifetime, live, not
 *     from the future, role relay, a seq above the one held, the PeerId's
 *     rate, room, its signature last); from anyone else -> a counted drop
 *   the one-second tick -> expire(now)
 *
 * Pure: no I/O, no timers (`now` in seconds is an argument).
 */
import {
  Directory,
  type DirectoryCounters,
  decodePresenceBatch,
  encodePresenceBatch,
  encodePresenceBatches,
  signPresence,
} from '@peertap/mvlan'
import {
  DEFAULT_MAX_RELAY_PRESENCE,
  RELAY_PRESENCE_LIFETIME_SECONDS,
  RELAY_PRESENCE_RESIGN_SECONDS,
} from './constants.ts'
import { RelayError } from './errors.ts'

export interface RelayPresenceInit {
  /** The 32-byte Ed25519 seed of the relay's PeerId key. */
  readonly seed: Uint8Array
  /** The relay's PeerId as multihash bytes. */
  readonly peerId: Uint8Array
  /** Lifetime of its own record, seconds (default 900). */
  readonly lifetimeSeconds?: number
  /** Age at which it signs again, seconds (default 300). */
  readonly resignSeconds?: number
  /** Neighbour relays' records held at once (default 64). */
  readonly maxRelays?: number
}

export interface RelayPresenceCounters {
  /** Own records signed. */
  signed: number
  /** Batches taken from configured relays (their records checked by the directory). */
  batchesReceived: number
  /** Batches that did not decode. */
  batchesMalformed: number
  /** Batches from peers that are not configured relays, dropped unread. */
  batchesNotFromRelay: number
  /** Records the directory held, and refused by reason (16-fabric.md §16.5). */
  readonly records: DirectoryCounters
}

export class RelayPresence {
  readonly counters: RelayPresenceCounters
  /** Neighbour relays' records: role relay only, bounded, checked cheapest first (16-fabric.md §16.5). */
  readonly directory: Directory
  readonly #seed: Uint8Array
  readonly #peerId: Uint8Array
  readonly #lifetime: number
  readonly #resign: number
  #record: Uint8Array | undefined
  #signedAt = 0
  #seq = 0n
  #addresses: readonly string[] = []

  constructor(init: RelayPresenceInit) {
    if (!(init.seed instanceof Uint8Array) || init.seed.length !== 32)
      throw new RelayError('invalid-option', 'seed must be 32 bytes')
    this.#seed = init.seed
    this.#peerId = Uint8Array.from(init.peerId)
    this.#lifetime = init.lifetimeSeconds ?? RELAY_PRESENCE_LIFETIME_SECONDS
    this.#resign = init.resignSeconds ?? RELAY_PRESENCE_RESIGN_SECONDS
    if (!(this.#resign > 0 && this.#lifetime > this.#resign))
      throw new RelayError('invalid-option', 'lifetimeSeconds must be more than resignSeconds > 0')
    // Its own record is never held (the directory's `self`); no node records at all.
    this.directory = new Directory({
      self: this.#peerId,
      maxPeers: 0,
      maxRelays: init.maxRelays ?? DEFAULT_MAX_RELAY_PRESENCE,
    })
    this.counters = {
      signed: 0,
      batchesReceived: 0,
      batchesMalformed: 0,
      batchesNotFromRelay: 0,
      records: this.directory.counters,
    }
  }

  /** The relay's own record, once signed. */
  get record(): Uint8Array | undefined {
    return this.#record
  }

  /**
   * Signs the relay's record again if it has none, its addresses changed,
   * or it is `resignSeconds` old; true if it did (then send `batch` to
   * everyone who gets it). Addresses beyond the record's bounds are left
   * out (16-fabric.md §16.3: at most 8, each at most 255 bytes).
   */
  refresh(addresses: readonly string[], load: number, now: number): boolean {
    const usable = [...new Set(addresses)]
      .filter((a) => a.startsWith('/') && new TextEncoder().encode(a).length <= 255)
      .slice(0, 8)
    const changed =
      usable.length !== this.#addresses.length || usable.some((a, i) => a !== this.#addresses[i])
    if (this.#record !== undefined && !changed && now - this.#signedAt < this.#resign) return false
    const issuedAt = Math.floor(now)
    // Strictly increasing across restarts without storing it: milliseconds since 1970.
    const seq = BigInt(Math.max(Math.floor(now * 1000), 0))
    this.#seq = seq > this.#seq ? seq : this.#seq + 1n
    this.#record = signPresence({
      seed: this.#seed,
      peerId: this.#peerId,
      role: 'relay',
      seq: this.#seq,
      issuedAt,
      expiresAt: issuedAt + this.#lifetime,
      addresses: usable,
      vlans: [],
      load: Math.max(0, Math.min(0xffff, Math.floor(load))),
    })
    this.#addresses = usable
    this.#signedAt = now
    this.counters.signed++
    return true
  }

  /**
   * The batch to send: the relay's own record, then the live records of
   * neighbour relays, but for the recipient's own (`to`, its PeerId text).
   */
  batch(now: number, to?: string): Uint8Array {
    return encodePresenceBatch(this.#records(now, to))
  }

  /** The same records in batches of one trunk message each (what goes on CONTROL 12). */
  batches(now: number, to?: string): Uint8Array[] {
    return encodePresenceBatches(this.#records(now, to))
  }

  #records(now: number, to?: string): Uint8Array[] {
    const records: Uint8Array[] = []
    if (this.#record !== undefined) records.push(this.#record)
    for (const entry of this.directory.relays(Math.floor(now)))
      if (entry.peerId !== to) records.push(entry.record.bytes)
    return records
  }

  /**
   * A CONTROL 12 batch; `fromRelay` says whether its sender is one of the
   * relay's configured neighbour relays (anyone else's is dropped unread).
   * Returns the records held. Never throws.
   */
  offer(fromRelay: boolean, bytes: Uint8Array, now: number): number {
    if (!fromRelay) {
      this.counters.batchesNotFromRelay++
      return 0
    }
    const records = decodePresenceBatch(bytes)
    if (records === undefined) {
      this.counters.batchesMalformed++
      return 0
    }
    this.counters.batchesReceived++
    let held = 0
    for (const record of records)
      if (this.directory.offer(record, Math.floor(now), { role: 'relay' }).ok) held++
    return held
  }

  /** Drops the records that lapsed (the one-second tick). */
  expire(now: number): void {
    this.directory.prune(Math.floor(now))
  }
}
