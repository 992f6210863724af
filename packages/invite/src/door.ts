/**
 * The join door (docs/spec/15-invitations.md §15.8): rate limits on join
 * requests, applied before any HPKE work, per source (a token bucket per
 * source key: an IPv4 address, an IPv6 /64, a relay) and overall (one
 * bucket), with a bounded source table and counters. Pure: the caller
 * passes the time in milliseconds.
 */

import type { Redemption } from './book.ts'
import {
  DEFAULT_GLOBAL_BURST,
  DEFAULT_GLOBAL_RATE,
  DEFAULT_MAX_SOURCES,
  DEFAULT_SOURCE_BURST,
  DEFAULT_SOURCE_RATE,
} from './constants.ts'
import { InviteError } from './errors.ts'
import { parseIpv4 } from './ipv4.ts'
import type { JoinRequestRefusal } from './join.ts'

/**
 * The bucket a request's source falls in (§15.8): an IPv4 address whole
 * (`192.0.2.7`); an IPv6 address by its /64, the least a provider gives
 * one host, so a host cannot earn a bucket per address it makes up
 * (`2001:db8:0:7::/64`; an IPv4-mapped address as its IPv4 address; a zone
 * dropped); anything else, such as `via <relay PeerId>` for a link through
 * a relay's circuit (all of that relay's links share one bucket), as it
 * is. The caller passes where the link comes from, never a PeerId: a
 * stranger makes PeerIds for free.
 */
