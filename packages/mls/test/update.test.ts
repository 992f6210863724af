// A member's self-update: an MLS Update proposal (RFC 9420 §12.1.2) the
// owner commits by reference, with post-compromise security for the member.
import {
  type ClientState,
  createProposal,
  decodeGroupState,
  encodeMlsMessage,
  type LeafNode,
} from 'ts-mls'
import { defaultClientConfig } from 'ts-mls/clientConfig.js'
import { encode } from 'ts-mls/codec/tlsEncoder.js'
import { signWithLabel } from 'ts-mls/crypto/signature.js'
import { leafNodeTBSEncoder } from 'ts-mls/leafNode.js'
import { describe, expect, it } from 'vitest'
import { createCredential } from '../src/identity.ts'
import {
  createKeyPackage,
  joinVlanGroup,
  loadVlanGroup,
  MemoryStorage,
  type NodeIdentity,
  recordName,
  type VlanGroup,
} from '../src/index.ts'
import { decodeRecord } from '../src/record.ts'
import { suite } from '../src/suite.ts'
import {
  copyStorage,
  identity,
  makeGroup,
  refused,
  refusedUntouched,
  sameSecrets,
  sealAndOpen,
  VLAN_ID,
} from './helpers.ts'

/** The leaf's public keys as the group sees them (from the owner's record). */
function leafKeys(group: VlanGroup, leafIndex: number): { hpke: string; sig: string } {
  const record = decodeRecord(group.snapshot())
  const state = decodeGroupState(record.groupState, 0)![0]
  const node = state.ratchetTree[leafIndex * 2]
  if (node?.nodeType !== 'leaf') throw new Error('no leaf')
  return {
    hpke: Buffer.from(node.leaf.hpkePublicKey).toString('hex'),
    sig: Buffer.from(node.leaf.signaturePublicKey).toString('hex'),
  }
}

