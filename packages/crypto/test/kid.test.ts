import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  derivePskEpochSecrets,
  FrameReceiver,
  FrameSender,
  InvalidArgumentError,
  kidFromBytes,
  kidToBytes,
  mlsKid,
  PeerTapError,
  parseMlsKid,
  randomPskKid,
} from '../src/index.ts'

describe('KIDs', () => {
  it('MLS KID = leafIndex u24 ‖ epoch & 0xff u8 ‖ generation u32, big-endian', () => {
    expect(Buffer.from(kidToBytes(mlsKid(0x0a0b0c, 0x1ff, 0xdeadbeef))).toString('hex')).toBe(
      '0a0b0cffdeadbeef',
    )
    expect(mlsKid(0, 0n, 0)).toBe(0n)
    expect(mlsKid(0xffffff, 2n ** 64n - 1n, 0xffffffff)).toBe(2n ** 64n - 1n)
  })

  it('round-trips', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffff }),
        fc.nat(255),
        fc.integer({ min: 0, max: 0xffffffff }),
        (l, e, g) => {
          const kid = mlsKid(l, e, g)
          expect(parseMlsKid(kid)).toEqual({ leafIndex: l, epochByte: e, generation: g })
          expect(kidFromBytes(kidToBytes(kid))).toBe(kid)
        },
      ),
    )
  })

  it('PSK KIDs are random u64', () => {
    const fixed = randomPskKid((b) => b.fill(0xab))
    expect(fixed).toBe(0xababababababababn)
    expect(randomPskKid()).not.toBe(randomPskKid())
  })

  it('API misuse throws PeerTapError with a stable code', () => {
    const bad = [
      () => mlsKid(0x1000000, 0, 0),
      () => mlsKid(0, -1, 0),
      () => mlsKid(0, 0, 2 ** 32),
      () => kidToBytes(2n ** 64n),
      () => kidFromBytes(new Uint8Array(7)),
      () => derivePskEpochSecrets(new Uint8Array(0)),
    ]
    for (const f of bad) {
      expect(f).toThrow(InvalidArgumentError)
      try {
        f()
      } catch (e) {
        expect(e).toBeInstanceOf(PeerTapError)
        expect((e as PeerTapError).code).toBe('invalid-argument')
      }
    }
    const secrets = derivePskEpochSecrets(new Uint8Array([1]))
    const s = new FrameSender({ kind: 'psk', secrets })
    expect(() => s.seal(new Uint8Array(15), new Uint8Array(1))).toThrow(InvalidArgumentError)
    expect(() => s.seal(new Uint8Array(16), new Uint8Array(0))).toThrow(InvalidArgumentError)
    expect(() => s.sealInto(new Uint8Array(16), new Uint8Array(10), new Uint8Array(30), 0)).toThrow(
      InvalidArgumentError,
    )
    expect(() => new FrameReceiver({ kind: 'psk', secrets, maxKids: 0 })).toThrow(
      InvalidArgumentError,
    )
    expect(() => new FrameSender({ kind: 'mls', secrets, leafIndex: -1, epoch: 0 })).toThrow(
      InvalidArgumentError,
    )
  })
})
