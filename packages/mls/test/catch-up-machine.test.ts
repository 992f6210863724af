// Catch-up's timing and answer size (docs/spec/11-mls.md §6, §11.8), alone.
import { describe, expect, it } from 'vitest'
import {
  CATCH_UP_ANSWER_INTERVAL_MS,
  CATCH_UP_ANSWERED_MAX,
  CATCH_UP_RETRY_LONGEST_MS,
  CATCH_UP_RETRY_MS,
  CatchUp,
  catchUpAnswer,
  encodeBundle,
  RESEND_EPOCHS,
  resendSince,
} from '../src/index.ts'

const bundle = (epoch: number, size = 20) =>
  encodeBundle({ epoch: BigInt(epoch), proposals: [], commit: new Uint8Array(size).fill(epoch) })

describe('CatchUp', () => {
  it('answers each member at most once per interval', () => {
    const c = new CatchUp()
    expect(c.mayAnswer('a', 10_000)).toBe(true)
    expect(c.mayAnswer('a', 10_000 + CATCH_UP_ANSWER_INTERVAL_MS - 1)).toBe(false)
    expect(c.mayAnswer('b', 10_500)).toBe(true)
    expect(c.mayAnswer('a', 10_000 + CATCH_UP_ANSWER_INTERVAL_MS)).toBe(true)
  })

  it(`keeps at most ${CATCH_UP_ANSWERED_MAX} members' answer times, then starts afresh`, () => {
    const c = new CatchUp()
    for (let i = 0; i < CATCH_UP_ANSWERED_MAX; i++) expect(c.mayAnswer(`p${i}`, 5_000)).toBe(true)
    expect(c.mayAnswer('p0', 5_001)).toBe(false)
    expect(c.mayAnswer('new', 5_001)).toBe(true) // the record was full: cleared
    expect(c.mayAnswer('p0', 5_002)).toBe(true)
  })

  it('retries after a gap with a doubling wait, up to a minute, one retry at a time; an applied answer resets it', () => {
    const c = new CatchUp()
    let now = 0
    const waits: number[] = []
    for (let i = 0; i < 9; i++) {
      c.gap(now)
      c.gap(now + 1) // a second gap while one retry waits changes nothing
      const at = c.nextDeadline()!
      waits.push(at - now)
      expect(c.tick(at - 1)).toBe(false)
      expect(c.tick(at)).toBe(true)
      expect(c.tick(at)).toBe(false)
      now = at
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000])
    expect(waits[0]).toBe(CATCH_UP_RETRY_MS)
    expect(Math.max(...waits)).toBe(CATCH_UP_RETRY_LONGEST_MS)
    c.applied()
    expect(c.waitMs).toBe(CATCH_UP_RETRY_MS)
    c.gap(now)
    c.stop()
    expect(c.nextDeadline()).toBeUndefined()
  })
})

describe('catchUpAnswer', () => {
  it('the log from `since`, as many bundles as fit', () => {
    const log = [bundle(4), bundle(5), bundle(6)]
    expect(catchUpAnswer(log, 4n)).toEqual({ ok: true, bundles: log })
    const one = 4 + log[0]!.length
    expect(catchUpAnswer(log, 4n, one)).toEqual({ ok: true, bundles: [log[0]] })
    expect(catchUpAnswer(log, 4n, 2 * one - 1)).toEqual({ ok: true, bundles: [log[0]] })
  })

  it('nothing to send: an empty log, a log starting after `since` (too old), a first bundle too big', () => {
    expect(catchUpAnswer([], 3n)).toEqual({ ok: false, reason: 'empty' })
    expect(catchUpAnswer([bundle(5)], 3n)).toEqual({ ok: false, reason: 'too-old' })
    expect(catchUpAnswer([bundle(3, 100)], 3n, 50)).toEqual({ ok: false, reason: 'empty' })
  })

  it(`a committer resends from ${RESEND_EPOCHS} epochs back, not below 0`, () => {
    expect(resendSince(20)).toBe(12n)
    expect(resendSince(3)).toBe(0n)
  })
})
