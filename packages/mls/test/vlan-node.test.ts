// MlsVlanNode (docs/spec/11-mls.md §11) against its ports, no daemons:
// real groups over MemoryStorage, a switch that records its epochs, and
// in-memory links that carry every CONTROL message and in-VLAN body
// through the codec, asynchronously like a network. One test clock drives
// all the timing (the node keeps no timers). The node's in-process test
// (packages/runtime/test/mls-vlans.test.ts) covers the same over the real switch,
// FileStorage and libp2p PeerIds.
import { afterEach, describe, expect, it } from 'vitest'
import {
  ACK_TIMEOUT_MS,
  CATCH_UP_RETRY_MS,
  createKeyPackage,
  decodeAdmissionRecord,
  decodeMlsControl,
  decodeVlanControl,
  encodeAdmissionRecord,
  encodeBundle,
  encodeMlsControl,
  MemoryStorage,
  type MlsControlMessage,
  MlsVlanNode,
  type MlsVlanSpec,
  mlsControlChannelOf,
  nodeIdentityFromEd25519PrivateKey,
  PROPOSALS_BURST,
  PROPOSALS_PER_SECOND,
  type Reply,
  SETTLE_MS,
  type SwitchPort,
  type VlanEpochKeys,
} from '../src/index.ts'

const VLAN = 'demo'
const VLAN_ID = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** The switch's epochs, as @peertap/switch keeps them. */
class FakeSwitch implements SwitchPort {
  readonly epochs = new Map<string, { current: number; previous?: number; next?: number }>()
  readonly kinds: string[] = []
  addVlan(name: string, keys: VlanEpochKeys): void {
    this.epochs.set(name, { current: keys.epoch })
    this.kinds.push(keys.kind)
  }
  prepareEpoch(name: string, keys: VlanEpochKeys): void {
    this.epochs.get(name)!.next = keys.epoch
  }
  setEpoch(name: string, keys: VlanEpochKeys): void {
    const e = this.epochs.get(name)!
    this.epochs.set(name, { current: keys.epoch, previous: e.current })
    this.kinds.push(keys.kind)
  }
  dropPreviousEpoch(name: string): void {
    const { current, next } = this.epochs.get(name)!
    this.epochs.set(name, { current, ...(next === undefined ? {} : { next }) })
  }
  epochsOf(name: string) {
    return { ...this.epochs.get(name)! }
  }
  /** VLANs removed, in order. */
  readonly removed: string[] = []
  removeVlan(name: string): void {
    if (!this.epochs.delete(name)) throw new Error(`no VLAN ${name}`)
    this.removed.push(name)
  }
}

interface Side {
  readonly peer: string
  readonly seed: number
  storage: MemoryStorage
  sw: FakeSwitch
  node?: MlsVlanNode | undefined
  /** Every CONTROL message it sent: to whom and what. */
  readonly sent: { to: string; message: MlsControlMessage }[]
  /** Drop what it seals inside the VLAN (a lost ack, say). */
  muteInVlan: boolean
  wakeAt: number | undefined
  /** Owners its node reported (`ownerChanged`), in order. */
  readonly owners: string[]
}

const clock = { now: 1_000_000 }
const sides: Side[] = []
afterEach(() => {
  for (const s of sides.splice(0)) s.node?.stop()
})

async function side(seed: number): Promise<Side> {
  const identity = await nodeIdentityFromEd25519PrivateKey(new Uint8Array(32).fill(seed))
  const s: Side = {
    peer: hex(identity.peerId),
    seed,
    storage: new MemoryStorage(),
    sw: new FakeSwitch(),
    sent: [],
    muteInVlan: false,
    wakeAt: undefined,
    owners: [],
  }
  sides.push(s)
  return s
}

const later = (f: () => void) => setImmediate(f)

type Lists = {
  members?: Side[]
  proposers?: Side[]
  admins?: Side[]
  updateSeconds?: number
  sendKeyPackage?: MlsVlanSpec['sendKeyPackage']
}

/** `self`'s config of the VLAN owned by `owner`. */
function specOf(self: Side, owner: Side, lists: Lists = {}, name = VLAN, vlanId = VLAN_ID) {
  const isOwner = self === owner
  return {
    name,
    vlanId,
    owner: owner.peer,
    isOwner,
    members: isOwner ? (lists.members ?? []).map((s) => s.peer) : [],
    proposers: isOwner ? (lists.proposers ?? []).map((s) => s.peer) : [],
    admins: (lists.admins ?? []).map((s) => s.peer),
    updateSeconds: lists.updateSeconds,
    ...(lists.sendKeyPackage === undefined ? {} : { sendKeyPackage: lists.sendKeyPackage }),
  }
}

