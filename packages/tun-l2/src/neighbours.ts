/**
 * The neighbour cache (docs/spec/17-tun-l2.md §17.4): IP address to MAC,
 * resolved with ARP or NDP over the VLAN, with the states of RFC 4861 §7.3.2
 * in a smaller form, and the bounded queue of packets that wait for a
 * resolution.
 */

/** How long a confirmation keeps an entry reachable (Linux's base_reachable_time). */
export const REACHABLE_MS = 30_000
/** Time between solicitations, and how many are sent before giving up. */
export const RETRANSMIT_MS = 1000
export const MAX_SOLICITS = 3
/** How long a failed resolution drops packets at once before trying again. */
export const FAILED_HOLD_MS = 3000

/** Bounds: entries, packets waiting per neighbour and in all, bytes waiting in all. */
export interface NeighbourLimits {
  readonly entries: number
  readonly queuedPerNeighbour: number
  readonly queuedPackets: number
  readonly queuedBytes: number
}

export const DEFAULT_LIMITS: NeighbourLimits = {
  entries: 1024,
  queuedPerNeighbour: 32,
  queuedPackets: 256,
  queuedBytes: 2 * 1024 * 1024,
}

export type NeighbourState = 'incomplete' | 'reachable' | 'stale' | 'probe' | 'failed'

export interface Neighbour {
  readonly ip: Uint8Array
  mac: Uint8Array | undefined
  state: NeighbourState
  /** When the state's timer runs out (reachable: becomes stale; incomplete/probe: next solicitation; failed: entry removed). */
  deadlineMs: number
  solicits: number
  /** Frames waiting for the MAC: Ethernet header space first, filled when resolved. */
  readonly queue: QueuedFrame[]
}

export interface QueuedFrame {
  readonly frame: Uint8Array
  /** Where the Ethernet header starts in `frame` (after a virtio-net header). */
  readonly eth: number
}

/** The key of an IPv4 (a number) or IPv6 (a string) address. */
export function ipKey(bytes: Uint8Array, offset: number, length: number): number | string {
  if (length === 4)
    return (
      ((bytes[offset]! << 24) |
        (bytes[offset + 1]! << 16) |
        (bytes[offset + 2]! << 8) |
        bytes[offset + 3]!) >>>
      0
    )
  let key = ''
  for (let i = 0; i < 16; i += 4)
    key += `${((bytes[offset + i]! << 24) | (bytes[offset + i + 1]! << 16) | (bytes[offset + i + 2]! << 8) | bytes[offset + i + 3]!) >>> 0}.`
  return key
}

export interface QueueCounters {
  queueDrops: number
  unresolvedDrops: number
}

/** Neighbours by address, least recently confirmed first (Map order), bounded. */
export class NeighbourCache {
  readonly #entries = new Map<number | string, Neighbour>()
  readonly #limits: NeighbourLimits
  readonly #counters: QueueCounters
  #queuedPackets = 0
  #queuedBytes = 0
  /**
   * Bumped whenever an entry is created, deleted, fails, or is confirmed
   * with another MAC or from another state: what a MAC answer depends on
   * ({@link TunL2.routesVersion}).
   */
  version = 0

  constructor(limits: NeighbourLimits, counters: QueueCounters) {
    this.#limits = limits
    this.#counters = counters
  }

  get size(): number {
    return this.#entries.size
  }

  get(key: number | string): Neighbour | undefined {
    return this.#entries.get(key)
  }

  /** A new incomplete entry (the oldest entry goes if the cache is full). */
  create(key: number | string, ip: Uint8Array, nowMs: number): Neighbour {
    if (this.#entries.size >= this.#limits.entries) {
      const oldest = this.#entries.keys().next()
      if (!oldest.done) this.delete(oldest.value)
    }
    const entry: Neighbour = {
      ip: ip.slice(),
      mac: undefined,
      state: 'incomplete',
      deadlineMs: nowMs + RETRANSMIT_MS,
      solicits: 0,
      queue: [],
    }
    this.#entries.set(key, entry)
    this.version++
    return entry
  }

  /**
   * Records `mac` for the address, as confirmed now; returns the frames that
   * waited for it (their Ethernet headers still to fill), or undefined if
   * the address has no entry and `create` is false.
   */
  confirm(
    key: number | string,
    ip: Uint8Array,
    mac: Uint8Array,
    nowMs: number,
    create: boolean,
  ): QueuedFrame[] | undefined {
    let entry = this.#entries.get(key)
    if (entry === undefined) {
      if (!create) return undefined
      entry = this.create(key, ip, nowMs)
    } else {
      // Move to the end: the most recently confirmed.
      this.#entries.delete(key)
      this.#entries.set(key, entry)
    }
    if (entry.state !== 'reachable' || entry.mac === undefined || !sameBytes(entry.mac, mac))
      this.version++
    entry.mac = mac.slice()
    entry.state = 'reachable'
    entry.deadlineMs = nowMs + REACHABLE_MS
    entry.solicits = 0
    return this.#drain(entry)
  }

  /** Queues a frame for an unresolved entry; false (counted) if a bound is reached. */
  enqueue(entry: Neighbour, frame: QueuedFrame): boolean {
    const limits = this.#limits
    if (
      entry.queue.length >= limits.queuedPerNeighbour ||
      this.#queuedPackets >= limits.queuedPackets ||
      this.#queuedBytes + frame.frame.length > limits.queuedBytes
    ) {
      this.#counters.queueDrops++
      return false
    }
    entry.queue.push(frame)
    this.#queuedPackets++
    this.#queuedBytes += frame.frame.length
    return true
  }

  /** Marks a resolution failed: its queued frames are dropped (counted). */
  fail(entry: Neighbour, nowMs: number): void {
    this.#counters.unresolvedDrops += entry.queue.length
    this.#drain(entry)
    entry.mac = undefined
    entry.state = 'failed'
    this.version++
    entry.deadlineMs = nowMs + FAILED_HOLD_MS
  }

  delete(key: number | string): void {
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    this.#counters.unresolvedDrops += entry.queue.length
    this.#drain(entry)
    this.#entries.delete(key)
    this.version++
  }

  /** Entries whose deadline has passed. */
  *due(nowMs: number): Generator<[number | string, Neighbour]> {
    for (const pair of [...this.#entries]) if (pair[1].deadlineMs <= nowMs) yield pair
  }

  /** The earliest deadline of any entry. */
  nextDeadline(): number | undefined {
    let next: number | undefined
    for (const entry of this.#entries.values())
      if (entry.state !== 'stale' && (next === undefined || entry.deadlineMs < next))
        next = entry.deadlineMs
    return next
  }

  /** Packets and bytes waiting, in all. */
  queued(): { packets: number; bytes: number } {
    return { packets: this.#queuedPackets, bytes: this.#queuedBytes }
  }

  entries(): IterableIterator<[number | string, Neighbour]> {
    return this.#entries.entries()
  }

  #drain(entry: Neighbour): QueuedFrame[] {
    const frames = entry.queue.splice(0)
    this.#queuedPackets -= frames.length
    for (const f of frames) this.#queuedBytes -= f.frame.length
    return frames
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
