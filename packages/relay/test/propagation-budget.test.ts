// Propagation's bounds (spec 12-relay.md §12.3.1): one entry per origin,
// key and VFT however many proofs renew it; older proofs forgotten once no
// entry rests on them; what an origin holds within its budget of entries
// and proof bytes; expiry's work limited to what is due.
import { describe, expect, it } from 'vitest'
import { FLAG_RECEIVE, FLAG_SEND, Propagation, type VerifiedProof } from '../src/index.ts'

const RS = FLAG_RECEIVE | FLAG_SEND
const vft = (n: number) => {
  const v = new Uint8Array(16)
  new DataView(v.buffer).setUint32(0, n)
  return v
}
const keyA = new Uint8Array(32).fill(0xa)
const keyB = new Uint8Array(32).fill(0xb)
let serial = 0
/** A stand-in proof under `key` (spec 07 §2: key, then a signature unique to it), `length` bytes. */
const fresh = (key: Uint8Array, length = 200): VerifiedProof => {
  const proof = new Uint8Array(length)
  proof.set(key)
  new DataView(proof.buffer).setUint32(32, ++serial)
  return { proof, provingKey: key }
}
const entries = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ vft: vft(from + i), flags: RS }))

describe('Propagation budget', () => {
  it('holds one entry per VFT however many fresh proofs renew it, and passes the newest proof on', () => {
    const p = new Propagation()
    const up = new Set(['x', 'm'])
    p.learn('x', entries(0, 100), fresh(keyA), 1180, up, 1000)
    expect(p.size).toBe(100)
    // 10 000 SUBs, each under a proof never seen before, each renewing one entry.
    let last: VerifiedProof | undefined
    for (let i = 0; i < 10_000; i++) {
      last = fresh(keyA)
      p.learn('x', [{ vft: vft(i % 100), flags: RS }], last, 1180 + (i % 7), up, 1000)
    }
    expect(p.size).toBe(100)
    expect(p.originStats('x')).toEqual({ subscriptions: 100, proofs: 100, proofBytes: 100 * 200 })
    // m proves key A: it hears each entry with the proof it rests on now.
    const out = p.learn('m', entries(1000, 1), fresh(keyA), 1180, up, 1001)
    const heard = out.filter((m) => m.neighbour === 'm')
    expect(heard.reduce((n, m) => n + m.entries.length, 0)).toBe(100)
    expect(heard.some((m) => m.proof !== undefined && equal(m.proof, last!.proof))).toBe(true)
  })

  it('keeps an origin within its subscriptions: the rest is neither held nor passed on', () => {
    const p = new Propagation({ budget: () => ({ subscriptions: 50, proofBytes: 1 << 20 }) })
    const up = new Set(['x', 'r'])
    const relays = new Propagation({
      relays: (id) => id === 'r',
      budget: () => ({ subscriptions: 50, proofBytes: 1 << 20 }),
    })
    const out = relays.learn('x', entries(0, 80), fresh(keyA), 1180, up, 1000)
    expect(out.reduce((n, m) => n + m.entries.length, 0)).toBe(50)
    expect(relays.size).toBe(50)
    expect(relays.counters.overBudget).toBe(30)
    // Within the budget, under another key too, renewals still go through.
    p.learn('x', entries(0, 40), fresh(keyA), 1180, up, 1000)
    p.learn('x', entries(100, 20), fresh(keyB), 1180, up, 1000)
    expect(p.size).toBe(50)
    expect(p.counters.overBudget).toBe(10)
    p.learn('x', entries(0, 40), fresh(keyA), 1190, up, 1010)
    expect(p.counters.overBudget).toBe(10)
    // Room again once entries go.
    p.forget('x', entries(0, 10), up, 1011)
    p.learn('x', entries(110, 10), fresh(keyB), 1190, up, 1011)
    expect(p.size).toBe(50)
    expect(p.counters.overBudget).toBe(10)
  })

  it('keeps an origin within its proof bytes: a new proof over them is refused whole', () => {
    const p = new Propagation({ budget: () => ({ subscriptions: 1000, proofBytes: 1000 }) })
    const up = new Set(['x'])
    for (let i = 0; i < 5; i++) p.learn('x', entries(i * 10, 10), fresh(keyA), 1180, up, 1000)
    expect(p.originStats('x')?.proofBytes).toBe(1000)
    // A sixth proof would hold 1200 bytes: none of its entries is taken, renewals included.
    p.learn('x', [...entries(0, 1), ...entries(500, 3)], fresh(keyA), 1190, up, 1001)
    expect(p.size).toBe(50)
    expect(p.counters.overBudget).toBe(4)
    // The entries of one proof move to a proof seen before: that proof is dropped, room for one.
    const kept = fresh(keyA)
    p.forget('x', entries(40, 10), up, 1002)
    p.learn('x', entries(0, 10), kept, 1190, up, 1002)
    p.learn('x', entries(0, 10), kept, 1190, up, 1003)
    expect(p.originStats('x')).toEqual({ subscriptions: 40, proofs: 4, proofBytes: 800 })
    p.learn('x', entries(500, 3), fresh(keyA), 1190, up, 1004)
    expect(p.originStats('x')?.subscriptions).toBe(43)
  })

  it('forgets a leaving origin entirely', () => {
    const p = new Propagation()
    const up = new Set(['x', 'y'])
    p.learn('x', entries(0, 10), fresh(keyA), 1180, up, 1000)
    p.learn('x', entries(10, 10), undefined, 1180, up, 1000)
    p.learn('y', entries(0, 10), fresh(keyA), 1180, up, 1000)
    expect(p.origins).toBe(2)
    p.removeNeighbour('x', up, 1001)
    expect(p.origins).toBe(1)
    expect(p.originStats('x')).toBeUndefined()
    expect(p.size).toBe(10)
    p.expire(up, 1180)
    expect(p.size).toBe(0)
    expect(p.origins).toBe(0)
  })

  it('expires by due time: entries renewed in time stay, those not renewed go at their expiry', () => {
    const p = new Propagation()
    const up = new Set(['x', 'm'])
    const proof = fresh(keyA)
    p.learn('m', entries(9000, 1), fresh(keyA), 5000, up, 1000)
    p.learn('x', entries(0, 1000), proof, 1180, up, 1000)
    // Half renewed every 60 s for 10 minutes; expiry runs every second.
    let gone = 0
    for (let t = 1001; t <= 1600; t++) {
      if (t % 60 === 0) p.learn('x', entries(0, 500), proof, t + 180, up, t)
      for (const m of p.expire(up, t)) gone += m.neighbour === 'm' ? m.entries.length : 0
    }
    expect(p.size).toBe(501)
    // m heard every entry that lapsed, as an UNSUB, each once.
    expect(gone).toBe(500)
  })
})

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
