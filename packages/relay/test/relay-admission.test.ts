// A relay's admission rules, whose PeerId a proof speaks for, propagation
// and the spanning tree's gating and ordering (spec 12 §2, §3, §7.4, §12.4;
// 14-roles.md §14.3), against the narrow link port, without a daemon.
import { createMembershipProof, membershipProofPublicKey, ProofVerifier } from '@peertap/crypto'
import { describe, expect, it } from 'vitest'
import {
  CAP_SPANNING_TREE,
  FLAG_RECEIVE,
  FLAG_SEND,
  ForwardingTable,
  RelayAdmission,
  type RelayAdmissionInit,
  type RelayLink,
  SpanningTree,
} from '../src/index.ts'

const NOW = 600 * 3_000_000 + 10
const WINDOW = Math.floor(NOW / 600)
const TREE_CHANNEL = 8
const peer = (n: number) =>
  Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...new Array(32).fill(n)])
const PEERS: Record<string, Uint8Array> = { A: peer(0xa), B: peer(0xb), F: peer(0xf), X: peer(0x1) }
const vlanSeed = new Uint8Array(32).fill(5)
const fabricSeed = new Uint8Array(32).fill(6)
const v1 = new Uint8Array(16).fill(1)
const both = FLAG_RECEIVE | FLAG_SEND
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

function proofFor(peerId: Uint8Array, seed = vlanSeed, expiry = NOW + 300): Uint8Array {
  return createMembershipProof({ authSeed: seed, peerId, expiry, window: WINDOW, vfts: [v1] })
}

type Sent =
  | { kind: 'sub' | 'unsub'; entries: number; proof: boolean }
  | { kind: 'control'; channel: number; payload: Uint8Array }
type TestLink = RelayLink & { sent: Sent[]; refuse: boolean }

function link(id: string, role: 'node' | 'relay' = 'node', capabilities = 0): TestLink {
  const sent: Sent[] = []
  const l: TestLink = {
    id,
    sent,
    refuse: false,
    hello: { remoteRole: role, remoteCapabilities: capabilities },
    sendSubscription(sub, unsubscribe = false) {
      sent.push({
        kind: unsubscribe ? 'unsub' : 'sub',
        entries: sub.entries.length,
        proof: sub.proof !== undefined,
      })
      return true
    },
    sendControl(control) {
      if (l.refuse) return false
      sent.push({ kind: 'control', ...control })
      return true
    },
  }
  return l
}

function relay(
  options: Partial<RelayAdmissionInit<TestLink>> & { requireProofs?: boolean; allow?: string[] },
) {
  const links = new Map<string, TestLink>()
  const table = new ForwardingTable({
    admitByDefault: false,
    requireProofs: options.requireProofs ?? false,
  })
  const allowed = [...(options.allow ?? []), ...(options.relays ?? [])]
  for (const id of allowed) table.setAccess(id, 'allow')
  const events: string[] = []
  const rules = new RelayAdmission<TestLink>({
    table,
    links: { getLink: (id) => links.get(id), links: () => links.values() },
    verifier: new ProofVerifier(),
    open: false,
    relays: [],
    allowed,
    peerIdOf: (id) => PEERS[id] ?? peer(0xee),
    treeChannel: TREE_CHANNEL,
    events: {
      credentialAdmitted: (id) => events.push(`admitted ${id}`),
      credentialEnded: (id) => events.push(`ended ${id}`),
      credentialRefused: (id, reason) => events.push(`refused ${id} ${reason}`),
      entriesRefused: (id, reason, n) => events.push(`entries ${id} ${reason} ${n}`),
    },
    ...options,
  })
  const up = (l: TestLink, now = NOW) => {
    links.set(l.id, l)
    rules.linkUp(l, now)
    return l
  }
  return { rules, table, links, up, events }
}

const subs = (l: TestLink) => l.sent.filter((s) => s.kind === 'sub')

