// Whom a node deals with, over time (spec 14-roles.md §14.2), and local
// delivery at a node (spec 09 §5), against the narrow ports.
import { describe, expect, it } from 'vitest'
import {
  type AnnounceLink,
  DirectPaths,
  FLAG_RECEIVE,
  FLAG_SEND,
  Forwarder,
  ForwardingTable,
  type Frame,
  NeighbourAdmission,
  NodeNeighbours,
  SubscriptionAnnouncer,
  SubscriptionProofs,
} from '../src/index.ts'

const seedA = new Uint8Array(32).fill(1)
const peerBytes = (n: number) =>
  Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...new Array(32).fill(n)])
const PEERS: Record<string, Uint8Array> = { c: peerBytes(0xc), p: peerBytes(0xd) }
const now = 600 * 3_000_000 + 30
const w = Math.floor(now / 600)
const vft = (n: number) => Uint8Array.from([1, n, ...new Array(14).fill(0)])
const both = FLAG_RECEIVE | FLAG_SEND

type TestLink = AnnounceLink & { subs: number; frames: Frame[] }
function link(id: string): TestLink {
  const l: TestLink = {
    id,
    subs: 0,
    frames: [],
    relayed: false,
    kind: 'stream',
    status: 'up',
    mtu: 66_000,
    hello: { remoteRole: 'node' },
    sendFrames(frames) {
      l.frames.push(...frames)
      return frames.length
    },
    sendSubscription() {
      l.subs++
      return true
    },
  }
  return l
}

/** A member of VLAN 1 holding VFT 1/1; the config names 'c'. */
function setup() {
  const links = new Map<string, TestLink>()
  const port = { getLink: (id: string) => links.get(id), links: () => links.values() }
  const holds = (v: Uint8Array) => v[0] === 1 && v[1] === 1
  const proofs = new SubscriptionProofs({
    peerId: peerBytes(0xa),
    describe: (v) => (v[0] === 1 ? { authSeed: seedA, window: w } : undefined),
    authSeeds: () => [seedA],
    holds,
  })
  const admission = new NeighbourAdmission({ configured: (id) => id === 'c', proofs })
  const table = new ForwardingTable({ admitByDefault: false })
  const forwarder = new Forwarder({ table, links: port })
  const announcer = new SubscriptionAnnouncer({
    links: port,
    local: { holds, isUnicast: () => true },
    proofs,
    admission,
    forwarder,
    direct: new DirectPaths(port, table),
    dialled: () => false,
  })
  announcer.apply({ added: [vft(1)], removed: [] }, now)
  const events: string[] = []
  const neighbours = new NodeNeighbours({
    admission,
    announcer,
    peerIdOf: (id) => PEERS[id] ?? peerBytes(0xee),
    events: {
      greeting: (l) => events.push(`greeting ${l.id}`),
      greeted: (l) => events.push(`greeted ${l.id}`),
    },
  })
  const up = (id: string) => {
    const l = link(id)
    links.set(id, l)
    return l
  }
  return { neighbours, admission, announcer, forwarder, table, events, up }
}

/** A SUB from `peer` under its proof of VLAN 1. */
function provedSub(peer: Uint8Array) {
  return new SubscriptionProofs({
    peerId: peer,
    describe: () => ({ authSeed: seedA, window: w }),
    authSeeds: () => [seedA],
    holds: () => true,
  }).subscriptions([vft(2)], both, 180, now)[0]!
}

