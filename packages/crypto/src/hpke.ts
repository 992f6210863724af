/**
 * HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
 * AES-256-GCM: PeerTap's ECIES, sealing one message to one node's static
 * X25519 key (join requests to a VLAN owner, docs/design.md §7). The protocol
 * itself is @hpke/core's; this module fixes the suite, takes and returns raw
 * 32-byte keys, packs `enc ‖ ct` into one byte string and turns every failure
 * into a typed error. Normative text: docs/spec/06-hpke.md.
 */
import type { KemInterface } from '@hpke/core'
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core'
import {
  HPKE_ENC_LENGTH,
  HPKE_INFO_PREFIX,
  HPKE_MAX_INPUT_LENGTH,
  HPKE_MIN_IKM_LENGTH,
  HPKE_MIN_SEALED_LENGTH,
  HPKE_PRIVATE_KEY_LENGTH,
  HPKE_PUBLIC_KEY_LENGTH,
} from './constants.ts'
import { HpkeKeyError, HpkeOpenError, InvalidArgumentError } from './errors.ts'

/** A raw X25519 key pair (RFC 7748 encodings, RFC 9180 §7.1.1 Serialize*). */
export interface HpkeKeyPair {
  /** 32 bytes. */
  readonly publicKey: Uint8Array
  /** 32 bytes; keep it secret. */
  readonly privateKey: Uint8Array
}

export interface HpkeSealParams {
  /** The recipient's raw X25519 public key, 32 bytes. */
  readonly recipientPublicKey: Uint8Array
  /** RFC 9180 `info`: must start with "PeerTap v1", at most 8192 bytes. */
  readonly info: Uint8Array
  /** Additional authenticated data; empty when absent. */
  readonly aad?: Uint8Array
  readonly plaintext: Uint8Array
}

export interface HpkeOpenParams {
  /** The recipient's raw X25519 private key, 32 bytes. */
  readonly recipientPrivateKey: Uint8Array
  /** The same `info` the sender used. */
  readonly info: Uint8Array
  /** The same `aad` the sender used; empty when absent. */
  readonly aad?: Uint8Array
  /** `enc ‖ ciphertext ‖ tag` as `hpkeSeal` returned it. */
  readonly sealed: Uint8Array
}

/** WebCrypto's CryptoKey, named through @hpke/core (its global type is not in this lib). */
type HpkeCryptoKey = Awaited<ReturnType<KemInterface['deserializePublicKey']>>

const EMPTY = new Uint8Array(0)
const PREFIX = new TextEncoder().encode(HPKE_INFO_PREFIX)

let cachedSuite: CipherSuite | undefined

/** Built on first use, so importing this module does no work (`sideEffects: false`). */
function suite(): CipherSuite {
  cachedSuite ??= new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: new Aes256Gcm(),
  })
  return cachedSuite
}

/** A fresh random X25519 key pair (RFC 9180 §4, GenerateKeyPair). */
export async function generateHpkeKeyPair(): Promise<HpkeKeyPair> {
  const kem = suite().kem
  try {
    const pair = await kem.generateKeyPair()
    return {
      publicKey: new Uint8Array(await kem.serializePublicKey(pair.publicKey)),
      privateKey: new Uint8Array(await kem.serializePrivateKey(pair.privateKey)),
    }
  } catch (cause) {
    throw new HpkeKeyError('X25519 key generation failed', { cause })
  }
}

/**
 * The X25519 key pair RFC 9180 §7.1.3 DeriveKeyPair makes from `ikm` (at
 * least 32 bytes of secret, uniformly random input keying material).
 */
export async function deriveHpkeKeyPair(ikm: Uint8Array): Promise<HpkeKeyPair> {
  if (ikm.length < HPKE_MIN_IKM_LENGTH || ikm.length > HPKE_MAX_INPUT_LENGTH) {
    throw new InvalidArgumentError(
      `ikm must be ${HPKE_MIN_IKM_LENGTH} to ${HPKE_MAX_INPUT_LENGTH} bytes, got ${ikm.length}`,
    )
  }
  const kem = suite().kem
  try {
    const pair = await kem.deriveKeyPair(ikm)
    return {
      publicKey: new Uint8Array(await kem.serializePublicKey(pair.publicKey)),
      privateKey: new Uint8Array(await kem.serializePrivateKey(pair.privateKey)),
    }
  } catch (cause) {
    throw new HpkeKeyError('X25519 key derivation failed', { cause })
  }
}

/**
 * Seals `plaintext` to the holder of `recipientPublicKey` in one shot
 * (RFC 9180 §6.1 SealBase) and returns `enc ‖ ciphertext ‖ tag`: 32 + n + 16
 * bytes. Every call uses a fresh ephemeral key, so sealing the same input
 * twice gives different bytes.
 */
export async function hpkeSeal(params: HpkeSealParams): Promise<Uint8Array> {
  checkInfo(params.info)
  return sealWith(params, undefined)
}

