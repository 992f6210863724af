import { describe, expect, it } from 'vitest'
import { FLAG_RECEIVE, NeighbourAdmission, SubscriptionProofs } from '../src/index.ts'

const seedA = new Uint8Array(32).fill(1)
const seedB = new Uint8Array(32).fill(2)
const peerBytes = (n: number) =>
  Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...new Array(32).fill(n)])
const self = peerBytes(0xa)
const now = 600 * 3_000_000 + 30
const w = Math.floor(now / 600)
const vft = (vlan: number, n: number) => Uint8Array.from([vlan, n, ...new Array(14).fill(0)])
const describeVft = (v: Uint8Array) =>
  v[0] === 1
    ? { authSeed: seedA, window: w }
    : v[0] === 2
      ? { authSeed: seedB, window: w }
      : undefined

/** A peer's SUB proof for VLAN `vlan` (1: seedA, 2: seedB) and window w. */
function proofOf(peer: Uint8Array, vlan: number, n = 1): Uint8Array {
  const proofs = new SubscriptionProofs({
    peerId: peer,
    describe: describeVft,
    authSeeds: () => [seedA, seedB],
    holds: () => true,
  })
  return proofs.subscriptions([vft(vlan, n)], FLAG_RECEIVE, 180, now)[0]!.proof!
}

/** This node holds VLAN 1 only; the config names 'configured'. */
function admission(options: { checksPerSecond?: number; checkBurst?: number } = {}) {
  const proofs = new SubscriptionProofs({
    peerId: self,
    describe: describeVft,
    authSeeds: () => [seedA],
    holds: (v) => v[0] === 1,
  })
  let verified = 0
  const counted = new SubscriptionProofs({
    peerId: self,
    describe: describeVft,
    authSeeds: () => [seedA],
    holds: (v) => v[0] === 1,
    verify: (params) => {
      verified++
      return proofs.membership(params.proof, params.peerId, params.now).ok
        ? { ok: true, proof: decode(params.proof) }
        : { ok: false, reason: 'bad-signature' }
    },
  })
  const a = new NeighbourAdmission({
    configured: (peer) => peer === 'configured',
    proofs: counted,
    ...options,
  })
  return { a, proofs, verified: () => verified }
}

function decode(proof: Uint8Array) {
  return {
    publicKey: proof.subarray(0, 32),
    signature: proof.subarray(32, 96),
    peerId: new Uint8Array(0),
    expiry: 600 * (w + 1) + 120,
    window: w,
    vfts: [],
  }
}

