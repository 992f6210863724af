import { describe, expect, it } from 'vitest'
import {
  base58btc,
  Directory,
  decodePresence,
  decodePresenceBatch,
  encodePresenceBatch,
  MvlanError,
  type PresenceRole,
  signPresence,
  verifyPresence,
} from '../src/index.ts'
import { flip, type Identity, identity, rawRecord } from './helpers.ts'

const NOW = 1_800_000_000
const alice = identity(1)
const bob = identity(2)
const vlanA = new Uint8Array(32).fill(0xa1)

function presence(
  who: Identity,
  fields: {
    seq?: bigint
    issuedAt?: number
    expiresAt?: number
    role?: PresenceRole
    vlans?: { vlanId: Uint8Array; name?: string }[]
  } = {},
): Uint8Array {
  const issuedAt = fields.issuedAt ?? NOW
  return signPresence({
    seed: who.seed,
    peerId: who.peerId,
    role: fields.role ?? 'node',
    seq: fields.seq ?? 1n,
    issuedAt,
    expiresAt: fields.expiresAt ?? issuedAt + 900,
    addresses: ['/ip4/192.0.2.1/udp/7400'],
    vlans: fields.vlans ?? [],
  })
}

describe('Directory', () => {
  it('accepts a new record, then a higher seq as an update, names entries in base58btc', () => {
    const d = new Directory()
    const first = d.offer(presence(alice), NOW)
    expect(first.ok && first.change).toBe('new')
    expect(first.ok && first.entry.peerId).toMatch(/^12D3KooW/)
    const id = base58btc(alice.peerId)
    expect(d.get(id)?.record.seq).toBe(1n)
    const second = d.offer(presence(alice, { seq: 2n }), NOW + 10)
    expect(second.ok && second.change).toBe('updated')
    expect(d.get(id)?.record.seq).toBe(2n)
    expect(d.get(id)?.receivedAt).toBe(NOW + 10)
    expect(d.size).toBe(1)
    expect(d.counters.accepted).toBe(2)
  })

  it('keeps a copy: the caller may reuse its buffer', () => {
    const d = new Directory()
    const bytes = presence(alice)
    d.offer(bytes, NOW)
    bytes.fill(0)
    expect(d.get(base58btc(alice.peerId))?.record.seq).toBe(1n)
    expect(decodePresence(d.records(NOW)[0]!).ok).toBe(true)
  })

  it('refuses with the right reason, and a refused record changes nothing', () => {
    const d = new Directory()
    d.offer(presence(alice, { seq: 5n }), NOW)
    const before = d.get(base58btc(alice.peerId))
    const cases: [string, Uint8Array, string, object?][] = [
      ['garbage', Uint8Array.of(1, 2, 3), 'malformed'],
      ['over the lifetime', presence(bob, { expiresAt: NOW + 3601 }), 'lifetime'],
      ['expired', presence(bob, { issuedAt: NOW - 900, expiresAt: NOW }), 'expired'],
      ['from the future', presence(bob, { issuedAt: NOW + 301 }), 'future'],
      [
        'a relay where a node is required',
        presence(bob, { role: 'relay' }),
        'role',
        { role: 'node' },
      ],
      ['replayed (same seq)', presence(alice, { seq: 5n }), 'stale'],
      ['reordered (lower seq)', presence(alice, { seq: 4n }), 'stale'],
      [
        'forged: another key',
        rawRecord(bob.seed, { peerId: alice.peerId, seq: 6n, issuedAt: NOW }),
        'bad-signature',
      ],
    ]
    for (const [name, bytes, reason, options] of cases) {
      expect(d.offer(bytes, NOW, options), name).toEqual({ ok: false, reason })
      expect(d.size, name).toBe(1)
      expect(d.get(base58btc(alice.peerId)), name).toBe(before)
    }
    expect(d.counters.refused).toMatchObject({
      malformed: 1,
      lifetime: 1,
      expired: 1,
      future: 1,
      role: 1,
      stale: 2,
    })
    expect(d.counters.refused['bad-signature']).toBe(1)
    expect(d.counters.accepted).toBe(1)
    // At the edges: a lifetime of exactly 3600 and issuedAt exactly now + 300 pass.
    expect(d.offer(presence(bob, { issuedAt: NOW + 300, expiresAt: NOW + 3900 }), NOW).ok).toBe(
      true,
    )
  })

  it('refuses a bit flipped anywhere in a record as malformed or bad-signature', () => {
    const bytes = presence(alice, { vlans: [{ vlanId: vlanA, name: 'lab' }] })
    for (let i = 0; i < bytes.length; i++) {
      const d = new Directory({ maxLifetimeSeconds: 2 ** 32, clockSkewSeconds: 2 ** 32 })
      const result = d.offer(flip(bytes, i, (i * 3) % 8), NOW)
      // A flip in the seq or times may make it fail an earlier check; never is it accepted.
      expect(result.ok, `byte ${i}`).toBe(false)
      expect(d.size).toBe(0)
    }
  })

  it('checks the signature last: a forged record that is also stale is stale, one that is also future is future', () => {
    const d = new Directory()
    d.offer(presence(alice, { seq: 5n }), NOW)
    const forgedStale = rawRecord(bob.seed, { peerId: alice.peerId, seq: 5n, issuedAt: NOW })
    expect(d.offer(forgedStale, NOW)).toEqual({ ok: false, reason: 'stale' })
    const forgedFuture = rawRecord(bob.seed, {
      peerId: alice.peerId,
      seq: 9n,
      issuedAt: NOW + 1000,
      expiresAt: NOW + 1900,
    })
    expect(d.offer(forgedFuture, NOW)).toEqual({ ok: false, reason: 'future' })
    // Lifetime before expiry: a record both too long and expired.
    expect(d.offer(presence(bob, { issuedAt: NOW - 5000, expiresAt: NOW - 1 }), NOW)).toEqual({
      ok: false,
      reason: 'lifetime',
    })
  })

  it('calls the signature check only for records that passed every other check', () => {
    let calls = 0
    const d = new Directory({
      verify: (record) => {
        calls++
        return verifyPresence(record)
      },
    })
    expect(d.offer(presence(alice, { seq: 1n }), NOW).ok).toBe(true)
    expect(calls).toBe(1)
    for (let i = 0; i < 50; i++) d.offer(presence(alice, { seq: 1n }), NOW) // stale
    for (let i = 2; i < 50; i++) d.offer(presence(alice, { seq: BigInt(i) }), NOW) // 5 pass, then rate
    d.offer(presence(bob, { issuedAt: NOW + 1000 }), NOW) // future
    expect(calls).toBe(6)
    expect(d.counters.accepted).toBe(6)
    // A check that refuses refuses.
    const never = new Directory({ verify: () => false })
    expect(never.offer(presence(alice), NOW)).toEqual({ ok: false, reason: 'bad-signature' })
  })

  it('never stores our own records', () => {
    const d = new Directory({ self: alice.peerId })
    expect(d.offer(presence(alice), NOW)).toEqual({ ok: false, reason: 'stale' })
    expect(d.size).toBe(0)
  })

  it('limits each PeerId to 6 accepted records a minute, whatever it sends', () => {
    const d = new Directory()
    let accepted = 0
    for (let i = 0; i < 100; i++) {
      if (d.offer(presence(alice, { seq: BigInt(i + 1) }), NOW + Math.floor((i * 59) / 100)).ok)
        accepted++
    }
    expect(accepted).toBe(6)
    expect(d.counters.refused.rate).toBe(94)
    expect(d.rateTimes).toBe(6)
    // The first two were accepted at NOW: 60 s later they leave the window
    // and two more pass; the 94 refused ones never counted.
    expect(d.offer(presence(alice, { seq: 1000n }), NOW + 59)).toEqual({
      ok: false,
      reason: 'rate',
    })
    expect(d.offer(presence(alice, { seq: 1001n }), NOW + 60).ok).toBe(true)
    expect(d.offer(presence(alice, { seq: 1002n }), NOW + 60).ok).toBe(true)
    expect(d.offer(presence(alice, { seq: 1003n }), NOW + 60)).toEqual({
      ok: false,
      reason: 'rate',
    })
  })

  it('holds at most maxPeers nodes under a flood of 10k identities, and at most maxRelays relays', async () => {
    const d = new Directory()
    let accepted = 0
    for (let n = 0; n < 10_000; n++) {
      const r = d.offer(presence(identity(1000 + n), { issuedAt: NOW }), NOW)
      if (r.ok) accepted++
      else expect(r.reason).toBe('full')
    }
    expect(accepted).toBe(4096)
    expect(d.size).toBe(4096)
    expect(d.rateTimes).toBe(4096)
    expect(d.nodes(NOW)).toHaveLength(4096)
    // Relays have their own table, so a flood of nodes does not keep them out.
    for (let n = 0; n < 100; n++) d.offer(presence(identity(50_000 + n), { role: 'relay' }), NOW)
    expect(d.relays(NOW)).toHaveLength(64)
    expect(d.size).toBe(4096 + 64)
    // One PeerId of the table sending on: its rate memory stays at the limit.
    const held = identity(1000)
    for (let i = 2; i < 200; i++)
      d.offer(presence(held, { seq: BigInt(i), issuedAt: NOW }), NOW + i)
    expect(d.rateTimes).toBeLessThanOrEqual((4096 + 64) * 6)
    expect(d.rateTimes - (4096 + 64 - 1)).toBeLessThanOrEqual(6)
    // Once the flood's records expire, room is made by pruning them.
    const later = NOW + 901
    const r = d.offer(presence(alice, { issuedAt: later }), later)
    expect(r.ok && r.change).toBe('new')
    expect(d.size).toBe(1)
  }, 60_000)

  it('a PeerId changing role moves to the other table', () => {
    const d = new Directory({ maxRelays: 1 })
    d.offer(presence(bob, { role: 'relay' }), NOW)
    d.offer(presence(alice), NOW)
    expect(d.offer(presence(alice, { seq: 2n, role: 'relay' }), NOW)).toEqual({
      ok: false,
      reason: 'full',
    })
    d.remove(base58btc(bob.peerId))
    expect(d.offer(presence(alice, { seq: 2n, role: 'relay' }), NOW).ok).toBe(true)
    expect(d.nodes(NOW)).toHaveLength(0)
    expect(d.relays(NOW)).toHaveLength(1)
    expect(d.offer(presence(bob, { role: 'relay', seq: 3n }), NOW)).toEqual({
      ok: false,
      reason: 'full',
    })
  })

  it('lists nodes, relays and VLANs of live records only; prunes the expired', () => {
    const d = new Directory()
    const carol = identity(3)
    d.offer(presence(alice, { vlans: [{ vlanId: vlanA, name: 'lab' }] }), NOW)
    d.offer(
      presence(bob, {
        role: 'relay',
        expiresAt: NOW + 100,
        vlans: [{ vlanId: vlanA, name: 'lab' }],
      }),
      NOW,
    )
    d.offer(
      presence(carol, {
        vlans: [{ vlanId: vlanA, name: 'other' }, { vlanId: new Uint8Array(32) }],
      }),
      NOW,
    )
    const vlans = d.vlans(NOW)
    expect(vlans.get('a1'.repeat(32))?.name).toBe('lab')
    expect(vlans.get('a1'.repeat(32))?.peers).toHaveLength(3)
    expect(vlans.get('00'.repeat(32))).toEqual({ peers: [base58btc(carol.peerId)] })
    expect(d.relays(NOW)).toHaveLength(1)
    expect(d.relays(NOW + 100)).toHaveLength(0)
    expect(d.nodes(NOW + 100)).toHaveLength(2)
    expect(d.size).toBe(3)
    expect(d.prune(NOW + 100)).toEqual([base58btc(bob.peerId)])
    expect(d.size).toBe(2)
    expect(d.prune(NOW + 100)).toEqual([])
    d.clear()
    expect(d.size).toBe(0)
    expect(d.nodes(NOW)).toEqual([])
  })

  it('hands a newcomer relays first, then the newest, within maxBytes', () => {
    const d = new Directory()
    const ids = [3, 4, 5, 6].map(identity)
    d.offer(presence(ids[0]!, { issuedAt: NOW - 30 }), NOW)
    d.offer(presence(ids[1]!, { issuedAt: NOW - 10 }), NOW)
    d.offer(presence(ids[2]!, { issuedAt: NOW - 60, role: 'relay' }), NOW)
    d.offer(presence(ids[3]!, { issuedAt: NOW - 20, expiresAt: NOW }), NOW - 20)
    const records = d.records(NOW)
    const order = records.map((r) => {
      const decoded = decodePresence(r)
      return decoded.ok ? base58btc(decoded.record.peerId) : ''
    })
    expect(order).toEqual([ids[2]!, ids[1]!, ids[0]!].map((i) => base58btc(i.peerId)))
    expect(decodePresenceBatch(encodePresenceBatch(records))).toEqual(records)
    const size = records[0]!.length
    expect(d.records(NOW, 3 + 2 * (size + 2))).toHaveLength(2)
    expect(d.records(NOW, 3 + 2 * (size + 2) - 1)).toHaveLength(1)
    expect(() => d.records(NOW, 2 ** 21)).toThrow(MvlanError)
  })

  it('throws on a bad clock or limits', () => {
    expect(() => new Directory().offer(presence(alice), -1)).toThrow(MvlanError)
    expect(() => new Directory().offer(presence(alice), 1.5)).toThrow(MvlanError)
    expect(() => new Directory({ recordsPerPeerPerMinute: 0 })).toThrow(MvlanError)
    expect(() => new Directory({ maxPeers: -1 })).toThrow(MvlanError)
  })
})
