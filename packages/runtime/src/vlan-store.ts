/**
 * The VLANs a node made or joined at run time (`peertap vlan create`,
 * `peertap join`), kept in `<stateDir>/vlans.json` so that a restart comes
 * back with them: `{"vlans":[VLAN…]}`, each VLAN in the config's own form
 * (config.ts), validated by the same schema, written whole and atomically
 * (a crash leaves the old file or the new). The config's VLANs are not
 * here; a name in both is refused at start.
 */
import { join } from 'node:path'
import { parseWithSchema } from '@peertap/daemon'
import * as v from 'valibot'
import { type VlanConfig, VlanList } from './config.ts'
import { readStateFile, writeStateFile } from './state.ts'

export const VLAN_STORE_FILE = 'vlans.json'

const StoreSchema = v.strictObject({ vlans: VlanList })

export class VlanStore {
  readonly #path: string
  #vlans: VlanConfig[]

  private constructor(path: string, vlans: VlanConfig[]) {
    this.#path = path
    this.#vlans = vlans
  }

  /**
   * Reads the state directory's VLANs (none when the file is absent).
   * Throws a ConfigError naming the file and field when it does not
   * validate: the node does not start on a record it cannot read whole.
   */
  static async open(stateDir: string): Promise<VlanStore> {
    const path = join(stateDir, VLAN_STORE_FILE)
    const text = await readStateFile(path)
    if (text === undefined) return new VlanStore(path, [])
    let input: unknown
    try {
      input = JSON.parse(text)
    } catch (error) {
      throw new Error(`${path} is not JSON (${(error as Error).message}): restore it or remove it`)
    }
    try {
      return new VlanStore(path, parseWithSchema(StoreSchema, input).vlans)
    } catch (error) {
      throw new Error(`${path}: ${(error as Error).message}`)
    }
  }

  /** The VLANs, in the order they were added. */
  list(): readonly VlanConfig[] {
    return this.#vlans
  }

  get(name: string): VlanConfig | undefined {
    return this.#vlans.find((vlan) => vlan.name === name)
  }

  /** Adds or replaces the VLAN of that name and writes the file. */
  async put(vlan: VlanConfig): Promise<void> {
    const next = this.#vlans.filter((x) => x.name !== vlan.name)
    next.push(vlan)
    await this.#write(next)
  }

  /** Removes the VLAN of that name (if here) and writes the file. */
  async remove(name: string): Promise<void> {
    if (this.get(name) === undefined) return
    await this.#write(this.#vlans.filter((x) => x.name !== name))
  }

  async #write(vlans: VlanConfig[]): Promise<void> {
    // Validated as it will be read back: never write what the next start refuses.
    const checked = parseWithSchema(StoreSchema, { vlans }).vlans
    await writeStateFile(this.#path, `${JSON.stringify({ vlans: checked }, null, 2)}\n`)
    this.#vlans = checked
  }
}
