import { describe, expect, it } from 'vitest'
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_DATAGRAM_BYTES,
  DEFAULT_MAX_FRAGMENTS_PER_DATAGRAM,
  DEFAULT_MAX_REASSEMBLIES,
  DEFAULT_TIMEOUT_MS,
  decodeFragmentHeader,
  FragError,
  Fragmenter,
  Outcome,
  Reassembler,
} from '../src/index.ts'

/** Builds a fragment by hand: id u32 ‖ total u24 ‖ offset u24 ‖ payload. */
function frag(id: number, total: number, offset: number, payload: Uint8Array | number): Uint8Array {
  const body = typeof payload === 'number' ? new Uint8Array(payload).fill(offset & 0xff) : payload
  const f = new Uint8Array(10 + body.length)
  new DataView(f.buffer).setUint32(0, id)
  f.set(
    [
      total >>> 16,
      (total >>> 8) & 0xff,
      total & 0xff,
      offset >>> 16,
      (offset >>> 8) & 0xff,
      offset & 0xff,
    ],
    4,
  )
  f.set(body, 10)
  return f
}

describe('Reassembler: each drop reason has its outcome and counter', () => {
  it('malformed: short, total 0, payload past total', () => {
    const r = new Reassembler<number>()
    expect(r.push(1, new Uint8Array(0), 0)).toBe(Outcome.Malformed)
    expect(r.push(1, new Uint8Array(10), 0)).toBe(Outcome.Malformed)
    expect(r.push(1, frag(1, 0, 0, 1), 0)).toBe(Outcome.Malformed)
    expect(r.push(1, frag(1, 100, 95, 6), 0)).toBe(Outcome.Malformed)
    expect(r.push(1, frag(1, 100, 0xff_ffff, 1), 0)).toBe(Outcome.Malformed)
    expect(r.counters.malformed).toBe(5)
    expect(r.reassemblies).toBe(0)
  })

  it('oversize: total above maxDatagramBytes, at the default and a custom bound', () => {
    const r = new Reassembler<number>()
    expect(r.push(1, frag(1, DEFAULT_MAX_DATAGRAM_BYTES + 1, 0, 1), 0)).toBe(Outcome.Oversize)
    expect(r.push(1, frag(1, DEFAULT_MAX_DATAGRAM_BYTES, 0, 1), 0)).toBe(Outcome.Pending)
    const small = new Reassembler<number>({ maxDatagramBytes: 100 })
    expect(small.push(1, frag(1, 101, 0, 101), 0)).toBe(Outcome.Oversize)
    expect(small.push(1, frag(1, 100, 0, 100), 0)).toBe(Outcome.Complete)
    expect(r.counters.oversize + small.counters.oversize).toBe(2)
  })

  it('duplicate: the same range is dropped and the first copy kept', () => {
    const r = new Reassembler<number>()
    expect(r.push(1, frag(7, 20, 0, new Uint8Array(10).fill(1)), 0)).toBe(Outcome.Pending)
    expect(r.push(1, frag(7, 20, 0, new Uint8Array(10).fill(9)), 0)).toBe(Outcome.Duplicate)
    expect(r.push(1, frag(7, 20, 10, new Uint8Array(10).fill(2)), 0)).toBe(Outcome.Complete)
    expect([...r.datagram!]).toEqual([...new Uint8Array(10).fill(1), ...new Uint8Array(10).fill(2)])
    expect(r.counters.duplicate).toBe(1)
  })

  it('overlap: on either side, contained or containing, abandons the datagram', () => {
    const cases: [number, number][] = [
      [5, 10], // straddles the start of the held [10, 20)
      [15, 10], // straddles its end
      [12, 3], // inside it
      [0, 30], // covers it
      [10, 5], // same start, shorter
    ]
    for (const [offset, length] of cases) {
      const r = new Reassembler<number>()
      expect(r.push(1, frag(3, 40, 10, 10), 0)).toBe(Outcome.Pending)
      expect(r.push(1, frag(3, 40, offset, length), 0), `${offset}+${length}`).toBe(Outcome.Overlap)
      expect(r.bytesHeld).toBe(0)
      expect(r.reassemblies).toBe(1)
      expect(r.push(1, frag(3, 40, 30, 10), 0)).toBe(Outcome.Abandoned)
      expect(r.counters.overlap).toBe(1)
      expect(r.counters.abandoned).toBe(1)
    }
  })

  it('adjacent ranges do not overlap, in any arrival order', () => {
    const r = new Reassembler<number>()
    expect(r.push(1, frag(3, 30, 10, 10), 0)).toBe(Outcome.Pending)
    expect(r.push(1, frag(3, 30, 0, 10), 0)).toBe(Outcome.Pending)
    expect(r.push(1, frag(3, 30, 20, 10), 0)).toBe(Outcome.Complete)
  })

  it('inconsistent: a different total abandons the datagram', () => {
    const r = new Reassembler<number>()
    expect(r.push(1, frag(3, 30, 0, 10), 0)).toBe(Outcome.Pending)
    expect(r.push(1, frag(3, 31, 10, 10), 0)).toBe(Outcome.Inconsistent)
    expect(r.push(1, frag(3, 30, 10, 10), 0)).toBe(Outcome.Abandoned)
    expect(r.push(1, frag(3, 30, 20, 10), 0)).toBe(Outcome.Abandoned)
    expect(r.counters.inconsistent).toBe(1)
    expect(r.counters.complete).toBe(0)
  })

  it('tooManyFragments: tiny fragments cannot hold more than the bound', () => {
    const r = new Reassembler<number>({ maxFragmentsPerDatagram: 4 })
    for (let i = 0; i < 3; i++) expect(r.push(1, frag(3, 100, i, 1), 0)).toBe(Outcome.Pending)
    expect(r.push(1, frag(3, 100, 3, 1), 0)).toBe(Outcome.TooManyFragments)
    expect(r.push(1, frag(3, 100, 4, 96), 0)).toBe(Outcome.Abandoned)
    // The bound still lets a datagram complete with exactly that many fragments.
    for (let i = 0; i < 3; i++) expect(r.push(1, frag(4, 4, i, 1), 0)).toBe(Outcome.Pending)
    expect(r.push(1, frag(4, 4, 3, 1), 0)).toBe(Outcome.Complete)
  })

  it('never completes: expires at timeoutMs, counted once, memory freed', () => {
    const r = new Reassembler<number>({ timeoutMs: 50 })
    expect(r.push(1, frag(3, 30, 0, 10), 1000)).toBe(Outcome.Pending)
    expect(r.bytesHeld).toBe(30)
    r.expire(1049)
    expect(r.reassemblies).toBe(1)
    r.expire(1050)
    expect(r.reassemblies).toBe(0)
    expect(r.bytesHeld).toBe(0)
    expect(r.counters.expired).toBe(1)
    r.expire(5000)
    expect(r.counters.expired).toBe(1)
  })

  it('an abandoned slot expiring is not counted as expired', () => {
    const r = new Reassembler<number>({ timeoutMs: 50 })
    r.push(1, frag(3, 30, 0, 10), 0)
    r.push(1, frag(3, 30, 5, 10), 0)
    r.expire(100)
    expect(r.reassemblies).toBe(0)
    expect(r.counters.expired).toBe(0)
  })
})

