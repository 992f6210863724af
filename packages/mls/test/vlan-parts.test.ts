// The parts of MlsVlanNode whose paths its own tests (vlan-node.test.ts,
// over real groups and links) do not reach: a commit too large for one
// frame sent point to point, where a member's proposal goes, where a
// catch-up request goes, and the owner answering a key package again with
// the Welcome it sent for it. Over recording ports and a group stand-in.
import { describe, expect, it } from 'vitest'
import {
  decodeVlanControl,
  MAX_IN_VLAN_COMMIT_BYTES,
  MemoryStorage,
  type MlsControlMessage,
  type MlsVlanPorts,
  type NodeIdentity,
  type VlanGroup,
} from '../src/index.ts'
import { requestCatchUp } from '../src/vlan-catch-up.ts'
import { sendCommit } from '../src/vlan-commits.ts'
import { newVlan, type Vlan, VlanContext } from '../src/vlan-context.ts'
import { onKeyPackage } from '../src/vlan-joining.ts'
import { sendProposal } from '../src/vlan-proposals.ts'

const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

const OWNER = '0101'
const ADMIN = '0202'
const MEMBER = '0303'
const FAR = '0404' // a member this node has no link up to

interface Recorder {
  readonly sent: { to: string; message: MlsControlMessage }[]
  readonly inVlan: Uint8Array[]
  up: Set<string>
  links: Set<string>
}

/** This node is `self`; PeerIds are hex texts; `up` are the links up. */
function setup(self: string, isOwner: boolean, members: string[]) {
  const rec: Recorder = { sent: [], inVlan: [], up: new Set(), links: new Set() }
  const ports = {
    send: (to: string, message: MlsControlMessage) => {
      if (!rec.links.has(to)) return false
      rec.sent.push({ to, message })
      return true
    },
    isUp: (p: string) => rec.up.has(p),
    hasLink: (p: string) => rec.links.has(p),
    anyPeer: () => [...rec.links][0],
    sendInVlan: (_: string, body: Uint8Array) => rec.inVlan.push(body),
    peerIdText: (b: Uint8Array) => hex(b),
    peerIdBytes: (t: string) => bytes(t),
    log: () => {},
  } as unknown as MlsVlanPorts
  // This node's own PeerId is all these parts read of its identity.
  const identity = { peerId: bytes(self) } as unknown as NodeIdentity
  const ctx = new VlanContext({ ports, identity, storage: new MemoryStorage(), now: 0 })
  const vlan: Vlan = newVlan(
    {
      name: 'v',
      vlanId: new Uint8Array(32).fill(5),
      owner: OWNER,
      isOwner,
      members: [],
      proposers: [],
      admins: [ADMIN],
      updateSeconds: undefined,
    },
    0,
  )
  const all = [self, ...members]
  vlan.group = {
    removed: false,
    epoch: 9n,
    leafIndex: 0,
    members: () => all.map((m, leafIndex) => ({ peerId: bytes(m), leafIndex })),
  } as unknown as VlanGroup
  vlan.state = 'member'
  return { ctx, vlan, rec }
}

describe('sendCommit: in the VLAN, or point to point when too large (§11.4)', () => {
  it(`up to ${MAX_IN_VLAN_COMMIT_BYTES} bytes: one kind-2 commit inside the VLAN`, async () => {
    const { ctx, vlan, rec } = setup(OWNER, true, [MEMBER])
    const bundle = new Uint8Array(MAX_IN_VLAN_COMMIT_BYTES).fill(7)
    sendCommit(ctx, vlan, bundle)
    expect(rec.inVlan).toHaveLength(1)
    expect(decodeVlanControl(rec.inVlan[0]!)).toEqual({
      ok: true,
      message: { type: 'commit', bundle },
    })
    expect(rec.sent).toEqual([])
    expect(vlan.counters.commitsSent).toBe(1)
  })

  it('larger: to every member with a link up and the removed, never to itself', async () => {
    const { ctx, vlan, rec } = setup(OWNER, true, [MEMBER, FAR])
    rec.up = new Set([OWNER, MEMBER, ADMIN])
    rec.links = new Set([OWNER, MEMBER, FAR, ADMIN])
    const bundle = new Uint8Array(MAX_IN_VLAN_COMMIT_BYTES + 1).fill(8)
    sendCommit(ctx, vlan, bundle, [ADMIN])
    expect(rec.inVlan).toEqual([])
    expect(rec.sent.map((s) => s.to).sort()).toEqual([ADMIN, MEMBER])
    for (const { message } of rec.sent)
      expect(message).toEqual({ type: 'catch-up-commit', vlanId: vlan.vlanId, bundle })
    expect(vlan.counters.commitsSent).toBe(1)
  })
})

