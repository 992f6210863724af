import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { afterEach, expect, it } from 'vitest'
import { createTrunk, IDENTITY_FILE, loadOrCreateIdentity, TrunkError } from '../src/index.ts'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'peertap-trunk-'))
  dirs.push(d)
  return d
}

it('creates an Ed25519 identity once, mode 0600, and loads the same one again', async () => {
  const dir = join(await tempDir(), 'state')
  const key = await loadOrCreateIdentity(dir)
  expect(key.type).toBe('Ed25519')
  const file = join(dir, IDENTITY_FILE)
  expect((await stat(file)).mode & 0o777).toBe(0o600)
  expect(privateKeyFromProtobuf(await readFile(file)).equals(key)).toBe(true)
  const again = await loadOrCreateIdentity(dir)
  expect(again.equals(key)).toBe(true)
  const trunk = await createTrunk({ stateDir: dir, transports: ['tcp'] })
  expect(trunk.peerId.toString()).toBe(
    (await import('@libp2p/peer-id')).peerIdFromPrivateKey(key).toString(),
  )
})

it('refuses a corrupt identity file with an error naming it, and leaves it alone', async () => {
  const dir = await tempDir()
  const file = join(dir, IDENTITY_FILE)
  await writeFile(file, Buffer.from('not a key'))
  const err = await loadOrCreateIdentity(dir).catch((e: unknown) => e)
  expect(err).toBeInstanceOf(TrunkError)
  expect((err as TrunkError).code).toBe('identity-corrupt')
  expect((err as TrunkError).message).toContain(file)
  expect((await readFile(file)).toString()).toBe('not a key')
})
