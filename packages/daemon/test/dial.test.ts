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
    const dialler = new Dialler(trunk, pino({ level: 'silent' }), 20)
    dialler.add(A)
    dialler.add(A)
    await wait(70)
    const first = dials.filter((d) => d === A).length
    expect(first).toBeGreaterThanOrEqual(2)
    // Adding it again started no second loop: about one dial per interval.
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
})
