/**
 * @packageDocumentation
 *
 * The PeerTap node as a library for the project's own tools: the daemon
 * (`startNode`, `runNode`) and its config schema. The CLI `peertap` is the
 * `./cli` export (src/cli.ts), which tools/overlay's harness runs.
 *
 * @example
 * ```ts
 * import { loadConfig, runNode } from '@peertap/node'
 * // What `peertap up --config node.json` does: run until SIGTERM or SIGINT.
 * await runNode(await loadConfig('node.json'), { trace: false })
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
export { LOCAL, type RunningNode, runNode, startNode } from './node.ts'
