// Prints subscription-propagation figures on this machine (spec 12 §12.3,
// issue 14's load): ORIGINS neighbours (default 500) each holding 4096
// subscriptions in SUBs of 245 entries, each SUB under a proof of its own
// (a stand-in of a real proof's size: key, signature, 245 VFTs), plus two
// members of one VLAN that hear each other. Then every origin renews with
// fresh proofs, one entry each, as the load test's identities do. Prints:
//
//   - SUBs learned per second (first fill, renewals, fresh proofs),
//   - heap bytes per held subscription after the fill and after the fresh
//     proofs (the fresh proofs must not grow it),
//   - the cost of one expire() with nothing due and with 1 % due,
//   - the cost of one origin leaving.
//
// Medians of RUNS rounds where a figure is a rate. Run: pnpm run bench (in
// packages/relay), or `node --expose-gc --conditions=peertap:source
// bench/propagation.ts [origins]`.
import { Propagation, type VerifiedProof } from '../src/index.ts'

const ORIGINS = Number(process.argv[2] ?? 500)
const PER_ORIGIN = 4096
const PER_SUB = 245
const FRESH_PER_ORIGIN = 200
const RUNS = 5
const TTL = 180

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) console.log('(run with --expose-gc for heap figures)')

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i += 65_536) globalThis.crypto.getRandomValues(out.subarray(i, i + 65_536))
  return out
}

/** A stand-in proof (spec 07 §2 layout): key, 64 random signature bytes, a body of `vfts` VFTs. */
function proofFor(key: Uint8Array, vfts: number): VerifiedProof {
  const proof = randomBytes(32 + 64 + 16 + 16 * vfts)
  proof.set(key)
  return { proof, provingKey: key }
}

function heap(): number {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const fmt = (n: number) => Math.round(n).toLocaleString('en')

interface Origin {
  id: string
  key: Uint8Array
  subs: { entries: { vft: Uint8Array; flags: number }[]; proof: VerifiedProof }[]
}

const origins: Origin[] = []
for (let o = 0; o < ORIGINS; o++) {
  const key = randomBytes(32)
  const subs: Origin['subs'] = []
  for (let i = 0; i < PER_ORIGIN; i += PER_SUB) {
    const n = Math.min(PER_SUB, PER_ORIGIN - i)
    const entries = Array.from({ length: n }, () => ({ vft: randomBytes(16), flags: 3 }))
    subs.push({ entries, proof: proofFor(key, n) })
  }
  origins.push({ id: `origin-${o}`, key, subs })
}
const neighbours = new Set(origins.map((o) => o.id))

const before = heap()
const p = new Propagation({ budget: () => ({ subscriptions: PER_ORIGIN, proofBytes: 256 << 10 }) })
let now = 1_000_000
let t0 = performance.now()
let subs = 0
for (const o of origins) {
  for (const s of o.subs) {
    p.learn(o.id, s.entries, s.proof, now + TTL, neighbours, now)
    subs++
  }
}
const fillRate = subs / ((performance.now() - t0) / 1000)
const afterFill = heap()
console.log(
  `fill: ${fmt(p.size)} subscriptions from ${ORIGINS} origins, ${fmt(fillRate)} SUBs/s, ` +
    `${fmt((afterFill - before) / p.size)} heap bytes per subscription (${fmt((afterFill - before) / 2 ** 20)} MiB)`,
)

// Renewals, as a node sends them: same proofs, the expiry moved on.
const renewRates: number[] = []
for (let run = 0; run < RUNS; run++) {
  now += 15
  t0 = performance.now()
  for (const o of origins) {
    for (const s of o.subs) p.learn(o.id, s.entries, s.proof, now + TTL, neighbours, now)
  }
  renewRates.push(subs / ((performance.now() - t0) / 1000))
}
console.log(`renewals: ${fmt(median(renewRates))} SUBs/s (median of ${RUNS})`)

// Fresh proofs: each renews one of the origin's entries under a proof nobody saw before.
const freshRates: number[] = []
for (let run = 0; run < RUNS; run++) {
  now += 1
  const batch = origins.map((o) => ({
    o,
    proofs: Array.from({ length: FRESH_PER_ORIGIN / RUNS }, () => proofFor(o.key, 2)),
  }))
  t0 = performance.now()
  let n = 0
  for (const { o, proofs } of batch) {
    for (const proof of proofs) {
      const s = o.subs[n % o.subs.length]!
      p.learn(o.id, [s.entries[n % s.entries.length]!], proof, now + TTL, neighbours, now)
      n++
    }
  }
  freshRates.push(n / ((performance.now() - t0) / 1000))
}
const afterFresh = heap()
console.log(
  `fresh proofs: ${fmt(median(freshRates))} SUBs/s (median of ${RUNS}); ` +
    `${fmt((afterFresh - before) / p.size)} heap bytes per subscription after ${fmt(FRESH_PER_ORIGIN * ORIGINS)} of them, ` +
    `${fmt(p.size)} held, ${p.counters.overBudget} over budget`,
)

const idle: number[] = []
for (let run = 0; run < RUNS; run++) {
  t0 = performance.now()
  p.expire(neighbours, now)
  idle.push(performance.now() - t0)
}
console.log(`expire, nothing due: ${median(idle).toFixed(3)} ms`)

// 1 % of the origins stop renewing: their entries lapse together.
const lapsing = origins.slice(0, Math.max(1, ORIGINS / 100))
now += 1
for (const o of origins.slice(lapsing.length)) {
  for (const s of o.subs) p.learn(o.id, s.entries, s.proof, now + TTL, neighbours, now)
}
t0 = performance.now()
const gone = p.expire(neighbours, now + TTL - 0.5)
console.log(
  `expire, ${lapsing.length} origins due: ${(performance.now() - t0).toFixed(1)} ms, ${gone.length} messages, ${fmt(p.size)} held`,
)

t0 = performance.now()
p.removeNeighbour(origins.at(-1)!.id, neighbours, now)
console.log(`an origin leaves: ${(performance.now() - t0).toFixed(2)} ms`)
