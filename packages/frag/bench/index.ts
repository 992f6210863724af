// Split and reassembly throughput on one core. Prints, per datagram size,
// datagrams/s, fragments/s and MB/s (datagram bytes, 10^6) as the median of
// several timed runs, each after a warm-up.
//
//   cd packages/frag && pnpm run bench

import { Fragmenter, Outcome, Reassembler } from '../src/index.ts'

const RUNS = 7
const RUN_MS = 300
const MAX_FRAGMENT_BYTES = 1400
const SIZES = [64, 1400, 9000, 65_536]

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b)
  return sorted[sorted.length >> 1]!
}

/** Runs `op` (which handles `batch` datagrams) repeatedly for RUN_MS; returns datagrams/s. */
function rate(op: () => void, batch: number): number {
  let n = 0
  const start = performance.now()
  let now = start
  while (now - start < RUN_MS) {
    for (let i = 0; i < 64; i++) op()
    n += 64 * batch
    now = performance.now()
  }
  return (n * 1000) / (now - start)
}

function measure(op: () => void): number {
  rate(op, 1) // warm-up: let the JIT settle
  const rates: number[] = []
  for (let r = 0; r < RUNS; r++) rates.push(rate(op, 1))
  return median(rates)
}

function row(name: string, size: number, fragments: number, datagramsPerSecond: number): void {
  const fps = datagramsPerSecond * fragments
  const mbps = (datagramsPerSecond * size) / 1e6
  console.log(
    `${name.padEnd(10)} ${String(size).padStart(6)} B  ${String(fragments).padStart(3)} frags  ` +
      `${(datagramsPerSecond / 1e3).toFixed(1).padStart(8)}k datagrams/s  ` +
      `${(fps / 1e3).toFixed(1).padStart(8)}k fragments/s  ${mbps.toFixed(0).padStart(6)} MB/s`,
  )
}

console.log(
  `@peertap/frag bench: Node ${process.version}, maxFragmentBytes ${MAX_FRAGMENT_BYTES}, ` +
    `median of ${RUNS} runs of ${RUN_MS} ms`,
)

let sink = 0
for (const size of SIZES) {
  const fragmenter = new Fragmenter({ maxFragmentBytes: MAX_FRAGMENT_BYTES })
  const datagram = Uint8Array.from({ length: size }, (_, i) => i & 0xff)
  const count = fragmenter.fragmentCount(size)
  const scratch = new Uint8Array(count * MAX_FRAGMENT_BYTES)

  const split = measure(() => {
    sink += fragmenter.split(datagram, scratch)
  })
  row('split', size, count, split)

  const fragments = Array.from({ length: count }, (_, i) =>
    scratch.subarray(
      i * MAX_FRAGMENT_BYTES,
      i * MAX_FRAGMENT_BYTES + fragmenter.fragmentBytes(size, i),
    ),
  )
  const reassembler = new Reassembler<number>()
  let now = 0
  const inOrder = measure(() => {
    for (const f of fragments) {
      if (reassembler.push(1, f, now) === Outcome.Complete) sink += reassembler.datagram!.length
    }
    now += 0.001
  })
  row('reassemble', size, count, inOrder)

  if (count > 1) {
    const reversed = fragments.slice().reverse()
    const backwards = measure(() => {
      for (const f of reversed) {
        if (reassembler.push(1, f, now) === Outcome.Complete) sink += reassembler.datagram!.length
      }
      now += 0.001
    })
    row('reversed', size, count, backwards)
  }
  // The figures mean nothing unless the work is right: check one round trip.
  let out: Uint8Array | undefined
  for (const f of fragments)
    if (reassembler.push(1, f, now) === Outcome.Complete) out = reassembler.datagram
  if (
    out === undefined ||
    !out.every((b, i) => b === datagram[i]) ||
    reassembler.reassemblies !== 0
  ) {
    throw new Error(`bench: ${size}-byte round trip failed`)
  }
}
if (sink === 0) console.log('unreachable')
