/**
 * FabricMember (docs/spec/16-fabric.md §16.7, §16.8) against fake ports:
 * grants from the stranger's side (checked before any signature), batches
 * only from trusted relays and members, answers to newcomers, dial bounds,
 * roaming, and records fitted to their size.
 */
import { describe, expect, it } from 'vitest'
import {
  base58btc,
  type DirectoryEntry,
  decodePresence,
  decodePresenceFrame,
  ed25519PeerIdOf,
  encodeFabricGrant,
  encodePresenceBatch,
  encodePresenceFrame,
  FabricMember,
  type FabricState,
  fitRecord,
  MAX_DIALS_IN_FLIGHT,
  MAX_RECORD_BYTES,
  type MemberPorts,
  newFabric,
  nextFabricEpoch,
  signPresence,
} from '../src/index.ts'

const NOW = 1_800_000_000
const seedOf = (n: number) => new Uint8Array(32).fill(n)
const idOf = (n: number) => base58btc(ed25519PeerIdOf(seedOf(n)))
const SELF = 1
const lab = new Uint8Array(32).fill(0x77)

/** A signed node record of peer `n`, listing `lab`, at the addresses given. */
function record(
  n: number,
  options: { seq?: bigint; addresses?: string[]; role?: 'node' | 'relay' } = {},
) {
  return signPresence({
    seed: seedOf(n),
    peerId: ed25519PeerIdOf(seedOf(n)),
    role: options.role ?? 'node',
    seq: options.seq ?? 1n,
    issuedAt: NOW,
    expiresAt: NOW + 900,
    addresses: options.addresses ?? [`/ip4/10.9.0.${n}/tcp/7400/p2p/${idOf(n)}`],
    vlans: options.role === 'relay' ? [] : [{ vlanId: lab }],
  })
}

/** A member with fake ports; what it did is in `did`. */
function member(state: FabricState | undefined, over: Partial<MemberPorts> = {}) {
  const did = {
    stored: [] as Array<FabricState | undefined>,
    frames: [] as Uint8Array[],
    grants: [] as string[],
    statements: [] as string[],
    batches: [] as string[],
    dials: [] as string[],
    dropped: 0,
    warnings: [] as string[],
    keys: [] as string[],
  }
  const linked = new Set<string>()
  const trusted = new Set<string>()
  const local = new Set(['10.9.0.1'])
  let time = NOW
  const pending: Array<(ok: boolean) => void> = []
  const ports: MemberPorts = {
    self: { peerId: idOf(SELF), peerIdBytes: ed25519PeerIdOf(seedOf(SELF)), seed: seedOf(SELF) },
    now: () => time,
    useKeys: (_keys, epoch, change) => did.keys.push(`${change} ${epoch}`),
    dropPrevious: () => undefined,
    detach: () => undefined,
    sendFrame: (frame) => did.frames.push(frame),
    sendStatement: (peer) => {
      did.statements.push(peer)
      return linked.has(peer)
    },
    sendBatch: (peer) => {
      did.batches.push(peer)
      return linked.has(peer)
    },
    sendGrant: (peer) => {
      if (!linked.has(peer)) return false
      did.grants.push(peer)
      return true
    },
    isLinked: (peer) => linked.has(peer),
    anyLinkUp: () => linked.size > 0,
    relayLinks: () => [],
    dial: (peer) => {
      did.dials.push(peer)
      return new Promise((resolve, reject) =>
        pending.push((ok) => (ok ? resolve() : reject(new Error('no answer')))),
      )
    },
    keepDialled: () => undefined,
    announceAll: () => undefined,
    trustRelay: (peer) => trusted.add(peer),
    trustsRelay: (peer) => trusted.has(peer),
    verifyProof: () => true,
    joiningFrom: () => false,
    addresses: () => [`/ip4/10.9.0.1/tcp/7400/p2p/${idOf(SELF)}`],
    vlans: () => [{ vlanId: lab, name: 'lab' }],
    localIps: () => local,
    dropDirectConnections: () => ++did.dropped,
    store: async (s) => {
      did.stored.push(s)
    },
    proofKey: () => undefined,
    info: () => undefined,
    warn: (_fields, message) => did.warnings.push(message),
    ...over,
  }
  const m = new FabricMember(ports, state)
  const settle = async (ok: boolean) => {
    for (const answer of pending.splice(0)) answer(ok)
    await new Promise((r) => setTimeout(r, 0))
  }
  return {
    m,
    did,
    linked,
    trusted,
    local,
    settle,
    tick: (seconds = 0) => {
      time += seconds
      m.tick()
    },
  }
}