describe('RelayAdmission: closed by default (spec 14 §14.3)', () => {
  it("refuses a stranger's SUB and tells a stranger nothing; passes an allowed peer's on to the allowed", () => {
    const { up, rules, events } = relay({ allow: ['A', 'B'] })
    const a = up(link('A'))
    const b = up(link('B'))
    const x = up(link('X'))
    expect(rules.admitted('X')).toBe(false)
    rules.onSubscription({ ttl: 180, entries: [{ vft: v1, flags: both }] }, false, x, NOW)
    expect(events).toEqual(['entries X sub-not-admitted 1'])
    expect(subs(a)).toEqual([])
    rules.onSubscription({ ttl: 180, entries: [{ vft: v1, flags: both }] }, false, a, NOW)
    expect(subs(b)).toHaveLength(1)
    expect(x.sent).toEqual([])
    expect(rules.counters).toMatchObject({
      subsReceived: 2,
      subEntriesAccepted: 1,
      subEntriesRefused: 1,
    })
    // UNSUB and departure withdraw it from those that heard.
    rules.onSubscription({ ttl: 0, entries: [{ vft: v1, flags: both }] }, true, a, NOW)
    expect(b.sent.at(-1)).toMatchObject({ kind: 'unsub' })
    expect(x.sent).toEqual([])
  })
})

describe('RelayAdmission: whose PeerId a proof speaks for', () => {
  it("for the link's peer, whatever role it claims; for the subscriber only from a configured relay", () => {
    const { up, rules, table } = relay({ requireProofs: true, allow: ['A', 'X'], relays: ['R'] })
    const a = up(link('A'))
    const x = up(link('X', 'relay'))
    const r = up(link('R', 'relay'))
    const bsSub = { ttl: 180, entries: [{ vft: v1, flags: both }], proof: proofFor(PEERS.B!) }
    // A replays B's proof; X calls itself a relay and replays it: both refused.
    rules.onSubscription(bsSub, false, a, NOW)
    rules.onSubscription(bsSub, false, x, NOW)
    expect(rules.counters.proofRejections['wrong-peer']).toBe(2)
    expect(table.lookup(v1, NOW)).toEqual([])
    // A configured relay passes B's SUB on: it speaks for B.
    rules.onSubscription(bsSub, false, r, NOW)
    expect(table.lookup(v1, NOW).map((s) => s.neighbour)).toEqual(['R'])
    // A's own proof admits A's SUB.
    rules.onSubscription({ ...bsSub, proof: proofFor(PEERS.A!) }, false, a, NOW)
    expect(
      table
        .lookup(v1, NOW)
        .map((s) => s.neighbour)
        .sort(),
    ).toEqual(['A', 'R'])
  })
})

