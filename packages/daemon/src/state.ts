import { mkdir, readFile } from 'node:fs/promises'
import { request } from 'node:http'
import { basename, dirname, join } from 'node:path'
import { writeFileAtomic } from '@peertap/trunk'

/**
 * Writes `data` (text as UTF-8, or bytes) to `path` so that a crash at any moment leaves either the old
 * file or the new one, never a mix (docs/design.md §10): the trunk's atomic write
 * (temp file, fsync, rename, fsync the directory), which also keeps the
 * daemon's identity.
 */
export async function writeStateFile(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await writeFileAtomic(
    dir,
    basename(path),
    typeof data === 'string' ? new TextEncoder().encode(data) : data,
  )
}

/**
 * A state file's text, or undefined when there is none yet (ENOENT); any
 * other error (a file we may not read, a directory in its place) is thrown.
 */
export async function readStateFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** How a CLI reaches a running daemon: written to `<stateDir>/control.json` while it runs. */
export interface ControlInfo {
  readonly pid: number
  readonly port: number
  readonly token: string
}

export const CONTROL_FILE = 'control.json'

/** The status API's Unix socket in the state directory, for the CLI without root (status-server.ts). */
export const SOCKET_FILE = 'api.sock'

/**
 * What to do when neither the socket nor the control file may be used:
 * join the group; or, already in it, log in again (a new group counts from
 * the next login) or restart the daemon (it gives the socket to the group
 * when it starts).
 */
function permissionHint(start: string): string {
  const docs = start.startsWith('peertap-relay') ? 'apps/relay/README.md' : 'apps/node/README.md'
  return `run as root, or add yourself to the peertap group (docs: ${docs}); already in it: log in again (or run newgrp peertap), or restart the daemon if it started before the group existed`
}

/**
 * Reads the control file of the daemon whose state directory is given;
 * `start` names the command that starts one, for the error message.
 */
export async function readControl(stateDir: string, start = 'peertap up'): Promise<ControlInfo> {
  const path = join(stateDir, CONTROL_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EPERM')
      throw new Error(`${path} is not readable: ${permissionHint(start)}`)
    throw new Error(`no running daemon found: ${path} is missing (start one with '${start}')`)
  }
  let info: ControlInfo
  try {
    info = JSON.parse(text) as ControlInfo
  } catch {
    throw new Error(`${path} is malformed`)
  }
  if (!Number.isInteger(info.port) || typeof info.token !== 'string') {
    throw new Error(`${path} is malformed`)
  }
  return info
}

/**
 * One request to the local status API of the daemon whose state directory
 * is given (the CLIs' commands): over its Unix socket when this user may
 * connect to it (no token needed), else over 127.0.0.1 with the token of
 * its control file.
 */
export async function requestDaemon(
  stateDir: string,
  method: string,
  path: string,
  start = 'peertap up',
): Promise<unknown> {
  const answer =
    (await requestOverSocket(join(stateDir, SOCKET_FILE), method, path)) ??
    (await requestOverTcp(stateDir, method, path, start))
  let body: { error?: string }
  try {
    body = JSON.parse(answer.text) as { error?: string }
  } catch {
    throw new Error(`HTTP ${answer.status}: not JSON`)
  }
  if (answer.status < 200 || answer.status > 299)
    throw new Error(body.error ?? `HTTP ${answer.status}`)
  return body
}

interface Answer {
  readonly status: number
  readonly text: string
}

async function requestOverTcp(
  stateDir: string,
  method: string,
  path: string,
  start: string,
): Promise<Answer> {
  const control = await readControl(stateDir, start)
  try {
    const response = await fetch(`http://127.0.0.1:${control.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${control.token}` },
    })
    return { status: response.status, text: await response.text() }
  } catch {
    throw new Error(
      `the daemon (pid ${control.pid}) does not answer on 127.0.0.1:${control.port}; is it running?`,
    )
  }
}

/**
 * A request over the Unix socket; undefined when it cannot connect (no
 * socket, not allowed, or a daemon that died), for the caller to try TCP.
 */
function requestOverSocket(
  socketPath: string,
  method: string,
  path: string,
): Promise<Answer | undefined> {
  return new Promise((resolve, reject) => {
    let connected = false
    const req = request(
      { socketPath, method, path, agent: false, headers: { host: 'localhost' } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        )
        res.on('error', reject)
      },
    )
    req.on('socket', (socket) => socket.once('connect', () => (connected = true)))
    req.on('error', (error) =>
      connected
        ? reject(new Error(`the daemon's socket ${socketPath} failed: ${error.message}`))
        : resolve(undefined),
    )
    req.end()
  })
}
