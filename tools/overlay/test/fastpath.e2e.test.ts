/**
 * End to end through the fast path (docs/spec/18-fast-path.md): two real
 * `peertap up` processes in namespaces on the datagram link, with the
 * project's defaults (TAP offloads on, fast path on). Established unicast
 * flows are carried by the tap addon's reader threads; broadcasts, TCP
 * (coalesced by the switch), the link's PINGs and anything without an entry
 * go through JavaScript. From the outside, an on-path attacker replays
 * datagrams it recorded on the underlay, with their entries installed and
 * after they died: each is refused. A neighbour that goes away takes the
 * entries with its link; back, its flows are carried again. One that stops
 * renewing its subscriptions loses its flows when they expire, and a's
 * frames to it flood as unknown unicast. The same traffic with `fastPath:
 * false` carries nothing natively.
 *
 * The MLS suite (mls.e2e.test.ts) runs its epoch changes under 100 pings a
 * second and its member removal on the datagram link, so with the fast path
 * on too. Needs root and /dev/net/tun; elsewhere it skips with the reason.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rootAndTun } from '@peertap/tool-netns'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiRequest, Overlay, waitForIpv6 } from '../src/index.ts'
import { transfer } from './transfer.ts'

const can = rootAndTun()
if (!can.ok) console.log(`fast path tests skipped: ${can.reason}`)

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname

interface FastStatus {
  neighbours: Array<{
    kind: string
    counters: { dropReplay: number; dropTooOld: number; datagramsReceived: number }
  }>
  vlans: Record<string, { delivered: number; floodedUnknown: number }>
  fastPath: {
    sent: number
    received: number
    entries: number
    receiveChecks: number
    receiveMiss: number
  } | null
}

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** `ping -c COUNT -i 0.01 -q`'s summary: received and the average round trip (ms). */
const pings = async (overlay: Overlay, from: string, to: string, count: number) => {
  const out = await overlay.topo.exec(
    from,
    ['ping', '-c', String(count), '-i', '0.01', '-W', '2', '-q', to],
    30_000,
  )
  const received = Number(/(\d+) received/.exec(out)?.[1] ?? '0')
  const avg = Number(/= [\d.]+\/([\d.]+)\//.exec(out)?.[1] ?? 'NaN')
  return { received, avg }
}

/** As `pings`, but no reply at all (ping exits 1) is 0 received instead of a rejection. */
const tryPings = (overlay: Overlay, from: string, to: string, count: number) =>
  pings(overlay, from, to, count).catch(() => ({ received: 0, avg: Number.NaN }))

/** Until A and B each have a datagram link to the other. */
async function datagramPaths(overlay: Overlay): Promise<void> {
  for (const host of ['a', 'b'])
    await waitFor(`${host}'s datagram path`, async () =>
      (await overlay.status(host)).neighbours.some((n) => n.kind === 'datagram'),
    )
}

function suite(fastPath: boolean) {
  describe.skipIf(!can.ok)(
    `two nodes on the datagram link, fast path ${fastPath ? 'on' : 'off'}`,
    () => {
      let overlay: Overlay
      const status = async (host: string) => (await overlay.status(host)) as unknown as FastStatus

      beforeAll(async () => {
        overlay = await Overlay.start({
          transport: 'tcp',
          datagram: true,
          ...(fastPath ? {} : { fastPath: false }),
        })
        await waitForIpv6(overlay)
        await datagramPaths(overlay)
      }, 60_000)
      afterAll(async () => {
        await overlay?.stop()
      })

      it(`carries 200 pings each way ${fastPath ? 'on the reader threads' : 'through JavaScript'}, IPv4 and IPv6`, async () => {
        const [a, b] = [overlay.node('a'), overlay.node('b')]
        const before = await Promise.all([status('a'), status('b')])
        const ab = await pings(overlay, 'a', b.ip, 200)
        const ba = await pings(overlay, 'b', a.ip, 200)
        const ab6 = await pings(overlay, 'a', b.ip6, 50)
        expect([ab.received, ba.received, ab6.received]).toEqual([200, 200, 50])
        console.log(
          `fast path ${fastPath ? 'on' : 'off'}: ping avg a->b ${ab.avg} ms, b->a ${ba.avg} ms (every 10 ms)`,
        )
        const after = await Promise.all([status('a'), status('b')])
        for (const [i, host] of ['a', 'b'].entries()) {
          const f0 = before[i]!.fastPath
          const f1 = after[i]!.fastPath
          if (!fastPath) {
            expect(f1, `${host}'s fastPath`).toBeNull()
            continue
          }
          // Every echo request and reply but the first few of each flow (which install it).
          expect(f1!.sent - f0!.sent, `${host}: frames the fast path sent`).toBeGreaterThanOrEqual(
            400,
          )
          expect(
            f1!.received - f0!.received,
            `${host}: frames it delivered`,
          ).toBeGreaterThanOrEqual(400)
          // And they count where JavaScript's would: the VLAN delivered them all.
          expect(
            after[i]!.vlans.demo!.delivered - before[i]!.vlans.demo!.delivered,
          ).toBeGreaterThanOrEqual(450)
        }
      })

      it(`carries UDP (its checksum left to the receiver's kernel: kind 3) ${fastPath ? 'on the reader threads' : 'through JavaScript'}`, async () => {
        const b = overlay.node('b')
        const before = await Promise.all([status('a'), status('b')])
        const server = overlay.topo.spawn('b', [
          'python3',
          '-c',
          `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('${b.ip}',7702))\nprint('ready',flush=True)\nfor _ in range(100):\n d,a=s.recvfrom(2048)\n s.sendto(d,a)`,
        ])
        try {
          await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()))
          const out = await overlay.topo.exec('a', [
            'python3',
            '-c',
            `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(2)\nn=0\nfor i in range(100):\n s.sendto(b'x'*64,('${b.ip}',7702))\n try:\n  s.recv(2048); n+=1\n except socket.timeout: pass\nprint(n)`,
          ])
          expect(Number(out.trim())).toBeGreaterThanOrEqual(99)
        } finally {
          server.kill()
        }
        const after = await Promise.all([status('a'), status('b')])
        for (const [i, host] of ['a', 'b'].entries()) {
          if (!fastPath) continue
          const sent = after[i]!.fastPath!.sent - before[i]!.fastPath!.sent
          expect(sent, `${host}: datagrams the fast path carried`).toBeGreaterThanOrEqual(95)
        }
      })

      it('carries a 20 MB TCP transfer intact', async () => {
        await transfer(overlay, 'a', overlay.node('b'), 7701, 20)
      }, 60_000)

      it.skipIf(!fastPath)(
        'a neighbour that goes away takes its entries with its link; back, its flows are carried again',
        async () => {
          const b = overlay.node('b')
          expect((await status('a')).fastPath!.entries).toBeGreaterThan(0)
          await overlay.restart('b', async () => {
            await waitFor(
              "a's entries gone with b",
              async () => (await status('a')).fastPath!.entries === 0,
            )
          })
          await waitFor(
            "b's datagram path again",
            async () => (await status('a')).neighbours.some((n) => n.kind === 'datagram'),
            20_000,
          )
          await waitFor(
            'b answering again',
            async () => (await tryPings(overlay, 'a', b.ip, 3)).received > 0,
            20_000,
          )
          const before = (await status('a')).fastPath!.sent
          expect((await pings(overlay, 'a', b.ip, 50)).received).toBe(50)
          expect((await status('a')).fastPath!.sent - before).toBeGreaterThanOrEqual(45)
        },
        60_000,
      )

      it('refuses every datagram an on-path attacker recorded and replays, while the flow is installed and after its entries died', async () => {
        const b = overlay.node('b')
        const dir = await mkdtemp(join(tmpdir(), 'pt-fastpath-'))
        try {
          const capture = join(dir, 'b.pcap')
          // 20 datagrams from a to b on the underlay, recorded during pings.
          const dump = overlay.topo.exec(
            'b',
            [
              'timeout',
              '10',
              'tcpdump',
              '-i',
              'eth0',
              '-c',
              '20',
              '-w',
              capture,
              'udp',
              'and',
              'src',
              'host',
              overlay.topo.address('a'),
            ],
            15_000,
          )
          await new Promise((r) => setTimeout(r, 500))
          await pings(overlay, 'a', b.ip, 40)
          await dump
          const replay = async () => {
            const before = await status('b')
            const sent = Number(
              (
                await overlay.topo.exec('a', ['python3', join(FIXTURES, 'replay-udp.py'), capture])
              ).trim(),
            )
            expect(sent).toBe(20)
            await new Promise((r) => setTimeout(r, 500))
            const after = await status('b')
            const dropped = (s: FastStatus) =>
              s.neighbours.reduce((n, x) => n + x.counters.dropReplay + x.counters.dropTooOld, 0)
            // Each refused by the shared replay window (the fast path hands it to JavaScript, which counts it).
            expect(dropped(after) - dropped(before)).toBe(20)
            expect(after.vlans.demo!.delivered).toBe(before.vlans.demo!.delivered)
            return { before, after }
          }
          const installed = await replay()
          if (fastPath) {
            expect(installed.before.fastPath!.entries).toBeGreaterThan(0)
            // The DATA among them met their entries and the native window check, which sent
            // them up to JavaScript (the link's PINGs and PONGs go up as they are).
            expect(
              installed.after.fastPath!.receiveChecks - installed.before.fastPath!.receiveChecks,
            ).toBeGreaterThan(5)
          }
          // The entries die (the port detached and attached again clears them all) and the
          // datagrams come again: still refused, now with no entry to meet them.
          await apiRequest(b.stateDir, 'POST', '/vlan/detach?vlan=demo')
          const cleared = await replay()
          if (fastPath) expect(cleared.before.fastPath!.entries).toBe(0)
          await apiRequest(b.stateDir, 'POST', '/vlan/attach?vlan=demo')
          await waitFor(
            'b attached again',
            async () => (await tryPings(overlay, 'a', b.ip, 3)).received > 0,
          )
        } finally {
          await rm(dir, { recursive: true, force: true })
        }
      }, 60_000)
    },
  )
}