/**
 * Opens what `hpkeSeal` made (RFC 9180 §6.1 OpenBase). Anything that does not
 * open (too short, a bad `enc`, a tampered byte, the wrong key, info or aad)
 * throws `HpkeOpenError` (code `hpke-open-failed`) and nothing else. A
 * private key of the wrong length or an `info` without the "PeerTap v1"
 * prefix throws `InvalidArgumentError`: those are the caller's own mistakes.
 */
export async function hpkeOpen(params: HpkeOpenParams): Promise<Uint8Array> {
  checkInfo(params.info)
  return openUnchecked(params)
}

/**
 * For test vectors only (it is not exported from the package): `hpkeSeal`
 * with the ephemeral key derived from `ikmE` as RFC 9180's vectors do, and
 * without the "PeerTap v1" rule on `info` so that the RFC's own vectors run.
 * A fixed ephemeral key reused for two messages breaks HPKE's security.
 *
 * @internal
 */
export async function sealWithEphemeralIkmForTesting(
  params: HpkeSealParams,
  ikmE: Uint8Array,
): Promise<Uint8Array> {
  return sealWith(params, ikmE)
}

/**
 * For test vectors only (not exported from the package): `hpkeOpen` without
 * the "PeerTap v1" rule on `info`.
 *
 * @internal
 */
export async function openWithoutInfoRuleForTesting(params: HpkeOpenParams): Promise<Uint8Array> {
  return openUnchecked(params)
}

async function sealWith(params: HpkeSealParams, ikmE: Uint8Array | undefined): Promise<Uint8Array> {
  if (params.recipientPublicKey.length !== HPKE_PUBLIC_KEY_LENGTH) {
    throw new InvalidArgumentError(
      `recipient public key must be ${HPKE_PUBLIC_KEY_LENGTH} bytes, got ${params.recipientPublicKey.length}`,
    )
  }
  const s = suite()
  let recipientPublicKey: HpkeCryptoKey
  try {
    recipientPublicKey = await s.kem.deserializePublicKey(params.recipientPublicKey)
  } catch (cause) {
    throw new HpkeKeyError('recipient public key is not a usable X25519 key', { cause })
  }
  let enc: ArrayBuffer
  let ct: ArrayBuffer
  try {
    const sealed = await s.seal(
      // ekm: @hpke/core's hook for a deterministic ephemeral key (tests only).
      ikmE === undefined
        ? { recipientPublicKey, info: params.info }
        : { recipientPublicKey, info: params.info, ekm: ikmE },
      params.plaintext,
      params.aad ?? EMPTY,
    )
    enc = sealed.enc
    ct = sealed.ct
  } catch (cause) {
    // The inputs were checked above; what remains is a low-order recipient
    // key, whose X25519 output is all zero (RFC 9180 §7.1.4 requires failing).
    throw new HpkeKeyError('sealing to this recipient public key failed', { cause })
  }
  const out = new Uint8Array(enc.byteLength + ct.byteLength)
  out.set(new Uint8Array(enc), 0)
  out.set(new Uint8Array(ct), enc.byteLength)
  return out
}

async function openUnchecked(params: HpkeOpenParams): Promise<Uint8Array> {
  if (params.recipientPrivateKey.length !== HPKE_PRIVATE_KEY_LENGTH) {
    throw new InvalidArgumentError(
      `recipient private key must be ${HPKE_PRIVATE_KEY_LENGTH} bytes, got ${params.recipientPrivateKey.length}`,
    )
  }
  const { sealed } = params
  if (sealed.length < HPKE_MIN_SEALED_LENGTH) {
    throw new HpkeOpenError(
      `sealed message must be at least ${HPKE_MIN_SEALED_LENGTH} bytes, got ${sealed.length}`,
    )
  }
  const s = suite()
  let recipientKey: HpkeCryptoKey
  try {
    recipientKey = await s.kem.deserializePrivateKey(params.recipientPrivateKey)
  } catch (cause) {
    throw new HpkeKeyError('recipient private key is not a usable X25519 key', { cause })
  }
  try {
    const pt = await s.open(
      {
        recipientKey,
        enc: sealed.subarray(0, HPKE_ENC_LENGTH),
        info: params.info,
      },
      sealed.subarray(HPKE_ENC_LENGTH),
      params.aad ?? EMPTY,
    )
    return new Uint8Array(pt)
  } catch (cause) {
    throw new HpkeOpenError('sealed message did not open', { cause })
  }
}

/** 06-hpke.md §3: every context string starts with "PeerTap v1". */
function checkInfo(info: Uint8Array): void {
  if (info.length > HPKE_MAX_INPUT_LENGTH) {
    throw new InvalidArgumentError(
      `info must be at most ${HPKE_MAX_INPUT_LENGTH} bytes, got ${info.length}`,
    )
  }
  if (info.length < PREFIX.length) {
    throw new InvalidArgumentError(`info must start with "${HPKE_INFO_PREFIX}"`)
  }
  for (let i = 0; i < PREFIX.length; i++) {
    if (info[i] !== PREFIX[i])
      throw new InvalidArgumentError(`info must start with "${HPKE_INFO_PREFIX}"`)
  }
}
