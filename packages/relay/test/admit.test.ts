// admitSubscription: rate limit before the signature, a real Ed25519 proof
// (@peertap/crypto), VFTs bound to the proof's key, TTL cut to its expiry.
import { createMembershipProof, membershipProofPublicKey, ProofVerifier } from '@peertap/crypto'
import { describe, expect, it } from 'vitest'
import {
  admitSubscription,
  FLAG_RECEIVE,
  FLAG_SEND,
  ForwardingTable,
  RouteBatch,
} from '../src/index.ts'

const NOW = 600 * 3_000_000 + 10 // 10 s into a window
const WINDOW = Math.floor(NOW / 600)
const peerA = Uint8Array.from([
  0x00,
  0x24,
  0x08,
  0x01,
  0x12,
  0x20,
  ...new Uint8Array(32).fill(0xaa),
])
const peerB = Uint8Array.from([
  0x00,
  0x24,
  0x08,
  0x01,
  0x12,
  0x20,
  ...new Uint8Array(32).fill(0xbb),
])
const authSeed = new Uint8Array(32).fill(5)
const otherSeed = new Uint8Array(32).fill(6)
const v1 = new Uint8Array(16).fill(1)
const v2 = new Uint8Array(16).fill(2)
const v3 = new Uint8Array(16).fill(3)

function proof(
  peerId: Uint8Array,
  seed: Uint8Array = authSeed,
  vfts: Uint8Array[] = [v1, v2],
  expiry = NOW + 300,
): Uint8Array {
  return createMembershipProof({ authSeed: seed, peerId, expiry, window: WINDOW, vfts })
}

