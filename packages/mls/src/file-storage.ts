/**
 * The file-system {@link StateStorage} (docs/spec/11-mls.md §7), the one
 * module of @peertap/mls that does I/O. Each blob is one file in `dir`,
 * replaced atomically and durably (as write-file-atomic does, and tested by
 * killing a writer at random moments):
 *
 *   1. write the bytes to a fresh temporary file in the same directory
 *   2. fsync the temporary file
 *   3. rename it over the blob's file (atomic within one file system)
 *   4. fsync the directory, so the rename itself survives a power loss
 *
 * A crash before 3 leaves the old file (and a stray temporary, removed at
 * the next start); after 3 the new one. A blob is deleted by unlinking its
 * file and fsyncing the directory.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { MlsError } from './errors.ts'
import type { StateStorage } from './storage.ts'

const NAME = /^[a-z0-9][a-z0-9.-]{0,127}$/
const TEMP_SUFFIX = '.tmp'

function checkName(name: string): void {
  if (!NAME.test(name) || name.endsWith(TEMP_SUFFIX)) {
    throw new MlsError('mls-malformed', `not a storage name: ${JSON.stringify(name)}`)
  }
}

/** A {@link StateStorage} over one directory. */
export class FileStorage implements StateStorage {
  readonly dir: string

  private constructor(dir: string) {
    this.dir = dir
  }

  /**
   * Opens (and creates, mode 0700) `dir`, and removes temporary files a
   * crash left behind.
   */
  static async open(dir: string): Promise<FileStorage> {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    for (const entry of await readdir(dir)) {
      if (entry.endsWith(TEMP_SUFFIX)) await unlink(join(dir, entry)).catch(() => undefined)
    }
    return new FileStorage(dir)
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    checkName(name)
    try {
      return new Uint8Array(await readFile(join(this.dir, name)))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw e
    }
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    checkName(name)
    const target = join(this.dir, name)
    const temp = join(this.dir, `${name}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`)
    const file = await open(temp, 'wx', 0o600)
    try {
      await file.writeFile(bytes)
      await file.sync()
    } catch (e) {
      await file.close()
      await unlink(temp).catch(() => undefined)
      throw e
    }
    await file.close()
    try {
      await rename(temp, target)
    } catch (e) {
      await unlink(temp).catch(() => undefined)
      throw e
    }
    await this.#syncDir()
  }

  async delete(name: string): Promise<void> {
    checkName(name)
    try {
      await unlink(join(this.dir, name))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
      throw e
    }
    // So the unlink itself survives a power loss, as the rename does.
    await this.#syncDir()
  }

  async #syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  }
}