suite(true)
suite(false)

describe.skipIf(!can.ok)('a neighbour that stops renewing its subscriptions', () => {
  // b's SUBs live 3 s at a (renewed every second). b is then stopped
  // (SIGSTOP): its link stays up while a sends it nothing (an idle datagram
  // path PINGs every 10 s, and is lost only after 5 unanswered PINGs), but
  // it renews nothing.
  let overlay: Overlay
  let stopped = false
  const status = async (host: string) =>
    (await overlay.status(host)) as unknown as FastStatus & {
      subscriptions: { table: number }
    }

  beforeAll(async () => {
    overlay = await Overlay.start({
      transport: 'tcp',
      datagram: true,
      subscriptionTtlSeconds: { b: 3 },
    })
    await waitForIpv6(overlay)
    await datagramPaths(overlay)
  }, 60_000)
  afterAll(async () => {
    if (stopped) process.kill(overlay.node('b').pid, 'SIGCONT')
    await overlay?.stop()
  })

  it("loses its flows at once when its SUBs expire: a's frames to it flood as unknown unicast, nothing on the reader threads; renewing again, it is carried natively again", async () => {
    const b = overlay.node('b')
    expect((await pings(overlay, 'a', b.ip, 20)).received).toBe(20)
    const before = await status('a')
    expect(before.fastPath!.entries, "a's flow to b").toBeGreaterThan(0)

    // The path idle first: a datagram link PINGs every 100 ms while it sends DATA, and a
    // stopped b would answer none (5 unanswered: the path lost, which clears entries too).
    await new Promise((r) => setTimeout(r, 1000))
    process.kill(b.pid, 'SIGSTOP')
    stopped = true
    // Within b's TTL and a second of the table's expiry sweep, the route to b is gone, and
    // with it every entry (spec 18 §18.5.5: subscriptions that expired)...
    await waitFor(
      "b's subscriptions expired at a",
      async () => (await status('a')).subscriptions.table < before.subscriptions.table,
      8_000,
    )
    const expired = await status('a')
    expect(expired.fastPath!.entries).toBe(0)
    // ...while its link stays: the expiry, not a lost link, cleared them.
    expect(expired.neighbours.map((n) => n.kind)).toContain('datagram')

    // a's echo requests to b's MAC: no neighbour receives b's unicast VFT any more, so
    // the switch floods them (sent under the broadcast VFT, 10-switch.md §10.3 step 4),
    // none of them on the reader threads.
    const lost = await tryPings(overlay, 'a', b.ip, 10)
    expect(lost.received).toBe(0)
    const flooding = await status('a')
    expect(
      flooding.vlans.demo!.floodedUnknown - expired.vlans.demo!.floodedUnknown,
      'echo requests flooded as unknown unicast',
    ).toBeGreaterThanOrEqual(10)
    expect(flooding.fastPath!.sent).toBe(expired.fastPath!.sent)
    expect(flooding.fastPath!.entries).toBe(0)

    process.kill(b.pid, 'SIGCONT')
    stopped = false
    await waitFor(
      'b answering again',
      async () => (await tryPings(overlay, 'a', b.ip, 3)).received > 0,
      20_000,
    )
    const again = await status('a')
    expect((await pings(overlay, 'a', b.ip, 50)).received).toBe(50)
    const after = await status('a')
    expect(
      after.fastPath!.sent - again.fastPath!.sent,
      'on the reader threads again',
    ).toBeGreaterThanOrEqual(45)
    expect(after.vlans.demo!.floodedUnknown).toBe(again.vlans.demo!.floodedUnknown)
  }, 60_000)
})

