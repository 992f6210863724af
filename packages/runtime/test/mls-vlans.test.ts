// The node's MLS layer (mls-vlans.ts over @peertap/mls's MlsVlanNode) in
// one process: two real MlsVlans (real groups, real FileStorage, real
// switches, one test clock for all their timing), joined by in-memory links
// that carry CONTROL messages and kind-2 bodies between them. The trunk and
// the VLAN's sealing are left out (the e2e tests cover them); this covers
// the periodic self-update, whose timer the e2e overlay cannot wait for,
// and what a stranger or a member far behind may and may not make a node do.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { PROPOSALS_BURST, PROPOSALS_PER_SECOND } from '@peertap/mls'
import { Switch } from '@peertap/switch'
import type { Control, Link } from '@peertap/trunk'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../src/config.ts'
import { MlsVlans } from '../src/mls-vlans.ts'

interface Side {
  readonly peerId: string
  readonly privateKey: Uint8Array
  mls?: MlsVlans | undefined
  link?: Link
  /** Its state directory (kept across a restart). */
  dir?: string
}

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function side(): Promise<Side> {
  const key = await generateKeyPair('Ed25519')
  return { peerId: peerIdFromPrivateKey(key).toString(), privateKey: key.raw }
}

/** Opens `self`'s MLS layer with `mls` config, wired to `other` (both ways, async like a network). */
async function open(self: Side, other: Side, mls: unknown, clock: () => number): Promise<MlsVlans> {
  if (self.dir === undefined) {
    self.dir = await mkdtemp(join(tmpdir(), 'peertap-mls-vlans-'))
    dirs.push(self.dir)
  }
  const dir = self.dir
  const config = parseConfig({
    stateDir: dir,
    vlans: [{ name: 'demo', mls, port: { type: 'tap', device: 'pt0' } }],
  })
  const later = (f: () => void) => setImmediate(f)
  self.link = {
    id: other.peerId,
    status: 'up',
    sendControl: (c: Control) => {
      const copy = { channel: c.channel, payload: c.payload.slice() }
      later(() => other.mls?.onControl(copy, other.link!))
      return true
    },
  } as unknown as Link
  const sw = new Switch({ hasRemoteSubscriber: () => false })
  const node = await MlsVlans.open({
    host: {
      sw,
      log: pino({ level: 'silent' }),
      getLink: (peer) => (peer === other.peerId ? self.link : undefined),
      links: () => [self.link!],
      sendInVlan: (vlan, body) => {
        const copy = body.slice()
        later(() => other.mls?.onVlanControl(vlan, copy))
      },
      refresh: async () => {},
    },
    stateDir: dir,
    privateKey: self.privateKey,
    selfPeerId: self.peerId,
    clock,
  })
  for (const vlan of config.vlans) if (vlan.mls !== undefined) await node.openVlan(vlan)
  return node
}

type Status = {
  vlanId: string
  fragments: Record<string, number>
  state: string
  epoch?: number
  members: string[]
  counters: Record<string, number>
}
const statusOf = (m: MlsVlans) => m.status().demo as Status

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * An owner and a member (config `members: [member]`, plus `extra` for
 * each side) with their MLS layers open and the member joined.
 */
async function joinedPair(
  clock: { now: number },
  extra: { owner?: object; member?: object } = {},
): Promise<{ owner: Side; member: Side; epoch: number }> {
  const owner = await side()
  const member = await side()
  const ownerConfig = { owner: 'self', members: [member.peerId], ...extra.owner }
  owner.mls = await open(owner, member, ownerConfig, () => clock.now)
  const memberConfig = { owner: owner.peerId, ...extra.member }
  member.mls = await open(member, owner, memberConfig, () => clock.now)
  member.mls.onLinkUp(member.link!) // sends its key package
  await until('the member to join', () => statusOf(member.mls!).state === 'member')
  const epoch = statusOf(owner.mls).epoch!
  await until('the member at the owner epoch', () => statusOf(member.mls!).epoch === epoch)
  return { owner, member, epoch }
}

