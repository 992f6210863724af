// Prints forwarding-table figures on this machine: frames per second routed
// by the table alone (no I/O, no crypto) at 10, 10k and 100k subscriptions
// with uniformly random VFTs, batches of 64 frames, each frame fanned out to
// one subscriber; with the duplicate cache off and on, with proofs required,
// and (at 100k) for 64, 1400 and 9000-byte sealed payloads (with the MB/s
// that means). Medians of 9 runs. Run: pnpm run bench (in packages/relay).
//
// At 100k subscriptions the work is memory-bound, and on this VM a process
// lands in a fast or a slow mode (about 2x apart, steady within the
// process; most likely where its memory lies, README), so the 64-byte cases at 100k
// run in PROCESSES processes of their own and print the median of their
// medians with the spread.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import {
  FLAG_RECEIVE,
  FLAG_SEND,
  ForwardingTable,
  type ForwardingTableOptions,
  type Frame,
  RouteBatch,
} from '../src/index.ts'

const RUNS = 9
const PROCESSES = 5
const BATCH = 64
const POOL = 1 << 14 // distinct frames cycled through, picked at random
const NEIGHBOURS = 64

interface Result {
  median: number
  min: number
  max: number
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n)
  globalThis.crypto.getRandomValues(out)
  return out
}

function measure(framesPerRun: number, body: () => void): Result {
  const batches = Math.ceil(framesPerRun / BATCH)
  for (let i = 0; i < Math.min(batches, 20_000); i++) body() // warm up
  const rates: number[] = []
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < batches; i++) body()
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    rates.push((batches * BATCH) / seconds)
  }
  rates.sort((a, b) => a - b)
  return { median: rates[Math.floor(RUNS / 2)]!, min: rates[0]!, max: rates[RUNS - 1]! }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en')
}

/** A table with `subs` receive subscriptions on random VFTs, and a batch source over them. */
function setup(
  subs: number,
  options: ForwardingTableOptions,
  sealedLength: number,
  proofs: boolean,
): { table: ForwardingTable; batches: Frame[][]; stampTags: boolean } {
  const now = 1_000
  const key = proofs ? randomBytes(32) : undefined
  const table = new ForwardingTable({
    ...options,
    requireProofs: proofs,
    limits: { maxSubscriptions: Number.POSITIVE_INFINITY },
  })
  const vfts: Uint8Array[] = []
  for (let i = 0; i < subs; i++) vfts.push(randomBytes(16))
  // Subscribe in SUB-sized chunks, round robin over the neighbours.
  for (let i = 0; i < subs; i += 256) {
    const chunk = vfts.slice(i, i + 256).map((vft) => ({ vft, flags: FLAG_RECEIVE }))
    table.subscribe(`peer-${(i / 256) % NEIGHBOURS}`, chunk, 1_000, now, key)
    if (proofs) {
      const send = chunk.map(({ vft }) => ({ vft, flags: FLAG_SEND }))
      table.subscribe('source', send, 1_000, now, key)
    }
  }
  // Random VFTs from the whole table, but one batch's worth of sealed
  // payloads, shared by every batch: a relay routes a batch it has just
  // read, so its bytes are in the CPU's cache. (With 16k payloads of their
  // own, stamping each frame's tag below missed the cache once per frame,
  // and the duplicate cache was charged with it: 1.38M frames/s at 100k
  // subscriptions where the cache itself allows 2M and more.)
  const payloads: Uint8Array[] = []
  for (let i = 0; i < BATCH; i++) payloads.push(randomBytes(sealedLength))
  const frames: Frame[] = []
  for (let i = 0; i < POOL; i++) {
    const vft = vfts[Math.floor(Math.random() * subs)]!
    frames.push({ hopLimit: 64, vft, sealed: payloads[i % BATCH]! })
  }
  const batches: Frame[][] = []
  for (let i = 0; i < POOL; i += BATCH) batches.push(frames.slice(i, i + BATCH))
  return { table, batches, stampTags: (options.duplicateCacheSize ?? 1) !== 0 }
}

function run(
  label: string,
  subs: number,
  options: ForwardingTableOptions,
  sealedLength: number,
  proofs = false,
): Result {
  const { table, batches, stampTags } = setup(subs, options, sealedLength, proofs)
  const out = new RouteBatch()
  let next = 0
  let serial = 0
  const result = measure(1_000_000, () => {
    const batch = batches[next]!
    next = (next + 1) % batches.length
    for (const frame of batch) {
      frame.hopLimit = 64
      if (stampTags) {
        // A fresh tag per frame, as real traffic has: the cache sees no repeats.
        const s = frame.sealed
        const at = s.length - 4
        serial++
        s[at] = serial >>> 24
        s[at + 1] = serial >>> 16
        s[at + 2] = serial >>> 8
        s[at + 3] = serial
      }
    }
    table.route('source', batch, 1_000, out)
  })
  const { counters } = table
  if (counters.framesForwarded !== counters.framesIn) {
    throw new Error(`${label}: dropped frames ${JSON.stringify(counters.frameDrops)}`)
  }
  return result
}