describe('NeighbourAdmission: whom a node deals with', () => {
  it('admits configured peers and nobody else by default', () => {
    const { a } = admission()
    expect(a.admits('configured', now)).toBe(true)
    expect(a.admits('stranger', now)).toBe(false)
    expect(a.mayHear('configured', 'any key', now)).toBe(true)
    expect(a.mayHear('configured', undefined, now)).toBe(true)
    expect(a.mayHear('stranger', undefined, now)).toBe(false)
  })

  it('admits a peer whose proof of one of our VLAN epochs verifies for it, until the proof expires', () => {
    const { a, proofs } = admission()
    const b = peerBytes(0xb)
    expect(a.prove('b', b, proofOf(b, 1), now)).toBe('admitted')
    expect(a.admits('b', now)).toBe(true)
    expect(a.counters.admittedByProof).toBe(1)
    // It hears of the VLAN it proved, not of others, nor of VFTs without a key.
    const key = proofs.keyOf(vft(1, 9))!
    expect(a.mayHear('b', key, now)).toBe(true)
    expect(a.mayHear('b', 'ff'.repeat(32), now)).toBe(false)
    expect(a.mayHear('b', undefined, now)).toBe(false)
    // The proof's expiry ends it.
    const expiry = 600 * (w + 1) + 120
    expect(a.expire(expiry - 1)).toEqual([])
    expect(a.admits('b', expiry)).toBe(false)
    expect(a.expire(expiry)).toEqual(['b'])
    expect(a.counters.ended).toBe(1)
  })

  it("refuses a proof of a VLAN we do not hold, one made for another peer, and a forged one; a stranger's proofs are rate-limited", () => {
    const { a, verified } = admission({ checksPerSecond: 1, checkBurst: 2 })
    const s = peerBytes(0x5)
    expect(a.prove('s', s, proofOf(s, 2), now)).toBe('not-ours')
    expect(a.prove('s', s, proofOf(peerBytes(0xb), 1), now)).toBe('bad-signature')
    const forged = proofOf(s, 1, 3)
    forged[50]! ^= 1
    expect(a.prove('s', s, forged, now)).toBe('bad-signature')
    // A proof under a key we do not hold costs no check, so it is never rate-limited; ours are.
    expect(a.prove('s', s, proofOf(s, 2, 2), now)).toBe('not-ours')
    expect(a.prove('s', s, forged, now)).toBe('rate')
    expect(a.admits('s', now)).toBe(false)
    expect(verified()).toBe(2)
    expect(a.counters.refused).toEqual({ 'not-ours': 2, 'bad-signature': 2, rate: 1 })
    // The bucket refills with time.
    expect(a.prove('s', s, forged, now + 1)).toBe('bad-signature')
  })

  it('verifies a renewed proof once, and a new window or VLAN proof when it comes', () => {
    const { a, verified } = admission()
    const b = peerBytes(0xb)
    const proof = proofOf(b, 1)
    expect(a.prove('b', b, proof, now)).toBe('admitted')
    for (let i = 0; i < 10; i++) expect(a.prove('b', b, proof, now + i)).toBe('renewed')
    expect(verified()).toBe(1)
    expect(a.prove('b', b, proofOf(b, 1, 2), now)).toBe('renewed')
    expect(verified()).toBe(2)
  })

  it('ends the admission of a member whose epoch the node dropped (an MLS removal), and admits nobody by it again', () => {
    let seeds = [seedA, seedB]
    const proofs = new SubscriptionProofs({
      peerId: self,
      describe: describeVft,
      authSeeds: () => seeds,
      holds: () => true,
    })
    const a = new NeighbourAdmission({ configured: () => false, proofs })
    const c = peerBytes(0xc)
    const old = proofOf(c, 1)
    expect(a.prove('c', c, old, now)).toBe('admitted')
    expect(a.prove('c', c, proofOf(c, 2), now)).toBe('renewed')
    // The node drops VLAN 1's epoch: c stays admitted by VLAN 2 alone, and hears nothing of VLAN 1.
    seeds = [seedB]
    expect(a.expire(now)).toEqual([])
    expect(a.mayHear('c', proofs.keyOf(vft(1, 1)), now)).toBe(false)
    // Then VLAN 2's too: the admission ends, and the old proofs admit nobody.
    seeds = []
    expect(a.expire(now)).toEqual(['c'])
    expect(a.admits('c', now)).toBe(false)
    const d = peerBytes(0xd)
    expect(a.prove('d', d, proofOf(d, 1), now)).toBe('not-ours')
    expect(
      proofs.sendDeclaration({ entries: [{ vft: vft(1, 5), flags: 1 }], proof: old }, 180, now),
    ).toEqual([])
  })

  it('forgets a peer that left, and bounds the peers admitted by proof', () => {
    const proofs = new SubscriptionProofs({
      peerId: self,
      describe: describeVft,
      authSeeds: () => [seedA],
      holds: () => true,
    })
    const a = new NeighbourAdmission({ configured: () => false, proofs, maxProvenPeers: 2 })
    const [b, c, d] = [peerBytes(0xb), peerBytes(0xc), peerBytes(0xd)]
    expect(a.prove('b', b, proofOf(b, 1), now)).toBe('admitted')
    expect(a.prove('c', c, proofOf(c, 1), now)).toBe('admitted')
    expect(a.prove('d', d, proofOf(d, 1), now)).toBe('full')
    a.remove('b')
    expect(a.admits('b', now)).toBe(false)
    expect(a.prove('d', d, proofOf(d, 1), now)).toBe('admitted')
    expect(a.provenPeers).toBe(2)
  })
})
