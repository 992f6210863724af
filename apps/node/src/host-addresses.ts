/**
 * The node's own addresses, as it publishes them in its fabric presence
 * (docs/spec/16-fabric.md §16.7) and watches them for a roam: the host's
 * interface addresses, and the trunk's listen addresses on each.
 */
import { networkInterfaces } from 'node:os'
import type { Trunk } from '@peertap/trunk'

/**
 * Our addresses, as an invitation's are (15 §15.9): never loopback,
 * link-local, or an address on one of our VLAN ports (a trunk link dialled
 * through a VLAN would carry that VLAN over itself). libp2p lists a public
 * address only once something confirmed it (autoNAT, which the trunk does
 * not run), so each TCP port we listen on is published on every IPv4
 * address of the host, beside what libp2p lists.
 */
export function publishedAddresses(
  trunk: Trunk,
  self: string,
  portAddresses: ReadonlySet<string>,
): string[] {
  const listen = trunk.getMultiaddrs().map(String)
  const ports = new Set(
    listen.flatMap((a) => /^\/ip4\/[^/]+\/tcp\/(\d+)\/p2p\//.exec(a)?.[1] ?? []),
  )
  const hosts = [...localIps()].filter((ip) => ip.includes('.'))
  const expanded = [...ports].flatMap((port) =>
    hosts.map((ip) => `/ip4/${ip}/tcp/${port}/p2p/${self}`),
  )
  return [...new Set([...expanded, ...listen])].filter((a) => {
    const ip = /^\/ip[46]\/([^/]+)/.exec(a)?.[1] ?? ''
    return !/^(127\.|169\.254\.|::1$|fe80:)/.test(ip) && !portAddresses.has(ip)
  })
}

/** The host's IP addresses (not loopback or link-local), as text. */
export function localIps(): Set<string> {
  const out = new Set<string>()
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? [])
      if (!a.internal && !a.address.startsWith('fe80:') && !a.address.startsWith('169.254.'))
        out.add(a.address)
  return out
}
