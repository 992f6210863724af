import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { Outcome, Reassembler } from '../src/index.ts'
import { prng } from './reference.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/**
 * An adversary that knows the rules: every fragment opens a new reassembly
 * with the largest total allowed and a 1-byte payload, from ever-new sources
 * and ids, mixed with lies (overlaps, inconsistent totals, tiny fragments up
 * to the fragment bound), and a clock that never lets anything expire.
 */
function adversary(seed: number, maxDatagramBytes: number) {
  const random = prng(seed)
  const f = new Uint8Array(64)
  let n = 0
  return (): { source: string; fragment: Uint8Array } => {
    n++
    const kind = random()
    // Most fragments open new reassemblies; a fifth reuse a few ids of a few
    // sources, so they overlap, contradict and repeat one another.
    const liar = kind >= 0.8
    const id = liar ? n & 3 : Math.floor(random() * 2 ** 32)
    const total = kind < 0.5 ? maxDatagramBytes : 1 + Math.floor(random() * maxDatagramBytes)
    const offset = Math.floor(random() * Math.max(1, total - 54))
    const length = 1 + Math.floor(random() * Math.min(54, total - offset))
    f[0] = id >>> 24
    f[1] = id >>> 16
    f[2] = id >>> 8
    f[3] = id
    f[4] = total >>> 16
    f[5] = total >>> 8
    f[6] = total
    f[7] = offset >>> 16
    f[8] = offset >>> 8
    f[9] = offset
    const source = liar ? `liar-${n & 1}` : `peer-${n % 5000}`
    return { source, fragment: f.subarray(0, 10 + length) }
  }
}

describe('memory stays bounded under adversarial input', () => {
  it('gauges never pass their bounds, fragment after fragment', () => {
    const options = {
      maxReassemblies: 64,
      maxBytes: 300_000,
      maxDatagramBytes: 66_560,
      maxFragmentsPerDatagram: 16,
    }
    const r = new Reassembler<string>(options)
    const next = adversary(1, options.maxDatagramBytes)
    for (let i = 0; i < 100_000; i++) {
      const { source, fragment } = next()
      r.push(source, fragment, 0)
      expect(r.reassemblies).toBeLessThanOrEqual(options.maxReassemblies)
      expect(r.bytesHeld).toBeLessThanOrEqual(options.maxBytes)
    }
    const c = r.counters
    // The adversary reached the bounds and the lie paths, so the test means something.
    expect(c.evicted).toBeGreaterThan(10_000)
    expect(c.pending).toBeGreaterThan(10_000)
    expect(c.overlap + c.inconsistent + c.duplicate).toBeGreaterThan(100)
    expect(c.complete).toBeLessThan(100)
  })

  it('the heap does not grow with the number of fragments', () => {
    const r = new Reassembler<string>() // default bounds: 4 MiB, 256 reassemblies
    const next = adversary(2, r.maxDatagramBytes)
    const run = (count: number) => {
      for (let i = 0; i < count; i++) {
        const { source, fragment } = next()
        r.push(source, fragment, i)
      }
    }
    // The JS heap only: backing stores of ArrayBuffers are freed lazily, so
    // `arrayBuffers` swings by tens of MB between samples. Any leaked buffer,
    // slot or map entry still leaves an object of 50 bytes or more on the heap.
    const used = () => {
      gc()
      gc()
      return process.memoryUsage().heapUsed
    }
    run(50_000) // fill every bound and the pools
    const before = used()
    run(500_000)
    const after = used()
    expect(r.reassemblies).toBeLessThanOrEqual(256)
    expect(r.bytesHeld).toBeLessThanOrEqual(4 * 1024 * 1024)
    // 500k fragments of up to 66 560 claimed bytes each would be 33 GB if
    // anything leaked per fragment; 4 MiB catches a leak of 9 heap bytes each.
    expect(after - before).toBeLessThan(4 * 1024 * 1024)
  })

  it('without new fragments, expire() frees everything', () => {
    const r = new Reassembler<string>({ timeoutMs: 100 })
    const next = adversary(3, r.maxDatagramBytes)
    for (let i = 0; i < 10_000; i++) {
      const { source, fragment } = next()
      r.push(source, fragment, i / 100)
    }
    expect(r.reassemblies).toBeGreaterThan(0)
    r.expire(100 + 10_000 / 100)
    expect(r.reassemblies).toBe(0)
    expect(r.bytesHeld).toBe(0)
    expect(r.push('x', Uint8Array.of(0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 42), 1e6)).toBe(Outcome.Complete)
  })
})
