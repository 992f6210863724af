/**
 * The join door (docs/spec/15-invitations.md §15.8): rate limits on join
 * requests, applied before any HPKE work, per source (a token bucket per IP
 * address) and overall (one bucket), with a bounded source table and
 * counters. Pure: the caller passes the time in milliseconds.
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
import type { JoinRequestRefusal } from './join.ts'

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
   * True if a request from `source` (its IP address) may go on to be opened
   * at `nowMs`. It takes a token from the source's bucket and the overall
   * one only when both have one; a request turned away costs nothing.
   */
  admit(source: string, nowMs: number): boolean {
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
   * Whole seconds, at least 1, until a request from `source` would pass
   * both buckets: what a `busy` verdict tells the joiner (§15.5). Changes
   * nothing.
   */
  retryAfterSeconds(source: string, nowMs: number): number {
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