describe('member self-update', () => {
  it('the owner commits the Update proposal; everyone follows; the leaf has fresh keys', async () => {
    const { owner, members } = await makeGroup(3)
    const [alice, bob, carol] = members as [
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
    ]
    const leaf = bob.group.leafIndex
    const before = leafKeys(owner.group, leaf)
    const proposal = await bob.group.proposeUpdate()
    // asked again in the same epoch: the same proposal (it can be re-sent)
    expect(Buffer.from(await bob.group.proposeUpdate()).equals(Buffer.from(proposal))).toBe(true)
    const summary = await owner.group.receiveProposal({ message: proposal })
    expect(summary.kind).toBe('update')
    expect(Buffer.from(summary.subject).equals(Buffer.from(bob.identity.peerId))).toBe(true)
    const { bundle, welcome } = await owner.group.commitPending()
    expect(welcome).toBeUndefined()
    expect((await bob.group.processCommit({ bundle })).updated).toBe(true)
    for (const m of [alice, carol]) {
      expect((await m.group.processCommit({ bundle })).updated).toBe(false)
    }
    const keys = owner.group.epochKeys()
    for (const m of members) expect(sameSecrets(m.group.epochKeys(), keys)).toBe(true)
    expect(bob.group.leafIndex).toBe(leaf)
    const after = leafKeys(owner.group, leaf)
    expect(after.hpke).not.toBe(before.hpke)
    expect(after.sig).not.toBe(before.sig)
    expect(leafKeys(alice.group, leaf)).toEqual(after)
    // frames flow both ways in the new epoch
    expect(sealAndOpen(bob.group.epochKeys(), alice.group.epochKeys())).toBeInstanceOf(Uint8Array)
    expect(sealAndOpen(alice.group.epochKeys(), bob.group.epochKeys())).toBeInstanceOf(Uint8Array)

    // The updated member goes on: it processes the owner's next commit and
    // can update again (its new signature key signs the next proposal).
    const next = await owner.group.update()
    for (const m of members) await m.group.processCommit({ bundle: next.bundle })
    const again = await bob.group.proposeUpdate()
    await owner.group.receiveProposal({ message: again })
    const third = await owner.group.commitPending()
    for (const m of members) await m.group.processCommit({ bundle: third.bundle })
    expect(sameSecrets(bob.group.epochKeys(), owner.group.epochKeys())).toBe(true)

    // A node that joins later validates the update leaf in the Welcome's tree.
    const dave = await identity(90)
    const kp = await createKeyPackage({ identity: dave })
    const add = await owner.group.addMembers({
      keyPackages: [{ keyPackage: kp.keyPackage, from: dave.peerId }],
    })
    const daveGroup = await joinVlanGroup({
      vlanId: VLAN_ID,
      ownerPeerId: owner.identity.peerId,
      welcome: add.welcome!,
      keyPackageSecret: kp.secret,
      identity: dave,
      storage: new MemoryStorage(),
    })
    expect(sameSecrets(daveGroup.epochKeys(), owner.group.epochKeys())).toBe(true)
  })

  it("post-compromise: a copy of the member's state from before its update decrypts nothing new", async () => {
    const { owner, members } = await makeGroup(3)
    const [alice, bob, carol] = members as [
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
    ]
    // What an attacker who read Bob's disk (or memory) before the update holds.
    const stolen = await copyStorage(bob.storage, recordName(VLAN_ID))
    // Control: a copy of Carol's state, who does not update, follows the commit.
    const carolCopy = await copyStorage(carol.storage, recordName(VLAN_ID))

    const proposal = await bob.group.proposeUpdate()
    await owner.group.receiveProposal({ message: proposal })
    const { bundle } = await owner.group.commitPending()
    for (const m of members) await m.group.processCommit({ bundle })
    const fresh = alice.group.epochKeys()

    const old = (await loadVlanGroup({ vlanId: VLAN_ID, identity: bob.identity, storage: stolen }))!
    const oldEpoch = old.epoch
    await refused(old.processCommit({ bundle }), 'mls-rejected')
    expect(old.epoch).toBe(oldEpoch)
    expect(sameSecrets(old.epochKeys(), fresh)).toBe(false)
    // a frame Alice seals in the new epoch does not open with anything the copy holds
    expect(typeof sealAndOpen(fresh, { ...old.epochKeys(), epoch: fresh.epoch })).toBe('string')
    expect(typeof sealAndOpen(fresh, old.epochKeys())).toBe('string')
    // nor can the copy follow the group's next commits
    const next = await owner.group.update()
    for (const m of members) await m.group.processCommit({ bundle: next.bundle })
    await refused(old.processCommit({ bundle: next.bundle }), 'mls-gap')
    await refused(old.catchUp({ bundles: [bundle, next.bundle] }), 'mls-rejected')
    expect(old.epoch).toBe(oldEpoch)

    const control = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: carol.identity,
      storage: carolCopy,
    }))!
    expect(await control.catchUp({ bundles: [bundle, next.bundle] })).toBe(2)
    expect(sameSecrets(control.epochKeys(), owner.group.epochKeys())).toBe(true)
  })

  it('the new leaf keys are stored before the proposal is returned: a restart in between still applies it', async () => {
    const { owner, members } = await makeGroup(2)
    const bob = members[1]!
    const proposal = await bob.group.proposeUpdate()
    const reloaded = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: bob.identity,
      storage: bob.storage,
    }))!
    expect(Buffer.from(await reloaded.proposeUpdate()).equals(Buffer.from(proposal))).toBe(true)
    await owner.group.receiveProposal({ message: proposal })
    const { bundle } = await owner.group.commitPending()
    await members[0]!.group.processCommit({ bundle })
    expect((await reloaded.processCommit({ bundle })).updated).toBe(true)
    expect(sameSecrets(reloaded.epochKeys(), owner.group.epochKeys())).toBe(true)
  })

  it('an update the commit did not carry is void: the member proposes again in the new epoch', async () => {
    const { owner, members } = await makeGroup(2)
    const bob = members[1]!
    const first = await bob.group.proposeUpdate()
    const { bundle } = await owner.group.update() // the owner did not get the proposal
    for (const m of members) expect((await m.group.processCommit({ bundle })).updated).toBe(false)
    await refused(owner.group.receiveProposal({ message: first }), 'mls-stale')
    const second = await bob.group.proposeUpdate()
    expect(Buffer.from(second).equals(Buffer.from(first))).toBe(false)
    await owner.group.receiveProposal({ message: second })
    const out = await owner.group.commitPending()
    for (const m of members) await m.group.processCommit({ bundle: out.bundle })
    expect(sameSecrets(bob.group.epochKeys(), owner.group.epochKeys())).toBe(true)
  })

  it('refuses a second change to the same leaf, an owner update proposal, and identity swaps', async () => {
    const { owner, members } = await makeGroup(2)
    const [alice, bob] = members as [(typeof members)[0], (typeof members)[0]]
    const stolen = await copyStorage(bob.storage, recordName(VLAN_ID))
    await owner.group.receiveProposal({ message: await bob.group.proposeUpdate() })
    // another update of Bob's leaf in the same epoch (from a copy of his state)
    const copy = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: bob.identity,
      storage: stolen,
    }))!
    const other = await copy.proposeUpdate()
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: other }),
      'mls-proposal-refused',
    )
    // Bob leaving while his update is pending
    const leave = await bob.group.propose({ remove: bob.identity.peerId })
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: leave }),
      'mls-proposal-refused',
    )
    await refused(owner.group.proposeUpdate(), 'mls-proposal-refused')

    // Alice (who also holds Mallory's identity key) proposes an update leaf
    // whose credential names Mallory: refused by the committer.
    const mallory = await identity(91)
    const swap = await forgedUpdate(alice.group, mallory)
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: swap }),
      'mls-credential-mismatch',
    )
    // a flipped bit in the update leaf's signature
    const good = await forgedUpdate(alice.group, alice.identity)
    const bad = good.slice()
    bad[bad.length - 40]! ^= 1
    await refusedUntouched(
      owner.group,
      () => owner.group.receiveProposal({ message: bad }),
      'mls-rejected',
    )
    // the genuine one is accepted and both updates go into one commit
    await owner.group.receiveProposal({ message: good })
    const { bundle } = await owner.group.commitPending()
    expect((await bob.group.processCommit({ bundle })).updated).toBe(true)
    expect(sameSecrets(bob.group.epochKeys(), owner.group.epochKeys())).toBe(true)
  })

  it('the owner can remove a member whose update is pending: the removal supersedes it', async () => {
    const { owner, members } = await makeGroup(3)
    const [alice, bob, carol] = members as [
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
    ]
    await owner.group.receiveProposal({ message: await bob.group.proposeUpdate() })
    await owner.group.receiveProposal({ message: await carol.group.proposeUpdate() })
    const { bundle } = await owner.group.removeMembers({ peerIds: [bob.identity.peerId] })
    expect((await bob.group.processCommit({ bundle })).removed).toBe(true)
    expect((await alice.group.processCommit({ bundle })).updated).toBe(false)
    // Carol's update, about another leaf, went into the same commit.
    expect((await carol.group.processCommit({ bundle })).updated).toBe(true)
    expect(sameSecrets(carol.group.epochKeys(), owner.group.epochKeys())).toBe(true)
    expect(sameSecrets(alice.group.epochKeys(), owner.group.epochKeys())).toBe(true)
    expect(owner.group.members().length).toBe(3)
  })

  it('members refuse a commit that carries an identity-swapping update', async () => {
    // A committer that does not check (here: the owner's state driven
    // directly through ts-mls) cannot make members accept the swap.
    const { owner, members } = await makeGroup(2)
    const [alice, bob] = members as [(typeof members)[0], (typeof members)[0]]
    const mallory = await identity(92)
    const swap = await forgedUpdate(alice.group, mallory)
    const { bundle } = await rawCommitWith(owner.group, swap)
    await refusedUntouched(
      bob.group,
      () => bob.group.processCommit({ bundle }),
      'mls-credential-mismatch',
    )
  })
})

