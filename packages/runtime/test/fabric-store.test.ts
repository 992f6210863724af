/** The state directory's fabric.json (docs/spec/16-fabric.md §16.7), from its vectors. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fabricKeys } from '@peertap/mvlan'
import { afterEach, describe, expect, it } from 'vitest'
import { FABRIC_FILE, readFabric, removeFabric, writeFabric } from '../src/fabric-store.ts'
import vectors from './vectors/fabric.json' with { type: 'json' }

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const dirs: string[] = []
async function stateDir(record?: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'peertap-fabric-'))
  dirs.push(dir)
  if (record !== undefined) await writeFile(join(dir, FABRIC_FILE), JSON.stringify(record))
  return dir
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

describe('fabric.json', () => {
  it.each(vectors.valid)('reads $what', async (vector) => {
    const state = await readFabric(await stateDir(vector.record))
    if (state === undefined) throw new Error('not read')
    expect(hex(state.rootKey)).toBe(vector.rootKey)
    expect(hex(fabricKeys(state.secret).credentialKey)).toBe(vector.credentialKey)
    if ('mvlanId' in vector) expect(hex(fabricKeys(state.secret).mvlanId)).toBe(vector.mvlanId)
    expect(state.rootSeed === undefined).toBe(!('rootSeed' in vector.record))
  })

  it.each(vectors.invalid)('refuses $what, saying why', async ({ record, error }) => {
    const dir = await stateDir(record)
    const thrown = await readFabric(dir).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(thrown?.message).toContain(FABRIC_FILE)
    expect(thrown?.message).toContain(error)
    expect(thrown?.message).toContain('remove it to leave the fabric')
  })

  it('has no fabric without the file; writes what it reads back; leaves by removing it', async () => {
    const dir = await stateDir()
    expect(await readFabric(dir)).toBeUndefined()
    const source = await readFabric(await stateDir(vectors.valid[0]?.record))
    if (source === undefined) throw new Error('not read')
    await writeFabric(dir, source)
    expect(JSON.parse(await readFile(join(dir, FABRIC_FILE), 'utf8'))).toEqual({
      ...vectors.valid[0]?.record,
      invitations: {},
    })
    await removeFabric(dir)
    expect(await readFabric(dir)).toBeUndefined()
  })

  it('never writes a state it would refuse to read', async () => {
    const dir = await stateDir()
    const state = await readFabric(await stateDir(vectors.valid[0]?.record))
    if (state === undefined) throw new Error('not read')
    await expect(writeFabric(dir, { ...state, epoch: 3 })).rejects.toThrow(/not 3/)
    expect(await readFabric(dir)).toBeUndefined()
  })

  it('refuses a file that is not JSON, naming it', async () => {
    const dir = await stateDir()
    await writeFile(join(dir, FABRIC_FILE), '{"version":')
    await expect(readFabric(dir)).rejects.toThrow(FABRIC_FILE)
  })
})
