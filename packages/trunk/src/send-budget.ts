/**
 * The trunk's send budget (spec 08-trunk.md §6.1): one count of the bytes
 * all stream links hold (their queues and what their streams have not
 * written), shared so that many neighbours that read slowly, or not at
 * all, cannot hold more than the budget together, and cannot starve the
 * others.
 *
 * Every link up has a reserve `r` it may always fill. Beyond its reserve a
 * link draws on the pool, `limit − links × r`, first come first served;
 * `pooled` is Σ max(0, held − r) over links. Control messages may also
 * fill CONTROL_RESERVE_BYTES beyond the reserve, so a SUB renewal or a
 * spanning-tree hello is never lost to other links' traffic, only to the
 * link's own backlog.
 *
 * Why a fixed reserve and not `limit / links`: a share that shrinks as
 * links come up cannot be honoured without taking back bytes already
 * queued, so late links would either starve or push the total past the
 * limit by the sum of their shares, ~limit × ln(links after / links
 * before). A fixed reserve keeps the total within `limit`, plus one
 * reserve per link that came up while the pool was spent and the control
 * reserve per link (spec §6.1).
 *
 * Links add and subtract integers as they queue and write; nothing here
 * runs per frame.
 */
import { CONTROL_RESERVE_BYTES } from './constants.ts'

export interface SendBudgetCounters {
  /** The budget in bytes (Infinity when off). */
  limitBytes: number
  /** What each link up may always hold. */
  reserveBytes: number
  /** Links sharing the budget: stream links up. */
  links: number
  /** Bytes the links hold now: queued frames and control, and what their streams have not written. */
  heldBytes: number
  /** The most bytes held at once. */
  peakBytes: number
  /** Frames refused because the budget was spent (each also counted in its link's dropQueueFull and dropBudget). */
  framesRefused: number
  /** Control messages refused because the budget was spent (each also in its link's controlDropped). */
  controlRefused: number
}

export class SendBudget {
  /** Live counters; read them, never write them. */
  readonly counters: SendBudgetCounters
  readonly #limit: number
  readonly #reserve: number
  /** Σ max(0, held − reserve) over links: what the links take from the pool. */
  #pooled = 0

  /** `limitBytes` 0 or Infinity: no budget (every link keeps only its own bounds). */
  constructor(limitBytes = Number.POSITIVE_INFINITY, reserveBytes = 0) {
    this.#limit = limitBytes === 0 ? Number.POSITIVE_INFINITY : limitBytes
    this.#reserve = this.#limit === Number.POSITIVE_INFINITY ? 0 : reserveBytes
    this.counters = {
      limitBytes: this.#limit,
      reserveBytes: this.#reserve,
      links: 0,
      heldBytes: 0,
      peakBytes: 0,
      framesRefused: 0,
      controlRefused: 0,
    }
  }

  /** A link came up holding `held` bytes. */
  join(held: number): void {
    this.counters.links++
    this.change(0, held)
  }

  /** A link that held `held` bytes went down. */
  leave(held: number): void {
    this.change(held, -held)
    this.counters.links--
  }

  /** Most bytes a link holding `held` may add now: what is left of its reserve, then of the pool. */
  room(held: number): number {
    const r = this.#reserve
    const pool = this.#limit - this.counters.links * r - this.#pooled
    return Math.max(r - held, 0) + Math.max(pool, 0)
  }

  /** Whether a link holding `held` bytes may queue a control message of `length` bytes. */
  admitsControl(held: number, length: number): boolean {
    return length <= this.room(held) || held + length <= this.#reserve + CONTROL_RESERVE_BYTES
  }

  /** A link that held `held` bytes now holds `held + delta`. */
  change(held: number, delta: number): void {
    const r = this.#reserve
    const after = held + delta
    this.#pooled += Math.max(after - r, 0) - Math.max(held - r, 0)
    const c = this.counters
    c.heldBytes += delta
    if (c.heldBytes > c.peakBytes) c.peakBytes = c.heldBytes
  }
}
