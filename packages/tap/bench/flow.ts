// The flow cache's cost per frame (src/flow-cache.cc), with the kernel at
// both ends and the load in another process (bench/flow-load.ts):
//
//   load: src -> NS1 kernel -> [a] ==hop==> [b] -> NS2 kernel -> sink :load
//
// The hop, this process, joins the TAP `a` in NS1 to the TAP `b` in NS2
// one of two ways:
//
// - `cache`: the fast path as the runtime installs it for an established
//   flow. `a`'s reader thread seals each frame (the sealed payload and the
//   datagram link's DATA layer, spec 18) and sends it on a UDP socket on
//   127.0.0.1 to itself; the socket's reader thread opens it and writes it
//   to `b`. JavaScript sees nothing but the process's timers.
// - `javascript`: no entries; the main thread copies each batch `a` reads
//   into `b` (no crypto, no UDP): the floor of a hop through JavaScript.
//
// Per frame delivered it prints the rate and this process's CPU time (all
// its threads, from process.cpuUsage), which is the hop's alone: the load's
// writes and reads run in the other process. Medians of RUNS runs.
//
// Usage (root): node --conditions=peertap:source bench/flow.ts [seconds] [runs]
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { FlowCache } from '../src/flow.ts'
import { openTap, openUdp } from '../src/index.ts'
import { direction, installPair, macOf } from '../test/flow-pair.ts'
import { addNetns, delNetns, ip, nsName, run } from '../test/helpers.ts'

const SECONDS = Number(process.argv[2] ?? 2)
const RUNS = Number(process.argv[3] ?? 5)
const SIZES = [64, 1400]
const MODES = ['cache', 'javascript'] as const

if (process.getuid?.() !== 0 || !existsSync('/dev/net/tun')) {
  console.log('flow bench skipped: needs root and /dev/net/tun')
  process.exit(0)
}

interface Run {
  fps: number
  cpuUs: number
  stalls: number
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y)
  return s[Math.floor(s.length / 2)]!
}

/** Runs the load for one frame size: RUNS runs, this process's CPU sampled around each. */
async function measure(
  ns1: string,
  ns2: string,
  size: number,
): Promise<{ runs: Run[]; frames: number }> {
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      new URL('./flow-load.ts', import.meta.url).pathname,
      ns1,
      ns2,
      String(size),
      String(SECONDS),
      String(RUNS + 1),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const exited = new Promise<number | null>((r) => child.on('exit', r))
  const runs: Run[] = []
  let frames = 0
  let cpu = process.cpuUsage()
  for await (const line of createInterface({ input: child.stdout! })) {
    if (line === 'start') {
      cpu = process.cpuUsage()
      continue
    }
    const used = process.cpuUsage(cpu)
    const r = JSON.parse(line) as { frames: number; seconds: number; stalls: number }
    frames += r.frames
    runs.push({
      fps: r.frames / r.seconds,
      cpuUs: (used.user + used.system) / Math.max(1, r.frames),
      stalls: r.stalls,
    })
  }
  const code = await exited
  if (code !== 0) throw new Error(`flow-load.ts exited with ${code}`)
  return { runs: runs.slice(1), frames } // the first run is a warm-up
}

async function main(): Promise<void> {
  const ns1 = nsName('fb1')
  const ns2 = nsName('fb2')
  addNetns(ns1)
  addNetns(ns2)
  const a = openTap({ name: `ptfa${process.pid}`.slice(0, 15), mtu: 9000 })
  const b = openTap({ name: `ptfb${process.pid}`.slice(0, 15), mtu: 9000 })
  const udp = openUdp({ address: '127.0.0.1', port: 0 })
  const cache = new FlowCache()
  try {
    for (const [ns, dev, address] of [
      [ns1, a.name, '10.92.0.1/24'],
      [ns2, b.name, '10.92.0.2/24'],
    ] as const) {
      ip('link', 'set', dev, 'netns', ns)
      ip('-n', ns, 'addr', 'add', address, 'dev', dev)
      ip('-n', ns, 'link', 'set', dev, 'up')
      run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
      run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0'])
    }
    const [macA, macB] = [macOf(ns1, a.name), macOf(ns2, b.name)]
    const hex = (m: Uint8Array) => [...m].map((x) => x.toString(16).padStart(2, '0')).join(':')
    // Each side's neighbour is the other device, by a permanent entry (no ARP).
    ip('-n', ns1, 'neigh', 'replace', '10.92.0.2', 'lladdr', hex(macB), 'dev', a.name)
    ip('-n', ns2, 'neigh', 'replace', '10.92.0.1', 'lladdr', hex(macA), 'dev', b.name)
    ip('-n', ns1, 'route', 'add', '10.93.0.0/24', 'via', '10.92.0.2')
    ip('-n', ns2, 'route', 'add', '10.91.0.0/24', 'via', '10.92.0.1')
    // What comes up to JavaScript: everything without an entry.
    let up = 0
    let carry = false
    a.onBatch((batch) => {
      up += batch.count
      if (carry) b.writeBatch(batch)
    })
    b.onBatch((batch) => {
      up += batch.count
      if (carry) a.writeBatch(batch)
    })
    udp.onBatch((batch) => {
      up += batch.count
    })
    cache.attachUdp(udp)
    const slotA = cache.attachDevice(a)
    const slotB = cache.attachDevice(b)

    console.log(
      `@peertap/tap flow cache: one hop between two TAPs, load in another process, ${RUNS} runs of ${SECONDS} s, median`,
    )
    console.log(
      '| hop | frame bytes | frames/s | hop CPU µs per frame | frames up to JS | stalls |',
    )
    console.log('|---|---|---|---|---|---|')
    for (const mode of MODES) {
      cache.clear()
      carry = mode === 'javascript'
      if (mode === 'cache') {
        const [ab, ba] = [direction(cache.cells, 0x0a0b0c0d), direction(cache.cells, 0x01020304)]
        const taken = installPair(cache, udp.port, [slotA, macA, ab], [slotB, macB, ba])
        if (!taken.every(Boolean)) throw new Error('the flow cache refused a sender key')
      }
      for (const size of SIZES) {
        const upBefore = up
        const { runs, frames } = await measure(ns1, ns2, size)
        console.log(
          `| ${mode} | ${size} | ${Math.round(median(runs.map((r) => r.fps))).toLocaleString('en')} | ${median(runs.map((r) => r.cpuUs)).toFixed(2)} | ${(((up - upBefore) / Math.max(1, frames)) * 100).toFixed(1)} % | ${runs.reduce((n, r) => n + r.stalls, 0)} |`,
        )
      }
    }
    const c = cache.counters()
    console.log(
      `cache: sent ${c.sent}, received ${c.received}; device a reader waits ${a.stats().readerWaits}, b ${b.stats().readerWaits}`,
    )
  } finally {
    a.close()
    b.close()
    udp.close()
    delNetns(ns1)
    delNetns(ns2)
  }
}

await main()
