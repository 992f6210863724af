import { describe, expect, it } from 'vitest'
import {
  decodePresence,
  ed25519PeerIdOf,
  MAX_RECORD_BYTES,
  MvlanError,
  type PresenceRecord,
  signPresence,
  verifyPresence,
} from '../src/index.ts'
import { flip, hex, identity, type RawRecord, rawBody, rawRecord, toHex, utf8 } from './helpers.ts'

const alice = identity(1)
const bob = identity(2)
const vlanA = new Uint8Array(32).fill(0xa1)
const vlanB = new Uint8Array(32).fill(0xb2)
const base = {
  seed: alice.seed,
  peerId: alice.peerId,
  role: 'relay' as const,
  seq: 0x0102_0304_0506_0708n,
  issuedAt: 1_800_000_000,
  expiresAt: 1_800_000_900,
  addresses: ['/ip4/192.0.2.7/udp/7400/quic-v1', '/dns4/relay.example/tcp/4001'],
  vlans: [{ vlanId: vlanA, name: 'lab' }, { vlanId: vlanB }],
  load: 513,
}

function record(bytes: Uint8Array): PresenceRecord {
  const d = decodePresence(bytes)
  if (!d.ok) throw new Error(`malformed ${toHex(bytes)}`)
  return d.record
}

