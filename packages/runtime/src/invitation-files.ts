/**
 * The owner's invitation state in the state directory
 * (docs/spec/15-invitations.md §15.8), each file written whole and
 * atomically like the rest of it:
 *
 * - `hpke-seed`: 32 random bytes, from which the node's static HPKE key
 *   is derived (06-hpke.md §2); made on first start;
 * - `invitations.json`: the invitation book (hashes of secrets, never the
 *   secrets);
 * - `pool-<VLAN-ID hex>.json`: a VLAN's IPv4 assignments.
 *
 * A file that does not read back whole stops the node with what to do: a
 * guessed book could admit a revoked code, a guessed pool hand out an
 * address twice.
 */
import { randomBytes } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { deriveHpkeKeyPair } from '@peertap/crypto'
import { InvitationBook, Ipv4Pool } from '@peertap/invite'
import { hex } from './peer-ids.ts'
import { writeStateFile } from './state.ts'

const HPKE_SEED_FILE = 'hpke-seed'
const BOOK_FILE = 'invitations.json'

export class InvitationFiles {
  readonly #stateDir: string
  readonly #pools = new Map<string, Ipv4Pool>()

  constructor(stateDir: string) {
    this.#stateDir = stateDir
  }

  /** The node's static HPKE key pair, from its seed (made now if absent). */
  async hpkeKeys(): Promise<{ publicKey: Uint8Array; privateKey: Uint8Array }> {
    const path = join(this.#stateDir, HPKE_SEED_FILE)
    let seed = await readOptional(path)
    if (seed !== undefined && seed.length !== 32)
      throw new Error(
        `${path} is not 32 bytes: restore it, or remove it (codes made with it stop working)`,
      )
    if (seed === undefined) {
      seed = randomBytes(32)
      await writeStateFile(path, seed)
    }
    return deriveHpkeKeyPair(seed)
  }

  /** The invitation book (empty when there is none yet). */
  async book(): Promise<InvitationBook> {
    const path = join(this.#stateDir, BOOK_FILE)
    const bytes = await readOptional(path)
    if (bytes === undefined) return new InvitationBook()
    const decoded = InvitationBook.decode(bytes)
    if (!decoded.ok)
      throw new Error(
        `${path}: ${decoded.detail} (${decoded.reason}): restore it, or remove it to drop every invitation`,
      )
    return decoded.book
  }

  async saveBook(book: InvitationBook, now: number): Promise<void> {
    book.prune(now)
    await writeStateFile(join(this.#stateDir, BOOK_FILE), book.encode())
  }

  /** The VLAN's IPv4 pool, if it has one. */
  async pool(vlanId: Uint8Array): Promise<Ipv4Pool | undefined> {
    const cached = this.#pools.get(hex(vlanId))
    if (cached !== undefined) return cached
    const path = this.#poolPath(vlanId)
    const bytes = await readOptional(path)
    if (bytes === undefined) return undefined
    const decoded = Ipv4Pool.decode(bytes)
    if (!decoded.ok) throw new Error(`${path}: ${decoded.detail}: restore it or remove it`)
    this.#pools.set(hex(vlanId), decoded.pool)
    return decoded.pool
  }

  /** The pool's IPv4 assignments, loaded already (for status: no I/O). */
  cachedPool(vlanId: Uint8Array): Ipv4Pool | undefined {
    return this.#pools.get(hex(vlanId))
  }

  async savePool(vlanId: Uint8Array, pool: Ipv4Pool): Promise<void> {
    this.#pools.set(hex(vlanId), pool)
    await writeStateFile(this.#poolPath(vlanId), pool.encode())
  }

  async removePool(vlanId: Uint8Array): Promise<void> {
    this.#pools.delete(hex(vlanId))
    await rm(this.#poolPath(vlanId), { force: true })
  }

  #poolPath(vlanId: Uint8Array): string {
    return join(this.#stateDir, `pool-${hex(vlanId)}.json`)
  }
}

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}
