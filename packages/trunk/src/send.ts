/**
 * The send path of a stream link, in order (spec 08-trunk.md §6; docs/design.md §9):
 *
 * 1. `enqueueFrames` checks each frame (well-formed, FRAME within the
 *    neighbour's max message size, room in the queue's frame and byte
 *    bounds, then in the trunk's shared send budget: send-budget.ts), drops
 *    and counts the rest, and encodes the accepted ones at once into one
 *    buffer of BATCHes (so callers may reuse their buffers); control
 *    messages (SUB, UNSUB, PING, PONG, CONTROL) are queued in order under
 *    their own byte bound and the budget's control reserve;
 * 2. one flush per tick (a microtask) hands everything queued to the
 *    transport in one `stream.send()`;
 * 3. when `send()` returns false the queue holds further data, up to its
 *    bounds, and tail-drops beyond them, until the stream's 'drain' event
 *    (not `onDrain()`, whose promise resolves at once after the first
 *    drain in @libp2p/utils 7.4.1: docs/facts.md §3), then flushes again.
 *
 * The bounds cover what the stream still holds as well (its
 * `writeBufferLength`): yamux emits 'drain' on every window update, while
 * its buffer may still hold most of the last flush, so counting the queue
 * alone let a slowly reading neighbour grow that buffer without end (70 MB
 * in 6 s at 5 MB/s behind a 1 MiB bound; spec 08-trunk.md §6).
 */
import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { encodeFrameBatches, type Frame, isValidFrame, varintLength } from './codec.ts'
import { FRAME_HEADER_LENGTH } from './constants.ts'
import type { LinkCounters } from './link.ts'
import { SendBudget } from './send-budget.ts'

export interface SendQueueBounds {
  /** Most frames waiting to be written. */
  maxFrames: number
  /** Most frame bytes waiting to be written. */
  maxBytes: number
  /** Most control-message bytes waiting to be written. */
  maxControlBytes: number
}

