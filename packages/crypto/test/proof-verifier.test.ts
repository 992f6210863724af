// ProofVerifier: verifyMembershipProof with a memory of verified proofs
// (spec 07 §4, §7). A renewal with the same proof costs no signature; the
// checks that depend on the clock or the PeerId run every time.
import * as nodeCrypto from 'node:crypto'
import { randomBytes } from 'node:crypto'
import { describe, expect, it, vi } from 'vitest'
import { InvalidArgumentError } from '../src/errors.ts'
import { createMembershipProof, verifyMembershipProof } from '../src/proof.ts'
import { ProofVerifier } from '../src/proof-verifier.ts'

// Count node:crypto's Ed25519 verifications, the work the cache saves.
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>()
  return { ...original, verify: vi.fn(original.verify) }
})
const signatureCalls = (): number => vi.mocked(nodeCrypto.verify).mock.calls.length

const seed = Uint8Array.from(randomBytes(32))
const peerId = Uint8Array.of(0x00, 0x24, ...randomBytes(36))
const window = 2_900_000
const start = window * 600
const NOW = start + 30

function proofFor(over: { peerId?: Uint8Array; expiry?: number; vft?: number } = {}): Uint8Array {
  const vft = new Uint8Array(16)
  new DataView(vft.buffer).setUint32(12, over.vft ?? 1)
  return createMembershipProof({
    authSeed: seed,
    peerId: over.peerId ?? peerId,
    expiry: over.expiry ?? start + 720,
    window,
    vfts: [vft],
  })
}

