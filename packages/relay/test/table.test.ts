// Scenarios of the forwarding table, one rule each (docs/spec/09-forwarding.md).
import { describe, expect, it } from 'vitest'
import {
  FLAG_RECEIVE,
  FLAG_SEND,
  ForwardingTable,
  type ForwardingTableOptions,
  type Frame,
  RelayError,
  RouteBatch,
} from '../src/index.ts'

const NOW = 10_000
const R = FLAG_RECEIVE
const S = FLAG_SEND
let tagSerial = 1

function vft(n: number): Uint8Array {
  const v = new Uint8Array(16)
  new DataView(v.buffer).setUint32(12, n)
  v[0] = 0xa5
  return v
}

/** A frame with a fresh tag (or the given one), `length` sealed bytes. */
function frame(v: Uint8Array, hopLimit = 8, length = 64, tag = tagSerial++): Frame {
  const sealed = new Uint8Array(length)
  new DataView(sealed.buffer).setUint32(length - 4, tag)
  return { hopLimit, vft: v, sealed }
}

/** Neighbour -> frame indices of one route call. */
function route(
  table: ForwardingTable,
  from: string,
  frames: Frame[],
  now = NOW,
): Record<string, number[]> {
  const out = table.route(from, frames, now, new RouteBatch())
  const got: Record<string, number[]> = {}
  for (let d = 0; d < out.length; d++) {
    const o = out.outputs[d]!
    got[o.neighbour] = [...o.frames.subarray(0, o.count)]
  }
  return got
}

function table(options: ForwardingTableOptions = {}): ForwardingTable {
  return new ForwardingTable(options)
}

