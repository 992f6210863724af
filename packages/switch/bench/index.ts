// Prints the switch's own cost per frame on this machine: the send path
// (learn, VFT lookup, seal) and the receive path (VFT lookup, replay check,
// open, delivery) in batches of 64 frames, node:crypto backend, for 64,
// 1400 and 9000-byte Ethernet frames. Medians of 5 runs of about 0.5 s.
// Run: pnpm run bench (in packages/switch) or npm run bench at the root.
import { derivePskEpochSecrets } from '@peertap/crypto'
import { parseMac, WINDOW_SECONDS } from '@peertap/vft'
import {
  type SealedFrame,
  Switch,
  toPlainFrames,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_HEADER_LENGTH,
  writeVnetHeader,
} from '../src/index.ts'

const RUNS = 5
const BATCH = 64
const now = 2_963_231 * WINDOW_SECONDS + 300
const macA = parseMac('02:00:00:00:00:0a')
const macB = parseMac('02:00:00:00:00:0b')
const secrets = derivePskEpochSecrets(new Uint8Array(32).fill(7))

function makeSwitch(mac: Uint8Array, peer: () => Switch): Switch {
  const sw = new Switch({ hasRemoteSubscriber: (vft) => peer().holds(vft) })
  sw.addVlan('lab', { kind: 'psk', epoch: 0, secrets })
  sw.addPort('lab', 'tap', { mac, writeFrames: () => {} })
  sw.refresh(now)
  return sw
}

function median(values: number[]): number {
  return values.sort((x, y) => x - y)[Math.floor(values.length / 2)]!
}

console.log(
  `@peertap/switch bench, Node ${process.version}, batches of ${BATCH}, median of ${RUNS}`,
)
for (const size of [64, 1400, 9000]) {
  let a: Switch
  let b: Switch
  a = makeSwitch(macA, () => b)
  b = makeSwitch(macB, () => a)
  const frame = new Uint8Array(size)
  frame.set(macB, 0)
  frame.set(macA, 6)
  const batch = Array.from({ length: BATCH }, () => frame)
  const sendRates: number[] = []
  const recvRates: number[] = []
  for (let run = 0; run < RUNS + 1; run++) {
    const sealed: SealedFrame[][] = []
    let start = process.hrtime.bigint()
    let frames = 0
    while (Number(process.hrtime.bigint() - start) < 5e8) {
      sealed.push(a.fromPort('lab', 'tap', batch, now))
      frames += BATCH
    }
    const sendSeconds = Number(process.hrtime.bigint() - start) / 1e9
    start = process.hrtime.bigint()
    for (const s of sealed) b.receive(s, now)
    const recvSeconds = Number(process.hrtime.bigint() - start) / 1e9
    if (run === 0) continue // warm-up
    sendRates.push(frames / sendSeconds)
    recvRates.push(frames / recvSeconds)
  }
  const delivered = b.vlanCounters().lab!.delivered
  if (delivered === 0) throw new Error('nothing delivered: the bench measures nothing')
  const send = median(sendRates)
  const recv = median(recvRates)
  const mb = (rate: number) => ((rate * size) / 1e6).toFixed(0).padStart(6)
  console.log(
    `${String(size).padStart(5)} B  send ${Math.round(send).toLocaleString('en').padStart(9)} frames/s ${mb(send)} MB/s   receive ${Math.round(recv).toLocaleString('en').padStart(9)} frames/s ${mb(recv)} MB/s`,
  )
}

