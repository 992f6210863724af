/**
 * The node's fabric (docs/spec/16-fabric.md §16.7) in
 * `<stateDir>/fabric.json`, written whole and atomically (a crash leaves
 * the old file or the new):
 *
 * ```json
 * { "version": 1, "secret": "<64 hex>", "epoch": 0, "statement": "<282 hex>",
 *   "rootSeed": "<64 hex, the admin only>", "admins": ["12D3KooW…"],
 *   "bootstrap": ["/ip4/…/tcp/4001/p2p/12D3KooW…"],
 *   "invitations": { "<16 hex>": 1800000000 } }
 * ```
 *
 * `secret` is the fabric secret of `epoch`; `statement` the root-signed
 * statement of that epoch (§16.2), whose credential key must be the
 * secret's; `rootSeed` the root's private seed, held by the admin that ran
 * `peertap fabric init` and nobody else; `admins` the PeerIds whose grants
 * (rotations) this node takes; `bootstrap` the addresses it dials to reach
 * the fabric; `invitations` the codes this node made that carry the
 * fabric (their joiners get a grant), until they expire. A file that does not validate stops the node with its name
 * and field: a fabric is not silently dropped. Vectors:
 * packages/runtime/test/vectors/fabric.json.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { parseWithSchema } from '@peertap/daemon'
import { checkFabricState, type FabricState } from '@peertap/mvlan'
import * as v from 'valibot'
import { Hex32, PeerAddress, PeerIdText } from './config.ts'
import { hex } from './peer-ids.ts'
import { readStateFile, writeStateFile } from './state.ts'

export const FABRIC_FILE = 'fabric.json'

const Schema = v.strictObject({
  version: v.literal(1),
  secret: Hex32,
  epoch: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffff_ffff)),
  statement: v.pipe(v.string(), v.regex(/^[0-9a-f]{282}$/, 'a 141-byte statement as hex')),
  rootSeed: v.optional(Hex32),
  admins: v.pipe(v.array(PeerIdText), v.minLength(1), v.maxLength(8)),
  bootstrap: v.pipe(v.array(PeerAddress), v.maxLength(8)),
  /** Invitations this node made that carry the fabric: id (16 hex) -> when they expire (unix s). */
  invitations: v.optional(
    v.pipe(
      v.record(
        v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/, 'an invitation id')),
        v.pipe(v.number(), v.integer(), v.minValue(0)),
      ),
      v.check((r) => Object.keys(r).length <= 4096, 'at most 4096 invitations'),
    ),
    {},
  ),
})

export type FabricFile = v.InferOutput<typeof Schema>

export type { FabricState }

/** The state a valid file holds (the checks are @peertap/mvlan's `checkFabricState`). */
export function checkFabric(file: FabricFile): FabricState {
  return checkFabricState({
    secret: Buffer.from(file.secret, 'hex'),
    epoch: file.epoch,
    statement: Buffer.from(file.statement, 'hex'),
    ...(file.rootSeed === undefined ? {} : { rootSeed: Buffer.from(file.rootSeed, 'hex') }),
    admins: file.admins,
    bootstrap: file.bootstrap,
    invitations: file.invitations,
  })
}

/** The file form of a state (what `write` stores). */
export function fabricFile(state: FabricState): FabricFile {
  return {
    version: 1,
    secret: hex(state.secret),
    epoch: state.epoch,
    statement: hex(state.statement),
    ...(state.rootSeed === undefined ? {} : { rootSeed: hex(state.rootSeed) }),
    admins: [...state.admins],
    bootstrap: [...state.bootstrap],
    invitations: { ...state.invitations },
  }
}

/** Reads the state directory's fabric: undefined when the node has none. */
export async function readFabric(stateDir: string): Promise<FabricState | undefined> {
  const path = join(stateDir, FABRIC_FILE)
  const text = await readStateFile(path)
  if (text === undefined) return undefined
  try {
    return checkFabric(parseWithSchema(Schema, JSON.parse(text)))
  } catch (error) {
    throw new Error(
      `${path}: ${(error as Error).message}: restore it, or remove it to leave the fabric`,
    )
  }
}

/** Writes the fabric atomically, checked as it will be read back. */
export async function writeFabric(stateDir: string, state: FabricState): Promise<void> {
  const file = fabricFile(state)
  checkFabric(parseWithSchema(Schema, file))
  await writeStateFile(join(stateDir, FABRIC_FILE), `${JSON.stringify(file, null, 2)}\n`)
}

/** Removes the fabric file (the node leaves its fabric). */
export async function removeFabric(stateDir: string): Promise<void> {
  await rm(join(stateDir, FABRIC_FILE), { force: true })
}
