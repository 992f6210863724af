/**
 * The stream link's send path alone, one core (docs/style.md §9): `enqueueFrames`
 * of a batch of 32 frames, then one flush into a stream that takes
 * everything, as a link does once per tick. No transport, no crypto: what
 * the queue's checks and its accounting cost per frame. Median of 5 runs
 * of 400 ms each, at 64, 1400 and 9000 bytes of sealed payload.
 * Run: node --conditions=peertap:source bench/send-queue.ts
 */
import type { Stream } from '@libp2p/interface'
import * as trunk from '../src/index.ts'
import { newLinkCounters } from '../src/link.ts'
import { SendQueue } from '../src/send.ts'

const SIZES = [64, 1400, 9000]
const BATCH = 32
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 0 })

/** A stream that accepts every write at once and never asks to wait. */
function sink(): Stream {
  const target = new EventTarget()
  return Object.assign(target, {
    writeBufferLength: 0,
    send: () => true,
  }) as unknown as Stream
}

function frames(size: number): trunk.Frame[] {
  return Array.from({ length: BATCH }, (_, i) => ({
    hopLimit: 8,
    vft: new Uint8Array(16).fill(i),
    sealed: new Uint8Array(size).fill(i),
  }))
}

const bounds = {
  maxFrames: trunk.DEFAULT_MAX_QUEUED_FRAMES,
  maxBytes: trunk.DEFAULT_MAX_QUEUED_BYTES,
  maxControlBytes: trunk.DEFAULT_MAX_QUEUED_CONTROL_BYTES,
}
// The shared budget at its defaults when this build has one, so one file measures before and after.
const Budget = (trunk as Record<string, unknown>).SendBudget as
  | (new (
      limit: number,
      reserve: number,
    ) => unknown)
  | undefined

function run(size: number): number {
  const batch = frames(size)
  const budget = Budget === undefined ? undefined : new Budget(256 * 1024 * 1024, 256 * 1024)
  const Queue = SendQueue as unknown as new (...args: unknown[]) => SendQueue
  const queue = new Queue(sink(), newLinkCounters(), bounds, budget)
  ;(queue as unknown as { open?: () => void }).open?.()
  const runs: number[] = []
  for (let r = 0; r < 5; r++) {
    let n = 0
    const t0 = performance.now()
    while (performance.now() - t0 < 400) {
      for (let i = 0; i < 64; i++) {
        n += queue.enqueueFrames(batch, trunk.MESSAGE_LENGTH_LIMIT)
        queue.flush()
      }
    }
    runs.push(n / ((performance.now() - t0) / 1000))
  }
  return median(runs)
}

console.log(
  `send queue: enqueue ${BATCH} frames + flush, one core, Node ${process.version}, budget ${Budget === undefined ? 'none in this build' : 'on'}`,
)
for (const size of SIZES) {
  const fps = run(size)
  console.log(
    `  sealed ${String(size).padStart(5)} B  ${fmt(fps).padStart(11)} frames/s  ${fmt((fps * size) / 1e6).padStart(6)} MB/s`,
  )
}
