/**
 * The flow cache with TUN devices (docs/spec/18-fast-path.md §18.4.9): two
 * namespaces, a TUN in each, joined by the cache over a UDP socket on
 * 127.0.0.1. A TUN route (destination IP -> MAC) frames a packet the
 * kernel sends, with the port's MAC as its source, for the send entry of
 * that MAC; a frame opened for a TUN port loses its Ethernet header
 * before the write. Neighbour discovery, ARP, DHCP to the client's port,
 * anything without a route, and TCP from a device with offloads go up to
 * JavaScript untouched. Once without and once with virtio-net headers.
 */
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FlowCache } from '../src/flow.ts'
import { openTun, openUdp, type TapDevice, type UdpSocket } from '../src/index.ts'
import { type Direction, direction, installPair, sealedDatagram } from './flow-pair.ts'
import { arpFrame, fmtMac, ipBytes, udpFrame } from './frames.ts'
import {
  addNetns,
  canRun,
  copy,
  delNetns,
  devName,
  ip,
  nsName,
  type Received,
  udpEcho,
} from './helpers.ts'

const MAC_A = Uint8Array.from([0x02, 0x70, 0x74, 0, 0, 0x0a])
const MAC_B = Uint8Array.from([0x02, 0x70, 0x74, 0, 0, 0x0b])
/** fd81::N as 16 bytes. */
const v6 = (n: number) => Uint8Array.from([0xfd, 0x81, ...new Array<number>(13).fill(0), n])

/** An Ethernet frame to `dst` from `src` of `type`, with `payload`. */
function ethernet(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array) {
  const f = new Uint8Array(14 + payload.length)
  f.set(dst, 0)
  f.set(src, 6)
  f[12] = type >> 8
  f[13] = type & 0xff
  f.set(payload, 14)
  return f
}

/** An IPv6 header with next header `next`, from fd81::1 to fd81::2, and `body`. */
function ipv6(next: number, body: Uint8Array) {
  const p = new Uint8Array(40 + body.length)
  p[0] = 0x60
  p[4] = body.length >> 8
  p[5] = body.length & 0xff
  p[6] = next
  p[7] = 255
  p.set(v6(1), 8)
  p.set(v6(2), 24)
  p.set(body, 40)
  return p
}

/** Waits (up to 5 s) for `done`: batches reach JavaScript on the event loop, after the reader thread. */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
}

