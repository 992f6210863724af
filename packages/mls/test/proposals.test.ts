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
})
