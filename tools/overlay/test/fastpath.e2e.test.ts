/**
 * End to end through the fast path (docs/spec/18-fast-path.md): two real
 * `peertap up` processes in namespaces on the datagram link, with the
 * project's defaults (TAP offloads on, fast path on). Established unicast
 * flows are carried by the tap addon's reader threads; broadcasts, TCP
 * (coalesced by the switch), the link's PINGs and anything without an entry
 * go through JavaScript. From the outside, an on-path attacker replays
 * datagrams it recorded on the underlay, with their entries installed and
 * after they died: each is refused. A neighbour that goes away takes the
 * entries with its link; back, its flows are carried again. The same
 * traffic with `fastPath: false` carries nothing natively.
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
            async () => (await pings(overlay, 'a', b.ip, 3)).received > 0,
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
            async () => (await pings(overlay, 'a', b.ip, 3)).received > 0,
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