describe('NodeNeighbours: whom a node deals with', () => {
  it('greets a configured peer once: events around our SUBs', () => {
    const { neighbours, events, up } = setup()
    const c = up('c')
    expect(neighbours.dealsWith(c, now)).toBe(true)
    expect(neighbours.dealsWith(c, now)).toBe(true)
    expect(events).toEqual(['greeting c', 'greeted c'])
    expect(c.subs).toBe(1)
    expect(neighbours.standing('c')).toBe('config')
  })

  it('sends a stranger nothing, takes none of its SUBs, and asks again at most once a second', () => {
    const { neighbours, admission, table, up } = setup()
    const x = up('x')
    expect(neighbours.dealsWith(x, now)).toBe(false)
    const sub = { ttl: 180, entries: [{ vft: vft(3), flags: both }] }
    expect(neighbours.onSubscription(sub, false, x, now)).toBe('not-admitted')
    expect(table.lookup(vft(3), now)).toEqual([])
    expect(x.subs).toBe(0)
    expect(neighbours.standing('x')).toBe('stranger')
    // Admitted meanwhile (an MLS add would do it): not asked again within the second.
    let admitted = false
    const admits = admission.admits.bind(admission)
    admission.admits = (id, t) => (id === 'x' && admitted) || admits(id, t)
    admitted = true
    expect(neighbours.dealsWith(x, now + 0.5)).toBe(false)
    expect(neighbours.dealsWith(x, now + 1)).toBe(true)
  })

  it('admits a stranger by a proof of one of our VLAN epochs, at once; shuns it when the proof lapses', () => {
    const { neighbours, forwarder, up } = setup()
    const p = up('p')
    expect(neighbours.dealsWith(p, now)).toBe(false)
    const result = neighbours.onSubscription(provedSub(PEERS.p!), false, p, now)
    expect(result).toMatchObject({ added: 1 })
    expect(neighbours.standing('p')).toBe('proof')
    expect(p.subs).toBe(1)
    expect(forwarder.hasReceiver(vft(2), now)).toBe(true)
    const ended = neighbours.expire(now + 3600)
    expect(ended).toEqual([{ id: 'p', reason: 'proof-lapsed' }])
    expect(neighbours.standing('p')).toBe('stranger')
    expect(forwarder.hasReceiver(vft(2), now)).toBe(false)
  })

  it("refuses another peer's proof replayed by a stranger", () => {
    const { neighbours, up } = setup()
    const x = up('x')
    expect(neighbours.onSubscription(provedSub(PEERS.p!), false, x, now)).toBe('not-admitted')
  })

  it('sends all its SUBs again, once, on the first SUB of a peer it greeted before that peer dealt with it', () => {
    const { neighbours, up } = setup()
    const c = up('c')
    neighbours.dealsWith(c, now)
    expect(c.subs).toBe(1)
    // c dropped that SUB (it did not deal with us yet); its own first SUB says it does now.
    const sub = { ttl: 180, entries: [{ vft: vft(3), flags: both }] }
    neighbours.onSubscription(sub, false, c, now)
    expect(c.subs).toBe(2)
    neighbours.onSubscription(sub, false, c, now + 60)
    expect(c.subs).toBe(2)
    // Shunned and greeted again (its link went down and came back): once more.
    neighbours.linkDown('c')
    neighbours.dealsWith(c, now + 61)
    neighbours.onSubscription(sub, false, c, now + 61)
    expect(c.subs).toBe(4)
  })

  it('greets on the tick a peer admitted since it last sent anything (an MLS add)', () => {
    const { neighbours, admission, events, up } = setup()
    const x = up('x')
    expect(neighbours.dealsWith(x, now)).toBe(false)
    let admitted = false
    const admits = admission.admits.bind(admission)
    admission.admits = (id, t) => (id === 'x' && admitted) || admits(id, t)
    neighbours.greetAdmitted([x], now + 1)
    expect(events).toEqual([])
    admitted = true
    neighbours.greetAdmitted([x], now + 2)
    expect(events).toEqual(['greeting x', 'greeted x'])
    neighbours.greetAdmitted([x], now + 3)
    expect(events).toHaveLength(2)
  })

  it('forgets a peer whose link went down', () => {
    const { neighbours, announcer, up } = setup()
    const c = up('c')
    neighbours.dealsWith(c, now)
    neighbours.linkDown('c')
    expect(announcer.greeted('c')).toBe(false)
  })
})

describe('Forwarder.deliver: local delivery at a node', () => {
  it('opens frames under VFTs it holds whatever their hop limit, and forwards every frame on', () => {
    const { forwarder, table, up } = setup()
    const b = up('b')
    table.setAccess('a', 'allow')
    table.setAccess('b', 'allow')
    forwarder.subscribe('b', [{ vft: vft(1), flags: both }], 180, now)
    const opened: Frame[] = []
    const local = {
      holds: (v: Uint8Array) => v[1] === 1,
      receive: (f: Frame[]) => opened.push(...f),
    }
    const last: Frame = { hopLimit: 1, vft: vft(1), sealed: new Uint8Array(50).fill(1) }
    const other: Frame = { hopLimit: 8, vft: vft(1), sealed: new Uint8Array(70).fill(2) }
    expect(forwarder.deliver('a', [last, other], now, local, true)).toEqual({ held: 2, bytes: 120 })
    expect(opened).toEqual([last, other])
    // The hop limit ends forwarding, not delivery: only `other` goes on.
    expect(b.frames).toEqual([other])
    // With one neighbour, nothing goes on.
    forwarder.deliver('a', [{ ...other, sealed: new Uint8Array(70).fill(3) }], now, local, false)
    expect(b.frames).toHaveLength(1)
    expect(forwarder.batch.length).toBe(0)
  })
})
