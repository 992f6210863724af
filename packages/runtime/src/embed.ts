/**
 * A node inside another program: a mobile shell (Android's VpnService, iOS's
 * NEPacketTunnelProvider) or any process that already holds a TUN device.
 * The node runs on a TUN file descriptor it is given, or on packet
 * callbacks, with its config and state directory passed in. It opens no
 * listener on loopback (every app on a phone can reach 127.0.0.1): status
 * and control are calls in this process. docs/embedding.md says what each
 * platform's shell provides and calls.
 */
import { createLogger } from '@peertap/daemon'
import type { TunL2Event } from '@peertap/tun-l2'
import type { Logger } from 'pino'
import { parseConfig } from './config.ts'
import { startNode } from './node.ts'
import type { TunSource } from './packet-device.ts'
import type { NodeStatus } from './status.ts'

export interface EmbedOptions {
  /**
   * The node's config, as `peertap up --config` takes it (docs: apps/node
   * README), with `stateDir` a directory the app owns. Each VLAN whose port
   * has an entry in `tun` gets it as a TUN port; any other port opens its
   * device by name, as on a desktop.
   */
  readonly config: unknown
  /** Per VLAN name: its TUN port's file descriptor or packet callbacks. */
  readonly tun: Readonly<Record<string, TunSource>>
  /**
   * Addresses layer 2 emulation checked (link-local, SLAAC, DHCP) or gave
   * up (lapsed, in use by another host): the shell puts them on its
   * interface (Android: a new VpnService.Builder; iOS: new
   * NEPacketTunnelNetworkSettings), since an app may not change the
   * interface itself.
   */
  readonly onAddress?: (event: TunL2Event & { vlan: string }) => void
  /** A logger (pino); default one at the config's log level, to stderr. */
  readonly log?: Logger
}

/** A running embedded node. */
export interface EmbeddedNode {
  readonly peerId: string
  /** The status snapshot, as `peertap status --json` prints it. */
  status(): NodeStatus
  /** Packets the shell read from its tunnel, for a VLAN with packet callbacks. */
  input(vlan: string, packets: readonly Uint8Array[]): void
  /** Stops the node: links closed, DHCP leases released, file descriptors closed. */
  stop(): Promise<void>
}

/**
 * Starts a node on the given TUN sources. Throws a ConfigError naming the
 * field for a bad config, and an error naming the VLAN for a `tun` entry
 * that names no VLAN of the config or a VLAN whose port is not TUN or auto.
 */
export async function startEmbedded(options: EmbedOptions): Promise<EmbeddedNode> {
  const config = parseConfig(options.config)
  for (const [vlan, source] of Object.entries(options.tun)) {
    const entry = config.vlans.find((v) => v.name === vlan)
    if (entry === undefined)
      throw new Error(`tun.${vlan}: the config has no VLAN ${JSON.stringify(vlan)}`)
    if (entry.port.type === 'tap')
      throw new Error(`tun.${vlan}: the VLAN's port is TAP; make it "tun" for an embedded node`)
    if (!('fd' in source) && !('packets' in source))
      throw new Error(`tun.${vlan}: give a file descriptor (fd) or packet callbacks (packets)`)
  }
  const log = options.log ?? createLogger(config.log.level)
  const node = await startNode(config, log, {
    sources: (vlan) => options.tun[vlan],
    ...(options.onAddress === undefined ? {} : { onAddress: options.onAddress }),
  })
  return {
    peerId: node.peerId,
    status: () => node.status(),
    input: (vlan, packets) => node.input(vlan, packets),
    stop: () => node.stop(),
  }
}
