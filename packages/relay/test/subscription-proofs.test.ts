import { verifyMembershipProof } from '@peertap/crypto'
import { describe, expect, it } from 'vitest'
import {
  admitSubscription,
  FLAG_RECEIVE,
  FLAG_SEND,
  ForwardingTable,
  MAX_DECLARED_VFTS,
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

  it('declares nothing for a proof under its key that does not verify, and caps what one neighbour draws', () => {
    const other = new SubscriptionProofs({
      peerId: peerC,
      describe: describe1,
      authSeeds: () => [seedA],
      holds: () => false,
    })
    const [fromC] = other.subscriptions([vft(1, 7)], FLAG_RECEIVE | FLAG_SEND, 180, now)
    const a = new SubscriptionProofs({
      peerId: peerA,
      describe: describe1,
      authSeeds: () => [seedA],
      holds: () => false,
    })
    // Our key, a broken signature: a peer posing as a relay gets no signature of ours.
    const forged = fromC!.proof!.slice()
    forged[40]! ^= 1
    const many = Array.from({ length: 1024 }, (_, i) => ({ vft: vft(1, 1000 + i), flags: 1 }))
    expect(a.sendDeclaration({ entries: many, proof: forged }, 180, now, 'r')).toEqual([])
    expect(a.declarations.refusedProofs).toBe(1)
    expect(a.signed).toBe(0)
    // A valid proof: at most MAX_DECLARED_VFTS VFTs live per neighbour; renewals still pass.
    const declared = (list: { entries: { vft: Uint8Array }[] }[]) =>
      list.reduce((n, d) => n + d.entries.length, 0)
    let total = 0
    for (let round = 0; round < MAX_DECLARED_VFTS / 1024 + 1; round++) {
      const entries = Array.from({ length: 1024 }, (_, i) => ({
        vft: vft(1, round * 1024 + i),
        flags: FLAG_RECEIVE,
      }))
      total += declared(a.sendDeclaration({ entries, proof: fromC!.proof! }, 180, now, 'r'))
    }
    expect(total).toBe(MAX_DECLARED_VFTS)
    expect(a.declarations.overCap).toBe(1024)
    const renewal = [{ vft: vft(1, 5), flags: FLAG_RECEIVE }]
    expect(
      declared(a.sendDeclaration({ entries: renewal, proof: fromC!.proof! }, 180, now, 'r')),
    ).toBe(1)
    // Another neighbour has a budget of its own; one that left starts afresh.
    expect(
      declared(a.sendDeclaration({ entries: renewal, proof: fromC!.proof! }, 180, now, 's')),
    ).toBe(1)
    a.forgetNeighbour('r')
    const fresh = [{ vft: vft(1, 9999), flags: FLAG_RECEIVE }]
    expect(
      declared(a.sendDeclaration({ entries: fresh, proof: fromC!.proof! }, 180, now, 'r')),
    ).toBe(1)
    // Once the declarations lapse, new VFTs are declared again.
    const later = [{ vft: vft(1, 8888), flags: FLAG_RECEIVE }]
    for (let i = 0; i < MAX_DECLARED_VFTS; i += 1024) {
      const entries = Array.from({ length: 1024 }, (_, j) => ({ vft: vft(3, i + j), flags: 1 }))
      a.sendDeclaration({ entries, proof: fromC!.proof! }, 180, now, 't')
    }
    expect(
      declared(a.sendDeclaration({ entries: later, proof: fromC!.proof! }, 180, now + 1, 't')),
    ).toBe(0)
    expect(
      declared(a.sendDeclaration({ entries: later, proof: fromC!.proof! }, 180, now + 181, 't')),
    ).toBe(1)
  })

  it("says whether a neighbour's proof shows it a member of one of our VLAN epochs", () => {
    const c = new SubscriptionProofs({
      peerId: peerC,
      describe: describe1,
      authSeeds: () => [seedA, seedB],
      holds: () => true,
    })
    const [subA, subB] = c.subscriptions([vft(1, 1), vft(2, 1)], FLAG_RECEIVE, 180, now)
    const a = new SubscriptionProofs({
      peerId: peerA,
      describe: describe1,
      authSeeds: () => [seedA],
      holds: () => true,
    })
    const ok = a.membership(subA!.proof!, peerC, now)
    if (!ok.ok) throw new Error(`refused: ${ok.reason}`)
    expect(ok.expiry).toBe(600 * (w + 1) + 120)
    expect(a.keyOf(vft(1, 3))).toBe(Buffer.from(ok.publicKey).toString('hex'))
    // Another VLAN's key: refused before any signature work; a proof for another peer; garbage.
    expect(a.membership(subB!.proof!, peerC, now)).toEqual({ ok: false, reason: 'not-ours' })
    expect(a.membership(subA!.proof!, peerA, now)).toEqual({ ok: false, reason: 'wrong-peer' })
    expect(a.membership(new Uint8Array(7), peerC, now)).toEqual({ ok: false, reason: 'malformed' })
    const bad = subA!.proof!.slice()
    bad[bad.length - 1]! ^= 1
    expect(a.membership(bad, peerC, now)).toEqual({ ok: false, reason: 'bad-signature' })
    expect(a.membership(subA!.proof!, peerC, 600 * (w + 1) + 120)).toMatchObject({ ok: false })
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
