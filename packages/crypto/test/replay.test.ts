import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { REPLAY_WINDOW_SIZE, ReplayWindow } from '../src/index.ts'

/** Obviously correct: remember every counter; too old = more than 2047 below the newest. */
class ReferenceWindow {
  readonly seen = new Set<number>()
  last = -1
  check(c: number): 'replay' | 'too-old' | undefined {
    if (c > this.last) return undefined
    if (this.last - c >= REPLAY_WINDOW_SIZE) return 'too-old'
    return this.seen.has(c) ? 'replay' : undefined
  }
  update(c: number): void {
    this.seen.add(c)
    if (c > this.last) this.last = c
  }
}

describe('ReplayWindow', () => {
  it('accepts in order, drops replays', () => {
    const w = new ReplayWindow()
    for (let c = 0; c < 5000; c++) {
      expect(w.check(c)).toBeUndefined()
      w.update(c)
      expect(w.check(c)).toBe('replay')
    }
  })

  it('accepts reordering within 2048, drops beyond as too-old', () => {
    const w = new ReplayWindow()
    w.update(10_000)
    expect(w.check(10_000 - 2047)).toBeUndefined()
    expect(w.check(10_000 - 2048)).toBe('too-old')
    w.update(10_000 - 2047)
    expect(w.check(10_000 - 2047)).toBe('replay')
    expect(w.check(10_001)).toBeUndefined()
  })

  it('a big jump forgets the old bits and keeps the new', () => {
    const w = new ReplayWindow()
    for (let c = 0; c < 100; c++) w.update(c)
    w.update(1_000_000)
    expect(w.check(1_000_000 - 64)).toBeUndefined()
    expect(w.check(99)).toBe('too-old')
    w.update(1_000_000 - 64)
    expect(w.check(1_000_000 - 64)).toBe('replay')
  })

  it('check() alone never changes the window', () => {
    const w = new ReplayWindow()
    w.update(5)
    expect(w.check(7)).toBeUndefined()
    expect(w.check(7)).toBeUndefined()
    expect(w.last).toBe(5)
  })

  it('matches the reference on random streams (near-in-order, with replays and jumps)', () => {
    const step = fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: -3000, max: 40 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 9000 }) },
    )
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 600 }),
        fc.integer({ min: 0, max: 5000 }),
        (steps, start) => {
          const fast = new ReplayWindow()
          const ref = new ReferenceWindow()
          let c = start
          for (const s of steps) {
            c = Math.max(0, Math.min(2 ** 23 - 1, c + s))
            const verdict = ref.check(c)
            expect(fast.check(c)).toBe(verdict)
            if (verdict === undefined) {
              fast.update(c)
              ref.update(c)
            }
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('matches the reference when every counter of a window is replayed in random order', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(
          Array.from({ length: 2200 }, (_, i) => i),
          { minLength: 2200 },
        ),
        (order) => {
          const fast = new ReplayWindow()
          const ref = new ReferenceWindow()
          for (const c of [...order, ...order]) {
            const verdict = ref.check(c)
            expect(fast.check(c)).toBe(verdict)
            if (verdict === undefined) {
              fast.update(c)
              ref.update(c)
            }
          }
        },
      ),
      { numRuns: 30 },
    )
  })
})
