// Layer 2 emulation's cost per packet on one core, both ways: host packets
// to Ethernet frames (fromHost: next hop, neighbour lookup, header written
// in place) and frames to host packets (toHost: checks, header moved for
// the write and put back). Prints packets/s and Gbit/s (packet bytes) as
// the median of several timed runs, each after a warm-up, for 64-byte and
// 1400-byte IPv4 and IPv6 packets and 64 KiB TCP segments with a
// virtio-net header.
//
//   cd packages/tun-l2 && pnpm run bench

import { TUN_HEADROOM, TunL2 } from '../src/index.ts'

const RUNS = 7
const RUN_MS = 300
const BATCH = 64
const MAC = new Uint8Array([0x02, 1, 2, 3, 4, 5])
const PEER = new Uint8Array([0x02, 9, 9, 9, 9, 9])

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b)
  return sorted[sorted.length >> 1]!
}

function rate(op: () => void): number {
  let n = 0
  const start = performance.now()
  let now = start
  while (now - start < RUN_MS) {
    for (let i = 0; i < 16; i++) op()
    n += 16 * BATCH
    now = performance.now()
  }
  return (n * 1000) / (now - start)
}

function packet(version: 4 | 6, size: number): Uint8Array {
  const p = new Uint8Array(size)
  if (version === 4) {
    p.set([0x45, 0, size >> 8, size & 0xff, 0, 0, 0, 0, 64, 17])
    p.set([10, 0, 0, 1, 10, 0, 0, 2], 12)
  } else {
    p.set([0x60, 0, 0, 0, (size - 40) >> 8, (size - 40) & 0xff, 17, 64])
    p.set([0xfd, 0, ...new Uint8Array(13), 1, 0xfd, 0, ...new Uint8Array(13), 2], 8)
  }
  return p
}

/** A TunL2 with addresses up and the peer resolved. */
function ready(vnet: boolean): TunL2 {
  const l2 = new TunL2({
    mac: MAC,
    addresses: ['10.0.0.1/24', 'fd00::1/64'],
    vnetHeader: vnet,
    random: (n) => new Uint8Array(n),
  })
  l2.start(0)
  l2.tick(1000)
  const arp = new Uint8Array(vnet ? 52 : 42)
  const a = vnet ? 10 : 0
  arp.fill(0xff, a, a + 6)
  arp.set(PEER, a + 6)
  arp.set(
    [0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, ...PEER, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1],
    a + 12,
  )
  l2.toHost([arp], 1000, () => {})
  // The peer solicits our address: both ends now know each other.
  const na = new Uint8Array(a + 14 + 40 + 32)
  na.set(MAC, a)
  na.set(PEER, a + 6)
  na.set([0x86, 0xdd, 0x60, 0, 0, 0, 0, 32, 58, 255], a + 12)
  na.set([0xfd, 0, ...new Uint8Array(13), 2, 0xfd, 0, ...new Uint8Array(13), 1], a + 22)
  na.set([135, 0, 0, 0, 0, 0, 0, 0, 0xfd, 0, ...new Uint8Array(13), 1, 1, 1, ...PEER], a + 54)
  l2.toHost([na], 1000, () => {})
  l2.takeFrames()
  l2.takeEvents()
  return l2
}

function measure(version: 4 | 6, size: number, vnet: boolean) {
  const l2 = ready(vnet)
  const lead = vnet ? 10 : 0
  const stride = TUN_HEADROOM + lead + size
  const data = new Uint8Array(stride * BATCH)
  const offsets = new Uint32Array(BATCH)
  const lengths = new Uint32Array(BATCH).fill(lead + size)
  const p = packet(version, size)
  const vnetHeader = new Uint8Array([1, version === 4 ? 1 : 4, 54, 0, 0xa8, 0x05, 20, 0, 16, 0])
  const fill = () => {
    for (let i = 0; i < BATCH; i++) {
      offsets[i] = i * stride + TUN_HEADROOM
      if (vnet) data.set(vnetHeader, offsets[i]!)
      data.set(p, offsets[i]! + lead)
    }
  }
  fill()
  const batch = { data, offsets, lengths, count: BATCH }
  let frames: Uint8Array[] = []
  const out = () => {
    // The header is written in front of the packet each time, as a fresh read would need.
    for (let i = 0; i < BATCH; i++) if (vnet) data.set(vnetHeader, offsets[i]!)
    frames = l2.fromHost(batch, 2000)
  }
  out()
  if (frames.length !== BATCH)
    throw new Error(
      `fromHost made ${frames.length} frames of ${BATCH}: ${JSON.stringify(l2.stats())}`,
    )
  const incoming = frames.map((f) => {
    const copy = f.slice()
    copy.set(MAC, lead)
    copy.set(PEER, lead + 6)
    return copy
  })
  let written = 0
  const back = () => l2.toHost(incoming, 2000, (packets) => (written += packets.length))
  back()
  if (written !== BATCH) throw new Error(`toHost wrote ${written} packets of ${BATCH}`)
  const fromRates: number[] = []
  const toRates: number[] = []
  rate(out)
  rate(back)
  for (let r = 0; r < RUNS; r++) {
    fromRates.push(rate(out))
    toRates.push(rate(back))
  }
  const from = median(fromRates)
  const to = median(toRates)
  const gbit = (pps: number) => ((pps * size * 8) / 1e9).toFixed(1)
  const label = `IPv${version} ${String(size).padStart(5)} B${vnet ? ' (virtio-net header)' : ''}`
  console.log(
    `${label.padEnd(36)} fromHost ${(from / 1e6).toFixed(2)} Mpkt/s ${gbit(from).padStart(6)} Gbit/s   toHost ${(to / 1e6).toFixed(2)} Mpkt/s ${gbit(to).padStart(6)} Gbit/s`,
  )
}

console.log(
  `@peertap/tun-l2, one core, batches of ${BATCH}, median of ${RUNS} runs of ${RUN_MS} ms`,
)
measure(4, 64, false)
measure(6, 64, false)
measure(4, 1400, false)
measure(6, 1400, false)
measure(4, 65_000, true)
measure(6, 65_000, true)
