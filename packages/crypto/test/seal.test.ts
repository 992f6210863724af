/**
 * The fast seal/open against the slow reference (test/reference.ts), the two
 * backends against each other, and the sealed payload's drop rules at the
 * stateless layer (openPayload).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  aesBackend,
  ctrLength,
  derivePskEpochSecrets,
  FrameSender,
  HeaderProtection,
  nobleBackend,
  nodeAes,
  nodeBackend,
  openPayload,
  SenderKey,
  sealedLength,
  sealPayload,
} from '../src/index.ts'
import { refCtr, refMask, refOpen, refSeal, refSealHeader, u64 } from './reference.ts'

const secrets = derivePskEpochSecrets(new TextEncoder().encode('seal test'))
const vft = new Uint8Array(16).map((_, i) => 0xa0 + i)
const u8 = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff)

const arbKid = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
const arbCounter = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 23 - 1 }),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
)
const arbPlaintext = fc.uint8Array({ minLength: 1, maxLength: 1500 })

describe('fast implementation vs reference', () => {
  it('ctrLength is minimal', () => {
    for (const c of [
      0,
      1,
      255,
      256,
      65535,
      65536,
      2 ** 23 - 1,
      2 ** 24,
      2 ** 32,
      2 ** 48,
      Number.MAX_SAFE_INTEGER,
    ]) {
      expect(ctrLength(c)).toBe(refCtr(BigInt(c)).length)
    }
  })

  it.each([nodeBackend, nobleBackend, aesBackend(nodeAes)])(
    '$name seals the reference bytes and opens them',
    (backend) => {
      const hp = new HeaderProtection(backend, secrets.hpKey)
      fc.assert(
        fc.property(
          arbKid,
          arbCounter,
          arbPlaintext,
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
          (kid, counter, pt, v) => {
            const key = SenderKey.derive(backend, secrets.frameBase, kid)
            const sealed = sealPayload(hp, key, counter, v, pt)
            const ref = refSeal(secrets.frameBase, secrets.hpKey, kid, BigInt(counter), v, pt)
            expect(Buffer.from(sealed).equals(ref)).toBe(true)
            expect(sealed.length).toBe(sealedLength(counter, pt.length))
            const opened = refOpen(secrets.frameBase, secrets.hpKey, v, sealed)
            expect(opened.ok && opened.kid === kid && opened.counter === BigInt(counter)).toBe(true)
            expect(
              Buffer.from(openPayload(hp, key, v, ref) as Uint8Array).equals(Buffer.from(pt)),
            ).toBe(true)
          },
        ),
        { numRuns: backend !== nobleBackend ? 200 : 60 },
      )
    },
  )

  it('both backends make identical bytes and each opens the other', () => {
    const hpNode = new HeaderProtection(nodeBackend, secrets.hpKey)
    const hpNoble = new HeaderProtection(nobleBackend, secrets.hpKey)
    fc.assert(
      fc.property(arbKid, arbCounter, arbPlaintext, (kid, counter, pt) => {
        const kNode = SenderKey.derive(nodeBackend, secrets.frameBase, kid)
        const kNoble = SenderKey.derive(nobleBackend, secrets.frameBase, kid)
        const a = sealPayload(hpNode, kNode, counter, vft, pt)
        const b = sealPayload(hpNoble, kNoble, counter, vft, pt)
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true)
        expect(
          Buffer.from(openPayload(hpNoble, kNoble, vft, a) as Uint8Array).equals(Buffer.from(pt)),
        ).toBe(true)
        expect(
          Buffer.from(openPayload(hpNode, kNode, vft, b) as Uint8Array).equals(Buffer.from(pt)),
        ).toBe(true)
      }),
      { numRuns: 100 },
    )
  })

  it('FrameSender.sealInto writes at an offset and leaves the rest alone', () => {
    const sender = new FrameSender({ kind: 'psk', secrets, kid: 42n })
    const out = new Uint8Array(200).fill(0xee)
    const n = sender.sealInto(vft, u8(64), out, 17)
    expect(n).toBe(9 + 1 + 64 + 16)
    expect(out.subarray(0, 17).every((b) => b === 0xee)).toBe(true)
    expect(out.subarray(17 + n).every((b) => b === 0xee)).toBe(true)
    const ref = refSeal(secrets.frameBase, secrets.hpKey, 42n, 0n, vft, u8(64))
    expect(Buffer.from(out.subarray(17, 17 + n)).equals(ref)).toBe(true)
  })
})

describe.each([nodeBackend, nobleBackend, aesBackend(nodeAes)])(
  'openPayload drop rules on $name',
  (backend) => {
    const hp = new HeaderProtection(backend, secrets.hpKey)
    const kid = 0x0000_0203_0405_0607n
    const key = SenderKey.derive(backend, secrets.frameBase, kid)
    const good = sealPayload(hp, key, 300, vft, u8(64))

    it('every truncation is dropped (short or auth, never a plaintext)', () => {
      for (let len = 0; len < good.length; len++) {
        const r = openPayload(hp, key, vft, good.subarray(0, len))
        expect(typeof r, `length ${len}`).toBe('string')
        if (len < 27) expect(r).toBe('short')
      }
    })

    it('a tampered byte at any position is dropped', () => {
      for (let i = 0; i < good.length; i++) {
        for (const x of [0x01, 0x80, 0xff]) {
          const bad = good.slice()
          bad[i]! ^= x
          expect(openPayload(hp, key, vft, bad), `byte ${i} ^ ${x}`).toMatch(
            /^(bad-config|non-minimal-ctr|short|unknown-sender|auth)$/,
          )
        }
      }
    })

    it('the wrong KID or the wrong key set is dropped', () => {
      const other = SenderKey.derive(backend, secrets.frameBase, kid + 1n)
      expect(openPayload(hp, other, vft, good)).toBe('unknown-sender')
      const elsewhere = derivePskEpochSecrets(new TextEncoder().encode('another VLAN'))
      const hp2 = new HeaderProtection(backend, elsewhere.hpKey)
      const key2 = SenderKey.derive(backend, elsewhere.frameBase, kid)
      expect(openPayload(hp2, key2, vft, good)).toMatch(
        /^(bad-config|non-minimal-ctr|unknown-sender|short|auth)$/,
      )
    })

    // Hand-built headers, protected with the right mask: what a buggy or hostile member could send.
    const handBuilt = (header: Buffer, counter: bigint, len = 64) =>
      refSealHeader(secrets.frameBase, secrets.hpKey, kid, header, counter, vft, u8(len))

    it('a non-minimal CTR is dropped before the AEAD', () => {
      const h = Buffer.concat([Buffer.from([0xf9]), u64(kid), Buffer.from([0x00, 0x05])])
      expect(openPayload(hp, key, vft, handBuilt(h, 5n))).toBe('non-minimal-ctr')
      // The same counter in one byte opens.
      const ok = Buffer.concat([Buffer.from([0xf8]), u64(kid), Buffer.from([0x05])])
      expect(typeof openPayload(hp, key, vft, handBuilt(ok, 5n))).not.toBe('string')
      // CTR 0 in two bytes is non-minimal too.
      const zero = Buffer.concat([Buffer.from([0xf9]), u64(kid), Buffer.from([0x00, 0x00])])
      expect(openPayload(hp, key, vft, handBuilt(zero, 0n))).toBe('non-minimal-ctr')
    })

    it('every config byte other than 0xF8..0xFE is dropped', () => {
      for (let config = 0; config < 256; config++) {
        if (config >= 0xf8 && config <= 0xfe) continue
        const h = Buffer.concat([Buffer.from([config]), u64(kid), Buffer.from([0x05])])
        expect(openPayload(hp, key, vft, handBuilt(h, 5n)), `config ${config}`).toBe('bad-config')
      }
    })

    it('a payload too short for the header its config announces is dropped', () => {
      // ctrLen 7 needs 16 + 1 + 16 = 33 bytes: build 32 (a 0-byte plaintext is not sealable, so hand-build).
      const h = Buffer.concat([Buffer.from([0xfe]), u64(kid), Buffer.from([1, 2, 3, 4, 5, 6, 7])])
      const sealed = refSealHeader(
        secrets.frameBase,
        secrets.hpKey,
        kid,
        h,
        0x01020304050607n,
        vft,
        new Uint8Array(0),
      )
      expect(sealed.length).toBe(32)
      expect(openPayload(hp, key, vft, sealed)).toBe('short')
    })

    it('header protection hides the counter: consecutive frames show no counter in the clear', () => {
      const sender = new FrameSender({ kind: 'psk', secrets, backend })
      const frames = Array.from({ length: 256 }, () => sender.seal(vft, u8(64)))
      // The clear CTR byte would be 0, 1, 2, ...; on the wire the byte at that place is masked.
      const inTheClear = frames.filter((f, i) => f[9] === i).length
      expect(inTheClear).toBeLessThan(8)
      // Neither config nor KID repeats in the clear either.
      expect(new Set(frames.map((f) => f[0])).size).toBeGreaterThan(100)
      expect(new Set(frames.map((f) => Buffer.from(f.subarray(1, 9)).toString('hex'))).size).toBe(
        256,
      )
      // Unmasking with the hpKey recovers 0, 1, 2, ... (the mask is AES-ECB(hpKey, tag)).
      frames.forEach((f, i) => {
        const mask = refMask(secrets.hpKey, f.subarray(f.length - 16))
        expect(f[9]! ^ mask[9]!).toBe(i)
      })
    })
  },
)
