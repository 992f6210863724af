/**
 * The suite's node:crypto SHA-256, HMAC and HKDF (src/suite.ts) against
 * ts-mls's own WebCrypto implementation of suite 1, byte for byte, and
 * against RFC 5869's published SHA-256 vectors.
 */
import { randomBytes } from 'node:crypto'
import { getCiphersuiteFromName, getCiphersuiteImpl } from 'ts-mls'
import { describe, expect, it } from 'vitest'
import { CIPHERSUITE_NAME } from '../src/constants.ts'
import { nodeHkdfSha256, nodeSha256, suite } from '../src/suite.ts'

const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const theirs = () => getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE_NAME))

// RFC 5869 Appendix A, test cases 1 to 3 (HKDF-SHA256).
const RFC5869 = [
  {
    ikm: '0b'.repeat(22),
    salt: '000102030405060708090a0b0c',
    info: 'f0f1f2f3f4f5f6f7f8f9',
    length: 42,
    prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
    okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  },
  {
    ikm: Array.from({ length: 80 }, (_, i) => i.toString(16).padStart(2, '0')).join(''),
    salt: Array.from({ length: 80 }, (_, i) => (0x60 + i).toString(16).padStart(2, '0')).join(''),
    info: Array.from({ length: 80 }, (_, i) => (0xb0 + i).toString(16).padStart(2, '0')).join(''),
    length: 82,
    prk: '06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244',
    okm:
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09' +
      'da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
  },
  {
    ikm: '0b'.repeat(22),
    salt: '',
    info: '',
    length: 42,
    prk: '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04',
    okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  },
]

describe('suite 1 with node:crypto hashing (src/suite.ts)', () => {
  it('reproduces RFC 5869 HKDF-SHA256 test cases 1 to 3', async () => {
    for (const v of RFC5869) {
      const prk = await nodeHkdfSha256.extract(bytes(v.salt), bytes(v.ikm))
      expect(hex(prk)).toBe(v.prk)
      expect(hex(await nodeHkdfSha256.expand(prk, bytes(v.info), v.length))).toBe(v.okm)
    }
  })

  it("gives ts-mls's own bytes for digest, mac, extract and expand on random inputs", async () => {
    const ref = await theirs()
    for (let i = 0; i < 64; i++) {
      // WebCrypto refuses a zero-length HMAC key; RFC 5869 case 3 covers the empty salt.
      const [key, data, info] = [randomBytes(1 + (i % 80)), randomBytes(i * 7), randomBytes(i % 33)]
      expect(hex(await nodeSha256.digest(data))).toBe(hex(await ref.hash.digest(data)))
      expect(hex(await nodeSha256.mac(key, data))).toBe(hex(await ref.hash.mac(key, data)))
      // ts-mls's own extract takes only a hash-length salt, as MLS always passes.
      const salt = randomBytes(32)
      expect(hex(await nodeHkdfSha256.extract(salt, data))).toBe(
        hex(await ref.kdf.extract(salt, data)),
      )
      const prk = randomBytes(32)
      for (const length of [0, 1, 31, 32, 33, 64, 255]) {
        expect(hex(await nodeHkdfSha256.expand(prk, info, length))).toBe(
          hex(await ref.kdf.expand(prk, info, length)),
        )
      }
    }
    expect(nodeHkdfSha256.size).toBe(ref.kdf.size)
  })

  it('verifies a correct MAC and refuses a flipped bit or a wrong length', async () => {
    const [key, data] = [randomBytes(32), randomBytes(100)]
    const mac = await nodeSha256.mac(key, data)
    expect(await nodeSha256.verifyMac(key, mac, data)).toBe(true)
    for (let bit = 0; bit < mac.length * 8; bit += 13) {
      const bad = mac.slice()
      bad[bit >> 3]! ^= 1 << (bit & 7)
      expect(await nodeSha256.verifyMac(key, bad, data)).toBe(false)
    }
    expect(await nodeSha256.verifyMac(key, mac.subarray(0, 31), data)).toBe(false)
  })

  it('refuses an HKDF-Expand output longer than 255 blocks', async () => {
    await expect(
      nodeHkdfSha256.expand(randomBytes(32), new Uint8Array(0), 255 * 32 + 1),
    ).rejects.toThrow(RangeError)
  })

  it('is what suite() hands to ts-mls', async () => {
    const cs = await suite()
    expect(cs.hash).toBe(nodeSha256)
    expect(cs.kdf).toBe(nodeHkdfSha256)
  })
})