const admin = idOf(9)
/** A state as a member holds it: no root seed. */
function withoutSeed(state: FabricState): FabricState {
  const { rootSeed: _, ...rest } = state
  return rest
}
const fabric = () => newFabric({ admin, bootstrap: [], now: NOW })
const grantOf = (state: FabricState) =>
  encodeFabricGrant({
    secret: state.secret,
    statement: state.statement,
    admins: state.admins.map((a) =>
      a === admin ? ed25519PeerIdOf(seedOf(9)) : ed25519PeerIdOf(seedOf(1)),
    ),
    bootstrap: [],
  })

describe('FabricMember: grants (§16.8), from the stranger’s side', () => {
  it('takes a fabric only from the owner of a VLAN it is joining with `fabric join`', async () => {
    const state = fabric()
    const stranger = member(undefined)
    await stranger.m.onGrant(admin, grantOf(state))
    expect(stranger.m.state).toBeUndefined()
    expect(stranger.m.counters.grantsRefused).toBe(1)
    expect(stranger.did.stored).toEqual([])

    const joining = member(undefined, { joiningFrom: (peer) => peer === admin })
    await joining.m.onGrant(admin, grantOf(state))
    expect(joining.m.state?.epoch).toBe(0)
    expect(joining.did.keys).toEqual(['attach 0'])
    expect(joining.did.stored).toHaveLength(1)
  })

  it('refuses a stranger before decoding or verifying anything, and logs it once a minute', async () => {
    const { m, did } = member(fabric())
    // Garbage: refused by who sent it, not by its layout (the layout is not even read).
    for (let i = 0; i < 100; i++) await m.onGrant(idOf(5), new Uint8Array(215).fill(i))
    expect(m.counters.grantsRefused).toBe(100)
    expect(did.warnings).toHaveLength(1)
    expect(m.state?.epoch).toBe(0)
  })

  it('takes a rotation from an admin for a later epoch only; the same grant again is no refusal', async () => {
    const state = fabric()
    const { m, did } = member(state)
    const next = withoutSeed(nextFabricEpoch(state, NOW))
    await m.onGrant(idOf(5), grantOf(next))
    expect(m.state?.epoch).toBe(0)
    await m.onGrant(admin, grantOf(next))
    expect(m.state?.epoch).toBe(1)
    expect(did.keys).toEqual(['attach 0', 'epoch 1'])
    const refused = m.counters.grantsRefused
    await m.onGrant(admin, grantOf(next))
    expect(m.counters.grantsRefused).toBe(refused)
    // An older epoch, from the admin, is refused.
    await m.onGrant(admin, grantOf(state))
    expect(m.state?.epoch).toBe(1)
    expect(m.counters.grantsRefused).toBe(refused + 1)
  })

  it('ends the invitations that carried the old epoch', async () => {
    const state = { ...fabric(), invitations: { '0123456789abcdef': NOW + 3600 } }
    const { m } = member(state)
    const next = withoutSeed(nextFabricEpoch(state, NOW))
    await m.onGrant(admin, grantOf(next))
    expect(m.state?.invitations).toEqual({})
  })
})

describe('FabricMember: batches, members and newcomers', () => {
  it('takes relay records only from a trusted relay, and node records only from a member', () => {
    const { m, linked, trusted } = member(fabric())
    linked.add(idOf(3))
    m.onBatch(idOf(3), encodePresenceBatch([record(3, { role: 'relay' })]), true)
    expect(m.directory.relays(NOW)).toEqual([])
    trusted.add(idOf(3))
    m.onBatch(idOf(3), encodePresenceBatch([record(3, { role: 'relay' })]), true)
    expect(m.directory.relays(NOW).map((e: DirectoryEntry) => e.peerId)).toEqual([idOf(3)])
    // A node that is no member: its batch is not read.
    m.onBatch(idOf(4), encodePresenceBatch([record(4), record(5)]), false)
    expect(m.directory.nodes(NOW)).toEqual([])
    expect(m.knows(idOf(4))).toBe(false)
  })

  it('answers a newcomer’s broadcast with its own record to the newcomer alone, never a unicast one', () => {
    const { m, did, linked } = member(fabric())
    linked.add(idOf(2))
    const src = new Uint8Array([2, 0, 0, 0, 0, 2])
    m.onFrames([encodePresenceFrame({ dst: new Uint8Array(6).fill(0xff), src, record: record(4) })])
    expect(did.frames).toHaveLength(1)
    expect(decodePresenceFrame(did.frames[0] as Uint8Array)).toBeDefined()
    expect([...(did.frames[0] as Uint8Array).subarray(0, 6)]).toEqual([...src])
    expect(m.knows(idOf(4))).toBe(true)
    // A unicast answer from another member: taken, not answered.
    m.onFrames([encodePresenceFrame({ dst: m.mac, src, record: record(5) })])
    expect(did.frames).toHaveLength(1)
  })
})

