/**
 * The demo (`npm start`, which runs demo-main.ts): a small PeerTap fabric
 * in network namespaces this process creates, shown working, then removed.
 * Nodes a and b, each behind a NAT of its own, reach each other only
 * through a relay r (docs/design.md §10): a owns an MLS VLAN, b joins it with its
 * key package and a's Welcome over a circuit through r (circuit relay v2),
 * frames cross r by VFT alone until the datagram link punches through both
 * NATs, then go direct. Shown: the join, ARP, IPv4, IPv6 (NDP over
 * multicast subscriptions), the punched path and a throughput figure, with
 * what r forwarded meanwhile.
 */
import { rootAndTun } from '@peertap/tool-netns'
import { Overlay, TAP } from './harness.ts'
import { RelayHost } from './relay-harness.ts'

const say = (line = '') => process.stdout.write(`${line}\n`)

export async function runDemo(): Promise<void> {
  const can = rootAndTun()
  if (!can.ok) {
    say(`The demo ${can.reason}; run it as root on Linux (e.g. sudo npm start).`)
    process.exitCode = 1
    return
  }
  say('Building the fabric: nodes a and b, each behind its own NAT, and a relay r between them...')
  const relay = new RelayHost()
  const overlay = await Overlay.start({
    transport: 'tcp',
    relay,
    nat: true,
    mls: { owner: 'a' },
    datagram: true,
    // Every frame fits the datagram path (no TAP offloads, MTU below the path's).
    mtu: 1380,
    offload: false,
  })
  const stop = () => {
    void overlay.stop().then(() => process.exit(130))
  }
  process.once('SIGINT', stop)
  try {
    const [a, b] = overlay.nodes as [(typeof overlay.nodes)[0], (typeof overlay.nodes)[0]]
    for (const n of overlay.nodes) {
      say(
        `  node ${n.host}: ${n.peerId}  ${TAP} ${n.mac}  ${n.ip}  ${n.ip6}  underlay ${overlay.topo.address(n.host)} (behind NAT)`,
      )
    }
    say(`  relay r: ${relay.peerId}  underlay ${overlay.topo.address('r')}`)
    await overlay.topo.exec('a', ['ping', '-c', '1', '-W', '1', overlay.topo.address('b')]).then(
      () => say('  (a reaches b directly: the NATs are not isolating them)'),
      () => say('  a cannot reach b on the underlay: only r is reachable from both.'),
    )

    say('\nMLS VLAN "demo" (owner a): b sends its key package over a circuit through r...')
    const mls = async (host: string) =>
      ((await overlay.status(host)) as unknown as { mls: Record<string, MlsView> }).mls.demo!
    await until('b to join the VLAN', 30_000, async () => (await mls('b')).state === 'member')
    const owner = await mls('a')
    say(`  b joined from a's Welcome: epoch ${owner.epoch}, ${owner.members.length} members`)
    await waitForIpv6(overlay)

    say('\nARP across the overlay (arping from a to b):')
    say(indent(await overlay.topo.exec('a', ['arping', '-c', '3', '-w', '5', '-I', TAP, b.ip])))
    say('\nIPv4 ping a -> b:')
    say(indent(await overlay.topo.exec('a', ['ping', '-c', '3', '-i', '0.2', b.ip])))
    say('\nIPv6 ping a -> b (neighbour discovery over multicast subscriptions):')
    say(indent(await overlay.topo.exec('a', ['ping', '-6', '-c', '3', '-i', '0.2', b.ip6])))
    say(`\nIPv6 link-local ping a -> b (${linkLocal(b.mac)}%${TAP}):`)
    say(
      indent(
        await overlay.topo.exec('a', [
          'ping',
          '-6',
          '-c',
          '3',
          '-i',
          '0.2',
          `${linkLocal(b.mac)}%${TAP}`,
        ]),
      ),
    )

    say('\nThe datagram link punches through both NATs (addresses r observed):')
    const direct = async (host: string, peer: string) =>
      (await overlay.status(host)).neighbours.find(
        (n) => n.id === peer && n.kind === 'datagram' && n.status === 'up',
      ) as { path?: string } | undefined
    const punched = await until('the direct path', 20_000, async () => {
      const [ab, ba] = [await direct('a', b.peerId), await direct('b', a.peerId)]
      return ab !== undefined && ba !== undefined ? { ab, ba } : undefined
    }).catch(() => undefined)
    if (punched === undefined) say('  not up within 20 s: frames keep going through r')
    else say(`  a -> b via ${punched.ab.path}, b -> a via ${punched.ba.path}`)

    say('\nThroughput, iperf3 TCP for 5 s, one stream:')
    const bare = await iperf(overlay, overlay.topo.address('r'), 5, 1, 'r')
    const forwardedBefore = (await relay.status()).table.framesForwarded
    const tunnel = await iperf(overlay, b.ip)
    const forwarded = (await relay.status()).table.framesForwarded - forwardedBefore
    say(`  bare underlay a -> r (through a's NAT): ${bare.toFixed(0).padStart(6)} Mbit/s`)
    say(`  PeerTap overlay a -> b:                 ${tunnel.toFixed(0).padStart(6)} Mbit/s`)
    say(`  frames r forwarded meanwhile: ${forwarded}`)

    say("\nWhat node a sees ('peertap status'):")
    const status = await overlay.status('a')
    const vlan = status.vlans.demo!
    say(
      `  neighbours: ${status.neighbours.map((n) => `${n.id.slice(0, 16)}... ${n.status} (${n.kind})`).join(', ')}`,
    )
    say(
      `  VLAN demo: sealed ${vlan.sealed} frames, delivered ${vlan.delivered}, replayed or forged dropped: ${dropCount(vlan.receive)}`,
    )
  } finally {
    say('\nRemoving the namespaces, nodes and relay...')
    await overlay.stop()
    say('Done.')
  }
}

