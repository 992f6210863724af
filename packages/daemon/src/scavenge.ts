/**
 * Young-generation collections paced by the bytes a daemon moves.
 *
 * Every frame a daemon carries allocates a few Buffers (a TAP or socket
 * read, a seal or open, a hop encryption, a copy into a batch), each an
 * ArrayBuffer whose memory lives outside V8's heap. A Buffer's memory is
 * freed only when a collection finds its small JS wrapper dead. The
 * wrappers are so small that the young generation fills slowly, so the
 * cheap collection that would find them (a scavenge) seldom runs, the
 * memory outside the heap grows, and V8 answers that growth with full
 * mark-compact collections instead: measured on the TCP stream link at
 * about 700 Mbit/s, 8 a second in each node, which kept V8's worker
 * threads marking and sweeping the whole heap at 30 to 40 % of a core per
 * process, on a machine with two (packages/daemon/README.md, "Scavenges").
 *
 * A pacer counts the bytes of the frames it is told about and runs one
 * scavenge for every `everyBytes` of them: the wrappers of the frames
 * carried since the last one are dead by then, so their memory goes with
 * a collection that costs about a millisecond, long before the outside
 * memory reaches the point where V8 starts a full one. No traffic, no
 * collection and no timer.
 *
 * It needs V8's `gc` function, which a process gets from
 * `--expose-gc`; the pacer sets that flag at run time and takes the
 * function from a fresh context (the way Node's `v8.setFlagsFromString`
 * documentation shows), so the daemon's own global scope gains nothing.
 * Where that is not possible the pacer counts bytes and collects nothing
 * (`available` is false).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** Bytes of frames between two scavenges, by default (measured: packages/daemon/README.md, "Scavenges"). */
export const DEFAULT_SCAVENGE_EVERY_BYTES = 4 * 1024 * 1024

type GcFunction = (options: { type: 'minor' | 'major' }) => void

let exposed: GcFunction | null | undefined

function exposeGc(): GcFunction | null {
  if (exposed !== undefined) return exposed
  try {
    setFlagsFromString('--expose-gc')
    const gc: unknown = runInNewContext('gc')
    exposed = typeof gc === 'function' ? (gc as GcFunction) : null
  } catch {
    exposed = null
  }
  return exposed
}

export interface ScavengeCounters {
  /** Scavenges the pacer ran. */
  scavenges: number
  /** Seconds spent in them, on the thread that called `note`. */
  seconds: number
}

export class ScavengePacer {
  readonly everyBytes: number
  /** Whether the pacer can collect (V8's `gc` could be had). */
  readonly available: boolean
  readonly counters: ScavengeCounters = { scavenges: 0, seconds: 0 }
  readonly #gc: GcFunction | null
  #pending = 0

  constructor(everyBytes = DEFAULT_SCAVENGE_EVERY_BYTES) {
    if (!(Number.isSafeInteger(everyBytes) && everyBytes > 0))
      throw new RangeError('everyBytes: a positive integer')
    this.everyBytes = everyBytes
    this.#gc = exposeGc()
    this.available = this.#gc !== null
  }

  /** Counts `bytes` of frames carried; runs a scavenge once `everyBytes` have gathered. */
  note(bytes: number): void {
    this.#pending += bytes
    if (this.#pending < this.everyBytes) return
    this.#pending = 0
    if (this.#gc === null) return
    const started = performance.now()
    this.#gc({ type: 'minor' })
    this.counters.scavenges++
    this.counters.seconds += (performance.now() - started) / 1000
  }
}