export function doorSourceKey(source: string): string {
  if (parseIpv4(source) !== undefined) return source
  const groups = parseIpv6(source)
  if (groups === undefined) return source
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff
  if (mapped)
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.')
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`
}

/** IPv6 text (RFC 4291 §2.2: `::`, a dotted IPv4 tail, a `%zone` dropped) to 8 groups, else undefined. */
function parseIpv6(text: string): number[] | undefined {
  const address = text.replace(/%[^%]*$/, '')
  if (!address.includes(':') || !/^[0-9A-Fa-f:.]+$/.test(address)) return undefined
  const halves = address.split('::')
  if (halves.length > 2) return undefined
  const read = (part: string): number[] | undefined => {
    if (part === '') return []
    const out: number[] = []
    const pieces = part.split(':')
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece)
        if (v4 === undefined) return undefined
        out.push(v4 >>> 16, v4 & 0xffff)
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(piece)) out.push(Number.parseInt(piece, 16))
      else return undefined
    }
    return out
  }
  const head = read(halves[0]!)
  const tail = halves.length === 2 ? read(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  if (halves.length === 1) return head.length === 8 ? head : undefined
  const missing = 8 - head.length - tail.length
  return missing >= 1 ? [...head, ...new Array<number>(missing).fill(0), ...tail] : undefined
}

/** What became of a request the door let through: the book's answer, the opener's refusal, or the owner's own. */
export type JoinOutcome = Redemption | JoinRequestRefusal | 'vlan-unknown' | 'bad-key-package'

export interface JoinDoorInit {
  /** Requests per second each source earns; default 2. */
  readonly sourceRate?: number
  /** Requests a source may send at once; default 5. */
  readonly sourceBurst?: number
  /** Requests per second from all sources together; default 50. */
  readonly globalRate?: number
  /** Requests from all sources at once; default 50. */
  readonly globalBurst?: number
  /** Sources remembered; the least recently seen is forgotten first; default 4096. */
  readonly maxSources?: number
}

/** What the door and the owner's checks made of each request. */
export interface JoinDoorCounters {
  /** Let through to the owner's checks. */
  admitted: number
  /** Turned away by the source's bucket. */
  rateLimitedSource: number
  /** Turned away by the overall bucket. */
  rateLimitedGlobal: number
  /** Outcomes the owner recorded with {@link JoinDoor.record}. */
  accepted: number
  refused: Partial<Record<JoinOutcome, number>>
}

interface Bucket {
  tokens: number
  at: number
}

export class JoinDoor {
  readonly counters: JoinDoorCounters = {
    admitted: 0,
    rateLimitedSource: 0,
    rateLimitedGlobal: 0,
    accepted: 0,
    refused: {},
  }
  readonly #sourceRate: number
  readonly #sourceBurst: number
  readonly #globalRate: number
  readonly #globalBurst: number
  readonly #maxSources: number
  readonly #sources = new Map<string, Bucket>()
  readonly #global: Bucket

  constructor(init: JoinDoorInit = {}) {
    this.#sourceRate = positive(init.sourceRate ?? DEFAULT_SOURCE_RATE, 'sourceRate')
    this.#sourceBurst = atLeastOne(init.sourceBurst ?? DEFAULT_SOURCE_BURST, 'sourceBurst')
    this.#globalRate = positive(init.globalRate ?? DEFAULT_GLOBAL_RATE, 'globalRate')
    this.#globalBurst = atLeastOne(init.globalBurst ?? DEFAULT_GLOBAL_BURST, 'globalBurst')
    this.#maxSources = atLeastOne(init.maxSources ?? DEFAULT_MAX_SOURCES, 'maxSources')
    this.#global = { tokens: this.#globalBurst, at: Number.NEGATIVE_INFINITY }
  }

  /** Sources remembered now. */
  get sources(): number {
    return this.#sources.size
  }

  /**
   * True if a request from `source` (the link's IP address, or `via
   * <relay>`) may go on to be opened at `nowMs`. Its bucket is
   * {@link doorSourceKey}'s. It takes a token from the source's bucket and
   * the overall one only when both have one; a request turned away costs
   * nothing.
   */
  admit(from: string, nowMs: number): boolean {
    const source = doorSourceKey(from)
    let bucket = this.#sources.get(source)
    if (bucket === undefined) {
      bucket = { tokens: this.#sourceBurst, at: nowMs }
      if (this.#sources.size >= this.#maxSources) {
        const oldest = this.#sources.keys().next().value
        if (oldest !== undefined) this.#sources.delete(oldest)
      }
    } else {
      this.#sources.delete(source) // re-inserted below: the map's order is least recently seen first
    }
    this.#sources.set(source, bucket)
    refill(bucket, nowMs, this.#sourceRate, this.#sourceBurst)
    refill(this.#global, nowMs, this.#globalRate, this.#globalBurst)
    if (bucket.tokens < 1) {
      this.counters.rateLimitedSource++
      return false
    }
    if (this.#global.tokens < 1) {
      this.counters.rateLimitedGlobal++
      return false
    }
    bucket.tokens--
    this.#global.tokens--
    this.counters.admitted++
    return true
  }

  /**
   * Whole seconds, at least 1, until a request from `from` would pass
   * both buckets: what a `busy` verdict tells the joiner (§15.5). Changes
   * nothing.
   */
  retryAfterSeconds(from: string, nowMs: number): number {
    const source = doorSourceKey(from)
    const wait = (bucket: Bucket | undefined, rate: number, burst: number) => {
      if (bucket === undefined) return 0
      const tokens = Math.min(burst, bucket.tokens + (Math.max(0, nowMs - bucket.at) * rate) / 1000)
      return tokens >= 1 ? 0 : ((1 - tokens) * 1000) / rate
    }
    const ms = Math.max(
      wait(this.#sources.get(source), this.#sourceRate, this.#sourceBurst),
      wait(this.#global, this.#globalRate, this.#globalBurst),
    )
    return Math.min(0xffff, Math.max(1, Math.ceil(ms / 1000)))
  }

  /** Counts what became of an admitted request: `accepted` (or `again`), or the refusal's reason. */
  record(outcome: JoinOutcome): void {
    if (outcome === 'accepted' || outcome === 'again') this.counters.accepted++
    else this.counters.refused[outcome] = (this.counters.refused[outcome] ?? 0) + 1
  }
}

function refill(bucket: Bucket, nowMs: number, rate: number, burst: number): void {
  // A clock that steps back earns nothing rather than a negative amount.
  const elapsed = Math.max(0, nowMs - bucket.at)
  bucket.tokens = Math.min(burst, bucket.tokens + (elapsed * rate) / 1000)
  bucket.at = Math.max(bucket.at, nowMs)
}

function positive(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new InviteError('invalid-argument', `${what} must be above 0`)
  return value
}

function atLeastOne(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new InviteError('invalid-argument', `${what} must be an integer of at least 1`)
  return value
}
