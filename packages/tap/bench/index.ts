// Throughput through the addon, both directions at once, with the kernel as
// the other end:
//
//   writeBatch -> TAP "in" -> kernel IPv4 forwarding -> TAP "out" -> onBatch
//
// In a network namespace of its own, this process writes batches of 64
// crafted Ethernet/IPv4/UDP frames into one TAP; the kernel routes each to a
// second TAP (a permanent neighbour entry, so no ARP), where the reader
// thread hands them back in batches. A closed loop keeps at most WINDOW
// frames in flight, below the devices' queues, so nothing is dropped and the
// figure is the rate the whole path sustains. Every frame crosses the addon
// twice (one write, one read) plus the kernel's forwarding path; both of
// this process's threads and the kernel share the machine's cores.
//
// Usage (root): node --conditions=peertap:source bench/index.ts [seconds] [runs]
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { openTap, type PackedFrames, type TapDevice } from '../src/index.ts'
import { udpFrame } from '../test/frames.ts'

const SECONDS = Number(process.argv[2] ?? 2)
const RUNS = Number(process.argv[3] ?? 5)
const SIZES = [64, 1400, 9000]
const BATCH = 64
const WINDOW = 256

if (process.getuid?.() !== 0 || !existsSync('/dev/net/tun')) {
  console.log('tap bench skipped: needs root and /dev/net/tun')
  process.exit(0)
}

const ns = `pt-tap-bench-${process.pid}`
const ip = (...args: string[]): string =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const devIn = `ptbi${process.pid}`.slice(0, 15)
const devOut = `ptbo${process.pid}`.slice(0, 15)
const peerIn = '02:00:00:91:00:02'
const peerOut = '02:00:00:92:00:02'

interface Run {
  frames: number
  seconds: number
  batches: number
}

/** `onRead` is registered before the move, so the pool is sized for MTU 9000. */
function setup(onRead: (count: number) => void): {
  tin: TapDevice
  tout: TapDevice
  inMac: string
} {
  try {
    ip('netns', 'del', ns)
  } catch {}
  ip('netns', 'add', ns)
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
  const tin = openTap({ name: devIn, mtu: 9000 })
  const tout = openTap({ name: devOut, mtu: 9000 })
  tout.onBatch((b) => onRead(b.count))
  ip('link', 'set', devIn, 'netns', ns)
  ip('link', 'set', devOut, 'netns', ns)
  ip('-n', ns, 'addr', 'add', '10.91.0.1/24', 'dev', devIn)
  ip('-n', ns, 'addr', 'add', '10.92.0.1/24', 'dev', devOut)
  ip('-n', ns, 'link', 'set', devIn, 'up')
  ip('-n', ns, 'link', 'set', devOut, 'up')
  ip(
    '-n',
    ns,
    'neigh',
    'replace',
    '10.92.0.2',
    'lladdr',
    peerOut,
    'dev',
    devOut,
    'nud',
    'permanent',
  )
  const inMac = (JSON.parse(ip('-n', ns, '-j', 'link', 'show', devIn)) as { address: string }[])[0]!
    .address
  return { tin, tout, inMac }
}

/** BATCH copies of one frame, packed in one buffer as writeBatch takes them. */
function packed(size: number, inMac: string): PackedFrames {
  const frame = udpFrame({
    srcMac: peerIn,
    dstMac: inMac,
    srcIp: '10.91.0.2',
    dstIp: '10.92.0.2',
    srcPort: 40_000,
    dstPort: 9,
    frameLength: size,
  })
  const data = new Uint8Array(size * BATCH)
  const offsets = new Uint32Array(BATCH)
  const lengths = new Uint32Array(BATCH).fill(size)
  for (let i = 0; i < BATCH; i++) {
    data.set(frame, i * size)
    offsets[i] = i * size
  }
  return { data, offsets, lengths, count: BATCH }
}

async function main(): Promise<void> {
  let received = 0
  let written = 0
  let running = false
  let batch: PackedFrames | undefined
  const topUp = (): void => {
    while (running && batch !== undefined && written - received + BATCH <= WINDOW) {
      written += tin.writeBatch(batch)
    }
  }
  const { tin, tout, inMac } = setup((count) => {
    received += count
    topUp()
  })
  const once = async (size: number): Promise<Run> => {
    batch = packed(size, inMac)
    // Drain whatever is still in flight from the last run.
    running = false
    await new Promise((r) => setTimeout(r, 100))
    written = received
    const before = tout.stats().batchesRead
    const start = received
    const t0 = performance.now()
    running = true
    topUp()
    await new Promise((r) => setTimeout(r, SECONDS * 1000))
    const seconds = (performance.now() - t0) / 1000
    const frames = received - start
    running = false
    return { frames, seconds, batches: tout.stats().batchesRead - before }
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((x, y) => x - y)
    return s[Math.floor(s.length / 2)]!
  }
  try {
    console.log(
      `@peertap/tap: write -> kernel forward -> read, ${RUNS} runs of ${SECONDS} s, median (window ${WINDOW}, write batches of ${BATCH})`,
    )
    console.log('| frame bytes | frames/s | MB/s (frame bytes) | frames per read batch |')
    console.log('|---|---|---|---|')
    for (const size of SIZES) {
      await once(size) // warm-up
      const runs: Run[] = []
      for (let i = 0; i < RUNS; i++) runs.push(await once(size))
      const fps = median(runs.map((r) => r.frames / r.seconds))
      const perBatch = median(runs.map((r) => r.frames / Math.max(1, r.batches)))
      console.log(
        `| ${size} | ${Math.round(fps).toLocaleString('en')} | ${((fps * size) / 1e6).toFixed(1)} | ${perBatch.toFixed(1)} |`,
      )
    }
    const s = tin.stats()
    const o = tout.stats()
    console.log(
      `write drops ${s.writeDrops}, reader waits ${o.readerWaits}, truncated ${o.truncated}`,
    )
  } finally {
    tin.close()
    tout.close()
    try {
      ip('netns', 'del', ns)
    } catch {}
  }
}

await main()