describe('ProofVerifier', () => {
  it('verifies a proof once: a renewal with the same proof runs no signature check', () => {
    const verifier = new ProofVerifier()
    const proof = proofFor()
    const before = signatureCalls()
    const first = verifier.verify({ proof, peerId, now: NOW })
    expect(first).toMatchObject({ ok: true, cached: false })
    expect(signatureCalls()).toBe(before + 1)
    for (let t = 1; t <= 5; t++) {
      // A renewal may come in a fresh buffer: the digest is of the bytes.
      const again = verifier.verify({ proof: proof.slice(), peerId, now: NOW + t * 60 })
      expect(again).toMatchObject({ ok: true, cached: true })
      if (again.ok) expect(again.proof.publicKey).toEqual(proof.subarray(0, 32))
    }
    expect(signatureCalls()).toBe(before + 1)
    expect(verifier.counters).toEqual({ hits: 5, misses: 1, signatureChecks: 1, evictions: 0 })
  })

  it('checks the PeerId every time: the same bytes for another peer are refused, not a hit', () => {
    const verifier = new ProofVerifier()
    const proof = proofFor()
    expect(verifier.verify({ proof, peerId, now: NOW }).ok).toBe(true)
    const other = peerId.slice()
    other[5]! ^= 1
    expect(verifier.verify({ proof, peerId: other, now: NOW })).toEqual({
      ok: false,
      reason: 'wrong-peer',
    })
    // That peer's own proof is a different one, verified afresh.
    const its = proofFor({ peerId: other })
    expect(verifier.verify({ proof: its, peerId: other, now: NOW })).toMatchObject({
      ok: true,
      cached: false,
    })
    expect(verifier.counters).toMatchObject({ hits: 0, signatureChecks: 2 })
  })

  it('refuses a cached proof once it has expired or left its window', () => {
    const verifier = new ProofVerifier()
    const proof = proofFor({ expiry: start + 100 })
    expect(verifier.verify({ proof, peerId, now: start + 99 }).ok).toBe(true)
    expect(verifier.verify({ proof, peerId, now: start + 100 })).toEqual({
      ok: false,
      reason: 'expired',
    })
    expect(verifier.verify({ proof, peerId, now: start - 721 })).toEqual({
      ok: false,
      reason: 'wrong-window',
    })
    expect(verifier.counters.hits).toBe(0)
  })

  it('never caches a refusal: a bad signature is checked, and refused, each time', () => {
    const verifier = new ProofVerifier()
    const bad = proofFor()
    bad[40]! ^= 1
    for (let i = 0; i < 3; i++) {
      expect(verifier.verify({ proof: bad, peerId, now: NOW })).toEqual({
        ok: false,
        reason: 'bad-signature',
      })
    }
    const smallOrderKey = proofFor()
    smallOrderKey.set(Uint8Array.of(1, ...new Uint8Array(31)), 0)
    expect(verifier.verify({ proof: smallOrderKey, peerId, now: NOW })).toEqual({
      ok: false,
      reason: 'bad-key',
    })
    expect(verifier.size).toBe(0)
    expect(verifier.counters).toMatchObject({ hits: 0, misses: 4, signatureChecks: 4 })
  })

  it('asks beforeSignature on a miss only, and stops when it says no', () => {
    const verifier = new ProofVerifier()
    const proof = proofFor()
    let tokens = 1
    const take = vi.fn(() => tokens-- > 0)
    expect(verifier.verify({ proof, peerId, now: NOW, beforeSignature: take }).ok).toBe(true)
    // Out of tokens: the renewal is a hit and asks for none.
    expect(verifier.verify({ proof, peerId, now: NOW, beforeSignature: take })).toMatchObject({
      ok: true,
      cached: true,
    })
    expect(take).toHaveBeenCalledTimes(1)
    // A new proof needs a signature check, which the caller refuses.
    const before = signatureCalls()
    const fresh = proofFor({ vft: 2 })
    expect(verifier.verify({ proof: fresh, peerId, now: NOW, beforeSignature: take })).toEqual({
      ok: false,
      reason: 'not-checked',
    })
    expect(signatureCalls()).toBe(before)
    // Cheap refusals come first and ask nothing.
    expect(
      verifier.verify({ proof: new Uint8Array(9), peerId, now: NOW, beforeSignature: take }),
    ).toEqual({ ok: false, reason: 'malformed' })
    expect(take).toHaveBeenCalledTimes(2)
    expect(verifier.counters).toEqual({ hits: 1, misses: 2, signatureChecks: 1, evictions: 0 })
  })

  it('stays bounded, forgetting the least recently used proof first', () => {
    const verifier = new ProofVerifier({ cacheSize: 4 })
    const proofs = Array.from({ length: 10 }, (_, i) => proofFor({ vft: 100 + i }))
    for (const proof of proofs.slice(0, 4)) verifier.verify({ proof, peerId, now: NOW })
    verifier.verify({ proof: proofs[0]!, peerId, now: NOW }) // proofs[0] is now the newest
    for (const proof of proofs.slice(4)) {
      verifier.verify({ proof, peerId, now: NOW })
      expect(verifier.size).toBeLessThanOrEqual(4)
    }
    expect(verifier.size).toBe(4)
    expect(verifier.counters.evictions).toBe(6)
    // The last four are remembered; proofs[0] went once six newer ones came.
    for (const proof of proofs.slice(6)) {
      expect(verifier.verify({ proof, peerId, now: NOW })).toMatchObject({ cached: true })
    }
    expect(verifier.verify({ proof: proofs[0]!, peerId, now: NOW })).toMatchObject({
      ok: true,
      cached: false,
    })
    const lru = new ProofVerifier({ cacheSize: 2 })
    lru.verify({ proof: proofs[0]!, peerId, now: NOW })
    lru.verify({ proof: proofs[1]!, peerId, now: NOW })
    lru.verify({ proof: proofs[0]!, peerId, now: NOW }) // a hit: proofs[1] is now the oldest
    lru.verify({ proof: proofs[2]!, peerId, now: NOW })
    expect(lru.verify({ proof: proofs[0]!, peerId, now: NOW })).toMatchObject({ cached: true })
    expect(lru.verify({ proof: proofs[1]!, peerId, now: NOW })).toMatchObject({ cached: false })
  })

  it('with cacheSize 0 verifies every time', () => {
    const verifier = new ProofVerifier({ cacheSize: 0 })
    const proof = proofFor()
    for (let i = 0; i < 3; i++) {
      expect(verifier.verify({ proof, peerId, now: NOW })).toMatchObject({
        ok: true,
        cached: false,
      })
    }
    expect(verifier.counters).toMatchObject({ hits: 0, signatureChecks: 3 })
    expect(verifier.size).toBe(0)
  })

  it('gives verifyMembershipProof’s verdict on every single-bit corruption, cached or not', () => {
    const verifier = new ProofVerifier()
    const good = proofFor()
    verifier.verify({ proof: good, peerId, now: NOW })
    for (let i = 0; i < good.length; i++) {
      const bad = good.slice()
      bad[i]! ^= 1 << (i % 8)
      const plain = verifyMembershipProof({ proof: bad, peerId, now: NOW })
      const cached = verifier.verify({ proof: bad, peerId, now: NOW })
      expect(cached.ok, `byte ${i}`).toBe(false)
      expect(cached).toEqual(plain)
    }
    expect(verifier.counters.hits).toBe(0)
  })

  it('throws only for its caller’s mistakes', () => {
    expect(() => new ProofVerifier({ cacheSize: -1 })).toThrow(InvalidArgumentError)
    expect(() => new ProofVerifier({ cacheSize: 1.5 })).toThrow(InvalidArgumentError)
    expect(() => new ProofVerifier().verify({ proof: proofFor(), peerId, now: -1 })).toThrow(
      InvalidArgumentError,
    )
  })
})
