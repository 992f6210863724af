/**
 * When a VLAN's new epoch takes effect (docs/spec/11-mls.md §11.7), per
 * VLAN: an add or update is held for receiving first, acknowledged by the
 * members, and takes effect for sending once every member acknowledged or
 * after {@link ACK_TIMEOUT_MS}; the previous epoch is dropped
 * {@link SETTLE_MS} later. A removal (or a catch-up, or a join) takes effect
 * at once. The committer resends its last commits to members that did not
 * acknowledge within {@link ACK_TIMEOUT_MS} (§11.8).
 *
 * Pure: no timers, no I/O. The caller tells it what happened (`hold`,
 * `expectAcks`, `ack`, `release`, `settle`, `switchNow`), calls `tick(now)`
 * by {@link EpochChange.nextDeadline}, and carries out the actions returned
 * (promote an epoch, resend commits, drop the previous epoch). Times are
 * milliseconds.
 */

/** An add or update takes effect for sending after this long without every ack. */
export const ACK_TIMEOUT_MS = 2_000
/** How long the previous epoch stays held for receiving after the switch to a new one. */
export const SETTLE_MS = 2_000

/** Why an epoch is promoted (for the log). */
export type PromoteReason = 'acked' | 'timeout' | 'owner switched' | 'next commit'

/** What the caller does when the machine says so. */
export type EpochChangeAction =
  /** Seal under `epoch` now, if it is still the one held (the caller checks against the switch). */
  | { readonly type: 'promote'; readonly epoch: number; readonly why: PromoteReason }
  /** Resend the committer's last commits to these leaves, which did not acknowledge `epoch`. */
  | { readonly type: 'resend'; readonly epoch: number; readonly leaves: readonly number[] }
  /** The change has settled: drop the previous epoch. */
  | { readonly type: 'drop-previous' }

export class EpochChange {
  #pending: { epoch: number; deadline: number; startedAt: number } | undefined
  #acks: { epoch: number; waiting: Set<number>; deadline: number } | undefined
  #settleAt: number | undefined
  /** The epoch this node's last commit started (it sends `switch` for it). */
  committed: number | undefined
  /** Milliseconds from the last held epoch to sending under it. */
  lastSwitchMs = 0

  /** The epoch held for receiving and not yet sending, if any. */
  get held(): number | undefined {
    return this.#pending?.epoch
  }

  /** The epoch whose acks the committer collects, if any. */
  get awaitingAcks(): number | undefined {
    return this.#acks?.epoch
  }

  /** An add or update is held for receiving: it takes effect by `now + ACK_TIMEOUT_MS` at the latest. */
  hold(epoch: number, now: number): void {
    this.#pending = { epoch, deadline: now + ACK_TIMEOUT_MS, startedAt: now }
  }

  /**
   * The committer waits for `leaves` to acknowledge `epoch` (replacing any
   * earlier wait). With `promote`, no one to wait for promotes at once.
   */
  expectAcks(
    epoch: number,
    leaves: Iterable<number>,
    now: number,
    promote: boolean,
  ): EpochChangeAction | undefined {
    const waiting = new Set(leaves)
    this.#acks = { epoch, waiting, deadline: now + ACK_TIMEOUT_MS }
    if (waiting.size === 0 && promote) return { type: 'promote', epoch, why: 'acked' }
    return undefined
  }

  /** A member's ack; the last one awaited promotes the held epoch. */
  ack(epoch: number, leaf: number): EpochChangeAction | undefined {
    const acks = this.#acks
    if (acks === undefined || acks.epoch !== epoch) return undefined
    acks.waiting.delete(leaf)
    if (acks.waiting.size > 0) return undefined
    this.#acks = undefined
    if (this.#pending?.epoch === epoch) return { type: 'promote', epoch, why: 'acked' }
    return undefined
  }

  /** The caller promotes `epoch`: the hold for it ends (and its switch time is measured). */
  release(epoch: number, now: number): void {
    const pending = this.#pending
    if (pending === undefined || pending.epoch !== epoch) return
    this.#pending = undefined
    this.lastSwitchMs = Math.round(now - pending.startedAt)
  }

  /** The caller sends under a new epoch: the previous one goes after SETTLE_MS. */
  settle(now: number): void {
    this.#settleAt = now + SETTLE_MS
  }

  /** A removal, a catch-up or a join: new keys at once, nothing held, nothing settling. */
  switchNow(): void {
    this.#pending = undefined
    this.#settleAt = undefined
  }

  /** The node stops: nothing more is due. */
  stop(): void {
    this.#pending = undefined
    this.#acks = undefined
    this.#settleAt = undefined
  }

  /** The actions due at `now` (each once). */
  tick(now: number): EpochChangeAction[] {
    const out: EpochChangeAction[] = []
    const pending = this.#pending
    if (pending !== undefined && now >= pending.deadline) {
      pending.deadline = Number.POSITIVE_INFINITY
      out.push({ type: 'promote', epoch: pending.epoch, why: 'timeout' })
    }
    const acks = this.#acks
    if (acks !== undefined && now >= acks.deadline) {
      this.#acks = undefined
      out.push({ type: 'resend', epoch: acks.epoch, leaves: [...acks.waiting] })
    }
    if (this.#settleAt !== undefined && now >= this.#settleAt) {
      this.#settleAt = undefined
      out.push({ type: 'drop-previous' })
    }
    return out
  }

  /** When `tick` next has something to do (undefined: nothing scheduled). */
  nextDeadline(): number | undefined {
    const times = [this.#pending?.deadline, this.#acks?.deadline, this.#settleAt].filter(
      (t): t is number => t !== undefined && Number.isFinite(t),
    )
    return times.length === 0 ? undefined : Math.min(...times)
  }
}