interface Case {
  label: string
  subs: number
  options: ForwardingTableOptions
  sealedLength: number
  proofs: boolean
  processes: number
}

const off: ForwardingTableOptions = { duplicateCacheSize: 0 }
const on: ForwardingTableOptions = {}
const cases: Case[] = []
for (const subs of [10, 10_000, 100_000]) {
  const processes = subs === 100_000 ? PROCESSES : 1
  const label = `${fmt(subs)} subscriptions, 64 B`
  cases.push({
    label: `${label}, duplicate cache off`,
    subs,
    options: off,
    sealedLength: 64,
    proofs: false,
    processes,
  })
  cases.push({
    label: `${label}, duplicate cache on`,
    subs,
    options: on,
    sealedLength: 64,
    proofs: false,
    processes,
  })
  cases.push({
    label: `${label}, proofs required, cache on`,
    subs,
    options: on,
    sealedLength: 64,
    proofs: true,
    processes,
  })
}
for (const size of [1400, 9000]) {
  cases.push({
    label: `100,000 subscriptions, ${size} B, duplicate cache on`,
    subs: 100_000,
    options: on,
    sealedLength: size,
    proofs: false,
    processes: 1,
  })
}

function runCase(c: Case): Result {
  return run(c.label, c.subs, c.options, c.sealedLength, c.proofs)
}

/**
 * The control plane's fair share (spec 9.7): SUB entries per second that
 * newcomers add to a table of 100k held by 1,000 neighbours, full (each
 * add displaces the least recently renewed subscription of the largest
 * holder) and, for comparison, with room to spare. Median of RUNS tables.
 */
function subscribeRates(): { full: number; room: number } {
  const HOLDERS = 1_000
  const EACH = 100
  const rate = (full: boolean): number => {
    const capacity = HOLDERS * EACH
    const table = new ForwardingTable({ maxSubscriptions: full ? capacity : 2 * capacity })
    for (let id = 0; id < HOLDERS; id++) {
      const entries = Array.from({ length: EACH }, () => ({
        vft: randomBytes(16),
        flags: FLAG_RECEIVE,
      }))
      table.subscribe(`holder-${id}`, entries, 600, 1_000)
    }
    // 50 newcomers of 50 each: below their share of a full table (about 95).
    const subs = Array.from({ length: 50 }, () =>
      Array.from({ length: 50 }, () => ({ vft: randomBytes(16), flags: FLAG_RECEIVE })),
    )
    const start = process.hrtime.bigint()
    for (const [id, entries] of subs.entries()) table.subscribe(`new-${id}`, entries, 600, 1_000)
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    if (table.counters.subscriptionsDisplaced !== (full ? 2_500 : 0)) {
      throw new Error('fair share: unexpected displacements')
    }
    return 2_500 / seconds
  }
  const median = (f: () => number): number => {
    const xs = Array.from({ length: RUNS }, f).sort((a, b) => a - b)
    return xs[Math.floor(RUNS / 2)]!
  }
  return { full: median(() => rate(true)), room: median(() => rate(false)) }
}

const one = process.argv.indexOf('--case')
if (one >= 0) {
  // A child: one case, its result as JSON on stdout.
  console.log(JSON.stringify(runCase(cases[Number(process.argv[one + 1])]!)))
} else {
  console.log(
    `@peertap/relay bench, Node ${process.version}, batches of ${BATCH}, fan-out 1, ${RUNS} runs, median` +
      ` (100k, 64 B: median of ${PROCESSES} processes' medians)`,
  )
  const self = fileURLToPath(import.meta.url)
  for (const [index, c] of cases.entries()) {
    let line: string
    if (c.processes === 1) {
      const result = runCase(c)
      line = `${fmt(result.median).padStart(11)} frames/s  (min ${fmt(result.min)}, max ${fmt(result.max)})${c.sealedLength >= 1400 ? `  ${fmt((result.median * c.sealedLength) / 1e6)} MB/s` : ''}`
    } else {
      const medians: number[] = []
      for (let p = 0; p < c.processes; p++) {
        const output = execFileSync(
          process.execPath,
          [...process.execArgv, self, '--case', String(index)],
          {
            encoding: 'utf8',
          },
        )
        medians.push((JSON.parse(output.trim().split('\n').at(-1)!) as Result).median)
      }
      medians.sort((x, y) => x - y)
      line = `${fmt(medians[Math.floor(medians.length / 2)]!).padStart(11)} frames/s  (processes: ${medians.map((m) => `${(m / 1e6).toFixed(2)}M`).join(' ')})`
    }
    console.log(`${c.label.padEnd(52)} ${line}`)
  }
  const { full, room } = subscribeRates()
  console.log(
    `${'SUB entries into a full table of 100k, displacing'.padEnd(52)} ${fmt(full).padStart(11)} entries/s  (with room: ${fmt(room)})`,
  )
}
