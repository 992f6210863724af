import { describe, expect, it } from 'vitest'
import { FLAG_RECEIVE, FLAG_SEND, Propagation, type VerifiedProof } from '../src/index.ts'

const vft = (n: number) => new Uint8Array(16).fill(n)
const RS = FLAG_RECEIVE | FLAG_SEND
const keyA = new Uint8Array(32).fill(0xa)
/** A stand-in for a verified proof under `key` (spec 07 §2: the key at offset 0), tagged `tag` after it. */
const proved = (key: Uint8Array, tag: number): VerifiedProof => {
  const proof = new Uint8Array(200).fill(tag)
  proof.set(key)
  return { proof, provingKey: key }
}
const proofA = proved(keyA, 0xa)
const summary = (ms: ReturnType<Propagation['learn']>) =>
  ms.map((m) => ({
    to: m.neighbour,
    unsub: m.unsubscribe,
    ttl: m.ttl,
    vfts: m.entries.map((e) => `${e.vft[0]}:${e.flags}`),
    proof: m.proof?.[32],
  }))

describe('Propagation', () => {
  it('passes a SUB to every other member of its key with its proof verbatim, never back (split horizon)', () => {
    // Before issue 14 every admitted neighbour heard it; now b and c first prove key A.
    const p = new Propagation()
    const all = ['a', 'b', 'c']
    p.learn('b', [{ vft: vft(2), flags: RS }], proved(keyA, 0xb), 1180, all, 1000)
    p.learn('c', [{ vft: vft(3), flags: RS }], proved(keyA, 0xc), 1180, all, 1000)
    const out = p.learn('a', [{ vft: vft(1), flags: RS }], proofA, 1180, all, 1000)
    expect(summary(out)).toEqual([
      { to: 'b', unsub: false, ttl: 180, vfts: ['1:3'], proof: 0xa },
      { to: 'c', unsub: false, ttl: 180, vfts: ['1:3'], proof: 0xa },
      // a proved key A for the first time: the members before it.
      { to: 'a', unsub: false, ttl: 180, vfts: ['2:3'], proof: 0xb },
      { to: 'a', unsub: false, ttl: 180, vfts: ['3:3'], proof: 0xc },
    ])
    expect(out[0]!.proof).toBe(out[1]!.proof)
    expect(out[0]!.proof).toEqual(proofA.proof)
  })

  it('passes renewals on only when they move the expiry enough; a storm is not amplified', () => {
    const p = new Propagation({ minRenewSeconds: 10 })
    p.learn('a', [{ vft: vft(1), flags: RS }], undefined, 1180, ['a', 'b'], 1000)
    for (let t = 1001; t < 1009; t++) {
      expect(p.learn('a', [{ vft: vft(1), flags: RS }], undefined, t + 180, ['a', 'b'], t)).toEqual(
        [],
      )
    }
    expect(
      summary(p.learn('a', [{ vft: vft(1), flags: RS }], undefined, 1250, ['a', 'b'], 1070)),
    ).toEqual([{ to: 'b', unsub: false, ttl: 180, vfts: ['1:3'], proof: undefined }])
    // A flags change goes on at once.
    expect(
      p.learn('a', [{ vft: vft(1), flags: FLAG_RECEIVE }], undefined, 1250, ['a', 'b'], 1071),
    ).toHaveLength(1)
  })

  it('sends UNSUB only for flags no other neighbour still advertises', () => {
    const p = new Propagation()
    const all = ['a', 'b', 'c']
    p.learn('a', [{ vft: vft(1), flags: RS }], undefined, 1180, all, 1000)
    p.learn('b', [{ vft: vft(1), flags: RS }], undefined, 1180, all, 1000)
    // a leaves: c still hears of VFT 1 from b, so c gets nothing; b heard of it only from a.
    expect(summary(p.removeNeighbour('a', ['b', 'c'], 1001))).toEqual([
      { to: 'b', unsub: true, ttl: 0, vfts: ['1:3'], proof: undefined },
    ])
    // b withdraws its send flag: c loses the send flag only.
    expect(summary(p.forget('b', [{ vft: vft(1), flags: FLAG_SEND }], ['b', 'c'], 1002))).toEqual([
      { to: 'c', unsub: true, ttl: 0, vfts: ['1:2'], proof: undefined },
    ])
  })

  it('expires what lapsed and withdraws it; a new neighbour gets a snapshot of what it may hear', () => {
    const p = new Propagation()
    p.learn('a', [{ vft: vft(1), flags: RS }], proofA, 1100, ['a'], 1000)
    p.learn('a', [{ vft: vft(2), flags: FLAG_RECEIVE }], undefined, 1300, ['a'], 1000)
    p.learn('c', [{ vft: vft(3), flags: FLAG_RECEIVE }], proved(keyA, 0xc), 1200, ['a'], 1000)
    // b proved nothing: only the subscription without a proof (before issue 14, a's proved one too).
    expect(summary(p.snapshotFor('b', 1050))).toEqual([
      { to: 'b', unsub: false, ttl: 250, vfts: ['2:1'], proof: undefined },
    ])
    expect(summary(p.snapshotFor('c', 1050))).toEqual([
      { to: 'c', unsub: false, ttl: 250, vfts: ['2:1'], proof: undefined },
      { to: 'c', unsub: false, ttl: 50, vfts: ['1:3'], proof: 0xa },
    ])
    expect(summary(p.snapshotFor('a', 1050))).toEqual([
      { to: 'a', unsub: false, ttl: 150, vfts: ['3:1'], proof: 0xc },
    ])
    // Only c heard of VFT 1.
    expect(summary(p.expire(['a', 'b', 'c'], 1100))).toEqual([
      { to: 'c', unsub: true, ttl: 0, vfts: ['1:3'], proof: undefined },
    ])
    expect(p.size).toBe(2)
  })

  it("passes a send declaration on with the receive flag others advertise: it never takes a subscriber's away downstream (issue 17)", () => {
    // c subscribes to its VFT 3 (receive|send); b declares that it sends to it (send only).
    // a, like every node, keeps one subscription per (VFT, relay) with the flags of the
    // last SUB: b's declaration passed on with its own flags left a no receiver of VFT 3.
    const p = new Propagation()
    const all = ['a', 'b', 'c']
    p.learn('a', [{ vft: vft(1), flags: RS }], proofA, 1180, all, 1000)
    p.learn('c', [{ vft: vft(3), flags: RS }], proved(keyA, 0xc), 1180, all, 1000)
    p.learn('b', [{ vft: vft(2), flags: RS }], proved(keyA, 0xb), 1180, all, 1000)
    const declared = p.learn(
      'b',
      [{ vft: vft(3), flags: FLAG_SEND }],
      proved(keyA, 0xbb),
      1181,
      all,
      1001,
    )
    expect(summary(declared)).toEqual([
      { to: 'a', unsub: false, ttl: 180, vfts: ['3:3'], proof: 0xbb },
      // c subscribes itself: from the others it hears only of b's send flag.
      { to: 'c', unsub: false, ttl: 180, vfts: ['3:2'], proof: 0xbb },
    ])
    // A member proving key A later hears the same, whichever SUB comes last.
    const d = p.learn(
      'd',
      [{ vft: vft(4), flags: RS }],
      proved(keyA, 0xd),
      1182,
      [...all, 'd'],
      1002,
    )
    expect(summary(d).filter((m) => m.to === 'd')).toEqual([
      { to: 'd', unsub: false, ttl: 178, vfts: ['1:3'], proof: 0xa },
      { to: 'd', unsub: false, ttl: 178, vfts: ['3:3'], proof: 0xc },
      { to: 'd', unsub: false, ttl: 178, vfts: ['2:3'], proof: 0xb },
      { to: 'd', unsub: false, ttl: 179, vfts: ['3:3'], proof: 0xbb },
    ])
    // c leaves: a loses the receive flag of VFT 3 and keeps b's send flag.
    expect(summary(p.removeNeighbour('c', ['a', 'b', 'd'], 1003))).toEqual([
      { to: 'a', unsub: true, ttl: 0, vfts: ['3:1'], proof: undefined },
      { to: 'b', unsub: true, ttl: 0, vfts: ['3:3'], proof: undefined },
      { to: 'd', unsub: true, ttl: 0, vfts: ['3:1'], proof: undefined },
    ])
  })

  it('splits messages at maxEntries', () => {
    const p = new Propagation({ maxEntries: 2 })
    const entries = [1, 2, 3, 4, 5].map((n) => ({ vft: vft(n), flags: FLAG_RECEIVE }))
    const out = p.learn('a', entries, undefined, 1100, ['a', 'b'], 1000)
    expect(out.map((m) => m.entries.length)).toEqual([2, 2, 1])
  })
})
