import { deriveVlanId } from '@peertap/vft'
import { describe, expect, it } from 'vitest'
import {
  decodeInvitationCode,
  InvitationBook,
  InviteError,
  invitationId,
  issueInvitation,
  MAX_LIVE_INVITATIONS,
} from '../src/index.ts'
import { ed25519Peer, fixedRandom } from './helpers.ts'

const vlanId = new Uint8Array(32).fill(1)
const other = new Uint8Array(32).fill(2)
const bob = ed25519Peer(0xb0)
const carol = ed25519Peer(0xc0)
const now = 1_800_000_000
let counter = 0
const random = (n: number) => {
  const out = new Uint8Array(n)
  new DataView(out.buffer).setUint32(0, ++counter)
  return out
}

describe('InvitationBook', () => {
  it('defaults to one use for 24 hours', () => {
    const book = new InvitationBook()
    const { secret, id } = book.create({ vlanId, now, random })
    expect(id).toBe(invitationId(secret))
    expect(book.list(vlanId, now)[0]).toMatchObject({
      uses: 1,
      usesLeft: 1,
      expiresAt: now + 86_400,
      state: 'live',
    })
    expect(book.redeem({ vlanId, secret, joiner: bob, now: now + 86_399 })).toBe('accepted')
    expect(book.redeem({ vlanId, secret, joiner: carol, now: now + 86_399 })).toBe('used-up')
  })

  it("answers 'again' to the same joiner without taking a use", () => {
    const book = new InvitationBook()
    const { secret } = book.create({ vlanId, now, random, uses: 2 })
    expect(book.redeem({ vlanId, secret, joiner: bob, now })).toBe('accepted')
    expect(book.redeem({ vlanId, secret, joiner: bob, now })).toBe('again')
    expect(book.list(vlanId, now)[0]!.usesLeft).toBe(1)
    expect(book.redeem({ vlanId, secret, joiner: carol, now })).toBe('accepted')
  })

  it('refuses an expired, a revoked, an unknown secret and one of another VLAN', () => {
    const book = new InvitationBook()
    const a = book.create({ vlanId, now, random, expiresAt: now + 60 })
    const b = book.create({ vlanId, now, random })
    expect(book.redeem({ vlanId, secret: a.secret, joiner: bob, now: now + 60 })).toBe('expired')
    expect(book.revoke({ vlanId, id: b.id, now })).toBe(1)
    expect(book.redeem({ vlanId, secret: b.secret, joiner: bob, now })).toBe('revoked')
    expect(book.redeem({ vlanId, secret: new Uint8Array(16), joiner: bob, now })).toBe('refused')
    expect(book.redeem({ vlanId: other, secret: b.secret, joiner: bob, now })).toBe('refused')
  })

  it('revokes by an id in either case, and says 0 for an id that names nothing', () => {
    const book = new InvitationBook()
    const a = book.create({ vlanId, now, random })
    const b = book.create({ vlanId, now, random })
    expect(book.revoke({ vlanId, id: 'f'.repeat(16), now })).toBe(0)
    expect(book.revoke({ vlanId: other, id: a.id, now })).toBe(0)
    expect(book.revoke({ vlanId, id: a.id.toUpperCase(), now })).toBe(1)
    expect(book.list(vlanId, now).map((s) => s.state)).toEqual(
      a.id < b.id ? ['revoked', 'live'] : ['live', 'revoked'],
    )
  })

  it('peeks without taking a use, and gives a use back', () => {
    const book = new InvitationBook()
    const { secret } = book.create({ vlanId, now, random })
    expect(book.peek({ vlanId, secret, joiner: bob, now })).toBe('accepted')
    expect(book.peek({ vlanId: other, secret, joiner: bob, now })).toBe('refused')
    expect(book.list(vlanId, now)[0]).toMatchObject({ usesLeft: 1, endedAt: null })
    expect(book.redeem({ vlanId, secret, joiner: bob, now })).toBe('accepted')
    expect(book.peek({ vlanId, secret, joiner: bob, now })).toBe('again')
    expect(book.peek({ vlanId, secret, joiner: carol, now })).toBe('used-up')
    expect(book.unredeem({ vlanId, secret, joiner: carol })).toBe(false)
    expect(book.unredeem({ vlanId, secret, joiner: bob })).toBe(true)
    expect(book.list(vlanId, now)[0]).toMatchObject({
      usesLeft: 1,
      endedAt: null,
      state: 'live',
      joiners: [],
    })
    // The record it then writes is one a reader accepts.
    expect(InvitationBook.decode(book.encode()).ok).toBe(true)
    expect(book.redeem({ vlanId, secret, joiner: carol, now })).toBe('accepted')
  })

  it('revokes all of a VLAN, forgets a VLAN, prunes a day after the end', () => {
    const book = new InvitationBook()
    book.create({ vlanId, now, random })
    book.create({ vlanId, now, random })
    book.create({ vlanId: other, now, random })
    expect(book.revoke({ vlanId, now })).toBe(2)
    expect(book.prune(now + 86_399)).toBe(0)
    expect(book.prune(now + 86_400)).toBe(2)
    expect(book.forget(other)).toBe(1)
    expect(book.size).toBe(0)
  })

  it('holds at most 4096 live invitations, and says so', () => {
    const book = new InvitationBook()
    for (let i = 0; i < MAX_LIVE_INVITATIONS; i++) book.create({ vlanId, now, random })
    expect(() => book.create({ vlanId, now, random })).toThrow(
      expect.objectContaining({ code: 'book-full' }),
    )
    book.revoke({ vlanId, id: book.list(vlanId, now)[0]!.id, now })
    expect(() => book.create({ vlanId, now, random })).not.toThrow()
  })

  it('refuses a repeated secret and bad arguments', () => {
    const book = new InvitationBook()
    const secret = new Uint8Array(16).fill(7)
    book.create({ vlanId, now, random: fixedRandom(secret) })
    expect(() => book.create({ vlanId, now, random: fixedRandom(secret) })).toThrow(
      expect.objectContaining({ code: 'random-repeated' }),
    )
    expect(() => book.create({ vlanId, now, random, uses: 0 })).toThrow(InviteError)
    expect(() => book.create({ vlanId, now, random, uses: 1001 })).toThrow(InviteError)
    expect(() => book.create({ vlanId, now, random, expiresAt: now })).toThrow(InviteError)
    expect(() => book.create({ vlanId, now, random, expiresAt: now + 366 * 86_400 })).toThrow(
      InviteError,
    )
  })

  it('keeps only hashes in its record, and refuses a damaged record whole', () => {
    const book = new InvitationBook()
    const { secret } = book.create({ vlanId, now, random })
    const record = book.encode()
    expect(Buffer.from(record).toString()).not.toContain(Buffer.from(secret).toString('hex'))
    for (let i = 0; i < record.length; i += 3) {
      const damaged = record.slice()
      damaged[i] = 0x7b // '{'
      const read = InvitationBook.decode(damaged)
      if (read.ok) expect(read.book.encode()).toEqual(record) // the byte was already '{'
    }
    const read = InvitationBook.decode(record)
    expect(read.ok && read.book.redeem({ vlanId, secret, joiner: bob, now })).toBe('accepted')
  })
})

