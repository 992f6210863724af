// Bounded reassembly (docs/spec/05-fragmentation.md §5.4 and §5.5).
//
// Stages of push(), in order:
//   1. expire: drop every reassembly whose age has reached timeoutMs
//   2. parse: short fragment, total 0, or payload past total -> malformed;
//      total over maxDatagramBytes -> oversize
//   3. look up (source, id); an abandoned datagram -> abandoned
//   4. no reassembly and the fragment is the whole datagram -> complete,
//      returned as a view with no copy and no state
//   5. no reassembly: evict the oldest until a slot and `total` bytes are
//      free, then open one
//   6. total differs from the held one -> inconsistent, abandon
//   7. same range as a held fragment -> duplicate; any other overlap ->
//      overlap, abandon (RFC 5722)
//   8. copy the payload in; all bytes present -> complete; otherwise, holding
//      maxFragmentsPerDatagram fragments -> tooManyFragments, abandon;
//      otherwise pending
//
// An abandoned datagram keeps its slot (not its bytes) until it ages out, so
// its stragglers are dropped at once instead of opening a reassembly that
// could never complete.
//
// Allocation: one buffer of `total` bytes per multi-fragment datagram (handed
// to the caller on completion) and the view Uint8Array#set needs per copy.
// Reassembly slots, their range tables and per-source maps are pooled.

import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_DATAGRAM_BYTES,
  DEFAULT_MAX_FRAGMENTS_PER_DATAGRAM,
  DEFAULT_MAX_REASSEMBLIES,
  DEFAULT_TIMEOUT_MS,
  FRAGMENT_HEADER_BYTES,
  FRAGMENT_OFFSET_OFFSET,
  ID_OFFSET,
  MAX_WIRE_DATAGRAM_BYTES,
  MIN_FRAGMENT_BYTES,
  TOTAL_OFFSET,
} from './constants.ts'
import { FragError, FragErrorCode, integerOption } from './errors.ts'
import { readId, readU24 } from './header.ts'

/** What push() did with a fragment (spec §5.4). Each has a counter of the same name. */
export const Outcome = {
  /** The fragment completed its datagram; read it from `reassembler.datagram`. */
  Complete: 'complete',
  /** The fragment was stored; its datagram is still incomplete. */
  Pending: 'pending',
  /** Dropped: shorter than 11 bytes, total 0, or payload reaching past total. */
  Malformed: 'malformed',
  /** Dropped: total above maxDatagramBytes. */
  Oversize: 'oversize',
  /** Dropped: the same range as a fragment already held. */
  Duplicate: 'duplicate',
  /** Dropped, datagram abandoned: overlaps a held fragment without being a duplicate. */
  Overlap: 'overlap',
  /** Dropped, datagram abandoned: total differs from the datagram's total. */
  Inconsistent: 'inconsistent',
  /** Dropped, datagram abandoned: it would need more than maxFragmentsPerDatagram fragments. */
  TooManyFragments: 'tooManyFragments',
  /** Dropped: its datagram was abandoned earlier and has not aged out yet. */
  Abandoned: 'abandoned',
} as const

export type Outcome = (typeof Outcome)[keyof typeof Outcome]

export interface ReassemblerOptions {
  /** Larger totals are dropped as oversize. Default 66 560 (64 KiB + 1 KiB). */
  readonly maxDatagramBytes?: number
  /** Distinct fragments held per datagram. Default 128. */
  readonly maxFragmentsPerDatagram?: number
  /** Reassemblies (open or abandoned) held at once, over all sources. Default 256. */
  readonly maxReassemblies?: number
  /** Datagram buffer bytes held at once; at least maxDatagramBytes. Default 4 MiB. */
  readonly maxBytes?: number
  /** A reassembly this old (ms, by the `now` passed in) is dropped. Default 1000. */
  readonly timeoutMs?: number
}

/**
 * Receiver counters: plain numbers, only ever incremented. One per Outcome
 * (their sum is the number of push() calls), then per-reassembly events.
 */
export interface ReassemblerCounters {
  complete: number
  pending: number
  malformed: number
  oversize: number
  duplicate: number
  overlap: number
  inconsistent: number
  tooManyFragments: number
  abandoned: number
  /** Incomplete reassemblies dropped because they reached timeoutMs. */
  expired: number
  /** Reassemblies dropped, oldest first, to make room under maxReassemblies or maxBytes. */
  evicted: number
}

/** One datagram under reassembly; pooled. `buffer` undefined marks an abandoned one. */
interface Slot<S> {
  source: S | undefined
  id: number
  total: number
  created: number
  buffer: Uint8Array | undefined
  received: number
  count: number
  /** Held ranges sorted by start: [start0, end0, start1, end1, ...], end exclusive. */
  readonly ranges: Uint32Array
  older: Slot<S> | undefined
  newer: Slot<S> | undefined
}

