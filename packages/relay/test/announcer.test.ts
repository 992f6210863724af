// A node's subscriptions both ways (spec 09 §3; 12-relay.md §2, §8.1;
// 14-roles.md §14.2), against the narrow link port, without a daemon.
import { describe, expect, it } from 'vitest'
import {
  type AnnounceLink,
  DirectPaths,
  FLAG_RECEIVE,
  FLAG_SEND,
  Forwarder,
  ForwardingTable,
  NeighbourAdmission,
  SubscriptionAnnouncer,
  SubscriptionProofs,
} from '../src/index.ts'

const seedA = new Uint8Array(32).fill(1)
const seedB = new Uint8Array(32).fill(2)
const peerBytes = (n: number) =>
  Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...new Array(32).fill(n)])
const now = 600 * 3_000_000 + 30
const w = Math.floor(now / 600)
/** VFT n of VLAN `vlan` (1: seedA, 2: seedB); n < 100 unicast, else the group VFT. */
const vft = (vlan: number, n: number) => Uint8Array.from([vlan, n, ...new Array(14).fill(0)])
const describeVft = (v: Uint8Array) =>
  v[0] === 1
    ? { authSeed: seedA, window: w }
    : v[0] === 2
      ? { authSeed: seedB, window: w }
      : undefined
const both = FLAG_RECEIVE | FLAG_SEND

interface Sent {
  ttl: number
  vfts: number[][]
  proof: boolean
  unsubscribe: boolean
}
type TestLink = AnnounceLink & { sent: Sent[]; state: { relayed: boolean; path: boolean } }

/** A link as the announcer reads it; `state` flips it to a relayed control link and its punched path. */
function link(id: string, role: 'node' | 'relay' = 'node'): TestLink {
  const sent: Sent[] = []
  const state = { relayed: false, path: false }
  return {
    id,
    sent,
    state,
    get relayed() {
      return state.relayed
    },
    get kind() {
      return state.path ? ('datagram' as const) : ('stream' as const)
    },
    status: 'up',
    mtu: 1430,
    hello: { remoteRole: role },
    sendFrames: (frames) => frames.length,
    sendSubscription(sub, unsubscribe = false) {
      sent.push({
        ttl: sub.ttl,
        vfts: sub.entries.map((e) => [e.vft[0]!, e.vft[1]!]),
        proof: sub.proof !== undefined,
        unsubscribe,
      })
      return true
    },
  }
}

/** A member of VLANs 1 (held: VFTs 1/1, 1/2, group 1/100) and, if `vlans` says so, 2. */
function setup(configured: string[], vlans = [1]) {
  const links = new Map<string, TestLink>()
  const add = (l: TestLink) => {
    links.set(l.id, l)
    return l
  }
  const port = { getLink: (id: string) => links.get(id), links: () => links.values() }
  const heldVfts = new Set<string>()
  const holds = (v: Uint8Array) => heldVfts.has(`${v[0]}/${v[1]}`)
  const hold = (vlan: number, n: number) => {
    heldVfts.add(`${vlan}/${n}`)
    announcer.apply({ added: [vft(vlan, n)], removed: [] }, now)
  }
  const proofs = new SubscriptionProofs({
    peerId: peerBytes(0xa),
    describe: describeVft,
    authSeeds: () => vlans.map((n) => (n === 1 ? seedA : seedB)),
    holds,
  })
  const admission = new NeighbourAdmission({ configured: (id) => configured.includes(id), proofs })
  const table = new ForwardingTable()
  const direct = new DirectPaths(port, table)
  const forwarder = new Forwarder({ table, links: port })
  const announcer = new SubscriptionAnnouncer({
    links: port,
    local: { holds, isUnicast: (v) => holds(v) && v[1]! < 100 },
    proofs,
    admission,
    forwarder,
    direct,
    dialled: (id) => configured.includes(id),
  })
  for (const n of [1, 2, 100]) hold(1, n)
  return { links, add, announcer, admission, forwarder, table, proofs, hold }
}

/** A peer's SUB for `vfts` of VLAN `vlan`, under its proof. */
function subOf(peer: number, vlan: number, vfts: number[]) {
  const proofs = new SubscriptionProofs({
    peerId: peerBytes(peer),
    describe: describeVft,
    authSeeds: () => [seedA, seedB],
    holds: () => true,
  })
  return proofs.subscriptions(
    vfts.map((n) => vft(vlan, n)),
    both,
    180,
    now,
  )[0]!
}

