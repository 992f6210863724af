import { mkdir, readFile } from 'node:fs/promises'
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

/** How a CLI reaches a running daemon: written to `<stateDir>/control.json` while it runs. */
export interface ControlInfo {
  readonly pid: number
  readonly port: number
  readonly token: string
}

export const CONTROL_FILE = 'control.json'

/**
 * Reads the control file of the daemon whose state directory is given;
 * `start` names the command that starts one, for the error message.
 */
export async function readControl(stateDir: string, start = 'peertap up'): Promise<ControlInfo> {
  const path = join(stateDir, CONTROL_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
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
 * is given (the CLIs' `status` and `ping`).
 */
export async function requestDaemon(
  stateDir: string,
  method: string,
  path: string,
  start = 'peertap up',
): Promise<unknown> {
  const control = await readControl(stateDir, start)
  let response: Response
  try {
    response = await fetch(`http://127.0.0.1:${control.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${control.token}` },
    })
  } catch {
    throw new Error(
      `the daemon (pid ${control.pid}) does not answer on 127.0.0.1:${control.port}; is it running?`,
    )
  }
  const body = (await response.json()) as { error?: string }
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`)
  return body
}