describe('Reassembler: keys, bounds and state', () => {
  it('sources are separate id spaces, for numbers, strings and bigints', () => {
    const r = new Reassembler()
    for (const source of [1, '1', 1n])
      expect(r.push(source, frag(9, 20, 0, 10), 0)).toBe(Outcome.Pending)
    expect(r.reassemblies).toBe(3)
    for (const source of [1n, '1', 1])
      expect(r.push(source, frag(9, 20, 10, 10), 0)).toBe(Outcome.Complete)
    expect(r.reassemblies).toBe(0)
  })

  it('a single-fragment datagram is a view of the fragment and holds no state', () => {
    const r = new Reassembler<number>()
    const f = frag(1, 4, 0, Uint8Array.of(1, 2, 3, 4))
    expect(r.push(1, f, 0)).toBe(Outcome.Complete)
    expect(r.datagram!.buffer).toBe(f.buffer)
    expect([...r.datagram!]).toEqual([1, 2, 3, 4])
    expect(r.reassemblies).toBe(0)
    expect(r.push(1, frag(2, 10, 0, 5), 0)).toBe(Outcome.Pending)
    expect(r.datagram).toBeUndefined()
  })

  it('a whole-datagram fragment for an id under reassembly is an overlap', () => {
    const r = new Reassembler<number>()
    r.push(1, frag(1, 10, 0, 5), 0)
    expect(r.push(1, frag(1, 10, 0, 10), 0)).toBe(Outcome.Overlap)
  })

  it('evicts the oldest when maxReassemblies is reached', () => {
    const r = new Reassembler<number>({ maxReassemblies: 2 })
    r.push(1, frag(1, 20, 0, 10), 0)
    r.push(2, frag(1, 20, 0, 10), 1)
    r.push(3, frag(1, 20, 0, 10), 2)
    expect(r.counters.evicted).toBe(1)
    expect(r.push(2, frag(1, 20, 10, 10), 3)).toBe(Outcome.Complete)
    expect(r.push(3, frag(1, 20, 10, 10), 3)).toBe(Outcome.Complete)
    expect(r.push(1, frag(1, 20, 10, 10), 3)).toBe(Outcome.Pending)
  })

  it('evicts the oldest to stay under maxBytes, counting the declared total', () => {
    const r = new Reassembler<number>({ maxDatagramBytes: 1000, maxBytes: 1500 })
    r.push(1, frag(1, 1000, 0, 1), 0)
    expect(r.bytesHeld).toBe(1000)
    r.push(1, frag(2, 1000, 0, 1), 0)
    expect(r.bytesHeld).toBe(1000)
    expect(r.reassemblies).toBe(1)
    expect(r.counters.evicted).toBe(1)
  })

  it('clear() drops every reassembly and keeps the counters', () => {
    const r = new Reassembler<number>()
    for (let id = 0; id < 10; id++) r.push(id % 3, frag(id, 20, 0, 10), 0)
    r.clear()
    expect(r.reassemblies).toBe(0)
    expect(r.bytesHeld).toBe(0)
    expect(r.counters.pending).toBe(10)
    expect(r.push(0, frag(0, 20, 10, 10), 0)).toBe(Outcome.Pending)
  })

  it('has the documented defaults', () => {
    const r = new Reassembler()
    expect([
      r.maxDatagramBytes,
      r.maxFragmentsPerDatagram,
      r.maxReassemblies,
      r.maxBytes,
      r.timeoutMs,
    ]).toEqual([66_560, 128, 256, 4 * 1024 * 1024, 1000])
    expect([
      DEFAULT_MAX_DATAGRAM_BYTES,
      DEFAULT_MAX_FRAGMENTS_PER_DATAGRAM,
      DEFAULT_MAX_REASSEMBLIES,
      DEFAULT_MAX_BYTES,
      DEFAULT_TIMEOUT_MS,
    ]).toEqual([
      r.maxDatagramBytes,
      r.maxFragmentsPerDatagram,
      r.maxReassemblies,
      r.maxBytes,
      r.timeoutMs,
    ])
  })

  it('rejects invalid options with frag-invalid-options', () => {
    const bad = [
      { maxDatagramBytes: 0 },
      { maxDatagramBytes: 2 ** 24 },
      { maxDatagramBytes: 1.5 },
      { maxFragmentsPerDatagram: 0 },
      { maxReassemblies: 0 },
      { maxBytes: 100, maxDatagramBytes: 101 },
      { timeoutMs: 0 },
      { timeoutMs: Number.NaN },
      { timeoutMs: Number.POSITIVE_INFINITY },
    ]
    for (const options of bad) {
      expect(() => new Reassembler(options), JSON.stringify(options)).toThrow(FragError)
      try {
        new Reassembler(options)
      } catch (e) {
        expect((e as FragError).code).toBe('frag-invalid-options')
      }
    }
    // maxBytes defaults up to maxDatagramBytes when that is larger than 4 MiB.
    expect(new Reassembler({ maxDatagramBytes: 2 ** 24 - 1 }).maxBytes).toBe(2 ** 24 - 1)
  })
})