describe('FabricMember: dials, roaming and records', () => {
  it('keeps at most MAX_DIALS_IN_FLIGHT dials, one per peer, never to loopback, backing off', async () => {
    const { m, did, linked, trusted, tick, settle } = member(fabric())
    linked.add(idOf(200))
    trusted.add(idOf(200))
    const many = Array.from({ length: 40 }, (_, i) => record(10 + i))
    many.push(record(60, { addresses: [`/ip4/127.0.0.1/tcp/22/p2p/${idOf(60)}`] }))
    m.onBatch(idOf(200), encodePresenceBatch(many), true)
    // From a relay: node records refused (relays give relay records only). From a member: taken.
    m.onFrames(
      many.map((r) =>
        encodePresenceFrame({ dst: m.mac, src: new Uint8Array(6).fill(2), record: r }),
      ),
    )
    expect(m.directory.nodes(NOW)).toHaveLength(41)
    tick()
    expect(did.dials).toHaveLength(MAX_DIALS_IN_FLIGHT)
    tick()
    expect(did.dials).toHaveLength(MAX_DIALS_IN_FLIGHT)
    expect(did.dials).not.toContain(idOf(60))
    const first = did.dials.slice(0, MAX_DIALS_IN_FLIGHT)
    await settle(false)
    tick()
    // The first ones back off (5 s): the next dials are all to others.
    const second = did.dials.slice(MAX_DIALS_IN_FLIGHT)
    expect(second).toHaveLength(MAX_DIALS_IN_FLIGHT)
    expect(second.filter((p) => first.includes(p))).toEqual([])
    await settle(false)
    tick(6)
    expect(did.dials.slice(2 * MAX_DIALS_IN_FLIGHT).some((p) => first.includes(p))).toBe(true)
    expect(did.dials).not.toContain(idOf(60))
  })

  it('sends its statement to its relays before their SUBs and again every 60 s', () => {
    const relay = idOf(7)
    const { m, did, linked, tick } = member(fabric(), { relayLinks: () => [relay] })
    linked.add(relay)
    m.greeting(relay, true)
    m.greeting(idOf(2), false)
    expect(did.statements).toEqual([relay])
    tick()
    expect(did.statements).toEqual([relay, relay])
    tick(59)
    expect(did.statements).toHaveLength(2)
    tick(1)
    expect(did.statements).toHaveLength(3)
  })

  it('drops its connections once when a published address leaves the host, and republishes', () => {
    const { m, did, linked, local, tick } = member(fabric())
    linked.add(idOf(2))
    tick()
    const published = did.frames.length
    expect(published).toBe(1)
    tick(1)
    expect(did.dropped).toBe(0)
    local.delete('10.9.0.1')
    local.add('10.9.0.101')
    tick(1)
    expect(did.dropped).toBe(1)
    expect(m.counters.roams).toBe(1)
    expect(did.frames.length).toBe(published + 1)
    tick(1)
    expect(did.dropped).toBe(1)
  })

  it('fits a record with many VLANs: names first, then VLANs, then addresses', () => {
    const vlans = Array.from({ length: 32 }, (_, i) => ({
      vlanId: new Uint8Array(32).fill(i),
      name: `office-network-${i}`,
    }))
    const addresses = Array.from(
      { length: 8 },
      (_, i) => `/ip4/10.9.0.${i}/tcp/7400/p2p/${idOf(1)}`,
    )
    const fitted = fitRecord(38, addresses, vlans)
    expect(fitted.left.names).toBe(32)
    expect(fitted.left.vlans).toBeGreaterThan(0)
    expect(fitted.addresses).toHaveLength(8)
    const bytes = signPresence({
      seed: seedOf(1),
      peerId: ed25519PeerIdOf(seedOf(1)),
      role: 'node',
      seq: 1n,
      issuedAt: NOW,
      expiresAt: NOW + 900,
      addresses: fitted.addresses,
      vlans: fitted.vlans,
    })
    expect(bytes.length).toBeLessThanOrEqual(MAX_RECORD_BYTES)
    expect(decodePresence(bytes).ok).toBe(true)
  })
})
