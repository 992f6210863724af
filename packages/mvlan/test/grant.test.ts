import { describe, expect, it } from 'vitest'
import { decodeFabricGrant, encodeFabricGrant, fabricKeys, signFabricEpoch } from '../src/index.ts'

const secret = new Uint8Array(32).fill(7)
const rootSeed = new Uint8Array(32).fill(9)
const admin = Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...new Uint8Array(32).fill(3)])
const statement = signFabricEpoch({
  rootSeed,
  epoch: 2,
  credentialKey: fabricKeys(secret).credentialKey,
  issuedAt: 1_800_000_000,
})
const bootstrap = ['/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWExample']

describe('fabric grants', () => {
  it('round-trips', () => {
    const bytes = encodeFabricGrant({ secret, statement, admins: [admin], bootstrap })
    const decoded = decodeFabricGrant(bytes)
    if (!decoded.ok) throw new Error(decoded.reason)
    expect(decoded.grant.secret).toEqual(secret)
    expect(decoded.grant.statement.epoch).toBe(2)
    expect(decoded.grant.admins).toEqual([admin])
    expect(decoded.grant.bootstrap).toEqual(bootstrap)
  })

  it("refuses a statement whose credential key is not the secret's", () => {
    const other = new Uint8Array(32).fill(8)
    const bytes = encodeFabricGrant({ secret: other, statement, admins: [admin], bootstrap: [] })
    expect(decodeFabricGrant(bytes)).toEqual({ ok: false, reason: 'mismatch' })
  })

  it('refuses every truncation, a trailing byte, a wrong version and no admin', () => {
    const bytes = encodeFabricGrant({ secret, statement, admins: [admin], bootstrap })
    for (let n = 0; n < bytes.length; n++)
      expect(decodeFabricGrant(bytes.subarray(0, n)).ok, `cut at ${n}`).toBe(false)
    expect(decodeFabricGrant(Uint8Array.from([...bytes, 0])).ok).toBe(false)
    expect(decodeFabricGrant(Uint8Array.from([2, ...bytes.subarray(1)])).ok).toBe(false)
    const noAdmin = Uint8Array.from(bytes)
    noAdmin[1 + 32 + 141] = 0
    expect(decodeFabricGrant(noAdmin).ok).toBe(false)
    expect(() => encodeFabricGrant({ secret, statement, admins: [], bootstrap })).toThrow(
      /1 to 8 admins/,
    )
  })
})
