/**
 * Datagram link benchmark (docs/style.md §9; docs/spec/13-datagram-link.md §3):
 *  (a) hop protection per datagram, one core: DatagramSealer.sealData and
 *      DatagramOpener.open (AES-256-GCM over hop ‖ VFT, header and sealed
 *      payload as AAD) at 64, 1400 and 9000 bytes of sealed payload, beside
 *      the alternative the spec weighed: GCM with only the header as AAD;
 *  (b) frames/s through two real trunks on 127.0.0.1 (one process): the
 *      datagram link on node:dgram and on the batched socket (recvmmsg /
 *      sendmmsg, with and without UDP GSO, @peertap/tap's openUdp) against
 *      the TCP stream link, 64
 *      and 1400 bytes, with the process's CPU seconds per frame.
 * Run: node --conditions=peertap:source bench/datagram.ts (BENCH_SECONDS=n).
 */
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { openUdp } from '@peertap/tap'
import {
  createTrunk,
  DatagramOpener,
  DatagramSealer,
  type DatagramSocketFactory,
  derivePathKey,
  type Frame,
  type Trunk,
} from '../src/index.ts'

const RUN_SECONDS = Number(process.env.BENCH_SECONDS ?? 1)
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 0 })

function frame(size: number): Frame {
  return { hopLimit: 8, vft: new Uint8Array(16).fill(7), sealed: new Uint8Array(size).fill(1) }
}

function rate(fn: (i: number) => void): number {
  const end = performance.now() + RUN_SECONDS * 1000
  let n = 0
  const start = performance.now()
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) fn(n + i)
    n += 1000
  }
  return n / ((performance.now() - start) / 1000)
}

console.log('(a) hop protection, one core, datagrams/s (MB/s of sealed payload)')
console.log(
  'sealed  | seal (spec 13)     | open (spec 13)     | seal, header-only AAD | open, header-only AAD',
)
const key = derivePathKey(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2))
for (const size of [64, 1400, 9000]) {
  const f = frame(size)
  const sealer = new DatagramSealer(key, 1)
  const sealed: Buffer[] = []
  for (let i = 0; i < 4096; i++) sealed.push(sealer.sealData(f)!)
  const seal = rate(() => sealer.sealData(f))
  // Open the same 4096 datagrams again and again: a window that never says "replay".
  const opener = new DatagramOpener(key, { check: () => undefined })
  const open = rate((i) => opener.open(sealed[i & 4095]!))
  // The alternative: hop ‖ VFT encrypted, only the header authenticated.
  const k = createSecretKey(key)
  const iv = Buffer.alloc(12)
  const header = Buffer.alloc(9)
  const hv = Buffer.alloc(17)
  const sealH = rate((i) => {
    iv.writeUInt32BE(i >>> 0, 8)
    const c = createCipheriv('aes-256-gcm', k, iv)
    c.setAAD(header)
    c.update(hv)
    c.final()
    c.getAuthTag()
  })
  const c0 = createCipheriv('aes-256-gcm', k, iv)
  c0.setAAD(header)
  const ct = c0.update(hv)
  c0.final()
  const tag = c0.getAuthTag()
  const openH = rate(() => {
    const d = createDecipheriv('aes-256-gcm', k, iv)
    d.setAAD(header)
    d.setAuthTag(tag)
    d.update(ct)
    try {
      d.final()
    } catch {}
  })
  const mb = (r: number) => `${fmt(r)} (${fmt((r * size) / 1e6)})`
  console.log(
    `${String(size).padEnd(7)} | ${mb(seal).padEnd(18)} | ${mb(open).padEnd(18)} | ${mb(sealH).padEnd(21)} | ${mb(openH)}`,
  )
}

console.log(
  '\n(b) two trunks on 127.0.0.1, one process, frames/s delivered (process CPU µs per frame)',
)
const batched: DatagramSocketFactory = (b) => openUdp({ address: b.address, port: b.port })
const kinds: Array<[string, false | { socket?: DatagramSocketFactory }]> = [
  ['stream', false],
  ['datagram/dgram', {}],
  [
    'datagram/batched, no GSO',
    { socket: (b) => openUdp({ address: b.address, port: b.port, gso: false }) },
  ],
  ['datagram/batched', { socket: batched }],
]
for (const size of [64, 1400]) {
  const row: string[] = []
  for (const [name, datagram] of kinds) {
    const nodes: Trunk[] = []
    const start = async (listen: string[]) => {
      const t = await createTrunk({
        privateKey: await generateKeyPair('Ed25519'),
        listen,
        transports: ['tcp'],
        datagram,
      })
      nodes.push(t)
      await t.start()
      return t
    }
    const a = await start(['/ip4/127.0.0.1/tcp/0'])
    const b = await start([])
    let received = 0
    a.setReceiver({ onFrames: (f) => (received += f.length) })
    await b.dial(a.getMultiaddrs()[0]!)
    const id = a.peerId.toString()
    if (datagram !== false) {
      while (b.getLink(id)?.kind !== 'datagram') await new Promise((r) => setTimeout(r, 20))
    }
    const batch = Array.from({ length: 32 }, () => frame(size))
    const end = performance.now() + RUN_SECONDS * 1000
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    const startCount = received
    while (performance.now() < end) {
      b.getLink(id)!.sendFrames(batch)
      await new Promise((r) => setImmediate(r))
    }
    await new Promise((r) => setTimeout(r, 100))
    const cpu = process.cpuUsage(cpu0)
    const n = received - startCount
    row.push(
      `${name} ${fmt(n / ((performance.now() - t0) / 1000))}/s (${((cpu.user + cpu.system) / n).toFixed(1)} µs)`,
    )
    for (const t of nodes) await t.stop()
  }
  console.log(`${size} B: ${row.join(', ')}`)
}
