/**
 * The relay's fabric state in its state directory (docs/spec/12-relay.md
 * §12.4), each file written atomically (`writeStateFile`: a crash leaves
 * the old file or the new one):
 *
 *   fabric-roots.json   {"roots": [hex, …]}: roots added at run time with
 *                       `peertap-relay fabric add`, besides the config's
 *                       `admission.fabricKeys`; the CLI writes it, the
 *                       running relay re-reads it on POST /fabric/reload
 *   fabric-epochs.json  {"statements": [hex, …]}: the newest verified
 *                       epoch statement per root, written by the relay
 *                       whenever it takes a newer one and restored (each
 *                       verified again) at start, so a restarted relay never
 *                       goes back to an older epoch
 */
import { join } from 'node:path'
import { readStateFile, writeStateFile } from '@peertap/daemon'

export const FABRIC_ROOTS_FILE = 'fabric-roots.json'
export const FABRIC_EPOCHS_FILE = 'fabric-epochs.json'

const KEY = /^[0-9a-fA-F]{64}$/

/** The message for a key that is not one. */
export const BAD_FABRIC_KEY = 'a fabric key is 64 hex digits, as `peertap fabric show` prints it'

/** Whether `text` is a fabric root key (64 hex digits). */
export function isFabricKey(text: string): boolean {
  return KEY.test(text)
}

/** The roots added at run time (lower-case hex); none if the file is absent. Throws on a bad file. */
export async function readFabricRoots(stateDir: string): Promise<string[]> {
  const path = join(stateDir, FABRIC_ROOTS_FILE)
  const parsed = await readJson(path)
  if (parsed === undefined) return []
  const roots = (parsed as { roots?: unknown }).roots
  if (!Array.isArray(roots) || roots.some((r) => typeof r !== 'string' || !KEY.test(r)))
    throw new Error(`${path} is malformed: want {"roots": [64 hex digits, …]}`)
  return [...new Set((roots as string[]).map((r) => r.toLowerCase()))]
}

export async function writeFabricRoots(stateDir: string, roots: readonly string[]): Promise<void> {
  const text = `${JSON.stringify({ roots: [...new Set(roots)].sort() }, null, 2)}\n`
  await writeStateFile(join(stateDir, FABRIC_ROOTS_FILE), text)
}

/** The stored statements' bytes; none if the file is absent. Throws on a bad file. */
export async function readFabricEpochs(stateDir: string): Promise<Uint8Array[]> {
  const path = join(stateDir, FABRIC_EPOCHS_FILE)
  const parsed = await readJson(path)
  if (parsed === undefined) return []
  const statements = (parsed as { statements?: unknown }).statements
  if (
    !Array.isArray(statements) ||
    statements.some((s) => typeof s !== 'string' || !/^([0-9a-f]{2})+$/.test(s))
  )
    throw new Error(`${path} is malformed: want {"statements": [hex, …]}`)
  return (statements as string[]).map((s) => Uint8Array.from(Buffer.from(s, 'hex')))
}

export async function writeFabricEpochs(
  stateDir: string,
  statements: readonly Uint8Array[],
): Promise<void> {
  const text = `${JSON.stringify(
    { statements: statements.map((s) => Buffer.from(s).toString('hex')) },
    null,
    2,
  )}\n`
  await writeStateFile(join(stateDir, FABRIC_EPOCHS_FILE), text)
}

async function readJson(path: string): Promise<unknown> {
  const text = await readStateFile(path)
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new Error(`${path} is malformed (not JSON)`)
  }
}
