/**
 * @packageDocumentation
 *
 * What the PeerTap daemons share (docs/design.md §10): `peertap` (apps/node) and
 * `peertap-relay` (apps/relay) both serve a status API, Prometheus metrics
 * and a page on 127.0.0.1 behind a local token or a browser session, and on
 * a Unix socket for the CLI without root, keep a control file in their
 * state directory written atomically, validate a JSON config with errors
 * that name the field, log JSON lines and stop cleanly on SIGINT/SIGTERM.
 * No PeerTap protocol logic lives here.
 *
 * @example
 * ```ts
 * import { startStatusServer, writeStateFile, CONTROL_FILE, metricsText } from '@peertap/daemon'
 * const status = () => ({ counters: { framesIn: 1 } })
 * const { port } = await startStatusServer(0, 'token', {
 *   status,
 *   metrics: () => metricsText([{ prefix: 'peertap_relay', value: status() }]),
 *   ping: async () => ({}),
 * })
 * await writeStateFile(`/tmp/state/${CONTROL_FILE}`, JSON.stringify({ pid: process.pid, port, token: 'token' }))
 * ```
 */

// The addon's flow cache and its cells, for a daemon's fast path (docs/spec/18-fast-path.md):
// the relay reaches the addon through this package, as for its UDP socket, and opens no device.
export {
  FlowCache,
  type FlowCacheStats,
  FlowCells,
  STATS_WORDS,
  UdpSocket,
  WINDOW_WORDS,
} from '@peertap/tap'
export { type AesKind, aesField, aesPrimitives } from './aes.ts'
export {
  ConfigError,
  datagramFields,
  datagramOption,
  datagramSection,
  logSection,
  PortNumber,
  parseWithSchema,
  readJsonConfig,
  statusSection,
} from './config.ts'
export { type ControlSocket, SOCKET_GROUP, SOCKET_PATH_MAX } from './control-socket.ts'
export { serveDaemonApi } from './daemon-api.ts'
export { type DatagramSocketKind, datagramSocketFactory } from './datagram-socket.ts'
export { Dialler, keepNeighboursDialled } from './dial.ts'
export {
  type FastLinkCounters,
  type FastPathPort,
  fastDatagramOptions,
  linkCounters,
  StatsBlocks,
  startFastPath,
  withFastLink,
} from './fast-counters.ts'
export { hostAddresses, localIps } from './host-addresses.ts'
export { createLogger, type LogLevel, runUntilSignal } from './lifecycle.ts'
export { type MetricsSection, metricName, metricsText } from './metrics.ts'
export { RefusalLog, type RefusalLogOptions } from './refusals.ts'
export {
  DEFAULT_SCAVENGE_EVERY_BYTES,
  type ScavengeCounters,
  ScavengePacer,
} from './scavenge.ts'
export {
  BrowserSessions,
  MAX_NONCES,
  MAX_SESSIONS,
  NONCE_MS,
  SESSION_IDLE_MS,
  type SessionOptions,
} from './session.ts'
export {
  CONTROL_FILE,
  type ControlInfo,
  readControl,
  readStateFile,
  requestDaemon,
  SOCKET_FILE,
  writeStateFile,
} from './state.ts'
export {
  type StatusAsset,
  type StatusProvider,
  type StatusServer,
  type StatusServerOptions,
  startStatusServer,
} from './status-server.ts'