describe('issueInvitation', () => {
  it('creates the entry and a code that decodes to it', () => {
    const book = new InvitationBook()
    const owner = ed25519Peer(0xaa)
    const { code, id } = issueInvitation({
      book,
      owner,
      name: 'lab',
      ownerHpkeKey: new Uint8Array(32),
      now,
    })
    const read = decodeInvitationCode(code)
    expect(read.ok && invitationId(read.invitation.secret)).toBe(id)
    expect(read.ok && read.invitation.expiresAt).toBe(now + 86_400)
  })

  it('names the founder of a VLAN this owner was handed, whose VLAN-ID the entry and code carry', () => {
    const book = new InvitationBook()
    const owner = ed25519Peer(0xaa)
    const founder = ed25519Peer(0xbb)
    const { code, invitation } = issueInvitation({
      book,
      owner,
      founder,
      name: 'lab',
      ownerHpkeKey: new Uint8Array(32),
      now,
    })
    const read = decodeInvitationCode(code)
    expect(read.ok && read.invitation.founder).toEqual(founder)
    expect(read.ok && read.invitation.owner).toEqual(owner)
    expect(invitation.vlanId).toEqual(deriveVlanId(founder, 'lab'))
    expect(book.list(invitation.vlanId, now)).toHaveLength(1)
    // a founder equal to the owner is no founder
    const own = issueInvitation({
      book,
      owner,
      founder: owner,
      name: 'lab',
      ownerHpkeKey: new Uint8Array(32),
      now,
    })
    expect(own.invitation.founder).toBeUndefined()
    expect(own.invitation.vlanId).toEqual(deriveVlanId(owner, 'lab'))
  })

  it('leaves the book untouched when a field is refused', () => {
    const book = new InvitationBook()
    const owner = ed25519Peer(0xaa)
    expect(() =>
      issueInvitation({ book, owner, name: 'lab', ownerHpkeKey: new Uint8Array(31), now }),
    ).toThrow(InviteError)
    expect(book.size).toBe(0)
  })
})
