/**
 * End to end behind real NATs: nodes A and B each behind a NAT of their own
 * (tools/netns `nat`: nftables masquerade, no unsolicited inbound), the
 * relay R public. A owns an MLS VLAN and admits B; B reaches A only through
 * R, so its key package and A's Welcome cross a circuit-relay-v2 circuit
 * at R (the trunk's control link, spec 08 §5.5), while frames go through R
 * by VFT. The datagram link between A and B comes up directly: each offers
 * the address R observes for it (its NAT's), and both probe at once, which
 * punches a hole through both NATs (spec 13 §4.1). Needs root and
 * /dev/net/tun; elsewhere it skips. Every namespace and process is removed
 * afterwards, also on failure.
 *
 * This tests the relay and the nodes behind NATs (the `peertap-relay` and
 * `peertap` CLIs, apps/relay and apps/node). It lives in tools/overlay/test
 * (it was in apps/relay/test) beside the namespace harness it runs on
 * (../src: Overlay, RelayHost), which runs the apps' CLIs through their
 * packages' `./cli` exports; the apps do not depend on this tool.
 */

import { rootAndTun, sh } from '@peertap/tool-netns'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { iperf, Overlay, RelayHost, type RelayStatus, TAP } from '../src/index.ts'

const can = rootAndTun()
if (!can.ok) console.log(`NAT end-to-end tests skipped: ${can.reason}`)

interface MlsStatus {
  role: string
  state: string
  epoch?: number
  members: string[]
}

type CircuitStatus = RelayStatus & {
  circuit: { enabled: boolean; reservations: number; refusals: number }
}