/**
 * Reassembles fragments from many sources under fixed bounds. `S` names a
 * sender (a number, string or bigint; any value compared as Map keys are);
 * ids are only unique per source.
 */
export class Reassembler<S = string | number | bigint> {
  readonly maxDatagramBytes: number
  readonly maxFragmentsPerDatagram: number
  readonly maxReassemblies: number
  readonly maxBytes: number
  readonly timeoutMs: number
  readonly counters: ReassemblerCounters = {
    complete: 0,
    pending: 0,
    malformed: 0,
    oversize: 0,
    duplicate: 0,
    overlap: 0,
    inconsistent: 0,
    tooManyFragments: 0,
    abandoned: 0,
    expired: 0,
    evicted: 0,
  }
  /**
   * The datagram completed by the last push() that returned Complete. For a
   * datagram that came in one fragment it is a view into that fragment;
   * otherwise a buffer the caller now owns. Cleared by the next push().
   */
  datagram: Uint8Array | undefined = undefined

  private readonly sources = new Map<S, Map<number, Slot<S>>>()
  /** Oldest first: expiry and eviction take from here. */
  private oldest: Slot<S> | undefined = undefined
  private newest: Slot<S> | undefined = undefined
  private slotCount = 0
  private heldBytes = 0
  private readonly freeSlots: Slot<S>[] = []
  private readonly freeMaps: Map<number, Slot<S>>[] = []