describe('subscriptions', () => {
  it('subscribe, refresh, expire and unsubscribe', () => {
    const t = table()
    const v = vft(1)
    expect(t.subscribe('b', [{ vft: v, flags: R }], 60, NOW)).toEqual({
      added: 1,
      refreshed: 0,
      rejected: 0,
    })
    expect(t.lookup(v)).toEqual([{ neighbour: 'b', flags: R, expiresAt: NOW + 60 }])
    // A refresh renews the TTL and replaces the flags; no second subscription.
    expect(t.subscribe('b', [{ vft: v, flags: R | S }], 60, NOW + 50).refreshed).toBe(1)
    expect(t.subscriptionCount).toBe(1)
    expect(t.lookup(v)).toEqual([{ neighbour: 'b', flags: R | S, expiresAt: NOW + 110 }])
    // Live until expiresAt, exclusive.
    expect(route(t, 'a', [frame(v)], NOW + 109)).toEqual({ b: [0] })
    expect(route(t, 'a', [frame(v)], NOW + 110)).toEqual({})
    expect(t.counters.frameDrops['no-subscriber']).toBe(1)
    expect(t.lookup(v, NOW + 110)).toEqual([])
    expect(t.expire(NOW + 109)).toBe(0)
    expect(t.expire(NOW + 110)).toBe(1)
    expect(t.subscriptionCount).toBe(0)
    expect(t.vftCount).toBe(0)
    expect(t.counters.subscriptionsExpired).toBe(1)

    // UNSUB clears flags; a subscription without flags is gone.
    t.subscribe('b', [{ vft: v, flags: R | S }], 60, NOW)
    expect(t.unsubscribe('b', [{ vft: v, flags: S }])).toBe(0)
    expect(t.lookup(v)[0]!.flags).toBe(R)
    expect(t.unsubscribe('c', [{ vft: v, flags: R }])).toBe(0) // only its own
    expect(t.unsubscribe('b', [{ vft: v, flags: R }])).toBe(1)
    expect(t.lookup(v)).toEqual([])
    expect(t.counters.subscriptionsRemoved).toBe(1)
  })

  it('refuses bad TTLs, flags and VFTs, and counts them', () => {
    const t = table({ maxTtlSeconds: 100 })
    for (const ttl of [0, -1, 101, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(t.subscribe('b', [{ vft: vft(1), flags: R }], ttl, NOW).reason).toBe('sub-ttl-invalid')
    }
    expect(t.counters.subscriptionDrops['sub-ttl-invalid']).toBe(5)
    const bad = [
      { vft: vft(1), flags: 0 },
      { vft: vft(1), flags: 4 },
      { vft: new Uint8Array(15), flags: R },
    ]
    expect(t.subscribe('b', bad, 60, NOW)).toEqual({
      added: 0,
      refreshed: 0,
      rejected: 3,
      reason: 'sub-malformed',
    })
    expect(t.subscribe('b', [{ vft: vft(1), flags: R }], 60, NOW, new Uint8Array(31)).reason).toBe(
      'sub-malformed',
    )
    expect(t.subscriptionCount).toBe(0)
  })

  it('holds a per-neighbour subscription limit, a table limit and a neighbour limit', () => {
    const t = table({ limits: { maxSubscriptions: 3 }, maxSubscriptions: 5, maxNeighbours: 2 })
    const entries = [1, 2, 3, 4].map((n) => ({ vft: vft(n), flags: R }))
    const first = t.subscribe('a', entries, 60, NOW)
    expect(first).toMatchObject({ added: 3, rejected: 1, reason: 'sub-limit' })
    // Refreshing what it holds is not a new subscription.
    expect(t.subscribe('a', entries.slice(0, 3), 60, NOW)).toMatchObject({
      refreshed: 3,
      rejected: 0,
    })
    expect(t.subscribe('b', entries, 60, NOW)).toMatchObject({ added: 2, reason: 'sub-table-full' })
    expect(t.subscribe('c', entries, 60, NOW).reason).toBe('sub-neighbour-limit')
    expect(route(t, 'c', [frame(vft(1))])).toEqual({})
    expect(t.counters.frameDrops['neighbour-limit']).toBe(1)
    expect(t.counters.subscriptionDrops).toMatchObject({
      'sub-limit': 1,
      'sub-table-full': 2,
      'sub-neighbour-limit': 4,
    })
    // A departed neighbour frees its slots for others.
    t.removeNeighbour('a')
    expect(t.subscriptionCount).toBe(2)
    expect(t.counters.subscriptionsEvicted).toBe(3)
    expect(t.subscribe('c', entries, 60, NOW)).toMatchObject({ added: 3 })
  })

  it('keeps memory bounded under a SUB storm', () => {
    const t = table({ limits: { maxSubscriptions: 500 }, maxSubscriptions: 2_000 })
    let n = 0
    for (let round = 0; round < 40; round++) {
      const now = NOW + round * 100
      for (const peer of ['a', 'b', 'c', 'd', 'e', 'f']) {
        const entries = Array.from({ length: 1_000 }, () => ({ vft: vft(n++), flags: R }))
        t.subscribe(peer, entries, 50, now)
      }
      expect(t.subscriptionCount).toBeLessThanOrEqual(2_000)
      for (const peer of ['a', 'b', 'c', 'd', 'e', 'f']) {
        expect(t.neighbourStats(peer)!.subscriptions).toBeGreaterThanOrEqual(Math.floor(2_000 / 6))
      }
      t.expire(now + 50)
      expect(t.subscriptionCount).toBe(0)
    }
    expect(t.vftCount).toBe(0)
    // Records are reused: capacity never passes the table limit's power of two.
    expect(t.subscriptionCapacity).toBeLessThanOrEqual(2_048)
    // e and f, below their fair share of the full table, took records from
    // the others (spec §7); every round still ends with 2,000 held.
    const { subscriptionsAdded: added, subscriptionsDisplaced: displaced } = t.counters
    expect(displaced).toBeGreaterThan(0)
    expect(added - displaced).toBe(40 * 2_000)
    expect(
      t.counters.subscriptionDrops['sub-limit'] + t.counters.subscriptionDrops['sub-table-full'],
    ).toBe(40 * 6_000 - added)
  })
  it('finds every VFT through growth and removals, which move entries in the index', () => {
    // Entries live in the index's slots: a rehash moves all of them, and a
    // removal shifts the entries after it back. Check each VFT's
    // subscribers against a plain model after each step.
    let seed = 7
    const random = () => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0
      return seed / 2 ** 32
    }
    const peers = ['a', 'b', 'c']
    const t = table({ limits: { maxSubscriptions: Number.POSITIVE_INFINITY } })
    const model = new Map<number, Set<string>>()
    const check = () => {
      expect(t.vftCount).toBe([...model.values()].filter((set) => set.size > 0).length)
      for (const [n, set] of model) {
        const got = t.lookup(vft(n)).map((sub) => sub.neighbour)
        expect(got.sort(), `VFT ${n}`).toEqual([...set].sort())
        const sent = route(t, 'source', [frame(vft(n))])
        expect(Object.keys(sent).sort(), `VFT ${n} routed`).toEqual([...set].sort())
      }
    }
    for (let n = 0; n < 3_000; n++) {
      const set = new Set<string>()
      for (const peer of peers) {
        if (random() < 0.5 || (peer === 'c' && set.size === 0)) {
          t.subscribe(peer, [{ vft: vft(n), flags: R }], 60, NOW)
          set.add(peer)
        }
      }
      model.set(n, set)
    }
    check()
    for (let round = 0; round < 3; round++) {
      for (const [n, set] of model) {
        for (const peer of [...set]) {
          if (random() < 0.4) {
            t.unsubscribe(peer, [{ vft: vft(n), flags: R }])
            set.delete(peer)
          }
        }
      }
      check()
      for (let n = 3_000 + round * 500; n < 3_500 + round * 500; n++) {
        t.subscribe('a', [{ vft: vft(n), flags: R }], 60, NOW)
        model.set(n, new Set(['a']))
      }
      check()
    }
    for (const [n, set] of model)
      for (const peer of set) t.unsubscribe(peer, [{ vft: vft(n), flags: R }])
    expect(t.vftCount).toBe(0)
    expect(t.subscriptionCount).toBe(0)
  })
})

