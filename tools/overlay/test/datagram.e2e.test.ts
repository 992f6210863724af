/**
 * End to end over the datagram link (docs/spec/13-datagram-link.md): two
 * real `peertap up` processes in namespaces, a TCP stream link between them
 * and a validated UDP path beside it. The TAP MTU is 1380 and TAP offloads
 * are off, so that every frame fits the probed path MTU (1430) and takes
 * the path without being split. Needs root
 * and /dev/net/tun; elsewhere it skips with the reason.
 *
 * The second suite runs a TAP MTU of 1500 with offloads on, and TCP GSO
 * frames fitted to the path (the node's default largeGso, 'segment', or
 * 'fragment'): frames larger than the path go as TCP segments or kind-1
 * fragments that fit (docs/spec/10-switch.md §10.7), so nothing takes the
 * stream link for its size. The third runs largeGso 'stream': GSO frames
 * whole on the stream link.
 *
 * This tests the node (@peertap/node's `peertap` CLI, apps/node). It lives
 * in tools/overlay/test (it was in apps/node/test) beside the namespace
 * harness it runs on (../src: Overlay, RelayHost), which runs the apps' CLIs
 * through their packages' `./cli` exports; the apps do not depend on this
 * tool. Its child processes are in ./fixtures.
 */
import { join } from 'node:path'
import { rootAndTun } from '@peertap/tool-netns'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { linkLocal, Overlay, TAP, waitForIpv6 } from '../src/index.ts'

const can = rootAndTun()

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname
const fixture = (name: string) => [
  process.execPath,
  '--conditions=peertap:source',
  join(FIXTURES, name),
]

interface DatagramNeighbour {
  id: string
  kind: string
  mtu: number
  counters: {
    framesSent: number
    framesReceived: number
    pathUps: number
    pathLosses: number
    dropAuth: number
    framesOnStreamPathDown: number
    framesOnStreamTooLarge: number
  }
}