/** Opens `self`'s node with one VLAN owned by `owner`, linked to every other side. */
async function open(self: Side, owner: Side, lists: Lists = {}): Promise<MlsVlanNode> {
  const identity = await nodeIdentityFromEd25519PrivateKey(new Uint8Array(32).fill(self.seed))
  const others = () => sides.filter((s) => s !== self)
  const node = new MlsVlanNode({
    identity,
    storage: self.storage,
    now: clock.now,
    ports: {
      sw: self.sw,
      send: (peer, message) => {
        const to = others().find((s) => s.peer === peer)
        if (to === undefined) return false
        self.sent.push({ to: peer, message })
        const payload = encodeMlsControl(message)
        const decoded = decodeMlsControl(mlsControlChannelOf(message), payload)
        if (!decoded.ok) throw new Error(decoded.error.detail)
        later(() => void to.node?.receive(self.peer, decoded.message, clock.now).catch(() => {}))
        return true
      },
      isUp: (peer) => others().some((s) => s.peer === peer),
      hasLink: (peer) => others().some((s) => s.peer === peer),
      anyPeer: () => others()[0]?.peer,
      sendInVlan: (vlan, body) => {
        if (self.muteInVlan) return
        expect(decodeVlanControl(body).ok).toBe(true)
        for (const s of others()) later(() => s.node?.receiveInVlan(vlan, body.slice(), clock.now))
      },
      refresh: async () => {},
      peerIdBytes: (text) => {
        if (!/^[0-9a-f]{76}$/.test(text)) throw new Error(`not a PeerId: ${text}`)
        return new Uint8Array(Buffer.from(text, 'hex'))
      },
      peerIdText: hex,
      log: () => {},
      wakeAt: (at) => {
        self.wakeAt = at
      },
      ownerChanged: (vlan, owner) => {
        expect(vlan).toBe(VLAN)
        self.owners.push(owner)
      },
    },
  })
  await node.open(specOf(self, owner, lists), clock.now)
  self.node = node
  return node
}

type Status = {
  owner: string
  role: string
  canCommit: boolean
  state: string
  epoch?: number
  members: string[]
  admitted?: string[]
  removed?: string[]
  switchEpochs?: { current: number; previous?: number; next?: number }
  counters: Record<string, number>
}
const statusOf = (s: Side) => s.node!.status()[VLAN] as Status

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
const settle = () => new Promise((r) => setTimeout(r, 50))

/** An owner and a member (admitted by the owner's config), the member joined. */
async function joinedPair(
  extra: { owner?: object; member?: object } = {},
): Promise<{ owner: Side; member: Side; epoch: number }> {
  const owner = await side(1)
  const member = await side(2)
  await open(owner, owner, { members: [member], ...extra.owner })
  await open(member, owner, extra.member)
  member.node!.linkUp(owner.peer, clock.now) // sends its key package
  await until('the member to join', () => statusOf(member).state === 'member')
  const epoch = statusOf(owner).epoch!
  await until('the member at the owner epoch', () => statusOf(member).epoch === epoch)
  return { owner, member, epoch }
}

describe('MlsVlanNode: joining and the epoch timing of §11.7', () => {
  it('a joiner holds keys nobody has, sends its key package, and is added: the owner promotes at once (no one else to wait for)', async () => {
    const { owner, member, epoch } = await joinedPair()
    expect(member.sw.kinds[0]).toBe('psk') // keys nobody holds, while joining
    expect(member.sent[0]!.message.type).toBe('key-package')
    expect(owner.sent.map((s) => s.message.type)).toContain('welcome')
    expect(statusOf(owner).switchEpochs).toMatchObject({ current: epoch })
    expect(statusOf(owner).switchEpochs!.next).toBeUndefined()
    // The joiner switches at once (nothing of the old epoch to settle) and asks for what it missed.
    expect(statusOf(member).switchEpochs).toEqual({ current: epoch })
    expect(member.sent.map((s) => s.message.type)).toContain('catch-up-request')
    expect(statusOf(owner).counters.welcomesSent).toBe(1)
  })

  it('an update: held for receiving, acknowledged, promoted by the last ack, switched, settled 2 s later', async () => {
    const { owner, member, epoch } = await joinedPair()
    const t = clock.now
    await owner.node!.update(VLAN, t)
    // Sent under the old epoch, the new one held for receiving.
    expect(statusOf(owner).switchEpochs).toMatchObject({ current: epoch, next: epoch + 1 })
    await until('the ack promotes', () => statusOf(owner).switchEpochs!.current === epoch + 1)
    await until(
      'the switch reaches the member',
      () => statusOf(member).switchEpochs!.current === epoch + 1,
    )
    expect(statusOf(member).counters.acksSent).toBeGreaterThan(0)
    expect(statusOf(owner).switchEpochs!.previous).toBe(epoch)
    expect(owner.wakeAt).toBe(t + SETTLE_MS)
    owner.node!.tick(t + SETTLE_MS)
    member.node!.tick(t + SETTLE_MS)
    expect(statusOf(owner).switchEpochs).toEqual({ current: epoch + 1 })
    expect(statusOf(member).switchEpochs).toEqual({ current: epoch + 1 })
  })

  it(`a lost ack: the owner promotes ${ACK_TIMEOUT_MS} ms after the commit and resends the commits to the silent member`, async () => {
    const { owner, member, epoch } = await joinedPair()
    member.muteInVlan = true
    const t = clock.now
    await owner.node!.update(VLAN, t)
    await settle()
    expect(statusOf(owner).switchEpochs!.current).toBe(epoch)
    expect(owner.wakeAt).toBe(t + ACK_TIMEOUT_MS)
    owner.node!.tick(t + ACK_TIMEOUT_MS - 1)
    await settle()
    expect(statusOf(owner).switchEpochs!.current).toBe(epoch)
    owner.node!.tick(t + ACK_TIMEOUT_MS)
    await until('the timeout promotes', () => statusOf(owner).switchEpochs!.current === epoch + 1)
    expect(statusOf(owner).counters.commitsResent).toBe(1)
    const resent = owner.sent.at(-1)!.message
    expect(resent.type).toBe('catch-up-answer')
    // The member holds the epoch for receiving, and switches on the owner's `switch`.
    expect(statusOf(member).switchEpochs!.current).toBe(epoch + 1)
  })

  it('a removal takes effect at once, the old epoch dropped at once; the removed member waits to be added again', async () => {
    const { owner, member, epoch } = await joinedPair()
    await owner.node!.remove(VLAN, member.peer, clock.now)
    expect(statusOf(owner).switchEpochs).toEqual({ current: epoch + 1 })
    expect(statusOf(owner).members).toEqual([owner.peer])
    expect(statusOf(owner).admitted).not.toContain(member.peer)
    // Shown as removed, so that an old invitation of its does not bring it back (spec 15 §15.9).
    expect(statusOf(owner).removed).toEqual([member.peer])
    await until('the member learns it', () => statusOf(member).counters.removed === 1)
    await until('the member joining again', () => statusOf(member).state === 'joining')
    expect(member.sw.kinds.at(-1)).toBe('psk')
    // Its fresh key package is refused (not admitted any more), but held for `vlan add`.
    clock.now += 3_000
    member.node!.tick(clock.now)
    await until('the key package refused', () => statusOf(owner).counters.keyPackagesRefused === 1)
    await owner.node!.add(VLAN, member.peer, clock.now)
    await until('added again', () => statusOf(member).state === 'member')
    expect(statusOf(owner).removed).toBeUndefined()
  })
})