describe('routing', () => {
  it('fans out to every receiver but the source (split horizon), each once', () => {
    const t = table()
    const v = vft(1)
    for (const peer of ['a', 'b', 'c']) t.subscribe(peer, [{ vft: v, flags: R }], 60, NOW)
    const frames = [frame(v), frame(vft(2)), frame(v)]
    expect(route(t, 'a', frames)).toEqual({ b: [0, 2], c: [0, 2] })
    expect(route(t, 'd', [frame(v)])).toEqual({ a: [0], b: [0], c: [0] })
    // The same neighbour under two keys still gets one copy.
    t.subscribe('b', [{ vft: v, flags: R }], 60, NOW, new Uint8Array(32).fill(9))
    expect(route(t, 'a', [frame(v)])).toEqual({ b: [0], c: [0] })
    expect(t.counters).toMatchObject({ framesIn: 5, framesForwarded: 4, copiesOut: 9 })
    expect(t.counters.frameDrops['no-subscriber']).toBe(1)
  })

  it('decrements the hop limit and drops frames that arrive with 1 or 0', () => {
    const t = table()
    const v = vft(1)
    t.subscribe('b', [{ vft: v, flags: R }], 60, NOW)
    const frames = [
      frame(v, 2),
      frame(v, 1),
      frame(v, 0),
      frame(v, 255),
      frame(v, 256),
      frame(v, 2.5),
    ]
    expect(route(t, 'a', frames)).toEqual({ b: [0, 3] })
    expect(frames.map((f) => f.hopLimit)).toEqual([1, 1, 0, 254, 256, 2.5])
    expect(t.counters.frameDrops['hop-limit']).toBe(2)
    expect(t.counters.frameDrops.malformed).toBe(2)
  })

  it('drops frames by size before looking them up', () => {
    const t = table({ maxSealedLength: 1_000 })
    const v = vft(1)
    t.subscribe('b', [{ vft: v, flags: R }], 60, NOW)
    const frames = [frame(v, 8, 27), frame(v, 8, 26), frame(v, 8, 1_000), frame(v, 8, 1_001)]
    frames.push({ hopLimit: 8, vft: new Uint8Array(17), sealed: new Uint8Array(64) })
    expect(route(t, 'a', frames)).toEqual({ b: [0, 2] })
    expect(t.counters.frameDrops).toMatchObject({ malformed: 2, 'too-large': 1 })
    expect(t.counters.bytesIn).toBe(27 + 26 + 1_000 + 1_001 + 64)
  })

  it('gives send-only subscribers nothing, and needs no send flag without proofs', () => {
    const t = table()
    const v = vft(1)
    t.subscribe('b', [{ vft: v, flags: S }], 60, NOW)
    t.subscribe('c', [{ vft: v, flags: R }], 60, NOW)
    expect(route(t, 'a', [frame(v)])).toEqual({ c: [0] })
    expect(route(t, 'c', [frame(v)])).toEqual({})
  })

  it('reuses a RouteBatch without stale outputs', () => {
    const t = table()
    t.subscribe('b', [{ vft: vft(1), flags: R }], 60, NOW)
    t.subscribe('c', [{ vft: vft(2), flags: R }], 60, NOW)
    const out = new RouteBatch()
    const many = Array.from({ length: 100 }, () => frame(vft(1)))
    t.route('a', many, NOW, out)
    expect(out.length).toBe(1)
    expect(out.outputs[0]!.count).toBe(100)
    t.route('a', [frame(vft(2))], NOW, out)
    expect(out.length).toBe(1)
    expect(out.outputs[0]).toMatchObject({ neighbour: 'c', count: 1 })
    expect(out.outputs[0]!.frames[0]).toBe(0)
    t.route('a', [frame(vft(3))], NOW, out)
    expect(out).toMatchObject({ length: 0, forwarded: 0, dropped: 1, copies: 0 })
    // Only the first `count` frames are read.
    t.route(
      'a',
      Array.from({ length: 10 }, () => frame(vft(1))),
      NOW,
      out,
      3,
    )
    expect(out.outputs[0]!.count).toBe(3)
  })

  it('never throws on garbage frames', () => {
    const t = table({ requireProofs: true })
    t.subscribe('b', [{ vft: vft(1), flags: R | S }], 60, NOW, new Uint8Array(32))
    const junk: Frame[] = [
      { hopLimit: Number.NaN, vft: vft(1), sealed: new Uint8Array(64) },
      { hopLimit: -5, vft: new Uint8Array(0), sealed: new Uint8Array(0) },
      { hopLimit: 8, vft: vft(1), sealed: new Uint8Array(0) },
      { hopLimit: 8, vft: vft(1), sealed: new Uint8Array(1 << 20) },
    ]
    expect(() => route(t, 'b', junk)).not.toThrow()
    expect(t.counters.frameDrops).toMatchObject({ malformed: 3, 'too-large': 1 })
  })
})

