import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { VLAN_STORE_FILE, VlanStore } from '../src/vlan-store.ts'
import vectors from './vectors/vlans.json' with { type: 'json' }

const dirs: string[] = []
async function stateDir(record?: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'peertap-vlans-'))
  dirs.push(dir)
  if (record !== undefined) await writeFile(join(dir, VLAN_STORE_FILE), JSON.stringify(record))
  return dir
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

describe('the state directory’s vlans.json (spec 15 §15.12)', () => {
  it.each(vectors.valid)('reads $what', async ({ record, read }) => {
    const store = await VlanStore.open(await stateDir(record))
    expect(
      store
        .list()
        .map((v) => ({ name: v.name, mtu: v.port.mtu, offload: v.port.offload, peers: v.peers })),
    ).toEqual(read)
  })

  it.each(vectors.invalid)('refuses $what, naming the field', async ({ record, field }) => {
    const error = await VlanStore.open(await stateDir(record)).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(error?.message).toContain(VLAN_STORE_FILE)
    if (field !== '') expect(error?.message).toContain(`${field}:`)
  })

  it('starts empty without the file, and writes what it reads back', async () => {
    const dir = await stateDir()
    const store = await VlanStore.open(dir)
    expect(store.list()).toEqual([])
    const [vlan] = vectors.valid[0]!.record.vlans
    await store.put(vlan as never)
    const again = await VlanStore.open(dir)
    expect(again.get('lab')?.port.addresses).toEqual(vlan!.port.addresses)
    await again.remove('lab')
    expect(JSON.parse(await readFile(join(dir, VLAN_STORE_FILE), 'utf8'))).toEqual({ vlans: [] })
  })

  it('never writes a record the next start would refuse', async () => {
    const dir = await stateDir()
    const store = await VlanStore.open(dir)
    await expect(
      store.put({ name: 'lab', port: { type: 'tap', device: 'x'.repeat(16) } } as never),
    ).rejects.toThrow()
    expect(store.list()).toEqual([])
  })
})
