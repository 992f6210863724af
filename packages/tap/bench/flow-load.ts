// The load of bench/flow.ts, in a process of its own so that its CPU is not
// counted as the hop's: a TAP `src` in the namespace NS1 and a TAP `sink`
// in NS2. It writes batches of crafted UDP frames into `src`; NS1's kernel
// routes them out of the hop's device there, and NS2's kernel routes what
// the hop delivers out of `sink`, whose reader hands them back. A closed
// loop keeps at most WINDOW frames in flight, as bench/index.ts does.
//
// Usage: flow-load.ts NS1 NS2 SIZE SECONDS RUNS. Per run it prints
// `start`, then `{"frames":…,"seconds":…,"stalls":…}` when the run is over; the parent
// samples its own CPU between the two lines. Not run on its own.
import { execFileSync } from 'node:child_process'
import { openTap, type PackedFrames } from '../src/index.ts'
import { udpFrame } from '../test/frames.ts'

const [ns1, ns2, sizeArg, secondsArg, runsArg] = process.argv.slice(2)
const SIZE = Number(sizeArg)
const SECONDS = Number(secondsArg)
const RUNS = Number(runsArg)
const BATCH = 64
const WINDOW = 256
const ip = (...args: string[]): string =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

let received = 0
let written = 0
let running = false
const src = openTap({ name: `ptfs${process.pid}`.slice(0, 15), mtu: 9000 })
const sink = openTap({ name: `ptfk${process.pid}`.slice(0, 15), mtu: 9000 })
for (const [dev, ns, address] of [
  [src.name, ns1!, '10.91.0.1/24'],
  [sink.name, ns2!, '10.93.0.1/24'],
] as const) {
  ip('link', 'set', dev, 'netns', ns)
  ip('-n', ns, 'addr', 'add', address, 'dev', dev)
  ip('-n', ns, 'link', 'set', dev, 'up')
}
// The frames' destination, 10.93.0.2, is a permanent neighbour behind `sink`: no ARP.
ip('-n', ns2!, 'neigh', 'replace', '10.93.0.2', 'lladdr', '02:00:00:93:00:02', 'dev', sink.name)
const srcMac = (
  JSON.parse(ip('-n', ns1!, '-j', 'link', 'show', src.name)) as { address: string }[]
)[0]!.address
const frame = udpFrame({
  srcMac: '02:00:00:91:00:02',
  dstMac: srcMac,
  srcIp: '10.91.0.2',
  dstIp: '10.93.0.2',
  srcPort: 40_000,
  dstPort: 9,
  frameLength: SIZE,
})
const batch: PackedFrames = {
  data: new Uint8Array(SIZE * BATCH),
  offsets: new Uint32Array(BATCH).map((_, i) => i * SIZE),
  lengths: new Uint32Array(BATCH).fill(SIZE),
  count: BATCH,
}
for (let i = 0; i < BATCH; i++) batch.data.set(frame, i * SIZE)
const topUp = (): void => {
  while (running && written - received + BATCH <= WINDOW) written += src.writeBatch(batch)
}
sink.onBatch((b) => {
  received += b.count
  topUp()
})
// A frame lost on the way would stall the loop: after 20 ms without one
// back, what is in flight counts as lost (`stalls`).
let stalls = 0
let seen = 0
const unstall = setInterval(() => {
  if (running && received === seen && written > received) {
    stalls++
    written = received
    topUp()
  }
  seen = received
}, 20)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
try {
  for (let run = 0; run < RUNS; run++) {
    // Whatever is still in flight from the last run drains first.
    running = false
    await sleep(200)
    written = received
    const start = received
    console.log('start')
    const t0 = performance.now()
    running = true
    topUp()
    await sleep(SECONDS * 1000)
    running = false
    const seconds = (performance.now() - t0) / 1000
    console.log(JSON.stringify({ frames: received - start, seconds, stalls }))
    stalls = 0
  }
} finally {
  clearInterval(unstall)
  src.close()
  sink.close()
}
