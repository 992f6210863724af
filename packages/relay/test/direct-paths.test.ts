// Which frames go on a punched path to a neighbour behind a relay, and which
// through the relay (spec 12-relay.md §8.1).
import { describe, expect, it } from 'vitest'
import {
  type DirectPathLink,
  type DirectPathLinks,
  DirectPaths,
  FLAG_RECEIVE,
  FLAG_SEND,
  ForwardingTable,
  type Frame,
} from '../src/index.ts'

const R = 'relay'
const B = 'node-b'
const vft = (n: number) => new Uint8Array(16).fill(n)
const frame = (v: Uint8Array, length = 100): Frame => ({
  hopLimit: 8,
  vft: v,
  sealed: new Uint8Array(length),
})

/** A link as DirectPaths reads it (the trunk's Link has these and more). */
function link(id: string, fields: Partial<DirectPathLink>): DirectPathLink {
  return {
    id,
    relayed: false,
    kind: 'stream',
    status: 'up',
    mtu: 66_000,
    hello: { remoteRole: 'node' },
    ...fields,
  }
}

/** A trunk holding relay R and node B (behind R, control link), B's path up or not. */
function setup() {
  const state = { pathUp: true }
  const relay = link(R, { hello: { remoteRole: 'relay' } })
  const control = link(B, { relayed: true })
  const path = link(B, {
    relayed: true,
    kind: 'datagram',
    mtu: 1430,
    get status() {
      return state.pathUp ? 'up' : 'down'
    },
  })
  const current = () => (state.pathUp ? path : control)
  const trunk = {
    getLink: (id: string) => (id === R ? relay : id === B ? current() : undefined),
    links: () => [relay, current()],
  } satisfies DirectPathLinks
  const table = new ForwardingTable()
  const direct = new DirectPaths(trunk, table)
  // R carries B's unicast VFT 1 and the group VFT 9 for B and others; B subscribed VFT 1 directly.
  table.subscribe(R, [{ vft: vft(1), flags: FLAG_RECEIVE | FLAG_SEND }], 180, 0)
  table.subscribe(R, [{ vft: vft(9), flags: FLAG_RECEIVE | FLAG_SEND }], 180, 0)
  table.subscribe(B, [{ vft: vft(1), flags: FLAG_RECEIVE | FLAG_SEND }], 180, 0)
  return { state, relay, direct, table, current }
}

describe('DirectPaths: a punched path to a neighbour behind a relay', () => {
  it('sends each frame once: on the path when it is up and fits, else through the relay', () => {
    const { state, relay, direct, current } = setup()
    const unicast = frame(vft(1))
    const big = frame(vft(1), 1500)
    const group = frame(vft(9))
    const all = [unicast, big, group]
    // What the table routes to each (both get VFT 1; only R gets VFT 9).
    const toRelay = direct.select(R, relay, all, 1)
    const toB = direct.select(B, current(), [unicast, big], 1)
    expect(toB).toEqual([unicast])
    expect(toRelay).toEqual([big, group])
    expect(direct.counters).toMatchObject({
      framesDirect: 1,
      relayCopiesSaved: 1,
      framesViaRelayTooLarge: 1,
    })
    // Path down: everything through the relay, nothing to B.
    state.pathUp = false
    expect(direct.select(B, current(), [unicast, big], 1)).toEqual([])
    expect(direct.select(R, relay, all, 1)).toEqual(all)
    expect(direct.counters.framesViaRelayPathDown).toBe(2)
    // Up again: direct again.
    state.pathUp = true
    expect(direct.select(B, current(), [unicast], 1)).toEqual([unicast])
    expect(direct.select(R, relay, [unicast], 1)).toEqual([])
  })

  it('counts path ups and downs, returning the links to subscribe on', () => {
    const { state, direct } = setup()
    expect(direct.refresh().map((l) => l.id)).toEqual([B])
    expect(direct.refresh()).toEqual([])
    state.pathUp = false
    expect(direct.refresh()).toEqual([])
    state.pathUp = true
    expect(direct.refresh().map((l) => l.id)).toEqual([B])
    expect(direct.counters).toMatchObject({ pathUps: 2, pathDowns: 1 })
  })

  it('refuses a direct SUB for a VFT this node holds (a group VFT)', () => {
    const { direct } = setup()
    const holds = (v: Uint8Array) => v[0] === 9
    expect(direct.accepts([vft(1)], holds)).toBe(true)
    expect(direct.accepts([vft(1), vft(9)], holds)).toBe(false)
    expect(direct.counters.subscriptionsRefused).toBe(1)
  })

  it('leaves frames to other neighbours alone when no path is up', () => {
    const { state, relay, direct } = setup()
    state.pathUp = false
    const frames = [frame(vft(1)), frame(vft(9))]
    expect(direct.select(R, relay, frames, 1)).toBe(frames)
    const node = link('node-c', {})
    expect(direct.select('node-c', node, frames, 1)).toBe(frames)
  })
})
