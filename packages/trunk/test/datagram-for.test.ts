import { afterEach, describe, expect, it } from 'vitest'
import type { Trunk } from '../src/index.ts'
import { startTrunk, until } from './helpers.ts'

function tcpAddress(t: Trunk): string {
  const ma = t.getMultiaddrs().find((m) => m.toString().includes('/tcp/'))
  if (ma === undefined) throw new Error('no TCP address')
  return `${ma.toString()}`
}

describe('datagramFor: a datagram link only for neighbours the daemon deals with (docs/spec/14-roles.md §14.2)', () => {
  const nodes: Trunk[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
  })

  it('offers a stranger nothing; a neighbour admitted later gets the link, and the offer it sent meanwhile is taken', async () => {
    let admitted = false
    const a = await startTrunk(
      'tcp',
      { datagram: { host: '127.0.0.1' }, datagramFor: () => admitted },
      nodes,
    )
    const b = await startTrunk('tcp', { datagram: { host: '127.0.0.1' } }, nodes)
    const link = await b.dial(tcpAddress(a))
    const aId = a.peerId.toString()
    const bId = b.peerId.toString()
    await until(() => a.getLink(bId) !== undefined, 5000, 'the link at a')
    // b offered at once; a, which does not deal with b, set nothing up and offered nothing.
    await until(() => (b.getDatagramLink(aId)?.counters.offersSent ?? 0) === 1, 5000, "b's offer")
    await new Promise((r) => setTimeout(r, 300))
    expect(a.getDatagramLink(bId)).toBeUndefined()
    expect(b.getDatagramLink(aId)?.counters.offersReceived).toBe(0)
    expect(b.getDatagramLink(aId)?.state).toBe('offered')
    // a admits b: the link comes up both ways without b offering again.
    admitted = true
    expect(a.protocol.startDatagram(bId)).toBe(true)
    expect(a.protocol.startDatagram(bId)).toBe(false)
    await until(
      () => a.getDatagramLink(bId)?.state === 'up' && b.getDatagramLink(aId)?.state === 'up',
      5000,
      'the datagram path both ways',
    )
    expect(b.getDatagramLink(aId)?.counters.offersSent).toBe(1)
    expect(a.getLink(bId)?.kind).toBe('datagram')
    expect(link.status).toBe('up')
  })
})
