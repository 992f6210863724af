import { blake3 } from '@noble/hashes/blake3.js'
import { deriveVlanId } from '@peertap/vft'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CODE_PREFIX,
  decodeInvitationCode,
  encodeInvitationCode,
  encodeInvitationPayload,
  type Invitation,
  InviteError,
  isExpired,
} from '../src/index.ts'
import { ed25519Peer } from './helpers.ts'

const owner = ed25519Peer(0xaa)
const base: Invitation = {
  vlanId: deriveVlanId(owner, 'lab'),
  name: 'lab',
  owner,
  ownerHpkeKey: new Uint8Array(32).fill(3),
  addresses: ['/ip4/10.1.0.2/tcp/7400'],
  secret: new Uint8Array(16).fill(9),
  expiresAt: 1_800_000_000,
  ticket: new Uint8Array(0),
}
const code = encodeInvitationCode(base)

describe('the text form', () => {
  it('is the prefix and one lower-case base32 word', () => {
    expect(code.startsWith(CODE_PREFIX)).toBe(true)
    expect(code.slice(CODE_PREFIX.length)).toMatch(/^[a-z2-7]+$/)
  })

  it('catches every single-character change with the checksum', () => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
    for (let i = CODE_PREFIX.length; i < code.length; i++) {
      const other = alphabet[(alphabet.indexOf(code[i]!) + 1 + (i % 31)) % 32]!
      const read = decodeInvitationCode(code.slice(0, i) + other + code.slice(i + 1))
      expect(read.ok ? 'decoded' : read.reason, `position ${i}`).toBe('checksum')
    }
  })

  it('names the first bad character and where it is', () => {
    const text = `${code.slice(0, 30)}8${code.slice(31, 40)}9${code.slice(41)}`
    const read = decodeInvitationCode(text)
    expect(read).toMatchObject({ ok: false, reason: 'bad-character', position: 30 })
    expect(!read.ok && read.detail).toContain('"8"')
  })

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        expect(decodeInvitationCode(text).ok).toBe(false)
        expect(decodeInvitationCode(CODE_PREFIX + text).ok).toBe(false)
      }),
    )
    expect(decodeInvitationCode(undefined as unknown as string)).toMatchObject({
      reason: 'not-a-code',
    })
  })

  it('round-trips random invitations', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.array(fc.stringMatching(/^\/[a-z0-9/.:-]{1,100}$/), { maxLength: 8 }),
        fc.uint8Array({ maxLength: 1024 }),
        (secret, expiresAt, addresses, ticket) => {
          const inv = { ...base, secret, expiresAt, addresses, ticket }
          const read = decodeInvitationCode(encodeInvitationCode(inv))
          expect(read.ok && read.invitation).toEqual(inv)
        },
      ),
      { numRuns: 50 },
    )
  })
})

/** RFC 4648 §6 the slow way: the bits as a string of '0' and '1', five at a time. */
function referenceBase32(bytes: Uint8Array): string {
  const bits = [...bytes].map((b) => b.toString(2).padStart(8, '0')).join('')
  const padded = bits.padEnd(Math.ceil(bits.length / 5) * 5, '0')
  let out = ''
  for (let i = 0; i < padded.length; i += 5)
    out += 'abcdefghijklmnopqrstuvwxyz234567'[Number.parseInt(padded.slice(i, i + 5), 2)]
  return out
}

describe('against a slow reference', () => {
  it('the text is the prefix and the reference base32 of payload and checksum', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 40 }),
        (secret, ticket) => {
          const inv = { ...base, secret, ticket }
          const payload = encodeInvitationPayload(inv)
          const checksum = blake3(payload, {
            context: new TextEncoder().encode('PeerTap v1 invitation code checksum'),
            dkLen: 5,
          })
          expect(encodeInvitationCode(inv)).toBe(
            CODE_PREFIX + referenceBase32(Uint8Array.from([...payload, ...checksum])),
          )
        },
      ),
      { numRuns: 100 },
    )
  })
})

describe('encoding refuses fields out of range', () => {
  it.each([
    ['a short vlanId', { vlanId: new Uint8Array(31) }],
    ['an empty name', { name: '' }],
    ['a secret of 15 bytes', { secret: new Uint8Array(15) }],
    ['9 addresses', { addresses: Array(9).fill('/ip4/10.0.0.1/tcp/1') }],
    ['an address without /', { addresses: ['ip4/10.0.0.1'] }],
    ['an address of 256 bytes', { addresses: [`/${'a'.repeat(255)}`] }],
    ['a ticket of 1025 bytes', { ticket: new Uint8Array(1025) }],
    ['expiresAt past u32', { expiresAt: 2 ** 32 }],
    ['expiresAt fractional', { expiresAt: 1.5 }],
    ['an owner that is not a multihash', { owner: new Uint8Array([1, 2, 3]) }],
    ['a founder that is not a multihash', { founder: new Uint8Array([1, 2, 3]) }],
    ['a founder equal to the owner', { founder: owner }],
  ])('%s', (_, change) => {
    expect(() => encodeInvitationCode({ ...base, ...change } as Invitation)).toThrow(InviteError)
  })
})

describe('a code to a VLAN handed over (a founder)', () => {
  const founder = ed25519Peer(0xbb)
  const handed: Invitation = { ...base, founder, vlanId: deriveVlanId(founder, 'lab') }

  it('round-trips, one founder-length byte plus the founder longer', () => {
    const read = decodeInvitationCode(encodeInvitationCode(handed))
    expect(read.ok && read.invitation).toEqual(handed)
    expect(encodeInvitationPayload(handed).length).toBe(
      encodeInvitationPayload(base).length + founder.length,
    )
  })

  it('an ordinary code decodes with no founder', () => {
    const read = decodeInvitationCode(code)
    expect(read.ok && 'founder' in read.invitation).toBe(false)
  })

  it("checks the VLAN-ID against the founder's, not the owner's", () => {
    const wrong = encodeInvitationCode({ ...handed, vlanId: deriveVlanId(owner, 'lab') })
    expect(decodeInvitationCode(wrong)).toMatchObject({ ok: false, reason: 'vlan-id-mismatch' })
  })
})

describe('isExpired', () => {
  it('is true from expiresAt on, and decoding does not check it', () => {
    expect(isExpired(base, base.expiresAt - 1)).toBe(false)
    expect(isExpired(base, base.expiresAt)).toBe(true)
    expect(decodeInvitationCode(encodeInvitationCode({ ...base, expiresAt: 0 })).ok).toBe(true)
  })
})
