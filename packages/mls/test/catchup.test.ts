import { describe, expect, it } from 'vitest'
import { createKeyPackage, loadVlanGroup, recordName } from '../src/index.ts'
import {
  copyStorage,
  identity,
  makeGroup,
  refusedUntouched,
  sameSecrets,
  VLAN_ID,
} from './helpers.ts'

describe('commit log and catch-up', () => {
  it('a member that missed commits catches up from another member, in order', async () => {
    const { owner, members } = await makeGroup(2)
    const [alice, late] = members as [(typeof members)[0], (typeof members)[0]]
    const bundles: Uint8Array[] = []
    for (let i = 0; i < 3; i++) {
      const { bundle } = await owner.group.update()
      bundles.push(bundle)
      await alice.group.processCommit({ bundle })
    }
    const carol = await identity(70)
    const kp = await createKeyPackage({ identity: carol })
    const add = await owner.group.addMembers({
      keyPackages: [{ keyPackage: kp.keyPackage, from: carol.peerId }],
    })
    await alice.group.processCommit({ bundle: add.bundle })
    expect(alice.group.commitLog().length).toBe(4)
    expect(alice.group.commitLog({ since: 3n }).length).toBe(2)

    // gaps are refused before anything is applied
    const log = alice.group.commitLog()
    await refusedUntouched(
      late.group,
      () => late.group.catchUp({ bundles: [log[0]!, log[2]!] }),
      'mls-gap',
    )
    await refusedUntouched(
      late.group,
      () => late.group.catchUp({ bundles: log.slice(1) }),
      'mls-gap',
    )
    expect(await late.group.catchUp({ bundles: log })).toBe(4)
    expect(late.group.epoch).toBe(owner.group.epoch)
    expect(sameSecrets(late.group.epochKeys(), owner.group.epochKeys())).toBe(true)
    // catching up again changes nothing (identical history is skipped)
    expect(await late.group.catchUp({ bundles: log })).toBe(0)
    // and the caught-up member processes the next commit as usual
    const next = await owner.group.update()
    await late.group.processCommit({ bundle: next.bundle })
    expect(sameSecrets(late.group.epochKeys(), owner.group.epochKeys())).toBe(true)
  })

  it('a fork (another commit for an epoch already passed) is refused', async () => {
    const { owner, members } = await makeGroup(1)
    const m = members[0]!
    const before = await copyStorage(owner.storage, recordName(VLAN_ID))
    const real = await owner.group.update()
    await m.group.processCommit({ bundle: real.bundle })
    const rival = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: owner.identity,
      storage: before,
    }))!
    const other = await rival.update() // a second commit for epoch 1
    await refusedUntouched(
      m.group,
      () => m.group.processCommit({ bundle: other.bundle }),
      'mls-fork',
    )
    await refusedUntouched(m.group, () => m.group.catchUp({ bundles: [other.bundle] }), 'mls-fork')
    const rivalNext = await rival.update()
    await refusedUntouched(
      m.group,
      () => m.group.catchUp({ bundles: [other.bundle, rivalNext.bundle] }),
      'mls-fork',
    )
  })

  it('keeps at most logLimit commits', async () => {
    const { owner } = await makeGroup(1)
    const limited = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: owner.identity,
      storage: owner.storage,
      logLimit: 2,
    }))!
    for (let i = 0; i < 4; i++) await limited.update()
    const log = limited.commitLog()
    expect(log.length).toBe(2)
    expect(limited.epoch).toBe(5n)
  })
})
