/**
 * Key derivation (docs/spec/03-keys.md): BLAKE3 derive_key for the four
 * epoch secrets of a PSK VLAN, HKDF-Expand-SHA256 for per-sender keys.
 */
import { blake3 } from '@noble/hashes/blake3.js'
import { expand } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import {
  AEAD_KEY_LENGTH,
  CONTEXT_PSK_FRAME,
  CONTEXT_PSK_HEADER,
  CONTEXT_PSK_RELAY_AUTH,
  CONTEXT_PSK_VFT,
  EPOCH_SECRET_LENGTH,
  KID_LENGTH,
  LABEL_KEY,
  LABEL_SALT,
  LABEL_SENDER,
  NONCE_LENGTH,
  SENDER_SECRET_LENGTH,
} from './constants.ts'
import { InvalidArgumentError } from './errors.ts'
import { checkKid, type Kid } from './kid.ts'

/**
 * The four secrets of one VLAN epoch (03-keys.md §1), 32 bytes each. A PSK
 * VLAN derives them with {@link derivePskEpochSecrets}; an MLS VLAN exports
 * them from the epoch's MLS exporter (@peertap/mls). Consumers do not care
 * which.
 */
export interface EpochSecrets {
  /** PRK of every sender's key in this epoch (03-keys.md §5). */
  readonly frameBase: Uint8Array
  /** Key of the VLAN Forwarding Tokens (02-vft.md §2.2). */
  readonly vftKey: Uint8Array
  /** Header-protection key (04-sealed-payload.md §4). */
  readonly hpKey: Uint8Array
  /** Seed of the epoch's relay-auth Ed25519 key pair (07-membership-proof.md §1). */
  readonly authSeed: Uint8Array
}

/** One sender's key material (03-keys.md §5). */
export interface SenderKeyMaterial {
  /** HKDF-Expand(frameBase, "PeerTap v1 sender" ‖ KID, 32). */
  readonly secret: Uint8Array
  /** AES-256-GCM key: HKDF-Expand(secret, "PeerTap v1 key", 32). */
  readonly key: Uint8Array
  /** Nonce salt: HKDF-Expand(secret, "PeerTap v1 salt", 12). */
  readonly salt: Uint8Array
}

const encoder = new TextEncoder()
const SENDER_INFO_PREFIX = encoder.encode(LABEL_SENDER)
const KEY_INFO = encoder.encode(LABEL_KEY)
const SALT_INFO = encoder.encode(LABEL_SALT)

/**
 * BLAKE3 derive_key(context, material) with a 32-byte output. The context is
 * a "PeerTap v1 ..." string, UTF-8 encoded (03-keys.md §2).
 */
export function deriveKey(context: string, material: Uint8Array): Uint8Array {
  return blake3(material, { context: encoder.encode(context), dkLen: 32 })
}

/** 03-keys.md §2: the four epoch secrets of a PSK VLAN (or the MVLAN) from its secret. */
export function derivePskEpochSecrets(secret: Uint8Array): EpochSecrets {
  if (!(secret instanceof Uint8Array) || secret.length === 0) {
    throw new InvalidArgumentError('a PSK secret is a non-empty Uint8Array')
  }
  return {
    frameBase: deriveKey(CONTEXT_PSK_FRAME, secret),
    vftKey: deriveKey(CONTEXT_PSK_VFT, secret),
    hpKey: deriveKey(CONTEXT_PSK_HEADER, secret),
    authSeed: deriveKey(CONTEXT_PSK_RELAY_AUTH, secret),
  }
}

/** Checks that all four secrets are 32-byte Uint8Arrays. */
export function checkEpochSecrets(secrets: EpochSecrets): void {
  for (const name of ['frameBase', 'vftKey', 'hpKey', 'authSeed'] as const) {
    const v = secrets[name]
    if (!(v instanceof Uint8Array) || v.length !== EPOCH_SECRET_LENGTH) {
      throw new InvalidArgumentError(`${name} must be ${EPOCH_SECRET_LENGTH} bytes`)
    }
  }
}

/**
 * 03-keys.md §5: a sender's secret, key and salt from frameBase (used as the
 * HKDF PRK, no Extract) and the sender's KID.
 */
export function deriveSenderKeyMaterial(frameBase: Uint8Array, kid: Kid): SenderKeyMaterial {
  checkKid(kid)
  return deriveSenderKeyMaterialHiLo(frameBase, Number(kid >> 32n), Number(kid & 0xffff_ffffn))
}

/** @internal The KID as two u32 halves, as the receiver holds it. */
export function deriveSenderKeyMaterialHiLo(
  frameBase: Uint8Array,
  kidHi: number,
  kidLo: number,
): SenderKeyMaterial {
  if (!(frameBase instanceof Uint8Array) || frameBase.length !== EPOCH_SECRET_LENGTH) {
    throw new InvalidArgumentError('frameBase must be 32 bytes')
  }
  const info = new Uint8Array(SENDER_INFO_PREFIX.length + KID_LENGTH)
  info.set(SENDER_INFO_PREFIX)
  const view = new DataView(info.buffer)
  view.setUint32(SENDER_INFO_PREFIX.length, kidHi)
  view.setUint32(SENDER_INFO_PREFIX.length + 4, kidLo)
  const secret = expand(sha256, frameBase, info, SENDER_SECRET_LENGTH)
  return {
    secret,
    key: expand(sha256, secret, KEY_INFO, AEAD_KEY_LENGTH),
    salt: expand(sha256, secret, SALT_INFO, NONCE_LENGTH),
  }
}