describe('RelayAdmission: fabric credentials (spec 12 §12.4)', () => {
  const fabricKeys = [hex(membershipProofPublicKey(fabricSeed)).toUpperCase()]

  it('admit the peer itself until the credential expires, then close it again', () => {
    const { up, rules, table, events } = relay({ allow: ['A'], fabricKeys })
    const a = up(link('A'))
    rules.onSubscription({ ttl: 180, entries: [{ vft: v1, flags: both }] }, false, a, NOW)
    const f = up(link('F'))
    expect(f.sent).toEqual([])
    const credential = proofFor(PEERS.F!, fabricSeed, NOW + 100)
    rules.onSubscription({ ttl: 180, entries: [], proof: credential }, false, f, NOW)
    expect(events).toEqual(['admitted F'])
    expect(rules.admitted('F')).toBe(true)
    expect(rules.credentialUntil('F')).toBe(NOW + 100)
    // Admitted: it gets the snapshot of what the others subscribed.
    expect(subs(f)).toHaveLength(1)
    rules.expire(NOW + 100)
    expect(events).toEqual(['admitted F', 'ended F'])
    expect(rules.admitted('F')).toBe(false)
    expect(table.access('F')).toBe('default')
    expect(rules.counters).toMatchObject({ credentialsAccepted: 1, credentialsEnded: 1 })
  })

  it('never from a peer claiming the relay role, nor for a proof that speaks for another peer', () => {
    const { up, rules } = relay({ fabricKeys })
    const x = up(link('X', 'relay'))
    const f = up(link('F'))
    rules.onSubscription(
      { ttl: 180, entries: [], proof: proofFor(PEERS.X!, fabricSeed) },
      false,
      x,
      NOW,
    )
    rules.onSubscription(
      { ttl: 180, entries: [], proof: proofFor(PEERS.B!, fabricSeed) },
      false,
      f,
      NOW,
    )
    expect(rules.admitted('X')).toBe(false)
    expect(rules.admitted('F')).toBe(false)
    expect(rules.counters).toMatchObject({ credentialsAccepted: 0, credentialsRefused: 1 })
  })

  it('follow the fabric epochs: a retired key ends the admissions it made at once', () => {
    const newSeed = new Uint8Array(32).fill(7)
    const newKey = hex(membershipProofPublicKey(newSeed))
    const { up, rules, table, events } = relay({ allow: ['A'], fabricKeys })
    up(link('A'))
    const f = up(link('F'))
    const b = up(link('B'))
    rules.onSubscription(
      { ttl: 180, entries: [{ vft: v1, flags: both }], proof: proofFor(PEERS.F!, fabricSeed) },
      false,
      f,
      NOW,
    )
    expect(rules.admitted('F')).toBe(true)
    expect(rules.credentialKeysOf('F')).toEqual([fabricKeys[0]!.toLowerCase()])
    expect(table.lookup(v1, NOW).map((s) => s.neighbour)).toEqual(['F'])
    // Rotation: the new key only. F, admitted under the old one, is out at
    // once, and what it subscribed to is gone from the table.
    expect(rules.setFabricKeys([newKey], NOW + 1)).toEqual(['F'])
    expect(rules.admitted('F')).toBe(false)
    expect(table.access('F')).toBe('default')
    expect(events).toEqual(['admitted F', 'ended F'])
    expect(table.lookup(v1, NOW + 1)).toEqual([])
    expect(rules.counters).toMatchObject({ credentialsEnded: 1, credentialsRetired: 1 })
    // F's old credential again: admits nothing, costs no check.
    rules.onSubscription(
      { ttl: 180, entries: [], proof: proofFor(PEERS.F!, fabricSeed) },
      false,
      f,
      NOW + 2,
    )
    expect(rules.admitted('F')).toBe(false)
    // B proves under the new key: admitted.
    rules.onSubscription(
      { ttl: 180, entries: [], proof: proofFor(PEERS.B!, newSeed) },
      false,
      b,
      NOW + 2,
    )
    expect(rules.admitted('B')).toBe(true)
    // A, on the allow list, stays whatever the keys.
    expect(rules.setFabricKeys([], NOW + 3)).toEqual(['B'])
    expect(rules.admitted('A')).toBe(true)
    expect(rules.credentialed()).toEqual([])
  })

  it("are checked at the peer's proof-check rate", () => {
    const { up, rules, events } = relay({ fabricKeys, proofChecksPerSecond: 0, proofCheckBurst: 0 })
    const f = up(link('F'))
    rules.onSubscription(
      { ttl: 180, entries: [], proof: proofFor(PEERS.F!, fabricSeed) },
      false,
      f,
      NOW,
    )
    expect(rules.admitted('F')).toBe(false)
    expect(events).toEqual(['refused F not-checked'])
  })
})

