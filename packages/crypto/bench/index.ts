/**
 * Seal and open throughput of the sealed payload, header protection
 * included, for 64, 1400 and 9000-byte plaintexts, with the node:crypto
 * backend (the data path), one frame per call and in batches of 32
 * (sealBatch/openBatch: one header-protection call per batch), and
 * @noble/ciphers (portable) for comparison. Rates are frames per second.
 * One core; rates are per second of CPU time. The runs of all cases are
 * interleaved, so that a noisy neighbour hits every case alike, and the
 * median of each case is printed.
 *
 *   cd packages/crypto && pnpm run bench            (7 runs x 300 ms)
 *   cd packages/crypto && pnpm run bench -- --quick (3 runs x 100 ms)
 */
import {
  type CryptoBackend,
  type DropReason,
  derivePskEpochSecrets,
  FrameReceiver,
  FrameSender,
  nobleBackend,
  nodeBackend,
} from '../src/index.ts'

const quick = process.argv.includes('--quick')
const RUNS = quick ? 3 : 7
const RUN_MS = quick ? 100 : 300
const POOL = 4096
/** Frames per sealBatch/openBatch call in the batch cases (POOL is a multiple of it). */
const BATCH = 32

const secrets = derivePskEpochSecrets(new TextEncoder().encode('bench secret'))
const vft = new Uint8Array(16).fill(0xab)

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/**
 * Runs `op` in batches of 256 for RUN_MS of wall time; returns ops per
 * second of this process's CPU time (user + system, all threads). The machine
 * is shared and noisy: CPU time does not count the time another process held
 * the core, wall time would.
 */
function rate(op: (i: number) => void): { perSecond: number; ops: number } {
  let n = 0
  const cpu0 = process.cpuUsage()
  const start = process.hrtime.bigint()
  const end = start + BigInt(RUN_MS) * 1_000_000n
  let now = start
  while (now < end) {
    for (let i = 0; i < 256; i++) op(n + i)
    n += 256
    now = process.hrtime.bigint()
  }
  const cpu = process.cpuUsage(cpu0)
  return { perSecond: n / ((cpu.user + cpu.system) / 1e6), ops: n }
}

interface Case {
  readonly label: string
  readonly backend: CryptoBackend
  readonly size: number
  readonly batch: number
  readonly seal: (i: number) => void
  readonly open: (i: number) => void
  readonly sealRates: number[]
  readonly openRates: number[]
  /** Frames the open runs attempted and opened (checked equal at the end). */
  readonly check: () => { attempted: number; opened: number }
}

/** One case: single-frame seal/open, or batches of `batch` frames (counted per frame). */
function makeCase(backend: CryptoBackend, size: number, batch: number): Case {
  const plaintext = new Uint8Array(size).fill(0x5a)
  const sender = new FrameSender({ kind: 'psk', secrets, backend })
  const out = new Uint8Array((sender.sealedLength(size) + 2) * batch)
  const plaintexts = Array.from({ length: batch }, () => plaintext)
  const vfts = Array.from({ length: batch }, () => vft)
  const windows = Array.from({ length: batch }, () => 0)
  const offsets = Array.from({ length: batch }, (_, i) => i * (sender.sealedLength(size) + 2))
  // Open: a pool of frames sealed in order, opened in order by a fresh
  // receiver per pass (its first frame derives the sender key, counted in).
  const poolSender = new FrameSender({ kind: 'psk', secrets, backend })
  const pool: Uint8Array[] = []
  for (let i = 0; i < POOL; i++) pool.push(poolSender.seal(vft, plaintext))
  let receiver = new FrameReceiver({ kind: 'psk', secrets, backend })
  let opened = 0
  let attempted = 0
  const results: (Uint8Array | DropReason)[] = []
  return {
    label: batch === 1 ? backend.name : `${backend.name} x${batch}`,
    backend,
    size,
    batch,
    seal:
      batch === 1
        ? () => sender.sealInto(vft, plaintext, out, 0)
        : () => sender.sealBatch(vfts, plaintexts, out, offsets),
    open: () => {
      const k = attempted % POOL
      attempted += batch
      if (k === 0) {
        opened += receiver.counters.opened
        receiver = new FrameReceiver({ kind: 'psk', secrets, backend })
      }
      if (batch === 1) receiver.open(pool[k]!, vft, 0)
      else receiver.openBatch(pool.slice(k, k + batch), vfts, windows, results)
    },
    sealRates: [],
    openRates: [],
    check: () => ({ attempted, opened: opened + receiver.counters.opened }),
  }
}

const cases: Case[] = []
for (const size of [64, 1400, 9000]) cases.push(makeCase(nodeBackend, size, 1))
for (const size of [64, 1400, 9000]) cases.push(makeCase(nodeBackend, size, BATCH))
for (const size of [64, 1400, 9000]) cases.push(makeCase(nobleBackend, size, 1))

console.log(
  `@peertap/crypto bench: Node ${process.version}, ${RUNS} runs x ${RUN_MS} ms per case, medians, per CPU-second`,
)
for (let r = 0; r < RUNS; r++) {
  for (const c of cases) {
    c.sealRates.push(rate(c.seal).perSecond * c.batch)
    c.openRates.push(rate(c.open).perSecond * c.batch)
  }
}
const fmt = (ops: number) => Math.round(ops).toLocaleString('en').padStart(9)
for (const c of cases) {
  const { attempted, opened } = c.check()
  if (attempted !== opened)
    throw new Error(`${c.label} ${c.size}: opened ${opened} of ${attempted}`)
  const seal = median(c.sealRates)
  const open = median(c.openRates)
  const mb = (ops: number) => ((ops * c.size) / 1e6).toFixed(0).padStart(5)
  console.log(
    `${c.label.padEnd(19)} ${String(c.size).padStart(5)} B   seal ${fmt(seal)}/s ${mb(seal)} MB/s   open ${fmt(open)}/s ${mb(open)} MB/s`,
  )
}