describe.skipIf(!can.ok)('A and B behind NATs, R public', () => {
  let overlay: Overlay
  const relay = new RelayHost()

  const status = async (host: string) => overlay.status(host)
  const mls = async (host: string): Promise<MlsStatus | undefined> =>
    ((await status(host)) as unknown as { mls: Record<string, MlsStatus> }).mls.demo
  const controlLink = async (host: string, peer: string) =>
    (await status(host)).neighbours.find((n) => n.id === peer && n.relayed === true)
  const until = async (what: string, cond: () => Promise<boolean>, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs
    while (!(await cond().catch(() => false))) {
      if (Date.now() > deadline) {
        const logs = overlay.nodes.map((n) => `${n.host}:\n${n.log.slice(-20).join('\n')}`)
        throw new Error(`timed out waiting for ${what}\n${logs.join('\n')}`)
      }
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  beforeAll(async () => {
    overlay = await Overlay.start({
      transport: 'tcp',
      relay,
      nat: true,
      mls: { owner: 'a' },
      mtu: 1380,
      offload: false,
      datagram: true,
    })
  }, 60_000)
  afterAll(async () => {
    await overlay?.stop()
  })

  it('has no direct path: nothing unsolicited crosses either NAT', async () => {
    const topo = overlay.topo
    await expect(
      topo.exec('a', ['ping', '-c', '1', '-W', '1', topo.address('b')]),
    ).rejects.toThrow()
    await expect(
      topo.exec('b', ['ping', '-c', '1', '-W', '1', topo.address('a')]),
    ).rejects.toThrow()
    await expect(
      topo.exec('r', ['ping', '-c', '1', '-W', '1', topo.address('a')]),
    ).rejects.toThrow()
  })

  it('each node holds a reservation at R and a control link to the other through it', async () => {
    const [a, b] = [overlay.node('a'), overlay.node('b')]
    await until('control links both ways', async () => {
      return (
        (await controlLink('a', b.peerId))?.status === 'up' &&
        (await controlLink('b', a.peerId))?.status === 'up'
      )
    })
    for (const host of ['a', 'b']) {
      const s = await status(host)
      expect(s.reservations).toMatchObject([{ relay: relay.peerId, reserved: true }])
      expect(s.neighbours.find((n) => n.id === relay.peerId)?.relayed).toBe(false)
    }
    const r = (await relay.status()) as CircuitStatus
    expect(r.circuit.enabled).toBe(true)
    expect(r.circuit.reservations).toBe(2)
    expect(r.circuit.refusals).toBe(0)
    // R's trunk links are to A and B themselves; the circuit is libp2p's, between A and B.
    expect(r.neighbours.map((n) => n.id).sort()).toEqual([a.peerId, b.peerId].sort())
  }, 40_000)

  it('B joins A’s MLS VLAN over the circuit (key package, Welcome), and frames go through R by VFT', async () => {
    const [a, b] = [overlay.node('a'), overlay.node('b')]
    await until('B a member', async () => (await mls('b'))?.state === 'member')
    const owner = await mls('a')
    expect(owner?.members.sort()).toEqual([a.peerId, b.peerId].sort())
    expect((await mls('b'))?.epoch).toBe(owner?.epoch)
    // The only way between A and B for CONTROL is the circuit: the key package and Welcome crossed it.
    const out = await overlay.topo.exec('a', ['ping', '-c', '5', '-i', '0.2', '-W', '2', b.ip])
    expect(out).toMatch(/5 received/)
    // Broadcasts (ARP) went through R's table, never the circuit; unicast goes
    // through R too until a direct path is up (tested below).
    const r = await relay.status()
    expect(r.table.framesForwarded).toBeGreaterThan(0)
    for (const [host, peer] of [
      ['a', b.peerId],
      ['b', a.peerId],
    ] as const) {
      // Frames on the circuit itself: the stream link's, or those a datagram link handed to it.
      const link = await controlLink(host, peer)
      const c = link?.counters ?? {}
      const onCircuit =
        link?.kind === 'stream'
          ? (c.framesSent ?? 0) + (c.framesReceived ?? 0)
          : (c.framesOnStreamPathDown ?? 0) + (c.framesOnStreamTooLarge ?? 0)
      expect(link).toBeDefined()
      expect(onCircuit).toBe(0)
    }
    expect(
      await overlay.topo.exec('b', ['arping', '-c', '1', '-w', '3', '-I', TAP, a.ip]),
    ).toContain(`from ${a.mac}`)
  }, 60_000)

  it('the datagram link between A and B comes up directly, through both NATs, by the addresses R observes', async () => {
    const [a, b] = [overlay.node('a'), overlay.node('b')]
    const topo = overlay.topo
    const direct = async (host: string, peer: string) => {
      const n = (await status(host)).neighbours.find((x) => x.id === peer)
      return n?.kind === 'datagram' && n.status === 'up' ? n : undefined
    }
    await until('the punched datagram path both ways', async () => {
      return (
        (await direct('a', b.peerId)) !== undefined && (await direct('b', a.peerId)) !== undefined
      )
    })
    const fromA = (await direct('a', b.peerId)) as {
      path?: string
      counters: Record<string, number>
    }
    const fromB = (await direct('b', a.peerId)) as {
      path?: string
      counters: Record<string, number>
    }
    // Each path goes to the other's NAT, the public address R saw, not to R and not to a private address.
    expect(fromA.path?.split(':')[0]).toBe(topo.address('b'))
    expect(fromB.path?.split(':')[0]).toBe(topo.address('a'))
    expect(fromA.counters.pathPongsReceived).toBeGreaterThan(0)
    expect(fromB.counters.pathPongsReceived).toBeGreaterThan(0)
    // The NATs hold the mapping: A's NAT has a UDP flow between the two public addresses.
    const flows = await topo.execNat('a', ['cat', '/proc/net/nf_conntrack'])
    expect(flows).toMatch(new RegExp(`udp .*dst=${topo.address('b').replaceAll('.', '\\.')}`))
  }, 40_000)

  interface Direct {
    framesDirect: number
    relayCopiesSaved: number
    framesViaRelayPathDown: number
    pathUps: number
    pathDowns: number
  }
  const directOf = async (host: string) =>
    ((await status(host)) as unknown as { direct: Direct }).direct
  const forwardedAtR = async () => (await relay.status()).table.framesForwarded
  const pingCount = async (count: number, interval: string) => {
    // ping fails when it loses any; its summary is what counts.
    const cmd = `ping -c ${count} -i ${interval} -W 1 ${overlay.node('b').ip} || true`
    const out = await overlay.topo.exec('a', ['sh', '-c', cmd], 60_000)
    return Number(/(\d+) received/.exec(out)?.[1] ?? -1)
  }
  const BLOCK = (a: string, b: string) => `
table bridge ptblock {
  chain forward { type filter hook forward priority 0; policy accept;
    ip saddr ${a} ip daddr ${b} ip protocol udp drop; ip saddr ${b} ip daddr ${a} ip protocol udp drop; }
}`

  it('a ping and a transfer go direct once the path is up: R forwards none of their frames', async () => {
    await until('the punched path in use both ways', async () => {
      const [a, b] = [await directOf('a'), await directOf('b')]
      return a.pathUps > 0 && b.pathUps > 0
    })
    // ARP and the direct SUBs settle; then R's counters must stand still.
    expect(await pingCount(3, '0.2')).toBe(3)
    const before = await forwardedAtR()
    const directBefore = (await directOf('a')).framesDirect
    expect(await pingCount(20, '0.05')).toBe(20)
    const mbits = await iperf(overlay, overlay.node('b').ip, 3)
    const after = await forwardedAtR()
    const d = await directOf('a')
    console.log(
      `direct: ${mbits.toFixed(0)} Mbit/s over the punched path; R forwarded ${after - before} frames meanwhile; A sent ${d.framesDirect - directBefore} frames direct, saved ${d.relayCopiesSaved} relay copies`,
    )
    expect(mbits).toBeGreaterThan(0)
    // Not one of the ping's or the transfer's thousands of frames crossed R (an ARP refresh may).
    expect(after - before).toBeLessThanOrEqual(4)
    expect(d.framesDirect - directBefore).toBeGreaterThan(1000)
    expect(d.relayCopiesSaved).toBeGreaterThan(1000)
    // No frame came twice (a copy through R would be refused as a replay).
    expect((await status('b')).vlans.demo!.receive.replay).toBe(0)
    expect((await status('a')).vlans.demo!.receive.replay).toBe(0)
  }, 60_000)

  it('falls back to R within two seconds when the direct path is blocked, and goes direct again when it opens', async () => {
    const topo = overlay.topo
    const rule = BLOCK(topo.address('a'), topo.address('b'))
    const before = await forwardedAtR()
    const downsBefore = (await directOf('a')).pathDowns
    // 40 pings at 10/s; the path is cut 1 s in.
    const pinging = pingCount(40, '0.1')
    await new Promise((r) => setTimeout(r, 1000))
    await sh(['ip', 'netns', 'exec', topo.switchNs, 'nft', '-f', '-'], 20_000, rule)
    const received = await pinging
    const lost = 40 - received
    const d = await directOf('a')
    console.log(
      `fallback: ${lost} of 40 pings (100 ms apart) lost when the direct path was cut; R forwarded ${(await forwardedAtR()) - before} frames`,
    )
    expect(lost).toBeLessThanOrEqual(20)
    expect(d.pathDowns).toBeGreaterThan(downsBefore)
    expect(d.framesViaRelayPathDown).toBeGreaterThan(0)
    // The pings after the cut (about 3/4 of them) crossed R, each request at least.
    expect((await forwardedAtR()) - before).toBeGreaterThan(received - 12)
    // Opened again: the path is re-probed and traffic leaves R.
    const ups = (await directOf('a')).pathUps
    await sh(['ip', 'netns', 'exec', topo.switchNs, 'nft', 'delete', 'table', 'bridge', 'ptblock'])
    await until('the path up again', async () => (await directOf('a')).pathUps > ups, 15_000)
    expect(await pingCount(3, '0.2')).toBe(3)
    const again = await forwardedAtR()
    expect(await pingCount(10, '0.05')).toBe(10)
    expect((await forwardedAtR()) - again).toBeLessThanOrEqual(2)
  }, 60_000)
})