  constructor(options: ReassemblerOptions = {}) {
    this.maxDatagramBytes = integerOption(
      'maxDatagramBytes',
      options.maxDatagramBytes ?? DEFAULT_MAX_DATAGRAM_BYTES,
      1,
      MAX_WIRE_DATAGRAM_BYTES,
    )
    this.maxFragmentsPerDatagram = integerOption(
      'maxFragmentsPerDatagram',
      options.maxFragmentsPerDatagram ?? DEFAULT_MAX_FRAGMENTS_PER_DATAGRAM,
      1,
      65_535,
    )
    this.maxReassemblies = integerOption(
      'maxReassemblies',
      options.maxReassemblies ?? DEFAULT_MAX_REASSEMBLIES,
      1,
      1 << 20,
    )
    this.maxBytes = integerOption(
      'maxBytes',
      options.maxBytes ?? Math.max(DEFAULT_MAX_BYTES, this.maxDatagramBytes),
      this.maxDatagramBytes,
      Number.MAX_SAFE_INTEGER,
    )
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      throw new FragError(
        FragErrorCode.InvalidOptions,
        `timeoutMs must be a finite number above 0, got ${String(timeoutMs)}`,
      )
    }
    this.timeoutMs = timeoutMs
  }

  /** Reassemblies held now, open or abandoned (at most maxReassemblies). */
  get reassemblies(): number {
    return this.slotCount
  }

  /** Datagram buffer bytes held now (at most maxBytes). */
  get bytesHeld(): number {
    return this.heldBytes
  }

  /**
   * Takes one fragment from `source` at time `now` (ms, non-decreasing, e.g.
   * performance.now()). Never throws on bad input: every fragment gets exactly
   * one Outcome and one count. On Complete, `datagram` holds the result.
   * The fragment's bytes are copied unless it is a whole datagram by itself.
   */
  push(source: S, fragment: Uint8Array, now: number): Outcome {
    this.datagram = undefined
    this.expire(now)

    const length = fragment.length
    if (length < MIN_FRAGMENT_BYTES) {
      this.counters.malformed++
      return Outcome.Malformed
    }
    const total = readU24(fragment, TOTAL_OFFSET)
    const start = readU24(fragment, FRAGMENT_OFFSET_OFFSET)
    const end = start + length - FRAGMENT_HEADER_BYTES
    if (total === 0 || end > total) {
      this.counters.malformed++
      return Outcome.Malformed
    }
    if (total > this.maxDatagramBytes) {
      this.counters.oversize++
      return Outcome.Oversize
    }

    const id = readId(fragment, ID_OFFSET)
    const byId = this.sources.get(source)
    let slot = byId?.get(id)
    let buffer: Uint8Array
    if (slot === undefined) {
      if (start === 0 && end === total) {
        this.datagram = fragment.subarray(FRAGMENT_HEADER_BYTES)
        this.counters.complete++
        return Outcome.Complete
      }
      const opened = this.open(source, id, total, now, byId)
      slot = opened
      buffer = opened.buffer
    } else if (slot.buffer === undefined) {
      this.counters.abandoned++
      return Outcome.Abandoned
    } else if (slot.total !== total) {
      this.abandon(slot)
      this.counters.inconsistent++
      return Outcome.Inconsistent
    } else {
      buffer = slot.buffer
    }

    // Find where [start, end) goes among the held ranges, scanning from the
    // end: fragments mostly arrive in order, so this is usually one step.
    const ranges = slot.ranges
    let at = slot.count
    while (at > 0 && ranges[2 * (at - 1)]! > start) at--
    if (at > 0) {
      const prevStart = ranges[2 * (at - 1)]!
      const prevEnd = ranges[2 * at - 1]!
      if (prevStart === start && prevEnd === end) {
        this.counters.duplicate++
        return Outcome.Duplicate
      }
      if (prevEnd > start) {
        this.abandon(slot)
        this.counters.overlap++
        return Outcome.Overlap
      }
    }
    if (at < slot.count && ranges[2 * at]! < end) {
      this.abandon(slot)
      this.counters.overlap++
      return Outcome.Overlap
    }

    if (at < slot.count) ranges.copyWithin(2 * at + 2, 2 * at, 2 * slot.count)
    ranges[2 * at] = start
    ranges[2 * at + 1] = end
    slot.count++
    buffer.set(fragment.subarray(FRAGMENT_HEADER_BYTES), start)
    slot.received += end - start

    if (slot.received === total) {
      this.datagram = buffer
      this.release(slot)
      this.counters.complete++
      return Outcome.Complete
    }
    if (slot.count >= this.maxFragmentsPerDatagram) {
      this.abandon(slot)
      this.counters.tooManyFragments++
      return Outcome.TooManyFragments
    }
    this.counters.pending++
    return Outcome.Pending
  }

  /**
   * Drops every reassembly (open or abandoned) at least timeoutMs old at
   * `now`. push() calls it; call it from a timer too if fragments may stop
   * arriving, to free their memory. Counts open ones as expired.
   */
  expire(now: number): void {
    const limit = now - this.timeoutMs
    let slot = this.oldest
    while (slot !== undefined && slot.created <= limit) {
      if (slot.buffer !== undefined) this.counters.expired++
      this.release(slot)
      slot = this.oldest
    }
  }

  /** Drops all state, as if newly made; counters are kept. */
  clear(): void {
    while (this.oldest !== undefined) this.release(this.oldest)
  }

  private open(
    source: S,
    id: number,
    total: number,
    now: number,
    byId: Map<number, Slot<S>> | undefined,
  ): Slot<S> & { buffer: Uint8Array } {
    while (
      this.oldest !== undefined &&
      (this.slotCount >= this.maxReassemblies || this.heldBytes + total > this.maxBytes)
    ) {
      this.counters.evicted++
      this.release(this.oldest)
      // Eviction may have emptied and pooled this source's map.
      byId = undefined
    }
    if (byId === undefined) {
      byId = this.sources.get(source)
      if (byId === undefined) {
        byId = this.freeMaps.pop() ?? new Map()
        this.sources.set(source, byId)
      }
    }
    const slot = this.freeSlots.pop() ?? this.newSlot()
    const buffer = new Uint8Array(total)
    slot.source = source
    slot.id = id
    slot.total = total
    slot.created = now
    slot.buffer = buffer
    slot.received = 0
    slot.count = 0
    slot.newer = undefined
    slot.older = this.newest
    if (this.newest === undefined) this.oldest = slot
    else this.newest.newer = slot
    this.newest = slot
    byId.set(id, slot)
    this.slotCount++
    this.heldBytes += total
    return slot as Slot<S> & { buffer: Uint8Array }
  }

  private newSlot(): Slot<S> {
    return {
      source: undefined,
      id: 0,
      total: 0,
      created: 0,
      buffer: undefined,
      received: 0,
      count: 0,
      ranges: new Uint32Array(2 * this.maxFragmentsPerDatagram),
      older: undefined,
      newer: undefined,
    }
  }

  /** Frees the slot's bytes but keeps the slot, so stragglers are dropped at once. */
  private abandon(slot: Slot<S>): void {
    if (slot.buffer === undefined) return
    this.heldBytes -= slot.total
    slot.buffer = undefined
  }

  /** Removes a slot from the map and the age list and returns it to the pool. */
  private release(slot: Slot<S>): void {
    const source = slot.source as S
    const byId = this.sources.get(source)
    if (byId !== undefined) {
      byId.delete(slot.id)
      if (byId.size === 0) {
        this.sources.delete(source)
        if (this.freeMaps.length < this.maxReassemblies) this.freeMaps.push(byId)
      }
    }
    if (slot.older === undefined) this.oldest = slot.newer
    else slot.older.newer = slot.newer
    if (slot.newer === undefined) this.newest = slot.older
    else slot.newer.older = slot.older
    if (slot.buffer !== undefined) this.heldBytes -= slot.total
    slot.buffer = undefined
    slot.source = undefined
    slot.older = undefined
    slot.newer = undefined
    this.slotCount--
    this.freeSlots.push(slot)
  }
}