describe('the MLS layer of two nodes in one process', () => {
  it("periodic self-update (config updateSeconds): the member's Update proposal, then the owner's commit, each when its timer runs out", async () => {
    const clock = { now: 1_000_000 }
    const {
      owner,
      member,
      epoch: joined,
    } = await joinedPair(clock, {
      owner: { updateSeconds: 600 },
      member: { updateSeconds: 300 },
    })
    if (owner.mls === undefined || member.mls === undefined) throw new Error('not open')

    // Before the timers run out, ticks change nothing.
    clock.now += 299_000
    owner.mls.tick()
    member.mls.tick()
    await new Promise((r) => setTimeout(r, 100))
    expect(statusOf(owner.mls).epoch).toBe(joined)

    // The member's timer (300 s) runs out: its Update proposal, committed by the owner.
    clock.now += 2_000
    owner.mls.tick()
    member.mls.tick()
    await until(
      'the member update applied',
      () => statusOf(member.mls!).counters.updatesApplied === 1,
    )
    const m = statusOf(member.mls)
    expect(m.counters.periodicUpdates).toBe(1)
    expect(m.epoch).toBe(joined + 1)
    const o = statusOf(owner.mls)
    expect(o.counters.proposalsCommitted).toBe(1)
    expect(o.counters.periodicUpdates).toBe(0)

    // The owner's timer (600 s from its start) runs out first: its own update
    // commit (the member's is 299.5 s old).
    clock.now += 299_500
    owner.mls.tick()
    await until(
      'the owner update reached the member',
      () => statusOf(member.mls!).epoch === joined + 2,
    )
    expect(statusOf(owner.mls).counters.periodicUpdates).toBe(1)
    expect(statusOf(owner.mls).epoch).toBe(joined + 2)
    // The member's next one is 300 s after its last.
    member.mls.tick()
    await new Promise((r) => setTimeout(r, 100))
    expect(statusOf(member.mls).counters.periodicUpdates).toBe(1)
    clock.now += 1_000
    member.mls.tick()
    await until(
      'the second member update',
      () => statusOf(member.mls!).counters.updatesApplied === 2,
    )
    expect(statusOf(owner.mls).epoch).toBe(joined + 3)
    owner.mls.stop()
    member.mls.stop()
  }, 30_000)

  it('commits a burst of proposals from one member, then refuses the next unread until its allowance refills', async () => {
    const clock = { now: 1_000_000 }
    const { owner, member, epoch: joined } = await joinedPair(clock)
    if (owner.mls === undefined || member.mls === undefined) throw new Error('not open')

    // A member asking for update after update: each one a commit, up to the burst.
    for (let i = 1; i <= PROPOSALS_BURST; i++) {
      await member.mls.update('demo')
      await until(`update ${i} applied`, () => statusOf(member.mls!).counters.updatesApplied === i)
    }
    expect(statusOf(owner.mls).counters.proposalsCommitted).toBe(PROPOSALS_BURST)
    // The next, at the same moment: refused before its signature is read, no commit.
    await member.mls.update('demo')
    await until('the refusal', () => statusOf(owner.mls!).counters.proposalsRateLimited === 1)
    await new Promise((r) => setTimeout(r, 100))
    expect(statusOf(owner.mls).epoch).toBe(joined + PROPOSALS_BURST)
    expect(statusOf(owner.mls).counters.proposalsCommitted).toBe(PROPOSALS_BURST)
    // One allowance later the member's resend (every 2 s until applied) goes through.
    clock.now += 1_000 / PROPOSALS_PER_SECOND
    member.mls.tick()
    await until(
      'the held update applied',
      () => statusOf(member.mls!).counters.updatesApplied === PROPOSALS_BURST + 1,
    )
    expect(statusOf(owner.mls).counters.proposalsRateLimited).toBe(1)
    expect(statusOf(owner.mls).epoch).toBe(joined + PROPOSALS_BURST + 1)
    owner.mls.stop()
    member.mls.stop()
  }, 30_000)

  it('brings an admission record left behind by a crash up to the group on load: a removed member stays out', async () => {
    const clock = { now: 1_000_000 }
    const { owner, member } = await joinedPair(clock)
    if (owner.mls === undefined || member.mls === undefined) throw new Error('not open')
    const config = { owner: 'self', members: [member.peerId] }
    const joined = statusOf(owner.mls)
    const hexOf = (peer: string) =>
      Buffer.from(peerIdFromString(peer).toMultihash().bytes).toString('hex')
    // The admission record as of the join: nobody removed.
    const before = JSON.stringify({
      added: [],
      removed: [],
      epoch: joined.epoch,
      members: [owner.peerId, member.peerId].map(hexOf),
    })
    await owner.mls.remove('demo', member.peerId)
    expect(statusOf(owner.mls).members).toEqual([owner.peerId])
    // A crash between a commit that removed the member and the owner's
    // record of it (as after an admin's commit): the group record is at the
    // new epoch, the admission record still at the old one.
    owner.mls.stop()
    member.mls.stop()
    await writeFile(join(owner.dir!, 'mls', `admitted-${joined.vlanId}`), before)
    owner.mls = await open(owner, member, config, () => clock.now)
    const reloaded = statusOf(owner.mls) as Status & { admitted: string[] }
    expect(reloaded.epoch).toBe(joined.epoch! + 1)
    expect(reloaded.admitted).not.toContain(member.peerId)
    owner.mls.stop()
  }, 30_000)

  it("refuses a stranger's fragments, catch-up requests and point-to-point commits; answers a member at most once a second; tells a member behind its log nothing, once", async () => {
    const clock = { now: 1_000_000 }
    const owner = await side()
    const member = await side()
    const stranger = await side()
    owner.mls = await open(
      owner,
      member,
      { owner: 'self', members: [member.peerId] },
      () => clock.now,
    )
    member.mls = await open(member, owner, { owner: owner.peerId }, () => clock.now)
    member.mls.onLinkUp(member.link!)
    await until('the member to join', () => statusOf(member.mls!).state === 'member')
    const vlanId = Buffer.from(statusOf(owner.mls).vlanId, 'hex')
    // What the owner and the member send back to the stranger.
    const toStranger: Control[] = []
    const strangerLink = (id: string) =>
      ({
        id,
        status: 'up',
        sendControl: (c: Control) => toStranger.push(c) > 0,
      }) as unknown as Link
    const fromStranger = strangerLink(stranger.peerId)
    const request = (epoch: bigint) => {
      const r = Buffer.alloc(41)
      r[0] = 1
      vlanId.copy(r, 1)
      r.writeBigUInt64BE(epoch, 33)
      return { channel: 3, payload: new Uint8Array(r) }
    }

    // A stranger's fragment: refused before any buffer is held.
    const fragment = new Uint8Array(60_000).fill(7)
    fragment.set([0, 0, 0, 1, 0x01, 0, 0, 0, 0, 0])
    member.mls.onControl({ channel: 7, payload: fragment }, fromStranger)
    expect(statusOf(member.mls).fragments.fragmentsRefused).toBe(1)
    expect(statusOf(member.mls).fragments.fragmentsReceived).toBe(0)

    // A stranger's catch-up request: no answer.
    owner.mls.onControl(request(0n), fromStranger)
    await new Promise((r) => setTimeout(r, 50))
    expect(toStranger).toHaveLength(0)
    expect(statusOf(owner.mls).counters.catchUpRefused).toBe(1)

    // A point-to-point commit from a stranger (garbage here): refused unread.
    const epochBefore = statusOf(member.mls).epoch
    member.mls.onControl(
      { channel: 3, payload: new Uint8Array([3, ...vlanId, 0, 1, 2, 3]) },
      fromStranger,
    )
    await new Promise((r) => setTimeout(r, 50))
    expect(statusOf(member.mls).counters.commitsRefused).toBe(1)
    expect(statusOf(member.mls).epoch).toBe(epochBefore)

    // The member asks twice in a row (from an epoch the log holds): one
    // answer (after the interval since any request it made while joining).
    clock.now += 1_100
    const answers: Control[] = []
    const memberSide = {
      ...strangerLink(member.peerId),
      sendControl: (c: Control) => answers.push(c) > 0,
    }
    const refusedBefore = statusOf(owner.mls).counters.catchUpRefused!
    owner.mls.onControl(request(BigInt(epochBefore! - 1)), memberSide as unknown as Link)
    owner.mls.onControl(request(BigInt(epochBefore! - 1)), memberSide as unknown as Link)
    await new Promise((r) => setTimeout(r, 50))
    expect(answers).toHaveLength(1)
    expect(statusOf(owner.mls).counters.catchUpRefused).toBe(refusedBefore + 1)

    // The member misses more commits than the owner's log holds (64), then asks.
    const away = member.mls
    member.mls = undefined
    for (let i = 0; i < 66; i++) await owner.mls.update(undefined)
    member.mls = away
    await new Promise((r) => setTimeout(r, 100)) // the last commit lands: a gap, a request
    clock.now += 1_100 // past the answer interval
    const asked = statusOf(away).counters.catchUpRequests!
    away.onLinkUp(member.link!)
    await until(
      'the owner to find the request too old',
      () => statusOf(owner.mls!).counters.catchUpTooOld === 1,
    )
    await new Promise((r) => setTimeout(r, 300))
    expect(statusOf(away).epoch).toBe(epochBefore)
    // One request, unanswered: the member does not loop asking.
    expect(statusOf(away).counters.catchUpRequests).toBe(asked + 1)
    owner.mls.stop()
    away.stop()
  }, 60_000)
})
