/**
 * @packageDocumentation
 *
 * The PeerTap node as a library for the project's own tools: the daemon
 * (`startNode`), its config schema, and the namespace overlay harness that
 * the demo, the end-to-end tests and the benchmark share.
 *
 * @example
 * ```ts
 * import { Overlay } from '@peertap/node'
 * const overlay = await Overlay.start({ transport: 'tcp' })
 * try {
 *   console.log(await overlay.status('a'))
 * } finally {
 *   await overlay.stop()
 * }
 * ```
 */
export {
  type Config,
  ConfigError,
  ConfigSchema,
  DEFAULT_PORT_MTU,
  loadConfig,
  parseConfig,
} from './config.ts'
export { iperf, linkLocal, waitForIpv6 } from './demo.ts'
export {
  NODE_ARGV,
  type NodeStatus,
  Overlay,
  type OverlayNode,
  type OverlayOptions,
  TAP,
  type Transport,
} from './harness.ts'
export { LOCAL, type RunningNode, runNode, startNode } from './node.ts'
export {
  RELAY_ARGV,
  RelayHost,
  type RelayHostOptions,
  type RelayStatus,
} from './relay-harness.ts'