export class SendQueue {
  readonly #stream: Stream
  readonly #counters: LinkCounters
  readonly #bounds: SendQueueBounds
  readonly #budget: SendBudget
  /** True while this link counts in the budget (from open() to close()). */
  #joined = false
  #chunks: Uint8Array[] = []
  #frames = 0
  #bytes = 0
  #controlBytes = 0
  /** Bytes the stream held unwritten when last looked at (they only shrink until our next send). */
  #held = 0
  #waitingForDrain = false
  #scheduled = false
  #closed = false
  readonly #flush = (): void => {
    this.#scheduled = false
    this.flush()
  }

  /** `budget`: the trunk's, shared by its links (default: none beyond the bounds). */
  constructor(
    stream: Stream,
    counters: LinkCounters,
    bounds: SendQueueBounds,
    budget: SendBudget = new SendBudget(),
  ) {
    this.#stream = stream
    this.#counters = counters
    this.#bounds = bounds
    this.#budget = budget
    stream.addEventListener('drain', () => {
      this.#waitingForDrain = false
      if (this.#chunks.length > 0) {
        this.flush()
      } else {
        // The stream writes from its buffer in a microtask of its own, queued before this one.
        queueMicrotask(this.#sampleHeld)
      }
    })
    stream.addEventListener('idle', this.#sampleHeld)
  }

  /** The link is up: from now on it holds its reserve and counts in the budget. */
  open(): void {
    if (this.#joined || this.#closed) return
    this.#joined = true
    this.#budget.join(this.#total())
  }

  /** True while the transport asked us to wait for 'drain'. */
  get waitingForDrain(): boolean {
    return this.#waitingForDrain
  }

  /**
   * Queues frames whose FRAME message fits `limit` (the neighbour's max
   * message size); returns how many were accepted.
   */
  enqueueFrames(frames: readonly Frame[], limit: number): number {
    const c = this.#counters
    if (this.#closed) {
      c.dropLinkDown += frames.length
      return 0
    }
    this.#sampleHeld()
    const { maxFrames, maxBytes } = this.#bounds
    let queuedFrames = this.#frames
    // What the stream holds counts against the frame bound too (it may hold control bytes: conservative).
    let queuedBytes = this.#bytes + this.#held
    const held = queuedBytes + this.#controlBytes
    // One look at the budget per call; the loop compares integers only.
    const room = this.#budget.room(held)
    let added = 0
    let refused = 0
    let accepted: Frame[] | undefined
    let count = 0
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!
      let ok = false
      if (!isValidFrame(f)) {
        c.dropInvalid++
      } else {
        const size = 1 + FRAME_HEADER_LENGTH + f.sealed.length
        const wire = varintLength(size) + size
        if (size > limit) {
          c.dropOversize++
        } else if (queuedFrames + 1 > maxFrames || queuedBytes + wire > maxBytes) {
          c.dropQueueFull++
        } else if (added + wire > room) {
          c.dropQueueFull++
          refused++
        } else {
          queuedFrames++
          queuedBytes += wire
          added += wire
          ok = true
        }
      }
      // Keep the accepted frames contiguous: copy references only once a drop happened.
      if (ok) {
        if (accepted !== undefined) accepted.push(f)
        count++
      } else if (accepted === undefined) {
        accepted = frames.slice(0, i)
      }
    }
    if (refused > 0) {
      c.dropBudget += refused
      this.#budget.counters.framesRefused += refused
    }
    if (count === 0) return 0
    const encoded =
      accepted === undefined
        ? encodeFrameBatches(frames, 0, frames.length, limit)
        : encodeFrameBatches(accepted, 0, accepted.length, limit)
    this.#chunks.push(encoded)
    this.#frames += count
    this.#bytes += encoded.length
    // BATCH headers make `encoded` up to 6 bytes per BATCH longer than `added`.
    if (this.#joined) this.#budget.change(held, encoded.length)
    c.queuedFrames = this.#frames
    c.queuedBytes = this.#bytes + this.#controlBytes + this.#held
    this.#schedule()
    return count
  }

  /**
   * Queues one encoded control message; false (counted) if its bound is
   * full or the link is down. Control has its own bound beside the frames',
   * and the link as a whole (stream included) at most both together; the
   * budget refuses it only beyond the link's control reserve.
   */
  enqueueControl(encoded: Uint8Array): boolean {
    if (this.#closed) {
      this.#counters.controlDropped++
      return false
    }
    this.#sampleHeld()
    const { maxBytes, maxControlBytes } = this.#bounds
    const len = encoded.length
    const held = this.#total()
    if (this.#controlBytes + len > maxControlBytes || held + len > maxBytes + maxControlBytes) {
      this.#counters.controlDropped++
      return false
    }
    if (!this.#budget.admitsControl(held, len)) {
      this.#counters.controlDropped++
      this.#budget.counters.controlRefused++
      return false
    }
    this.#chunks.push(encoded)
    this.#controlBytes += len
    if (this.#joined) this.#budget.change(held, len)
    this.#counters.queuedBytes = this.#bytes + this.#controlBytes + this.#held
    this.#schedule()
    return true
  }

  /** Writes everything queued in one `stream.send()`, unless waiting for 'drain'. */
  flush(): void {
    if (this.#waitingForDrain || this.#closed || this.#chunks.length === 0) return
    const chunks = this.#chunks
    const data = chunks.length === 1 ? chunks[0]! : new Uint8ArrayList(...chunks)
    const c = this.#counters
    c.framesSent += this.#frames
    c.bytesSent += this.#bytes + this.#controlBytes
    c.writes++
    // The bytes move from the queue to the stream: the link holds as much as before, until looked at.
    this.#held = this.#total()
    this.#chunks = []
    this.#frames = 0
    this.#bytes = 0
    this.#controlBytes = 0
    c.queuedFrames = 0
    let ok: boolean
    try {
      ok = this.#stream.send(data)
    } catch {
      // The stream closed under us; the link's close handler counts why.
      this.close()
      return
    }
    this.#sampleHeld()
    if (!ok) {
      this.#waitingForDrain = true
      c.drainWaits++
    }
  }

  /** Discards everything queued; later frames count as `dropLinkDown`. */
  close(): void {
    if (this.#joined) {
      this.#joined = false
      this.#budget.leave(this.#total())
    }
    this.#closed = true
    this.#chunks = []
    this.#counters.dropLinkDown += this.#frames
    this.#frames = 0
    this.#bytes = 0
    this.#controlBytes = 0
    this.#held = 0
    this.#counters.queuedFrames = 0
    this.#counters.queuedBytes = 0
  }

  /**
   * The stream writes from its buffer on its own: looked at before each
   * decision, after each send, and when it reports its buffer empty.
   */
  readonly #sampleHeld = (): void => {
    const held = this.#stream.writeBufferLength ?? 0
    if (held === this.#held || this.#closed) return
    if (this.#joined) this.#budget.change(this.#total(), held - this.#held)
    this.#held = held
    this.#counters.queuedBytes = this.#bytes + this.#controlBytes + held
  }

  /** What this link holds: its queue and what its stream has not written. */
  #total(): number {
    return this.#bytes + this.#controlBytes + this.#held
  }

  #schedule(): void {
    if (this.#scheduled || this.#waitingForDrain) return
    this.#scheduled = true
    queueMicrotask(this.#flush)
  }
}
