import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { CONTROL_FILE, SOCKET_FILE, writeStateFile } from './state.ts'
import { type StatusProvider, type StatusServer, startStatusServer } from './status-server.ts'

/**
 * A daemon's status API as both daemons run it (docs/design.md §10): on
 * 127.0.0.1 (`port`, 0 for any) behind a fresh token, and on the state
 * directory's socket (`api.sock`) for the CLI without root; the control
 * file (pid, port, token) written for the CLI as root. `close()` stops it
 * and removes the control file.
 */
export async function serveDaemonApi(p: {
  readonly stateDir: string
  readonly port: number
  readonly provider: StatusProvider
  /** How a browser gets a sign-in link (the node's `peertap ui -s DIR`). */
  readonly signIn: string
  readonly log: Pick<Logger, 'info'>
}): Promise<{ readonly server: StatusServer; close(): Promise<void> }> {
  const token = randomBytes(24).toString('hex')
  const server = await startStatusServer(p.port, token, p.provider, {
    socketPath: join(p.stateDir, SOCKET_FILE),
    signIn: p.signIn,
  })
  const controlPath = join(p.stateDir, CONTROL_FILE)
  await writeStateFile(controlPath, JSON.stringify({ pid: process.pid, port: server.port, token }))
  p.log.info(
    { port: server.port, socket: server.socket?.path, socketGroup: server.socket?.group ?? null },
    "status API on 127.0.0.1 and the state directory's socket",
  )
  return {
    server,
    async close() {
      await server.close()
      await rm(controlPath, { force: true })
    },
  }
}
