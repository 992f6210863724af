/**
 * Catch-up (docs/spec/11-mls.md §6, §11.5, §11.8), per VLAN: which
 * requests a node answers (a member, at most once a second: an answer can
 * be a thousand times the request's size), which bundles an answer
 * carries (the log from `since`, at most MAX_CATCH_UP_BYTES), and when a
 * member whose answer did not reach back to its epoch asks again (after a
 * wait that doubles, up to a minute).
 *
 * Pure: no timers, no I/O; times are milliseconds passed in.
 */
import { bundleEpoch } from './bundle.ts'

/** A node answers each member's catch-up requests at most this often. */
export const CATCH_UP_ANSWER_INTERVAL_MS = 1_000
/** Members whose last answer time is kept; past it the record starts afresh. */
export const CATCH_UP_ANSWERED_MAX = 1024
/** After an answer with a gap, a member asks again after this long, doubling each time… */
export const CATCH_UP_RETRY_MS = 1_000
/** …up to this. */
export const CATCH_UP_RETRY_LONGEST_MS = 60_000
/** Bundle bytes (each with its u32 length) one answer carries: the trunk's 1 MiB message less 1 KiB. */
export const MAX_CATCH_UP_BYTES = 1024 * 1024 - 1024
/** A committer resends the commits of this many epochs before the unacknowledged one (§11.8). */
export const RESEND_EPOCHS = 8

/** The bundles of an answer, or why there is none. */
export type CatchUpAnswer =
  | { readonly ok: true; readonly bundles: readonly Uint8Array[] }
  /** `empty`: nothing in the log from `since`; `too-old`: the log starts after `since` (the asker must be added again). */
  | { readonly ok: false; readonly reason: 'empty' | 'too-old' }

/**
 * The answer to a request for epochs `since` on, from `log` (the bundles
 * from `since` on, in order, as `VlanGroup.commitLog({ since })` gives
 * them): as many bundles as fit in `maxBytes`.
 */
export function catchUpAnswer(
  log: readonly Uint8Array[],
  since: bigint,
  maxBytes = MAX_CATCH_UP_BYTES,
): CatchUpAnswer {
  if (log.length === 0) return { ok: false, reason: 'empty' }
  if (bundleEpoch(log[0]!) !== since) return { ok: false, reason: 'too-old' }
  const bundles: Uint8Array[] = []
  let size = 0
  for (const bundle of log) {
    size += 4 + bundle.length
    if (size > maxBytes) break
    bundles.push(bundle)
  }
  if (bundles.length === 0) return { ok: false, reason: 'empty' }
  return { ok: true, bundles }
}

/** The epoch a committer resends from for an unacknowledged `epoch`. */
export function resendSince(epoch: number): bigint {
  return BigInt(Math.max(0, epoch - RESEND_EPOCHS))
}

export class CatchUp {
  readonly #answeredAt = new Map<string, number>()
  #waitMs = CATCH_UP_RETRY_MS
  #retryAt: number | undefined

  /**
   * Whether to answer `peer` (already known to be a member) now: not
   * within CATCH_UP_ANSWER_INTERVAL_MS of the last answer. Records it.
   */
  mayAnswer(peer: string, now: number): boolean {
    if (now - (this.#answeredAt.get(peer) ?? 0) < CATCH_UP_ANSWER_INTERVAL_MS) return false
    if (this.#answeredAt.size >= CATCH_UP_ANSWERED_MAX) this.#answeredAt.clear()
    this.#answeredAt.set(peer, now)
    return true
  }

  /** An answer did not reach back to this member's epoch: one request after the current wait, which then doubles. */
  gap(now: number): void {
    if (this.#retryAt !== undefined) return
    this.#retryAt = now + this.#waitMs
    this.#waitMs = Math.min(this.#waitMs * 2, CATCH_UP_RETRY_LONGEST_MS)
  }

  /** An answer applied: the next gap waits the shortest again. */
  applied(): void {
    this.#waitMs = CATCH_UP_RETRY_MS
  }

  /** The wait the next gap starts (for tests and status). */
  get waitMs(): number {
    return this.#waitMs
  }

  /** Whether the retry request is due at `now` (once). */
  tick(now: number): boolean {
    if (this.#retryAt === undefined || now < this.#retryAt) return false
    this.#retryAt = undefined
    return true
  }

  nextDeadline(): number | undefined {
    return this.#retryAt
  }

  stop(): void {
    this.#retryAt = undefined
  }
}