describe('admitSubscription', () => {
  it('binds the proved VFTs to the proof key and cuts the TTL to the expiry', () => {
    const table = new ForwardingTable({ requireProofs: true })
    const result = admitSubscription(table, {
      neighbour: 'A',
      peerId: peerA,
      entries: [
        { vft: v1, flags: FLAG_RECEIVE | FLAG_SEND },
        { vft: v3, flags: FLAG_RECEIVE }, // not in the proof
      ],
      ttlSeconds: 1_200,
      now: NOW,
      proof: proof(peerA),
    })
    expect(result).toMatchObject({ added: 1, rejected: 1, reason: 'sub-proof-vft' })
    const [sub] = table.lookup(v1)
    expect(sub!.provingKey).toEqual(membershipProofPublicKey(authSeed))
    expect(sub!.expiresAt).toBe(NOW + 300)
    expect(table.counters.subscriptionDrops['sub-proof-vft']).toBe(1)

    // B proves the same key: frames flow between A and B.
    admitSubscription(table, {
      neighbour: 'B',
      peerId: peerB,
      entries: [{ vft: v1, flags: FLAG_RECEIVE | FLAG_SEND }],
      ttlSeconds: 600,
      now: NOW,
      proof: proof(peerB),
    })
    const frames = [{ hopLimit: 4, vft: v1, sealed: new Uint8Array(64).fill(9) }]
    const out = table.route('A', frames, NOW, new RouteBatch())
    expect(out.outputs[0]?.neighbour).toBe('B')
    expect(out.length).toBe(1)
  })

  it('refuses bad proofs and counts them, with the crypto reason', () => {
    const table = new ForwardingTable({ requireProofs: true })
    const entries = [{ vft: v1, flags: FLAG_RECEIVE }]
    const base = { neighbour: 'A', peerId: peerA, entries, ttlSeconds: 600, now: NOW }
    expect(admitSubscription(table, { ...base, proof: proof(peerB) })).toMatchObject({
      rejected: 1,
      reason: 'sub-proof-invalid',
      proofRejection: 'wrong-peer',
    })
    const flipped = proof(peerA)
    flipped[40] = flipped[40]! ^ 1 // a bit of the signature
    expect(admitSubscription(table, { ...base, proof: flipped }).proofRejection).toBe(
      'bad-signature',
    )
    expect(admitSubscription(table, { ...base, proof: new Uint8Array(10) }).proofRejection).toBe(
      'malformed',
    )
    expect(
      admitSubscription(table, { ...base, proof: proof(peerA, authSeed, [v1], NOW) })
        .proofRejection,
    ).toBe('expired')
    expect(table.counters.subscriptionDrops['sub-proof-invalid']).toBe(4)
    expect(table.subscriptionCount).toBe(0)
  })

  it('keeps two keys apart: a squatter with its own key reaches no member', () => {
    const table = new ForwardingTable({ requireProofs: true })
    const sub = (neighbour: string, peerId: Uint8Array, seed: Uint8Array) =>
      admitSubscription(table, {
        neighbour,
        peerId,
        entries: [{ vft: v1, flags: FLAG_RECEIVE | FLAG_SEND }],
        ttlSeconds: 600,
        now: NOW,
        proof: proof(peerId, seed),
      })
    sub('A', peerA, authSeed)
    sub('B', peerB, otherSeed) // a valid proof, under a key it minted
    const frames = [{ hopLimit: 4, vft: v1, sealed: new Uint8Array(64).fill(9) }]
    const out = table.route('B', frames, NOW, new RouteBatch())
    expect(out.length).toBe(0)
    expect(table.counters.frameDrops['proof-mismatch']).toBe(1)
  })

  it('rate-limits signature checks, not the cheap refusals before them, and honours the deny list', () => {
    const table = new ForwardingTable({
      requireProofs: true,
      limits: { proofChecksPerSecond: 1, proofCheckBurst: 2 },
    })
    const base = {
      neighbour: 'A',
      peerId: peerA,
      entries: [{ vft: v1, flags: FLAG_RECEIVE }],
      ttlSeconds: 600,
      now: NOW,
    }
    // Garbage fails the cheap checks (spec 09 §3) and costs no token.
    const garbage = new Uint8Array(200)
    for (let i = 0; i < 5; i++) {
      expect(admitSubscription(table, { ...base, proof: garbage })).toMatchObject({
        reason: 'sub-proof-invalid',
        proofRejection: 'malformed',
      })
    }
    // Forged signatures cost a token each; then the flood is refused before
    // any signature work.
    const forged = proof(peerA)
    forged[40] = forged[40]! ^ 1
    expect(admitSubscription(table, { ...base, proof: forged }).proofRejection).toBe(
      'bad-signature',
    )
    expect(admitSubscription(table, { ...base, proof: forged }).proofRejection).toBe(
      'bad-signature',
    )
    expect(admitSubscription(table, { ...base, proof: proof(peerA) })).toEqual({
      added: 0,
      refreshed: 0,
      rejected: 1,
      reason: 'sub-rate',
    })
    expect(admitSubscription(table, { ...base, now: NOW + 1, proof: proof(peerA) }).added).toBe(1)
    table.setAccess('A', 'deny')
    expect(admitSubscription(table, { ...base, now: NOW + 5, proof: proof(peerA) }).reason).toBe(
      'sub-denied',
    )
    expect(table.counters.subscriptionDrops).toMatchObject({
      'sub-rate': 1,
      'sub-denied': 1,
      'sub-proof-invalid': 7,
    })
  })

  it('limits SUB entries per neighbour, renewals included, before any proof work', () => {
    const table = new ForwardingTable({
      requireProofs: true,
      limits: { subscriptionEntriesPerSecond: 2, subscriptionEntryBurst: 4 },
    })
    const verifier = new ProofVerifier()
    const good = proof(peerA)
    const sub = (now: number, p = good) =>
      admitSubscription(table, {
        neighbour: 'A',
        peerId: peerA,
        entries: [
          { vft: v1, flags: FLAG_RECEIVE },
          { vft: v2, flags: FLAG_RECEIVE },
        ],
        ttlSeconds: 600,
        now,
        proof: p,
        verifier,
      })
    // A burst of 4 tokens: two SUBs of 2 entries, then the bucket is empty.
    expect(sub(NOW).added).toBe(2)
    expect(sub(NOW).refreshed).toBe(2)
    expect(sub(NOW)).toMatchObject({ rejected: 2, reason: 'sub-rate' })
    // A SUB refused by its rate costs no signature, even with a proof never seen.
    const checks = verifier.counters.signatureChecks
    const forged = proof(peerA)
    forged[40] = forged[40]! ^ 1
    expect(sub(NOW, forged)).toMatchObject({ rejected: 2, reason: 'sub-rate' })
    expect(verifier.counters.signatureChecks).toBe(checks)
    // One second later, 2 tokens: one SUB of 2 entries.
    expect(sub(NOW + 1).refreshed).toBe(2)
    expect(sub(NOW + 1).reason).toBe('sub-rate')
    // The same holds without a proof, through the table alone.
    const open = new ForwardingTable({
      limits: { subscriptionEntriesPerSecond: 2, subscriptionEntryBurst: 4 },
    })
    const entries = [{ vft: v1, flags: FLAG_RECEIVE }]
    for (let i = 0; i < 4; i++) expect(open.subscribe('A', entries, 60, NOW).rejected).toBe(0)
    expect(open.subscribe('A', entries, 60, NOW)).toMatchObject({ rejected: 1, reason: 'sub-rate' })
    expect(open.counters.subscriptionDrops['sub-rate']).toBe(1)
    expect(table.counters.subscriptionDrops['sub-rate']).toBe(6)
  })
})