describe('Fragmenter', () => {
  it('drops and counts what it cannot send', () => {
    const f = new Fragmenter({
      maxFragmentBytes: 20,
      maxDatagramBytes: 100,
      maxFragmentsPerDatagram: 5,
    })
    const dst = new Uint8Array(1000)
    expect(f.split(new Uint8Array(0), dst)).toBe(0)
    expect(f.split(new Uint8Array(101), dst)).toBe(0)
    expect(f.split(new Uint8Array(51), dst)).toBe(0) // 6 fragments of 10 bytes
    expect(f.split(new Uint8Array(50), dst)).toBe(5)
    expect(f.counters).toEqual({
      datagrams: 1,
      fragments: 5,
      bytes: 50,
      empty: 1,
      oversize: 1,
      tooManyFragments: 1,
    })
    expect(f.nextId).toBe(1)
  })

  it('throws frag-buffer-too-small before writing anything', () => {
    const f = new Fragmenter({ maxFragmentBytes: 20 })
    const dst = new Uint8Array(59).fill(0xaa)
    const datagram = new Uint8Array(30) // 3 fragments of 10 + 10 bytes: 60 bytes
    expect(() => f.split(datagram, dst)).toThrow(
      expect.objectContaining({ code: 'frag-buffer-too-small' }),
    )
    expect(() => f.split(datagram, new Uint8Array(60), 1)).toThrow(FragError)
    expect(dst.every((b) => b === 0xaa)).toBe(true)
    expect(f.nextId).toBe(0)
    expect(f.split(datagram, new Uint8Array(60))).toBe(3)
    expect(() => f.split(datagram, new Uint8Array(100), 0, 19)).toThrow(
      expect.objectContaining({ code: 'frag-invalid-options' }),
    )
  })

  it('wraps ids at 2^32', () => {
    const f = new Fragmenter({ maxFragmentBytes: 20, firstId: 0xffff_ffff })
    const dst = new Uint8Array(20)
    f.split(new Uint8Array(5), dst)
    expect(decodeFragmentHeader(dst)?.id).toBe(0xffff_ffff)
    f.split(new Uint8Array(5), dst)
    expect(decodeFragmentHeader(dst)).toEqual({ id: 0, total: 5, offset: 0 })
    expect(decodeFragmentHeader(dst.subarray(0, 9))).toBeUndefined()
  })

  it('rejects invalid options', () => {
    for (const options of [
      { maxFragmentBytes: 10 },
      { maxFragmentBytes: 1400, maxDatagramBytes: 0 },
      { maxFragmentBytes: 1400, firstId: -1 },
      { maxFragmentBytes: 1400, firstId: 2 ** 32 },
      { maxFragmentBytes: 1400, maxFragmentsPerDatagram: 0 },
    ]) {
      expect(() => new Fragmenter(options), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'frag-invalid-options' }),
      )
    }
  })
})
