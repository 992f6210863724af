/**
 * The send path of a stream link, in order (spec 08-trunk.md §6; DESIGN.md 9):
 *
 * 1. `enqueueFrames` checks each frame (well-formed, FRAME within the
 *    neighbour's max message size, room in the queue's frame and byte
 *    bounds), drops and counts the rest, and encodes the accepted ones at
 *    once into one buffer of BATCHes (so callers may reuse their buffers);
 *    control messages (SUB, UNSUB, PING, PONG, CONTROL) are queued in order
 *    under their own byte bound;
 * 2. one flush per tick (a microtask) hands everything queued to the
 *    transport in one `stream.send()`;
 * 3. when `send()` returns false the queue holds further data, up to its
 *    bounds, and tail-drops beyond them, until the stream's 'drain' event
 *    (not `onDrain()`, whose promise resolves at once after the first
 *    drain in @libp2p/utils 7.4.1: FACTS.md), then flushes again.
 */
import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { encodeFrameBatches, type Frame, isValidFrame, varintLength } from './codec.ts'
import { FRAME_HEADER_LENGTH } from './constants.ts'
import type { LinkCounters } from './link.ts'

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
  #chunks: Uint8Array[] = []
  #frames = 0
  #bytes = 0
  #controlBytes = 0
  #waitingForDrain = false
  #scheduled = false
  #closed = false
  readonly #flush = (): void => {
    this.#scheduled = false
    this.flush()
  }

  constructor(stream: Stream, counters: LinkCounters, bounds: SendQueueBounds) {
    this.#stream = stream
    this.#counters = counters
    this.#bounds = bounds
    stream.addEventListener('drain', () => {
      this.#waitingForDrain = false
      this.flush()
    })
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
    const { maxFrames, maxBytes } = this.#bounds
    let queuedFrames = this.#frames
    let queuedBytes = this.#bytes
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
        } else {
          queuedFrames++
          queuedBytes += wire
          ok = true
        }
      }
      // Keep the accepted frames contiguous: copy references only once a drop happened.
      if (ok) {
        if (accepted !== undefined) accepted.push(f)
        count++
      } else if (accepted === undefined) {
        accepted = frames.slice(0, i) as Frame[]
      }
    }
    if (count === 0) return 0
    const encoded =
      accepted === undefined
        ? encodeFrameBatches(frames, 0, frames.length, limit)
        : encodeFrameBatches(accepted, 0, accepted.length, limit)
    this.#chunks.push(encoded)
    this.#frames += count
    this.#bytes += encoded.length
    c.queuedFrames = this.#frames
    c.queuedBytes = this.#bytes + this.#controlBytes
    this.#schedule()
    return count
  }

  /** Queues one encoded control message; false (counted) if its bound is full or the link is down. */
  enqueueControl(encoded: Uint8Array): boolean {
    if (this.#closed || this.#controlBytes + encoded.length > this.#bounds.maxControlBytes) {
      this.#counters.controlDropped++
      return false
    }
    this.#chunks.push(encoded)
    this.#controlBytes += encoded.length
    this.#counters.queuedBytes = this.#bytes + this.#controlBytes
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
    this.#chunks = []
    this.#frames = 0
    this.#bytes = 0
    this.#controlBytes = 0
    c.queuedFrames = 0
    c.queuedBytes = 0
    let ok: boolean
    try {
      ok = this.#stream.send(data)
    } catch {
      // The stream closed under us; the link's close handler counts why.
      this.close()
      return
    }
    if (!ok) {
      this.#waitingForDrain = true
      c.drainWaits++
    }
  }

  /** Discards everything queued; later frames count as `dropLinkDown`. */
  close(): void {
    this.#closed = true
    this.#chunks = []
    this.#counters.dropLinkDown += this.#frames
    this.#frames = 0
    this.#bytes = 0
    this.#controlBytes = 0
    this.#counters.queuedFrames = 0
    this.#counters.queuedBytes = 0
  }

  #schedule(): void {
    if (this.#scheduled || this.#waitingForDrain) return
    this.#scheduled = true
    queueMicrotask(this.#flush)
  }
}
