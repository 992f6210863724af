// Prints VFT figures on this machine: derivations per second through a
// prepared VftDeriver (the data path's form) and through the one-shot call,
// a port's subscription set, and VLAN-ID derivation. Medians of 5 runs.
// Run: pnpm run bench (in packages/vft) or npm run bench at the root.
import { blake3 } from '@noble/hashes/blake3.js'
import { deriveVlanId, parseMac, subscriptionSet, VftDeriver } from '../src/index.ts'

const RUNS = 5

function measure(name: string, opsPerRun: number, body: () => void): void {
  for (let i = 0; i < Math.min(opsPerRun, 20_000); i++) body() // warm up
  const rates: number[] = []
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < opsPerRun; i++) body()
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    rates.push(opsPerRun / seconds)
  }
  rates.sort((a, b) => a - b)
  const median = rates[Math.floor(RUNS / 2)]!
  console.log(
    `${name.padEnd(44)} ${Math.round(median).toLocaleString('en').padStart(12)} ops/s  (min ${Math.round(rates[0]!).toLocaleString('en')}, max ${Math.round(rates[RUNS - 1]!).toLocaleString('en')})`,
  )
}

const key = new Uint8Array(32).fill(7)
const mac = parseMac('02:00:00:00:00:01')
const deriver = new VftDeriver(key)
const out = new Uint8Array(16)
let window = 2_963_231

console.log(`@peertap/vft bench, Node ${process.version}, ${RUNS} runs, median`)
measure('VFT derive (VftDeriver, into caller buffer)', 500_000, () => {
  deriver.derive(mac, window++ & 0xffff, out)
})
const input = new Uint8Array(24)
measure('VFT derive (one-shot keyed BLAKE3, reference)', 300_000, () => {
  input[23] = window++ & 0xff
  blake3(input, { key, dkLen: 16 })
})
const multicast = [
  parseMac('33:33:ff:00:00:01'),
  parseMac('33:33:00:00:00:01'),
  parseMac('01:00:5e:00:00:fb'),
]
measure('subscription set (2 epochs, 3 windows, 5 MACs)', 5_000, () => {
  subscriptionSet({
    unixSeconds: 2_963_231 * 600 + 30,
    epochs: [
      { epoch: 1, deriver },
      { epoch: 0, deriver },
    ],
    unicastMacs: [mac],
    multicastMacs: multicast,
  })
})
const owner = Uint8Array.from(Buffer.from(`002408011220${'ab'.repeat(32)}`, 'hex'))
measure('VLAN-ID derive', 200_000, () => {
  deriveVlanId(owner, 'lab')
})