/** A transfer of `mb` MiB from A to B with the transfer fixture; both ends' summaries. */
async function transfer(
  overlay: Overlay,
  port: number,
  mb: number,
): Promise<{ client: unknown; server: unknown }> {
  const b = overlay.node('b')
  const server = overlay.topo.spawn('b', [...fixture('transfer.ts'), 'server', b.ip, String(port)])
  const out: string[] = []
  let text = ''
  server.stdout!.on('data', (c: Buffer) => {
    text += c.toString()
    const parts = text.split('\n')
    text = parts.pop()!
    out.push(...parts.filter(Boolean))
  })
  while (out.length === 0) await new Promise((r) => setTimeout(r, 50))
  const client = JSON.parse(
    await overlay.topo.exec(
      'a',
      [...fixture('transfer.ts'), 'client', b.ip, String(port), String(mb)],
      120_000,
    ),
  )
  const deadline = Date.now() + 10_000
  while (out.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  return { client, server: out[1] === undefined ? undefined : JSON.parse(out[1]) }
}

describe.skipIf(!can.ok)('two nodes over the datagram link', () => {
  let overlay: Overlay

  const neighbour = async (host: string): Promise<DatagramNeighbour> => {
    const status = (await overlay.status(host)) as unknown as { neighbours: DatagramNeighbour[] }
    return status.neighbours[0]!
  }
  const waitKind = async (host: string, kind: string, timeoutMs: number): Promise<number> => {
    const start = Date.now()
    for (;;) {
      if ((await neighbour(host)).kind === kind) return Date.now() - start
      if (Date.now() - start > timeoutMs)
        throw new Error(`${host}: no ${kind} link in ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const ping = (from: string, to: string, extra: string[] = []) =>
    overlay.topo.exec(from, ['ping', ...extra, '-c', '3', '-i', '0.2', '-W', '2', to])

  beforeAll(async () => {
    // a seals and opens on the tap addon's OpenSSL contexts, b on node:crypto:
    // every frame and datagram crosses between the two implementations.
    overlay = await Overlay.start({
      transport: 'tcp',
      datagram: true,
      mtu: 1380,
      offload: false,
      aes: { a: 'addon', b: 'node' },
    })
    await waitForIpv6(overlay)
    for (const host of ['a', 'b']) {
      await overlay.topo.exec(host, ['sysctl', '-qw', 'net.ipv4.icmp_echo_ignore_broadcasts=0'])
      await waitKind(host, 'datagram', 5000)
    }
  }, 60_000)
  afterAll(async () => {
    await overlay?.stop()
  })

  it('validates the path and probes its MTU up to 1430', async () => {
    for (const host of ['a', 'b']) {
      // The default socket: the tap addon's batched one (recvmmsg/sendmmsg).
      expect(overlay.node(host).log.join('\n')).toContain('batched UDP socket')
      const n = await neighbour(host)
      expect(n.kind).toBe('datagram')
      expect(n.mtu).toBe(1430)
      expect(n.counters.pathUps).toBe(1)
      expect(n.counters.dropAuth).toBe(0)
    }
  })

  it('carries ARP, IPv4, IPv6 and a broadcast ping over UDP', async () => {
    const [a, b] = [overlay.node('a'), overlay.node('b')]
    const before = await neighbour('a')
    expect(
      await overlay.topo.exec('a', ['arping', '-c', '1', '-w', '5', '-I', TAP, b.ip]),
    ).toContain(`from ${b.mac}`)
    expect(
      await overlay.topo.exec('b', ['arping', '-c', '1', '-w', '5', '-I', TAP, a.ip]),
    ).toContain(`from ${a.mac}`)
    expect(await ping('a', b.ip)).toMatch(/3 received/)
    expect(await ping('b', a.ip)).toMatch(/3 received/)
    expect(await ping('a', b.ip6, ['-6'])).toMatch(/3 received/)
    expect(await ping('a', `${linkLocal(b.mac)}%${TAP}`, ['-6'])).toMatch(/3 received/)
    expect(await ping('a', '198.19.0.255', ['-b'])).toContain(`from ${b.ip}`)
    const after = await neighbour('a')
    // At least the echo requests and replies above went as DATA datagrams, both ways.
    expect(after.counters.framesSent - before.counters.framesSent).toBeGreaterThanOrEqual(15)
    expect(after.counters.framesReceived - before.counters.framesReceived).toBeGreaterThanOrEqual(
      15,
    )
    expect(after.counters.framesOnStreamPathDown).toBe(before.counters.framesOnStreamPathDown)
    expect(after.counters.framesOnStreamTooLarge).toBe(0)
  })

  it('carries a 50 MB TCP transfer intact over UDP', async () => {
    const b = overlay.node('b')
    const before = await neighbour('a')
    const server = overlay.topo.spawn('b', [...fixture('transfer.ts'), 'server', b.ip, '5002'])
    const firstLine = (s: NodeJS.ReadableStream) =>
      new Promise<string>((resolve, reject) => {
        let text = ''
        const timer = setTimeout(() => reject(new Error('no output in 120 s')), 120_000)
        s.on('data', (c: Buffer) => {
          text += c.toString()
          const i = text.indexOf('\n')
          if (i >= 0) {
            clearTimeout(timer)
            resolve(text.slice(0, i))
            text = text.slice(i + 1)
          }
        })
      })
    const lines = server.stdout!
    await firstLine(lines) // listening
    const resultLine = firstLine(lines)
    const client = JSON.parse(
      await overlay.topo.exec(
        'a',
        [...fixture('transfer.ts'), 'client', b.ip, '5002', '50'],
        120_000,
      ),
    )
    const received = JSON.parse(await resultLine)
    expect(received).toEqual(client)
    expect(received.bytes).toBe(50 * 1024 * 1024)
    const after = await neighbour('a')
    // 50 MiB in segments of at most 1328 bytes: at least 39 000 frames, all on the path.
    expect(after.counters.framesSent - before.counters.framesSent).toBeGreaterThan(39_000)
    expect(after.counters.framesOnStreamTooLarge).toBe(0)
  }, 180_000)

  it('falls back to the stream link within a second when UDP is dropped, and returns to the path', async () => {
    const b = overlay.node('b')
    // Ping every 50 ms throughout, so frames keep flowing across the cut.
    const pinger = overlay.topo.exec(
      'a',
      ['ping', '-c', '80', '-i', '0.05', '-W', '1', b.ip],
      30_000,
    )
    await new Promise((r) => setTimeout(r, 500))
    await overlay.topo.exec('a', [
      'nft',
      'add table inet ptdrop { chain out { type filter hook output priority 0; policy accept; meta l4proto udp drop; }; }',
    ])
    try {
      await waitKind('a', 'stream', 3000)
    } finally {
      await new Promise((r) => setTimeout(r, 1000))
      await overlay.topo.exec('a', ['nft', 'delete table inet ptdrop'])
    }
    await waitKind('a', 'datagram', 4000)
    const out = await pinger
    // The echo requests lost in a row measure the time frames found no way
    // (50 ms apart): it must stay under a second.
    const seqs = new Set([...out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])))
    let longest = 0
    let run = 0
    for (let seq = 1; seq <= 80; seq++) {
      run = seqs.has(seq) ? 0 : run + 1
      longest = Math.max(longest, run)
    }
    expect(longest * 50).toBeLessThan(1000)
    expect(seqs.size).toBeGreaterThanOrEqual(80 - 20)
    const n = await neighbour('a')
    expect(n.counters.pathLosses).toBeGreaterThanOrEqual(1)
    expect(n.counters.pathUps).toBeGreaterThanOrEqual(2)
    expect(await ping('a', b.ip)).toMatch(/3 received/)
  }, 60_000)

  it('carries a TCP transfer intact with 2 % of underlay frames dropped', async () => {
    await overlay.topo.exec('sw', [
      'nft',
      'add table bridge ptloss { chain c { type filter hook forward priority 0; policy accept; numgen random mod 1000 < 20 drop; }; }',
    ])
    try {
      const { client, server } = await transfer(overlay, 5003, 10)
      expect(server).toEqual(client)
      // The path survives the loss: still the datagram link.
      expect((await neighbour('a')).kind).toBe('datagram')
    } finally {
      await overlay.topo.exec('sw', ['nft', 'delete table bridge ptloss'])
    }
  }, 150_000)
})

interface VlanStatus {
  largeGsoWhole: number
  sealedFragments: number
  fragmented: number
  segmentedForPath: number
  fragmentUnsplit: number
  fragmentsReceived: number
  delivered: number
  segmentsCoalesced: number
  reassembly: { complete: number; pending: number; expired: number; evicted: number }
}

describe.skipIf(!can.ok).each(['default', 'fragment', 'stream'] as const)(
  'two nodes over the datagram link with TAP MTU 1500 and offloads on, largeGso %s',
  (variant) => {
    const largeGso = variant === 'default' ? undefined : variant
    let overlay: Overlay

    const status = async (host: string) =>
      (await overlay.status(host)) as unknown as {
        neighbours: DatagramNeighbour[]
        vlans: Record<string, VlanStatus>
      }

    beforeAll(async () => {
      overlay = await Overlay.start({
        transport: 'tcp',
        datagram: true,
        mtu: 1500,
        offload: true,
        ...(largeGso === undefined ? {} : { largeGso }),
      })
      await waitForIpv6(overlay)
      for (const host of ['a', 'b']) {
        const start = Date.now()
        // The probed MTU (1430), so that the figures below are the path's.
        for (;;) {
          const n = (await status(host)).neighbours[0]
          if (n?.kind === 'datagram' && n.mtu === 1430) break
          if (Date.now() - start > 8000) throw new Error(`${host}: no probed datagram path`)
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    }, 60_000)
    afterAll(async () => {
      await overlay?.stop()
    })

    it('carries pings of 1472 bytes (1514-byte frames) in fragments over the path', async () => {
      const b = overlay.node('b')
      const out = await overlay.topo.exec('a', [
        'ping',
        '-c',
        '5',
        '-i',
        '0.2',
        '-W',
        '2',
        '-M',
        'do',
        '-s',
        '1472',
        b.ip,
      ])
      expect(out).toMatch(/5 received/)
      const [sa, sb] = [await status('a'), await status('b')]
      // Echo request and reply: 1514-byte frames, two fragments each, both ways.
      expect(sa.vlans.demo!.fragmented).toBeGreaterThanOrEqual(5)
      expect(sb.vlans.demo!.fragmented).toBeGreaterThanOrEqual(5)
      expect(sb.vlans.demo!.reassembly.complete).toBeGreaterThanOrEqual(5)
      expect(sa.vlans.demo!.reassembly.complete).toBeGreaterThanOrEqual(5)
      for (const s of [sa, sb]) {
        expect(s.neighbours[0]!.kind).toBe('datagram')
        expect(s.neighbours[0]!.counters.framesOnStreamTooLarge).toBe(0)
      }
    })

    it('carries a 50 MB TCP transfer intact, over UDP unless GSO frames keep the stream link', async () => {
      const sBefore = await status('a')
      const before = sBefore.neighbours[0]!.counters
      const wholeBefore = sBefore.vlans.demo!.largeGsoWhole
      const { client, server } = await transfer(overlay, 5004, 50)
      expect(server).toEqual(client)
      expect((server as { bytes: number }).bytes).toBe(50 * 1024 * 1024)
      const [sa, sb] = [await status('a'), await status('b')]
      const after = sa.neighbours[0]!.counters
      const va = sa.vlans.demo!
      const vb = sb.vlans.demo!
      expect(va.fragmentUnsplit).toBe(0)
      if (largeGso === 'stream') {
        // The TAP's GSO frames go whole, on the stream link.
        expect(va.largeGsoWhole - wholeBefore).toBeGreaterThan(100)
        expect(after.framesOnStreamTooLarge - before.framesOnStreamTooLarge).toBe(
          va.largeGsoWhole - wholeBefore,
        )
        return
      }
      // 50 MiB in datagrams of at most 1430 sealed bytes: at least 37 000 of them.
      expect(after.framesSent - before.framesSent).toBeGreaterThan(37_000)
      expect(after.framesOnStreamTooLarge).toBe(0)
      expect(sb.neighbours[0]!.counters.framesOnStreamTooLarge).toBe(0)
      if (largeGso === undefined) {
        // The default, 'segment': the TAP hands over GSO frames; each went as TCP segments
        // that fit, and B coalesced them again.
        expect(vb.segmentsCoalesced).toBeGreaterThan(10_000)
        expect(va.segmentedForPath).toBeGreaterThan(100)
      } else {
        expect(va.fragmented).toBeGreaterThan(100)
        expect(vb.reassembly.complete).toBeGreaterThan(100)
        expect(vb.fragmentsReceived).toBeGreaterThan(30_000)
      }
    }, 180_000)
  },
)
