// Relay tickets (spec 12-relay.md §12.8.2): the vectors forwards, backwards
// and with every bit flipped; signing's argument checks; a ticket the
// relay's parser never throws on.
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  base58btc,
  isEd25519PeerId,
  RELAY_TICKET_MAX_LIFETIME_SECONDS,
  RelayError,
  signRelayTicket,
  verifyRelayTicket,
} from '../src/index.ts'
import { ownerKey } from './ticket-keys.ts'

interface Vectors {
  ownerPeerIdText: string
  valid: {
    name: string
    seed: string
    publicKey: string
    ownerPeerId: string
    notAfter: number
    ticketId: string
    now: number
    ticket: string
  }[]
  refused: { name: string; reason: string; ticket: string; now: number }[]
}
const vectors = JSON.parse(
  readFileSync(new URL('./vectors/ticket.json', import.meta.url), 'utf8'),
) as Vectors
const bytes = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('ticket vectors', () => {
  it.each(vectors.valid)('$name: signed to the same bytes, verified, read back', (v) => {
    const { privateKey, peerId } = ownerKey(bytes(v.seed))
    expect(hex(peerId)).toBe(v.ownerPeerId)
    const signed = signRelayTicket({
      ownerPeerId: peerId,
      privateKey,
      notAfter: v.notAfter,
      ticketId: bytes(v.ticketId),
    })
    expect(hex(signed)).toBe(v.ticket)
    const verdict = verifyRelayTicket(bytes(v.ticket), v.now)
    expect(verdict.ok).toBe(true)
    if (!verdict.ok) return
    expect(hex(verdict.owner)).toBe(v.ownerPeerId)
    expect(verdict.notAfter).toBe(v.notAfter)
    expect(hex(verdict.ticketId)).toBe(v.ticketId)
    expect(base58btc(verdict.owner)).toBe(vectors.ownerPeerIdText)
  })

  it.each(vectors.refused)('$name: refused as $reason', (v) => {
    expect(verifyRelayTicket(bytes(v.ticket), v.now)).toEqual({ ok: false, reason: v.reason })
  })

  it('refuses every single flipped bit of every valid ticket', () => {
    for (const v of vectors.valid) {
      const ticket = bytes(v.ticket)
      for (let bit = 0; bit < ticket.length * 8; bit++) {
        const flipped = ticket.slice()
        flipped[bit >> 3]! ^= 1 << (bit & 7)
        expect(verifyRelayTicket(flipped, v.now).ok, `${v.name} bit ${bit}`).toBe(false)
      }
    }
  })

  it('refuses a valid ticket once now passes notAfter, and honours it up to then', () => {
    const v = vectors.valid[0]!
    expect(verifyRelayTicket(bytes(v.ticket), v.notAfter).ok).toBe(true)
    expect(verifyRelayTicket(bytes(v.ticket), v.notAfter + 0.5)).toEqual({
      ok: false,
      reason: 'expired',
    })
    // Judged too early (the relay's clock far behind), it lives too long.
    expect(
      verifyRelayTicket(bytes(v.ticket), v.notAfter - RELAY_TICKET_MAX_LIFETIME_SECONDS - 1),
    ).toEqual({ ok: false, reason: 'too-long-lived' })
  })

  it('reads a ticket inside a larger buffer', () => {
    const v = vectors.valid[0]!
    const ticket = bytes(v.ticket)
    const big = new Uint8Array(ticket.length + 10)
    big.set(ticket, 7)
    expect(verifyRelayTicket(big.subarray(7, 7 + ticket.length), v.now).ok).toBe(true)
  })
})

describe('signRelayTicket', () => {
  const { privateKey, peerId } = ownerKey(new Uint8Array(32).fill(9))
  const other = ownerKey(new Uint8Array(32).fill(10))

  it('draws a random ticket id when none is given', () => {
    const a = verifyRelayTicket(
      signRelayTicket({ ownerPeerId: peerId, privateKey, notAfter: 200 }),
      100,
    )
    const b = verifyRelayTicket(
      signRelayTicket({ ownerPeerId: peerId, privateKey, notAfter: 200 }),
      100,
    )
    expect(a.ok && b.ok).toBe(true)
    if (a.ok && b.ok) expect(hex(a.ticketId)).not.toBe(hex(b.ticketId))
  })

  it.each([
    ['a key not the owner’s', { ownerPeerId: peerId, privateKey: other.privateKey, notAfter: 1 }],
    [
      'a seed whose public half is not its own',
      {
        ownerPeerId: peerId,
        privateKey: Uint8Array.from([...privateKey.subarray(0, 32), ...other.peerId.subarray(6)]),
        notAfter: 1,
      },
    ],
    ['a 32-byte key', { ownerPeerId: peerId, privateKey: privateKey.subarray(0, 32), notAfter: 1 }],
    ['a PeerId that is not Ed25519', { ownerPeerId: peerId.subarray(1), privateKey, notAfter: 1 }],
    ['a negative notAfter', { ownerPeerId: peerId, privateKey, notAfter: -1 }],
    ['a fractional notAfter', { ownerPeerId: peerId, privateKey, notAfter: 1.5 }],
    [
      'a short ticket id',
      { ownerPeerId: peerId, privateKey, notAfter: 1, ticketId: new Uint8Array(15) },
    ],
  ])('throws RelayError invalid-argument for %s', (_, params) => {
    expect(() => signRelayTicket(params)).toThrow(RelayError)
    try {
      signRelayTicket(params)
    } catch (error) {
      expect((error as RelayError).code).toBe('invalid-argument')
    }
  })

  it('isEd25519PeerId takes only 00 24 08 01 12 20 ‖ 32 bytes', () => {
    expect(isEd25519PeerId(peerId)).toBe(true)
    expect(isEd25519PeerId(peerId.subarray(0, 37))).toBe(false)
    const sha = peerId.slice()
    sha[0] = 0x12
    expect(isEd25519PeerId(sha)).toBe(false)
  })
})

describe('verifyRelayTicket on arbitrary bytes', () => {
  it('never throws and never accepts', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (b, now) => {
          expect(verifyRelayTicket(b, now).ok).toBe(false)
        },
      ),
    )
  })

  it('never throws on a well-formed layout with random contents', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 38 + 88, maxLength: 38 + 88 }), (tail) => {
        const b = Uint8Array.from([1, 38, 0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...tail.subarray(6)])
        expect(verifyRelayTicket(b, 0).ok).toBe(false)
      }),
    )
  })
})

describe('base58btc', () => {
  it('writes leading zeros as 1 and small numbers as libp2p does', () => {
    expect(base58btc(new Uint8Array(0))).toBe('')
    expect(base58btc(Uint8Array.from([0, 0]))).toBe('11')
    expect(base58btc(Uint8Array.from([57]))).toBe('z')
    expect(base58btc(Uint8Array.from([58]))).toBe('21')
    expect(base58btc(Uint8Array.from([0, 1]))).toBe('12')
  })
})