describe('MlsVlanNode: proposals, periodic updates, records', () => {
  it("periodic self-update (updateSeconds): the member's Update proposal, then the owner's commit, each when its timer runs out", async () => {
    const {
      owner,
      member,
      epoch: joined,
    } = await joinedPair({
      owner: { updateSeconds: 600 },
      member: { updateSeconds: 300 },
    })
    clock.now += 299_000
    owner.node!.tick(clock.now)
    member.node!.tick(clock.now)
    await settle()
    expect(statusOf(owner).epoch).toBe(joined)
    clock.now += 2_000
    owner.node!.tick(clock.now)
    member.node!.tick(clock.now)
    await until('the member update applied', () => statusOf(member).counters.updatesApplied === 1)
    expect(statusOf(member).counters.periodicUpdates).toBe(1)
    expect(statusOf(member).epoch).toBe(joined + 1)
    expect(statusOf(owner).counters.proposalsCommitted).toBe(1)
    clock.now += 299_500
    owner.node!.tick(clock.now)
    await until('the owner update reached the member', () => statusOf(member).epoch === joined + 2)
    expect(statusOf(owner).counters.periodicUpdates).toBe(1)
    member.node!.tick(clock.now)
    await settle()
    expect(statusOf(member).counters.periodicUpdates).toBe(1)
    clock.now += 1_000
    member.node!.tick(clock.now)
    await until('the second member update', () => statusOf(member).counters.updatesApplied === 2)
    expect(statusOf(owner).epoch).toBe(joined + 3)
  }, 30_000)

  it('commits a burst of proposals from one member, then refuses the next unread until its allowance refills; the member resends it', async () => {
    const { owner, member, epoch: joined } = await joinedPair()
    for (let i = 1; i <= PROPOSALS_BURST; i++) {
      await member.node!.update(VLAN, clock.now)
      await until(`update ${i}`, () => statusOf(member).counters.updatesApplied === i)
    }
    await member.node!.update(VLAN, clock.now)
    await until('the refusal', () => statusOf(owner).counters.proposalsRateLimited === 1)
    await settle()
    expect(statusOf(owner).epoch).toBe(joined + PROPOSALS_BURST)
    clock.now += 1_000 / PROPOSALS_PER_SECOND
    member.node!.tick(clock.now) // the resend (every 2 s until applied)
    await until(
      'the held update applied',
      () => statusOf(member).counters.updatesApplied === PROPOSALS_BURST + 1,
    )
    expect(statusOf(owner).counters.proposalsRateLimited).toBe(1)
  }, 30_000)

  it('a member may not propose removing the owner; leaving is always accepted and stops its admission', async () => {
    const { owner, member } = await joinedPair()
    await expect(member.node!.remove(VLAN, owner.peer, clock.now)).rejects.toMatchObject({
      code: 'mls-owner-removal',
    })
    const result = await member.node!.remove(VLAN, member.peer, clock.now)
    expect(result).toMatchObject({ proposed: 'remove' })
    await until('left', () => statusOf(owner).members.length === 1)
    expect(statusOf(owner).admitted).not.toContain(member.peer)
    await until('the member knows', () => statusOf(member).counters.removed === 1)
  })

  it('brings an admission record left behind by a crash up to the group on load: a removed member stays out', async () => {
    const { owner, member, epoch } = await joinedPair()
    const before = encodeAdmissionRecord({
      added: [],
      removed: [],
      at: { epoch, members: [owner.peer, member.peer] },
    })
    await owner.node!.remove(VLAN, member.peer, clock.now)
    owner.node!.stop()
    await owner.storage.write(`admitted-${hex(VLAN_ID)}`, before)
    owner.sw = new FakeSwitch()
    await open(owner, owner, { members: [member] })
    expect(statusOf(owner).epoch).toBe(epoch + 1)
    expect(statusOf(owner).admitted).not.toContain(member.peer)
  })

  it('a joiner restarted before its Welcome keeps its stored key package', async () => {
    const owner = await side(1)
    const member = await side(2)
    await open(member, owner)
    const first = member.sent.length
    member.node!.linkUp(owner.peer, clock.now)
    const kp = member.sent[first]!.message
    member.node!.stop()
    await open(member, owner)
    member.node!.linkUp(owner.peer, clock.now)
    expect(member.sent.at(-1)!.message).toEqual(kp)
  })
})