/**
 * An Update proposal from `member` whose new leaf's credential is made by
 * `credentialOf` (a test-only route around proposeUpdate's own choice).
 */
async function forgedUpdate(member: VlanGroup, credentialOf: NodeIdentity): Promise<Uint8Array> {
  const cs = await suite()
  const state = stateOf(member)
  const hpke = await cs.hpke.generateKeyPair()
  const sig = await cs.signature.keygen()
  const leaf = state.ratchetTree[member.leafIndex * 2]
  if (leaf?.nodeType !== 'leaf') throw new Error('no leaf')
  const data = {
    hpkePublicKey: await cs.hpke.exportPublicKey(hpke.publicKey),
    signaturePublicKey: sig.publicKey,
    credential: await createCredential(credentialOf, sig.publicKey),
    capabilities: leaf.leaf.capabilities,
    leafNodeSource: 'update' as const,
    extensions: [],
  }
  const tbs = encode(leafNodeTBSEncoder)({ ...data, groupId: VLAN_ID, leafIndex: member.leafIndex })
  const leafNode: LeafNode = {
    ...data,
    signature: await signWithLabel(sig.signKey, 'LeafNodeTBS', tbs, cs.signature),
  }
  const r = await createProposal(state, true, { proposalType: 'update', update: { leafNode } }, cs)
  return encodeMlsMessage(r.message)
}

