/**
 * End to end: real `peertap up` processes in network namespaces this test
 * creates, real TAP devices, real libp2p trunks between separate processes.
 * Needs root and /dev/net/tun (CI has both); elsewhere it skips with the
 * reason. Every namespace and process is removed afterwards, also on failure.
 *
 * This tests the node (@peertap/node's `peertap` CLI, apps/node). It lives
 * in tools/overlay/test (it was in apps/node/test) beside the namespace
 * harness it runs on (../src: Overlay, RelayHost), which runs the apps' CLIs
 * through their packages' `./cli` exports; the apps do not depend on this
 * tool. Its child processes are in ./fixtures.
 */
import { execFile } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { childLines, rootAndTun } from '@peertap/tool-netns'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  linkLocal,
  NODE_ARGV,
  Overlay,
  startCapture,
  TAP,
  type Transport,
  waitForIpv6,
} from '../src/index.ts'
import { transfer } from './transfer.ts'

const run = promisify(execFile)
const can = rootAndTun()
if (!can.ok) console.log(`end-to-end tests skipped: ${can.reason}`)

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname
const fixture = (name: string) => [
  process.execPath,
  '--conditions=peertap:source',
  join(FIXTURES, name),
]

describe.skipIf(!can.ok).each(['tcp', 'quic', 'ws'] as Transport[])(
  'two nodes over %s',
  (transport) => {
    let overlay: Overlay

    beforeAll(async () => {
      overlay = await Overlay.start({ transport })
      await waitForIpv6(overlay)
      // Answer broadcast pings, for the broadcast check.
      for (const host of ['a', 'b']) {
        await overlay.topo.exec(host, ['sysctl', '-qw', 'net.ipv4.icmp_echo_ignore_broadcasts=0'])
      }
    }, 60_000)
    afterAll(async () => {
      await overlay?.stop()
    })

    it('resolves ARP both ways, learning the peer TAP MAC', async () => {
      const [a, b] = overlay.nodes as [(typeof overlay.nodes)[0], (typeof overlay.nodes)[0]]
      const out = await overlay.topo.exec('a', ['arping', '-c', '1', '-w', '5', '-I', TAP, b.ip])
      expect(out).toContain(`from ${b.mac}`)
      const back = await overlay.topo.exec('b', ['arping', '-c', '1', '-w', '5', '-I', TAP, a.ip])
      expect(back).toContain(`from ${a.mac}`)
      const neigh = await overlay.topo.exec('a', ['ip', 'neigh', 'show', b.ip, 'dev', TAP])
      expect(neigh).toContain(b.mac)
    })

    it('pings IPv4 both ways', async () => {
      const [a, b] = overlay.nodes as [(typeof overlay.nodes)[0], (typeof overlay.nodes)[0]]
      expect(
        await overlay.topo.exec('a', ['ping', '-c', '3', '-i', '0.2', '-W', '2', b.ip]),
      ).toMatch(/3 received/)
      expect(
        await overlay.topo.exec('b', ['ping', '-c', '3', '-i', '0.2', '-W', '2', a.ip]),
      ).toMatch(/3 received/)
    })

    it('pings IPv6 global and link-local addresses (NDP over multicast subscriptions)', async () => {
      const b = overlay.node('b')
      expect(
        await overlay.topo.exec('a', ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', b.ip6]),
      ).toMatch(/3 received/)
      const ll = `${linkLocal(b.mac)}%${TAP}`
      expect(
        await overlay.topo.exec('a', ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', ll]),
      ).toMatch(/3 received/)
    })

    it('peertap ping measures the trunk round trip and names the hops; peertap status shows the neighbour', async () => {
      const [a, b] = overlay.nodes as [(typeof overlay.nodes)[0], (typeof overlay.nodes)[0]]
      const out = await overlay.topo.exec('a', [
        ...NODE_ARGV,
        'ping',
        b.peerId,
        '-s',
        a.stateDir,
        '-n',
        '2',
      ])
      expect(out).toMatch(new RegExp(`pong from ${b.peerId}: rtt [0-9.]+ ms, hops .*${b.peerId}`))
      const status = await overlay.topo.exec('a', [...NODE_ARGV, 'status', '-s', a.stateDir])
      expect(status).toContain(`${b.peerId} up stream`)
      expect(status).toMatch(/demo: sealed \d+, delivered \d+/)
    })

    it('answers a broadcast ping', async () => {
      const out = await overlay.topo.exec('a', [
        'ping',
        '-b',
        '-c',
        '2',
        '-i',
        '0.3',
        '-W',
        '2',
        '198.19.0.255',
      ])
      expect(out).toContain(`from ${overlay.node('b').ip}`)
    })
  },
)

describe.skipIf(!can.ok)(
  'two nodes over a TCP stream link: bulk, secrecy, wrong keys, replay',
  () => {
    let overlay: Overlay
    const secret = 'a5'.repeat(32)
    const wrongSecret = 'ee'.repeat(32)
    // The injector's identity: a and b name it in their configs (fixtures/injector.ts).
    const injectorDir = join(tmpdir(), `peertap-injector-${process.pid}`)
    let injectorId = ''

    beforeAll(async () => {
      const { stdout } = await run(process.execPath, [
        ...NODE_ARGV.slice(1),
        'keygen',
        '--state-dir',
        injectorDir,
      ])
      injectorId = stdout.trim()
      // c runs a real node with the wrong VLAN secret.
      overlay = await Overlay.start({
        transport: 'tcp',
        hosts: ['a', 'b', 'c'],
        secrets: { a: secret, b: secret, c: wrongSecret },
        extraPeers: (host, topo) =>
          host === 'a' || host === 'b'
            ? [`/ip4/${topo.address('c')}/tcp/7401/p2p/${injectorId}`]
            : [],
      })
      await waitForIpv6(overlay)
    }, 60_000)
    afterAll(async () => {
      await overlay?.stop()
      await rm(injectorDir, { recursive: true, force: true })
    })

    it('tells a stranger nothing and passes on nothing it sends (docs/spec/14-roles.md §14.2)', async () => {
      const [a, b] = overlay.nodes as [(typeof overlay.nodes)[0], (typeof overlay.nodes)[0]]
      const address = (n: typeof a) =>
        `/ip4/${overlay.topo.address(n.host)}/tcp/7400/p2p/${n.peerId}`
      const [beforeA, beforeB] = [await overlay.status('a'), await overlay.status('b')]
      const stranger = overlay.topo.spawn('c', [
        ...fixture('stranger.ts'),
        address(a),
        address(b),
        secret,
        b.mac,
        '4',
      ])
      const out = childLines(stranger.stdout!)
      const ready = JSON.parse((await out.next()).value ?? '{}')
      expect(ready.ready).toBe(true)
      // The members talk while the stranger listens and injects.
      expect(
        await overlay.topo.exec('a', ['ping', '-c', '10', '-i', '0.1', '-W', '2', b.ip]),
      ).toMatch(/10 received/)
      const [afterA, afterB] = [await overlay.status('a'), await overlay.status('b')]
      const result = JSON.parse((await out.next()).value ?? '{}')
      // No SUB (so no VFT, proof or declaration), no frame, no control message.
      expect(result).toEqual({
        subs: 0,
        subEntries: 0,
        proofs: 0,
        frames: 0,
        controls: 0,
        sent: 32,
      })
      for (const [before, after] of [
        [beforeA, afterA],
        [beforeB, afterB],
      ] as const) {
        expect(after.neighbours.find((n) => n.id === ready.peerId)?.admitted).toBe('stranger')
        // Its 16 frames to each node were dropped on arrival; its proofs admitted it nowhere.
        expect(after.forwarding.dropNotAdmitted - before.forwarding.dropNotAdmitted).toBe(16)
        expect(after.admission.admittedByProof).toBe(before.admission.admittedByProof)
        expect(after.admission.refusals['sub-no-proof']).toBeGreaterThan(0)
      }
      // None reached B's switch, directly or passed on by A: every frame B's VLAN took in
      // this time opened (the pings), where a stranger's would fail to.
      const drops = (v: typeof beforeB.vlans.demo) =>
        Object.entries(v!.receive).reduce((n, [reason, k]) => (reason === 'opened' ? n : n + k), 0)
      expect(drops(afterB.vlans.demo)).toBe(drops(beforeB.vlans.demo))
    }, 60_000)

    it('carries a 50 MB TCP transfer intact, and the underlay shows no overlay MAC, address or payload', async () => {
      const [a, b] = overlay.nodes as [(typeof overlay.nodes)[0], (typeof overlay.nodes)[0]]
      const pcap = join(tmpdir(), `peertap-e2e-${process.pid}.pcap`)
      const capture = await startCapture(overlay.topo, 'sw', [
        ...['-i', 'br0', '-s', '0', '-B', '32768', '-U', '-w', pcap],
      ])
      try {
        const pattern = '5065657254617021c0ffee0ddba11dea' // "PeerTap!" c0ffee...
        await overlay.topo.exec('a', ['ping', '-c', '3', '-i', '0.2', '-p', pattern, b.ip])
        await overlay.topo.exec('a', ['ping', '-6', '-c', '3', '-i', '0.2', '-p', pattern, b.ip6])

        await transfer(overlay, 'a', b, 5001, 50)
        // TAP offloads are on: TCP crossed as large kind-3 frames, not per MTU.
        const sent = (await overlay.status('a')).vlans.demo!
        expect(sent.sealedOffload).toBeGreaterThan(0)
        expect(sent.sealed).toBeLessThan((50 * 1024 * 1024) / 1400)
        // Both nodes paced young-generation collections by the bytes they
        // carried (one per 4 MiB: A sealed 50 MiB, B received them).
        for (const host of ['a', 'b'])
          expect((await overlay.status(host)).scavenges.scavenges, host).toBeGreaterThanOrEqual(10)

        capture.kill('SIGTERM')
        await new Promise((r) => capture.once('exit', r))
        const bytes = await readFile(pcap)
        // The capture saw the transfer (50 MiB crossed the bridge; under load
        // tcpdump may still miss a few packets, so ask for 80 % of it).
        expect(bytes.length).toBeGreaterThan(40 * 1024 * 1024)
        const has = (hex: string) => bytes.includes(Buffer.from(hex, 'hex'))
        for (const node of [a, b])
          expect(has(node.mac.replaceAll(':', '')), `MAC ${node.mac}`).toBe(false)
        // Source and destination addresses side by side, as in an IPv4 header.
        expect(has('c6130001c6130002') || has('c6130002c6130001')).toBe(false)
        expect(has('fd005055000000000000000000000002')).toBe(false)
        expect(has(pattern)).toBe(false)
        expect(has(Buffer.from('PeerTap!').toString('hex'))).toBe(false)
      } finally {
        capture.kill('SIGTERM')
        await rm(pcap, { force: true })
      }
    }, 180_000)

    it('a node with the wrong VLAN secret receives nothing and reaches nobody', async () => {
      const c = overlay.node('c')
      const before = (await overlay.status('c')).vlans.demo!
      await overlay.topo
        .exec('a', ['ping', '-b', '-c', '2', '-i', '0.2', '198.19.0.255'])
        .catch(() => '')
      await expect(
        overlay.topo.exec('c', ['ping', '-c', '2', '-W', '1', overlay.node('a').ip]),
      ).rejects.toThrow()
      const after = (await overlay.status('c')).vlans.demo!
      expect(after.delivered).toBe(before.delivered)
      expect(after.receive.opened).toBe(0)
      // c sealed frames (its ARP requests), but no neighbour holds their VFTs.
      expect(after.sealed).toBeGreaterThan(0)
      void c
    })

    it('survives a SUB flood and garbage on its trunk streams, and keeps serving', async () => {
      const b = overlay.node('b')
      const address = `/ip4/${overlay.topo.address('b')}/tcp/7400/p2p/${b.peerId}`
      const before = await overlay.status('b')
      const result = JSON.parse(
        await overlay.topo.exec('c', [...fixture('hostile.ts'), address], 60_000),
      )
      expect(result).toEqual({ subs: 64 * 1024, garbageStreams: 4 })
      const after = await overlay.status('b')
      // The flood came from a stranger: each SUB was refused and counted on arrival, and none
      // reached the table (docs/spec/14-roles.md §14.2); garbage closed those streams.
      const refused = (s: typeof before) => s.admission.refusals['sub-no-proof'] ?? 0
      expect(refused(after) - refused(before)).toBe(64)
      expect(after.table.subscriptionDrops['sub-limit']).toBe(
        before.table.subscriptionDrops['sub-limit'],
      )
      const closed = (s: typeof before) =>
        Object.entries(s.trunk.closeReasons).reduce(
          (sum, [reason, n]) =>
            [
              'bad-varint',
              'oversized',
              'unknown-type',
              'truncated',
              'hello-expected',
              'bad-body',
            ].includes(reason)
              ? sum + n
              : sum,
          0,
        )
      expect(closed(after) - closed(before)).toBeGreaterThanOrEqual(4)
      // b still carries traffic.
      expect(
        await overlay.topo.exec('a', ['ping', '-c', '2', '-i', '0.2', '-W', '2', b.ip]),
      ).toMatch(/2 received/)
    }, 90_000)

    it('drops replayed captures and frames sealed with a wrong secret, and counts them', async () => {
      const [a, b] = overlay.nodes as [(typeof overlay.nodes)[0], (typeof overlay.nodes)[0]]
      const address = (n: typeof a) =>
        `/ip4/${overlay.topo.address(n.host)}/tcp/7400/p2p/${n.peerId}`
      const injector = overlay.topo.spawn('c', [
        ...fixture('injector.ts'),
        address(a),
        address(b),
        'dd'.repeat(32),
        injectorDir,
      ])
      const out = childLines(injector.stdout!)
      const ready = JSON.parse((await out.next()).value ?? '{}')
      expect(ready.ready).toBe(true)
      const statusBefore = await overlay.status('b')
      const before = statusBefore.vlans.demo!
      await overlay.topo.exec('a', ['ping', '-c', '8', '-i', '0.1', b.ip])
      const result = JSON.parse((await out.next()).value ?? '{}')
      expect(result.captured).toBeGreaterThanOrEqual(5)
      expect(result.replayed).toBe(result.captured)
      expect(result.forged).toBeGreaterThan(0)
      await new Promise((r) => setTimeout(r, 500))
      const statusAfter = await overlay.status('b')
      const after = statusAfter.vlans.demo!
      const drops = (v: typeof before) =>
        Object.entries(v.receive).reduce(
          (sum, [reason, n]) => (reason === 'opened' ? sum : sum + n),
          0,
        )
      // A replay is stopped by the forwarding table's duplicate cache (same tag)
      // or, once that has forgotten it, by the receiver's replay window.
      const duplicates =
        statusAfter.table.frameDrops.duplicate - statusBefore.table.frameDrops.duplicate
      expect(duplicates + after.receive.replay - before.receive.replay).toBeGreaterThanOrEqual(
        result.captured,
      )
      // Every forged frame was dropped before delivery: by header checks or the AEAD.
      expect(drops(after) - drops(before) - (after.receive.replay - before.receive.replay)).toBe(
        result.forged,
      )
    }, 60_000)
  },
)

describe.skipIf(!can.ok)('a node with TAP offloads and one without, on one VLAN', () => {
  let overlay: Overlay

  beforeAll(async () => {
    overlay = await Overlay.start({ transport: 'tcp', offload: { b: false } })
    await waitForIpv6(overlay)
  }, 60_000)
  afterAll(async () => {
    await overlay?.stop()
  })

  it('carries TCP both ways intact: large frames from a are segmented in software at b', async () => {
    const a = overlay.node('a')
    const b = overlay.node('b')
    await overlay.topo.exec('a', ['ping', '-c', '2', '-i', '0.2', b.ip])
    await overlay.topo.exec('b', ['ping', '-c', '2', '-i', '0.2', a.ip])
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      await transfer(overlay, from.host, to, 5002, 20)
    }
    const sa = (await overlay.status('a')).vlans.demo!
    const sb = (await overlay.status('b')).vlans.demo!
    expect(sa.sealedOffload).toBeGreaterThan(0)
    expect(sb.sealedOffload).toBe(0)
    expect(sb.softwareOffload).toBeGreaterThan(0)
    expect(sa.dropBadOffload + sb.dropBadOffload).toBe(0)
  }, 180_000)
})
