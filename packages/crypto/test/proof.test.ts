import { createPrivateKey, createPublicKey, randomBytes, sign, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ed25519 } from '@noble/curves/ed25519.js'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../src/errors.ts'
import {
  createMembershipProof,
  decodeMembershipProof,
  encodeMembershipProof,
  type MembershipProofVerdict,
  membershipProofMessage,
  membershipProofPublicKey,
  verifyMembershipProof,
} from '../src/proof.ts'

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

interface ProofVector {
  name: string
  authSeed: string
  publicKey: string
  peerId: string
  expiry: number
  window: number
  vftsGiven: string[]
  message: string
  signature: string
  proof: string
}
const vectors = (
  JSON.parse(readFileSync(new URL('./vectors/proof.json', import.meta.url), 'utf8')) as {
    vectors: ProofVector[]
  }
).vectors

// ---------------------------------------------------------------------------
// Independent references: OpenSSL's Ed25519 through node:crypto, and the
// signed message written out field by field with Buffer's writers.
// ---------------------------------------------------------------------------

const ed25519Private = (seed: Uint8Array) =>
  createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  })
const ed25519Public = (pk: Uint8Array) =>
  createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pk]),
    format: 'der',
    type: 'spki',
  })

function refMessage(
  peerId: Uint8Array,
  expiry: number,
  window: number,
  vfts: Uint8Array[],
): Uint8Array {
  const sorted = [...new Set(vfts.map(toHex))].sort()
  const fixed = Buffer.alloc(1 + 8 + 4 + 2)
  fixed.writeUInt8(peerId.length, 0)
  const parts = [
    Buffer.from('PeerTap v1 proof', 'ascii'),
    fixed.subarray(0, 1),
    Buffer.from(peerId),
  ]
  const tail = Buffer.alloc(14)
  tail.writeBigUInt64BE(BigInt(expiry), 0)
  tail.writeUInt32BE(window, 8)
  tail.writeUInt16BE(sorted.length, 12)
  parts.push(tail, ...sorted.map((v) => Buffer.from(v, 'hex')))
  return Uint8Array.from(Buffer.concat(parts))
}

/** A time at which a proof for `window` with the usual expiry is valid: mid-window. */
const during = (window: number): number => window * 600 + 300

describe('proof vectors', () => {
  for (const v of vectors) {
    describe(v.name, () => {
      const seed = hex(v.authSeed)
      const peerId = hex(v.peerId)
      const fields = { peerId, expiry: v.expiry, window: v.window, vfts: v.vftsGiven.map(hex) }

      it('the message matches a field-by-field reference encoding', () => {
        expect(toHex(refMessage(peerId, v.expiry, v.window, fields.vfts))).toBe(v.message)
        expect(toHex(membershipProofMessage(fields))).toBe(v.message)
      })

      it('node:crypto (OpenSSL) derives the same key and signature', () => {
        const priv = ed25519Private(seed)
        const jwk = createPublicKey(priv).export({ format: 'jwk' })
        expect(Buffer.from(jwk.x as string, 'base64url').toString('hex')).toBe(v.publicKey)
        expect(sign(null, hex(v.message), priv).toString('hex')).toBe(v.signature)
        expect(
          verify(null, hex(v.message), ed25519Public(hex(v.publicKey)), hex(v.signature)),
        ).toBe(true)
      })

      it('forwards: createMembershipProof gives pk ‖ sig ‖ body', () => {
        expect(toHex(membershipProofPublicKey(seed))).toBe(v.publicKey)
        const proof = createMembershipProof({ authSeed: seed, ...fields })
        expect(toHex(proof)).toBe(v.proof)
        // The body on the wire is the signed message without its label.
        expect(v.proof).toBe(v.publicKey + v.signature + v.message.slice(32))
      })

      it('backwards: decode and verify', () => {
        const decoded = decodeMembershipProof(hex(v.proof))
        if (!decoded.ok) throw new Error('vector did not decode')
        const p = decoded.proof
        expect(toHex(p.publicKey)).toBe(v.publicKey)
        expect(toHex(p.signature)).toBe(v.signature)
        expect(toHex(p.peerId)).toBe(v.peerId)
        expect(p.expiry).toBe(v.expiry)
        expect(p.window).toBe(v.window)
        expect(p.vfts.map(toHex)).toEqual([...new Set(v.vftsGiven)].sort())
        expect(toHex(encodeMembershipProof(p))).toBe(v.proof)
        const verdict = verifyMembershipProof({
          proof: hex(v.proof),
          peerId,
          now: during(v.window),
        })
        expect(verdict.ok).toBe(true)
      })

      it('a flipped bit anywhere is refused, and node:crypto agrees on the signed part', () => {
        const good = hex(v.proof)
        for (let i = 0; i < good.length; i++) {
          const bad = good.slice()
          bad[i]! ^= 1 << (i % 8)
          const verdict = verifyMembershipProof({ proof: bad, peerId, now: during(v.window) })
          expect(verdict.ok, `byte ${i}`).toBe(false)
          if (i >= 32 && i < 96) {
            // Signature bytes: an independent verifier refuses them too.
            expect(
              verify(null, hex(v.message), ed25519Public(hex(v.publicKey)), bad.subarray(32, 96)),
            ).toBe(false)
          }
        }
      })
    })
  }
})

