import { constants, PerformanceObserver } from 'node:perf_hooks'
import { describe, expect, it } from 'vitest'
import { DEFAULT_SCAVENGE_EVERY_BYTES, ScavengePacer } from '../src/index.ts'

const MiB = 1024 * 1024

describe('ScavengePacer', () => {
  it('runs one scavenge per everyBytes noted, and none below', () => {
    const pacer = new ScavengePacer(MiB)
    expect(pacer.available).toBe(true)
    pacer.note(MiB - 1)
    expect(pacer.counters.scavenges).toBe(0)
    pacer.note(1)
    expect(pacer.counters.scavenges).toBe(1)
    for (let i = 0; i < 10; i++) pacer.note(MiB / 2)
    expect(pacer.counters.scavenges).toBe(6)
    expect(pacer.counters.seconds).toBeGreaterThan(0)
    expect(new ScavengePacer().everyBytes).toBe(DEFAULT_SCAVENGE_EVERY_BYTES)
  })

  it("frees a daemon's dead Buffers as it goes, holding about one threshold's worth", async () => {
    // As a daemon carries frames: 64 MiB of 64 KiB Buffers, each dropped at
    // once, told to the pacer as they go. Their wrappers are tiny, so the
    // young generation stays far from full and, left alone, V8 keeps their
    // memory until it runs a full collection.
    const run = async (pacer: ScavengePacer) => {
      pacer.note(pacer.everyBytes) // a clean start
      await new Promise((r) => setTimeout(r, 50))
      const kinds: number[] = []
      const observer = new PerformanceObserver((list) => {
        for (const e of list.getEntries())
          kinds.push((e as { detail?: { kind?: number } }).detail?.kind ?? 0)
      })
      observer.observe({ entryTypes: ['gc'] })
      const base = process.memoryUsage().arrayBuffers
      let peak = 0
      for (let round = 0; round < 64; round++) {
        let bytes = 0
        for (let i = 0; i < 16; i++) bytes += Buffer.allocUnsafe(64 * 1024).length
        pacer.note(bytes)
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - base)
      }
      await new Promise((r) => setTimeout(r, 50))
      observer.disconnect()
      return {
        major: kinds.filter((k) => k === constants.NODE_PERFORMANCE_GC_MAJOR).length,
        minor: kinds.filter((k) => k === constants.NODE_PERFORMANCE_GC_MINOR).length,
        peakMiB: Math.round(peak / MiB),
      }
    }
    const paced = await run(new ScavengePacer(4 * MiB))
    // For comparison (logged, not asserted: V8 may collect on its own): a
    // pacer that never reaches its threshold. Measured: all 64 MiB held.
    const alone = await run(new ScavengePacer(1024 * MiB))
    console.log(
      `64 MiB of dead Buffers: paced ${JSON.stringify(paced)}, alone ${JSON.stringify(alone)}`,
    )
    // What is held stays near one threshold's worth, however much passes.
    expect(paced.peakMiB).toBeLessThanOrEqual(12)
    expect(paced.minor).toBeGreaterThanOrEqual(16)
  })

  it('refuses a threshold that is not a positive integer', () => {
    expect(() => new ScavengePacer(0)).toThrow(RangeError)
    expect(() => new ScavengePacer(1.5)).toThrow(RangeError)
  })
})
