import { describe, expect, it } from 'vitest'
import { createKeyPackage, loadVlanGroup, MlsError, type MlsErrorCode } from '../src/index.ts'
import { identity, makeGroup, sameSecrets, sealAndOpen, VLAN_ID } from './helpers.ts'

async function refused(p: Promise<unknown>, code: MlsErrorCode): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e, `expected ${code}`).toBeInstanceOf(MlsError)
  expect((e as MlsError).code).toBe(code)
}

describe('a VLAN group', () => {
  it('creates, adds with a Welcome, and every member derives the same epoch keys', async () => {
    const { owner, members } = await makeGroup(3)
    expect(owner.group.epoch).toBe(1n)
    const k0 = owner.group.epochKeys()
    expect(k0.kind).toBe('mls')
    expect(k0.epoch).toBe(1)
    expect(k0.leafIndex).toBe(0)
    for (const [i, m] of members.entries()) {
      const k = m.group.epochKeys()
      expect(k.epoch).toBe(1)
      expect(k.leafIndex).toBe(i + 1)
      expect(sameSecrets(k, k0)).toBe(true)
      expect(m.group.isOwner).toBe(false)
      expect(Buffer.from(m.group.ownerPeerId).equals(Buffer.from(owner.identity.peerId))).toBe(true)
    }
    expect(k0.acceptLeaf(3)).toBe(true)
    expect(k0.acceptLeaf(4)).toBe(false)
    expect(owner.group.members().map((m) => m.leafIndex)).toEqual([0, 1, 2, 3])
    // A frame sealed by one member opens at another.
    const opened = sealAndOpen(members[0]!.group.epochKeys(), members[2]!.group.epochKeys())
    expect(opened).toBeInstanceOf(Uint8Array)
    // the four secrets differ from each other
    const s = k0.secrets
    expect(
      new Set(
        [s.frameBase, s.vftKey, s.hpKey, s.authSeed].map((x) => Buffer.from(x).toString('hex')),
      ).size,
    ).toBe(4)
  })

  it('moves everyone to the next epoch on add, remove and update commits', async () => {
    const { owner, members } = await makeGroup(2)
    const carol = await identity(50)
    const kp = await createKeyPackage({ identity: carol })
    const add = await owner.group.addMembers({
      keyPackages: [{ keyPackage: kp.keyPackage, from: carol.peerId }],
    })
    expect(add.welcome).toBeInstanceOf(Uint8Array)
    for (const m of members)
      expect((await m.group.processCommit({ bundle: add.bundle })).epoch).toBe(2n)
    const upd = await owner.group.update()
    expect(upd.welcome).toBeUndefined()
    for (const m of members) await m.group.processCommit({ bundle: upd.bundle })
    expect(sameSecrets(members[0]!.group.epochKeys(), owner.group.epochKeys())).toBe(true)
    const rem = await owner.group.removeMembers({ peerIds: [members[1]!.identity.peerId] })
    const r0 = await members[0]!.group.processCommit({ bundle: rem.bundle })
    const r1 = await members[1]!.group.processCommit({ bundle: rem.bundle })
    expect(r0).toEqual({ epoch: 4n, removed: false, updated: false })
    expect(r1.removed).toBe(true)
    expect(members[1]!.group.removed).toBe(true)
    await refused(
      Promise.resolve().then(() => members[1]!.group.epochKeys()),
      'mls-removed',
    )
    expect(sameSecrets(members[0]!.group.epochKeys(), owner.group.epochKeys())).toBe(true)
    expect(owner.group.members().length).toBe(3) // owner, member 0, carol (leaf 2 blank)
  })

  it('persists before returning: a reload is at the same epoch with the same keys', async () => {
    const { owner, members } = await makeGroup(1)
    const upd = await owner.group.update()
    await members[0]!.group.processCommit({ bundle: upd.bundle })
    const reloaded = await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: members[0]!.identity,
      storage: members[0]!.storage,
    })
    expect(reloaded!.epoch).toBe(2n)
    expect(sameSecrets(reloaded!.epochKeys(), owner.group.epochKeys())).toBe(true)
    expect(
      Buffer.from(reloaded!.snapshot()).equals(Buffer.from(members[0]!.group.snapshot())),
    ).toBe(true)
    // and it goes on processing commits
    const upd2 = await owner.group.update()
    await reloaded!.processCommit({ bundle: upd2.bundle })
    expect(sameSecrets(reloaded!.epochKeys(), owner.group.epochKeys())).toBe(true)
    const ownerReloaded = await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: owner.identity,
      storage: owner.storage,
    })
    const upd3 = await ownerReloaded!.update()
    await reloaded!.processCommit({ bundle: upd3.bundle })
    expect(reloaded!.epoch).toBe(4n)
    expect(
      await loadVlanGroup({
        vlanId: new Uint8Array(32),
        identity: owner.identity,
        storage: owner.storage,
      }),
    ).toBeUndefined()
  })
})
