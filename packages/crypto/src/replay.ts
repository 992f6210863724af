/**
 * The sliding replay window of one KID (docs/spec/04-sealed-payload.md §6),
 * after RFC 6479 and wireguard-go's replay/replay.go: a ring of 32-bit words,
 * one bit per counter. It tracks the newest counter seen and the
 * REPLAY_WINDOW_SIZE counters up to it; anything older is 'too-old'.
 *
 * Check before the AEAD, update after it opens: a forged frame must never
 * move the window.
 */
import { REPLAY_WINDOW_SIZE } from './constants.ts'

/** Why the replay window refuses a counter. */
export type ReplayDrop = 'replay' | 'too-old'

const WORD_BITS = 32
const WORD_SHIFT = 5
// The window's counters span at most SIZE/32 + 1 words; with that many words
// in the ring no two of them share a slot (RFC 6479 §2).
const RING_WORDS = REPLAY_WINDOW_SIZE / WORD_BITS + 1

/** One KID's replay window. Counters are integers in [0, 2^31). */
export class ReplayWindow {
  #ring = new Uint32Array(RING_WORDS)
  #last = -1

  /** The newest counter accepted so far, or -1. */
  get last(): number {
    return this.#last
  }

  /** Whether `counter` may be accepted; does not change the window. */
  check(counter: number): ReplayDrop | undefined {
    if (counter > this.#last) return undefined
    if (this.#last - counter >= REPLAY_WINDOW_SIZE) return 'too-old'
    const word = this.#ring[(counter >>> WORD_SHIFT) % RING_WORDS]!
    return (word >>> (counter & (WORD_BITS - 1))) & 1 ? 'replay' : undefined
  }

  /** Marks `counter` as seen. Call only after check() passed and the frame opened. */
  update(counter: number): void {
    const index = counter >>> WORD_SHIFT
    if (counter > this.#last) {
      const current = this.#last >> WORD_SHIFT // -1 before the first counter
      const diff = Math.min(index - current, RING_WORDS)
      // Clear the words the window slides over (they hold counters now too old).
      for (let i = 1; i <= diff; i++) this.#ring[(current + i) % RING_WORDS] = 0
      this.#last = counter
    }
    this.#ring[index % RING_WORDS]! |= 1 << (counter & (WORD_BITS - 1))
  }

  /**
   * check() and update() in one step (after the AEAD): undefined when
   * `counter` was fresh and is now marked, else why not.
   */
  accept(counter: number): ReplayDrop | undefined {
    const drop = this.check(counter)
    if (drop === undefined) this.update(counter)
    return drop
  }

  /** Forgets every counter. */
  reset(): void {
    this.#ring.fill(0)
    this.#last = -1
  }
}
