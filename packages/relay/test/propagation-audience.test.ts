// Who hears of a subscription (spec 12-relay.md §3, issue 14): members of
// the same VLAN epoch (neighbours holding live subscriptions under the same
// proving key) and configured relays; everybody only for a SUB without a
// proof. Written from the side of a stranger and of members.
import { describe, expect, it } from 'vitest'
import {
  FLAG_RECEIVE,
  FLAG_SEND,
  type PropagatedMessage,
  Propagation,
  RelayError,
  type VerifiedProof,
} from '../src/index.ts'

const RS = FLAG_RECEIVE | FLAG_SEND
const vft = (n: number) => new Uint8Array(16).fill(n)
const keyK = new Uint8Array(32).fill(0x4b)
const keyL = new Uint8Array(32).fill(0x4c)
/** A stand-in for a verified proof under `key` (the key at offset 0, spec 07 §2), tagged `tag` after it. */
const proved = (key: Uint8Array, tag: number): VerifiedProof => {
  const proof = new Uint8Array(165).fill(tag)
  proof.set(key)
  return { proof, provingKey: key }
}
const sub = (...ns: number[]) => ns.map((n) => ({ vft: vft(n), flags: RS }))
const to = (ms: PropagatedMessage[], id: string) => ms.filter((m) => m.neighbour === id)
/** What `id` was told, one string per entry: `sub|unsub VFT:flags proof-tag`. */
const heard = (ms: PropagatedMessage[], id: string) =>
  to(ms, id).flatMap((m) =>
    m.entries.map(
      (e) => `${m.unsubscribe ? 'unsub' : 'sub'} ${e.vft[0]}:${e.flags} ${m.proof?.[32] ?? '-'}`,
    ),
  )

