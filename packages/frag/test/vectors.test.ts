import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { Fragmenter, Outcome, Reassembler, type ReassemblerOptions } from '../src/index.ts'
import { hex, referenceSplit, unhex } from './reference.ts'

interface SplitVector {
  name: string
  maxFragmentBytes: number
  id: number
  datagram: string
  fragments: string[]
}

interface ReceiveVector {
  name: string
  options: ReassemblerOptions
  events?: { expired: number; evicted: number }
  steps: { now: number; fragment: string; outcome: string; datagram?: string }[]
}

const vectors = JSON.parse(
  readFileSync(new URL('./vectors/frag.json', import.meta.url), 'utf8'),
) as {
  splits: SplitVector[]
  receives: ReceiveVector[]
}

function splitAll(v: SplitVector, datagram: Uint8Array): Uint8Array[] {
  const fragmenter = new Fragmenter({ maxFragmentBytes: v.maxFragmentBytes, firstId: v.id })
  const n = fragmenter.fragmentCount(datagram.length)
  const dst = new Uint8Array(n * v.maxFragmentBytes)
  expect(fragmenter.split(datagram, dst)).toBe(n)
  return Array.from({ length: n }, (_, i) => {
    const at = i * v.maxFragmentBytes
    return dst.subarray(at, at + fragmenter.fragmentBytes(datagram.length, i))
  })
}

function reassemble(fragments: Uint8Array[]): { outcomes: string[]; datagram?: Uint8Array } {
  const r = new Reassembler<number>()
  const outcomes = fragments.map((f) => r.push(1, f, 0))
  const last = outcomes.at(-1)
  return last === Outcome.Complete ? { outcomes, datagram: r.datagram! } : { outcomes }
}

describe('split vectors', () => {
  it('has vectors', () => {
    expect(vectors.splits.length).toBeGreaterThanOrEqual(7)
  })

  for (const v of vectors.splits) {
    describe(v.name, () => {
      const datagram = unhex(v.datagram)

      it('forwards: split gives these bytes', () => {
        expect(splitAll(v, datagram).map(hex)).toEqual(v.fragments)
        expect(referenceSplit(datagram, v.maxFragmentBytes, v.id).map(hex)).toEqual(v.fragments)
      })

      it('backwards: reassembly gives the datagram, in order and reversed', () => {
        const fragments = v.fragments.map(unhex)
        expect(hex(reassemble(fragments).datagram!)).toBe(v.datagram)
        expect(hex(reassemble(fragments.slice().reverse()).datagram!)).toBe(v.datagram)
      })

      it('a flipped payload bit changes exactly that bit of the result', () => {
        const fragments = v.fragments.map(unhex)
        const last = fragments.length - 1
        const flipped = fragments[last]!
        flipped[flipped.length - 1]! ^= 0x01
        const out = reassemble(fragments).datagram!
        const expected = datagram.slice()
        expected[expected.length - 1]! ^= 0x01
        expect(hex(out)).toBe(hex(expected))
      })

      it('a flipped header bit never yields the datagram', () => {
        const fragments = v.fragments.map(unhex)
        // A single fragment is a datagram on its own: its id does not matter.
        const firstBit = fragments.length === 1 ? 32 : 0
        for (let bit = firstBit; bit < 80; bit++) {
          const mutated = fragments.map((f) => f.slice())
          mutated[0]![bit >> 3]! ^= 0x80 >> (bit & 7)
          const { outcomes } = reassemble(mutated)
          expect(outcomes, `bit ${bit}`).not.toContain(Outcome.Complete)
        }
      })
    })
  }
})

describe('receive vectors', () => {
  for (const v of vectors.receives) {
    it(v.name, () => {
      const r = new Reassembler<string>(v.options)
      for (const [i, step] of v.steps.entries()) {
        const outcome = r.push('source', unhex(step.fragment), step.now)
        expect(outcome, `step ${i}`).toBe(step.outcome)
        if (step.datagram === undefined) expect(r.datagram).toBeUndefined()
        else expect(hex(r.datagram!), `step ${i}`).toBe(step.datagram)
      }
      const c = r.counters
      const outcomes =
        c.complete +
        c.pending +
        c.malformed +
        c.oversize +
        c.duplicate +
        c.overlap +
        c.inconsistent +
        c.tooManyFragments +
        c.abandoned
      expect(outcomes).toBe(v.steps.length)
      for (const step of v.steps) expect(c[step.outcome as Outcome]).toBeGreaterThan(0)
      if (v.events !== undefined) {
        expect({ expired: c.expired, evicted: c.evicted }).toEqual(v.events)
      }
    })
  }
})
