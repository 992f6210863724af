import { networkInterfaces } from 'node:os'
import type { Trunk } from '@peertap/trunk'

/**
 * What a daemon publishes as its own addresses in fabric presence
 * (docs/spec/16-fabric.md §16.7, 12-relay.md §12.9): what libp2p lists,
 * and each TCP port it listens on at every IPv4 address of the host
 * (libp2p lists a public address only once autoNAT confirmed it, which
 * the trunk does not run). Never loopback or link-local (a peer would dial
 * its own host), nor an IP in `exclude` (the node's VLAN ports).
 */
export function hostAddresses(trunk: Trunk, exclude: ReadonlySet<string> = new Set()): string[] {
  const listen = trunk.getMultiaddrs().map(String)
  const ports = new Set(
    listen.flatMap((a) => /^\/ip4\/[^/]+\/tcp\/(\d+)\/p2p\//.exec(a)?.[1] ?? []),
  )
  const self = trunk.peerId.toString()
  const hosts = [...localIps()].filter((ip) => ip.includes('.'))
  const expanded = [...ports].flatMap((port) =>
    hosts.map((ip) => `/ip4/${ip}/tcp/${port}/p2p/${self}`),
  )
  return [...new Set([...expanded, ...listen])].filter((a) => {
    if (a.startsWith('/dns4/localhost/')) return false
    const ip = /^\/ip[46]\/([^/]+)/.exec(a)?.[1] ?? ''
    return !/^(127\.|169\.254\.|::1$|fe80:)/.test(ip) && !exclude.has(ip)
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