describe('Propagation audience (issue 14: closed by default)', () => {
  it('tells a neighbour that proved nothing nothing while two members of K exchange subscriptions', () => {
    const p = new Propagation()
    const all = ['a', 'b', 's']
    const out: PropagatedMessage[] = []
    out.push(...p.learn('a', sub(1), proved(keyK, 0xa), 1180, all, 1000))
    out.push(...p.learn('b', sub(2), proved(keyK, 0xb), 1180, all, 1001))
    out.push(...p.learn('a', sub(1, 3), proved(keyK, 0xa), 1240, all, 1060)) // renewal, new VFT
    out.push(...p.snapshotFor('s', 1061))
    out.push(...p.forget('a', sub(3), all, 1062))
    out.push(...p.expire(all, 1182)) // b's lapses
    out.push(...p.removeNeighbour('a', all, 1183))
    expect(heard(out, 's')).toEqual([])
    // The members did hear each other, SUBs and UNSUBs.
    expect(heard(out, 'b')).toEqual(['sub 1:3 10', 'sub 1:3 10', 'sub 3:3 10', 'unsub 3:3 -'])
    expect(heard(out, 'a')).toEqual(['sub 2:3 11', 'unsub 2:3 -'])
  })

  it('passes a SUB without a proof to everybody admitted, strangers included', () => {
    const p = new Propagation()
    const all = ['a', 'b', 's']
    p.learn('a', sub(1), proved(keyK, 0xa), 1180, all, 1000)
    const out = p.learn('b', sub(2), undefined, 1180, all, 1000)
    expect(heard(out, 'a')).toEqual(['sub 2:3 -'])
    expect(heard(out, 's')).toEqual(['sub 2:3 -'])
    expect(heard(p.snapshotFor('s', 1001), 's')).toEqual(['sub 2:3 -'])
    expect(heard(p.removeNeighbour('b', all, 1002), 's')).toEqual(['unsub 2:3 -'])
  })

  it('never tells a member of K of L’s subscriptions, nor the other way round', () => {
    const p = new Propagation()
    const all = ['a', 'b', 'c', 'd']
    const out: PropagatedMessage[] = []
    out.push(...p.learn('a', sub(1), proved(keyK, 0xa), 1180, all, 1000))
    out.push(...p.learn('c', sub(3), proved(keyL, 0xc), 1180, all, 1000))
    out.push(...p.learn('b', sub(2), proved(keyK, 0xb), 1180, all, 1000))
    out.push(...p.learn('d', sub(4), proved(keyL, 0xd), 1180, all, 1000))
    for (const id of all) out.push(...p.snapshotFor(id, 1001))
    out.push(...p.forget('c', sub(3), all, 1002))
    out.push(...p.forget('a', sub(1), all, 1002))
    const k = new Set(['1', '2'])
    const l = new Set(['3', '4'])
    for (const [id, mine] of [
      ['a', k],
      ['b', k],
      ['c', l],
      ['d', l],
    ] as const) {
      const vfts = heard(out, id).map((h) => h.split(' ')[1]!.split(':')[0]!)
      expect(vfts.length).toBeGreaterThan(0)
      for (const v of vfts) expect(mine.has(v), `${id} heard of VFT ${v}`).toBe(true)
    }
  })

  it('gives a late member the snapshot of K when it first proves K, and again after it lapsed', () => {
    const p = new Propagation()
    const all = ['a', 'b', 'c']
    p.learn('a', sub(1), proved(keyK, 0xa), 1180, all, 1000)
    p.learn('c', sub(3), proved(keyL, 0xc), 1180, all, 1000)
    const first = p.learn('b', sub(2), proved(keyK, 0xb), 1180, all, 1010)
    expect(to(first, 'b').map((m) => m.ttl)).toEqual([170])
    expect(heard(first, 'b')).toEqual(['sub 1:3 10'])
    expect(heard(first, 'a')).toEqual(['sub 2:3 11'])
    expect(heard(first, 'c')).toEqual([])
    // A renewal, or a second proof (the next window) under the same key: no snapshot again.
    expect(heard(p.learn('b', sub(2), proved(keyK, 0xb), 1240, all, 1070), 'b')).toEqual([])
    expect(heard(p.learn('b', sub(5), proved(keyK, 0xbb), 1240, all, 1071), 'b')).toEqual([])
    // a renews; b lapses at 1240 (not yet reaped) and comes back: the snapshot again.
    p.learn('a', sub(1), proved(keyK, 0xa), 1400, all, 1220)
    const back = p.learn('b', sub(2), proved(keyK, 0xb), 1420, all, 1241)
    expect(heard(back, 'b')).toEqual(['sub 1:3 10'])
    expect(to(back, 'b')[0]!.ttl).toBe(159)
  })

  it('splits a first-proof snapshot at maxEntries', () => {
    const p = new Propagation({ maxEntries: 2 })
    p.learn('a', sub(1, 2, 3, 4, 5), proved(keyK, 0xa), 1180, ['a', 'b'], 1000)
    const out = p.learn('b', sub(9), proved(keyK, 0xb), 1180, ['a', 'b'], 1000)
    expect(to(out, 'b').map((m) => m.entries.length)).toEqual([2, 2, 1])
  })

  it('sends no first-proof snapshot to a neighbour that is not up', () => {
    const p = new Propagation()
    p.learn('a', sub(1), proved(keyK, 0xa), 1180, ['a'], 1000)
    expect(
      p.learn('b', sub(2), proved(keyK, 0xb), 1180, ['a'], 1000).map((m) => m.neighbour),
    ).toEqual(['a'])
    // When it comes up, snapshotFor gives it K.
    expect(heard(p.snapshotFor('b', 1001), 'b')).toEqual(['sub 1:3 10'])
  })

  it('tells a configured relay everything, and passes its SUBs only to members of their key', () => {
    const p = new Propagation({ relays: (id) => id === 'r' })
    const all = ['a', 'c', 'r', 's']
    const out: PropagatedMessage[] = []
    out.push(...p.learn('a', sub(1), proved(keyK, 0xa), 1180, all, 1000))
    out.push(...p.learn('c', sub(3), proved(keyL, 0xc), 1180, all, 1000))
    out.push(...p.learn('s', sub(7), undefined, 1180, all, 1000))
    expect(heard(out, 'r')).toEqual(['sub 1:3 10', 'sub 3:3 12', 'sub 7:3 -'])
    expect(heard(p.snapshotFor('r', 1001), 'r')).toEqual(['sub 1:3 10', 'sub 3:3 12', 'sub 7:3 -'])
    // r passes on a subscriber's proof under K: a hears it, c and s do not, and r gets
    // no first-proof snapshot (it heard everything already).
    const passed = p.learn('r', sub(2), proved(keyK, 0xe), 1180, all, 1002)
    expect(passed.map((m) => m.neighbour)).toEqual(['a'])
    expect(heard(p.forget('a', sub(1), all, 1003), 'r')).toEqual(['unsub 1:3 -'])
  })

  it('sends UNSUBs only to those that may have heard, and counts only what they may hear as still advertised', () => {
    const p = new Propagation()
    const all = ['a', 'b', 'c', 'd', 's']
    p.learn('a', sub(1), proved(keyK, 0xa), 1180, all, 1000)
    p.learn('b', sub(2), proved(keyK, 0xb), 1180, all, 1000)
    // c holds VFT 1 too, under L (as if it collided): b and d must not learn of
    // it through a withdrawal, nor be left believing it is still there.
    p.learn('c', sub(1), proved(keyL, 0xc), 1180, all, 1000)
    p.learn('d', sub(4), proved(keyL, 0xd), 1180, all, 1000)
    const gone = p.forget('a', sub(1), all, 1001)
    expect(gone.map((m) => m.neighbour)).toEqual(['b'])
    expect(heard(gone, 'b')).toEqual(['unsub 1:3 -'])
    const left = p.removeNeighbour('c', all, 1002)
    expect(left.map((m) => m.neighbour)).toEqual(['d'])
    expect(heard(left, 'd')).toEqual(['unsub 1:3 -'])
  })

  it('stops passing anything to a member once its own proof lapsed', () => {
    const p = new Propagation()
    const all = ['a', 'b']
    p.learn('b', sub(2), proved(keyK, 0xb), 1100, all, 1000)
    expect(heard(p.learn('a', sub(1), proved(keyK, 0xa), 1300, all, 1000), 'b')).toEqual([
      'sub 1:3 10',
    ])
    // b's proof lapsed at 1100 (before expire() ran, and after).
    expect(p.learn('a', sub(3), proved(keyK, 0xa), 1300, all, 1101)).toEqual([])
    expect(p.forget('a', sub(3), all, 1102)).toEqual([])
    p.expire(all, 1103)
    expect(p.learn('a', sub(5), proved(keyK, 0xa), 1300, all, 1104)).toEqual([])
    expect(p.snapshotFor('b', 1105)).toEqual([])
    // So does b's UNSUB of its last subscription under K.
    p.learn('b', sub(2), proved(keyK, 0xb), 1300, all, 1106)
    p.forget('b', sub(2), all, 1107)
    expect(p.learn('a', sub(6), proved(keyK, 0xa), 1300, all, 1108)).toEqual([])
  })

  it('judges a member by the latest expiry it still holds under the key', () => {
    const all = ['a', 'b']
    // b's latest subscription under K goes by UNSUB: it proves K only until 1100.
    const p = new Propagation()
    p.learn('b', sub(2), proved(keyK, 0xb), 1300, all, 1000)
    p.learn('b', sub(3), proved(keyK, 0xb), 1100, all, 1000)
    p.forget('b', sub(2), all, 1010)
    expect(heard(p.learn('a', sub(1), proved(keyK, 0xa), 1400, all, 1099), 'b')).toEqual([
      'sub 1:3 10',
    ])
    expect(p.learn('a', sub(4), proved(keyK, 0xa), 1400, all, 1100)).toEqual([])
    // A flags change that shortens b's only subscription: it proves K only until 1100.
    const q = new Propagation()
    q.learn('b', sub(2), proved(keyK, 0xb), 1300, all, 1000)
    q.learn('b', [{ vft: vft(2), flags: FLAG_RECEIVE }], proved(keyK, 0xb), 1100, all, 1010)
    expect(q.learn('a', sub(1), proved(keyK, 0xa), 1400, all, 1100)).toEqual([])
  })

  it('refuses a proving key of the wrong length and a relays option that is not a function', () => {
    const p = new Propagation()
    const bad = { proof: new Uint8Array(165), provingKey: new Uint8Array(31) }
    expect(() => p.learn('a', sub(1), bad, 1180, ['a'], 1000)).toThrow(RelayError)
    expect(() => new Propagation({ relays: new Set(['r']) as never })).toThrow(
      expect.objectContaining({ code: 'invalid-option' }),
    )
  })
})