describe('MlsVlanNode: catch-up and strangers', () => {
  it("refuses a stranger's catch-up requests and point-to-point commits; answers a member at most once a second; tells a member behind its log nothing", async () => {
    const { owner, member, epoch } = await joinedPair()
    const stranger = await side(3)
    const request = (since: bigint): MlsControlMessage => ({
      type: 'catch-up-request',
      vlanId: VLAN_ID,
      since,
    })
    const replies: MlsControlMessage[] = []
    const reply = (m: MlsControlMessage) => replies.push(m) > 0
    await owner.node!.receive(stranger.peer, request(0n), clock.now, reply)
    expect(replies).toHaveLength(0)
    expect(statusOf(owner).counters.catchUpRefused).toBe(1)
    await member.node!.receive(
      stranger.peer,
      {
        type: 'catch-up-commit',
        vlanId: VLAN_ID,
        bundle: Uint8Array.of(0, 1, 2, 3),
      },
      clock.now,
    )
    expect(statusOf(member).counters.commitsRefused).toBe(1)

    clock.now += 1_100
    await owner.node!.receive(member.peer, request(BigInt(epoch - 1)), clock.now, reply)
    await owner.node!.receive(member.peer, request(BigInt(epoch - 1)), clock.now, reply)
    expect(replies.map((m) => m.type)).toEqual(['catch-up-answer'])
    clock.now += 1_100
    // A request from before the owner's log: no answer, counted.
    await owner.node!.update(VLAN, clock.now)
    for (let i = 0; i < 65; i++) await owner.node!.update(VLAN, clock.now)
    clock.now += 1_100
    await owner.node!.receive(member.peer, request(BigInt(epoch)), clock.now, reply)
    expect(replies).toHaveLength(1)
    expect(statusOf(owner).counters.catchUpTooOld).toBe(1)
  }, 60_000)

  it('an answer that does not reach back (mls-gap): asks again after 1 s, then 2 s, …', async () => {
    const { owner, member, epoch } = await joinedPair()
    const gap: MlsControlMessage = {
      type: 'catch-up-answer',
      vlanId: VLAN_ID,
      bundles: [
        encodeBundle({ epoch: BigInt(epoch + 5), proposals: [], commit: Uint8Array.of(1, 2, 3) }),
      ],
    }
    const asked = () => statusOf(member).counters.catchUpRequests!
    const before = asked()
    const t = clock.now
    await member.node!.receive(owner.peer, gap, t)
    expect(member.wakeAt).toBe(t + CATCH_UP_RETRY_MS)
    member.node!.tick(t + CATCH_UP_RETRY_MS - 1)
    expect(asked()).toBe(before)
    member.node!.tick(t + CATCH_UP_RETRY_MS)
    expect(asked()).toBe(before + 1)
    const t2 = t + CATCH_UP_RETRY_MS
    await member.node!.receive(owner.peer, gap, t2)
    expect(member.wakeAt).toBe(t2 + 2 * CATCH_UP_RETRY_MS)
  })

  it('knows the owner, admins and members; lets only them send large messages', async () => {
    const { owner, member } = await joinedPair()
    const stranger = await side(3)
    expect(owner.node!.knows(member.peer)).toBe(true)
    expect(member.node!.knows(owner.peer)).toBe(true)
    expect(owner.node!.knows(stranger.peer)).toBe(false)
    expect(owner.node!.maySendLarge(member.peer)).toBe(true)
    expect(owner.node!.maySendLarge(stranger.peer)).toBe(false)
    expect(owner.node!.maySendLarge('not a peer id')).toBe(false)
  })
})

