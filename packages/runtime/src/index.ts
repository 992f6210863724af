/**
 * `@peertap/runtime`: the PeerTap node, composed from the PeerTap packages,
 * for the programs that run one: the daemon and CLI `peertap` (apps/node),
 * which serves its status and control over HTTP and a Unix socket, and an
 * embedding shell ({@link startEmbedded}: a mobile app's packet tunnel,
 * or any process that holds a TUN device), which calls them in process.
 * Also the node's config schema and invitation codes as the CLI reads them.
 *
 * @example
 * ```ts
 * import { startEmbedded } from '@peertap/runtime'
 *
 * // Android: the fd from VpnService.Builder.establish(), detached to native code.
 * const node = await startEmbedded({
 *   config: { stateDir: appFilesDir, vlans: [{ name: 'lab', secret, port: { type: 'tun', device: 'tun0' } }], peers },
 *   tun: { lab: { fd } },
 *   onAddress: (event) => shell.reconfigure(event),
 * })
 * console.log(node.status().neighbours)
 * await node.stop()
 * ```
 *
 * @packageDocumentation
 */

export { decodeCode, describeCode, describeInvitation } from './codes.ts'
export {
  type Config,
  ConfigError,
  ConfigSchema,
  DEFAULT_PORT_MTU,
  loadConfig,
  parseConfig,
  type VlanConfig,
} from './config.ts'
export { type EmbeddedNode, type EmbedOptions, startEmbedded } from './embed.ts'
export type { FabricSummary } from './fabric.ts'
export type { MlsVlans } from './mls-vlans.ts'
export { LOCAL, type RunningNode, type StartOptions, startNode } from './node.ts'
export {
  CallbackDevice,
  type PacketFlow,
  type PortDevice,
  type PortSources,
  type TunSource,
} from './packet-device.ts'
export { peerIdBytes, peerIdText } from './peer-ids.ts'
export { maxSealed, type PortInterface, Ports, tapRefused } from './ports.ts'
export { type NodeParts, type NodeStatus, nodeStatus } from './status.ts'
export { vlanIdOf } from './tun-port.ts'
export type { VlanSummary } from './vlan-entries.ts'
export { Vlans } from './vlans.ts'
