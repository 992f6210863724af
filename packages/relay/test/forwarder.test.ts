// The forward loop both daemons run and the node's subscriber cache
// (spec 09 §5; 12-relay.md §7.4, §8.1), against the narrow link port.
import { describe, expect, it } from 'vitest'
import {
  FLAG_RECEIVE,
  FLAG_SEND,
  Forwarder,
  ForwardingTable,
  type ForwardLink,
  type Frame,
} from '../src/index.ts'

const LOCAL = '@local'
const vft = (n: number) => new Uint8Array(16).fill(n)
let serial = 0
/** A frame with its own tag (the table drops a repeated tag as a duplicate). */
const frame = (v: Uint8Array): Frame => ({
  hopLimit: 8,
  vft: v,
  sealed: new Uint8Array(100).fill(++serial % 256),
})
const both = FLAG_RECEIVE | FLAG_SEND

/** A link that records what it was sent. */
function link(id: string): ForwardLink & { sent: Frame[][] } {
  const sent: Frame[][] = []
  return {
    id,
    sent,
    sendFrames(frames) {
      sent.push([...frames])
      return frames.length
    },
  }
}

function setup(options: { forwards?: (id: string) => boolean } = {}) {
  const links = new Map([
    ['a', link('a')],
    ['b', link('b')],
    ['c', link('c')],
  ])
  const table = new ForwardingTable()
  table.setAccess(LOCAL, 'allow')
  const forwarder = new Forwarder({
    table,
    links: { getLink: (id) => links.get(id) },
    ...(options.forwards === undefined ? {} : { forwards: options.forwards }),
  })
  return { links, table, forwarder }
}

describe('Forwarder: the forward loop', () => {
  it('sends each neighbour of the fan-out its frames in one call, never back to the source', () => {
    const { links, forwarder } = setup()
    forwarder.subscribe('a', [{ vft: vft(1), flags: both }], 180, 0)
    forwarder.subscribe('b', [{ vft: vft(1), flags: both }], 180, 0)
    const frames = [frame(vft(1)), frame(vft(1)), frame(vft(2))]
    forwarder.forward('a', frames, 1)
    expect(links.get('a')!.sent).toEqual([])
    expect(links.get('b')!.sent).toEqual([[frames[0], frames[1]]])
    expect(frames[0]!.hopLimit).toBe(7)
    expect(forwarder.batch.length).toBe(1)
  })

  it('counts copies for a neighbour whose link has gone', () => {
    const { links, forwarder } = setup()
    forwarder.subscribe('b', [{ vft: vft(1), flags: both }], 180, 0)
    links.delete('b')
    forwarder.forward(LOCAL, [frame(vft(1)), frame(vft(1))], 1)
    expect(forwarder.counters.dropNoLink).toBe(2)
  })

  it('drops frames from, and sends none to, a link that does not forward (a blocked tree link)', () => {
    const blocked = new Set(['c'])
    const { links, forwarder } = setup({ forwards: (id) => !blocked.has(id) })
    forwarder.subscribe('b', [{ vft: vft(1), flags: both }], 180, 0)
    forwarder.subscribe('c', [{ vft: vft(1), flags: both }], 180, 0)
    forwarder.forward('c', [frame(vft(1))], 1)
    expect(forwarder.counters.framesBlocked).toBe(1)
    expect(links.get('b')!.sent).toEqual([])
    forwarder.forward('a', [frame(vft(1))], 1)
    expect(links.get('b')!.sent).toHaveLength(1)
    expect(links.get('c')!.sent).toEqual([])
    expect(forwarder.counters.copiesBlocked).toBe(1)
  })

  it('sends only what `select` picks (a direct path carrying the frame instead)', () => {
    const links = new Map([['b', link('b')]])
    const table = new ForwardingTable()
    const forwarder = new Forwarder({
      table,
      links: { getLink: (id) => links.get(id) },
      select: (_n, _l, frames) => frames.filter((f) => f.vft[0] !== 9),
    })
    forwarder.subscribe('b', [{ vft: vft(1), flags: both }], 180, 0)
    forwarder.subscribe('b', [{ vft: vft(9), flags: both }], 180, 0)
    const frames = [frame(vft(9)), frame(vft(1))]
    forwarder.forward('a', frames, 1)
    expect(links.get('b')!.sent).toEqual([[frames[1]]])
    forwarder.forward('a', [frame(vft(9))], 1)
    expect(links.get('b')!.sent).toHaveLength(1)
  })
})

