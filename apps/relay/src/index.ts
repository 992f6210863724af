/**
 * @packageDocumentation
 *
 * The PeerTap relay as a library for the project's own tools: the daemon
 * (`startRelay`) and its config schema. The relay forwards sealed frames by
 * VFT alone with @peertap/relay's forwarding table, propagates
 * subscriptions with split horizon and passes membership proofs on
 * verbatim; it needs no TAP device and holds no VLAN key.
 *
 * @example
 * ```ts
 * import { createLogger } from '@peertap/daemon'
 * import { parseRelayConfig, startRelay } from '@peertap/relay-app'
 * const config = parseRelayConfig({ stateDir: '/tmp/relay', listen: ['/ip4/127.0.0.1/tcp/0'] })
 * const relay = await startRelay(config, createLogger('info'))
 * await relay.stop()
 * ```
 */
export {
  loadRelayConfig,
  type PeerLimitsConfig,
  parseRelayConfig,
  type RelayConfig,
  RelayConfigSchema,
} from './config.ts'
export { type RunningRelay, startRelay } from './relay.ts'
export type { RelayCounters } from './status.ts'
