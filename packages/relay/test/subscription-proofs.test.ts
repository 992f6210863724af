import { verifyMembershipProof } from '@peertap/crypto'
import { describe, expect, it } from 'vitest'
import {
  admitSubscription,
  FLAG_RECEIVE,
  FLAG_SEND,
  ForwardingTable,
  MAX_PROVED_VFTS,
  SubscriptionProofs,
} from '../src/index.ts'

const seedA = new Uint8Array(32).fill(1)
const seedB = new Uint8Array(32).fill(2)
const peerA = Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...new Array(32).fill(0xa)])
const peerC = Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...new Array(32).fill(0xc)])
const now = 600 * 3_000_000 + 30
const w = Math.floor(now / 600)
const vft = (vlan: number, n: number) => {
  const v = new Uint8Array(16)
  v[0] = vlan
  v[1] = n >> 8
  v[2] = n & 0xff
  return v
}
// VLAN 1 (seedA) VFTs 0..299 of the current window, VLAN 2 (seedB) VFTs of the next.
const describe1 = (v: Uint8Array) =>
  v[0] === 1
    ? { authSeed: seedA, window: w }
    : v[0] === 2
      ? { authSeed: seedB, window: w + 1 }
      : undefined

describe('SubscriptionProofs', () => {
  const proofs = new SubscriptionProofs({
    peerId: peerA,
    describe: describe1,
    authSeeds: () => [seedA, seedB],
    holds: (v) => v[0] === 1 || v[0] === 2,
  })

  it('groups VFTs per VLAN epoch and window, one valid proof per SUB, bounded in size', () => {
    const vfts = [
      ...Array.from({ length: 300 }, (_, i) => vft(1, i)),
      ...Array.from({ length: 3 }, (_, i) => vft(2, i)),
      vft(9, 1),
    ]
    const subs = proofs.subscriptions(vfts, FLAG_RECEIVE | FLAG_SEND, 180, now)
    expect(subs.map((s) => [s.entries.length, s.proof !== undefined])).toEqual([
      [MAX_PROVED_VFTS, true],
      [300 - MAX_PROVED_VFTS, true],
      [3, true],
      [1, false],
    ])
    for (const sub of subs.filter((s) => s.proof !== undefined)) {
      expect(sub.proof!.length).toBeLessThanOrEqual(4096)
      const verdict = verifyMembershipProof({ proof: sub.proof!, peerId: peerA, now })
      expect(verdict.ok).toBe(true)
      if (!verdict.ok) continue
      // The proof signs exactly the SUB's VFTs, and expires with its window.
      expect(verdict.proof.vfts.length).toBe(sub.entries.length)
      expect(verdict.proof.expiry).toBe(600 * (verdict.proof.window + 1) + 120)
      // A relay that requires proofs takes every entry.
      const table = new ForwardingTable({ requireProofs: true })
      const result = admitSubscription(table, {
        neighbour: 'a',
        peerId: peerA,
        entries: sub.entries,
        ttlSeconds: 180,
        now,
        proof: sub.proof!,
      })
      expect(result.rejected).toBe(0)
    }
    expect(verifyMembershipProof({ proof: subs[2]!.proof!, peerId: peerA, now }).ok && true).toBe(
      true,
    )
    // The next window's group is signed for that window.
    const next = verifyMembershipProof({ proof: subs[2]!.proof!, peerId: peerA, now })
    expect(next.ok && next.proof.window).toBe(w + 1)
    // Renewals reuse the cached proofs.
    const signed = proofs.signed
    proofs.subscriptions(vfts, FLAG_RECEIVE | FLAG_SEND, 180, now + 60)
    expect(proofs.signed).toBe(signed)
  })

  it("declares send, under its own proof, for VFTs a relay passes on under one of its VLANs' keys", () => {
    const other = new SubscriptionProofs({
      peerId: peerC,
      describe: describe1,
      authSeeds: () => [seedA],
      holds: () => false,
    })
    const [fromC] = other.subscriptions([vft(1, 7), vft(1, 8)], FLAG_RECEIVE | FLAG_SEND, 180, now)
    // As A: C's VFTs, which A does not hold, with C's proof (key of seedA).
    const a = new SubscriptionProofs({
      peerId: peerA,
      describe: describe1,
      authSeeds: () => [seedA],
      holds: (v) => v[1] === 0 && v[2] === 8, // A holds VFT 8 itself
    })
    const [declaration, ...rest] = a.sendDeclaration(fromC!, 180, now)
    expect(rest).toEqual([])
    expect(declaration!.entries.map((e) => [e.vft[2], e.flags])).toEqual([[7, FLAG_SEND]])
    const verdict = verifyMembershipProof({ proof: declaration!.proof!, peerId: peerA, now })
    expect(verdict.ok).toBe(true)
    // Under another VLAN's key, or without a proof: nothing.
    const [fromB] = proofs.subscriptions([vft(2, 1)], FLAG_RECEIVE, 180, now)
    expect(a.sendDeclaration(fromB!, 180, now)).toEqual([])
    expect(a.sendDeclaration({ entries: fromC!.entries }, 180, now)).toEqual([])
  })

  it('sends VFTs whose window a proof cannot cover any more without one', () => {
    const stale = new SubscriptionProofs({
      peerId: peerA,
      describe: () => ({ authSeed: seedA, window: w - 3 }),
      authSeeds: () => [seedA],
      holds: () => true,
    })
    const subs = stale.subscriptions([vft(1, 1)], FLAG_RECEIVE, 180, now)
    expect(subs).toHaveLength(1)
    expect(subs[0]!.proof).toBeUndefined()
  })
})