describe('membership proofs', () => {
  const k1 = new Uint8Array(32).fill(1)
  const k2 = new Uint8Array(32).fill(2)

  it('keeps two keys on one VFT apart', () => {
    const t = table({ requireProofs: true })
    const v = vft(1)
    t.subscribe('a1', [{ vft: v, flags: R | S }], 60, NOW, k1)
    t.subscribe('b1', [{ vft: v, flags: R | S }], 60, NOW, k1)
    t.subscribe('a2', [{ vft: v, flags: R | S }], 60, NOW, k2) // a squatter with its own key
    t.subscribe('b2', [{ vft: v, flags: R }], 60, NOW, k2)
    expect(route(t, 'a1', [frame(v)])).toEqual({ b1: [0] })
    expect(route(t, 'a2', [frame(v)])).toEqual({ b2: [0] })
    expect(t.lookup(v).map((s) => s.provingKey?.[0])).toEqual(expect.arrayContaining([1, 1, 2, 2]))
  })

  it('drops frames from a peer that did not prove the key, and counts why', () => {
    const t = table({ requireProofs: true })
    const v = vft(1)
    t.subscribe('b', [{ vft: v, flags: R }], 60, NOW, k1)
    // Without a proof a SUB is refused outright.
    expect(t.subscribe('x', [{ vft: v, flags: R | S }], 60, NOW).reason).toBe('sub-no-proof')
    expect(route(t, 'x', [frame(v)])).toEqual({})
    expect(t.counters.frameDrops['no-proof']).toBe(1)
    // Receive-only under the key is no leave to send: the send flag is.
    t.subscribe('r', [{ vft: v, flags: R }], 60, NOW, k1)
    expect(route(t, 'r', [frame(v)])).toEqual({})
    expect(t.counters.frameDrops['no-proof']).toBe(2)
    // Proved, but under another key than every receiver's.
    t.subscribe('y', [{ vft: v, flags: S }], 60, NOW, k2)
    expect(route(t, 'y', [frame(v)])).toEqual({})
    expect(t.counters.frameDrops['proof-mismatch']).toBe(1)
    // A send subscription under the receivers' key works; an expired one does not.
    t.subscribe('s', [{ vft: v, flags: S }], 60, NOW, k1)
    expect(route(t, 's', [frame(v)])).toEqual({ b: [0], r: [0] })
    expect(route(t, 's', [frame(v)], NOW + 60)).toEqual({})
  })
})

