// TicketGrants (spec 12-relay.md §12.8.2) from the stranger's side: a
// forged, expired or over-long ticket grants nothing; a ticket for an owner
// the relay does not admit (a stranger's own, signed by itself) is refused
// before any budget or signature; a ticket for owner A opens no circuit to
// B; grants are bounded, rate-limited, and end with the ticket, the link or
// the deny list.
import { describe, expect, it } from 'vitest'
import { base58btc, signRelayTicket, TicketGrants, type TicketGrantsInit } from '../src/index.ts'
import { ownerKey } from './ticket-keys.ts'

const NOW = 1_780_000_000
const A = ownerKey(new Uint8Array(32).fill(0xa))
const B = ownerKey(new Uint8Array(32).fill(0xb))
const a = base58btc(A.peerId)
const b = base58btc(B.peerId)
const ticketFor = (owner: typeof A, notAfter = NOW + 3600) =>
  signRelayTicket({ ownerPeerId: owner.peerId, privateKey: owner.privateKey, notAfter })
/** A relay that admits every owner (what the other tests are not about). */
const all = { admits: () => true }

describe('TicketGrants', () => {
  it('a ticket for owner A opens a circuit to A only, until notAfter', () => {
    const grants = new TicketGrants(all)
    expect(grants.allows('S', a, NOW)).toBe(false)
    expect(grants.offer('S', ticketFor(A), NOW)).toEqual({ ok: true, owner: a, until: NOW + 3600 })
    expect(grants.allows('S', a, NOW)).toBe(true)
    expect(grants.allows('S', b, NOW)).toBe(false)
    // Only the peer that presented it.
    expect(grants.allows('T', a, NOW)).toBe(false)
    expect(grants.allows('S', a, NOW + 3600)).toBe(true)
    expect(grants.allows('S', a, NOW + 3601)).toBe(false)
    expect(grants.counters.circuits).toBe(2)
    grants.expire(NOW + 3601)
    expect(grants.size).toBe(0)
    expect(grants.counters.expired).toBe(1)
  })

  it('refuses a forged ticket (A named, B signed) and counts it', () => {
    const grants = new TicketGrants(all)
    const forged = signRelayTicket({
      ownerPeerId: B.peerId,
      privateKey: B.privateKey,
      notAfter: NOW + 60,
    })
    // Put A's PeerId where B's is: the signature no longer matches.
    forged.set(A.peerId, 2)
    expect(grants.offer('S', forged, NOW)).toEqual({ ok: false, reason: 'bad-signature' })
    expect(grants.allows('S', a, NOW)).toBe(false)
    expect(grants.allows('S', b, NOW)).toBe(false)
    expect(grants.counters.refused['bad-signature']).toBe(1)
    expect(grants.counters.accepted).toBe(0)
  })

  it('refuses expired, over-long and malformed tickets without a signature check', () => {
    const grants = new TicketGrants({ ...all, checkBurst: 1, checksPerSecond: 0.001 })
    expect(grants.offer('S', ticketFor(A, NOW - 1), NOW)).toEqual({ ok: false, reason: 'expired' })
    expect(grants.offer('S', ticketFor(A, NOW + 8 * 86_400), NOW)).toEqual({
      ok: false,
      reason: 'too-long-lived',
    })
    expect(grants.offer('S', new Uint8Array(3), NOW)).toEqual({
      ok: false,
      reason: 'unknown-version',
    })
    // None of them spent the one check the invitee has.
    expect(grants.offer('S', ticketFor(A), NOW).ok).toBe(true)
    expect(grants.size).toBe(1)
  })

  it('refuses a ticket whose owner the relay does not admit, before the budgets and the signature', () => {
    // A relay that admits A only; strangers sign tickets naming themselves.
    const grants = new TicketGrants({
      admits: (id) => id === a,
      checkBurst: 1,
      checksPerSecond: 0.001,
      globalCheckBurst: 2,
      globalChecksPerSecond: 0.001,
      maxGrants: 2,
    })
    expect(grants.offer('T', ticketFor(A), NOW)).toEqual({ ok: true, owner: a, until: NOW + 3600 })
    expect(grants.counters.signatureChecks).toBe(1)
    const strangers = Array.from({ length: 20 }, (_, i) =>
      ownerKey(new Uint8Array(32).fill(0x40 + i)),
    )
    for (const [i, s] of strangers.entries()) {
      const self = ticketFor(s)
      for (let n = 0; n < 50; n++)
        expect(grants.offer(`S${i}`, self, NOW)).toEqual({
          ok: false,
          reason: 'owner-not-admitted',
        })
    }
    // A forged ticket for an owner not admitted is refused as such too, unchecked.
    const forged = ticketFor(A)
    forged.set(B.peerId, 2)
    expect(grants.offer('S0', forged, NOW)).toEqual({ ok: false, reason: 'owner-not-admitted' })
    expect(grants.counters.refused['owner-not-admitted']).toBe(20 * 50 + 1)
    // No signature checked, no budget spent, no grant made or evicted.
    expect(grants.counters.signatureChecks).toBe(1)
    expect(grants.counters.refused.rate).toBe(0)
    expect(grants.counters.refused['bad-signature']).toBe(0)
    expect(grants.counters.accepted).toBe(1)
    expect(grants.counters.evicted).toBe(0)
    expect(grants.size).toBe(1)
    expect(grants.allows('T', a, NOW)).toBe(true)
    // The relay's one remaining check is still there for a real invitee, and so is S0's own.
    expect(grants.offer('S0', ticketFor(A), NOW)).toEqual({ ok: true, owner: a, until: NOW + 3600 })
    expect(grants.counters.signatureChecks).toBe(2)
  })

  it('judges admission when the ticket comes: an owner admitted later is granted then', () => {
    const admitted = new Set<string>()
    const grants = new TicketGrants({ admits: (id) => admitted.has(id) })
    expect(grants.offer('S', ticketFor(A), NOW)).toEqual({
      ok: false,
      reason: 'owner-not-admitted',
    })
    admitted.add(a)
    expect(grants.offer('S', ticketFor(A), NOW).ok).toBe(true)
    expect(grants.allows('S', a, NOW)).toBe(true)
  })

  it('checks the layout and the time before admission, and the deny list first', () => {
    const grants = new TicketGrants({ admits: () => false, denied: (id) => id === 'D' })
    expect(grants.offer('S', ticketFor(A, NOW - 1), NOW)).toEqual({ ok: false, reason: 'expired' })
    expect(grants.offer('S', new Uint8Array(3), NOW)).toEqual({
      ok: false,
      reason: 'unknown-version',
    })
    expect(grants.offer('D', ticketFor(A), NOW)).toEqual({ ok: false, reason: 'denied' })
    expect(grants.offer('S', ticketFor(A), NOW)).toEqual({
      ok: false,
      reason: 'owner-not-admitted',
    })
  })

  it('a denied peer gets no grant, and loses one it held', () => {
    const deny = new Set<string>()
    const grants = new TicketGrants({ ...all, denied: (id) => deny.has(id) })
    expect(grants.offer('S', ticketFor(A), NOW).ok).toBe(true)
    deny.add('S')
    expect(grants.allows('S', a, NOW)).toBe(false)
    expect(grants.offer('S', ticketFor(A), NOW)).toEqual({ ok: false, reason: 'denied' })
  })

  it('rate-limits signature checks per invitee (2/s, burst 4) and over all peers', () => {
    const grants = new TicketGrants(all)
    const ticket = ticketFor(A)
    const results = Array.from({ length: 6 }, () => grants.offer('S', ticket, NOW).ok)
    expect(results).toEqual([true, true, true, true, false, false])
    expect(grants.counters.refused.rate).toBe(2)
    // Another invitee has its own budget; half a second later S has one more.
    expect(grants.offer('T', ticket, NOW).ok).toBe(true)
    expect(grants.offer('S', ticket, NOW + 0.5).ok).toBe(true)
    expect(grants.offer('S', ticket, NOW + 0.5).ok).toBe(false)

    const global = new TicketGrants({ ...all, globalChecksPerSecond: 1, globalCheckBurst: 2 })
    expect(['P', 'Q', 'R'].map((id) => global.offer(id, ticket, NOW).ok)).toEqual([
      true,
      true,
      false,
    ])
  })

  it('renews a grant to the later notAfter', () => {
    const grants = new TicketGrants(all)
    grants.offer('S', ticketFor(A, NOW + 100), NOW)
    grants.offer('S', ticketFor(A, NOW + 50), NOW)
    expect(grants.until('S', a)).toBe(NOW + 100)
    grants.offer('S', ticketFor(A, NOW + 200), NOW + 1)
    expect(grants.until('S', a)).toBe(NOW + 200)
    expect(grants.size).toBe(1)
  })

  it('holds at most 4 owners per invitee and maxGrants in all, the oldest evicted', () => {
    const owners = Array.from({ length: 5 }, (_, i) => ownerKey(new Uint8Array(32).fill(0x20 + i)))
    const grants = new TicketGrants({ ...all, checkBurst: 100, maxGrants: 6 })
    for (const o of owners) expect(grants.offer('S', ticketFor(o), NOW).ok).toBe(true)
    expect(grants.size).toBe(4)
    expect(grants.allows('S', base58btc(owners[0]!.peerId), NOW)).toBe(false)
    expect(grants.allows('S', base58btc(owners[4]!.peerId), NOW)).toBe(true)
    expect(grants.counters.evicted).toBe(1)
    // Three more grants from T: the relay's bound of 6 evicts S's oldest.
    for (const o of owners.slice(0, 3)) expect(grants.offer('T', ticketFor(o), NOW).ok).toBe(true)
    expect(grants.size).toBe(6)
    expect(grants.allows('S', base58btc(owners[1]!.peerId), NOW)).toBe(false)
    expect(grants.allows('S', base58btc(owners[2]!.peerId), NOW)).toBe(true)
    expect(grants.counters.evicted).toBe(2)
  })

  it('forgets an invitee whose link went down', () => {
    const grants = new TicketGrants(all)
    grants.offer('S', ticketFor(A), NOW)
    grants.offer('S', ticketFor(B), NOW)
    grants.offer('T', ticketFor(B), NOW)
    grants.forget('S')
    expect(grants.allows('S', a, NOW)).toBe(false)
    expect(grants.allows('S', b, NOW)).toBe(false)
    expect(grants.allows('T', b, NOW)).toBe(true)
    expect(grants.size).toBe(1)
  })

  it('never throws on arbitrary bytes from anyone', () => {
    const grants = new TicketGrants(all)
    for (let n = 0; n < 300; n++) {
      const junk = Uint8Array.from({ length: n % 140 }, (_, i) => (i * 31 + n) & 0xff)
      expect(grants.offer(`P${n}`, junk, NOW).ok).toBe(false)
    }
    expect(grants.size).toBe(0)
  })

  it('refuses options out of range', () => {
    expect(() => new TicketGrants({ ...all, maxGrants: 0 })).toThrow(/maxGrants/)
    expect(() => new TicketGrants({ ...all, checksPerSecond: 0 })).toThrow(/checksPerSecond/)
    // No default admission: a relay that admits anyone must say so.
    expect(() => new TicketGrants({} as TicketGrantsInit)).toThrow(/admits/)
  })
})
