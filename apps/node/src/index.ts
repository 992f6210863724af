/**
 * @packageDocumentation
 *
 * The PeerTap node daemon for the project's own tools: `runNode`, the node
 * of @peertap/runtime with its status API served (HTTP on loopback and a
 * Unix socket, status-api.ts), until SIGTERM or SIGINT; and the config
 * schema. The CLI `peertap` is the `./cli` export (src/cli.ts), which
 * tools/overlay's harness runs.
 *
 * @example
 * ```ts
 * import { loadConfig, runNode } from '@peertap/node'
 * // What `peertap up --config node.json` does: run until SIGTERM or SIGINT.
 * await runNode(await loadConfig('node.json'), { trace: false })
 * ```
 */
import { createLogger, runUntilSignal } from '@peertap/daemon'
import { type Config, startNode } from '@peertap/runtime'
import { startStatusApi } from './status-api.ts'

export {
  type Config,
  ConfigError,
  ConfigSchema,
  DEFAULT_PORT_MTU,
  LOCAL,
  loadConfig,
  parseConfig,
  type RunningNode,
  startNode,
} from '@peertap/runtime'

/** The daemon: the node with its status API, until SIGTERM or SIGINT. */
export async function runNode(config: Config, options: { trace: boolean }): Promise<void> {
  const log = createLogger(options.trace ? 'trace' : config.log.level)
  await runUntilSignal(log, () => startNode(config, log, { serve: startStatusApi }))
}
