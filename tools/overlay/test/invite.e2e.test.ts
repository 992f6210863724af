/**
 * End to end: VLANs created, joined by invitation code, left and deleted
 * at run time with the `peertap` CLI (docs/spec/15-invitations.md), on
 * three nodes in namespaces that share a PSK VLAN (`demo`, pt0) from their
 * configs. The MLS VLAN `lab` is made on A with an IPv4 pool; B and C join
 * it by code. Every refusal is tried from the joiner's side: a code used
 * up, expired, revoked, with a typo, with a valid checksum and a wrong
 * secret, a join request replayed by another peer and by its sender, and a
 * flood from one source. Needs root and /dev/net/tun; elsewhere it skips.
 * Every namespace and process is removed afterwards, also on failure.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { decodeInvitationCode, encodeInvitationCode } from '@peertap/invite'
import { rootAndTun } from '@peertap/tool-netns'
import { deriveVlanId } from '@peertap/vft'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NODE_ARGV, Overlay, RelayHost } from '../src/index.ts'

const can = rootAndTun()
if (!can.ok) console.log(`invitation end-to-end tests skipped: ${can.reason}`)

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname
const fixture = (name: string) => [
  process.execPath,
  '--conditions=peertap:source',
  join(FIXTURES, name),
]

interface VlanSummary {
  name: string
  kind: string
  role?: string
  state?: string
  device: string
  addresses: string[]
  members?: number
}

describe.skipIf(!can.ok)('VLANs by invitation code, at run time', () => {
  let overlay: Overlay

  /** Runs `peertap ARGS -s <host's state dir>` in the host's namespace; its stdout. */
  const cli = (host: string, args: readonly string[], timeoutMs = 40_000) =>
    overlay.topo.exec(host, [...NODE_ARGV, ...args, '-s', overlay.node(host).stateDir], timeoutMs)
  /** The same, expected to fail: its error (the CLI's stderr). */
  const cliFails = async (host: string, args: readonly string[]) => {
    const error = await cli(host, args).then(
      (out) => new Error(`expected a failure, got: ${out}`),
      (e: Error) => e,
    )
    return error.message
  }
  const lastLine = (out: string) => out.trim().split('\n').at(-1) as string
  const invite = async (args: readonly string[] = []) =>
    lastLine(await cli('a', ['vlan', 'invite', 'lab', ...args]))
  const list = async (host: string) =>
    JSON.parse(await cli(host, ['vlan', 'list', '--json'])) as VlanSummary[]
  const lab = async (host: string) => (await list(host)).find((v) => v.name === 'lab')
  const ipv4Of = (vlan: VlanSummary | undefined) =>
    vlan?.addresses.find((a) => a.startsWith('10.77.'))?.split('/')[0]
  /** Pings once a quarter second until an answer comes, or throws after `timeoutMs`. */
  const pingUntil = async (host: string, ip: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    while (
      !(await overlay.topo.exec(host, ['ping', '-c', '1', '-W', '1', ip]).then(
        () => true,
        () => false,
      ))
    ) {
      if (Date.now() > deadline) {
        const mls = async (h: string) =>
          JSON.stringify(((await overlay.status(h)) as unknown as { mls: unknown }).mls)
        throw new Error(
          `${ip} does not answer ${host} after ${timeoutMs} ms; MLS at a: ${await mls('a')}; at ${host}: ${await mls(host)}; ${host}'s log: ${overlay.node(host).log.slice(-25).join('\n')}`,
        )
      }
      await new Promise((r) => setTimeout(r, 250))
    }
  }
  const ipv6Of = (vlan: VlanSummary | undefined) =>
    vlan?.addresses.find((a) => a.startsWith('fd'))?.split('/')[0]

  /** A code that has run out (from the refusals test). */
  let expiredCode = ''

  beforeAll(async () => {
    overlay = await Overlay.start({ transport: 'tcp', hosts: ['a', 'b', 'c'], datagram: true })
  }, 60_000)
  afterAll(async () => {
    await overlay?.stop()
  })

  it('creates an MLS VLAN with an IPv4 pool at run time, while traffic on the PSK VLAN loses nothing', async () => {
    const a = overlay.node('a')
    // 400 pings, 10 ms apart, across the config's VLAN while A makes a VLAN and B joins and leaves it.
    const flow = overlay.topo.exec(
      'b',
      ['ping', '-c', '400', '-i', '0.01', '-W', '1', a.ip],
      30_000,
    )
    const created = JSON.parse(
      await cli('a', ['vlan', 'create', 'lab', '--subnet', '10.77.0.0/24', '--json']),
    ) as VlanSummary
    expect(created).toMatchObject({
      name: 'lab',
      kind: 'mls',
      role: 'owner',
      state: 'member',
      device: 'pt-lab',
    })
    expect(created.addresses).toContain('10.77.0.1/24')
    expect(created.addresses.some((x) => /^fd[0-9a-f]{2}:.*\/64$/.test(x))).toBe(true)
    const code = await invite()
    const joined = JSON.parse(await cli('b', ['join', code, '--json'])) as VlanSummary
    expect(joined).toMatchObject({ name: 'lab', role: 'member', state: 'member', device: 'pt-lab' })
    expect(ipv4Of(joined)).toBe('10.77.0.2')
    await cli('b', ['vlan', 'leave', 'lab'])
    expect(await lab('b')).toBeUndefined()
    expect(await flow).toMatch(/400 packets transmitted, 400 received, 0% packet loss/)
    expect((await list('a')).map((v) => v.name).sort()).toEqual(['demo', 'lab'])
  }, 60_000)

  it('a joiner gets its address in the Welcome and reaches the owner over IPv4 and IPv6; its address is stable', async () => {
    const code = await invite()
    const out = await cli('b', ['join', code])
    expect(out).toMatch(/^joined lab: port pt-lab up, addresses .*10\.77\.0\.2\/24/m)
    const [atA, atB] = [await lab('a'), await lab('b')]
    expect(ipv4Of(atB)).toBe('10.77.0.2')
    expect(
      await overlay.topo.exec('b', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.77.0.1']),
    ).toMatch(/3 received/)
    expect(
      await overlay.topo.exec('b', [
        'ping',
        '-6',
        '-c',
        '3',
        '-i',
        '0.2',
        '-W',
        '2',
        ipv6Of(atA) as string,
      ]),
    ).toMatch(/3 received/)
    const members = JSON.parse(await cli('a', ['vlan', 'members', 'lab', '--json'])) as Array<{
      peerId: string
      ipv4?: string
      ipv6: string
    }>
    expect(members.map((m) => m.peerId).sort()).toEqual(
      [overlay.node('a').peerId, overlay.node('b').peerId].sort(),
    )
    expect(members.find((m) => m.peerId === overlay.node('b').peerId)).toMatchObject({
      ipv4: '10.77.0.2/24',
      ipv6: ipv6Of(atB),
    })
  }, 60_000)

  it('refuses a code used up, expired, revoked, with a typo, or with a wrong secret, each saying what to do', async () => {
    // One use: B used it; C is told so by the owner.
    await cli('b', ['vlan', 'leave', 'lab'])
    const used = await invite()
    await cli('b', ['join', used])
    expect(await cliFails('c', ['join', used])).toMatch(/already used.*peertap vlan invite/s)
    // A typo is caught by the checksum, before any network traffic: no daemon is even asked.
    const code = await invite()
    const i = code.length - 10
    const typo = `${code.slice(0, i)}${code[i] === 'a' ? 'b' : 'a'}${code.slice(i + 1)}`
    const typoError = await overlay.topo
      .exec('c', [...NODE_ARGV, 'join', typo, '-s', '/nonexistent-peertap-state'])
      .catch((e: Error) => e.message)
    expect(typoError).toMatch(/not a valid invitation code: .*damaged.*copy the whole code again/i)
    // A valid checksum around a secret the owner never issued: refused by the owner.
    const decoded = decodeInvitationCode(code)
    if (!decoded.ok) throw new Error(decoded.detail)
    const forged = encodeInvitationCode({
      ...decoded.invitation,
      secret: new Uint8Array(16).fill(7),
    })
    expect(await cliFails('c', ['join', forged])).toMatch(/refused/)
    // Revoked.
    const revoked = JSON.parse(await cli('a', ['vlan', 'invite', 'lab', '--json'])) as {
      code: string
      id: string
    }
    await cli('a', ['vlan', 'revoke', 'lab', revoked.id])
    expect(await cliFails('c', ['join', revoked.code])).toMatch(/revoked/)
    // Revoking it again, or an id that never was, says so (a typo must not look like success).
    expect(await cliFails('a', ['vlan', 'revoke', 'lab', revoked.id])).toMatch(
      /no live invitation .* see peertap vlan invitations lab/,
    )
    // Expired: the joiner's CLI says so at once; a code whose expiry was moved on is refused by the owner.
    const short = JSON.parse(
      await cli('a', ['vlan', 'invite', 'lab', '--expires', '1s', '--json']),
    ) as {
      code: string
    }
    await new Promise((r) => setTimeout(r, 2_100))
    expect(await cliFails('c', ['join', short.code])).toMatch(/expired at .*peertap vlan invite/)
    expiredCode = short.code
    const late = decodeInvitationCode(short.code)
    if (!late.ok) throw new Error(late.detail)
    const moved = encodeInvitationCode({
      ...late.invitation,
      expiresAt: late.invitation.expiresAt + 3600,
    })
    expect(await cliFails('c', ['join', moved])).toMatch(/expired/)
    // An owner that cannot be reached at the code's addresses (one that never ran): said so,
    // with what to check; nothing of it is left behind.
    const nobody = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const nobodyBytes = nobody.toMultihash().bytes
    const unreachable = encodeInvitationCode({
      ...decoded.invitation,
      name: 'lab9',
      owner: nobodyBytes,
      vlanId: deriveVlanId(nobodyBytes, 'lab9'),
      addresses: [`/ip4/198.18.0.99/tcp/7400/p2p/${nobody.toString()}`],
    })
    expect(await cliFails('c', ['join', unreachable, '--timeout', '3'])).toMatch(
      /the owner was not reachable at the code's addresses .*check that it is running/,
    )
    expect((await list('c')).map((v) => v.name)).not.toContain('lab9')
    // A device name that is taken (pt0 is the config's VLAN's) is refused before anything is asked.
    expect(await cliFails('c', ['join', code, '--device', 'pt0'])).toMatch(
      /a network device named pt0 exists already: choose another with --device NAME/,
    )
    // None of it left C a VLAN or a device.
    expect(await lab('c')).toBeUndefined()
    // And the code C was never refused for still works.
    await cli('c', ['join', code])
    expect(ipv4Of(await lab('c'))).toBe('10.77.0.3')
  }, 90_000)

  it('a join request replayed by another peer uses nothing; its sender sending it again uses nothing more', async () => {
    const a = overlay.node('a')
    const code = await invite(['--uses', '2'])
    const address = `/ip4/${overlay.topo.address('a')}/tcp/7400/p2p/${a.peerId}`
    const out = JSON.parse(
      await overlay.topo.exec('b', [...fixture('join-replayer.ts'), address, code], 40_000),
    ) as { y: string | null; x: string | null; again: string | null }
    expect(out).toMatchObject({ y: 'refused', x: 'accepted', again: 'accepted' })
    const invitations = JSON.parse(await cli('a', ['vlan', 'invitations', 'lab'])) as Array<{
      usesLeft: number
      joiners: string[]
    }>
    // Y's replay and X's repeat took nothing: one of the two uses is left.
    expect(invitations.at(-1)).toMatchObject({ usesLeft: 1 })
    expect(invitations.at(-1)?.joiners).toHaveLength(1)
  }, 60_000)

  it('rate-limits the join door per source and answers a flood with verdicts only', async () => {
    const a = overlay.node('a')
    const code = await invite()
    const before = (await overlay.status('a')) as unknown as {
      invitations: { door: Record<string, number> }
    }
    const address = `/ip4/${overlay.topo.address('a')}/tcp/7400/p2p/${a.peerId}`
    const counts = JSON.parse(
      await overlay.topo.exec(
        'c',
        [...fixture('join-replayer.ts'), address, code, 'flood', '60'],
        40_000,
      ),
    ) as Record<string, number>
    // A few guesses are opened and refused; the rest are turned away before any work.
    expect(counts.refused ?? 0).toBeGreaterThan(0)
    expect(counts.refused ?? 0).toBeLessThanOrEqual(10)
    expect(counts.busy ?? 0).toBeGreaterThanOrEqual(40)
    expect(Object.keys(counts).every((k) => k === 'refused' || k === 'busy')).toBe(true)
    const after = (await overlay.status('a')) as unknown as {
      invitations: { door: Record<string, number> }
    }
    expect(JSON.stringify(after.invitations.door)).not.toBe(JSON.stringify(before.invitations.door))
    // The code itself is untouched by the flood.
    expect(decodeInvitationCode(code).ok).toBe(true)
  }, 60_000)

  it('a join a restart interrupted, whose code ran out meanwhile, is undone and the node starts', async () => {
    const c = overlay.node('c')
    const a = overlay.node('a')
    // As if c had stopped in the middle of `peertap join` with that code, long ago.
    await overlay.restart('c', async () => {
      const path = join(c.stateDir, 'vlans.json')
      const store = JSON.parse(await readFile(path, 'utf8')) as { vlans: unknown[] }
      store.vlans.push({
        name: 'stale',
        mls: { owner: a.peerId },
        port: { type: 'tap', device: 'pt-stale' },
        peers: [`/ip4/${overlay.topo.address('a')}/tcp/7400/p2p/${a.peerId}`],
        invitation: expiredCode,
      })
      await writeFile(path, JSON.stringify(store))
    })
    const deadline = Date.now() + 20_000
    for (;;) {
      const names = await list('c').then(
        (vlans) => vlans.map((v) => v.name),
        () => undefined,
      )
      if (names !== undefined && !names.includes('stale')) break
      if (Date.now() > deadline)
        throw new Error(
          `the stale join is still there: ${names}; c's log:\n${c.log.slice(-10).join('\n')}`,
        )
      await new Promise((r) => setTimeout(r, 250))
    }
    expect(c.log.join('\n')).toMatch(/join failed: VLAN removed/)
  }, 40_000)

  it('comes back after a restart with its VLANs, addresses and memberships', async () => {
    const beforeA = await lab('a')
    const beforeB = await lab('b')
    await overlay.restart('a')
    await overlay.restart('b')
    const deadline = Date.now() + 20_000
    for (;;) {
      const [atA, atB] = await Promise.all([
        lab('a').catch(() => undefined),
        lab('b').catch(() => undefined),
      ])
      if (atA?.state === 'member' && atB?.state === 'member') {
        expect(atA.addresses).toEqual(beforeA?.addresses)
        expect(atB.addresses).toEqual(beforeB?.addresses)
        break
      }
      if (Date.now() > deadline) throw new Error('lab not back after restarts')
      await new Promise((r) => setTimeout(r, 200))
    }
    // Answers resume once the links and subscriptions are back (the MACs are the same as before).
    await pingUntil('b', '10.77.0.1', 15_000)
    expect(
      await overlay.topo.exec('b', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.77.0.1']),
    ).toMatch(/3 received/)
  }, 60_000)

  it('the owner hands the VLAN to a member, which then removes one; the old owner is a member', async () => {
    const [b, c] = [overlay.node('b'), overlay.node('c')]
    const roleOf = async (host: string) => (await lab(host))?.role
    await cli('a', ['vlan', 'transfer', 'lab', b.peerId])
    const deadline = Date.now() + 15_000
    while ((await roleOf('b')) !== 'owner' || (await roleOf('a')) !== 'member') {
      if (Date.now() > deadline)
        throw new Error(
          `the transfer did not reach b: a ${await roleOf('a')}, b ${await roleOf('b')}; b's log:\n${b.log.slice(-20).join('\n')}\na's log:\n${overlay.node('a').log.slice(-12).join('\n')}`,
        )
      await new Promise((r) => setTimeout(r, 200))
    }
    expect(await cliFails('a', ['vlan', 'invite', 'lab'])).toMatch(/only the owner of lab invites/)
    await cli('b', ['vlan', 'remove', c.peerId, '--vlan', 'lab'])
    const members = async () =>
      (
        JSON.parse(await cli('b', ['vlan', 'members', 'lab', '--json'])) as Array<{
          peerId: string
        }>
      ).map((m) => m.peerId)
    expect(await members()).not.toContain(c.peerId)
    // Its code (used by it, still within its day) does not bring it back: C sends no join
    // request once it was a member, and an owner would refuse a removed member's anyway.
    await new Promise((r) => setTimeout(r, 4_000))
    expect(await members()).not.toContain(c.peerId)
    // C holds none of the new keys: it reaches nobody on the VLAN; A and B still talk.
    await expect(
      overlay.topo.exec('c', ['ping', '-c', '2', '-i', '0.2', '-W', '1', '10.77.0.1']),
    ).rejects.toThrow()
    await pingUntil('a', '10.77.0.2', 10_000)
    // B invites now: its code names B as the owner (who answers the join request) and A as
    // the founder (the VLAN-ID's, spec 15 §15.1). C, removed, leaves the VLAN it can no longer
    // use and joins with B's new code (its old code would be refused: revoked).
    const byB = lastLine(await cli('b', ['vlan', 'invite', 'lab']))
    const fromB = decodeInvitationCode(byB)
    if (!fromB.ok) throw new Error(fromB.detail)
    const a = overlay.node('a')
    expect(fromB.invitation.owner).toEqual(peerIdFromString(b.peerId).toMultihash().bytes)
    expect(fromB.invitation.founder).toEqual(peerIdFromString(a.peerId).toMultihash().bytes)
    expect(fromB.invitation.vlanId).toEqual(
      deriveVlanId(peerIdFromString(a.peerId).toMultihash().bytes, 'lab'),
    )
    await cli('c', ['vlan', 'leave', 'lab'])
    expect(await lab('c')).toBeUndefined()
    // B keeps no IPv4 pool (A's entry does): C names its old address itself.
    const rejoined = JSON.parse(
      await cli('c', ['join', byB, '--address', '10.77.0.3/24', '--json']),
    ) as VlanSummary
    expect(rejoined).toMatchObject({ name: 'lab', role: 'member', state: 'member' })
    expect(await members()).toContain(c.peerId)
    // Without a restart, C's pings went unanswered for 20 s in some runs: A and B stop dealing
    // with C when it is removed and greet it again only seconds after its Welcome (they log its
    // subscriptions refused, sub-no-proof), and C sends them again only at their 60 s renewal,
    // as far as we can tell. A restart of C sends them afresh: a gap of the node's, not of codes.
    await overlay.restart('c')
    await pingUntil('c', '10.77.0.2', 20_000)
    await pingUntil('c', '10.77.0.1', 20_000)
    // Its ULA address is the one A's VLAN-ID gives, as before it was removed.
    await pingUntil('c', ipv6Of(await lab('a')) as string, 20_000)
    // And back to A, which deletes it below.
    await cli('b', ['vlan', 'transfer', 'lab', overlay.node('a').peerId])
    const back = Date.now() + 15_000
    while ((await roleOf('a')) !== 'owner') {
      if (Date.now() > back) throw new Error('the transfer back did not reach a')
      await new Promise((r) => setTimeout(r, 200))
    }
  }, 90_000)

  it('the owner deletes the VLAN: the members are removed and cut off', async () => {
    const members = JSON.parse(await cli('a', ['vlan', 'members', 'lab', '--json'])) as Array<{
      peerId: string
      self: boolean
    }>
    const result = JSON.parse(await cli('a', ['vlan', 'delete', 'lab', '--json'])) as {
      removed: string[]
    }
    // Every member but the owner: B, C (back through B's code), and X of the replay test (added,
    // though it never took its Welcome).
    expect(result.removed.sort()).toEqual(
      members
        .filter((m) => !m.self)
        .map((m) => m.peerId)
        .sort(),
    )
    expect(result.removed).toContain(overlay.node('b').peerId)
    expect(await lab('a')).toBeUndefined()
    await expect(
      overlay.topo.exec('b', ['ping', '-c', '2', '-i', '0.2', '-W', '1', '10.77.0.3']),
    ).rejects.toThrow()
    // The members keep a VLAN nobody can send on until they leave it.
    await cli('b', ['vlan', 'leave', 'lab'])
    await cli('c', ['vlan', 'leave', 'lab'])
    expect(await lab('b')).toBeUndefined()
  }, 60_000)
})