describe('access lists', () => {
  it('gives a denied peer nothing and takes nothing from it', () => {
    const t = table()
    const v = vft(1)
    t.subscribe('bad', [{ vft: v, flags: R }], 60, NOW)
    t.subscribe('good', [{ vft: v, flags: R }], 60, NOW)
    t.setAccess('bad', 'deny')
    expect(t.lookup(v).map((s) => s.neighbour)).toEqual(['good'])
    expect(t.counters.subscriptionsEvicted).toBe(1)
    expect(route(t, 'a', [frame(v)])).toEqual({ good: [0] })
    expect(route(t, 'bad', [frame(v), frame(v)])).toEqual({})
    expect(t.counters.frameDrops.denied).toBe(2)
    expect(t.subscribe('bad', [{ vft: v, flags: R }], 60, NOW).reason).toBe('sub-denied')
    expect(route(t, 'a', [frame(v)])).toEqual({ good: [0] })
    t.setAccess('bad', 'default')
    expect(t.subscribe('bad', [{ vft: v, flags: R }], 60, NOW).added).toBe(1)
  })

  it('admits only the allow list when admission is closed', () => {
    const t = table({ admitByDefault: false })
    const v = vft(1)
    expect(t.subscribe('b', [{ vft: v, flags: R }], 60, NOW).reason).toBe('sub-not-admitted')
    t.setAccess('b', 'allow')
    t.setAccess('a', 'allow')
    t.subscribe('b', [{ vft: v, flags: R }], 60, NOW)
    expect(route(t, 'a', [frame(v)])).toEqual({ b: [0] })
    expect(route(t, 'stranger', [frame(v)])).toEqual({})
    expect(t.counters.frameDrops['not-admitted']).toBe(1)
    t.setAccess('b', 'default') // leaves the allow list: state goes
    expect(t.neighbourCount).toBe(1)
    expect(route(t, 'a', [frame(v)])).toEqual({})
  })
})

