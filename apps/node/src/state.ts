import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * Writes `data` to `path` so that a crash at any moment leaves either the old
 * file or the new one, never a mix (DESIGN.md 10): a temp file in the same
 * directory, fsync, rename over the target, fsync the directory.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const file = await open(temp, 'wx', mode)
  try {
    await file.writeFile(data)
    await file.sync()
  } catch (error) {
    await file.close()
    await rm(temp, { force: true })
    throw error
  }
  await file.close()
  try {
    await rename(temp, path)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  const dirHandle = await open(dir, 'r')
  try {
    await dirHandle.sync()
  } finally {
    await dirHandle.close()
  }
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
