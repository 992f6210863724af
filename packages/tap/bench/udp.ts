// UDP datagrams per second and CPU per datagram between two sockets of this
// process on 127.0.0.1, for node:dgram (one send() and one 'message' event
// per datagram) and openUdp (one sendmmsg per batch, recvmmsg batches on the
// reader thread), without and with UDP GSO on the sender and UDP GRO on the
// receiver (on loopback a UDP_GRO socket gets each GSO message whole and
// splits it itself; without UDP_GRO the kernel splits it before the socket).
// A closed loop keeps at most
// WINDOW datagrams in flight, below the socket buffers, so nothing is
// dropped; the sender sends BATCH at a time, as the trunk sends a switch
// batch. CPU is the process's (both threads, and the kernel work its system
// calls do: on loopback the receive path runs inside the send).
//
// Usage: node --conditions=peertap:source bench/udp.ts [seconds] [runs]
import { createSocket } from 'node:dgram'
import { openUdp } from '../src/index.ts'

const SECONDS = Number(process.argv[2] ?? 2)
const RUNS = Number(process.argv[3] ?? 3)
const SIZES = [64, 1400]
const BATCH = 64
const WINDOW = 512

interface Pair {
  send(n: number): void
  onReceive(cb: (n: number) => void): void
  close(): Promise<void>
}

async function dgramPair(size: number): Promise<Pair> {
  const a = createSocket('udp4')
  const b = createSocket('udp4')
  await new Promise<void>((r) => a.bind(0, '127.0.0.1', r))
  await new Promise<void>((r) => b.bind(0, '127.0.0.1', r))
  const port = b.address().port
  const d = new Uint8Array(size).fill(1)
  return {
    send(n) {
      for (let i = 0; i < n; i++) a.send(d, port, '127.0.0.1')
    },
    onReceive(cb) {
      b.on('message', () => cb(1))
    },
    close: async () => {
      a.close()
      b.close()
    },
  }
}

function batchedPair(size: number, gso: boolean, gro: boolean): Pair {
  const a = openUdp({ address: '127.0.0.1', gso })
  const b = openUdp({ address: '127.0.0.1', receiveBufferBytes: 4 << 20, gro })
  const ds = Array.from({ length: BATCH }, () => new Uint8Array(size).fill(1))
  const to = ds.map(() => '127.0.0.1')
  const ports = ds.map(() => b.port)
  return {
    send(n) {
      a.send(ds, to, ports, n)
    },
    onReceive(cb) {
      b.onBatch((batch) => cb(batch.count))
    },
    close: async () => {
      a.close()
      b.close()
    },
  }
}

async function run(pair: Pair): Promise<{ pps: number; us: number }> {
  let received = 0
  let sent = 0
  let wake: (() => void) | undefined
  pair.onReceive((n) => {
    received += n
    wake?.()
  })
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  const end = t0 + SECONDS * 1000
  while (performance.now() < end) {
    while (sent - received < WINDOW - BATCH) {
      pair.send(BATCH)
      sent += BATCH
    }
    await new Promise<void>((r) => {
      wake = r
      setTimeout(r, 50) // a lost datagram must not stall the loop
    })
    wake = undefined
  }
  const cpu = process.cpuUsage(cpu0)
  const seconds = (performance.now() - t0) / 1000
  await pair.close()
  return { pps: received / seconds, us: (cpu.user + cpu.system) / received }
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
const kinds: Array<[string, (size: number) => Pair | Promise<Pair>]> = [
  ['node:dgram', dgramPair],
  ['openUdp, no GSO, no GRO', (s) => batchedPair(s, false, false)],
  ['openUdp, no GSO, GRO', (s) => batchedPair(s, false, true)],
  ['openUdp, GSO, no GRO', (s) => batchedPair(s, true, false)],
  ['openUdp, GSO, GRO', (s) => batchedPair(s, true, true)],
]
console.log(`UDP on 127.0.0.1, batches of ${BATCH}, ${RUNS} runs of ${SECONDS} s, medians`)
console.log('bytes | socket                  | datagrams/s | CPU µs per datagram')
for (const size of SIZES) {
  const results = new Map<string, Array<{ pps: number; us: number }>>()
  // Runs interleave the kinds, so a busy moment on a shared machine hits all alike.
  for (let r = 0; r < RUNS; r++) {
    for (const [name, make] of kinds) {
      const list = results.get(name) ?? []
      list.push(await run(await make(size)))
      results.set(name, list)
    }
  }
  for (const [name] of kinds) {
    const list = results.get(name)!
    const pps = median(list.map((x) => x.pps))
    const us = median(list.map((x) => x.us))
    console.log(
      `${String(size).padStart(5)} | ${name.padEnd(23)} | ${Math.round(pps).toLocaleString('en-US').padStart(11)} | ${us.toFixed(2)}`,
    )
  }
}
