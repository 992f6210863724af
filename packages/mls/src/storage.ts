/**
 * The storage port (docs/spec/11-mls.md §7). @peertap/mls does no I/O of its
 * own: the caller hands it a {@link StateStorage}. `file-storage.ts` is the
 * file-system implementation; {@link MemoryStorage} serves tests and tools.
 */

/**
 * Named blobs, each replaced atomically and durably. Names are short ASCII
 * strings made by @peertap/mls (`[a-z0-9.-]+`).
 */
export interface StateStorage {
  /** The blob's bytes, or undefined if it was never written. */
  read(name: string): Promise<Uint8Array | undefined>
  /**
   * Replaces the blob. When the promise resolves the new bytes are durable;
   * a crash at any moment before leaves the old bytes or the new, never a mix.
   */
  write(name: string, bytes: Uint8Array): Promise<void>
  /**
   * Deletes the blob (a VLAN forgotten). When the promise resolves the
   * deletion is durable; deleting a blob that does not exist is no error.
   */
  delete(name: string): Promise<void>
}

/** A {@link StateStorage} in memory (copies in and out, so callers cannot alias it). */
export class MemoryStorage implements StateStorage {
  readonly #blobs = new Map<string, Uint8Array>()
  /** Number of completed writes, for tests. */
  writes = 0

  async read(name: string): Promise<Uint8Array | undefined> {
    return this.#blobs.get(name)?.slice()
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    this.#blobs.set(name, bytes.slice())
    this.writes++
  }

  async delete(name: string): Promise<void> {
    this.#blobs.delete(name)
  }

  /** The names of the blobs held, for tests. */
  names(): string[] {
    return [...this.#blobs.keys()]
  }
}
