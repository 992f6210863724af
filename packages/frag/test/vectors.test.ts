import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  FragError,
  Fragmenter,
  type FragmenterCounters,
  type FragmenterOptions,
  Outcome,
  Reassembler,
  type ReassemblerOptions,
} from '../src/index.ts'
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

interface RefusalVector {
  name: string
  options: FragmenterOptions
  steps: {
    length: number
    outcome: 'sent' | 'empty' | 'oversize' | 'tooManyFragments'
    id?: number
    fragmentCount?: number
    datagram?: string
    fragments?: string[]
  }[]
  counters: FragmenterCounters
}

const vectors = JSON.parse(
  readFileSync(new URL('./vectors/frag.json', import.meta.url), 'utf8'),
) as {
  splits: SplitVector[]
  receives: ReceiveVector[]
  refusals: RefusalVector[]
  senderOptions: { options: FragmenterOptions; error: string | null }[]
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

describe('sender refusal vectors', () => {
  it('has vectors with every refusal', () => {
    const outcomes = new Set(vectors.refusals.flatMap((v) => v.steps.map((s) => s.outcome)))
    expect([...outcomes].sort()).toEqual(['empty', 'oversize', 'sent', 'tooManyFragments'])
  })

  for (const v of vectors.refusals) {
    it(v.name, () => {
      const f = new Fragmenter(v.options)
      for (const [i, step] of v.steps.entries()) {
        const where = `step ${i}: ${step.length} bytes`
        const before = { ...f.counters }
        const id = f.nextId
        const datagram =
          step.datagram === undefined ? new Uint8Array(step.length) : unhex(step.datagram)
        expect(datagram.length, where).toBe(step.length)
        const stride = f.maxFragmentBytes
        const dst = new Uint8Array(Math.max(1, f.fragmentCount(step.length)) * stride)
        const n = f.split(datagram, dst)
        if (step.outcome !== 'sent') {
          // Refused: nothing written, no id taken, exactly the refusal's counter moved.
          expect(n, where).toBe(0)
          expect(f.fragmentCount(step.length), where).toBe(0)
          expect(f.nextId, where).toBe(id)
          expect(
            dst.every((b) => b === 0),
            where,
          ).toBe(true)
          expect(f.counters, where).toEqual({ ...before, [step.outcome]: before[step.outcome] + 1 })
          // A refusal is decided before the output buffer is looked at (a fresh sender, same bounds).
          expect(new Fragmenter(v.options).split(datagram, new Uint8Array(0)), where).toBe(0)
          continue
        }
        expect(n, where).toBe(step.fragmentCount)
        expect(id, where).toBe(step.id)
        const fragments = Array.from({ length: n }, (_, j) =>
          dst.subarray(j * stride, j * stride + f.fragmentBytes(step.length, j)),
        )
        for (const [j, fragment] of fragments.entries()) {
          const header = new DataView(fragment.buffer, fragment.byteOffset, 10)
          expect(header.getUint32(0), `${where}, fragment ${j} id`).toBe(step.id)
          expect(header.getUint32(4) >>> 8, `${where}, fragment ${j} total`).toBe(step.length)
        }
        if (step.fragments !== undefined) expect(fragments.map(hex), where).toEqual(step.fragments)
      }
      expect(f.counters).toEqual(v.counters)
    })
  }
})

describe('sender option vectors', () => {
  for (const v of vectors.senderOptions) {
    it(`${JSON.stringify(v.options)}: ${v.error ?? 'valid'}`, () => {
      let error: unknown
      try {
        new Fragmenter(v.options)
      } catch (e) {
        error = e
      }
      if (v.error === null) expect(error).toBeUndefined()
      else {
        expect(error).toBeInstanceOf(FragError)
        expect((error as FragError).code).toBe(v.error)
      }
    })
  }
})
