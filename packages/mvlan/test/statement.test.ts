import { describe, expect, it } from 'vitest'
import {
  decodeFabricEpoch,
  fabricKeys,
  MvlanError,
  rootKeyOf,
  STATEMENT_LENGTH,
  signFabricEpoch,
  verifyFabricEpoch,
} from '../src/index.ts'
import { ed25519PublicKey, ed25519Sign, flip, toHex, utf8 } from './helpers.ts'

const rootSeed = new Uint8Array(32).fill(0x11)
const otherSeed = new Uint8Array(32).fill(0x22)
const credentialKey = fabricKeys(utf8('fabric secret')).credentialKey
const params = { rootSeed, epoch: 7, credentialKey, issuedAt: 1_800_000_000 }

function decoded(bytes: Uint8Array) {
  const d = decodeFabricEpoch(bytes)
  if (!d.ok) throw new Error('malformed')
  return d.statement
}

describe('fabric epoch statements', () => {
  it('round-trips and verifies under the root key', () => {
    const bytes = signFabricEpoch(params)
    expect(bytes).toHaveLength(STATEMENT_LENGTH)
    const s = decoded(bytes)
    expect(s.rootKey).toEqual(rootKeyOf(rootSeed))
    expect(s.rootKey).toEqual(ed25519PublicKey(rootSeed))
    expect(s.epoch).toBe(7)
    expect(s.credentialKey).toEqual(credentialKey)
    expect(s.issuedAt).toBe(1_800_000_000)
    expect(verifyFabricEpoch(s)).toBe(true)
  })

  it('is laid out as the spec says, signed over the label and the first 77 bytes', () => {
    const bytes = signFabricEpoch({ ...params, epoch: 0xffff_ffff, issuedAt: 2 ** 53 - 1 })
    const body = Uint8Array.from([
      1,
      ...rootKeyOf(rootSeed),
      0xff, 0xff, 0xff, 0xff,
      ...credentialKey,
      0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]) // biome-ignore format: the layout
    expect(toHex(bytes.subarray(0, 77))).toBe(toHex(body))
    expect(toHex(bytes.subarray(77))).toBe(
      toHex(ed25519Sign(rootSeed, Uint8Array.from([...utf8('PeerTap v1 fabric epoch'), ...body]))),
    )
    expect(decoded(bytes).epoch).toBe(0xffff_ffff)
    expect(decoded(bytes).issuedAt).toBe(2 ** 53 - 1)
  })

  it('refuses a bit flipped in each region: the version as malformed, the rest by the signature', () => {
    const bytes = signFabricEpoch(params)
    expect(decodeFabricEpoch(flip(bytes, 0)).ok).toBe(false)
    // rootKey, epoch, credentialKey, issuedAt, R, S
    for (const index of [1, 32, 33, 36, 37, 68, 69, 76, 77, 108, 109, 140]) {
      for (const bit of [0, 7]) {
        const d = decodeFabricEpoch(flip(bytes, index, bit))
        if (d.ok) expect(verifyFabricEpoch(d.statement), `byte ${index} bit ${bit}`).toBe(false)
      }
    }
  })

  it('is not verified for a root that did not sign it', () => {
    // Signed by another root, claiming ours: the signature fails.
    const claimed = signFabricEpoch({ ...params, rootSeed: otherSeed })
    claimed.set(rootKeyOf(rootSeed), 1)
    expect(verifyFabricEpoch(decoded(claimed))).toBe(false)
    // Signed by another root under its own key: valid, but it names that root, not ours.
    const other = decoded(signFabricEpoch({ ...params, rootSeed: otherSeed }))
    expect(verifyFabricEpoch(other)).toBe(true)
    expect(other.rootKey).not.toEqual(rootKeyOf(rootSeed))
    // A statement object whose rootKey is not the one in its bytes.
    expect(
      verifyFabricEpoch({ ...decoded(signFabricEpoch(params)), rootKey: rootKeyOf(otherSeed) }),
    ).toBe(false)
  })

  it('names each malformed statement', () => {
    const bytes = signFabricEpoch(params)
    const cases: Record<string, Uint8Array> = {
      empty: new Uint8Array(0),
      short: bytes.subarray(0, 140),
      long: Uint8Array.from([...bytes, 0]),
      version: Uint8Array.from([2, ...bytes.subarray(1)]),
      'issuedAt past 2^53': (() => {
        const b = bytes.slice()
        b[69] = 0x00
        b[70] = 0x20
        return b
      })(),
    }
    for (const [name, b] of Object.entries(cases)) {
      expect(decodeFabricEpoch(b), name).toEqual({ ok: false, reason: 'malformed' })
    }
  })

  it('throws on fields out of range when signing', () => {
    expect(() => signFabricEpoch({ ...params, epoch: -1 })).toThrow(MvlanError)
    expect(() => signFabricEpoch({ ...params, epoch: 2 ** 32 })).toThrow(MvlanError)
    expect(() => signFabricEpoch({ ...params, epoch: 1.5 })).toThrow(MvlanError)
    expect(() => signFabricEpoch({ ...params, credentialKey: new Uint8Array(31) })).toThrow(
      MvlanError,
    )
    expect(() => signFabricEpoch({ ...params, issuedAt: -1 })).toThrow(MvlanError)
    expect(() => signFabricEpoch({ ...params, rootSeed: new Uint8Array(31) })).toThrow(MvlanError)
  })
})
