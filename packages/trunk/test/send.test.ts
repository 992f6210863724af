import type { Stream } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { MESSAGE_LENGTH_LIMIT } from '../src/index.ts'
import { newLinkCounters } from '../src/link.ts'
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
