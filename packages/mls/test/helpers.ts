import { FrameReceiver, FrameSender } from '@peertap/crypto'
import {
  createKeyPackage,
  createVlanGroup,
  joinVlanGroup,
  MemoryStorage,
  type MlsEpochKeys,
  MlsError,
  type NodeIdentity,
  nodeIdentityFromEd25519PrivateKey,
  type VlanGroup,
} from '../src/index.ts'

export const VLAN_ID = Uint8Array.from({ length: 32 }, (_, i) => i + 1)

export async function identity(seedByte: number): Promise<NodeIdentity> {
  return nodeIdentityFromEd25519PrivateKey(new Uint8Array(32).fill(seedByte))
}

/** A settable clock (unix seconds). */
export function testClock(start = 1_900_000_000): { now: number; clock: () => number } {
  const c = { now: start, clock: () => c.now }
  return c
}

export interface Node {
  readonly identity: NodeIdentity
  readonly storage: MemoryStorage
  group: VlanGroup
}

/** An owner and `members` joined members, all in the same epoch (one add commit). */
export async function makeGroup(
  members: number,
  clock: () => number = () => 1_900_000_000,
): Promise<{ owner: Node; members: Node[] }> {
  const ownerId = await identity(1)
  const ownerStorage = new MemoryStorage()
  const group = await createVlanGroup({
    vlanId: VLAN_ID,
    identity: ownerId,
    storage: ownerStorage,
    clock,
  })
  const owner: Node = { identity: ownerId, storage: ownerStorage, group }
  if (members === 0) return { owner, members: [] }
  const ids = await Promise.all(Array.from({ length: members }, (_, i) => identity(2 + i)))
  const kps = await Promise.all(ids.map((id) => createKeyPackage({ identity: id })))
  const out = await group.addMembers({
    keyPackages: kps.map((kp, i) => ({ keyPackage: kp.keyPackage, from: ids[i]!.peerId })),
  })
  const nodes: Node[] = []
  for (const [i, id] of ids.entries()) {
    const storage = new MemoryStorage()
    const g = await joinVlanGroup({
      vlanId: VLAN_ID,
      ownerPeerId: ownerId.peerId,
      welcome: out.welcome!,
      keyPackageSecret: kps[i]!.secret,
      identity: id,
      storage,
      clock,
    })
    nodes.push({ identity: id, storage, group: g })
  }
  return { owner, members: nodes }
}

export function sameSecrets(a: MlsEpochKeys, b: MlsEpochKeys): boolean {
  const eq = (x: Uint8Array, y: Uint8Array) => Buffer.from(x).equals(Buffer.from(y))
  return (
    eq(a.secrets.frameBase, b.secrets.frameBase) &&
    eq(a.secrets.vftKey, b.secrets.vftKey) &&
    eq(a.secrets.hpKey, b.secrets.hpKey) &&
    eq(a.secrets.authSeed, b.secrets.authSeed)
  )
}

const VFT = new Uint8Array(16).fill(7)
const WINDOW = 3_000_000

/** Seals a frame as `from` (its own KID) and tries to open it with `to`'s keys. */
export function sealAndOpen(from: MlsEpochKeys, to: MlsEpochKeys): Uint8Array | string {
  const sender = new FrameSender({
    kind: 'mls',
    secrets: from.secrets,
    leafIndex: from.leafIndex,
    epoch: from.epoch,
  })
  const receiver = new FrameReceiver({
    kind: 'mls',
    secrets: to.secrets,
    epoch: to.epoch,
    acceptLeaf: to.acceptLeaf,
  })
  const plaintext = Uint8Array.of(0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 8, 6)
  return receiver.open(sender.seal(VFT, plaintext), VFT, WINDOW)
}

/** Asserts that `p` rejects with an MlsError of `code`. */
export async function refused(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  const run = typeof p === 'function' ? Promise.resolve().then(p) : p
  const e = await run.then(
    () => undefined,
    (err: unknown) => err,
  )
  if (!(e instanceof MlsError)) throw new Error(`expected MlsError ${code}, got ${String(e)}`)
  if (e.code !== code) throw new Error(`expected ${code}, got ${e.code}: ${e.message}`)
}

/** Asserts that `f` is refused with `code` and leaves `group`'s state byte for byte unchanged. */
export async function refusedUntouched(
  group: VlanGroup,
  f: () => Promise<unknown>,
  code: string,
): Promise<void> {
  const before = group.snapshot()
  await refused(f, code)
  const after = group.snapshot()
  if (!Buffer.from(before).equals(Buffer.from(after)))
    throw new Error(`state changed by a refused input (${code})`)
}

/** A copy of a node's storage: a "stolen" or restored copy of its state. */
export async function copyStorage(from: MemoryStorage, name: string): Promise<MemoryStorage> {
  const copy = new MemoryStorage()
  const bytes = await from.read(name)
  if (bytes !== undefined) await copy.write(name, bytes)
  return copy
}
