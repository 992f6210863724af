import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Fragmenter, Outcome, Reassembler } from '../src/index.ts'
import { hex, prng, ReferenceReassembler, referenceSplit } from './reference.ts'

interface Arrival {
  source: number
  fragment: Uint8Array
  now: number
}

interface Scenario {
  datagrams: { source: number; length: number }[]
  maxFragmentBytes: number
  seed: number
  loss: number
  duplication: number
  mutation: number
  timeStep: number
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  datagrams: fc.array(
    fc.record({
      source: fc.integer({ min: 0, max: 2 }),
      length: fc.integer({ min: 1, max: 3000 }),
    }),
    { minLength: 1, maxLength: 12 },
  ),
  maxFragmentBytes: fc.integer({ min: 11, max: 700 }),
  seed: fc.integer(),
  loss: fc.constantFrom(0, 0.05, 0.3),
  duplication: fc.constantFrom(0, 0.1, 0.5),
  mutation: fc.constantFrom(0, 0.05, 0.2),
  timeStep: fc.constantFrom(0, 1, 7),
})

/** Splits each datagram with the reference sender, then loses, duplicates, mutates and shuffles. */
function arrivals(s: Scenario): { sent: Map<string, Uint8Array>; arrivals: Arrival[] } {
  const random = prng(s.seed)
  const nextId = [0, 0, 0]
  const sent = new Map<string, Uint8Array>()
  const list: { source: number; fragment: Uint8Array }[] = []
  for (const [n, d] of s.datagrams.entries()) {
    const datagram = Uint8Array.from({ length: d.length }, (_, i) => (i * 31 + n) & 0xff)
    const id = nextId[d.source]!++
    sent.set(`${d.source}/${id}`, datagram)
    for (const fragment of referenceSplit(datagram, s.maxFragmentBytes, id)) {
      if (random() < s.loss) continue
      const copies = random() < s.duplication ? 2 : 1
      for (let c = 0; c < copies; c++) {
        let f = fragment
        if (random() < s.mutation) {
          f = fragment.slice(0, Math.max(0, Math.floor(random() * (fragment.length + 1))))
          if (f.length > 0)
            f[Math.floor(random() * Math.min(f.length, 10))]! ^= 1 << Math.floor(random() * 8)
        }
        list.push({ source: d.source, fragment: f })
      }
    }
  }
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[list[i], list[j]] = [list[j]!, list[i]!]
  }
  let now = 0
  return {
    sent,
    arrivals: list.map((a) => {
      now += Math.floor(random() * (s.timeStep + 1))
      return { ...a, now }
    }),
  }
}

const tight = {
  maxDatagramBytes: 2500,
  maxFragmentsPerDatagram: 8,
  maxReassemblies: 3,
  maxBytes: 5000,
  timeoutMs: 40,
}
const roomy = {
  maxDatagramBytes: 66_560,
  maxFragmentsPerDatagram: 3000,
  maxReassemblies: 64,
  maxBytes: 1 << 22,
  timeoutMs: 1e9,
}

describe('property: fast reassembler equals the reference model', () => {
  for (const [name, options] of Object.entries({ tight, roomy })) {
    it(`same outcome, datagram and counters for every fragment (${name} bounds)`, () => {
      const seen = new Set<string>()
      fc.assert(
        fc.property(scenario, (s) => {
          const fast = new Reassembler<number>(options)
          const slow = new ReferenceReassembler(options)
          for (const a of arrivals(s).arrivals) {
            const outcome = fast.push(a.source, a.fragment, a.now)
            const expected = slow.push(a.source, a.fragment, a.now)
            seen.add(outcome)
            expect(outcome).toBe(expected.outcome)
            expect(fast.datagram && hex(fast.datagram)).toBe(
              expected.datagram && hex(expected.datagram),
            )
            expect(fast.reassemblies).toBe(slow.entries.length)
            expect(fast.bytesHeld).toBe(slow.bytesHeld())
          }
          for (const [key, value] of Object.entries(fast.counters)) {
            expect(value, key).toBe(slow.counts[key] ?? 0)
          }
        }),
        { numRuns: 300 },
      )
      // The runs must have exercised the paths they compare (tight bounds reach all of them).
      const must = name === 'tight' ? Object.values(Outcome) : ['complete', 'pending', 'duplicate']
      for (const outcome of must) expect(seen, outcome).toContain(outcome)
    })
  }
})

describe('property: delivery under reordering and duplication', () => {
  it('without loss or mutation every datagram completes exactly once, intact', () => {
    fc.assert(
      fc.property(scenario, (s0) => {
        const s = { ...s0, loss: 0, mutation: 0 }
        const { sent, arrivals: list } = arrivals(s)
        const r = new Reassembler<number>(roomy)
        const got = new Map<string, string>()
        for (const a of list) {
          if (r.push(a.source, a.fragment, a.now) !== Outcome.Complete) continue
          const id =
            (a.fragment[0]! << 24) | (a.fragment[1]! << 16) | (a.fragment[2]! << 8) | a.fragment[3]!
          const key = `${a.source}/${id >>> 0}`
          // A late duplicate may complete a single-fragment datagram again; never a different one.
          if (got.has(key)) expect(got.get(key)).toBe(hex(r.datagram!))
          got.set(key, hex(r.datagram!))
        }
        expect(got.size).toBe(sent.size)
        for (const [key, datagram] of sent) expect(got.get(key)).toBe(hex(datagram))
      }),
      { numRuns: 300 },
    )
  })

  it('with loss, nothing incomplete or wrong is ever delivered', () => {
    fc.assert(
      fc.property(scenario, (s0) => {
        const s = { ...s0, mutation: 0 }
        const { sent, arrivals: list } = arrivals(s)
        const r = new Reassembler<number>(roomy)
        for (const a of list) {
          if (r.push(a.source, a.fragment, a.now) !== Outcome.Complete) continue
          const id =
            (a.fragment[0]! << 24) | (a.fragment[1]! << 16) | (a.fragment[2]! << 8) | a.fragment[3]!
          expect(hex(r.datagram!)).toBe(hex(sent.get(`${a.source}/${id >>> 0}`)!))
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('property: Fragmenter equals the reference sender', () => {
  it('same fragments for any length, fragment size, id and stride', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20_000 }),
        fc.integer({ min: 11, max: 3000 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 3 }),
        (length, maxFragmentBytes, firstId, gap, dstOffset) => {
          const f = new Fragmenter({ maxFragmentBytes, firstId, maxFragmentsPerDatagram: 20_000 })
          const datagram = Uint8Array.from({ length }, (_, i) => (i * 7) & 0xff)
          const expected = referenceSplit(datagram, maxFragmentBytes, firstId)
          const stride = maxFragmentBytes + gap
          const dst = new Uint8Array(dstOffset + expected.length * stride).fill(0xee)
          expect(f.fragmentCount(length)).toBe(expected.length)
          expect(f.split(datagram, dst, dstOffset, stride)).toBe(expected.length)
          for (const [i, e] of expected.entries()) {
            const at = dstOffset + i * stride
            expect(f.fragmentBytes(length, i)).toBe(e.length)
            expect(hex(dst.subarray(at, at + e.length))).toBe(hex(e))
            // Bytes between fragments belong to the caller and stay untouched.
            expect(dst.subarray(at + e.length, at + stride).every((b) => b === 0xee)).toBe(true)
          }
          expect(f.nextId).toBe((firstId + 1) % 2 ** 32)
        },
      ),
      { numRuns: 300 },
    )
  })
})
