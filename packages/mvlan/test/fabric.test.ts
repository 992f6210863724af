import { blake3 } from '@noble/hashes/blake3.js'
import {
  createMembershipProof,
  derivePskEpochSecrets,
  membershipProofPublicKey,
  verifyMembershipProof,
} from '@peertap/crypto'
import { deriveMvlanId } from '@peertap/vft'
import { describe, expect, it } from 'vitest'
import { FABRIC_SECRET_LENGTH, fabricKeys, MvlanError, mvlanPortMac } from '../src/index.ts'
import { identity, utf8 } from './helpers.ts'

describe('fabricKeys', () => {
  const secret = new Uint8Array(FABRIC_SECRET_LENGTH).fill(0x42)

  it('is the MVLAN-ID, the PSK epoch secrets and the authSeed key of the secret', () => {
    const keys = fabricKeys(secret)
    expect(keys.mvlanId).toEqual(deriveMvlanId(secret))
    expect(keys.secrets).toEqual(derivePskEpochSecrets(secret))
    expect(keys.credentialSeed).toEqual(
      blake3(secret, { context: utf8('PeerTap v1 PSK relay-auth') }),
    )
    expect(keys.credentialKey).toEqual(membershipProofPublicKey(keys.credentialSeed))
    expect(keys.credentialKey).toHaveLength(32)
  })

  it('gives a credential: a membership proof under the credential seed verifies under the credential key', () => {
    const keys = fabricKeys(secret)
    const { peerId } = identity(1)
    const now = 1_800_000_000
    const window = Math.floor(now / 600)
    const proof = createMembershipProof({
      authSeed: keys.credentialSeed,
      peerId,
      expiry: now + 300,
      window,
      vfts: [new Uint8Array(16)],
    })
    const verdict = verifyMembershipProof({ proof, peerId, now })
    expect(verdict.ok && verdict.proof.publicKey).toEqual(keys.credentialKey)
  })

  it('gives other keys for another secret, and accepts any non-empty length', () => {
    expect(fabricKeys(Uint8Array.of(1)).credentialKey).not.toEqual(
      fabricKeys(Uint8Array.of(2)).credentialKey,
    )
    expect(fabricKeys(new Uint8Array(100)).mvlanId).toHaveLength(32)
  })

  it('refuses an empty secret', () => {
    expect(() => fabricKeys(new Uint8Array(0))).toThrow(MvlanError)
  })
})

describe('mvlanPortMac', () => {
  it('is locally administered unicast, and otherwise the first 6 bytes of derive_key', () => {
    for (let n = 0; n < 256; n++) {
      const { peerId } = identity(n)
      const mac = mvlanPortMac(peerId)
      const reference = blake3(peerId, { context: utf8('PeerTap v1 MVLAN MAC'), dkLen: 6 })
      expect(mac).toHaveLength(6)
      expect(mac[0]! & 0x02).toBe(0x02)
      expect(mac[0]! & 0x01).toBe(0)
      expect(mac[0]! & 0xfc).toBe(reference[0]! & 0xfc)
      expect(mac.subarray(1)).toEqual(reference.subarray(1))
    }
  })

  it('sets and clears the bits whatever the hash gave (all four combinations seen)', () => {
    const seen = new Set<number>()
    for (let n = 0; n < 64; n++) {
      const { peerId } = identity(n)
      seen.add(blake3(peerId, { context: utf8('PeerTap v1 MVLAN MAC'), dkLen: 1 })[0]! & 0x03)
    }
    expect(seen.size).toBe(4)
  })

  it('differs between PeerIds and refuses an empty one', () => {
    expect(mvlanPortMac(identity(1).peerId)).not.toEqual(mvlanPortMac(identity(2).peerId))
    expect(() => mvlanPortMac(new Uint8Array(0))).toThrow(MvlanError)
  })
})
