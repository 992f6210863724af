// Bad input is refused with a typed error and leaves the state untouched.
import { describe, expect, it } from 'vitest'
import {
  createKeyPackage,
  createVlanGroup,
  decodeBundle,
  encodeBundle,
  joinVlanGroup,
  loadVlanGroup,
  MemoryStorage,
  type NodeIdentity,
  recordName,
} from '../src/index.ts'
import { decodeRecord, encodeRecord } from '../src/record.ts'
import { identity, makeGroup, refused, refusedUntouched, VLAN_ID } from './helpers.ts'

describe('commits that are refused', () => {
  it('malformed bundles and messages', async () => {
    const { owner, members } = await makeGroup(2)
    const m = members[0]!.group
    const { bundle } = await owner.group.update()
    const process = (b: Uint8Array) => () => m.processCommit({ bundle: b })
    await refusedUntouched(m, process(new Uint8Array(0)), 'mls-malformed')
    await refusedUntouched(m, process(crypto.getRandomValues(new Uint8Array(200))), 'mls-malformed')
    await refusedUntouched(m, process(bundle.subarray(0, bundle.length - 1)), 'mls-malformed')
    await refusedUntouched(m, process(Uint8Array.of(...bundle, 0)), 'mls-malformed')
    const wrongVersion = bundle.slice()
    wrongVersion[0] = 2
    await refusedUntouched(m, process(wrongVersion), 'mls-malformed')
    const d = decodeBundle(bundle)
    const garbage = encodeBundle({ ...d, commit: crypto.getRandomValues(new Uint8Array(64)) })
    await refusedUntouched(m, process(garbage), 'mls-malformed')
    // a proposal message where the commit belongs
    const proposal = await members[1]!.group.propose({ remove: members[1]!.identity.peerId })
    await refusedUntouched(m, process(encodeBundle({ ...d, commit: proposal })), 'mls-malformed')
    // and it still applies the real one
    expect((await m.processCommit({ bundle })).epoch).toBe(2n)
  })

  it('forged: any flipped bit of the commit is refused', async () => {
    const { owner, members } = await makeGroup(1)
    const m = members[0]!.group
    const { bundle } = await owner.group.update()
    const d = decodeBundle(bundle)
    const commitStart = bundle.length - d.commit.length
    // flip bits across the commit message: header, sender data, ciphertext, tag
    const positions = [
      4,
      20,
      40,
      Math.floor(d.commit.length / 2),
      d.commit.length - 17,
      d.commit.length - 1,
    ]
    for (const pos of positions) {
      const forged = bundle.slice()
      forged[commitStart + pos]! ^= 0x01
      const before = m.snapshot()
      await expect(m.processCommit({ bundle: forged })).rejects.toMatchObject({ name: 'MlsError' })
      expect(Buffer.from(m.snapshot()).equals(Buffer.from(before)), `bit at ${pos}`).toBe(true)
    }
    const forged = bundle.slice()
    forged[bundle.length - 1]! ^= 0x80
    await refusedUntouched(m, () => m.processCommit({ bundle: forged }), 'mls-rejected')
    expect((await m.processCommit({ bundle })).epoch).toBe(2n)
  })

  it('replayed, stale, out of order, and from another group', async () => {
    const { owner, members } = await makeGroup(1)
    const m = members[0]!.group
    const c1 = await owner.group.update()
    const c2 = await owner.group.update()
    await refusedUntouched(m, () => m.processCommit({ bundle: c2.bundle }), 'mls-gap')
    await m.processCommit({ bundle: c1.bundle })
    await refusedUntouched(m, () => m.processCommit({ bundle: c1.bundle }), 'mls-replayed')
    await m.processCommit({ bundle: c2.bundle })
    // the Welcome's epoch (1) was never in this member's log
    const addLog = owner.group.commitLog({ since: 0n })[0]!
    await refusedUntouched(m, () => m.processCommit({ bundle: addLog }), 'mls-stale')

    const other = await createVlanGroup({
      vlanId: new Uint8Array(32).fill(9),
      identity: owner.identity,
      storage: new MemoryStorage(),
    })
    const otherId = await identity(77)
    const kp = await createKeyPackage({ identity: otherId })
    await other.addMembers({ keyPackages: [{ keyPackage: kp.keyPackage, from: otherId.peerId }] })
    await other.update()
    const foreign = await other.update() // epoch 3 -> leaves epoch 3, as m is at 3
    expect(m.epoch).toBe(3n)
    await refusedUntouched(m, () => m.processCommit({ bundle: foreign.bundle }), 'mls-wrong-group')
  })

  it('a commit from a member that is not the owner (a rogue node that thinks it owns the VLAN)', async () => {
    const { owner, members } = await makeGroup(2)
    const rogue = members[0]!
    const name = recordName(VLAN_ID)
    const record = decodeRecord((await rogue.storage.read(name))!)
    const forgedStorage = new MemoryStorage()
    await forgedStorage.write(name, encodeRecord({ ...record, ownerPeerId: rogue.identity.peerId }))
    const rogueGroup = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: rogue.identity,
      storage: forgedStorage,
    }))!
    expect(rogueGroup.isOwner).toBe(true)
    const { bundle } = await rogueGroup.update()
    const honest = members[1]!.group
    await refusedUntouched(honest, () => honest.processCommit({ bundle }), 'mls-not-committer')
    await refusedUntouched(
      owner.group,
      () => owner.group.processCommit({ bundle }),
      'mls-not-committer',
    )
    // nor may it remove the real owner
    const ousting = await rogueGroup.removeMembers({ peerIds: [owner.identity.peerId] })
    await refusedUntouched(
      honest,
      () => honest.processCommit({ bundle: ousting.bundle }),
      'mls-gap',
    )
    const again = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: rogue.identity,
      storage: rogue.storage,
    }))!
    const forgedStorage2 = new MemoryStorage()
    await forgedStorage2.write(
      name,
      encodeRecord({
        ...decodeRecord((await rogue.storage.read(name))!),
        ownerPeerId: rogue.identity.peerId,
      }),
    )
    const rogue2 = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: rogue.identity,
      storage: forgedStorage2,
    }))!
    const oust = await rogue2.removeMembers({ peerIds: [owner.identity.peerId] })
    await refusedUntouched(
      honest,
      () => honest.processCommit({ bundle: oust.bundle }),
      'mls-not-committer',
    )
    expect(again.epoch).toBe(1n)
  })
})

