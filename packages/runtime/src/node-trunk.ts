/**
 * The node's trunk and the peers its config names (docs/spec/14-roles.md
 * §14.1), split out of node.ts: whom the node dials and trusts as relays,
 * and the libp2p trunk with its datagram link as the config asks.
 */
import type { AesPrimitives } from '@peertap/crypto'
import { datagramOption, datagramSocketFactory, fastDatagramOptions } from '@peertap/daemon'
import { createTrunk, type Trunk } from '@peertap/trunk'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import type { FastPath } from './fast-path.ts'

/**
 * The peers the config names: `peers` (dialled, and trusted as relays when
 * their HELLO says relay), and each MLS VLAN's owner and admins. Its
 * members count through MlsVlans.knows, which follows removals made since
 * (the config's list is only where the owner's admission record started).
 * Both sets grow at run time (a VLAN joined, a fabric's relays).
 */
export function namedPeers(config: Config): { dialled: Set<string>; configuredPeers: Set<string> } {
  const dialled = new Set(config.peers.map(peerOfAddress))
  const configuredPeers = new Set(dialled)
  for (const vlan of config.vlans) {
    const m = vlan.mls
    if (m === undefined) continue
    if (m.owner !== 'self') configuredPeers.add(m.owner)
    for (const id of m.admins ?? []) configuredPeers.add(id)
  }
  return { dialled, configuredPeers }
}

/** The node's trunk: role node, its listen addresses, and the datagram link if the config has it. */
export function createNodeTrunk(
  config: Config,
  log: Logger,
  aes: AesPrimitives,
  trust: { trustedRelays: (id: string) => boolean; datagramFor: (id: string) => boolean },
  fast?: FastPath,
): Promise<Trunk> {
  const socket = datagramSocketFactory(
    config.datagram.socket,
    log,
    config.datagram.gso,
    config.datagram.gro,
  )
  return createTrunk({
    stateDir: config.stateDir,
    listen: config.listen,
    role: 'node',
    trustedRelays: trust.trustedRelays,
    datagramFor: trust.datagramFor,
    // Large (GSO) frames come with the fast path.
    capabilities: 0,
    datagram: config.datagram.enabled && {
      ...datagramOption(config.datagram),
      // The fast path reads and sends on the batched socket too.
      ...fastDatagramOptions(fast, socket),
      aes,
    },
  })
}

/** The PeerId at the end of a multiaddr (`…/p2p/<PeerId>`, as the config schema requires). */
export function peerOfAddress(address: string): string {
  return address.slice(address.lastIndexOf('/p2p/') + 5)
}
