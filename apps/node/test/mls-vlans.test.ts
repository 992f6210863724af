// The node's MLS layer (mls-vlans.ts) in one process: two real MlsVlans
// (real groups, real FileStorage, real switches), joined by in-memory links
// that carry CONTROL messages and kind-2 bodies between them. The trunk and
// the VLAN's sealing are left out (the e2e tests cover them); this covers
// the periodic self-update, whose timer the e2e overlay cannot wait for.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Switch } from '@peertap/switch'
import type { Control, Link } from '@peertap/trunk'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../src/config.ts'
import { MlsVlans } from '../src/mls-vlans.ts'

interface Side {
  readonly peerId: string
  readonly privateKey: Uint8Array
  mls?: MlsVlans
  link?: Link
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
  const dir = await mkdtemp(join(tmpdir(), 'peertap-mls-vlans-'))
  dirs.push(dir)
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
  return MlsVlans.open({
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
    vlans: config.vlans,
    clock,
  })
}

type Status = {
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

describe('the MLS layer of two nodes in one process', () => {
  it("periodic self-update (config updateSeconds): the member's Update proposal, then the owner's commit, each when its timer runs out", async () => {
    const clock = { now: 1_000_000 }
    const owner = await side()
    const member = await side()
    owner.mls = await open(
      owner,
      member,
      { owner: 'self', members: [member.peerId], updateSeconds: 600 },
      () => clock.now,
    )
    member.mls = await open(
      member,
      owner,
      { owner: owner.peerId, updateSeconds: 300 },
      () => clock.now,
    )
    member.mls.onLinkUp(member.link!) // sends its key package
    await until('the member to join', () => statusOf(member.mls!).state === 'member')
    const joined = statusOf(owner.mls).epoch!
    await until('the member at the owner epoch', () => statusOf(member.mls!).epoch === joined)

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
})
