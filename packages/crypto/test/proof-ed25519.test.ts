// The signature check of membership proofs (spec 07 §4 steps 6-7) on
// node:crypto's Ed25519, against the edge cases where Ed25519 verifiers
// disagree: small-order and non-canonical keys and R, S >= L, mixed-order
// points, cofactored versus cofactorless equations. Each case is also run
// through the rule the package used before (@noble/curves with zip215:
// false and an isSmallOrder check on the key), so every difference is
// written down here, not found later.
import { createHash, randomBytes } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import { describe, expect, it } from 'vitest'
import { verifyEd25519Strict } from '../src/proof.ts'

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'))
const Point = ed25519.Point
type EdPoint = InstanceType<typeof Point>
const L = 2n ** 252n + 27742317777372353535851937790883648493n
const P = 2n ** 255n - 19n

const le = (b: Uint8Array): bigint => {
  let x = 0n
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!)
  return x
}
const toLe = (x: bigint): Uint8Array => {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++, x >>= 8n) out[i] = Number(x & 0xffn)
  return out
}
const mul = (p: EdPoint, n: bigint): EdPoint => {
  const k = ((n % L) + L) % L
  return k === 0n ? Point.ZERO : p.multiply(k)
}
const challenge = (r: Uint8Array, a: Uint8Array, m: Uint8Array): bigint =>
  le(createHash('sha512').update(r).update(a).update(m).digest()) % L

/** The rule before node:crypto: strict decoding, cofactored equation, no small-order key. */
function nobleRule(pk: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  try {
    if (Point.fromBytes(pk, false).isSmallOrder()) return false
    return ed25519.verify(sig, msg, pk, { zip215: false })
  } catch {
    return false
  }
}