describe('sendProposal: to the owner and the admins (§11.5)', () => {
  it('to each whose link is up, not to itself; counted once', async () => {
    const { ctx, vlan, rec } = setup(ADMIN, false, [OWNER])
    rec.up = new Set([OWNER, ADMIN])
    rec.links = new Set([OWNER, ADMIN])
    sendProposal(ctx, vlan, new Uint8Array([1, 2]))
    expect(rec.sent.map((s) => s.to)).toEqual([OWNER])
    expect(vlan.counters.proposalsSent).toBe(1)
  })

  it('throws when none could be sent', async () => {
    const { ctx, vlan, rec } = setup(MEMBER, false, [OWNER])
    rec.links = new Set([OWNER])
    expect(() => sendProposal(ctx, vlan, new Uint8Array([1]))).toThrow(/no link to the owner/)
    expect(vlan.counters.proposalsSent).toBe(0)
  })
})

describe('requestCatchUp: where the request goes (§11.8)', () => {
  const request = (vlan: Vlan) => ({
    type: 'catch-up-request',
    vlanId: vlan.vlanId,
    since: 9n,
  })

  it('on the given reply; else to the owner; else to any neighbour', async () => {
    const { ctx, vlan, rec } = setup(MEMBER, false, [OWNER])
    const replies: MlsControlMessage[] = []
    requestCatchUp(ctx, vlan, (m) => replies.push(m) > 0)
    expect(replies).toEqual([request(vlan)])
    rec.links = new Set([FAR, OWNER])
    requestCatchUp(ctx, vlan)
    rec.links = new Set([FAR])
    requestCatchUp(ctx, vlan)
    expect(rec.sent).toEqual([
      { to: OWNER, message: request(vlan) },
      { to: FAR, message: request(vlan) },
    ])
    expect(vlan.counters.catchUpRequests).toBe(3)
  })

  it('nothing once stopped, or without a group', async () => {
    const { ctx, vlan, rec } = setup(MEMBER, false, [OWNER])
    rec.links = new Set([OWNER])
    ctx.stopped = true
    requestCatchUp(ctx, vlan)
    ctx.stopped = false
    vlan.group = undefined
    requestCatchUp(ctx, vlan)
    expect(rec.sent).toEqual([])
    expect(vlan.counters.catchUpRequests).toBe(0)
  })
})

describe("onKeyPackage: the owner's answers (§11.5)", () => {
  it('a member sending again the key package it was added with gets the same Welcome again', async () => {
    const { ctx, vlan } = setup(OWNER, true, [MEMBER])
    const keyPackage = new Uint8Array([0x4b, 1])
    const welcome = new Uint8Array([0x57, 1])
    vlan.welcomes.set(MEMBER, { keyPackage, welcome })
    const replies: MlsControlMessage[] = []
    const reply = (m: MlsControlMessage) => replies.push(m) > 0
    await onKeyPackage(ctx, vlan, keyPackage, MEMBER, reply)
    // Another key package from a member: nothing.
    await onKeyPackage(ctx, vlan, new Uint8Array([0x4b, 2]), MEMBER, reply)
    expect(replies).toEqual([{ type: 'welcome', vlanId: vlan.vlanId, welcome }])
    expect(vlan.counters.welcomesResent).toBe(1)
    expect(vlan.counters.keyPackagesReceived).toBe(2)
  })

  it('from a peer not admitted: refused, kept for `vlan add`', async () => {
    const { ctx, vlan } = setup(OWNER, true, [MEMBER])
    const keyPackage = new Uint8Array([0x4b, 3])
    await onKeyPackage(ctx, vlan, keyPackage, FAR, () => true)
    expect(vlan.counters.keyPackagesRefused).toBe(1)
    expect(vlan.heldKeyPackages.get(FAR)).toEqual(keyPackage)
  })

  it('an admin keeps key packages only while a member', async () => {
    const { ctx, vlan } = setup(ADMIN, false, [OWNER])
    await onKeyPackage(ctx, vlan, new Uint8Array([1]), FAR, () => true)
    expect(vlan.heldKeyPackages.has(FAR)).toBe(true)
    vlan.state = 'joining'
    await onKeyPackage(ctx, vlan, new Uint8Array([1]), MEMBER, () => true)
    expect(vlan.heldKeyPackages.has(MEMBER)).toBe(false)
  })
})
