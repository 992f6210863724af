import pino, { type Logger } from 'pino'

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'

/**
 * The daemons' JSON-lines logger (docs/design.md §10): ISO timestamps, no
 * pid/hostname; `trace` for `--trace`.
 */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: null, timestamp: pino.stdTimeFunctions.isoTime })
}

/**
 * Starts a daemon and runs it until SIGINT or SIGTERM, then stops it and
 * exits 0 (1 if stopping failed). A start that fails is logged as fatal and
 * exits 1.
 */
export async function runUntilSignal(
  log: Logger,
  start: () => Promise<{ stop(): Promise<void> }>,
): Promise<void> {
  let daemon: { stop(): Promise<void> }
  try {
    daemon = await start()
  } catch (error) {
    log.fatal({ err: error }, (error as Error).message)
    await new Promise((r) => setTimeout(r, 50)) // let pino flush
    process.exit(1)
  }
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    daemon.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'error while stopping')
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
}
