/**
 * Trunk benchmarks (docs/style.md §9; docs/design.md §9). Prints:
 *  (a) codec: encode BATCHes of FRAMEs into one buffer, then split and
 *      decode them as the receive path does (views), at 64, 1400 and 9000
 *      bytes of sealed payload;
 *  (b) frames/s and MB/s of sealed payload between two separate processes
 *      on 127.0.0.1 over TCP, QUIC and WebSocket, measured at the receiver,
 *      median of 3 runs, each bounded in time; and TCP with js-libp2p-noise's
 *      default crypto against the cached-KeyObject backend (noise-crypto.ts).
 * Run: pnpm run bench (BENCH_SECONDS=n to change the run length).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  createTrunk,
  encodeFrameBatches,
  type Frame,
  type Link,
  MESSAGE_LENGTH_LIMIT,
} from '../src/index.ts'
import { MessageReader } from '../src/receive.ts'
import { decodeFrameBody, forEachInBatch, MSG_FRAME_FOR_BENCH } from './codec-path.ts'

const SIZES = [64, 1400, 9000]
const RUN_SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5)
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 0 })

function frames(count: number, size: number): Frame[] {
  return Array.from({ length: count }, (_, i) => ({
    hopLimit: 8,
    vft: new Uint8Array(16).fill(i),
    sealed: new Uint8Array(size).fill(i),
  }))
}

// ------------------------------------------------------------------ (a) codec

function benchCodec(size: number): { fps: number; mbps: number } {
  const batch = frames(size <= 1400 ? 512 : 64, size)
  let decoded = 0
  const sink: Frame[] = []
  const reader = new MessageReader(MESSAGE_LENGTH_LIMIT, (buf, start, end) => {
    if (buf[start] === MSG_FRAME_FOR_BENCH) {
      sink.push(decodeFrameBody(buf.subarray(start + 1, end)))
    } else {
      forEachInBatch(buf.subarray(start + 1, end), (_type, body) => {
        sink.push(decodeFrameBody(body))
      })
    }
  })
  const runs: number[] = []
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now()
    let n = 0
    while (performance.now() - t0 < 500) {
      const wire = encodeFrameBatches(batch, 0, batch.length, MESSAGE_LENGTH_LIMIT)
      reader.push(wire)
      decoded += sink.length
      sink.length = 0
      n += batch.length
    }
    runs.push(n / ((performance.now() - t0) / 1000))
  }
  if (decoded === 0) throw new Error('nothing decoded')
  const fps = median(runs)
  return { fps, mbps: (fps * size) / 1e6 }
}

// ------------------------------------------------------------------ (b) two processes

async function spawnChild(
  transport: string,
  crypto: string,
): Promise<{ child: ChildProcess; addr: string }> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=peertap:source',
      new URL('../test/fixtures/child-node.ts', import.meta.url).pathname,
      transport,
      crypto,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
  return { child, addr: JSON.parse(line).addr }
}

async function report(link: Link, replies: ((r: { frames: number; bytes: number }) => void)[]) {
  const p = new Promise<{ frames: number; bytes: number }>((resolve) => replies.push(resolve))
  link.sendControl({ channel: 0x7f00, payload: new Uint8Array(0) })
  const r = await p
  return { ...r, at: performance.now() }
}

async function benchLink(
  transport: 'tcp' | 'quic' | 'ws',
  crypto: 'cached-keys' | 'default',
  sizes: number[],
): Promise<Map<number, { fps: number; mbps: number; drops: number }>> {
  const { child, addr } = await spawnChild(transport, crypto)
  const trunk = await createTrunk({
    privateKey: await generateKeyPair('Ed25519'),
    transports: [transport],
    noiseCrypto: crypto,
  })
  const replies: ((r: { frames: number; bytes: number }) => void)[] = []
  trunk.setReceiver({
    onControl: (c) => {
      if (c.channel === 0x7f01) replies.shift()?.(JSON.parse(Buffer.from(c.payload).toString()))
    },
  })
  await trunk.start()
  const out = new Map<number, { fps: number; mbps: number; drops: number }>()
  try {
    const link = await trunk.dial(addr)
    for (const size of sizes) {
      const burst = frames(size >= 9000 ? 32 : 256, size)
      const runs: number[] = []
      for (let r = 0; r < 3; r++) {
        let sending = true
        const pump = (async () => {
          while (sending) {
            if (link.counters.queuedFrames < 2048 && link.counters.queuedBytes < 2 * 1024 * 1024) {
              link.sendFrames(burst)
            }
            await new Promise((resolve) => setImmediate(resolve))
          }
        })()
        await new Promise((resolve) => setTimeout(resolve, 300))
        const r0 = await report(link, replies)
        await new Promise((resolve) => setTimeout(resolve, RUN_SECONDS * 1000))
        const r1 = await report(link, replies)
        sending = false
        await pump
        runs.push((r1.frames - r0.frames) / ((r1.at - r0.at) / 1000))
        // Let the queue and the pipe empty before the next run.
        await new Promise((resolve) => setTimeout(resolve, 300))
      }
      const fps = median(runs)
      out.set(size, { fps, mbps: (fps * size) / 1e6, drops: link.counters.dropQueueFull })
    }
  } finally {
    await trunk.stop()
    child.stdin!.end()
    const timer = setTimeout(
      () => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'),
      3000,
    )
    await once(child, 'exit')
    clearTimeout(timer)
  }
  return out
}

console.log(`@peertap/trunk bench, Node ${process.version}, ${RUN_SECONDS}s per run, median of 3\n`)
console.log('(a) codec: encode BATCHes + split + decode FRAME views')
for (const size of SIZES) {
  const { fps, mbps } = benchCodec(size)
  console.log(
    `  sealed ${String(size).padStart(5)} B  ${fmt(fps).padStart(11)} frames/s  ${fmt(mbps).padStart(6)} MB/s`,
  )
}
console.log('\n(b) two processes on 127.0.0.1, frames received per second (sealed payload MB/s)')
const only = process.env.BENCH_TRANSPORTS?.split(',')
for (const [transport, crypto] of [
  ['tcp', 'cached-keys'],
  ['tcp', 'default'],
  ['quic', 'cached-keys'],
  ['ws', 'cached-keys'],
  ['ws', 'default'],
] as const) {
  if (only !== undefined && !only.includes(transport)) continue
  const sizes = crypto === 'default' ? [1400, 9000] : SIZES
  const results = await benchLink(transport, crypto, sizes)
  for (const [size, r] of results) {
    const label = `${transport}${transport === 'quic' ? '' : ` noise ${crypto}`}`.padEnd(22)
    console.log(
      `  ${label} sealed ${String(size).padStart(5)} B  ${fmt(r.fps).padStart(9)} frames/s  ${fmt(r.mbps).padStart(5)} MB/s  (tail drops ${r.drops})`,
    )
  }
}
process.exit(0)
