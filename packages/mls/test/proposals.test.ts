import { describe, expect, it } from 'vitest'
import { createKeyPackage, joinVlanGroup, MemoryStorage } from '../src/index.ts'
import { identity, makeGroup, refused, refusedUntouched, sameSecrets, VLAN_ID } from './helpers.ts'

describe('proposals from members', () => {
  it('a member leaves: it proposes its removal, the owner commits, everyone follows', async () => {
    const { owner, members } = await makeGroup(3)
    const [alice, bob, leaver] = members as [
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
    ]
    const before = leaver.group.snapshot()
    const proposal = await leaver.group.propose({ remove: leaver.identity.peerId })
    expect(Buffer.from(leaver.group.snapshot()).equals(Buffer.from(before))).toBe(true)
    const summary = await owner.group.receiveProposal({ message: proposal })
    expect(summary.kind).toBe('remove')
    expect(Buffer.from(summary.subject).equals(Buffer.from(leaver.identity.peerId))).toBe(true)
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: proposal }),
      'mls-replayed',
    )
    const { bundle } = await owner.group.commitPending()
    for (const m of [alice, bob]) await m.group.processCommit({ bundle })
    expect((await leaver.group.processCommit({ bundle })).removed).toBe(true)
    expect(sameSecrets(alice.group.epochKeys(), owner.group.epochKeys())).toBe(true)
    expect(owner.group.members().length).toBe(3)
    await refused(owner.group.commitPending(), 'mls-malformed') // nothing pending any more
  })

  it('a member proposes an add; the Welcome goes to the new member', async () => {
    const { owner, members } = await makeGroup(2)
    const dave = await identity(80)
    const kp = await createKeyPackage({ identity: dave })
    const proposal = await members[0]!.group.propose({
      add: { keyPackage: kp.keyPackage, from: dave.peerId },
    })
    const summary = await owner.group.receiveProposal({ message: proposal })
    expect(summary.kind).toBe('add')
    // a pending proposal survives a restart of the owner (it is stored)
    const { loadVlanGroup } = await import('../src/index.ts')
    const reloaded = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: owner.identity,
      storage: owner.storage,
    }))!
    const { bundle, welcome } = await reloaded.update() // an update carries pending proposals too
    expect(welcome).toBeInstanceOf(Uint8Array)
    for (const m of members) await m.group.processCommit({ bundle })
    const g = await joinVlanGroup({
      vlanId: VLAN_ID,
      ownerPeerId: owner.identity.peerId,
      welcome: welcome!,
      keyPackageSecret: kp.secret,
      identity: dave,
      storage: new MemoryStorage(),
    })
    expect(sameSecrets(g.epochKeys(), members[1]!.group.epochKeys())).toBe(true)
  })

  it('refuses proposals a member may not make', async () => {
    const { owner, members } = await makeGroup(2)
    const [alice, bob] = members as [(typeof members)[0], (typeof members)[0]]
    await refused(alice.group.propose({ remove: owner.identity.peerId }), 'mls-owner-removal')
    const ousting = await alice.group.propose({ remove: bob.identity.peerId })
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: ousting }),
      'mls-proposal-refused',
    )
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: new Uint8Array(10) }),
      'mls-malformed',
    )
    const forged = ousting.slice()
    forged[forged.length - 3]! ^= 1
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: forged }),
      'mls-rejected',
    )
    // a proposal from an older epoch
    const leave = await bob.group.propose({ remove: bob.identity.peerId })
    const { bundle } = await owner.group.update()
    await alice.group.processCommit({ bundle })
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: leave }),
      'mls-stale',
    )
  })

  it("the committer's policy may let a member propose another's removal (never the owner's)", async () => {
    const { owner, members } = await makeGroup(3)
    const [alice, bob, carol] = members as [
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
    ]
    const ousting = await alice.group.propose({ remove: bob.identity.peerId })
    const policy = (p: { kind: string; proposer: Uint8Array }) =>
      Buffer.from(p.proposer).equals(Buffer.from(alice.identity.peerId))
    // Carol may not: the policy names Alice alone
    const carolOusting = await carol.group.propose({ remove: bob.identity.peerId })
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: carolOusting, policy }),
      'mls-proposal-refused',
    )
    // nor may Carol propose an add under that policy
    const dave = await identity(81)
    const kp = await createKeyPackage({ identity: dave })
    const carolAdd = await carol.group.propose({
      add: { keyPackage: kp.keyPackage, from: dave.peerId },
    })
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: carolAdd, policy }),
      'mls-proposal-refused',
    )
    const summary = await owner.group.receiveProposal({ message: ousting, policy })
    expect(summary.kind).toBe('remove')
    expect(Buffer.from(summary.subject).equals(Buffer.from(bob.identity.peerId))).toBe(true)
    // a second change to Bob's leaf in the same epoch is refused
    const leave = await bob.group.propose({ remove: bob.identity.peerId })
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: leave }),
      'mls-proposal-refused',
    )
    expect(owner.group.canCommit()).toBe(true)
    expect(alice.group.canCommit()).toBe(false)
    const { bundle } = await owner.group.commitPending()
    expect((await bob.group.processCommit({ bundle })).removed).toBe(true)
    for (const m of [alice, carol]) await m.group.processCommit({ bundle })
    expect(owner.group.members().length).toBe(3)
    expect(sameSecrets(carol.group.epochKeys(), owner.group.epochKeys())).toBe(true)
  })
})

describe('a proposal that would block the committer', () => {
  it('an add of a key package with a bad signature is refused on receipt; discardProposals clears the pending set', async () => {
    const { createProposal, decodeGroupState, decodeMlsMessage, encodeMlsMessage } = await import(
      'ts-mls'
    )
    const { defaultClientConfig } = await import('ts-mls/clientConfig.js')
    const { decodeRecord } = await import('../src/record.ts')
    const { suite } = await import('../src/suite.ts')
    const { recordName } = await import('../src/index.ts')
    const { owner, members } = await makeGroup(1)
    const alice = members[0]!
    // Alice's own state, driven through ts-mls directly, as a malicious member's code could.
    const record = decodeRecord((await alice.storage.read(recordName(VLAN_ID)))!)
    const state = {
      ...decodeGroupState(record.groupState, 0)![0],
      clientConfig: defaultClientConfig,
    }
    const dave = await identity(90)
    const kp = await createKeyPackage({ identity: dave })
    const decoded = decodeMlsMessage(kp.keyPackage, 0)![0]
    if (decoded.wireformat !== 'mls_key_package') throw new Error('not a key package')
    const badSig = decoded.keyPackage.signature.slice()
    badSig[0]! ^= 1
    const cs = await suite()
    const bad = await createProposal(
      state,
      true,
      { proposalType: 'add', add: { keyPackage: { ...decoded.keyPackage, signature: badSig } } },
      cs,
    )
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: encodeMlsMessage(bad.message) }),
      'mls-rejected',
    )
    // a good one is accepted, and can be discarded
    const good = await alice.group.propose({
      add: { keyPackage: kp.keyPackage, from: dave.peerId },
    })
    await owner.group.receiveProposal({ message: good })
    expect(await owner.group.discardProposals()).toBe(1)
    await refused(owner.group.commitPending(), 'mls-malformed')
    const { bundle, welcome } = await owner.group.update()
    expect(welcome).toBeUndefined()
    await alice.group.processCommit({ bundle })
    expect(sameSecrets(alice.group.epochKeys(), owner.group.epochKeys())).toBe(true)
  })
})
