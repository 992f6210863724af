/**
 * `peertap demo` (and `npm start`): a small PeerTap fabric in network
 * namespaces this process creates, shown working, then removed. Two nodes
 * on a bridged underlay, each with a TAP device on one VLAN, joined over a
 * libp2p TCP trunk: ARP, IPv4, IPv6 (NDP over multicast subscriptions) and
 * a throughput figure beside the bare underlay's.
 */
import { rootAndTun } from '@peertap/tool-netns'
import { Overlay, TAP } from './harness.ts'

const say = (line = '') => process.stdout.write(`${line}\n`)

export async function runDemo(): Promise<void> {
  const can = rootAndTun()
  if (!can.ok) {
    say(`peertap demo ${can.reason}; run it as root on Linux (e.g. sudo npm start).`)
    process.exitCode = 1
    return
  }
  say('Building two namespaces on a bridged underlay, one PeerTap node in each (TCP trunk)...')
  const overlay = await Overlay.start({ transport: 'tcp' })
  const stop = () => {
    void overlay.stop().then(() => process.exit(130))
  }
  process.once('SIGINT', stop)
  try {
    const [a, b] = overlay.nodes as [(typeof overlay.nodes)[0], (typeof overlay.nodes)[0]]
    for (const n of overlay.nodes) {
      say(
        `  node ${n.host}: ${n.peerId}  ${TAP} ${n.mac}  ${n.ip}  ${n.ip6}  underlay ${overlay.topo.address(n.host)}`,
      )
    }
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

    say('\nThroughput, iperf3 TCP for 5 s, one stream:')
    const bare = await iperf(overlay, overlay.topo.address('b'))
    const tunnel = await iperf(overlay, b.ip)
    say(`  bare underlay:   ${bare.toFixed(0).padStart(6)} Mbit/s`)
    say(`  PeerTap overlay: ${tunnel.toFixed(0).padStart(6)} Mbit/s`)

    say("\nWhat node a sees ('peertap status'):")
    const status = await overlay.status('a')
    const vlan = status.vlans.demo!
    say(
      `  neighbours: ${status.neighbours.map((n) => `${n.id.slice(0, 16)}... ${n.status} (${n.kind})`).join(', ')}`,
    )
    say(
      `  VLAN demo: sealed ${vlan.sealed} frames, delivered ${vlan.delivered}, replayed or forged dropped: ${dropCount(vlan.receive)}`,
    )
    void a
  } finally {
    say('\nRemoving the namespaces and nodes...')
    await overlay.stop()
    say('Done.')
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

/** iperf3 TCP from a to `address` (b runs the server); Mbit/s received. */
export async function iperf(
  overlay: Overlay,
  address: string,
  seconds = 5,
  streams = 1,
): Promise<number> {
  const server = overlay.topo.spawn('b', ['iperf3', '-s', '-1', '-B', address])
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