describe('duplicates', () => {
  it('drops a frame that loops around three relays', () => {
    const v = vft(1)
    // r1 -> r2 -> r3 -> r1, each relay subscribed at the previous one.
    const relays = { r1: table(), r2: table(), r3: table() }
    relays.r1.subscribe('r2', [{ vft: v, flags: R }], 60, NOW)
    relays.r2.subscribe('r3', [{ vft: v, flags: R }], 60, NOW)
    relays.r3.subscribe('r1', [{ vft: v, flags: R }], 60, NOW)
    const looping = frame(v, 255)
    let at: keyof typeof relays = 'r1'
    let from = 'node'
    let hops = 0
    for (;;) {
      const got = route(relays[at], from, [looping])
      const next = Object.keys(got)[0] as keyof typeof relays | undefined
      if (next === undefined) break
      from = at
      at = next
      hops++
    }
    expect(hops).toBe(3) // back at r1, which had forwarded it: dropped
    expect(at).toBe('r1')
    expect(relays.r1.counters.frameDrops.duplicate).toBe(1)
    expect(looping.hopLimit).toBe(252)
  })

  it('drops a repeat inside one batch and takes back its fan-out', () => {
    const t = table()
    t.subscribe('b', [{ vft: vft(1), flags: R }], 60, NOW)
    t.subscribe('c', [{ vft: vft(1), flags: R }], 60, NOW)
    const f = frame(vft(1))
    const again = { hopLimit: 8, vft: f.vft, sealed: f.sealed }
    expect(route(t, 'a', [f, again, frame(vft(1))])).toEqual({ b: [0, 2], c: [0, 2] })
    expect(t.counters.frameDrops.duplicate).toBe(1)
    expect(again.hopLimit).toBe(8)
  })

  it('can be turned off', () => {
    const t = table({ duplicateCacheSize: 0 })
    t.subscribe('b', [{ vft: vft(1), flags: R }], 60, NOW)
    const f = frame(vft(1))
    expect(route(t, 'a', [f, { ...f }])).toEqual({ b: [0, 1] })
    expect(t.duplicateCacheSize).toBe(0)
  })
})

describe('rate limits', () => {
  it('limits a flood without starving another peer', () => {
    const t = table({
      limits: { framesPerSecond: 1_000, frameBurst: 100, bytesPerSecond: 1e9, byteBurst: 1e6 },
    })
    const v = vft(1)
    t.subscribe('sink', [{ vft: v, flags: R }], 600, NOW)
    const out = new RouteBatch()
    let floodSent = 0
    let quietSent = 0
    // 10 seconds in 10 ms steps: the flooder offers 64 frames per step
    // (6400/s), the quiet peer 5 (500/s).
    for (let step = 0; step < 1_000; step++) {
      const now = NOW + step / 100
      t.route(
        'flood',
        Array.from({ length: 64 }, () => frame(v)),
        now,
        out,
      )
      floodSent += out.forwarded
      t.route(
        'quiet',
        Array.from({ length: 5 }, () => frame(v)),
        now,
        out,
      )
      quietSent += out.forwarded
    }
    expect(quietSent).toBe(5_000) // every one of its frames
    // The flooder gets its rate plus the burst (plus at most one frame of debt), no more.
    expect(floodSent).toBeGreaterThanOrEqual(10_000)
    expect(floodSent).toBeLessThanOrEqual(100 + 1_000 * 9.99 + 1)
    expect(t.counters.frameDrops['rate-frames']).toBe(64_000 - floodSent)
    expect(t.neighbourStats('quiet')).toMatchObject({ framesIn: 5_000, framesDropped: 0 })
  })

  it('charges a fan-out to the sender as the bytes it causes', () => {
    const size = 1_000
    const cost = size + 17
    const t = table({ limits: { bytesPerSecond: 10 * cost, byteBurst: 10 * cost } })
    const v = vft(1)
    for (let i = 0; i < 5; i++) t.subscribe(`r${i}`, [{ vft: v, flags: R }], 600, NOW)
    // Each frame causes 5 copies: the burst of 10 copies pays for two frames.
    const got = route(t, 'src', [frame(v, 8, size), frame(v, 8, size), frame(v, 8, size)])
    expect(got.r0).toEqual([0, 1])
    expect(t.counters.frameDrops['rate-bytes']).toBe(1)
    expect(t.counters.bytesOut).toBe(10 * cost)
    expect(t.neighbourStats('src')).toMatchObject({ copiesCaused: 10, framesDropped: 1 })
    expect(t.neighbourStats('r0')).toMatchObject({ copiesReceived: 2 })
    // After one second at 10 copies/s, two more frames pass.
    expect(route(t, 'src', [frame(v, 8, size), frame(v, 8, size)], NOW + 1).r0).toEqual([0, 1])
  })

  it('lets one neighbour have its own limits', () => {
    const t = table({ limits: { framesPerSecond: 1, frameBurst: 1 } })
    t.setLimits('relay', { framesPerSecond: 1_000, frameBurst: 1_000 })
    t.subscribe('sink', [{ vft: vft(1), flags: R }], 600, NOW)
    expect(route(t, 'peer', [frame(vft(1)), frame(vft(1))]).sink).toEqual([0])
    expect(route(t, 'relay', [frame(vft(1)), frame(vft(1))]).sink).toEqual([0, 1])
    expect(() => t.setLimits('x', { framesPerSecond: -1 })).toThrow(RelayError)
  })
})