describe.skipIf(!can.ok)('two nodes on the datagram link, fast path on, TAP offloads off', () => {
  // Without a virtio-net header TCP comes as frames of the MTU, and the fast path carries it
  // too (both ways: nothing coalesces it).
  let overlay: Overlay
  const status = async (host: string) => (await overlay.status(host)) as unknown as FastStatus

  beforeAll(async () => {
    overlay = await Overlay.start({ transport: 'tcp', datagram: true, mtu: 1380, offload: false })
    await waitForIpv6(overlay)
    await datagramPaths(overlay)
  }, 60_000)
  afterAll(async () => {
    await overlay?.stop()
  })

  it('carries a 20 MB TCP transfer intact, most of it on the reader threads', async () => {
    await pings(overlay, 'a', overlay.node('b').ip, 3)
    const before = await Promise.all([status('a'), status('b')])
    await transfer(overlay, 'a', overlay.node('b'), 7703, 20)
    const after = await Promise.all([status('a'), status('b')])
    // 20 MiB in segments of at most 1328 bytes: over 15 000 frames from a, and b's ACKs.
    expect(after[0]!.fastPath!.sent - before[0]!.fastPath!.sent).toBeGreaterThan(12_000)
    expect(after[1]!.fastPath!.received - before[1]!.fastPath!.received).toBeGreaterThan(12_000)
    expect(after[1]!.fastPath!.sent - before[1]!.fastPath!.sent).toBeGreaterThan(1000)
  }, 60_000)
})

