// Security properties with real groups: removal, post-compromise security,
// and Welcomes for others.
import { describe, expect, it } from 'vitest'
import {
  createKeyPackage,
  joinVlanGroup,
  loadVlanGroup,
  MemoryStorage,
  recordName,
} from '../src/index.ts'
import {
  copyStorage,
  identity,
  makeGroup,
  refused,
  sameSecrets,
  sealAndOpen,
  VLAN_ID,
} from './helpers.ts'

describe('a removed member', () => {
  it('cannot derive the new epoch keys nor open frames sealed under them', async () => {
    const { owner, members } = await makeGroup(3)
    const [alice, bob, mallory] = members as [
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
    ]
    const malloryOld = mallory.group.epochKeys()
    // a copy of Mallory's state just before her removal, as she would keep it
    const malloryCopy = await copyStorage(mallory.storage, recordName(VLAN_ID))
    const malloryCopy2 = await copyStorage(mallory.storage, recordName(VLAN_ID))
    const { bundle } = await owner.group.removeMembers({ peerIds: [mallory.identity.peerId] })
    for (const m of [alice, bob]) await m.group.processCommit({ bundle })
    const out = await mallory.group.processCommit({ bundle })
    expect(out.removed).toBe(true)
    await refused(() => mallory.group.epochKeys(), 'mls-removed')

    const fresh = alice.group.epochKeys()
    expect(sameSecrets(fresh, owner.group.epochKeys())).toBe(true)
    expect(sameSecrets(fresh, bob.group.epochKeys())).toBe(true)
    expect(sameSecrets(fresh, malloryOld)).toBe(false)
    expect(fresh.acceptLeaf(mallory.group.leafIndex)).toBe(false)

    // A frame Alice seals in the new epoch opens at Bob, not with Mallory's keys,
    // even if Mallory relabels her old keys with the new epoch number.
    expect(sealAndOpen(fresh, bob.group.epochKeys())).toBeInstanceOf(Uint8Array)
    // (a drop code: the header does not even unmask under her header key)
    expect(typeof sealAndOpen(fresh, { ...malloryOld, epoch: fresh.epoch })).toBe('string')
    expect(typeof sealAndOpen(fresh, malloryOld)).toBe('string')
    // even with the group's header key, her frameBase gives the wrong sender keys
    const withNewHp = {
      ...malloryOld,
      epoch: fresh.epoch,
      secrets: { ...malloryOld.secrets, hpKey: fresh.secrets.hpKey },
    }
    expect(sealAndOpen(fresh, withNewHp)).toBe('auth')

    // Her pre-removal copy cannot follow the group's next commit either.
    const next = await owner.group.update()
    await alice.group.processCommit({ bundle: next.bundle })
    const copy = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: mallory.identity,
      storage: malloryCopy,
    }))!
    const applied = await copy.processCommit({ bundle }) // her own removal: she learns she is out
    expect(applied.removed).toBe(true)
    await refused(copy.processCommit({ bundle: next.bundle }), 'mls-removed')
    const copy2 = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: mallory.identity,
      storage: malloryCopy2,
    }))!
    await refused(copy2.processCommit({ bundle: next.bundle }), 'mls-gap')
    expect(sameSecrets(copy2.epochKeys(), alice.group.epochKeys())).toBe(false)
  })
})

describe('post-compromise security', () => {
  it("after the committer's self-update, a copy of its old state cannot derive the new keys", async () => {
    const { owner, members } = await makeGroup(2)
    const stolen = await copyStorage(owner.storage, recordName(VLAN_ID))
    const { bundle } = await owner.group.update()
    for (const m of members) await m.group.processCommit({ bundle })
    const fresh = owner.group.epochKeys()
    expect(sameSecrets(fresh, members[0]!.group.epochKeys())).toBe(true)
    const old = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: owner.identity,
      storage: stolen,
    }))!
    expect(old.epoch).toBe(1n)
    expect(sameSecrets(old.epochKeys(), fresh)).toBe(false)
    // The copy cannot move to the new epoch from the update commit.
    await expect(old.processCommit({ bundle })).rejects.toMatchObject({ name: 'MlsError' })
    expect(old.epoch).toBe(1n)
    expect(typeof sealAndOpen(fresh, { ...old.epochKeys(), epoch: fresh.epoch })).toBe('string')
    // nor from the next one
    const next = await owner.group.update()
    await expect(old.catchUp({ bundles: [bundle, next.bundle] })).rejects.toMatchObject({
      name: 'MlsError',
    })
    expect(old.epoch).toBe(1n)
  })

  it("after an admin's self-update under a lease, a copy of the admin's old state is locked out", async () => {
    const now = 1_900_000_000
    const clock = () => now
    const { owner, members } = await makeGroup(2, clock)
    const admin = members[0]!
    const lease = await owner.group.issueLease({
      adminPeerId: admin.identity.peerId,
      notBefore: now,
      notAfter: now + 600,
    })
    await admin.group.acceptLease({ lease })
    const stolen = await copyStorage(admin.storage, recordName(VLAN_ID))
    const { bundle } = await admin.group.update()
    await owner.group.processCommit({ bundle })
    await members[1]!.group.processCommit({ bundle })
    const old = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: admin.identity,
      storage: stolen,
      clock,
    }))!
    await expect(old.processCommit({ bundle })).rejects.toMatchObject({ name: 'MlsError' })
    expect(sameSecrets(old.epochKeys(), owner.group.epochKeys())).toBe(false)
    expect(sameSecrets(admin.group.epochKeys(), owner.group.epochKeys())).toBe(true)
  })
})

describe('Welcomes', () => {
  it('a node never added cannot join from a Welcome meant for another', async () => {
    const { owner } = await makeGroup(1)
    const bob = await identity(60)
    const eve = await identity(61)
    const bobKp = await createKeyPackage({ identity: bob })
    const eveKp = await createKeyPackage({ identity: eve })
    const { welcome } = await owner.group.addMembers({
      keyPackages: [{ keyPackage: bobKp.keyPackage, from: bob.peerId }],
    })
    const params = { vlanId: VLAN_ID, ownerPeerId: owner.identity.peerId, welcome: welcome! }
    await refused(
      joinVlanGroup({
        ...params,
        keyPackageSecret: eveKp.secret,
        identity: eve,
        storage: new MemoryStorage(),
      }),
      'mls-welcome-not-for-us',
    )
    // Eve with Bob's public key package but her own private keys: the ref matches, decryption fails.
    const forged = new Uint8Array(eveKp.secret.length + bobKp.keyPackage.length)
    const view = new DataView(eveKp.secret.buffer, eveKp.secret.byteOffset)
    const eveKpLen = view.getUint32(0)
    const rest = eveKp.secret.subarray(4 + eveKpLen)
    const head = new Uint8Array(4)
    new DataView(head.buffer).setUint32(0, bobKp.keyPackage.length)
    forged.set(head, 0)
    forged.set(bobKp.keyPackage, 4)
    forged.set(rest, 4 + bobKp.keyPackage.length)
    await refused(
      joinVlanGroup({
        ...params,
        keyPackageSecret: forged.subarray(0, 4 + bobKp.keyPackage.length + rest.length),
        identity: eve,
        storage: new MemoryStorage(),
      }),
      'mls-rejected',
    )
    // Bob joins.
    const g = await joinVlanGroup({
      ...params,
      keyPackageSecret: bobKp.secret,
      identity: bob,
      storage: new MemoryStorage(),
    })
    expect(sameSecrets(g.epochKeys(), owner.group.epochKeys())).toBe(true)
  })
})
