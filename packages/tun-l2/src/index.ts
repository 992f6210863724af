/**
 * `@peertap/tun-l2`: layer 2 in user space for a TUN device, so that a node
 * with only a TUN device (Android's VpnService, iOS's
 * NEPacketTunnelProvider, macOS utun, a container without TAP) is one more
 * Ethernet host on a VLAN: a stable MAC per node and VLAN ({@link tunMac}),
 * ARP and IPv6 neighbour discovery answered (after duplicate address
 * detection) and resolved with a bounded queue, broadcast and multicast
 * mapped to their MACs, off-link packets sent to the gateway's MAC (from
 * the config, DHCP or a router advertisement), addresses from SLAAC or a
 * DHCPv4 client, and virtio-net offload headers carried across so large
 * TCP segments cross whole. Specified in docs/spec/17-tun-l2.md.
 *
 * Pure: no I/O, no timers; the clock is an argument. Runtime dependencies:
 * `@noble/hashes` (BLAKE3, for the MAC) and `@peertap/errors`.
 *
 * @example
 * ```ts
 * import { TunL2, TUN_HEADROOM, tunMac } from '@peertap/tun-l2'
 *
 * const l2 = new TunL2({
 *   mac: tunMac(peerIdBytes, vlanId),
 *   addresses: ['10.99.0.7/24'],
 *   dhcp: false,
 *   random: (n) => crypto.getRandomValues(new Uint8Array(n)),
 *   onOutput: () => queueMicrotask(flush),
 * })
 * l2.start(Date.now())
 * tun.onBatch((batch) => vlan.send(l2.fromHost(batch, Date.now())), { headroom: TUN_HEADROOM })
 * vlan.onFrames((frames) => l2.toHost(frames, Date.now(), (packets) => tun.writeBatch(packets)))
 * function flush() {
 *   vlan.send(l2.takeFrames())
 *   for (const event of l2.takeEvents()) console.log(event) // address-added: put it on the device
 * }
 * setInterval(() => l2.tick(Date.now()), 250)
 * ```
 *
 * @packageDocumentation
 */

export {
  DhcpClient,
  type DhcpClientOptions,
  type DhcpEvent,
  type DhcpLease,
  type DhcpOutput,
  type DhcpState,
  type DhcpStats,
  isDhcpReply,
} from './dhcp.ts'
export { TunL2Error, type TunL2ErrorCode } from './errors.ts'
export {
  BROADCAST_MAC,
  eui64,
  ipv4MulticastMac,
  ipv6MulticastMac,
  linkLocalOf,
  solicitedNode,
  TUN_MAC_CONTEXT,
  tunMac,
} from './mac.ts'
export { DEFAULT_LIMITS, type NeighbourLimits } from './neighbours.ts'
export { type Cidr, formatIp, parseCidr, parseIp } from './packet.ts'
export {
  type AddressSource,
  type AddressState,
  DAD_MS,
  type OwnAddress,
  TUN_HEADROOM,
  TunL2,
  type TunL2Event,
  type TunL2Options,
  type TunL2Stats,
  VNET_HEADER,
} from './tun-l2.ts'
