// admitSubscription with a ProofVerifier (spec 09-forwarding.md §3; spec 07
// §4): a SUB renewing subscriptions under a proof verified before runs the
// cheap checks again but no signature and takes no proof-check token, so a
// member's renewals go through while its token bucket is empty.
import { createMembershipProof, ProofVerifier } from '@peertap/crypto'
import { describe, expect, it } from 'vitest'
import { admitSubscription, FLAG_RECEIVE, FLAG_SEND, ForwardingTable } from '../src/index.ts'

const NOW = 600 * 3_000_000 + 10
const WINDOW = Math.floor(NOW / 600)
const peer = (fill: number): Uint8Array =>
  Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...new Uint8Array(32).fill(fill)])
const member = peer(0xaa)
const other = peer(0xbb)
const authSeed = new Uint8Array(32).fill(5)
const vft = (n: number): Uint8Array => new Uint8Array(16).fill(n)
const entries = [
  { vft: vft(1), flags: FLAG_RECEIVE | FLAG_SEND },
  { vft: vft(2), flags: FLAG_RECEIVE },
]

function proofFor(peerId: Uint8Array, window = WINDOW, expiry = NOW + 300): Uint8Array {
  return createMembershipProof({ authSeed, peerId, expiry, window, vfts: [vft(1), vft(2)] })
}

/** One proof check and no refill: the bucket is empty after the first. */
const stingy = () =>
  new ForwardingTable({
    requireProofs: true,
    limits: { proofChecksPerSecond: 0, proofCheckBurst: 1 },
  })

describe('admitSubscription with a ProofVerifier', () => {
  it('accepts a renewal under the same proof with no signature check and no token', () => {
    const table = stingy()
    const verifier = new ProofVerifier()
    const proof = proofFor(member)
    const sub = (now: number) =>
      admitSubscription(table, {
        neighbour: 'M',
        peerId: member,
        entries,
        ttlSeconds: 600,
        now,
        proof: proof.slice(), // as a fresh SUB message would carry it
        verifier,
      })
    expect(sub(NOW)).toEqual({ added: 2, refreshed: 0, rejected: 0 })
    for (let t = 30; t <= 270; t += 30) {
      expect(sub(NOW + t)).toEqual({ added: 0, refreshed: 2, rejected: 0 })
    }
    expect(verifier.counters).toMatchObject({ hits: 9, misses: 1, signatureChecks: 1 })
    expect(table.counters.subscriptionDrops['sub-rate']).toBe(0)
    // Still never past the proof's expiry.
    expect(table.lookup(vft(1))[0]!.expiresAt).toBe(NOW + 300)

    // Without the verifier the same renewal needs a token, and there is none.
    const plain = stingy()
    const base = { neighbour: 'M', peerId: member, entries, ttlSeconds: 600, proof }
    expect(admitSubscription(plain, { ...base, now: NOW }).added).toBe(2)
    expect(admitSubscription(plain, { ...base, now: NOW + 30 }).reason).toBe('sub-rate')
  })

  it('refuses the same proof bytes for another peer, afresh, and charges it nothing', () => {
    const table = stingy()
    const verifier = new ProofVerifier()
    const proof = proofFor(member)
    admitSubscription(table, {
      neighbour: 'M',
      peerId: member,
      entries,
      ttlSeconds: 600,
      now: NOW,
      proof,
      verifier,
    })
    // A replay from another peer: the proof names the member, not it.
    const replay = admitSubscription(table, {
      neighbour: 'X',
      peerId: other,
      entries,
      ttlSeconds: 600,
      now: NOW,
      proof,
      verifier,
    })
    expect(replay).toMatchObject({
      rejected: 2,
      reason: 'sub-proof-invalid',
      proofRejection: 'wrong-peer',
    })
    expect(verifier.counters.hits).toBe(0)
    // X's own proof still gets X's one token.
    expect(
      admitSubscription(table, {
        neighbour: 'X',
        peerId: other,
        entries,
        ttlSeconds: 600,
        now: NOW,
        proof: proofFor(other),
        verifier,
      }).added,
    ).toBe(2)
  })

  it('refuses a cached proof once it has expired', () => {
    const table = stingy()
    const verifier = new ProofVerifier()
    const proof = proofFor(member, WINDOW, NOW + 100)
    const base = { neighbour: 'M', peerId: member, entries, ttlSeconds: 600, proof, verifier }
    expect(admitSubscription(table, { ...base, now: NOW }).added).toBe(2)
    expect(admitSubscription(table, { ...base, now: NOW + 99 }).refreshed).toBe(2)
    expect(admitSubscription(table, { ...base, now: NOW + 100 })).toMatchObject({
      reason: 'sub-proof-invalid',
      proofRejection: 'expired',
    })
    expect(verifier.counters.hits).toBe(1)
  })

  it('charges a new proof (the next window) as before, and caches it once verified', () => {
    const table = stingy()
    const verifier = new ProofVerifier()
    const base = { neighbour: 'M', peerId: member, entries, ttlSeconds: 600, verifier }
    expect(admitSubscription(table, { ...base, now: NOW, proof: proofFor(member) }).added).toBe(2)
    const next = createMembershipProof({
      authSeed,
      peerId: member,
      expiry: (WINDOW + 2) * 600 + 120,
      window: WINDOW + 1,
      vfts: [vft(3)],
    })
    const sub = { vft: vft(3), flags: FLAG_RECEIVE }
    expect(
      admitSubscription(table, { ...base, entries: [sub], now: NOW + 60, proof: next }),
    ).toMatchObject({
      reason: 'sub-rate',
    })
    // Not cached: refused before its signature was checked.
    expect(verifier.counters).toMatchObject({ misses: 2, signatureChecks: 1 })
    // With a token again it is verified; then its renewals need none.
    table.setLimits('M', { proofChecksPerSecond: 1, proofCheckBurst: 1 })
    const at = { ...base, entries: [sub], proof: next }
    expect(admitSubscription(table, { ...at, now: NOW + 61 }).added).toBe(1)
    table.setLimits('M', { proofChecksPerSecond: 0, proofCheckBurst: 1 })
    expect(admitSubscription(table, { ...at, now: NOW + 90 }).refreshed).toBe(1)
    expect(admitSubscription(table, { ...at, now: NOW + 120 }).refreshed).toBe(1)
    expect(verifier.counters).toMatchObject({ hits: 2, signatureChecks: 2 })
  })
})
