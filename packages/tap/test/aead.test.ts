/**
 * The addon's AES primitives (src/aead.cc) against a published vector, the
 * independent @noble/ciphers implementation and node:crypto, byte for byte;
 * forgeries and misuse. Then @peertap/crypto's frame backend on top of them
 * against its node:crypto backend.
 */
import { randomBytes } from 'node:crypto'
import { ecb, gcm } from '@noble/ciphers/aes.js'
import {
  aesBackend,
  derivePskEpochSecrets,
  FrameReceiver,
  FrameSender,
  nodeAes,
  nodeBackend,
} from '@peertap/crypto'
import { describe, expect, it } from 'vitest'
import { opensslAes } from '../src/index.ts'
import { native } from '../src/native.ts'
import { canLoadAddon } from './helpers.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))

// McGrew and Viega, "The Galois/Counter Mode of Operation", test case 16 (AES-256, 60-byte text, 20-byte AAD).
const TC16 = {
  key: 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308',
  iv: 'cafebabefacedbaddecaf888',
  aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
  pt: 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
  ct: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
  tag: '76fc6ece0f4e1768cddf8853bb2d551b',
}

const skip = canLoadAddon() ? false : 'the @peertap/tap addon is not built'

describe.skipIf(skip)('openssl AES primitives', () => {
  const aes = opensslAes()

  it('gives the published GCM test case 16, split AAD or not, and opens it', () => {
    const key = aes.gcm(bytes(TC16.key))
    const pt = bytes(TC16.pt)
    const aad = bytes(TC16.aad)
    const out = new Uint8Array(pt.length + 16)
    key.seal(bytes(TC16.iv), aad, undefined, pt, 0, pt.length, out, 0)
    expect(hex(out)).toBe(TC16.ct + TC16.tag)
    const split = new Uint8Array(pt.length + 16)
    key.seal(bytes(TC16.iv), aad.subarray(0, 7), aad.subarray(7), pt, 0, pt.length, split, 0)
    expect(hex(split)).toBe(TC16.ct + TC16.tag)
    const back = new Uint8Array(pt.length)
    expect(key.open(bytes(TC16.iv), aad, undefined, out, 0, pt.length, back, 0)).toBe(true)
    expect(hex(back)).toBe(TC16.pt)
  })

  it('matches @noble/ciphers and node:crypto for lengths 0 to 1500, two AADs, offsets', () => {
    for (let len = 0; len <= 1500; len += len < 80 ? 1 : 37) {
      const k = randomBytes(32)
      const nonce = randomBytes(12)
      const aad = randomBytes(len % 40)
      const aad2 = len % 3 === 0 ? undefined : randomBytes(len % 23)
      const src = randomBytes(len + 9)
      const fullAad = aad2 === undefined ? aad : Buffer.concat([aad, aad2])
      const want = gcm(k, nonce, fullAad).encrypt(src.subarray(4, 4 + len))
      const out = new Uint8Array(len + 16 + 5)
      aes.gcm(k).seal(nonce, aad, aad2, src, 4, 4 + len, out, 5)
      expect(hex(out.subarray(5))).toBe(hex(want))
      const viaNode = new Uint8Array(len + 16)
      nodeAes.gcm(k).seal(nonce, aad, aad2, src, 4, 4 + len, viaNode, 0)
      expect(hex(viaNode)).toBe(hex(want))
      const back = new Uint8Array(len + 2)
      expect(aes.gcm(k).open(nonce, aad, aad2, out, 5, 5 + len, back, 2)).toBe(true)
      expect(hex(back.subarray(2))).toBe(hex(src.subarray(4, 4 + len)))
    }
  })

  it('seals and opens in place', () => {
    const key = aes.gcm(randomBytes(32))
    const nonce = randomBytes(12)
    const aad = randomBytes(19)
    const pt = randomBytes(100)
    const buf = new Uint8Array(8 + 100 + 16)
    buf.set(pt, 8)
    key.seal(nonce, aad, undefined, buf, 8, 108, buf, 8)
    expect(hex(buf.subarray(8, 108))).not.toBe(hex(pt))
    expect(key.open(nonce, aad, undefined, buf, 8, 108, buf, 8)).toBe(true)
    expect(hex(buf.subarray(8, 108))).toBe(hex(pt))
  })

  it('rejects every flipped bit of text, tag, AAD and nonce, and leaves no plaintext', () => {
    const key = aes.gcm(randomBytes(32))
    const nonce = randomBytes(12)
    const aad = randomBytes(12)
    const aad2 = randomBytes(5)
    const pt = randomBytes(40)
    const sealed = new Uint8Array(56)
    key.seal(nonce, aad, aad2, pt, 0, 40, sealed, 0)
    const flips: Array<[Uint8Array, number]> = []
    for (let i = 0; i < 56 * 8; i += 3) flips.push([sealed, i])
    for (let i = 0; i < 12 * 8; i += 5) flips.push([aad, i], [nonce, i])
    for (let i = 0; i < 5 * 8; i++) flips.push([aad2, i])
    for (const [target, bit] of flips) {
      target[bit >> 3]! ^= 1 << (bit & 7)
      const out = new Uint8Array(40).fill(0xaa)
      expect(key.open(nonce, aad, aad2, sealed, 0, 40, out, 0)).toBe(false)
      expect(out.every((b) => b === 0)).toBe(true)
      target[bit >> 3]! ^= 1 << (bit & 7)
    }
    // Without the second AAD, or under another key, it fails too.
    expect(key.open(nonce, aad, undefined, sealed, 0, 40, new Uint8Array(40), 0)).toBe(false)
    expect(
      aes.gcm(randomBytes(32)).open(nonce, aad, aad2, sealed, 0, 40, new Uint8Array(40), 0),
    ).toBe(false)
    expect(key.open(nonce, aad, aad2, sealed, 0, 40, new Uint8Array(40), 0)).toBe(true)
  })

  it('throws a TypeError on misuse and never reads or writes outside its arrays', () => {
    const key = aes.gcm(randomBytes(32))
    const n = randomBytes(12)
    const a = new Uint8Array(4)
    const src = new Uint8Array(32)
    expect(() => aes.gcm(new Uint8Array(16))).toThrow(TypeError)
    expect(() => key.seal(n.subarray(1), a, undefined, src, 0, 4, src, 0)).toThrow(TypeError)
    expect(() => key.seal(n, a, undefined, src, 8, 4, src, 0)).toThrow(TypeError)
    expect(() => key.seal(n, a, undefined, src, 0, 33, new Uint8Array(64), 0)).toThrow(TypeError)
    expect(() => key.seal(n, a, undefined, src, 0, 17, src, 0)).toThrow(TypeError) // no room for the tag
    expect(() => key.seal(n, a, undefined, src, -1, 4, src, 0)).toThrow(TypeError)
    // @ts-expect-error not a Uint8Array
    expect(() => key.seal(n, 'aad', undefined, src, 0, 4, src, 0)).toThrow(TypeError)
    expect(() => key.open(n, a, undefined, src, 0, 17, src, 0)).toThrow(TypeError) // tag past the end
    expect(() => key.open(n, a, undefined, src, 0, 16, new Uint8Array(15), 0)).toThrow(TypeError)
    expect(() => key.open(n, a, undefined, src, 0, 0xffff_fff8, src, 0)).toThrow(TypeError)
  })

  it("refuses a handle of the other kind at the addon's private interface", () => {
    const n = native()
    const ecbHandle = n.ecbKey(randomBytes(32))
    const gcmHandle = n.gcmKey(randomBytes(32))
    const b = new Uint8Array(64)
    const nonce = new Uint8Array(12)
    expect(() => n.gcmSeal(ecbHandle, nonce, b, undefined, b, 0, 8, b, 8)).toThrow(TypeError)
    expect(() => n.gcmOpen(ecbHandle, nonce, b, undefined, b, 0, 8, b, 32)).toThrow(TypeError)
    expect(() => n.ecbEncrypt(gcmHandle, b.subarray(0, 16), b.subarray(16))).toThrow(TypeError)
    // @ts-expect-error not a handle at all
    expect(() => n.gcmSeal({}, nonce, b, undefined, b, 0, 8, b, 8)).toThrow(TypeError)
  })

  it('ECB matches @noble/ciphers, one block or many', () => {
    const k = randomBytes(32)
    const e = aes.ecb(k)
    for (const blocks of [1, 2, 32]) {
      const src = randomBytes(16 * blocks)
      const dst = new Uint8Array(src.length)
      e.encrypt(src, dst)
      expect(hex(dst)).toBe(hex(ecb(k, { disablePadding: true }).encrypt(src)))
    }
    expect(() => e.encrypt(new Uint8Array(15), new Uint8Array(16))).toThrow(TypeError)
    expect(() => e.encrypt(new Uint8Array(32), new Uint8Array(16))).toThrow(TypeError)
  })

  it("makes @peertap/crypto's frames byte for byte like its node:crypto backend", () => {
    const secrets = derivePskEpochSecrets(randomBytes(32))
    const backend = aesBackend(aes)
    const kid = 0x0123_4567_89ab_cdefn
    const a = new FrameSender({ kind: 'psk', secrets, kid, backend })
    const b = new FrameSender({ kind: 'psk', secrets, kid, backend: nodeBackend })
    const viaNode = new FrameReceiver({ kind: 'psk', secrets, backend: nodeBackend })
    const viaOpenssl = new FrameReceiver({ kind: 'psk', secrets, backend })
    const vft = randomBytes(16)
    for (let i = 0; i < 300; i++) {
      const pt = randomBytes(1 + ((i * 53) % 1500))
      const sa = a.seal(vft, pt)
      expect(hex(sa)).toBe(hex(b.seal(vft, pt)))
      expect(hex(viaNode.open(sa, vft, 0) as Uint8Array)).toBe(hex(pt))
      expect(hex(viaOpenssl.open(sa, vft, 0) as Uint8Array)).toBe(hex(pt))
    }
    const forged = a.seal(vft, new Uint8Array([0, 1, 2, 3]))
    forged[forged.length - 17]! ^= 1 // the last ciphertext byte (the tag is the header mask sample)
    expect(viaOpenssl.open(forged, vft, 0)).toBe('auth')
  })
})
