import { blake3 } from '@noble/hashes/blake3.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BROADCAST_MAC,
  deriveMvlanId,
  deriveVft,
  deriveVlanId,
  formatMac,
  heldWindows,
  parseMac,
  VFT_LABEL,
  VftDeriver,
  VftError,
  windowOf,
} from '../src/index.ts'
import mvlanVectors from './vectors/mvlan.json' with { type: 'json' }
import vectors from './vectors/vft.json' with { type: 'json' }

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** The slow, obviously-correct reference: one keyed BLAKE3 call over the concatenated input. */
function referenceVft(vftKey: Uint8Array, mac: Uint8Array, window: number): Uint8Array {
  const input = new Uint8Array([...new TextEncoder().encode(VFT_LABEL), ...mac, 0, 0, 0, 0])
  new DataView(input.buffer).setUint32(input.length - 4, window)
  return blake3(input, { key: vftKey, dkLen: 16 })
}

describe('VFT vectors (computed with b3sum, see test/vectors/README.md)', () => {
  it('has at least 8 entries covering unicast, broadcast, multicast, window edges and a non-ASCII name', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(8)
    const macs = vectors.map((v) => hex(v.mac))
    expect(macs.some((m) => (m[0]! & 1) === 0)).toBe(true)
    expect(macs.some((m) => toHex(m) === 'ffffffffffff')).toBe(true)
    expect(macs.some((m) => (m[0]! & 1) === 1 && toHex(m) !== 'ffffffffffff')).toBe(true)
    expect(vectors.some((v) => v.window === 0)).toBe(true)
    expect(vectors.some((v) => v.window === 0xffff_ffff)).toBe(true)
    expect(vectors.some((v) => /[^\x20-\x7e]/.test(v.name))).toBe(true)
  })

  for (const v of vectors) {
    it(`forwards: ${v.comment}`, () => {
      expect(toHex(deriveVlanId(hex(v.ownerPeerId), v.name))).toBe(v.vlanId)
      expect(toHex(deriveVft(hex(v.vftKey), hex(v.mac), v.window))).toBe(v.vft)
      expect(toHex(new VftDeriver(hex(v.vftKey)).derive(hex(v.mac), v.window))).toBe(v.vft)
      expect(toHex(referenceVft(hex(v.vftKey), hex(v.mac), v.window))).toBe(v.vft)
    })

    it(`flipped bits change the result: ${v.comment}`, () => {
      const owner = hex(v.ownerPeerId)
      owner[owner.length - 1]! ^= 1
      expect(toHex(deriveVlanId(owner, v.name))).not.toBe(v.vlanId)
      const key = hex(v.vftKey)
      key[0]! ^= 0x80
      expect(toHex(deriveVft(key, hex(v.mac), v.window))).not.toBe(v.vft)
      const mac = hex(v.mac)
      mac[5]! ^= 1
      expect(toHex(deriveVft(hex(v.vftKey), mac, v.window))).not.toBe(v.vft)
      expect(toHex(deriveVft(hex(v.vftKey), hex(v.mac), (v.window ^ 1) >>> 0))).not.toBe(v.vft)
    })
  }

  it('MVLAN-ID vector', () => {
    for (const v of mvlanVectors) expect(toHex(deriveMvlanId(hex(v.fabricSecret)))).toBe(v.mvlanId)
  })
})

describe('VftDeriver', () => {
  it('matches the one-shot reference on random inputs', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 6, maxLength: 6 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (key, mac, window) => {
          const deriver = new VftDeriver(key)
          expect(deriver.derive(mac, window)).toEqual(referenceVft(key, mac, window))
          // Reuse of the deriver must not carry state from one derivation to the next.
          expect(deriver.derive(mac, window)).toEqual(referenceVft(key, mac, window))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('writes into a caller buffer at an offset without touching the rest', () => {
    const key = new Uint8Array(32).fill(9)
    const out = new Uint8Array(40).fill(0xaa)
    const view = new VftDeriver(key).derive(BROADCAST_MAC, 5, out, 20)
    expect(view).toEqual(referenceVft(key, BROADCAST_MAC, 5))
    expect(out.subarray(20, 36)).toEqual(view)
    expect(out.subarray(0, 20).every((b) => b === 0xaa)).toBe(true)
    expect(out.subarray(36).every((b) => b === 0xaa)).toBe(true)
  })

  it('refuses keys, MACs and windows of the wrong shape', () => {
    expect(() => new VftDeriver(new Uint8Array(31))).toThrow(VftError)
    const deriver = new VftDeriver(new Uint8Array(32))
    expect(() => deriver.derive(new Uint8Array(5), 0)).toThrow(/MAC/)
    expect(() => deriver.derive(BROADCAST_MAC, -1)).toThrow(/u32/)
    expect(() => deriver.derive(BROADCAST_MAC, 2 ** 32)).toThrow(/u32/)
    expect(() => deriver.derive(BROADCAST_MAC, 1.5)).toThrow(/u32/)
  })
})

describe('MAC text', () => {
  it('round-trips and accepts dashes and upper case', () => {
    expect(formatMac(parseMac('02:AB:cd:00:11:ff'))).toBe('02:ab:cd:00:11:ff')
    expect(formatMac(parseMac('02-ab-cd-00-11-ff'))).toBe('02:ab:cd:00:11:ff')
  })
  it.each(['', '02:ab:cd:00:11', '02:ab:cd:00:11:ff:00', '02:ab-cd:00:11:ff', 'zz:ab:cd:00:11:ff'])(
    'refuses %j',
    (text) => {
      expect(() => parseMac(text)).toThrow(VftError)
    },
  )
})

describe('windows and clock skew', () => {
  it('the sender window is in the receiver held set for any skew up to 120 s either way', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e3, max: 4e9, noNaN: true }),
        fc.double({ min: -120, max: 120, noNaN: true }),
        (receiverNow, skew) => {
          expect(heldWindows(receiverNow)).toContain(windowOf(receiverNow + skew))
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('holds the previous window only for the first 120 s', () => {
    const start = 2_963_231 * 600
    expect(heldWindows(start)).toEqual([2_963_230, 2_963_231, 2_963_232])
    expect(heldWindows(start + 119.999)).toEqual([2_963_230, 2_963_231, 2_963_232])
    expect(heldWindows(start + 120)).toEqual([2_963_231, 2_963_232])
    expect(heldWindows(start + 599.999)).toEqual([2_963_231, 2_963_232])
    expect(heldWindows(0)).toEqual([0, 1])
  })
})
