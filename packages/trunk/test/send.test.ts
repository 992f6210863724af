import type { Stream } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import {
  CONTROL_RESERVE_BYTES,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_MAX_QUEUED_CONTROL_BYTES,
  DEFAULT_MAX_QUEUED_FRAMES,
  MESSAGE_LENGTH_LIMIT,
  SendBudget,
} from '../src/index.ts'
import { type LinkCounters, newLinkCounters } from '../src/link.ts'
import { SendQueue } from '../src/send.ts'
import { makeFrames } from './helpers.ts'

/**
 * A stream that writes as yamux does: up to the window the reader granted,
 * keeping the rest in its write buffer; `grant()` is a window update, which
 * emits 'drain' while the buffer still holds data.
 */
class WindowedStream extends EventTarget {
  writeBufferLength = 0
  written = 0
  #window: number

  constructor(window: number) {
    super()
    this.#window = window
  }

  send(data: Uint8Array | { byteLength: number }): boolean {
    this.writeBufferLength += data.byteLength
    return this.#pump()
  }

  /** As @libp2p/utils: 'drain' first, the stream's own write from its buffer in a microtask. */
  grant(bytes: number): void {
    this.#window += bytes
    if (this.writeBufferLength === 0) return
    queueMicrotask(() => this.#pump())
    this.dispatchEvent(new Event('drain'))
  }

  #pump(): boolean {
    const n = Math.min(this.#window, this.writeBufferLength)
    this.writeBufferLength -= n
    this.#window -= n
    this.written += n
    if (n > 0 && this.writeBufferLength === 0) this.dispatchEvent(new Event('idle'))
    return this.#window > 0
  }

  asStream(): Stream {
    return this as unknown as Stream
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

describe('the send queue', () => {
  it("counts what the stream still holds against the link's bounds (a slowly reading neighbour)", async () => {
    const bounds = { maxFrames: 4096, maxBytes: 64 * 1024, maxControlBytes: 8 * 1024 }
    const stream = new WindowedStream(16 * 1024)
    const counters = newLinkCounters()
    const queue = new SendQueue(stream.asStream(), counters, bounds)
    let most = 0
    for (let round = 0; round < 300; round++) {
      queue.enqueueFrames(makeFrames(20, 1400), MESSAGE_LENGTH_LIMIT)
      queue.enqueueControl(new Uint8Array(300))
      await tick()
      // The reader takes 4 KiB a round: far less than is offered.
      stream.grant(4096)
      most = Math.max(most, counters.queuedBytes)
      expect(counters.queuedBytes).toBeGreaterThanOrEqual(stream.writeBufferLength)
    }
    // Queue and stream buffer together within the bounds (plus BATCH headers of one call).
    expect(most).toBeLessThanOrEqual(bounds.maxBytes + bounds.maxControlBytes + 64)
    expect(stream.writeBufferLength).toBeLessThanOrEqual(bounds.maxBytes + bounds.maxControlBytes)
    expect(counters.dropQueueFull).toBeGreaterThan(0)
    // The reader catches up: everything accepted is written, nothing is left anywhere.
    for (let i = 0; i < 100 && counters.queuedBytes > 0; i++) {
      stream.grant(64 * 1024)
      await tick()
    }
    expect(counters.queuedBytes).toBe(0)
    expect(stream.written).toBe(counters.bytesSent)
  })
})

const KiB = 1024
const MiB = 1024 * KiB
const DEFAULT_BOUNDS = {
  maxFrames: DEFAULT_MAX_QUEUED_FRAMES,
  maxBytes: DEFAULT_MAX_QUEUED_BYTES,
  maxControlBytes: DEFAULT_MAX_QUEUED_CONTROL_BYTES,
}

interface TestLink {
  stream: WindowedStream
  counters: LinkCounters
  queue: SendQueue
}

/** A link that is up, with the default bounds, sharing `budget`. */
function upLink(budget: SendBudget, window: number): TestLink {
  const stream = new WindowedStream(window)
  const counters = newLinkCounters()
  const queue = new SendQueue(stream.asStream(), counters, DEFAULT_BOUNDS, budget)
  queue.open()
  return { stream, counters, queue }
}

/** What the links hold, counted from each link's side: queue plus stream buffer. */
const heldByLinks = (links: TestLink[]): number =>
  links.reduce((sum, l) => sum + l.counters.queuedBytes, 0)

/** BATCH headers: at most 6 bytes per BATCH, one or two BATCHes per call here. */
const SLACK_PER_CALL = 12

describe('the send budget', () => {
  it('holds against 300 links that never read; a fresh link still gets its reserve through', async () => {
    const limit = 16 * MiB
    const reserve = 16 * KiB
    const budget = new SendBudget(limit, reserve)
    // Streams with no window: everything handed over stays in their buffers, never drains.
    const slow = Array.from({ length: 300 }, () => upLink(budget, 0))
    const burst = makeFrames(64, 1400)
    for (let round = 0; round < 40; round++) {
      for (const l of slow) l.queue.enqueueFrames(burst, MESSAGE_LENGTH_LIMIT)
      await tick()
      expect(heldByLinks(slow)).toBe(budget.counters.heldBytes)
      expect(budget.counters.heldBytes).toBeLessThanOrEqual(limit + 300 * SLACK_PER_CALL)
    }
    // Spent: every slow link holds at least its reserve, the first ones the pool as well.
    expect(budget.counters.heldBytes).toBeGreaterThan(limit - 300 * 1500)
    for (const l of slow) expect(l.counters.queuedBytes).toBeGreaterThanOrEqual(reserve - 1500)
    expect(budget.counters.framesRefused).toBeGreaterThan(0)
    expect(slow.reduce((n, l) => n + l.counters.dropBudget, 0)).toBe(budget.counters.framesRefused)
    expect(slow[299]!.counters.dropQueueFull).toBe(slow[299]!.counters.dropBudget)

    // A fresh link whose neighbour reads at once: what it offers per tick within its reserve all goes through.
    const fast = upLink(budget, Number.POSITIVE_INFINITY)
    const tickLoad = makeFrames(10, 1400)
    for (let round = 0; round < 100; round++) {
      expect(fast.queue.enqueueFrames(tickLoad, MESSAGE_LENGTH_LIMIT)).toBe(10)
      await tick()
    }
    expect(fast.counters.framesSent).toBe(1000)
    expect(fast.counters.dropQueueFull).toBe(0)
    // Offered more than its reserve per tick, it still gets a reserve's worth through, and the rest is counted.
    const before = budget.counters.framesRefused
    const accepted = fast.queue.enqueueFrames(burst, MESSAGE_LENGTH_LIMIT)
    expect(accepted).toBe(Math.floor(reserve / (1400 + 18 + 2)))
    expect(fast.counters.dropBudget).toBe(burst.length - accepted)
    expect(budget.counters.framesRefused - before).toBe(burst.length - accepted)
    await tick()

    // Links that come up after the pool is spent get their reserve: at most one reserve each beyond the limit.
    const late = Array.from({ length: 20 }, () => upLink(budget, 0))
    for (let round = 0; round < 5; round++) {
      for (const l of [...slow, ...late]) l.queue.enqueueFrames(burst, MESSAGE_LENGTH_LIMIT)
      await tick()
    }
    for (const l of late)
      expect(l.counters.queuedBytes).toBeLessThanOrEqual(reserve + SLACK_PER_CALL)
    expect(budget.counters.heldBytes).toBeLessThanOrEqual(
      limit + 20 * reserve + 320 * SLACK_PER_CALL,
    )
    expect(budget.counters.links).toBe(321)

    // Links going down give everything back.
    for (const l of [...slow, ...late]) l.queue.close()
    expect(budget.counters.links).toBe(1)
    expect(budget.counters.heldBytes).toBe(fast.counters.queuedBytes)
    expect(budget.counters.peakBytes).toBeGreaterThanOrEqual(limit - 300 * 1500)
  })

  it('keeps a control reserve per link: a SUB is not lost to other links filling the budget', async () => {
    const budget = new SendBudget(1 * MiB, 16 * KiB)
    const links = Array.from({ length: 8 }, () => upLink(budget, 0))
    const quiet = links[7]!
    for (let round = 0; round < 20; round++) {
      for (const l of links.slice(0, 7)) {
        l.queue.enqueueFrames(makeFrames(64, 1400), MESSAGE_LENGTH_LIMIT)
      }
      await tick()
    }
    // The others spent the pool; this link's frames fill its reserve, then are refused.
    while (quiet.queue.enqueueFrames(makeFrames(1, 1400), MESSAGE_LENGTH_LIMIT) === 1) await tick()
    expect(quiet.counters.queuedBytes).toBeGreaterThan(16 * KiB - 1500)
    expect(quiet.counters.dropBudget).toBe(1)
    // A SUB of 21.5 KiB (1024 entries, a 4 KiB proof) still goes.
    const sub = new Uint8Array(21_515)
    expect(quiet.queue.enqueueControl(sub)).toBe(true)
    expect(quiet.queue.enqueueControl(sub)).toBe(true)
    // Beyond the control reserve the budget refuses, and counts.
    let accepted = 2
    while (quiet.queue.enqueueControl(sub)) accepted++
    expect(accepted * sub.length).toBeLessThanOrEqual(CONTROL_RESERVE_BYTES + 16 * KiB)
    expect(budget.counters.controlRefused).toBe(1)
    expect(quiet.counters.controlDropped).toBe(1)
    expect(budget.counters.heldBytes).toBeLessThanOrEqual(1 * MiB + 8 * CONTROL_RESERVE_BYTES)
  })

  it('is off at 0 or Infinity: each link keeps its own bounds only', async () => {
    for (const limit of [0, Number.POSITIVE_INFINITY]) {
      const budget = new SendBudget(limit, 16 * KiB)
      const l = upLink(budget, 0)
      for (let round = 0; round < 60; round++) {
        l.queue.enqueueFrames(makeFrames(64, 1400), MESSAGE_LENGTH_LIMIT)
        await tick()
      }
      expect(l.counters.dropBudget).toBe(0)
      expect(l.counters.queuedBytes).toBeGreaterThan(DEFAULT_MAX_QUEUED_BYTES - 2000)
      expect(budget.counters.heldBytes).toBe(l.counters.queuedBytes)
    }
  })
})