describe('options', () => {
  it('refuses bad options with a RelayError', () => {
    expect(() => table({ maxSealedLength: 10 })).toThrow(RelayError)
    expect(() => table({ maxTtlSeconds: 0 })).toThrow(RelayError)
    expect(() => table({ maxSubscriptions: 1.5 })).toThrow(RelayError)
    expect(() => table({ hashSeed: new Uint8Array(8) })).toThrow(RelayError)
    expect(() => table({ limits: { bytesPerSecond: Number.NaN } })).toThrow(RelayError)
  })
})

describe('changes (onChange, onWatchedChange: for a fast path that forwards by what the table said)', () => {
  it('tells of every change that may change a route, and not of a plain renewal', () => {
    const table = new ForwardingTable({ admitByDefault: true })
    let changes = 0
    table.onChange = () => changes++
    const said = () => {
      const n = changes
      changes = 0
      return n
    }
    table.subscribe('b', [{ vft: vft(1), flags: R }], 60, NOW)
    expect(said(), 'a new subscription').toBe(1)
    table.subscribe('b', [{ vft: vft(1), flags: R }], 60, NOW + 1)
    expect(said(), 'a renewal').toBe(0)
    table.subscribe('b', [{ vft: vft(1), flags: R | S }], 60, NOW + 2)
    expect(said(), 'its flags changed').toBe(1)
    table.subscribe('c', [{ vft: vft(2), flags: R }], 1, NOW)
    said()
    expect(table.expire(NOW + 0.5)).toBe(0)
    expect(said(), 'nothing expired').toBe(0)
    expect(table.expire(NOW + 2)).toBe(1)
    expect(said(), 'a subscription expired').toBe(1)
    table.unsubscribe('b', [{ vft: vft(1), flags: R | S }])
    expect(said(), 'an UNSUB').toBe(1)
    table.subscribe('b', [{ vft: vft(1), flags: R }], 60, NOW + 3)
    said()
    table.removeNeighbour('b')
    expect(said(), 'a neighbour removed').toBe(1)
    table.setAccess('d', 'deny')
    expect(said(), 'an access set').toBeGreaterThanOrEqual(1)
    table.setLimits('e', { framesPerSecond: 10 })
    expect(said(), 'limits set').toBe(1)
  })

  /** The table, and what onWatchedChange said since the last call of said(): vft() numbers, 'all' for undefined. */
  const watching = (options: ConstructorParameters<typeof ForwardingTable>[0] = {}) => {
    const table = new ForwardingTable({ admitByDefault: true, ...options })
    let changes: Array<number | 'all'> = []
    table.onWatchedChange = (v) => {
      if (v === undefined) changes.push('all')
      else {
        // The VFT's bytes, as vft() made them.
        const n = new DataView(v.buffer, v.byteOffset).getUint32(12)
        expect(Buffer.from(v).equals(Buffer.from(vft(n)))).toBe(true)
        changes.push(n)
      }
    }
    const said = () => {
      const c = changes
      changes = []
      return c
    }
    return { table, said }
  }

  it('tells once per watch of each change to a watched VFT, and not of a plain renewal', () => {
    const { table, said } = watching()
    expect(table.watch(vft(1)), 'nothing to watch yet').toBe(false)
    table.subscribe('b', [{ vft: vft(1), flags: R }], 60, NOW)
    expect(said(), 'a new subscription, unwatched').toEqual([])
    expect(table.watch(vft(1))).toBe(true)
    table.subscribe('b', [{ vft: vft(1), flags: R }], 60, NOW + 1)
    expect(said(), 'a renewal').toEqual([])
    table.subscribe('b', [{ vft: vft(1), flags: R | S }], 60, NOW + 2)
    expect(said(), 'its flags changed').toEqual([1])
    table.subscribe('b', [{ vft: vft(1), flags: R }], 60, NOW + 2)
    expect(said(), 'changed again, not watched again').toEqual([])
    table.watch(vft(1))
    table.subscribe('c', [{ vft: vft(1), flags: S }], 60, NOW)
    expect(said(), 'another subscriber').toEqual([1])
    table.watch(vft(1))
    table.subscribe('c', [{ vft: vft(2), flags: R }], 1, NOW)
    table.subscribe('d', [{ vft: vft(3), flags: R }], 60, NOW)
    expect(said(), 'other VFTs').toEqual([])
    table.watch(vft(2))
    expect(table.expire(NOW + 0.5)).toBe(0)
    expect(said(), 'nothing expired').toEqual([])
    expect(table.expire(NOW + 2)).toBe(1)
    expect(said(), 'a subscription expired').toEqual([2])
    table.unsubscribe('b', [{ vft: vft(1), flags: R | S }])
    expect(said(), 'an UNSUB').toEqual([1])
    table.watch(vft(1))
    table.unsubscribe('b', [{ vft: vft(1), flags: R }])
    expect(said(), 'an UNSUB of nothing held').toEqual([])
  })

  it('tells of everything on a neighbour removed, an access or limits set', () => {
    const { table, said } = watching()
    table.subscribe('b', [{ vft: vft(1), flags: R }], 60, NOW)
    table.watch(vft(1))
    table.removeNeighbour('b')
    expect(said(), 'a neighbour removed').toEqual([1, 'all'])
    table.setAccess('d', 'deny')
    expect(said(), 'an access set').toContain('all')
    table.setLimits('e', { framesPerSecond: 10 })
    expect(said(), 'limits set').toEqual(['all'])
  })

  it("tells of a watched subscription displaced from a full table, and of nobody else's churn", () => {
    const { table, said } = watching({ maxSubscriptions: 4 })
    // A holds 3 of 4, one of them the watched VFT 1 (its oldest: displaced first).
    table.subscribe(
      'a',
      [1, 2, 3].map((n) => ({ vft: vft(n), flags: R })),
      60,
      NOW,
    )
    table.subscribe('m', [{ vft: vft(9), flags: R }], 60, NOW)
    table.watch(vft(9))
    table.watch(vft(1))
    // Many newcomers: each fresh neighbour takes a record from the one holding the most.
    table.subscribe('x', [{ vft: vft(20), flags: R }], 60, NOW)
    expect(said(), "A's oldest went").toEqual([1])
    for (let n = 21; n < 40; n++) table.subscribe(`x${n}`, [{ vft: vft(n), flags: R }], 60, NOW)
    expect(said(), 'their churn never touched the watched VFT 9 of M, within its share').toEqual([])
    expect(table.lookup(vft(9))).toHaveLength(1)
  })
})
