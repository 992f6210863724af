/**
 * The fast path's AES (src/cipher.h): its own AES-NI and PCLMULQDQ code
 * (src/aes-ni.cc) and OpenSSL's EVP give the same bytes. Each opens what
 * the other sealed, payloads and DATA datagrams of every length around the
 * block and the 8-block GHASH and CTR steps, up to 9000 bytes, and both
 * refuse the same forgeries. test/flow-core.test.ts seals every seal.json
 * case with each; the fuzz target `aes` compares them on arbitrary keys,
 * nonces and AAD splits.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { native } from '../src/native.ts'
import { canLoadAddon } from './helpers.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

const skip = canLoadAddon() ? false : 'the @peertap/tap addon is not built'

describe.skipIf(skip)('the fast path AES: AES-NI against OpenSSL', () => {
  afterAll(() => {
    native().flowAesImpl('auto')
  })
  const info = () => native().flowAesImpl()
  /** Runs `f` with the test functions on `impl`. */
  const using = <T>(impl: 'evp' | 'ni', f: () => T): T => {
    native().flowAesImpl(impl)
    try {
      return f()
    } finally {
      native().flowAesImpl('auto')
    }
  }

  it('uses AES-NI where the CPU has it, unless PEERTAP_AES=evp', () => {
    const { default: d, ni } = info()
    expect(d).toBe(ni && process.env.PEERTAP_AES !== 'evp' ? 'ni' : 'evp')
    if (!ni) expect(() => native().flowAesImpl('ni')).toThrow(/no AES-NI/)
    expect(() => native().flowAesImpl('des' as 'ni')).toThrow(/flowAesImpl/)
  })

  // Lengths around 16-byte blocks and the 8-block GHASH and CTR steps, up
  // to a jumbo frame.
  const LENGTHS = [
    1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 1377, 1500, 2000,
  ]

  const noNi =
    canLoadAddon() && !native().flowAesImpl().ni ? 'this CPU has no AES-NI and PCLMULQDQ' : false

  it.skipIf(noNi)(
    'opens sealed payloads of every length the other implementation sealed, and refuses the same forgeries',
    () => {
      const key = randomBytes(32)
      const salt = randomBytes(12)
      const kid = randomBytes(8)
      const hpKey = randomBytes(32)
      const vft = randomBytes(16)
      for (const len of LENGTHS) {
        const pt = randomBytes(len)
        const counter = len * 997
        const a = using('ni', () =>
          native().flowSealPayload(key, salt, kid, hpKey, vft, counter, pt),
        )
        const b = using('evp', () =>
          native().flowSealPayload(key, salt, kid, hpKey, vft, counter, pt),
        )
        expect(hex(a), `length ${len}`).toBe(hex(b))
        for (const [opener, sealed] of [
          ['evp', a],
          ['ni', b],
        ] as const) {
          const opened = using(opener, () =>
            native().flowOpenPayload(key, salt, hpKey, vft, sealed),
          )
          expect(opened.drop, `${opener} opens, length ${len}`).toBe(0)
          expect(hex(opened.plaintext!)).toBe(hex(pt))
          // A flipped bit in the ciphertext, the tag, or another VFT (AAD).
          for (const at of [sealed.length - 17 - (len >> 1), sealed.length - 1]) {
            const forged = Uint8Array.from(sealed)
            forged[at]! ^= 0x40
            const refused = using(opener, () =>
              native().flowOpenPayload(key, salt, hpKey, vft, forged),
            )
            // In the tag, the header's mask changes too: refused by a header
            // rule or by the AEAD, never opened.
            expect(refused.drop, `${opener} refuses a flipped byte ${at}, length ${len}`).not.toBe(
              0,
            )
            expect(refused.plaintext).toBeUndefined()
          }
          const otherVft = Uint8Array.from(vft)
          otherVft[0]! ^= 1
          expect(
            using(opener, () => native().flowOpenPayload(key, salt, hpKey, otherVft, sealed)).drop,
          ).toBe(5)
        }
      }
    },
  )

  it.skipIf(noNi)(
    'seals DATA datagrams to the same bytes and opens the other implementation’s',
    () => {
      const key = randomBytes(32)
      const vft = randomBytes(16)
      for (const len of LENGTHS.map((l) => l + 27)) {
        const sealed = randomBytes(len)
        const a = using('ni', () => native().flowSealData(key, 7, len, 9, vft, sealed))
        const b = using('evp', () => native().flowSealData(key, 7, len, 9, vft, sealed))
        expect(hex(a), `length ${len}`).toBe(hex(b))
        for (const [opener, d] of [
          ['evp', a],
          ['ni', b],
        ] as const) {
          const opened = using(opener, () => native().flowOpenData(key, d))
          expect(opened, `${opener} opens, length ${len}`).toMatchObject({
            drop: 0,
            counter: len,
            hopLimit: 9,
          })
          expect(hex(opened.vft!)).toBe(hex(vft))
          // The sealed payload is the DATA's AAD: one bit of it flipped.
          const forged = Uint8Array.from(d)
          forged[d.length - 1]! ^= 1
          expect(using(opener, () => native().flowOpenData(key, forged)).drop).toBe(4)
        }
      }
    },
  )
})
