// A relay's presence (spec 12 §12.9): its own record signed with its
// PeerId (role relay, no VLANs), re-signed when due or when its addresses
// change, seq increasing; neighbour relays' records taken only from
// configured relays, verified.
import { membershipProofPublicKey } from '@peertap/crypto'
import {
  decodePresence,
  decodePresenceBatch,
  encodePresenceBatch,
  signPresence,
  verifyPresence,
} from '@peertap/mvlan'
import { describe, expect, it } from 'vitest'
import { RelayPresence } from '../src/index.ts'

const NOW = 1_800_000_000
const PREFIX = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20]
const identity = (n: number) => {
  const seed = new Uint8Array(32).fill(n)
  return { seed, peerId: Uint8Array.from([...PREFIX, ...membershipProofPublicKey(seed)]) }
}
const self = identity(1)
const neighbour = identity(2)
const ADDRS = ['/ip4/192.0.2.1/tcp/7400/p2p/12D3KooWself']

function relayRecord(who = neighbour, seq = 1n, role: 'relay' | 'node' = 'relay', at = NOW) {
  return signPresence({
    ...who,
    role,
    seq,
    issuedAt: at,
    expiresAt: at + 900,
    addresses: ['/ip4/192.0.2.2/tcp/7400'],
    vlans: [],
  })
}
const records = (batch: Uint8Array) =>
  decodePresenceBatch(batch)!.map((bytes) => {
    const decoded = decodePresence(bytes)
    if (!decoded.ok) throw new Error(decoded.reason)
    return decoded.record
  })

describe('RelayPresence (spec 12 §12.9)', () => {
  it('signs its own record with its PeerId: role relay, no VLANs, its load, 900 s', () => {
    const presence = new RelayPresence(self)
    expect(presence.batch(NOW)).toEqual(presence.batch(NOW))
    expect(decodePresenceBatch(presence.batch(NOW))).toEqual([])
    expect(presence.refresh(ADDRS, 3, NOW)).toBe(true)
    const [own] = records(presence.batch(NOW))
    expect(own).toMatchObject({
      role: 'relay',
      issuedAt: NOW,
      expiresAt: NOW + 900,
      addresses: ADDRS,
      vlans: [],
      load: 3,
    })
    expect(own!.peerId).toEqual(self.peerId)
    expect(verifyPresence(own!)).toBe(true)
    expect(own!.seq).toBe(BigInt(NOW * 1000))
  })

  it('signs again after 300 s or when its addresses change, never with a lower seq', () => {
    const presence = new RelayPresence(self)
    presence.refresh(ADDRS, 0, NOW)
    const seqOf = () => records(presence.batch(NOW))[0]!.seq
    const first = seqOf()
    expect(presence.refresh(ADDRS, 5, NOW + 299)).toBe(false)
    expect(presence.refresh(ADDRS, 5, NOW + 300)).toBe(true)
    expect(seqOf()).toBeGreaterThan(first)
    expect(presence.refresh(['/ip4/198.51.100.1/tcp/7400'], 5, NOW + 301)).toBe(true)
    // A clock that went back still gives a higher seq.
    const before = seqOf()
    expect(presence.refresh(ADDRS, 5, NOW - 1000)).toBe(true)
    expect(seqOf()).toBe(before + 1n)
    expect(presence.counters.signed).toBe(4)
  })

  it("takes neighbour relays' records only from configured relays, verified, role relay", () => {
    const presence = new RelayPresence(self)
    presence.refresh(ADDRS, 0, NOW)
    expect(presence.offer(false, encodePresenceBatch([relayRecord()]), NOW)).toBe(0)
    expect(presence.counters.batchesNotFromRelay).toBe(1)
    expect(presence.offer(true, new Uint8Array([9, 9]), NOW)).toBe(0)
    expect(presence.counters.batchesMalformed).toBe(1)
    const forged = relayRecord(neighbour, 2n)
    forged[forged.length - 1]! ^= 1
    const batch = encodePresenceBatch([
      relayRecord(identity(3), 1n, 'node'),
      forged,
      relayRecord(),
      // Its own record passed back: never held.
      presence.record!,
    ])
    expect(presence.offer(true, batch, NOW)).toBe(1)
    expect(presence.counters.records.refused).toMatchObject({ role: 1, 'bad-signature': 1 })
    const out = records(presence.batch(NOW))
    expect(out.map((r) => r.peerId)).toEqual([self.peerId, neighbour.peerId])
    // The neighbour is not sent its own record back.
    const toNeighbour = presence.directory.relays(NOW)[0]!.peerId
    expect(records(presence.batch(NOW, toNeighbour)).map((r) => r.peerId)).toEqual([self.peerId])
    // Lapsed at its expiry.
    presence.expire(NOW + 900)
    expect(records(presence.batch(NOW + 900)).map((r) => r.peerId)).toEqual([self.peerId])
  })
})