// The software offload fallback (src/vnet.ts): a 64 KiB TCP GSO frame
// (IPv4, timestamps) cut into MSS-1348 segments for a port without a
// virtio-net header, and a partial checksum finished on a 1400 and a
// 9000-byte frame.
function vnetTcpFrame(payload: number, gso: boolean, mss: number): Uint8Array {
  const l4 = 14 + 20
  const h = l4 + 32
  const f = new Uint8Array(VNET_HEADER_LENGTH + h + payload)
  writeVnetHeader(f, 0, {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: gso ? VNET_GSO_TCPV4 : VNET_GSO_NONE,
    hdrLen: h,
    gsoSize: gso ? mss : 0,
    csumStart: l4,
    csumOffset: 16,
  })
  const e = f.subarray(VNET_HEADER_LENGTH)
  e.set(macB, 0)
  e.set(macA, 6)
  e.set([0x08, 0x00, 0x45, 0, (h + payload - 14) >> 8, (h + payload - 14) & 0xff], 12)
  e.set([0x40, 0x00, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 20)
  e[l4 + 12] = 0x80 // data offset 8 words
  e[l4 + 13] = 0x18 // ACK|PSH
  for (let i = h; i < e.length; i++) e[i] = i * 7
  return f
}

for (const [label, frame, unit] of [
  ['64 KiB TCP GSO, MSS 1348', vnetTcpFrame(65_535 - 52, true, 1348), 'segments'],
  ['1400 B partial checksum', vnetTcpFrame(1400 - 66, false, 0), 'frames'],
  ['9000 B partial checksum', vnetTcpFrame(9000 - 66, false, 0), 'frames'],
] as const) {
  const rates: number[] = []
  const mbs: number[] = []
  for (let run = 0; run < RUNS + 1; run++) {
    const start = process.hrtime.bigint()
    let frames = 0
    let bytes = 0
    while (Number(process.hrtime.bigint() - start) < 5e8) {
      const out = toPlainFrames(frame)
      if (typeof out === 'string') throw new Error(`vnet bench frame refused: ${out}`)
      frames += out.length
      for (const f of out) bytes += f.length
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    if (run === 0) continue // warm-up
    rates.push(frames / seconds)
    mbs.push(bytes / seconds / 1e6)
  }
  console.log(
    `vnet ${label.padEnd(26)} ${Math.round(median(rates)).toLocaleString('en').padStart(10)} ${unit}/s ${median(mbs).toFixed(0).padStart(6)} MB/s out`,
  )
}

// Fitting to a datagram path (docs/spec/10-switch.md §10.7): 64 KiB TCP GSO
// frames (MSS 1448, as a TAP with MTU 1500 hands them over) from a port
// with offloads to one with offloads, sent and received in batches of 8,
// whole (no bound: the stream link), and for a path MTU of 1430 cut into
// TCP segments ('segment') or split into kind-1 fragments ('fragment').
// Send and receive together, MB/s of Ethernet frames in.
for (const [label, largeGso, maxSealed] of [
  ['whole (stream link)', 'segment', Number.POSITIVE_INFINITY],
  ['segment, MTU 1430', 'segment', 1430],
  ['fragment, MTU 1430', 'fragment', 1430],
] as const) {
  const mk = (mac: Uint8Array, peer: () => Switch): Switch => {
    const sw = new Switch({ hasRemoteSubscriber: (vft) => peer().holds(vft), largeGso })
    sw.addVlan('lab', { kind: 'psk', epoch: 0, secrets })
    sw.addPort('lab', 'tap', { mac, vnetHeader: true, writeFrames: () => {} })
    sw.refresh(now)
    return sw
  }
  let a: Switch
  let b: Switch
  a = mk(macA, () => b)
  b = mk(macB, () => a)
  const frame = vnetTcpFrame(65_535 - 52, true, 1448)
  const batch = Array.from({ length: 8 }, () => frame)
  const rates: number[] = []
  let sealedPerFrame = 0
  for (let run = 0; run < RUNS + 1; run++) {
    const start = process.hrtime.bigint()
    let bytes = 0
    let sealedCount = 0
    while (Number(process.hrtime.bigint() - start) < 5e8) {
      const sealed = a.fromPort('lab', 'tap', batch, now, maxSealed)
      sealedCount += sealed.length
      b.receive(sealed, now)
      bytes += batch.length * (frame.length - VNET_HEADER_LENGTH)
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    sealedPerFrame = sealedCount / (bytes / (frame.length - VNET_HEADER_LENGTH))
    if (run === 0) continue // warm-up
    rates.push(bytes / seconds / 1e6)
  }
  const delivered = b.vlanCounters().lab!.delivered
  if (delivered === 0) throw new Error(`${label}: nothing delivered`)
  console.log(
    `fit ${label.padEnd(22)} ${median(rates).toFixed(0).padStart(6)} MB/s  ${sealedPerFrame.toFixed(1).padStart(5)} sealed frames per 64 KiB frame`,
  )
}