describe('Forwarder: the subscriber cache', () => {
  it('answers per VFT object and follows subscribe, unsubscribe, removal and access', () => {
    const { forwarder } = setup()
    const v = vft(1)
    expect(forwarder.hasReceiver(v, 1)).toBe(false)
    forwarder.subscribe('b', [{ vft: v, flags: both }], 180, 1)
    expect(forwarder.hasReceiver(v, 1)).toBe(true)
    forwarder.unsubscribe('b', [{ vft: v, flags: both }])
    expect(forwarder.hasReceiver(v, 1)).toBe(false)
    forwarder.subscribe('b', [{ vft: v, flags: both }], 180, 1)
    expect(forwarder.hasReceiver(v, 1)).toBe(true)
    forwarder.removeNeighbour('b')
    expect(forwarder.hasReceiver(v, 1)).toBe(false)
    forwarder.subscribe('b', [{ vft: v, flags: both }], 180, 1)
    expect(forwarder.hasReceiver(v, 1)).toBe(true)
    forwarder.setAccess('b', 'deny')
    expect(forwarder.hasReceiver(v, 1)).toBe(false)
  })

  it('knownReceiver gives the cached answer while it is good, without a clock', () => {
    const { forwarder } = setup()
    const v = vft(1)
    expect(forwarder.knownReceiver(v)).toBeUndefined()
    forwarder.subscribe('b', [{ vft: v, flags: both }], 180, 0)
    expect(forwarder.hasReceiver(v, 1)).toBe(true)
    expect(forwarder.knownReceiver(v)).toBe(true)
    forwarder.invalidate()
    expect(forwarder.knownReceiver(v)).toBeUndefined()
  })

  it('a send-only subscription is no receiver', () => {
    const { forwarder } = setup()
    forwarder.subscribe('b', [{ vft: vft(1), flags: FLAG_SEND }], 180, 0)
    expect(forwarder.hasReceiver(vft(1), 1)).toBe(false)
  })

  // The suspected bug of issue 16: the node reaped expired subscriptions but
  // forgot the cache only when its own switch's subscriptions changed, so
  // after a neighbour's SUB expired the switch kept choosing the unicast VFT
  // (nobody holds it any more: the table drops the frame) instead of
  // flooding under the group VFT. Moved as it was, the cache kept its
  // answer (this test failed); `expire` now forgets it when it reaps any.
  it('forgets a receiver whose SUB expired, with no other change', () => {
    const { links, forwarder } = setup()
    const v = vft(1)
    forwarder.subscribe('b', [{ vft: v, flags: both }], 180, 0)
    expect(forwarder.hasReceiver(v, 10)).toBe(true)
    // B stops renewing; its SUB expires and is reaped at the next tick.
    expect(forwarder.expire(181)).toBe(1)
    expect(forwarder.hasReceiver(v, 181)).toBe(false)
    // A frame under that VFT now would reach nobody.
    forwarder.forward(LOCAL, [frame(v)], 181)
    expect(links.get('b')!.sent).toEqual([])
  })

  it('keeps its answers over an expiry that reaped nothing', () => {
    const { table, forwarder } = setup()
    const v = vft(1)
    forwarder.subscribe('b', [{ vft: v, flags: both }], 180, 0)
    expect(forwarder.hasReceiver(v, 1)).toBe(true)
    // Behind the forwarder's back (not how callers should change the table): the cached answer stays.
    table.unsubscribe('b', [{ vft: v, flags: both }])
    expect(forwarder.expire(2)).toBe(0)
    expect(forwarder.hasReceiver(v, 2)).toBe(true)
  })
})
