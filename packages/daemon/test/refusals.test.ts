import { Writable } from 'node:stream'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { RefusalLog } from '../src/index.ts'

/** A pino logger whose lines land in an array. */
function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()))
      done()
    },
  })
  return { log: pino({ level: 'info' }, sink), lines }
}

describe('RefusalLog', () => {
  it('counts every refusal and logs one line per peer per interval, with the counts since the last', async () => {
    const { log, lines } = capture()
    let t = 0
    const refusals = new RefusalLog(log, 'refused', { intervalMs: 60_000, now: () => t })
    for (let i = 0; i < 1000; i++) refusals.note('p1', 'frames', 32)
    refusals.note('p1', 'sub-no-proof')
    refusals.note('p2', 'frames')
    t = 59_999
    refusals.note('p1', 'frames')
    t = 60_000
    refusals.note('p1', 'frames')
    await new Promise((r) => setImmediate(r))
    expect(refusals.counters).toEqual({ frames: 32_000 + 3, 'sub-no-proof': 1 })
    expect(lines.map((l) => [l.peer, l.refused])).toEqual([
      ['p1', { frames: 32 }],
      ['p2', { frames: 1 }],
      ['p1', { frames: 31_968 + 2, 'sub-no-proof': 1 }],
    ])
    expect(refusals.suppressed).toBe(1001)
  })

  it('remembers a bounded number of peers', async () => {
    const { log, lines } = capture()
    const refusals = new RefusalLog(log, 'refused', { maxPeers: 2, now: () => 0 })
    for (const peer of ['a', 'b', 'c', 'a']) refusals.note(peer, 'x')
    await new Promise((r) => setImmediate(r))
    // 'a' was forgotten when 'c' came, so it is logged again.
    expect(lines.map((l) => l.peer)).toEqual(['a', 'b', 'c', 'a'])
  })
})
