import { deriveHpkeKeyPair } from '@peertap/crypto'
import { describe, expect, it } from 'vitest'
import {
  decodeJoinVerdict,
  encodeJoinVerdict,
  InviteError,
  JOIN_VERDICTS,
  type JoinVerdictName,
  MAX_KEY_PACKAGE_BYTES,
  openJoinRequest,
  sealJoinRequest,
  verdictMessage,
} from '../src/index.ts'
import { ed25519Peer } from './helpers.ts'

const owner = ed25519Peer(1)
const joiner = ed25519Peer(2)
const stranger = ed25519Peer(3)
const vlanId = new Uint8Array(32).fill(0x5a)
const secret = new Uint8Array(16).fill(0x11)
const keys = await deriveHpkeKeyPair(new Uint8Array(32).fill(4))
const request = await sealJoinRequest({
  vlanId,
  ownerHpkeKey: keys.publicKey,
  owner,
  joiner,
  secret,
  keyPackage: new Uint8Array([9, 9, 9]),
})
const open = (payload: Uint8Array, from = joiner) =>
  openJoinRequest({ payload, owner, ownerHpkePrivateKey: keys.privateKey, from })

describe('join requests', () => {
  it('open on the link of the joiner they name, and only there', async () => {
    expect(await open(request)).toMatchObject({
      ok: true,
      secret,
      keyPackage: new Uint8Array([9, 9, 9]),
    })
    // Replayed or relayed by anyone else: the aad names another PeerId.
    expect(await open(request, stranger)).toEqual({ ok: false, reason: 'not-opened', vlanId })
  })

  it('use a fresh ephemeral key each time', async () => {
    const again = await sealJoinRequest({
      vlanId,
      ownerHpkeKey: keys.publicKey,
      owner,
      joiner,
      secret,
      keyPackage: new Uint8Array([9, 9, 9]),
    })
    expect(again).not.toEqual(request)
  })

  it('refuse a key package that is empty or above the bound, and too-large requests', async () => {
    const params = { vlanId, ownerHpkeKey: keys.publicKey, owner, joiner, secret }
    await expect(sealJoinRequest({ ...params, keyPackage: new Uint8Array(0) })).rejects.toThrow(
      InviteError,
    )
    await expect(
      sealJoinRequest({ ...params, keyPackage: new Uint8Array(MAX_KEY_PACKAGE_BYTES + 1) }),
    ).rejects.toThrow(InviteError)
    const big = new Uint8Array(1 + 32 + 48 + 16 + MAX_KEY_PACKAGE_BYTES + 1)
    big[0] = 1
    expect(await open(big)).toMatchObject({ ok: false, reason: 'too-large' })
  })

  it('never throw on any prefix of a request', async () => {
    for (let n = 0; n < request.length; n++)
      expect((await open(request.subarray(0, n))).ok).toBe(false)
  })
})

describe('verdicts', () => {
  it.each(Object.keys(JOIN_VERDICTS) as JoinVerdictName[])(
    '%s round-trips and has a message',
    (verdict) => {
      const read = decodeJoinVerdict(encodeJoinVerdict({ vlanId, verdict }))
      expect(read.ok && read.verdict.verdict).toBe(verdict)
      expect(verdictMessage({ verdict }).length).toBeGreaterThan(20)
    },
  )

  it('tell the joiner what to do next', () => {
    expect(verdictMessage({ verdict: 'used-up' })).toContain('peertap vlan invite')
    expect(verdictMessage({ verdict: 'busy', retryAfterSeconds: 30 })).toContain('30 s')
  })

  it('refuse to assign a public address', () => {
    expect(() =>
      encodeJoinVerdict({
        vlanId,
        verdict: 'accepted',
        ipv4: { address: '8.8.8.8', prefixLength: 24 },
      }),
    ).toThrow(InviteError)
  })
})
