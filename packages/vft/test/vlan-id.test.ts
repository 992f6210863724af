import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  assertPeerIdBytes,
  deriveMvlanId,
  deriveVlanId,
  formatVlanId,
  normaliseVlanName,
  parseVlanId,
  VftError,
} from '../src/index.ts'

const owner = Uint8Array.from(Buffer.from(`002408011220${'ab'.repeat(32)}`, 'hex'))

function codeOf(f: () => unknown): string | undefined {
  try {
    f()
  } catch (error) {
    if (error instanceof VftError) return error.code
    throw error
  }
  return undefined
}

describe('VLAN names', () => {
  it('normalises to NFC before deriving', () => {
    expect(deriveVlanId(owner, 'cafe\u0301')).toEqual(deriveVlanId(owner, 'caf\u00e9'))
    expect(normaliseVlanName('cafe\u0301')).toEqual(new TextEncoder().encode('caf\u00e9'))
  })

  it('takes a name as bytes, which must be valid UTF-8', () => {
    expect(deriveVlanId(owner, new TextEncoder().encode('lab'))).toEqual(deriveVlanId(owner, 'lab'))
    expect(codeOf(() => normaliseVlanName(Uint8Array.of(0x6c, 0xff, 0x62)))).toBe(
      'vlan-name-invalid-utf8',
    )
    expect(codeOf(() => normaliseVlanName(Uint8Array.of(0xc3)))).toBe('vlan-name-invalid-utf8')
    // An overlong encoding of '/' is not UTF-8.
    expect(codeOf(() => normaliseVlanName(Uint8Array.of(0xc0, 0xaf)))).toBe(
      'vlan-name-invalid-utf8',
    )
  })

  it('refuses an unpaired surrogate in a string', () => {
    expect(codeOf(() => normaliseVlanName('lab\ud800'))).toBe('vlan-name-invalid-utf8')
  })

  it('refuses empty and too long names, counting UTF-8 bytes after NFC', () => {
    expect(codeOf(() => normaliseVlanName(''))).toBe('vlan-name-empty')
    expect(normaliseVlanName('x'.repeat(64))).toHaveLength(64)
    expect(codeOf(() => normaliseVlanName('x'.repeat(65)))).toBe('vlan-name-too-long')
    // 21 three-byte characters are 63 bytes; one more crosses 64.
    expect(normaliseVlanName('ネ'.repeat(21))).toHaveLength(63)
    expect(codeOf(() => normaliseVlanName('ネ'.repeat(22)))).toBe('vlan-name-too-long')
    // 64 bytes in NFD ("e" + U+0301 is 3 bytes) are 32 bytes in NFC ("é" is 2): allowed.
    expect(normaliseVlanName('e\u0301'.repeat(21))).toHaveLength(42)
  })

  it('refuses control characters', () => {
    for (const c of ['\u0000', '\n', '\u001b', '\u007f', '\u0085']) {
      expect(codeOf(() => normaliseVlanName(`a${c}b`))).toBe('vlan-name-control-char')
    }
  })
})

describe('owner PeerId bytes', () => {
  it('accepts identity and sha2-256 multihashes', () => {
    expect(() => assertPeerIdBytes(owner)).not.toThrow()
    expect(() =>
      assertPeerIdBytes(Uint8Array.from([0x12, 0x20, ...new Uint8Array(32)])),
    ).not.toThrow()
  })
  it.each([
    ['empty', []],
    ['truncated digest', [0x12, 0x20, 1, 2, 3]],
    ['trailing byte', [0x12, 0x02, 1, 2, 3]],
    ['zero-length digest', [0x12, 0x00]],
    ['non-minimal varint', [0x92, 0x00, 0x01, 0xaa]],
    ['unterminated varint', [0x80, 0x80, 0x80, 0x80, 0x80]],
  ])('refuses %s', (_name, bytes) => {
    expect(codeOf(() => assertPeerIdBytes(Uint8Array.from(bytes)))).toBe('peer-id-invalid')
    expect(codeOf(() => deriveVlanId(Uint8Array.from(bytes), 'lab'))).toBe('peer-id-invalid')
  })
})

describe('VLAN-ID text form', () => {
  it('round-trips any 32 bytes through 52 lowercase base32 characters', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (id) => {
        const text = formatVlanId(id)
        expect(text).toMatch(/^[a-z2-7]{52}$/)
        expect(parseVlanId(text)).toEqual(id)
        expect(parseVlanId(text.toUpperCase())).toEqual(id)
      }),
    )
  })

  it('matches RFC 4648 base32 (cross-checked with Python base64.b32encode)', () => {
    // python3 -c "import base64; print(base64.b32encode(bytes(range(32))).decode().lower())"
    const id = Uint8Array.from({ length: 32 }, (_, i) => i)
    expect(formatVlanId(id)).toBe('aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq')
  })

  it('has exactly one text form per VLAN-ID', () => {
    const text = formatVlanId(new Uint8Array(32))
    // The last character carries one bit; 'b' sets an unused padding bit.
    expect(() => parseVlanId(`${text.slice(0, 51)}b`)).toThrow(/padding/)
    expect(() => parseVlanId(text.slice(1))).toThrow(/52/)
    expect(() => parseVlanId(`${text.slice(0, 51)}1`)).toThrow(/base32/)
  })
})

describe('MVLAN-ID', () => {
  it('refuses an empty fabric secret', () => {
    expect(codeOf(() => deriveMvlanId(new Uint8Array(0)))).toBe('secret-empty')
  })
})

describe('pskVlanId', () => {
  it('is derive_key("PeerTap v1 PSK VLAN-ID", secret), 32 bytes, and refuses an empty secret', async () => {
    const { blake3 } = await import('@noble/hashes/blake3.js')
    const { pskVlanId } = await import('../src/index.ts')
    const secret = new Uint8Array(32).fill(0x42)
    const expected = blake3(secret, {
      context: new TextEncoder().encode('PeerTap v1 PSK VLAN-ID'),
      dkLen: 32,
    })
    expect(Buffer.from(pskVlanId(secret)).toString('hex')).toBe(
      Buffer.from(expected).toString('hex'),
    )
    expect(() => pskVlanId(new Uint8Array(0))).toThrow(/empty/)
  })
})
