/** sealBatch and openBatch give exactly what seal/open give one frame at a time. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  aesBackend,
  type DropReason,
  derivePskEpochSecrets,
  FrameReceiver,
  FrameSender,
  InvalidArgumentError,
  nobleBackend,
  nodeAes,
  nodeBackend,
} from '../src/index.ts'

const secrets = derivePskEpochSecrets(new TextEncoder().encode('batch test'))
const vftOf = (i: number) => new Uint8Array(16).fill(i & 0xff)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe.each([nodeBackend, nobleBackend, aesBackend(nodeAes)])('batches on $name', (backend) => {
  it('sealBatch = sealInto one by one, across CTR-length boundaries and a rollover', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 40 }),
        fc.constantFrom(0, 250, 65530, 2 ** 23 - 5),
        fc.nat(8),
        (sizes, start, gap) => {
          const mk = () =>
            new FrameSender({
              kind: 'mls',
              secrets,
              backend,
              leafIndex: 4,
              epoch: 1,
              generation: 77,
              startCounter: start,
            })
          const one = mk()
          const batch = mk()
          const plaintexts = sizes.map((n, i) => new Uint8Array(n).fill(i + 1))
          const vfts = sizes.map((_, i) => vftOf(i))
          const lengths: number[] = []
          batch.sealedLengths(sizes, lengths)
          const offsets: number[] = []
          let end = 3
          for (const l of lengths) {
            offsets.push(end)
            end += l + gap
          }
          const out = new Uint8Array(end)
          batch.sealBatch(vfts, plaintexts, out, offsets)
          plaintexts.forEach((p, i) => {
            const expected = one.seal(vfts[i]!, p)
            expect(lengths[i]).toBe(expected.length)
            expect(hex(out.subarray(offsets[i]!, offsets[i]! + lengths[i]!))).toBe(hex(expected))
          })
          expect(batch.counter).toBe(one.counter)
          expect(batch.kid).toBe(one.kid)
        },
      ),
      { numRuns: backend !== nobleBackend ? 60 : 15 },
    )
  })

  it('openBatch = open one by one, with garbage, truncations and replays mixed in', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(2 * 40 - 1), { minLength: 1, maxLength: 60 }),
        fc.uint8Array({ maxLength: 40 }),
        (picks, junk) => {
          const sender = new FrameSender({ kind: 'psk', secrets, backend })
          const frames = Array.from({ length: 40 }, (_, i) =>
            sender.seal(vftOf(i), new Uint8Array(1 + i).fill(i)),
          )
          const inputs = picks.map((p) =>
            p < 40 ? frames[p]! : p % 3 === 0 ? junk : frames[p - 40]!.subarray(0, p % 30),
          )
          const vfts = picks.map((p) => vftOf(p % 40))
          const windows = picks.map(() => 7)
          const a = new FrameReceiver({ kind: 'psk', secrets, backend })
          const b = new FrameReceiver({ kind: 'psk', secrets, backend })
          const results: (Uint8Array | DropReason)[] = []
          a.openBatch(inputs, vfts, windows, results)
          inputs.forEach((f, i) => {
            const r = b.open(f, vfts[i]!, 7)
            const got = results[i]!
            expect(typeof got === 'string' ? got : hex(got)).toBe(
              typeof r === 'string' ? r : hex(r),
            )
          })
          expect(a.counters).toEqual(b.counters)
        },
      ),
      { numRuns: backend !== nobleBackend ? 60 : 15 },
    )
  })

  it("openBatch tells each opened frame's KID, and leaves dropped ones alone", () => {
    const one = new FrameSender({ kind: 'psk', secrets, backend })
    const two = new FrameSender({ kind: 'psk', secrets, backend })
    const inputs = [
      one.seal(vftOf(1), new Uint8Array([0, 1])),
      two.seal(vftOf(1), new Uint8Array([0, 2])),
      new Uint8Array(40),
      one.seal(vftOf(1), new Uint8Array([0, 3])),
    ]
    const r = new FrameReceiver({ kind: 'psk', secrets, backend })
    const results: (Uint8Array | DropReason)[] = []
    const kids = [-1, -1, -1, -1, -1, -1, -1, -1]
    r.openBatch(inputs, [1, 1, 1, 1].map(vftOf), [7, 7, 7, 7], results, kids)
    const kidOf = (i: number) => (BigInt(kids[2 * i]!) << 32n) | BigInt(kids[2 * i + 1]!)
    expect(typeof results[2]).toBe('string')
    expect(kidOf(0)).toBe(one.kid)
    expect(kidOf(1)).toBe(two.kid)
    expect(kids.slice(4, 6)).toEqual([-1, -1])
    expect(kidOf(3)).toBe(one.kid)
  })

  it('misuse throws before any frame is sealed', () => {
    const s = new FrameSender({ kind: 'psk', secrets, backend })
    expect(() => s.sealBatch([vftOf(1)], [new Uint8Array(4)], new Uint8Array(10), [0])).toThrow(
      InvalidArgumentError,
    )
    expect(() => s.sealBatch([vftOf(1)], [], new Uint8Array(100), [])).toThrow(InvalidArgumentError)
    expect(s.counter).toBe(0)
  })

  it('empty batches do nothing', () => {
    const s = new FrameSender({ kind: 'psk', secrets, backend })
    s.sealBatch([], [], new Uint8Array(0), [])
    expect(s.counter).toBe(0)
    const r = new FrameReceiver({ kind: 'psk', secrets, backend })
    const results: (Uint8Array | DropReason)[] = []
    r.openBatch([], [], [], results)
    expect(results).toEqual([])
    expect(r.counters.opened + r.counters.short).toBe(0)
  })
})
