/**
 * The node's Ed25519 identity, persisted in its state directory as
 * `identity.key`: the libp2p protobuf encoding of the private key
 * (`privateKeyToProtobuf`), mode 0600. Created on first start and written
 * atomically (temp file in the same directory, fsync, rename, fsync the
 * directory: docs/design.md §10), so a crash never leaves a half-written key. A
 * file that does not decode is an error naming the file; it is never
 * silently replaced, because that would change the node's PeerId.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { TrunkError } from './errors.ts'

/** File name of the identity key inside the state directory. */
export const IDENTITY_FILE = 'identity.key'

/** Loads the identity from `stateDir`, creating it (and the directory, mode 0700) on first start. */
export async function loadOrCreateIdentity(stateDir: string): Promise<PrivateKey> {
  const path = join(stateDir, IDENTITY_FILE)
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const key = await generateKeyPair('Ed25519')
    await mkdir(stateDir, { recursive: true, mode: 0o700 })
    await writeFileAtomic(stateDir, IDENTITY_FILE, privateKeyToProtobuf(key))
    return key
  }
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new TrunkError(
      'identity-corrupt',
      `identity file ${path} is corrupt (not a libp2p protobuf private key); move it away to create a new identity`,
      { cause: err },
    )
  }
  if (key.type !== 'Ed25519') {
    throw new TrunkError(
      'identity-key-type',
      `identity file ${path} holds a ${key.type} key, not Ed25519`,
    )
  }
  return key
}

/** Writes `name` in `dir` atomically: temp file, fsync, rename, fsync the directory. */
export async function writeFileAtomic(dir: string, name: string, data: Uint8Array): Promise<void> {
  const target = join(dir, name)
  const temp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`)
  const file = await open(temp, 'wx', 0o600)
  try {
    await file.writeFile(data)
    await file.sync()
  } catch (err) {
    await file.close()
    await rm(temp, { force: true })
    throw err
  }
  await file.close()
  try {
    await rename(temp, target)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
  const d = await open(dir, 'r')
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}
