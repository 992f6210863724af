// The datagram path under random loss (spec 13 §5, issue 15): a path is
// judged lost by a run of unanswered PINGs, not by one lost datagram, so a
// path losing 5 % of its datagrams each way stays validated, idle and busy;
// a path that is really gone is still abandoned within a second. Simulated
// time (vitest's fake timers drive the links' ticks, clocks and the pipe).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DGRAM_DEAD_PINGS, DGRAM_KEEPALIVE_MS } from '../src/constants.ts'
import type { DatagramLink } from '../src/index.ts'
import { pair } from './datagram-pair.ts'
import { makeFrames } from './helpers.ts'

/** A small seeded PRNG (mulberry32), so that a run's losses are the same every time. */
function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

const STEP_MS = 10

async function upBoth(a: DatagramLink, b: DatagramLink): Promise<void> {
  a.sendOffer()
  b.sendOffer()
  for (let t = 0; t < 5000 && !(a.status === 'up' && b.status === 'up'); t += STEP_MS) {
    await vi.advanceTimersByTimeAsync(STEP_MS)
  }
  expect([a.status, b.status]).toEqual(['up', 'up'])
}

describe('the datagram path under loss', () => {
  const open: DatagramLink[] = []
  beforeEach(() => {
    vi.useFakeTimers({
      toFake: [
        'setTimeout',
        'clearTimeout',
        'setInterval',
        'clearInterval',
        'setImmediate',
        'clearImmediate',
        'performance',
      ],
    })
  })
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close()
    vi.useRealTimers()
  })

  it('stays validated for 5 minutes at 5 % loss each way, idle and busy', async () => {
    const random = seeded(15)
    let dropped = 0
    const { a, b, got } = pair({
      drop: () => {
        const lose = random() < 0.05
        if (lose) dropped++
        return lose
      },
    })
    open.push(a, b)
    await upBoth(a, b)
    const before = dropped
    // Half a minute idle (keepalives only), half a minute sending 100 frames
    // a second each way, five times over.
    for (let t = 0; t < 300_000; t += STEP_MS) {
      if (Math.floor(t / 30_000) % 2 === 1) {
        a.sendFrames(makeFrames(1, 100))
        b.sendFrames(makeFrames(1, 100))
      }
      await vi.advanceTimersByTimeAsync(STEP_MS)
    }
    expect(dropped - before).toBeGreaterThan(500)
    expect(a.counters.pathLosses + b.counters.pathLosses).toBe(0)
    expect([a.status, b.status]).toEqual(['up', 'up'])
    // Frames went over the path, at about 95 % (the inner protocol repairs the rest).
    expect(got[1]!.length).toBeGreaterThan(0.9 * 15_000)
  }, 60_000)

  it('stays validated while a receiver drops most of what comes, PINGs and PONGs with it, as long as DATA arrives', async () => {
    // An overloaded receiver (a relay at its limit) drops datagrams of
    // every type: here 80 % each way for 5 s, both sides sending a frame every
    // 10 ms. A PING's round trip then fails 24 times in 25, so runs
    // of 5 unanswered PINGs come within a second; the DATA that does
    // arrive shows the path still carries, and it is not given up.
    const random = seeded(21)
    let overloaded = false
    const { a, b, got } = pair({ drop: () => overloaded && random() < 0.8 })
    open.push(a, b)
    await upBoth(a, b)
    const pongs = a.counters.pathPongsReceived + b.counters.pathPongsReceived
    const pings = a.counters.pathPingsSent + b.counters.pathPingsSent
    overloaded = true
    for (let t = 0; t < 5000; t += STEP_MS) {
      a.sendFrames(makeFrames(1, 100))
      b.sendFrames(makeFrames(1, 100))
      await vi.advanceTimersByTimeAsync(STEP_MS)
    }
    overloaded = false
    const sent = a.counters.pathPingsSent + b.counters.pathPingsSent - pings
    const answered = a.counters.pathPongsReceived + b.counters.pathPongsReceived - pongs
    // Neither side gave the path up, and a fifth of the frames came through...
    expect(a.counters.pathLosses + b.counters.pathLosses).toBe(0)
    expect([a.status, b.status]).toEqual(['up', 'up'])
    expect(got[0]!.length).toBeGreaterThan(0.15 * 500)
    // ...while most PINGs went unanswered, runs of five among them.
    expect(sent).toBeGreaterThan(50)
    expect(answered).toBeLessThan(sent * 0.2)
  }, 60_000)

  it('is abandoned within a second by both sides when cut one way, both busy', async () => {
    const { a, b, cut } = pair()
    open.push(a, b)
    await upBoth(a, b)
    await vi.advanceTimersByTimeAsync(200)
    // A's datagrams vanish; B's still reach A. B receives nothing and its
    // PINGs go unanswered; A still gets B's DATA until B gives the path up,
    // then nothing, and gives it up too.
    cut.ab = true
    const lostAt: (number | undefined)[] = [undefined, undefined]
    for (let ms = 0; ms < 3000 && lostAt.includes(undefined); ms += STEP_MS) {
      a.sendFrames(makeFrames(1, 100))
      b.sendFrames(makeFrames(1, 100))
      await vi.advanceTimersByTimeAsync(STEP_MS)
      ;[a, b].forEach((l, i) => {
        if (l.state === 'lost') lostAt[i] ??= ms
      })
    }
    expect(lostAt[1]).toBeLessThan(1000)
    expect(lostAt[0]).toBeLessThan(1000)
  }, 60_000)

  it(`is abandoned within a second once cut (${DGRAM_DEAD_PINGS} PINGs unanswered), busy or idle, and comes back`, async () => {
    for (const busy of [true, false]) {
      const { a, b, cut } = pair()
      open.push(a, b)
      await upBoth(a, b)
      await vi.advanceTimersByTimeAsync(200)
      cut.ab = true
      cut.ba = true
      let ms = 0
      const limit = busy ? 3000 : DGRAM_KEEPALIVE_MS + 3000
      while (a.status === 'up' && ms < limit) {
        if (busy) a.sendFrames(makeFrames(1, 100))
        await vi.advanceTimersByTimeAsync(STEP_MS)
        ms += STEP_MS
      }
      expect(a.state).toBe('lost')
      expect(a.counters.pathLosses).toBe(1)
      // Busy, within a second; idle, nothing asks the path until its next
      // keepalive is due, and it is abandoned within a second of that.
      expect(ms, busy ? 'busy' : 'idle').toBeLessThan(busy ? 1000 : DGRAM_KEEPALIVE_MS + 1000)
      cut.ab = false
      cut.ba = false
      for (let t = 0; t < 3000 && a.status !== 'up'; t += STEP_MS) {
        await vi.advanceTimersByTimeAsync(STEP_MS)
      }
      expect(a.status).toBe('up')
    }
  }, 60_000)
})