interface MlsView {
  state: string
  epoch?: number
  members: string[]
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

function indent(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')
}

function dropCount(receive: Record<string, number>): number {
  return Object.entries(receive).reduce(
    (sum, [reason, n]) => (reason === 'opened' ? sum : sum + n),
    0,
  )
}

/** The IPv6 link-local address the kernel derives from a MAC (EUI-64, RFC 4291 appendix A). */
export function linkLocal(mac: string): string {
  const b = mac.split(':').map((x) => Number.parseInt(x, 16))
  const eui = [b[0]! ^ 2, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!]
  const groups = [0, 2, 4, 6].map((i) => ((eui[i]! << 8) | eui[i + 1]!).toString(16))
  return `fe80::${groups.join(':')}`
}

/** Waits until no IPv6 address on any node's TAP is still tentative (DAD runs over the overlay). */
export async function waitForIpv6(overlay: Overlay, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (const n of overlay.nodes) {
    while (
      (
        await overlay.topo.exec(n.host, ['ip', '-6', 'addr', 'show', 'dev', TAP, 'tentative'])
      ).trim() !== ''
    ) {
      if (Date.now() > deadline) throw new Error(`IPv6 addresses on ${n.host} still tentative`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/** iperf3 TCP from a to `address` (`serverHost`, b by default, runs the server); Mbit/s received. */
export async function iperf(
  overlay: Overlay,
  address: string,
  seconds = 5,
  streams = 1,
  serverHost = 'b',
): Promise<number> {
  const server = overlay.topo.spawn(serverHost, ['iperf3', '-s', '-1', '-B', address])
  try {
    await new Promise((r) => setTimeout(r, 300))
    const out = await overlay.topo.exec(
      'a',
      ['iperf3', '-c', address, '-t', String(seconds), '-P', String(streams), '-J'],
      (seconds + 15) * 1000,
    )
    const result = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }
    return result.end.sum_received.bits_per_second / 1e6
  } finally {
    if (server.exitCode === null) server.kill('SIGTERM')
  }
}