describe('credentials', () => {
  it('a key package must name the peer it came from', async () => {
    const { owner } = await makeGroup(0)
    const bob = await identity(20)
    const eve = await identity(21)
    const kp = await createKeyPackage({ identity: bob })
    await refusedUntouched(
      owner.group,
      () =>
        owner.group.addMembers({ keyPackages: [{ keyPackage: kp.keyPackage, from: eve.peerId }] }),
      'mls-credential-mismatch',
    )
  })

  it('a credential whose binding is signed by another identity key is refused', async () => {
    const { owner } = await makeGroup(0)
    const bob = await identity(20)
    const eve = await identity(21)
    // Eve claims Bob's PeerId but can only sign with her own key.
    const liar: NodeIdentity = { peerId: bob.peerId, sign: (m) => eve.sign(m) }
    const kp = await createKeyPackage({ identity: liar })
    await refusedUntouched(
      owner.group,
      () =>
        owner.group.addMembers({ keyPackages: [{ keyPackage: kp.keyPackage, from: bob.peerId }] }),
      'mls-credential-invalid',
    )
  })

  it('a tampered key package is refused; a member cannot be added twice', async () => {
    const { owner, members } = await makeGroup(1)
    const bob = await identity(30)
    const kp = await createKeyPackage({ identity: bob })
    const tampered = kp.keyPackage.slice()
    tampered[tampered.length - 10]! ^= 1 // inside the key package's signature
    await refusedUntouched(
      owner.group,
      () => owner.group.addMembers({ keyPackages: [{ keyPackage: tampered, from: bob.peerId }] }),
      'mls-rejected',
    )
    const again = await createKeyPackage({ identity: members[0]!.identity })
    await refusedUntouched(
      owner.group,
      () =>
        owner.group.addMembers({
          keyPackages: [{ keyPackage: again.keyPackage, from: members[0]!.identity.peerId }],
        }),
      'mls-membership',
    )
    await refusedUntouched(
      owner.group,
      () => owner.group.removeMembers({ peerIds: [bob.peerId] }),
      'mls-membership',
    )
    await refusedUntouched(
      owner.group,
      () => owner.group.removeMembers({ peerIds: [owner.identity.peerId] }),
      'mls-owner-removal',
    )
  })

  it('a joiner checks the VLAN-ID and the owner it expects', async () => {
    const { owner } = await makeGroup(0)
    const bob = await identity(40)
    const kp = await createKeyPackage({ identity: bob })
    const { welcome } = await owner.group.addMembers({
      keyPackages: [{ keyPackage: kp.keyPackage, from: bob.peerId }],
    })
    const base = {
      welcome: welcome!,
      keyPackageSecret: kp.secret,
      identity: bob,
      storage: new MemoryStorage(),
    }
    await refused(
      joinVlanGroup({ ...base, vlanId: new Uint8Array(32), ownerPeerId: owner.identity.peerId }),
      'mls-wrong-group',
    )
    const stranger = await identity(41)
    await refused(
      joinVlanGroup({ ...base, vlanId: VLAN_ID, ownerPeerId: stranger.peerId }),
      'mls-credential-mismatch',
    )
    await refused(
      joinVlanGroup({
        ...base,
        vlanId: VLAN_ID,
        ownerPeerId: owner.identity.peerId,
        welcome: welcome!.subarray(1),
      }),
      'mls-malformed',
    )
    const g = await joinVlanGroup({ ...base, vlanId: VLAN_ID, ownerPeerId: owner.identity.peerId })
    expect(g.epoch).toBe(1n)
  })
})

describe('stored state', () => {
  it('a damaged record is refused as corrupt', async () => {
    const { owner } = await makeGroup(1)
    const name = recordName(VLAN_ID)
    const bytes = (await owner.storage.read(name))!
    for (const pos of [0, 10, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const damaged = bytes.slice()
      damaged[pos]! ^= 0x04
      const storage = new MemoryStorage()
      await storage.write(name, damaged)
      await refused(
        loadVlanGroup({ vlanId: VLAN_ID, identity: owner.identity, storage }),
        'mls-state-corrupt',
      )
    }
    const storage = new MemoryStorage()
    await storage.write(name, bytes.subarray(0, 100))
    await refused(
      loadVlanGroup({ vlanId: VLAN_ID, identity: owner.identity, storage }),
      'mls-state-corrupt',
    )
    const other = await identity(99)
    await refused(
      loadVlanGroup({ vlanId: VLAN_ID, identity: other, storage: owner.storage }),
      'mls-state-corrupt',
    )
  })
})