function suite(vnetHeader: boolean) {
  describe.skipIf(!canRun)(
    `the flow cache between two TUN devices, ${vnetHeader ? 'with' : 'without'} virtio-net headers`,
    () => {
      const tag = vnetHeader ? 'tv' : 'tn'
      const nsA = nsName(`${tag}a`)
      const nsB = nsName(`${tag}b`)
      let a: TapDevice | undefined
      let b: TapDevice | undefined
      let udp: UdpSocket | undefined
      let cache: FlowCache | undefined
      const upA: Uint8Array[] = []
      const upB: Uint8Array[] = []
      const punted: Received[] = []
      let ab: Direction
      let slotA = -1
      let slotB = -1

      const ping = (args: string[], count = 5) =>
        execFileSync(
          'ip',
          ['netns', 'exec', nsA, 'ping', '-c', String(count), '-i', '0.05', '-W', '1', ...args],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
        )
      /** Whether a packet read from a TUN (led by a virtio-net header or not) is unicast to fd81::/16 or 10.82.0.0/24. */
      const unicast = (p: Uint8Array) => {
        const ipd = vnetHeader ? p.subarray(10) : p
        return ipd[0]! >> 4 === 4 ? ipd[16] === 10 && ipd[17] === 82 : ipd[24] === 0xfd
      }

      beforeAll(() => {
        addNetns(nsA)
        addNetns(nsB)
        a = openTun({ name: devName(`${tag}a`), vnetHeader })
        b = openTun({ name: devName(`${tag}b`), vnetHeader })
        for (const [dev, ns, host] of [
          [a, nsA, 1],
          [b, nsB, 2],
        ] as const) {
          ip('link', 'set', dev.name, 'netns', ns)
          ip('-n', ns, 'addr', 'add', `10.82.0.${host}/24`, 'dev', dev.name)
          ip('-n', ns, 'addr', 'add', `fd81::${host}/64`, 'dev', dev.name, 'nodad')
          ip('-n', ns, 'link', 'set', dev.name, 'up')
        }
        a.onBatch((batch) => {
          for (let i = 0; i < batch.count; i++) upA.push(batch.frame(i).slice())
        })
        b.onBatch((batch) => {
          for (let i = 0; i < batch.count; i++) upB.push(batch.frame(i).slice())
        })
        udp = openUdp({ address: '127.0.0.1', port: 0 })
        udp.onBatch((batch) => copy(batch, punted))
        cache = new FlowCache()
        cache.attachUdp(udp)
        slotA = cache.attachDevice(a)
        slotB = cache.attachDevice(b)
        ab = direction(cache.cells, 0x0a0b0c0e)
        const ba = direction(cache.cells, 0x01020305)
        for (const ok of installPair(cache, udp.port, [slotA, MAC_A, ab], [slotB, MAC_B, ba]))
          expect(ok).toBe(true)
        for (const [slot, address, mac] of [
          [slotA, ipBytes('10.82.0.2'), MAC_B],
          [slotB, ipBytes('10.82.0.1'), MAC_A],
          [slotA, v6(2), MAC_B],
          [slotB, v6(1), MAC_A],
        ] as const)
          expect(cache.installTunRoute(slot, address, mac)).toBe(true)
      })

      afterAll(() => {
        a?.close()
        b?.close()
        udp?.close()
        delNetns(nsA)
        delNetns(nsB)
      })

      it('carries pings both ways, IPv4 and IPv6, on the reader threads: no packet to the other end comes up', async () => {
        const before = cache!.counters()
        expect(ping(['10.82.0.2'])).toMatch(/5 received/)
        expect(ping(['-6', 'fd81::2'])).toMatch(/5 received/)
        // Anything that went up has reached JavaScript by then.
        await new Promise((r) => setTimeout(r, 200))
        const after = cache!.counters()
        expect(after.sent - before.sent).toBe(20)
        expect(after.received - before.received).toBe(20)
        expect(upA.filter(unicast)).toHaveLength(0)
        expect(upB.filter(unicast)).toHaveLength(0)
        expect(punted).toHaveLength(0)
      })

      it('carries UDP, whose checksum the kernel leaves to the receiver with offloads (kind 3)', async () => {
        const before = cache!.counters()
        expect(await udpEcho(nsA, nsB, '10.82.0.2', 7001, 3)).toHaveLength(3)
        // The last reply's count follows its write, which the client may see first.
        await until(() => cache!.counters().received - before.received >= 6)
        expect(cache!.counters().received - before.received).toBeGreaterThanOrEqual(6)
        expect(upA.filter(unicast)).toHaveLength(0)
      })

      it('sends a packet to a destination without a route up, untouched', async () => {
        upA.length = 0
        const before = cache!.counters()
        // 10.82.0.3 is on-link and has no route in the cache.
        // No answer: ping exits 1.
        expect(() => ping(['10.82.0.3'], 1)).toThrow()
        await until(() => upA.some(unicast))
        expect(cache!.counters().sendMiss - before.sendMiss).toBeGreaterThanOrEqual(1)
        const up = upA.filter(unicast).map((p) => (vnetHeader ? p.subarray(10) : p))
        expect(up.length).toBeGreaterThanOrEqual(1)
        expect([...up[0]!.subarray(16, 20)]).toEqual([10, 82, 0, 3])
      })

      it('hands ARP, neighbour discovery and DHCP to the client port up untouched; writes other UDP', async () => {
        const cells = cache!.cells
        const udpTo = (dstPort: number) =>
          udpFrame({
            srcMac: fmtMac(MAC_A),
            dstMac: fmtMac(MAC_B),
            srcIp: '10.82.0.1',
            dstIp: '10.82.0.2',
            srcPort: 12345,
            dstPort,
            frameLength: 60,
          })
        const frames = {
          arp: arpFrame({
            op: 1,
            srcMac: fmtMac(MAC_A),
            dstMac: fmtMac(MAC_B),
            senderMac: fmtMac(MAC_A),
            senderIp: '10.82.0.1',
            targetMac: '00:00:00:00:00:00',
            targetIp: '10.82.0.2',
          }),
          // Neighbour solicitation (ICMPv6 135), hop limit 255.
          ns: ethernet(
            MAC_B,
            MAC_A,
            0x86dd,
            ipv6(58, Uint8Array.from([135, 0, 0, 0, ...new Array(20).fill(0)])),
          ),
          dhcp: udpTo(68),
          vlan: ethernet(MAC_B, MAC_A, 0x8100, new Uint8Array(46)),
          udp: udpTo(9),
        }
        const receivedByB = cells.readBlock(ab.vlanStats)[2]
        const sent = Object.values(frames).map((f) =>
          sealedDatagram(
            ab,
            f,
            cells.takeCounters(ab.counterCell, 1, 2 ** 23),
            cells.takeCounters(ab.hopCounterCell, 1, 2 ** 31 - 1),
          ),
        )
        udp!.send(
          sent,
          sent.map(() => '127.0.0.1'),
          sent.map(() => udp!.port),
        )
        const deadline = Date.now() + 5000
        while (punted.length < 4 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20))
        // The first four went up as they came; the last was written to B.
        expect(punted.map((p) => Buffer.from(p.data).toString('hex'))).toEqual(
          sent.slice(0, 4).map((d) => Buffer.from(d).toString('hex')),
        )
        // Counted in A-to-B's block: B's kernel may answer the UDP (port unreachable), which
        // the cache carries back to A and counts in B-to-A's.
        const toB = () => cells.readBlock(ab.vlanStats)[2]
        while (toB() === receivedByB && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20))
        expect(toB() - receivedByB).toBe(1)
        punted.length = 0
      })

      if (vnetHeader)
        it('sends TCP from a device with offloads up (the switch coalesces it)', async () => {
          upA.length = 0
          const before = cache!.counters()
          // A SYN to a closed port: B answers with a reset, which also goes up at B.
          execFileSync('ip', [
            'netns',
            'exec',
            nsA,
            'python3',
            '-c',
            [
              'import socket',
              's = socket.socket()',
              's.settimeout(1)',
              'try: s.connect(("10.82.0.2", 9))',
              'except Exception: pass',
            ].join('\n'),
          ])
          const tcp = (p: Uint8Array) => p[10]! >> 4 === 4 && p[10 + 9] === 6
          await until(() => upA.some(tcp))
          expect(cache!.counters().sent).toBe(before.sent)
          const syn = upA.map((p) => p.subarray(10)).filter((p) => p[0]! >> 4 === 4 && p[9] === 6)
          expect(syn.length).toBeGreaterThanOrEqual(1)
        })

      it('drops its TUN routes with a clear and with the device', () => {
        const c = cache!
        // 2 sends, 4 TUN routes, 2 hops, 2 VFTs, 2 KIDs.
        expect(c.counters().entries).toBe(12)
        a!.close()
        // A's send entry and its 2 routes; the VFT that writes to A and its KID.
        expect(c.counters().entries).toBe(7)
        expect(c.installTunRoute(slotA, ipBytes('10.82.0.2'), MAC_B)).toBe(false)
        c.clear()
        expect(c.counters().entries).toBe(0)
      })
    },
  )
}

suite(false)
suite(true)