// A generator of the torsion subgroup (order 8); its multiples are the 8
// points of small order.
const T8 = Point.fromBytes(hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'))
const torsion = Array.from({ length: 8 }, (_, i) => mul(T8, BigInt(i)))

// novifinancial/ed25519-speccheck, cases.json at commit 65519336fda7
// (Apache-2.0): the 12 cases of Chalkias, Garillot and Nikolaenko, "Taming
// the Many EdDSAs" (2020), copied unchanged.
const SPECCHECK = [
  [
    '8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000',
  ],
  [
    '9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
    'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04',
  ],
  [
    'aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab',
    'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e',
  ],
  [
    '9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79',
    'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d',
    '9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009',
  ],
  [
    'e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c',
    'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d',
    '160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09',
  ],
  [
    'e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c',
    'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d',
    '21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405',
  ],
  [
    '85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40',
    '442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623',
    'e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514',
  ],
  [
    '85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40',
    '442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623',
    '8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22',
  ],
  [
    '9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41',
    'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f',
  ],
  [
    '9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41',
    'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908',
  ],
  [
    'e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    'a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04',
  ],
  [
    '39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    'a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04',
  ],
] as const

describe('verifyEd25519Strict on the ed25519-speccheck cases', () => {
  // What each case is (the speccheck README): 0-1 small-order A; 2 mixed-order
  // A with small-order R; 3 an ordinary valid signature; 4-5 mixed-order A,
  // valid only under the cofactored equation; 6-7 S >= L; 8-9 non-canonical
  // R; 10-11 non-canonical A (x = 0 with the sign bit set).
  const expected = [
    'bad-key',
    'bad-key',
    'bad-signature',
    'ok',
    'bad-signature',
    'bad-signature',
    'bad-signature',
    'bad-signature',
    'bad-signature',
    'bad-signature',
    'bad-key',
    'bad-key',
  ]

  it('accepts only case 3, as spec 07 §4 (strict encodings, cofactorless) says', () => {
    const got = SPECCHECK.map(([m, pk, sig]) => verifyEd25519Strict(hex(pk), hex(m), hex(sig)))
    expect(got).toEqual(expected)
  })

  it('differs from the previous @noble/curves rule only where that rule was cofactored', () => {
    const noble = SPECCHECK.map(([m, pk, sig]) => nobleRule(hex(pk), hex(m), hex(sig)))
    // Cases 2, 4 and 5 hold only under [8][S]B = [8]R + [8][k]A: @noble/curves
    // always verifies cofactored (zip215 picks the encoding rules, not the
    // equation), so the old code accepted them although spec 07 says
    // cofactorless. No RFC 8032 signer makes such a signature.
    const differ = noble.flatMap((ok, i) => (ok !== (expected[i] === 'ok') ? [i] : []))
    expect(differ).toEqual([2, 4, 5])
  })
})

describe('verifyEd25519Strict on constructed edge cases', () => {
  const seed = Uint8Array.from(randomBytes(32))
  const { scalar: a, pointBytes: A } = ed25519.utils.getExtendedPublicKey(seed)
  const msg = new TextEncoder().encode('PeerTap v1 proof edge case')
  const good = ed25519.sign(msg, seed)

  it('refuses every point of small order as a key, in every encoding, by its bytes', () => {
    const ys = new Set<bigint>()
    for (const t of torsion) {
      const enc = t.toBytes()
      ys.add(le(enc) & ((1n << 255n) - 1n))
      const flipped = enc.slice()
      flipped[31]! ^= 0x80
      for (const pk of [enc, flipped]) {
        expect(verifyEd25519Strict(pk, msg, good)).toBe('bad-key')
        expect(nobleRule(pk, msg, good)).toBe(false)
      }
    }
    // 8 points, 5 values of y: exactly the list proof.ts compares against.
    expect(ys.size).toBe(5)
    // y + p still fits 255 bits for y = 0 and 1: non-canonical, refused too.
    for (const y of [0n, 1n]) {
      for (const sign of [0n, 1n << 255n]) {
        expect(verifyEd25519Strict(toLe(y + P + sign), msg, good)).toBe('bad-key')
      }
    }
  })

  it('refuses a non-canonical encoding of a key that is not of small order', () => {
    // y = 3 is on the curve and not of small order; y + p encodes it again.
    const y3 = toLe(3n)
    expect(Point.fromBytes(y3, true).isSmallOrder()).toBe(false)
    const nonCanonical = toLe(3n + P)
    expect(() => Point.fromBytes(nonCanonical, false)).toThrow()
    expect(verifyEd25519Strict(nonCanonical, msg, good)).toBe('bad-key')
  })

  it('refuses a key that is no curve point at the signature step (was bad-key with noble)', () => {
    const offCurve = toLe(2n) // y = 2: (y^2 - 1) / (d y^2 + 1) is not a square
    expect(() => Point.fromBytes(offCurve, false)).toThrow()
    expect(verifyEd25519Strict(offCurve, msg, good)).toBe('bad-signature')
  })

  it('accepts an honest signature and refuses S >= L and a non-canonical R', () => {
    expect(verifyEd25519Strict(A, msg, good)).toBe('ok')
    const s = le(good.subarray(32))
    for (const bad of [s + L, L, (1n << 256n) - 1n, L + 1n]) {
      if (bad >= 1n << 256n) continue
      const sig = good.slice()
      sig.set(toLe(bad), 32)
      expect(verifyEd25519Strict(A, msg, sig)).toBe('bad-signature')
      expect(nobleRule(A, msg, sig)).toBe(false)
    }
    for (const r of [toLe(P), toLe(P + 1n), toLe(P + 3n)]) {
      const sig = good.slice()
      sig.set(r, 0)
      expect(verifyEd25519Strict(A, msg, sig)).toBe('bad-signature')
    }
  })

  it('refuses a small-order R even where the cofactorless equation holds', () => {
    // The key's owner can make R the identity (r = 0): [S]B = R + [k]A holds
    // with S = k a. RFC 8032 would accept it and @noble/curves does; OpenSSL
    // 3.5 refuses it and so, by its bytes, does proof.ts, with every R of
    // small order (spec 07 §4). An RFC 8032 signer's R = [r]B never is.
    const R = Point.ZERO.toBytes()
    const k = challenge(R, A, msg)
    const sig = Uint8Array.of(...R, ...toLe((k * a) % L))
    expect(mul(Point.BASE, (k * a) % L).equals(Point.ZERO.add(mul(Point.fromBytes(A), k)))).toBe(
      true,
    )
    expect(nobleRule(A, msg, sig)).toBe(true)
    expect(verifyEd25519Strict(A, msg, sig)).toBe('bad-signature')
  })

  it('accepts a mixed-order key and R when the cofactorless equation holds, and refuses the cofactored-only forgery', () => {
    // A' = [a]B + T8. The owner of a signs with R = [r]B + T, picking r until
    // T = -[k]T8 (one try in eight): then [S]B = R + [k]A' exactly.
    const mixedA = Point.BASE.multiply(a % L).add(T8)
    const Ab = mixedA.toBytes()
    let cofactorless: Uint8Array | undefined
    let cofactoredOnly: Uint8Array | undefined
    for (let tries = 0; tries < 400 && (!cofactorless || !cofactoredOnly); tries++) {
      const r = le(randomBytes(32)) % L
      const guess = tries % 8
      const R = Point.BASE.multiply(r).add(torsion[guess]!).toBytes()
      const k = challenge(R, Ab, msg)
      const sig = Uint8Array.of(...R, ...toLe((r + k * a) % L))
      if ((8 - Number(k % 8n)) % 8 === guess) cofactorless ??= sig
      else cofactoredOnly ??= sig
    }
    expect(verifyEd25519Strict(Ab, msg, cofactorless!)).toBe('ok')
    expect(nobleRule(Ab, msg, cofactorless!)).toBe(true)
    expect(verifyEd25519Strict(Ab, msg, cofactoredOnly!)).toBe('bad-signature')
    expect(nobleRule(Ab, msg, cofactoredOnly!)).toBe(true) // the old rule's difference again
  })

  it('agrees with the old rule on honest signatures and on every single-bit corruption', () => {
    for (let n = 0; n < 40; n++) {
      const sk = Uint8Array.from(randomBytes(32))
      const pk = ed25519.getPublicKey(sk)
      const m = Uint8Array.from(randomBytes(n))
      const sig = ed25519.sign(m, sk)
      expect(verifyEd25519Strict(pk, m, sig)).toBe('ok')
      const bit = (n * 37) % 768 // 256 key bits, then 512 signature bits
      const [which, at] = bit < 256 ? ['pk', bit] : ['sig', bit - 256]
      const pk2 = pk.slice()
      const sig2 = sig.slice()
      if (which === 'pk') pk2[at >> 3]! ^= 1 << (at & 7)
      else sig2[at >> 3]! ^= 1 << (at & 7)
      expect(verifyEd25519Strict(pk2, m, sig2) === 'ok').toBe(nobleRule(pk2, m, sig2))
      expect(nobleRule(pk2, m, sig2)).toBe(false)
    }
  })
})