describe.skipIf(!can.ok)(
  'an invitee behind a NAT that no relay knows, with the code’s ticket',
  () => {
    let overlay: Overlay
    const relay = new RelayHost()

    const cli = (host: string, args: readonly string[], timeoutMs = 40_000) =>
      overlay.topo.exec(host, [...NODE_ARGV, ...args, '-s', overlay.node(host).stateDir], timeoutMs)

    beforeAll(async () => {
      // A and B behind NATs, admitted and reserved at R; C behind a NAT too, a bare node R does not admit.
      overlay = await Overlay.start({
        transport: 'tcp',
        relay,
        nat: true,
        extraHosts: ['c'],
        extraBehindNat: true,
        datagram: true,
      })
      await overlay.startBare('c')
    }, 60_000)
    afterAll(async () => {
      await overlay?.stop()
    })

    it('the ticket opens a circuit to the owner and to nobody else', async () => {
      await cli('a', ['vlan', 'create', 'lab', '--subnet', '10.78.0.0/24'])
      const code = (await cli('a', ['vlan', 'invite', 'lab'])).trim().split('\n').at(-1) as string
      const decoded = decodeInvitationCode(code)
      if (!decoded.ok) throw new Error(decoded.detail)
      expect(decoded.invitation.ticket.length).toBeGreaterThan(0)
      const otherCircuit = `${relay.address('/tcp/7400')}/p2p-circuit/p2p/${overlay.node('b').peerId}`
      const out = JSON.parse(
        await overlay.topo.exec('c', [...fixture('ticket-dialer.ts'), code, otherCircuit], 40_000),
      ) as { before: string; owner: string; other: string }
      expect(out.before).toMatch(/^refused/)
      expect(out.owner).toBe('up')
      expect(out.other).toMatch(/^refused/)
    }, 60_000)

    it('joins through the relay with the code: a member, its address assigned', async () => {
      const code = (await cli('a', ['vlan', 'invite', 'lab'])).trim().split('\n').at(-1) as string
      const started = Date.now()
      const joined = JSON.parse(await cli('c', ['join', code, '--json'])) as VlanSummary
      console.log(`join through the relay: ${Date.now() - started} ms (CLI to member)`)
      expect(joined).toMatchObject({ name: 'lab', role: 'member', state: 'member' })
      expect(joined.addresses).toContain('10.78.0.2/24')
      const status = (await relay.status()) as unknown as {
        circuit: { tickets: { accepted: number } }
      }
      expect(status.circuit.tickets.accepted).toBeGreaterThanOrEqual(2)
      // C is a member now, but R still does not admit it: the VLAN's broadcasts (ARP) cross R's
      // table, which carries frames only for peers R admits (its allow list today, a fabric
      // credential with issue 18: spec 12 §12.4). The ticket opened the door to the owner only.
    }, 60_000)
  },
)