describe('SubscriptionAnnouncer: ours out', () => {
  it('greets a configured peer with every held VFT under its proof, and renews only greeted links', () => {
    const { add, announcer } = setup(['b'])
    const b = add(link('b'))
    const c = add(link('c'))
    announcer.greet(b, now)
    expect(b.sent).toEqual([
      {
        ttl: 180,
        vfts: [
          [1, 1],
          [1, 2],
          [1, 100],
        ],
        proof: true,
        unsubscribe: false,
      },
    ])
    announcer.renew(now + 60)
    expect(b.sent).toHaveLength(2)
    expect(c.sent).toEqual([])
    expect(announcer.greeted('b')).toBe(true)
    expect(announcer.held).toBe(3)
  })

  it('sends a change to greeted links: SUB for the added, UNSUB for the removed', () => {
    const { add, announcer } = setup(['b'])
    const b = add(link('b'))
    announcer.greet(b, now)
    b.sent.length = 0
    announcer.apply({ added: [vft(1, 3)], removed: [vft(1, 2)] }, now)
    expect(b.sent).toEqual([
      { ttl: 180, vfts: [[1, 3]], proof: true, unsubscribe: false },
      { ttl: 0, vfts: [[1, 2]], proof: false, unsubscribe: true },
    ])
    expect(announcer.held).toBe(3)
  })

  it('splits UNSUBs at 1024 entries (spec 08 §4.3)', () => {
    const { add, announcer } = setup(['b'])
    const b = add(link('b'))
    const many = Array.from({ length: 1500 }, (_, i) =>
      Uint8Array.from([1, 1, i & 0xff, i >> 8, ...new Array(12).fill(0)]),
    )
    announcer.announce(b, many, true, now)
    expect(b.sent.map((s) => s.vfts.length)).toEqual([1024, 476])
  })

  it('sends nothing on a relayed link without a punched path; only unicast VFTs with one', () => {
    const { add, announcer } = setup(['b'])
    const b = add(link('b'))
    b.state.relayed = true
    announcer.greet(b, now)
    expect(b.sent).toEqual([])
    b.state.path = true
    announcer.refreshPaths(now)
    expect(b.sent).toEqual([
      {
        ttl: 180,
        vfts: [
          [1, 1],
          [1, 2],
        ],
        proof: true,
        unsubscribe: false,
      },
    ])
  })

  it('tells a peer admitted by proof only of the VLAN epochs it proved', () => {
    const { add, announcer, admission, hold } = setup([], [1, 2])
    hold(2, 1)
    const p = add(link('p'))
    // Not proven: nothing, not even UNSUBs.
    announcer.announceAll(p, now)
    announcer.announce(p, [vft(1, 1)], true, now)
    expect(p.sent).toEqual([])
    // Proves VLAN 1 only.
    expect(admission.prove('p', peerBytes(0xb), subOf(0xb, 1, [1]).proof!, now)).toBe('admitted')
    announcer.greet(p, now)
    expect(p.sent).toEqual([
      {
        ttl: 180,
        vfts: [
          [1, 1],
          [1, 2],
          [1, 100],
        ],
        proof: true,
        unsubscribe: false,
      },
    ])
  })
})

describe('SubscriptionAnnouncer: theirs in', () => {
  it('puts a neighbour SUB into the table and the subscriber cache follows; UNSUB and shun take it out', () => {
    const { add, announcer, forwarder } = setup(['b'])
    const b = add(link('b'))
    announcer.greet(b, now)
    const v = vft(1, 7)
    const result = announcer.receive(
      { ttl: 180, entries: [{ vft: v, flags: both }] },
      false,
      b,
      now,
    )
    expect(result).toMatchObject({ added: 1, rejected: 0 })
    expect(forwarder.hasReceiver(v, now)).toBe(true)
    announcer.receive({ ttl: 0, entries: [{ vft: v, flags: both }] }, true, b, now)
    expect(forwarder.hasReceiver(v, now)).toBe(false)
    announcer.receive({ ttl: 180, entries: [{ vft: v, flags: both }] }, false, b, now)
    announcer.shun('b')
    expect(forwarder.hasReceiver(v, now)).toBe(false)
    expect(announcer.greeted('b')).toBe(false)
  })

  it('refuses a relayed link SUB for a VFT this node holds (a group VFT), takes others', () => {
    const { add, announcer, table } = setup(['b'])
    const b = add(link('b'))
    b.state.relayed = true
    announcer.greet(b, now)
    const held = { ttl: 180, entries: [{ vft: vft(1, 100), flags: both }] }
    expect(announcer.receive(held, false, b, now)).toBeUndefined()
    expect(table.lookup(vft(1, 100), now)).toEqual([])
    const other = { ttl: 180, entries: [{ vft: vft(1, 9), flags: both }] }
    expect(announcer.receive(other, false, b, now)).toMatchObject({ added: 1 })
  })

  it('declares for a member SUB that a dialled relay passes on, not for a peer only claiming the role', () => {
    const { add, announcer } = setup(['r'])
    const r = add(link('r', 'relay'))
    const x = add(link('x', 'relay'))
    announcer.greet(r, now)
    announcer.greet(x, now)
    r.sent.length = 0
    x.sent.length = 0
    const member = subOf(0xb, 1, [5])
    announcer.receive(member, false, r, now)
    expect(r.sent).toEqual([{ ttl: 180, vfts: [[1, 5]], proof: true, unsubscribe: false }])
    announcer.receive(member, false, x, now)
    expect(x.sent).toEqual([])
  })

  it('keeps a passed-on SUB of a VLAN not yet joined, and declares for it once this node joins', () => {
    const vlans = [1]
    const { add, announcer, hold } = setup(['r'], vlans)
    const r = add(link('r', 'relay'))
    announcer.greet(r, now)
    r.sent.length = 0
    announcer.receive(subOf(0xb, 2, [5]), false, r, now)
    expect(r.sent).toEqual([])
    vlans.push(2)
    hold(2, 1)
    expect(r.sent).toContainEqual({ ttl: 180, vfts: [[2, 5]], proof: true, unsubscribe: false })
  })
})