describe('verifyMembershipProof', () => {
  const seed = Uint8Array.from(randomBytes(32))
  const peerId = Uint8Array.of(0x00, 0x24, ...randomBytes(36))
  const window = 2_900_000
  const start = window * 600
  const vfts = [Uint8Array.from(randomBytes(16)), Uint8Array.from(randomBytes(16))]
  const make = (over: Partial<{ expiry: number; window: number; peerId: Uint8Array }> = {}) =>
    createMembershipProof({
      authSeed: seed,
      peerId: over.peerId ?? peerId,
      expiry: over.expiry ?? start + 600 + 120,
      window: over.window ?? window,
      vfts,
    })
  const reason = (v: MembershipProofVerdict) => (v.ok ? 'ok' : v.reason)

  it('accepts from the start of the previous window to the end of its own, with 120 s skew', () => {
    const proof = make()
    expect(reason(verifyMembershipProof({ proof, peerId, now: start - 720 }))).toBe('ok')
    expect(reason(verifyMembershipProof({ proof, peerId, now: start - 721 }))).toBe('wrong-window')
    expect(reason(verifyMembershipProof({ proof, peerId, now: start + 719 }))).toBe('ok')
    expect(reason(verifyMembershipProof({ proof, peerId, now: start + 720 }))).toBe('wrong-window')
  })

  it('is valid strictly before its expiry', () => {
    const proof = make({ expiry: start + 100 })
    expect(reason(verifyMembershipProof({ proof, peerId, now: start + 99 }))).toBe('ok')
    expect(reason(verifyMembershipProof({ proof, peerId, now: start + 100 }))).toBe('expired')
  })

  it('refuses an expiry past its window end plus skew', () => {
    expect(
      reason(verifyMembershipProof({ proof: make({ expiry: start + 721 }), peerId, now: start })),
    ).toBe('bad-expiry')
  })

  it('refuses a proof for another peer', () => {
    const other = peerId.slice()
    other[other.length - 1]! ^= 1
    expect(reason(verifyMembershipProof({ proof: make(), peerId: other, now: start }))).toBe(
      'wrong-peer',
    )
    expect(
      reason(verifyMembershipProof({ proof: make(), peerId: peerId.subarray(1), now: start })),
    ).toBe('wrong-peer')
  })

  it('refuses a signature under another key, and a malleated s (s + L)', () => {
    const proof = make()
    const otherKey = ed25519.getPublicKey(Uint8Array.from(randomBytes(32)))
    const swapped = proof.slice()
    swapped.set(otherKey, 0)
    expect(reason(verifyMembershipProof({ proof: swapped, peerId, now: start }))).toBe(
      'bad-signature',
    )
    // s is the signature's second half, little-endian; s + L still verifies
    // under a lax verifier, so RFC 8032's s < L rule must be enforced.
    const L = 2n ** 252n + 27742317777372353535851937790883648493n
    const sBytes = proof.subarray(64, 96)
    let s = 0n
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sBytes[i]!)
    const s2 = s + L
    if (s2 < 2n ** 256n) {
      const malleated = proof.slice()
      let t = s2
      for (let i = 0; i < 32; i++) {
        malleated[64 + i] = Number(t & 0xffn)
        t >>= 8n
      }
      expect(reason(verifyMembershipProof({ proof: malleated, peerId, now: start }))).toBe(
        'bad-signature',
      )
    }
  })

  it('refuses small-order and non-canonical public keys as bad-key', () => {
    const proof = make()
    const identity = Uint8Array.of(1, ...new Uint8Array(31))
    // y = p (2^255 - 19) encodes 0 non-canonically.
    const nonCanonical = hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')
    for (const pk of [identity, nonCanonical, new Uint8Array(32)]) {
      const bad = proof.slice()
      bad.set(pk, 0)
      expect(reason(verifyMembershipProof({ proof: bad, peerId, now: start }))).toBe('bad-key')
    }
  })

  it('runs cheap checks before the signature: a bad signature on a wrong-window proof is wrong-window', () => {
    const bad = make().slice()
    bad[40]! ^= 1
    expect(reason(verifyMembershipProof({ proof: bad, peerId, now: start + 10_000 }))).toBe(
      'wrong-window',
    )
  })

  it('throws only for a bad now, which is the caller’s own', () => {
    for (const now of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => verifyMembershipProof({ proof: make(), peerId, now })).toThrow(
        InvalidArgumentError,
      )
    }
  })
})

