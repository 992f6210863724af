// The crypto of one send through the flow cache (spec 18 §18.4.10): the
// sealed payload and the DATA layer of one frame, SealPayload then
// SealData, timed natively around those two calls alone, with the cache's
// own AES-NI code (`ni`) and with OpenSSL's EVP (`evp`). `warm`: back to
// back; `after 10 ms`: each after sleeping 10 ms, as a reader thread sleeps
// in poll(2) between two pings, so the caches and TLBs have lost it.
// Medians (and p90) of COUNT operations, for RUNS runs: the median run.
//
// Usage: node --conditions=peertap:source bench/cipher.ts [count] [runs]
import { native } from '../src/native.ts'

const COUNT = Number(process.argv[2] ?? 200)
const RUNS = Number(process.argv[3] ?? 3)
const SIZES = [64, 100, 512, 1400]

const { ni } = native().flowAesImpl()
const impls = ni ? (['ni', 'evp'] as const) : (['evp'] as const)
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const us = (ns: number) => (ns / 1000).toFixed(2)

console.log(
  `@peertap/tap: a send's crypto (SealPayload + SealData), ${COUNT} each, median of ${RUNS} runs; µs median (p90)`,
)
console.log('| frame bytes | implementation | warm | after 10 ms idle |')
console.log('|---:|---|---:|---:|')
for (const bytes of SIZES) {
  for (const impl of impls) {
    const warm = Array.from({ length: RUNS }, () =>
      native().flowAesBench(impl, bytes, COUNT * 10, 0),
    )
    const cold = Array.from({ length: RUNS }, () =>
      native().flowAesBench(impl, bytes, COUNT, 10_000),
    )
    const w = median(warm.map((r) => r.median))
    const c = median(cold.map((r) => r.median))
    const wp = median(warm.map((r) => r.p90))
    const cp = median(cold.map((r) => r.p90))
    console.log(`| ${bytes} | ${impl} | ${us(w)} (${us(wp)}) | ${us(c)} (${us(cp)}) |`)
  }
}
if (!ni) console.log('(this CPU has no AES-NI and PCLMULQDQ: the cache uses EVP)')
