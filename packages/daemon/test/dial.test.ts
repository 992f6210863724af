import type { Trunk } from '@peertap/trunk'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { Dialler } from '../src/index.ts'

/** A trunk that records dials and whose links come up when told. */
function recordingTrunk() {
  const dials: string[] = []
  const up = new Set<string>()
  const trunk = {
    getLink: (peer: string) => (up.has(peer) ? { status: 'up' } : undefined),
    dial: async (address: string) => {
      dials.push(address)
      throw new Error('unreachable')
    },
  } as unknown as Trunk
  return { trunk, dials, up }
}

const A = '/ip4/10.0.0.1/tcp/7400/p2p/12D3KooWA'
const B = '/ip4/10.0.0.2/tcp/7400/p2p/12D3KooWB'
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('Dialler', () => {
  it('dials an address added at run time until its link is up, and stops when it is removed', async () => {
    const { trunk, dials, up } = recordingTrunk()
    // Waits of 5, 10, 20 and then 40 ms: dials at about 0, 5, 15, 35 and 75 ms.
    const dialler = new Dialler(trunk, pino({ level: 'silent' }), 40)
    dialler.add(A)
    dialler.add(A)
    await wait(70)
    const first = dials.filter((d) => d === A).length
    expect(first).toBeGreaterThanOrEqual(2)
    // Adding it again started no second loop (which would have made 8).
    expect(first).toBeLessThanOrEqual(5)
    up.add('12D3KooWA')
    await wait(30)
    const whileUp = dials.length
    await wait(60)
    expect(dials.length).toBe(whileUp)
    dialler.add(B)
    await wait(30)
    expect(dials).toContain(B)
    expect(dialler.addresses()).toEqual([A, B])
    dialler.remove(B)
    await wait(30)
    const afterRemove = dials.length
    await wait(60)
    expect(dials.length).toBe(afterRemove)
    expect(dialler.addresses()).toEqual([A])
    dialler.stop()
    expect(dialler.addresses()).toEqual([])
  })

  it('redials a refused neighbour after an eighth of the interval, doubling up to the interval, and from the start again after its link was up', async () => {
    const times: number[] = []
    let up = false
    const trunk = {
      getLink: () => (up ? { status: 'up' } : undefined),
      dial: async () => {
        times.push(performance.now())
        throw new Error('refused')
      },
    } as unknown as Trunk
    const dialler = new Dialler(trunk, pino({ level: 'silent' }), 160)
    dialler.add(A)
    await wait(20 + 40 + 80 + 160 + 160 + 60)
    const gaps = times.slice(1).map((t, i) => t - times[i]!)
    // 20, 40, 80, 160, 160 ms (timers fire late, never early).
    expect(gaps.length).toBeGreaterThanOrEqual(4)
    for (const [i, want] of [20, 40, 80, 160].entries()) {
      expect(gaps[i]).toBeGreaterThanOrEqual(want - 1)
      expect(gaps[i]).toBeLessThan(want + 100)
    }
    // Up for a while, then down: the next waits start at 20 ms again.
    up = true
    await wait(400)
    const before = times.length
    up = false
    await wait(160 + 20 + 40 + 30)
    const again = times.slice(before)
    expect(again.length).toBeGreaterThanOrEqual(3)
    expect(again[1]! - again[0]!).toBeLessThan(20 + 100)
    expect(again[2]! - again[1]!).toBeGreaterThanOrEqual(40 - 1)
    dialler.stop()
  })
})