function stateOf(group: VlanGroup): ClientState {
  const record = decodeRecord(group.snapshot())
  const state = decodeGroupState(record.groupState, 0)![0]
  return { ...state, clientConfig: defaultClientConfig }
}

/** A commit by the owner's keys that carries `proposal` without the package's checks. */
async function rawCommitWith(
  owner: VlanGroup,
  proposal: Uint8Array,
): Promise<{ bundle: Uint8Array }> {
  const { createCommit, decodeMlsMessage, processPublicMessage, emptyPskIndex } = await import(
    'ts-mls'
  )
  const { encodeBundle } = await import('../src/bundle.ts')
  const cs = await suite()
  let state = stateOf(owner)
  const m = decodeMlsMessage(proposal, 0)![0]
  if (m.wireformat !== 'mls_public_message') throw new Error('not public')
  state = (await processPublicMessage(state, m.publicMessage, emptyPskIndex, cs)).newState
  const r = await createCommit({ state, cipherSuite: cs }, { ratchetTreeExtension: true })
  return {
    bundle: encodeBundle({
      epoch: owner.epoch,
      proposals: [proposal],
      commit: encodeMlsMessage(r.commit),
    }),
  }
}

describe('the record', () => {
  it('keeps a pending update across a reload, and still loads a version-1 record (none pending)', async () => {
    const { createHash } = await import('node:crypto')
    const { encodeRecord } = await import('../src/record.ts')
    const { members } = await makeGroup(1)
    const alice = members[0]!
    const v2 = alice.group.snapshot()
    const r = decodeRecord(v2)
    expect(r.pendingUpdate.length).toBe(0)
    // The same record in version 1: no pendingUpdate blob.
    const body = encodeRecord(r)
    const cut =
      6 + 32 + 1 + r.ownerPeerId.length + 1 + r.selfPeerId.length + 8 + 4 + r.heldLease.length + 4
    const v1Body = Buffer.concat([body.subarray(0, cut), body.subarray(cut + 4, body.length - 32)])
    v1Body[5] = 1
    const v1 = Buffer.concat([v1Body, createHash('sha256').update(v1Body).digest()])
    const storage = new MemoryStorage()
    await storage.write(recordName(VLAN_ID), v1)
    const loaded = (await loadVlanGroup({ vlanId: VLAN_ID, identity: alice.identity, storage }))!
    expect(sameSecrets(loaded.epochKeys(), alice.group.epochKeys())).toBe(true)
    v1[5] = 3
    await storage.write(recordName(VLAN_ID), v1)
    await refused(
      loadVlanGroup({ vlanId: VLAN_ID, identity: alice.identity, storage }),
      'mls-state-corrupt',
    )

    await alice.group.proposeUpdate()
    const withUpdate = decodeRecord(alice.group.snapshot())
    expect(withUpdate.pendingUpdate.length).toBeGreaterThan(0)
  })
})
