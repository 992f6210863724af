/**
 * @packageDocumentation
 *
 * A PeerTap overlay in network namespaces for the project's own demo,
 * end-to-end tests and benchmark: `Overlay` (real `peertap up` processes,
 * one per namespace host, each with a TAP device), `RelayHost` (a real
 * `peertap-relay up`), the argv that runs each CLI (`NODE_ARGV`,
 * `RELAY_ARGV`), and helpers the demo shares with the tests. The demo itself
 * is demo-main.ts (`npm start`).
 *
 * @example
 * ```ts
 * import { Overlay } from '@peertap/tool-overlay'
 * const overlay = await Overlay.start({ transport: 'tcp' })
 * try {
 *   console.log(await overlay.status('a'))
 * } finally {
 *   await overlay.stop()
 * }
 * ```
 */
export { apiGet, apiRequest } from './api.ts'
export { startCapture } from './capture.ts'
export { iperf, linkLocal, waitForIpv6 } from './demo-helpers.ts'
export {
  NODE_ARGV,
  type NodeStatus,
  Overlay,
  type OverlayNode,
  type OverlayOptions,
  TAP,
  type Transport,
} from './harness.ts'
export {
  RELAY_ARGV,
  RelayHost,
  type RelayHostOptions,
  type RelayStatus,
} from './relay-harness.ts'
