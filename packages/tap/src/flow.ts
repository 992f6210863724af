/**
 * The cells the fast path shares between its native reader threads and
 * JavaScript (docs/spec/18-fast-path.md §3): send counters and replay
 * windows in one arena of native memory, an Int32Array here and the same
 * bytes in the addon (src/flow-core.cc). Both sides take a counter with one
 * compare-and-swap and accept a counter into a window under the window's
 * lock word, so a key both use never seals two messages under one nonce and
 * a window both use never accepts one counter twice.
 *
 * The algorithms are those of @peertap/crypto's ReplayWindow and of a
 * plain counter, word for word; the tests race this class against a native
 * thread over the same cells and compare both with ReplayWindow.
 */
import { native } from './native.ts'

/** Words of one replay window cell: lock, newest counter (-1: none), a ring of 65 words, one spare. */
export const WINDOW_WORDS = 68
/** Counters a window spans (04-sealed-payload.md §6). */
export const WINDOW_SIZE = 2048
const RING_WORDS = WINDOW_SIZE / 32 + 1
const LOCK = 0
const LAST = 1
const RING = 2

/** What a window says of a counter. */
export type WindowVerdict = 'fresh' | 'replay' | 'too-old'

/** A fixed arena of shared cells, allocated from the addon, handed out and taken back by index. */
export class FlowCells {
  /** The arena: native memory that stays valid while this array is reachable. */
  readonly words: Int32Array
  #next = 0
  readonly #freeCounters: number[] = []
  readonly #freeWindows: number[] = []

  /** An arena of `words` 32-bit words (default 1 MiB). */
  constructor(words = 1 << 18) {
    this.words = native().flowCells(words)
  }

  /** A fresh counter cell at 0; throws when the arena is full. */
  counter(): number {
    const index = this.#freeCounters.pop() ?? this.#take(1)
    Atomics.store(this.words, index, 0)
    return index
  }

  /** A fresh, empty window cell; throws when the arena is full. */
  window(): number {
    const index = this.#freeWindows.pop() ?? this.#take(WINDOW_WORDS)
    this.words.fill(0, index, index + WINDOW_WORDS)
    Atomics.store(this.words, index + LAST, -1)
    return index
  }

  /**
   * Gives a cell back. The caller makes sure no native entry refers to it
   * any more (the flow cache removes its entries first).
   */
  free(index: number, kind: 'counter' | 'window'): void {
    ;(kind === 'counter' ? this.#freeCounters : this.#freeWindows).push(index)
  }

  #take(n: number): number {
    if (this.#next + n > this.words.length) {
      throw new RangeError(`the fast path's cell arena is full (${this.words.length} words)`)
    }
    const index = this.#next
    this.#next += n
    return index
  }

  /** The next counter below `limit` (at most 2^31 − 1), or -1 once the cell reached it. */
  takeCounter(index: number, limit: number): number {
    const w = this.words
    let v = Atomics.load(w, index)
    for (;;) {
      if (v < 0 || v >= limit) return -1
      const seen = Atomics.compareExchange(w, index, v, v + 1)
      if (seen === v) return v
      v = seen
    }
  }

  /** Whether `counter` may be accepted (before the AEAD); changes nothing, decides nothing. */
  check(index: number, counter: number): WindowVerdict {
    const w = this.words
    const last = Atomics.load(w, index + LAST)
    if (counter > last) return 'fresh'
    if (last - counter >= WINDOW_SIZE) return 'too-old'
    const word = Atomics.load(w, index + RING + ((counter >>> 5) % RING_WORDS))
    return (word >>> (counter & 31)) & 1 ? 'replay' : 'fresh'
  }

  /**
   * After the AEAD verified: under the window's lock, checks `counter` again
   * and marks it if fresh. 'fresh' means this caller accepted it, and no
   * other caller, native or not, ever will.
   */
  accept(index: number, counter: number): WindowVerdict {
    const w = this.words
    // The other holder is a reader thread, for a few dozen instructions.
    while (Atomics.compareExchange(w, index + LOCK, 0, 1) !== 0) {}
    try {
      const verdict = this.check(index, counter)
      if (verdict !== 'fresh') return verdict
      const last = Atomics.load(w, index + LAST)
      const at = counter >>> 5
      if (counter > last) {
        const current = last >> 5 // -1 before the first counter
        const diff = Math.min(at - current, RING_WORDS)
        for (let i = 1; i <= diff; i++)
          Atomics.store(w, index + RING + ((current + i) % RING_WORDS), 0)
        Atomics.store(w, index + LAST, counter)
      }
      Atomics.or(w, index + RING + (at % RING_WORDS), 1 << (counter & 31))
      return 'fresh'
    } finally {
      Atomics.store(w, index + LOCK, 0)
    }
  }

  /** Forgets every counter of a window (its key changed). */
  reset(index: number): void {
    const w = this.words
    while (Atomics.compareExchange(w, index + LOCK, 0, 1) !== 0) {}
    w.fill(0, index + RING, index + RING + RING_WORDS)
    Atomics.store(w, index + LAST, -1)
    Atomics.store(w, index + LOCK, 0)
  }
}