describe('MlsVlanNode: VLANs closed, left and joined by invitation at run time (issue 17)', () => {
  const recordsOf = (s: Side) => s.storage.names().filter((n) => n.endsWith(hex(VLAN_ID)))
  /** A reply from `from` to `to`, carried like `send` (a join request's answer). */
  const replyTo =
    (from: Side, to: Side): Reply =>
    (message) => {
      from.sent.push({ to: to.peer, message })
      later(() => void to.node?.receive(from.peer, message, clock.now).catch(() => {}))
      return true
    }

  it('close: nothing more handled or sent for it, removed from the switch; opened again, the stored group comes back', async () => {
    const { owner, member, epoch } = await joinedPair()
    const kept = recordsOf(member)
    await member.node!.close(VLAN, { forget: false })
    expect(member.sw.removed).toEqual([VLAN])
    expect(member.node!.status()[VLAN]).toBeUndefined()
    expect(member.node!.isMls(VLAN)).toBe(false)
    expect(member.node!.knows(owner.peer)).toBe(false)
    expect(recordsOf(member)).toEqual(kept)
    await expect(member.node!.close(VLAN, { forget: false })).rejects.toMatchObject({
      code: 'mls-unknown-vlan',
    })
    // The owner's update reaches it no more: no ack, no catch-up, nothing sent.
    const sent = member.sent.length
    await owner.node!.update(VLAN, clock.now)
    await settle()
    clock.now += 10_000
    member.node!.tick(clock.now)
    member.node!.linkUp(owner.peer, clock.now)
    await settle()
    expect(member.sent.length).toBe(sent)
    // Opened again: the stored group, at the epoch it had; it catches up with the owner.
    await member.node!.open(specOf(member, owner), clock.now)
    expect(statusOf(member)).toMatchObject({ state: 'member', epoch })
    member.node!.linkUp(owner.peer, clock.now)
    await until('caught up', () => statusOf(member).epoch === epoch + 1)
  })

  it('close drops a pending epoch change and its resends: no deadline, nothing sent afterwards', async () => {
    const { owner, member } = await joinedPair()
    member.muteInVlan = true
    const t = clock.now
    await owner.node!.update(VLAN, t)
    expect(owner.node!.nextDeadline()).toBe(t + ACK_TIMEOUT_MS)
    await owner.node!.close(VLAN, { forget: false })
    expect(owner.node!.nextDeadline()).toBeUndefined()
    expect(owner.wakeAt).toBeUndefined()
    const sent = owner.sent.length
    owner.node!.tick(t + ACK_TIMEOUT_MS)
    owner.node!.linkUp(member.peer, t + ACK_TIMEOUT_MS)
    await owner.node!.receive(
      member.peer,
      { type: 'catch-up-request', vlanId: VLAN_ID, since: 0n },
      t + ACK_TIMEOUT_MS,
    )
    await settle()
    expect(owner.sent.length).toBe(sent)
    expect(owner.node!.knows(member.peer)).toBe(false)
  })

  it("close leaves the node's other VLANs as they are", async () => {
    const { owner, member, epoch } = await joinedPair()
    const otherId = Uint8Array.from({ length: 32 }, (_, i) => 0x10 + i)
    await owner.node!.open(specOf(owner, owner, {}, 'other', otherId), clock.now)
    await owner.node!.close(VLAN, { forget: true })
    expect(Object.keys(owner.node!.status())).toEqual(['other'])
    expect(owner.sw.epochs.has('other')).toBe(true)
    await owner.node!.update('other', clock.now)
    expect(owner.node!.members('other')).toEqual([{ peerId: owner.peer, leafIndex: 0, self: true }])
    expect(owner.storage.names()).toContain(`mls-${hex(otherId)}`)
    expect(statusOf(member).epoch).toBe(epoch)
  })

  it('an owner closed with forget: its records deleted; opened again, a fresh group', async () => {
    const { owner, member, epoch } = await joinedPair()
    await owner.node!.add(VLAN, (await side(3)).peer, clock.now) // an admitted- record
    expect(recordsOf(owner).sort()).toEqual([`admitted-${hex(VLAN_ID)}`, `mls-${hex(VLAN_ID)}`])
    await owner.node!.close(VLAN, { forget: true })
    expect(recordsOf(owner)).toEqual([])
    await owner.node!.open(specOf(owner, owner), clock.now)
    expect(statusOf(owner)).toMatchObject({ state: 'member', epoch: 0, members: [owner.peer] })
    expect(statusOf(owner).admitted).toEqual([])
    expect(epoch).toBeGreaterThan(0)
    expect(owner.node!.knows(member.peer)).toBe(false)
  })

  it('a member leaves (its Remove proposal), closes with forget, and, opened again, joins afresh with a new key package', async () => {
    const { owner, member } = await joinedPair()
    const firstKp = member.sent.find((s) => s.message.type === 'key-package')!.message
    const left = await member.node!.leave(VLAN, clock.now)
    expect(left).toMatchObject({ vlan: VLAN, proposed: true })
    expect(member.sent.at(-1)).toMatchObject({ to: owner.peer, message: { type: 'proposal' } })
    await until('the owner commits it', () => statusOf(owner).members.length === 1)
    expect(statusOf(owner).admitted).not.toContain(member.peer)
    await member.node!.close(VLAN, { forget: true })
    expect(recordsOf(member)).toEqual([])
    await member.node!.open(specOf(member, owner), clock.now)
    expect(statusOf(member).state).toBe('joining')
    member.node!.linkUp(owner.peer, clock.now)
    const kp = member.sent.at(-1)!.message
    expect(kp.type).toBe('key-package')
    expect(kp).not.toEqual(firstKp)
    await until('held by the owner', () => statusOf(owner).counters.keyPackagesRefused === 1)
    await owner.node!.add(VLAN, member.peer, clock.now)
    await until('a member again', () => statusOf(member).state === 'member')
    // A joiner has nothing to leave; the owner may not leave.
    const joiner = await side(3)
    await open(joiner, owner)
    expect(await joiner.node!.leave(VLAN, clock.now)).toEqual({
      vlan: VLAN,
      proposed: false,
      epoch: undefined,
    })
    await expect(owner.node!.leave(VLAN, clock.now)).rejects.toMatchObject({
      code: 'mls-owner-removal',
    })
    await expect(owner.node!.leave('nope', clock.now)).rejects.toMatchObject({
      code: 'mls-unknown-vlan',
    })
  })

  it("members: the group's members with their leaves, this node marked; none while joining; an unknown VLAN refused", async () => {
    const { owner, member } = await joinedPair()
    expect(owner.node!.members(VLAN)).toEqual([
      { peerId: owner.peer, leafIndex: 0, self: true },
      { peerId: member.peer, leafIndex: 1, self: false },
    ])
    expect(member.node!.members(VLAN).find((m) => m.self)?.peerId).toBe(member.peer)
    const joiner = await side(3)
    await open(joiner, owner)
    expect(joiner.node!.members(VLAN)).toEqual([])
    expect(() => owner.node!.members('nope')).toThrow(
      expect.objectContaining({ code: 'mls-unknown-vlan' }),
    )
  })

  it('by invitation: the joiner hands its key package to the hook (owner only, on link up and every 3 s), the owner admits it, the Welcome goes by the reply; the same key package again gets the same Welcome', async () => {
    const owner = await side(1)
    const admin = await side(4)
    const joiner = await side(2)
    const handed: { peer: string; vlanId: Uint8Array; keyPackage: Uint8Array }[] = []
    await open(owner, owner, { admins: [admin] })
    await open(joiner, owner, {
      admins: [admin],
      sendKeyPackage: async (peer, vlanId, keyPackage) =>
        handed.push({ peer, vlanId, keyPackage }) > 0,
    })
    joiner.node!.linkUp(admin.peer, clock.now)
    expect(handed).toHaveLength(0)
    joiner.node!.linkUp(owner.peer, clock.now)
    expect(handed).toHaveLength(1)
    expect(handed[0]).toMatchObject({ peer: owner.peer, vlanId: VLAN_ID })
    clock.now += 3_000
    joiner.node!.tick(clock.now)
    expect(handed.map((h) => h.peer)).toEqual([owner.peer, owner.peer])
    expect(joiner.sent.filter((s) => s.message.type === 'key-package')).toEqual([])
    await until('counted', () => statusOf(joiner).counters.keyPackagesSent === 2)

    const keyPackage = handed[0]!.keyPackage
    const outcome = await owner.node!.admitJoiner(
      VLAN,
      joiner.peer,
      keyPackage,
      clock.now,
      replyTo(owner, joiner),
    )
    expect(outcome).toBe('added')
    expect(statusOf(owner).admitted).toContain(joiner.peer)
    const record = decodeAdmissionRecord((await owner.storage.read(`admitted-${hex(VLAN_ID)}`))!)
    expect(record.ok && record.message.added).toEqual([joiner.peer])
    await until('joined by Welcome', () => statusOf(joiner).state === 'member')
    expect(statusOf(joiner).epoch).toBe(statusOf(owner).epoch)
    expect(statusOf(owner).counters.welcomesSent).toBe(1)

    // Its Welcome was lost: the same key package again, the same Welcome again.
    const welcome = owner.sent.find((s) => s.message.type === 'welcome')!.message
    const again: MlsControlMessage[] = []
    const outcome2 = await owner.node!.admitJoiner(
      VLAN,
      joiner.peer,
      keyPackage,
      clock.now,
      (m) => again.push(m) > 0,
    )
    expect(outcome2).toBe('again')
    expect(again).toEqual([welcome])
    expect(statusOf(owner).counters.welcomesResent).toBe(1)
    expect(statusOf(owner).members).toHaveLength(2)

    // It comes back with a new key package (it left, or lost its state, before the owner
    // committed its leaving): its old leaf goes and the new key package is added.
    const fresh = await createKeyPackage({
      identity: await nodeIdentityFromEd25519PrivateKey(new Uint8Array(32).fill(joiner.seed)),
    })
    const epochBefore = statusOf(owner).epoch as number
    const outcome3 = await owner.node!.admitJoiner(
      VLAN,
      joiner.peer,
      fresh.keyPackage,
      clock.now,
      () => true,
    )
    expect(outcome3).toBe('added')
    expect(statusOf(owner).members).toHaveLength(2)
    expect(statusOf(owner).epoch).toBe(epochBefore + 2)
  })

  it('by invitation, on an admin holding a lease: it admits and adds the joiner, whose Welcome comes from it', async () => {
    // A lease is checked against the groups' clock, the wall clock.
    clock.now = Math.max(clock.now, Date.now())
    const owner = await side(1)
    const admin = await side(2)
    const joiner = await side(3)
    await open(owner, owner, { members: [admin], admins: [admin] })
    await open(admin, owner, { admins: [admin] })
    admin.node!.linkUp(owner.peer, clock.now)
    await until('the admin joined', () => statusOf(admin).state === 'member')
    await owner.node!.lease(VLAN, admin.peer, 600, clock.now)
    await until('the lease accepted', () => statusOf(admin).counters.leasesAccepted === 1)
    const handed: Uint8Array[] = []
    await open(joiner, owner, {
      admins: [admin],
      sendKeyPackage: (_peer, _vlanId, keyPackage) => handed.push(keyPackage) > 0,
    })
    joiner.node!.linkUp(owner.peer, clock.now)
    expect(statusOf(joiner).counters.keyPackagesSent).toBe(1)
    const outcome = await admin.node!.admitJoiner(
      VLAN,
      joiner.peer,
      handed[0]!,
      clock.now,
      replyTo(admin, joiner),
    )
    expect(outcome).toBe('added')
    await until('joined by the Welcome of the admin', () => statusOf(joiner).state === 'member')
    await until('the owner has it', () => statusOf(owner).members.includes(joiner.peer))
    expect(statusOf(owner).admitted).toContain(joiner.peer)
  })

  it("admitJoiner refuses a key package whose credential is not the peer's, admitting nobody; and refuses on a member that may not commit", async () => {
    const { owner, member } = await joinedPair()
    const joiner = await side(3)
    const stranger = await nodeIdentityFromEd25519PrivateKey(new Uint8Array(32).fill(9))
    const { keyPackage } = await createKeyPackage({ identity: stranger })
    const replies: MlsControlMessage[] = []
    const writes = owner.storage.writes
    await expect(
      owner.node!.admitJoiner(VLAN, joiner.peer, keyPackage, clock.now, (m) => replies.push(m) > 0),
    ).rejects.toMatchObject({ code: 'mls-credential-mismatch' })
    expect(statusOf(owner).admitted).not.toContain(joiner.peer)
    expect(statusOf(owner).members).toHaveLength(2)
    expect(statusOf(owner).counters.keyPackagesRefused).toBe(1)
    expect(owner.storage.writes).toBe(writes)
    expect(replies).toEqual([])
    expect(owner.node!.knows(joiner.peer)).toBe(false)
    // Garbage is refused as well.
    await expect(
      owner.node!.admitJoiner(VLAN, joiner.peer, Uint8Array.of(1, 2, 3), clock.now, () => true),
    ).rejects.toMatchObject({ code: 'mls-malformed' })
    // A member without a lease does not admit.
    const own = await createKeyPackage({
      identity: await nodeIdentityFromEd25519PrivateKey(new Uint8Array(32).fill(joiner.seed)),
    })
    await expect(
      member.node!.admitJoiner(VLAN, joiner.peer, own.keyPackage, clock.now, () => true),
    ).rejects.toMatchObject({ code: 'mls-not-committer' })
  })

  it('admitJoiner that fails after admitting (the Add not stored) admits nobody: the admission is undone and stored', async () => {
    const { owner } = await joinedPair()
    const joiner = await side(3)
    const { keyPackage } = await createKeyPackage({
      identity: await nodeIdentityFromEd25519PrivateKey(new Uint8Array(32).fill(joiner.seed)),
    })
    // The disk refuses every write but the admission record's.
    const write = owner.storage.write.bind(owner.storage)
    owner.storage.write = async (name, bytes) => {
      if (!name.startsWith('admitted-')) throw new Error('disk full')
      return write(name, bytes)
    }
    await expect(
      owner.node!.admitJoiner(VLAN, joiner.peer, keyPackage, clock.now, () => true),
    ).rejects.toThrow()
    expect(statusOf(owner).admitted).not.toContain(joiner.peer)
    expect(owner.node!.knows(joiner.peer)).toBe(false)
    const record = decodeAdmissionRecord((await owner.storage.read(`admitted-${hex(VLAN_ID)}`))!)
    expect(record.ok && record.message.added).not.toContain(joiner.peer)
  })
})

