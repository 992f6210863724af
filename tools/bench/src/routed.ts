import { Topology } from '@peertap/tool-netns'

/**
 * The kernel-forwarding ceiling of the relay scenario: the same isolated
 * topology (spokes a and b reach only the hub r), with r a plain IPv4
 * router between them instead of a PeerTap relay. Each spoke routes the
 * other's address via r; r forwards out of the interface it received on,
 * so its ICMP redirects are turned off (a spoke could not act on one: the
 * bridge isolates it from the other spoke).
 */
export async function routedTopology(): Promise<Topology> {
  const topo = await Topology.create({ hosts: ['a', 'b', 'r'], isolated: true, hubs: ['r'] })
  try {
    const sysctl = (setting: string) => topo.exec('r', ['sysctl', '-qw', setting])
    await sysctl('net.ipv4.ip_forward=1')
    await sysctl('net.ipv4.conf.all.send_redirects=0')
    await sysctl('net.ipv4.conf.eth0.send_redirects=0')
    for (const [from, to] of [
      ['a', 'b'],
      ['b', 'a'],
    ] as const) {
      await topo.exec(from, [
        'ip',
        'route',
        'add',
        `${topo.address(to)}/32`,
        'via',
        topo.address('r'),
      ])
    }
  } catch (error) {
    await topo.destroy()
    throw error
  }
  return topo
}