describe('decodeMembershipProof', () => {
  const good = hex(vectors[1]!.proof)
  const malformed = (b: Uint8Array) =>
    expect(decodeMembershipProof(b)).toEqual({ ok: false, reason: 'malformed' })
  // Offsets in the three-VFT vector: pk 0, sig 32, peerIdLength 96, PeerId 97..135,
  // expiry 135, window 143, count 147, VFTs 149.
  const COUNT = 96 + 1 + 38 + 8 + 4

  it('refuses every truncation and a trailing byte', () => {
    for (let n = 0; n < good.length; n++) malformed(good.subarray(0, n))
    malformed(Uint8Array.of(...good, 0))
  })

  it('refuses a PeerId length of 0 or over 64, and one that overruns', () => {
    for (const len of [0, 65, 255, 200]) {
      const b = good.slice()
      b[96] = len
      malformed(b)
    }
  })

  it('refuses a VFT count of 0, over 1024, or not matching the bytes', () => {
    for (const count of [0, 1025, 2, 4, 0xffff]) {
      const b = good.slice()
      new DataView(b.buffer).setUint16(COUNT, count)
      malformed(b)
    }
  })

  it('refuses VFTs out of order or repeated', () => {
    const b = good.slice()
    const first = b.slice(COUNT + 2, COUNT + 18)
    b.copyWithin(COUNT + 2, COUNT + 18, COUNT + 34)
    b.set(first, COUNT + 18)
    malformed(b)
    const c = good.slice()
    c.copyWithin(COUNT + 18, COUNT + 2, COUNT + 18)
    malformed(c)
  })

  it('refuses an expiry past 2^53 - 1', () => {
    const b = good.slice()
    b[135] = 0x00
    b[136] = 0x20
    malformed(b)
  })

  it('never throws and never reads out of bounds on random input', () => {
    for (let i = 0; i < 3000; i++) {
      const b = Uint8Array.from(randomBytes(i % 220))
      // Steer some inputs past the length checks.
      if (b.length > 97) b[96] = (b[96]! % 40) + 1
      const d = decodeMembershipProof(b)
      if (d.ok) expect(encodeMembershipProof(d.proof)).toEqual(b)
      expect(verifyMembershipProof({ proof: b, peerId: new Uint8Array(38), now: 0 }).ok).toBe(false)
    }
  })

  it('decodes views into an offset buffer', () => {
    const padded = new Uint8Array(good.length + 7)
    padded.set(good, 3)
    const d = decodeMembershipProof(padded.subarray(3, 3 + good.length))
    expect(d.ok).toBe(true)
  })
})

describe('createMembershipProof limits', () => {
  const seed = new Uint8Array(32).fill(7)
  const base = { authSeed: seed, peerId: Uint8Array.of(1, 2, 3), expiry: 720, window: 0 }
  const vft = (i: number) => {
    const b = new Uint8Array(16)
    new DataView(b.buffer).setUint32(12, i)
    return b
  }

  it('carries 1024 VFTs and refuses 1025', () => {
    const vfts = Array.from({ length: 1024 }, (_, i) => vft(i))
    const proof = createMembershipProof({ ...base, vfts })
    expect(proof.length).toBe(96 + 15 + 3 + 1024 * 16)
    expect(verifyMembershipProof({ proof, peerId: base.peerId, now: 0 }).ok).toBe(true)
    expect(() => createMembershipProof({ ...base, vfts: [...vfts, vft(1024)] })).toThrow(
      InvalidArgumentError,
    )
  })

  it("refuses a caller's out-of-range fields", () => {
    const vfts = [vft(1)]
    const bad = [
      { ...base, vfts, authSeed: new Uint8Array(31) },
      { ...base, vfts, peerId: new Uint8Array(0) },
      { ...base, vfts, peerId: new Uint8Array(65) },
      { ...base, vfts, expiry: -1 },
      { ...base, vfts, expiry: 2 ** 53 },
      { ...base, vfts, window: 2 ** 32 },
      { ...base, vfts: [] },
      { ...base, vfts: [new Uint8Array(15)] },
    ]
    for (const params of bad)
      expect(() => createMembershipProof(params)).toThrow(InvalidArgumentError)
    expect(() => membershipProofPublicKey(new Uint8Array(33))).toThrow(InvalidArgumentError)
  })
})