describe('MlsVlanNode: transfer of ownership (11-mls.md §12, issue 17)', () => {
  /** Owner A with members B and C (admitted by A's config), all joined at one epoch. */
  async function trio(): Promise<{ a: Side; b: Side; c: Side }> {
    const a = await side(1)
    const b = await side(2)
    const c = await side(3)
    await open(a, a, { members: [b, c] })
    for (const m of [b, c]) {
      await open(m, a)
      m.node!.linkUp(a.peer, clock.now)
      await until('joined', () => statusOf(m).state === 'member')
    }
    const epoch = statusOf(a).epoch!
    for (const m of [b, c]) await until('same epoch', () => statusOf(m).epoch === epoch)
    return { a, b, c }
  }

  it('A transfers to B: roles, ownerOf and the admitted set move; B adds and removes; A can no longer commit', async () => {
    const { a, b, c } = await trio()
    const epoch = statusOf(a).epoch!
    const out = await a.node!.transfer(VLAN, b.peer, clock.now)
    expect(out).toEqual({ vlan: VLAN, owner: b.peer, previousOwner: a.peer, epoch: epoch + 1 })
    expect(statusOf(a)).toMatchObject({ role: 'member', owner: b.peer, canCommit: false })
    expect(statusOf(a).admitted).toBeUndefined()
    expect(a.storage.names()).not.toContain(`admitted-${hex(VLAN_ID)}`)
    expect(a.owners).toEqual([b.peer])
    for (const s of [b, c])
      await until('the transfer processed', () => s.node!.ownerOf(VLAN) === b.peer)
    expect(statusOf(b)).toMatchObject({ role: 'owner', owner: b.peer, canCommit: true })
    expect(new Set(statusOf(b).admitted)).toEqual(new Set([a.peer, c.peer]))
    expect(statusOf(c)).toMatchObject({ role: 'member', owner: b.peer })
    expect([b.owners, c.owners]).toEqual([[b.peer], [b.peer]])
    // Everyone switches to the transfer's epoch (acks to A, A's switch).
    for (const s of [a, b, c])
      await until('switched', () => statusOf(s).switchEpochs!.current === epoch + 1)

    // B adds D (whose config names B) and removes C; A follows.
    const d = await side(4)
    await open(d, b)
    d.node!.linkUp(b.peer, clock.now)
    await until('D key package held', () => statusOf(b).counters.keyPackagesRefused === 1)
    await b.node!.add(VLAN, d.peer, clock.now)
    await until('D joined', () => statusOf(d).state === 'member')
    await until('A has D', () => statusOf(a).members.includes(d.peer))
    await b.node!.remove(VLAN, c.peer, clock.now)
    await until('C removed', () => statusOf(c).counters.removed === 1)
    await until('A without C', () => !statusOf(a).members.includes(c.peer))
    expect(statusOf(b).admitted).not.toContain(c.peer)
    // C, removed and restarted with a config that still names A, joins again through B.
    c.node!.stop()
    await open(c, a)
    expect(statusOf(c)).toMatchObject({ state: 'joining', owner: b.peer })
    c.node!.linkUp(b.peer, clock.now)
    expect(c.sent.at(-1)).toMatchObject({ to: b.peer, message: { type: 'key-package' } })
    await until('C key package held', () => statusOf(b).counters.keyPackagesRefused === 2)
    await b.node!.add(VLAN, c.peer, clock.now)
    await until('C back', () => statusOf(c).state === 'member')
    await until('A has C', () => statusOf(a).members.includes(c.peer))
    await b.node!.remove(VLAN, c.peer, clock.now)
    await until('A without C again', () => !statusOf(a).members.includes(c.peer))

    // A is a plain member: it may not transfer, and its update is a proposal B commits.
    await expect(a.node!.transfer(VLAN, d.peer, clock.now)).rejects.toMatchObject({
      code: 'mls-not-committer',
    })
    const before = statusOf(b).epoch!
    expect(await a.node!.update(VLAN, clock.now)).toMatchObject({ proposed: 'update' })
    await until('A update applied by B', () => statusOf(a).counters.updatesApplied === 1)
    expect(statusOf(b).epoch).toBe(before + 1)
    // The founder may now be removed by the new owner, and may leave.
    await b.node!.remove(VLAN, a.peer, clock.now)
    await until('A removed', () => statusOf(a).counters.removed === 1)
  }, 30_000)

  it('refuses a transfer on a member, to a non-member, to itself, of an unknown VLAN', async () => {
    const { a, b } = await trio()
    const stranger = await side(9)
    await expect(b.node!.transfer(VLAN, a.peer, clock.now)).rejects.toMatchObject({
      name: 'MlsError',
      code: 'mls-not-committer',
    })
    await expect(a.node!.transfer(VLAN, stranger.peer, clock.now)).rejects.toMatchObject({
      code: 'mls-membership',
    })
    await expect(a.node!.transfer(VLAN, 'not a peer', clock.now)).rejects.toMatchObject({
      code: 'mls-membership',
    })
    await expect(a.node!.transfer(VLAN, a.peer, clock.now)).rejects.toMatchObject({
      code: 'mls-membership',
    })
    await expect(a.node!.transfer('nope', b.peer, clock.now)).rejects.toMatchObject({
      code: 'mls-unknown-vlan',
    })
    expect(() => a.node!.ownerOf('nope')).toThrow(
      expect.objectContaining({ code: 'mls-unknown-vlan' }),
    )
    expect(statusOf(a).role).toBe('owner')
  })

  it('restarts: A with its old config comes back a member of B; B with its member config comes back the owner, admitting the members', async () => {
    const { a, b, c } = await trio()
    await a.node!.transfer(VLAN, b.peer, clock.now)
    for (const s of [b, c]) await until('processed', () => s.node!.ownerOf(VLAN) === b.peer)
    for (const s of [a, b]) {
      s.node!.stop()
      await open(s, a) // the config still names A
    }
    expect(a.node!.ownerOf(VLAN)).toBe(b.peer)
    expect(statusOf(a)).toMatchObject({ role: 'member', owner: b.peer, state: 'member' })
    expect(statusOf(a).admitted).toBeUndefined()
    expect(statusOf(b)).toMatchObject({ role: 'owner', owner: b.peer, canCommit: true })
    expect(new Set(statusOf(b).admitted)).toEqual(new Set([a.peer, c.peer]))
    // A crash between the transfer commit and B's admission record: B,
    // restarted, admits the members all the same (and writes the record).
    const admitted = `admitted-${hex(VLAN_ID)}`
    b.node!.stop()
    await b.storage.delete(admitted)
    await open(b, a)
    expect(new Set(statusOf(b).admitted)).toEqual(new Set([a.peer, c.peer]))
    expect(decodeAdmissionRecord((await b.storage.read(admitted))!).ok).toBe(true)
    // The restarted B commits, the restarted A follows.
    const epoch = statusOf(b).epoch!
    await b.node!.update(VLAN, clock.now)
    await until('A follows', () => statusOf(a).epoch === epoch + 1)
    expect(a.node!.knows(b.peer)).toBe(true)
  })

  it('C, away during the transfer and the new owner commits, catches up when it comes back and follows B', async () => {
    const { a, b, c } = await trio()
    c.node!.stop()
    c.node = undefined
    await a.node!.transfer(VLAN, b.peer, clock.now)
    await until('B is the owner', () => b.node!.ownerOf(VLAN) === b.peer)
    await b.node!.update(VLAN, clock.now)
    const epoch = statusOf(b).epoch!
    await until('A at B epoch', () => statusOf(a).epoch === epoch)
    await open(c, a) // its config still names A: it asks A for what it missed
    expect(c.node!.ownerOf(VLAN)).toBe(a.peer)
    clock.now += 1_000 // A answers C at most once a second
    c.node!.linkUp(a.peer, clock.now)
    await until('C caught up', () => statusOf(c).epoch === epoch)
    expect(statusOf(c)).toMatchObject({ role: 'member', owner: b.peer })
    expect(c.owners).toEqual([b.peer])
    // Its proposals now go to B.
    await c.node!.update(VLAN, clock.now)
    await until('C update applied', () => statusOf(c).counters.updatesApplied === 1)
    expect(c.sent.at(-1)).toMatchObject({ to: b.peer, message: { type: 'proposal' } })
  })
})
