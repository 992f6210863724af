/**
 * Refusals logged at a bounded rate (docs/spec/14-roles.md §14.4): what a
 * daemon refuses a peer (a stranger's SUB, frames or control message, a
 * subscription over a limit) is counted every time, and logged at most once
 * per peer per `intervalMs` with the counts since its last line. So a flood
 * from many identities costs a counter increment each, and the log stays
 * readable: at most one line per peer per minute, and at most `maxPeers`
 * peers remembered (the oldest forgotten first, and logged afresh).
 */
import type { Logger } from 'pino'

export interface RefusalLogOptions {
  /** One line per peer at most this often (default 60 s). */
  readonly intervalMs?: number
  /** Peers remembered at once (default 1024). */
  readonly maxPeers?: number
  /** The clock, ms (default Date.now). */
  readonly now?: () => number
}

interface PeerRefusals {
  loggedAt: number
  /** What was refused since the last line, by reason. */
  since: Record<string, number>
}

export class RefusalLog {
  /** Refusals by reason, since start. */
  readonly counters: Record<string, number> = {}
  /** Lines not written because the peer had one in the last interval. */
  suppressed = 0
  readonly #log: Logger
  readonly #message: string
  readonly #interval: number
  readonly #maxPeers: number
  readonly #now: () => number
  readonly #peers = new Map<string, PeerRefusals>()

  constructor(log: Logger, message: string, options: RefusalLogOptions = {}) {
    this.#log = log
    this.#message = message
    this.#interval = options.intervalMs ?? 60_000
    this.#maxPeers = options.maxPeers ?? 1024
    this.#now = options.now ?? Date.now
  }

  /** Counts `count` refusals of `reason` from `peer`, and logs a line if the peer had none this interval. */
  note(peer: string, reason: string, count = 1, fields: Record<string, unknown> = {}): void {
    this.counters[reason] = (this.counters[reason] ?? 0) + count
    const t = this.#now()
    let entry = this.#peers.get(peer)
    if (entry === undefined) {
      if (this.#peers.size >= this.#maxPeers) this.#peers.delete(this.#peers.keys().next().value!)
      entry = { loggedAt: Number.NEGATIVE_INFINITY, since: {} }
      this.#peers.set(peer, entry)
    }
    entry.since[reason] = (entry.since[reason] ?? 0) + count
    if (t - entry.loggedAt < this.#interval) {
      this.suppressed++
      return
    }
    this.#log.warn({ peer, refused: entry.since, ...fields }, this.#message)
    entry.loggedAt = t
    entry.since = {}
  }

  /** The peer left: its next refusal is logged at once. */
  forget(peer: string): void {
    this.#peers.delete(peer)
  }
}
