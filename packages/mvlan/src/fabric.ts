/**
 * The fabric's keys (docs/spec/16-fabric.md §16.1): from one fabric secret,
 * the MVLAN-ID (01-identifiers.md §1.3), the MVLAN's PSK epoch secrets
 * (03-keys.md §2) and its credential key, the Ed25519 public key of the
 * MVLAN's authSeed, under which a membership proof (07-membership-proof.md)
 * is a fabric credential. And each member's port MAC on the MVLAN.
 */
import { derivePskEpochSecrets, type EpochSecrets, membershipProofPublicKey } from '@peertap/crypto'
import { deriveMvlanId } from '@peertap/vft'
import { deriveBytes } from './bytes.ts'
import { CONTEXT_MVLAN_MAC, MAC_LENGTH } from './constants.ts'
import { MvlanError } from './errors.ts'

export interface FabricKeys {
  /** MVLAN-ID = derive_key("PeerTap v1 MVLAN-ID", secret). */
  readonly mvlanId: Uint8Array
  /** The MVLAN's epoch secrets: the MVLAN is a PSK VLAN whose PSK is the fabric secret. */
  readonly secrets: EpochSecrets
  /** derive_key("PeerTap v1 PSK relay-auth", secret): `secrets.authSeed`. */
  readonly credentialSeed: Uint8Array
  /** The Ed25519 public key of `credentialSeed`, 32 bytes: what relays admit proofs under. */
  readonly credentialKey: Uint8Array
}

/** §16.1: every key of the fabric with this secret (1 byte or more; 32 random bytes recommended). */
export function fabricKeys(secret: Uint8Array): FabricKeys {
  if (!(secret instanceof Uint8Array) || secret.length === 0) {
    throw new MvlanError('invalid-argument', 'a fabric secret is a non-empty Uint8Array')
  }
  const secrets = derivePskEpochSecrets(secret)
  return {
    mvlanId: deriveMvlanId(secret),
    secrets,
    credentialSeed: secrets.authSeed,
    credentialKey: membershipProofPublicKey(secrets.authSeed),
  }
}

/**
 * §16.1: a member's port MAC on the MVLAN, from its PeerId (multihash
 * bytes): the first 6 bytes of derive_key("PeerTap v1 MVLAN MAC", peerId),
 * the first byte's locally administered bit set and multicast bit cleared.
 */
export function mvlanPortMac(peerId: Uint8Array): Uint8Array {
  if (!(peerId instanceof Uint8Array) || peerId.length === 0) {
    throw new MvlanError('invalid-argument', 'a PeerId is a non-empty Uint8Array')
  }
  const mac = deriveBytes(CONTEXT_MVLAN_MAC, peerId, MAC_LENGTH)
  mac[0] = (mac[0]! | 0x02) & 0xfe
  return mac
}