describe.skipIf(!can.ok)('two TUN nodes on the datagram link, fast path on (offloads on)', () => {
  // A TUN port's packets go out by the routes its layer 2 settled (spec 18 §18.4.9, §18.5.7).
  let overlay: Overlay
  type TunStatus = FastStatus & {
    fastPath: NonNullable<FastStatus['fastPath']> & { clears: number }
    interfaces: Array<{ kind: string; tun?: { counters: Record<string, number> } }>
  }
  const status = async (host: string) => (await overlay.status(host)) as unknown as TunStatus
  const tunCounters = (s: TunStatus) => s.interfaces.find((i) => i.kind === 'tun')!.tun!.counters

  beforeAll(async () => {
    overlay = await Overlay.start({
      transport: 'tcp',
      datagram: true,
      port: () => ({ type: 'tun', mac: undefined }),
    })
    await datagramPaths(overlay)
  }, 60_000)
  afterAll(async () => {
    await overlay?.stop()
  })

  it('carries 200 pings each way on the reader threads, IPv4 and IPv6; the ports count them', async () => {
    const [a, b] = [overlay.node('a'), overlay.node('b')]
    // The first echoes resolve the neighbours (ARP, neighbour discovery) through layer 2.
    const reaches = (to: string) => async () => (await tryPings(overlay, 'a', to, 3)).received > 0
    await waitFor('a to reach b', reaches(b.ip))
    await waitFor('a to reach b over IPv6', reaches(b.ip6))
    const before = await Promise.all([status('a'), status('b')])
    const ab = await pings(overlay, 'a', b.ip, 200)
    const ba = await pings(overlay, 'b', a.ip, 200)
    const ab6 = await pings(overlay, 'a', b.ip6, 50)
    expect([ab.received, ba.received, ab6.received]).toEqual([200, 200, 50])
    console.log(`TUN, fast path on: ping avg a->b ${ab.avg} ms, b->a ${ba.avg} ms (every 10 ms)`)
    const after = await Promise.all([status('a'), status('b')])
    for (const [i, host] of ['a', 'b'].entries()) {
      const [f0, f1] = [before[i]!.fastPath, after[i]!.fastPath]
      // Every echo request and reply but the first of each flow after a clear.
      expect(f1.sent - f0.sent, `${host}: packets the fast path sent`).toBeGreaterThanOrEqual(400)
      expect(f1.received - f0.received, `${host}: packets it wrote`).toBeGreaterThanOrEqual(400)
      // The TUN port's own counters include them: 450 read from the device and 450 written.
      const [c0, c1] = [tunCounters(before[i]!), tunCounters(after[i]!)]
      expect(c1.hostPackets! - c0.hostPackets!).toBeGreaterThanOrEqual(450)
      expect(c1.vlanPackets! - c0.vlanPackets!).toBeGreaterThanOrEqual(450)
    }
  })

  it("drops its routes when the port's layer 2 changes (an address added), then carries again", async () => {
    const b = overlay.node('b')
    const before = await status('a')
    // A's port takes an address a person added to the device (looked at every 2 s): on-link changes.
    await overlay.topo.exec('a', ['ip', 'addr', 'add', '198.18.77.1/24', 'dev', 'pt0'])
    await waitFor(
      "a's fast path to clear",
      async () => (await status('a')).fastPath.clears > before.fastPath.clears,
    )
    const cleared = await status('a')
    const again = await pings(overlay, 'a', b.ip, 100)
    expect(again.received).toBe(100)
    const after = await status('a')
    expect(after.fastPath.sent - cleared.fastPath.sent).toBeGreaterThanOrEqual(95)
  })
})