describe('RelayAdmission: the spanning tree (spec 12 §7.4)', () => {
  const R1 = '12D3KooWA'
  const R2 = '12D3KooWB'

  /** Two relays linked to each other, each with a node; tree messages delivered by `pump`. */
  function pair(options: { refuseTo2?: boolean } = {}) {
    const sides = [R1, R2].map((self) =>
      relay({ allow: ['N'], relays: [self === R1 ? R2 : R1], tree: new SpanningTree({ self }) }),
    )
    const [s1, s2] = sides as [ReturnType<typeof relay>, ReturnType<typeof relay>]
    const to2 = link(R2, 'relay', CAP_SPANNING_TREE)
    to2.refuse = options.refuseTo2 ?? false
    s1.up(to2)
    const to1 = s2.up(link(R1, 'relay', CAP_SPANNING_TREE))
    const delivered = new Map([
      [to2, 0],
      [to1, 0],
    ])
    const pump = (now: number) => {
      for (let round = 0; round < 20; round++) {
        let moved = false
        for (const [l, from, into] of [
          [to2, R1, s2],
          [to1, R2, s1],
        ] as const) {
          const pending = l.sent.slice(delivered.get(l))
          delivered.set(l, l.sent.length)
          for (const m of pending)
            if (m.kind === 'control') {
              into.rules.onTreeMessage(from, m.payload, now)
              moved = true
            }
        }
        if (!moved) return
      }
    }
    return { s1, s2, to1, to2, pump }
  }

  it('a relay-relay link starts blocked: no SUB crosses it, neither way, until it is in the tree', () => {
    const { s1, s2, to2, to1, pump } = pair()
    const n = s1.up(link('N'))
    expect(s1.rules.forwards(R2)).toBe(false)
    s1.rules.onSubscription({ ttl: 180, entries: [{ vft: v1, flags: both }] }, false, n, NOW)
    expect(subs(to2)).toEqual([])
    s2.rules.onSubscription({ ttl: 180, entries: [{ vft: v1, flags: both }] }, false, to1, NOW)
    expect(s2.rules.counters.subsBlocked).toBe(1)
    pump(NOW)
    expect(s1.rules.forwards(R2)).toBe(true)
    expect(s2.rules.forwards(R1)).toBe(true)
    // N's SUB went to R2 with the snapshot, after the tree message that put the link in the tree.
    const firstSub = to2.sent.findIndex((m) => m.kind === 'sub')
    expect(firstSub).toBeGreaterThan(0)
    expect(to2.sent.slice(0, firstSub).some((m) => m.kind === 'control')).toBe(true)
  })

  it('counts tree messages the link refused; the link stays blocked, and SUBs follow the message sent later', () => {
    const { s1, to2, pump } = pair({ refuseTo2: true })
    const n = s1.up(link('N'))
    s1.rules.onSubscription({ ttl: 180, entries: [{ vft: v1, flags: both }] }, false, n, NOW)
    pump(NOW)
    for (let t = NOW; t <= NOW + 10; t++) {
      s1.rules.treeTick(t)
      pump(t)
    }
    // Every tree message to R2 refused (queue full): counted, the link not in the tree, nothing sent.
    expect(s1.rules.counters.treeSendDropped).toBeGreaterThan(0)
    expect(s1.rules.forwards(R2)).toBe(false)
    expect(to2.sent).toEqual([])
    to2.refuse = false
    s1.rules.treeTick(NOW + 11)
    pump(NOW + 11)
    const firstSub = to2.sent.findIndex((m) => m.kind === 'sub')
    expect(firstSub).toBeGreaterThan(0)
    expect(to2.sent.slice(0, firstSub).some((m) => m.kind === 'control')).toBe(true)
  })

  it('a link that leaves the tree has what came over it withdrawn', () => {
    const { s1, s2, to1, pump } = pair()
    pump(NOW)
    s2.rules.onSubscription({ ttl: 180, entries: [{ vft: v1, flags: both }] }, false, to1, NOW)
    expect(s2.table.lookup(v1, NOW).map((s) => s.neighbour)).toEqual([R1])
    s2.links.delete(R1)
    s2.rules.linkDown(R1, NOW + 1)
    expect(s2.table.lookup(v1, NOW + 1)).toEqual([])
    expect(s1.rules.forwards(R2)).toBe(true)
  })
})