describe('presence records', () => {
  it('round-trip every field and verify', () => {
    const bytes = signPresence(base)
    const r = record(bytes)
    expect(r.role).toBe('relay')
    expect(r.peerId).toEqual(alice.peerId)
    expect(r.seq).toBe(base.seq)
    expect(r.issuedAt).toBe(base.issuedAt)
    expect(r.expiresAt).toBe(base.expiresAt)
    expect(r.addresses).toEqual(base.addresses)
    expect(r.vlans).toEqual([{ vlanId: vlanA, name: 'lab' }, { vlanId: vlanB }])
    expect(r.load).toBe(513)
    expect(r.bytes).toBe(bytes)
    expect(verifyPresence(r)).toBe(true)
  })

  it('are the bytes of the reference encoder, signed as it signs', () => {
    const bytes = signPresence(base)
    const reference = rawRecord(alice.seed, {
      role: 1,
      peerId: alice.peerId,
      seq: base.seq,
      issuedAt: base.issuedAt,
      expiresAt: base.expiresAt,
      addresses: base.addresses.map(utf8),
      vlans: [{ vlanId: vlanA, name: utf8('lab') }, { vlanId: vlanB }],
      load: 513,
    })
    expect(toHex(bytes)).toBe(toHex(reference))
  })

  it('take the bounds: 255-byte addresses, 32 VLANs, u64 seq, u32 times, u16 load, exactly 1200 bytes', () => {
    const max = signPresence({
      ...base,
      role: 'node',
      seq: 0xffff_ffff_ffff_ffffn,
      issuedAt: 0xffff_fffe,
      expiresAt: 0xffff_ffff,
      addresses: ['/ip6/::1/udp/1'],
      vlans: Array.from({ length: 32 }, (_, i) => ({ vlanId: new Uint8Array(32).fill(i) })),
      load: 0xffff,
    })
    const r = record(max)
    expect(r.seq).toBe(0xffff_ffff_ffff_ffffn)
    expect(r.issuedAt).toBe(0xffff_fffe)
    expect(r.expiresAt).toBe(0xffff_ffff)
    expect(r.load).toBe(0xffff)
    expect(r.vlans).toHaveLength(32)
    expect(verifyPresence(r)).toBe(true)
    const eight = signPresence({
      ...base,
      addresses: Array.from({ length: 8 }, (_, i) => `/ip4/10.0.0.${i}/udp/1`),
    })
    expect(record(eight).addresses).toHaveLength(8)
    // 125 fixed bytes (with a 38-byte PeerId), 4 × 256 and 51: exactly 1200.
    const long = [
      `/${'a'.repeat(254)}`,
      `/${'é'.repeat(127)}`,
      `/${'b'.repeat(254)}`,
      `/${'c'.repeat(254)}`,
    ]
    const exact = signPresence({ ...base, vlans: [], addresses: [...long, `/${'d'.repeat(49)}`] })
    expect(exact.length).toBe(MAX_RECORD_BYTES)
    expect(record(exact).addresses[1]).toBe(`/${'é'.repeat(127)}`)
    expect(verifyPresence(record(exact))).toBe(true)
    expect(() =>
      signPresence({ ...base, vlans: [], addresses: [...long, `/${'d'.repeat(50)}`] }),
    ).toThrow(expect.objectContaining({ code: 'too-large' }))
  })

  it('throws too-large past 1200 bytes and invalid-argument for each field out of range', () => {
    const tooLarge = {
      ...base,
      addresses: Array.from({ length: 8 }, (_, i) => `/${String(i).repeat(200)}`),
    }
    expect(() => signPresence(tooLarge)).toThrow(expect.objectContaining({ code: 'too-large' }))
    const bad: Record<string, object> = {
      'peerId not Ed25519': { peerId: hex(`1220${'00'.repeat(32)}`) },
      'seed short': { seed: new Uint8Array(31) },
      role: { role: 'switch' },
      'seq negative': { seq: -1n },
      'seq past u64': { seq: 1n << 64n },
      'seq a number': { seq: 1 },
      'issuedAt past u32': { issuedAt: 2 ** 32, expiresAt: 2 ** 32 + 1 },
      'expiresAt not after issuedAt': { expiresAt: base.issuedAt },
      'load past u16': { load: 0x1_0000 },
      '9 addresses': { addresses: Array.from({ length: 9 }, () => '/a') },
      'address without /': { addresses: ['ip4/1.2.3.4'] },
      'address with a space': { addresses: ['/ip4/1.2.3.4 /tcp/1'] },
      'address with a control character': { addresses: ['/ip4/\u0000'] },
      'address of 256 bytes': { addresses: [`/${'a'.repeat(255)}`] },
      'address with a lone surrogate': { addresses: ['/\ud800'] },
      '33 VLANs': {
        vlans: Array.from({ length: 33 }, (_, i) => ({ vlanId: new Uint8Array(32).fill(i) })),
      },
      'VLAN-ID short': { vlans: [{ vlanId: new Uint8Array(31) }] },
      'VLAN twice': { vlans: [{ vlanId: vlanA }, { vlanId: vlanA, name: 'x' }] },
      'name of 65 bytes': { vlans: [{ vlanId: vlanA, name: 'a'.repeat(65) }] },
      'name not NFC': { vlans: [{ vlanId: vlanA, name: 'e\u0301' }] },
      'name with a control character': { vlans: [{ vlanId: vlanA, name: 'a\u0007' }] },
    }
    for (const [name, change] of Object.entries(bad)) {
      expect(() => signPresence({ ...base, ...change } as typeof base), name).toThrow(
        expect.objectContaining({ code: 'invalid-argument' }),
      )
    }
    expect(() => signPresence({ ...base, seed: bob.seed })).toThrow(
      expect.objectContaining({ code: 'wrong-seed' }),
    )
    expect(() => signPresence({ ...base, seed: bob.seed })).toThrow(MvlanError)
  })

  it('name each malformed record', () => {
    const ok: RawRecord = {
      peerId: alice.peerId,
      addresses: [utf8('/a')],
      vlans: [{ vlanId: vlanA, name: utf8('n') }],
    }
    expect(decodePresence(rawRecord(alice.seed, ok)).ok).toBe(true)
    const cases: Record<string, Uint8Array> = {
      version: rawRecord(alice.seed, { ...ok, version: 2 }),
      role: rawRecord(alice.seed, { ...ok, role: 2 }),
      'peerId empty': rawRecord(alice.seed, { ...ok, peerId: new Uint8Array(0) }),
      'peerId not a multihash': rawRecord(alice.seed, { ...ok, peerId: hex('0024080112') }),
      'expiresAt = issuedAt': rawRecord(alice.seed, { ...ok, issuedAt: 5, expiresAt: 5 }),
      'expiresAt < issuedAt': rawRecord(alice.seed, { ...ok, issuedAt: 6, expiresAt: 5 }),
      '9 addresses': rawRecord(alice.seed, {
        ...ok,
        addresses: Array.from({ length: 9 }, () => utf8('/a')),
      }),
      'address count past the addresses': rawRecord(alice.seed, { ...ok, addressCount: 2 }),
      'address empty': rawRecord(alice.seed, { ...ok, addresses: [new Uint8Array(0)] }),
      'address without /': rawRecord(alice.seed, { ...ok, addresses: [utf8('a/')] }),
      'address with a space': rawRecord(alice.seed, { ...ok, addresses: [utf8('/a b')] }),
      'address with a tab': rawRecord(alice.seed, { ...ok, addresses: [utf8('/a\tb')] }),
      'address with a control character': rawRecord(alice.seed, {
        ...ok,
        addresses: [utf8('/a\u007f')],
      }),
      'address not UTF-8': rawRecord(alice.seed, { ...ok, addresses: [Uint8Array.of(0x2f, 0xc3)] }),
      '33 VLANs': rawRecord(alice.seed, {
        ...ok,
        vlans: Array.from({ length: 33 }, (_, i) => ({ vlanId: new Uint8Array(32).fill(i) })),
      }),
      'VLAN count past the VLANs': rawRecord(alice.seed, { ...ok, vlanCount: 2 }),
      'VLAN twice': rawRecord(alice.seed, { ...ok, vlans: [{ vlanId: vlanA }, { vlanId: vlanA }] }),
      'name of 65 bytes': rawRecord(alice.seed, {
        ...ok,
        vlans: [{ vlanId: vlanA, name: utf8('a'.repeat(65)) }],
      }),
      'name not NFC': rawRecord(alice.seed, {
        ...ok,
        vlans: [{ vlanId: vlanA, name: utf8('e\u0301') }],
      }),
      'name with a control character': rawRecord(alice.seed, {
        ...ok,
        vlans: [{ vlanId: vlanA, name: utf8('a\u0085') }],
      }),
      'name not UTF-8': rawRecord(alice.seed, {
        ...ok,
        vlans: [{ vlanId: vlanA, name: Uint8Array.of(0xff) }],
      }),
      'a byte left over': (() => {
        const body = rawBody(ok)
        return Uint8Array.from([
          ...body.subarray(0, body.length - 2),
          0,
          0,
          0,
          ...new Uint8Array(64),
        ])
      })(),
      'over 1200 bytes': rawRecord(alice.seed, {
        ...ok,
        addresses: Array.from({ length: 5 }, () => utf8(`/${'a'.repeat(254)}`)),
      }),
      empty: new Uint8Array(0),
    }
    for (const [name, bytes] of Object.entries(cases)) {
      expect(decodePresence(bytes), name).toEqual({ ok: false, reason: 'malformed' })
    }
  })

  it('refuse every truncation and every extension', () => {
    const bytes = signPresence(base)
    for (let n = 0; n < bytes.length; n++) {
      expect(decodePresence(bytes.subarray(0, n)).ok, `${n} bytes`).toBe(false)
    }
    expect(decodePresence(Uint8Array.from([...bytes, 0])).ok).toBe(false)
  })

  it('do not verify with a bit flipped in any byte (or do not decode)', () => {
    const bytes = signPresence(base)
    for (let i = 0; i < bytes.length; i++) {
      const d = decodePresence(flip(bytes, i, i % 8))
      if (d.ok) expect(verifyPresence(d.record), `byte ${i}`).toBe(false)
    }
  })

  it('name their PeerId by ed25519PeerIdOf(seed)', () => {
    expect(ed25519PeerIdOf(alice.seed)).toEqual(alice.peerId)
    expect(ed25519PeerIdOf(bob.seed)).not.toEqual(alice.peerId)
    expect(() => ed25519PeerIdOf(new Uint8Array(31))).toThrow(MvlanError)
  })

  it('do not verify when signed by another key, or for a PeerId that is not Ed25519', () => {
    const forged = rawRecord(bob.seed, { peerId: alice.peerId })
    expect(verifyPresence(record(forged))).toBe(false)
    const sha = hex(`1220${'ab'.repeat(32)}`)
    const notEd25519 = rawRecord(alice.seed, { peerId: sha })
    const r = record(notEd25519)
    expect(r.peerId).toEqual(sha)
    expect(verifyPresence(r)).toBe(false)
    // A record object whose peerId is not the one its bytes carry.
    expect(verifyPresence({ ...record(signPresence(base)), peerId: bob.peerId })).toBe(false)
  })
})
