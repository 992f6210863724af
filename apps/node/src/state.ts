import { mkdir, readFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { writeFileAtomic } from '@peertap/trunk'

/**
 * Writes `data` to `path` so that a crash at any moment leaves either the old
 * file or the new one, never a mix (DESIGN.md 10): the trunk's atomic write
 * (temp file, fsync, rename, fsync the directory), which also keeps the
 * node's identity.
 */
export async function writeStateFile(path: string, data: string): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await writeFileAtomic(dir, basename(path), new TextEncoder().encode(data))
}

/** How a CLI reaches a running daemon: written to `<stateDir>/control.json` while it runs. */
export interface ControlInfo {
  readonly pid: number
  readonly port: number
  readonly token: string
}

export const CONTROL_FILE = 'control.json'

export async function readControl(stateDir: string): Promise<ControlInfo> {
  const path = join(stateDir, CONTROL_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    throw new Error(`no running node found: ${path} is missing (start one with 'peertap up')`)
  }
  const info = JSON.parse(text) as ControlInfo
  if (!Number.isInteger(info.port) || typeof info.token !== 'string') {
    throw new Error(`${path} is malformed`)
  }
  return info
}
