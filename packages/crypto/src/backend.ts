/**
 * The two byte-identical backends of the data path (docs/spec/04-sealed-payload.md §3, §4):
 * node:crypto (OpenSSL, AES-NI; the data path) and @noble/ciphers (pure JS,
 * portable). A backend prepares a key once and then runs many frames under it.
 */
import {
  type Cipheriv,
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type KeyObject,
} from 'node:crypto'
import { ecb, gcm } from '@noble/ciphers/aes.js'
import { AEAD_KEY_LENGTH, TAG_LENGTH } from './constants.ts'
import { InvalidArgumentError } from './errors.ts'

/** An AES-256-GCM key, prepared once (04-sealed-payload.md §3). */
export interface AeadKey {
  /**
   * Encrypts `plaintext` and writes ciphertext ‖ tag (plaintext.length + 16
   * bytes) to `out` at `offset`.
   */
  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): void
  /**
   * Opens `src[start, tagStart)` whose tag is `src[tagStart, tagStart + 16)`,
   * a copy of which is in `tag`. Returns the plaintext, or undefined when the
   * tag does not verify. Never throws on bad input.
   */
  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    src: Uint8Array,
    start: number,
    tagStart: number,
    tag: Uint8Array,
  ): Uint8Array | undefined
}

/** AES-256 under the header-protection key (04-sealed-payload.md §4). */
export interface HeaderMaskKey {
  /**
   * AES-256-ECB(hpKey, samples) for one or more 16-byte samples back to back
   * (a batch masks all its frames in one call). The result may be reused by
   * the next call.
   */
  mask(samples: Uint8Array): Uint8Array
}

/** A backend: prepares AEAD and header-protection keys. */
export interface CryptoBackend {
  readonly name: string
  aeadKey(key: Uint8Array): AeadKey
  headerMaskKey(hpKey: Uint8Array): HeaderMaskKey
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AEAD_KEY_LENGTH) {
    throw new InvalidArgumentError('AES-256 keys are 32 bytes')
  }
}

const GCM = 'aes-256-gcm'
const GCM_OPTIONS = { authTagLength: TAG_LENGTH } as const

/** node:crypto AES-256-GCM with a KeyObject made once (FACTS.md: raw key buffers are 9x slower). */
class NodeAeadKey implements AeadKey {
  readonly #key: KeyObject

  constructor(key: Uint8Array) {
    this.#key = createSecretKey(key)
  }

  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): void {
    const cipher = createCipheriv(GCM, this.#key, nonce, GCM_OPTIONS)
    cipher.setAAD(aad)
    const ct = cipher.update(plaintext)
    cipher.final()
    out.set(ct, offset)
    out.set(cipher.getAuthTag(), offset + ct.length)
  }

  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    src: Uint8Array,
    start: number,
    tagStart: number,
    tag: Uint8Array,
  ): Uint8Array | undefined {
    const decipher = createDecipheriv(GCM, this.#key, nonce, GCM_OPTIONS)
    decipher.setAAD(aad)
    decipher.setAuthTag(tag)
    const pt = decipher.update(src.subarray(start, tagStart))
    try {
      decipher.final()
    } catch {
      return undefined
    }
    return pt
  }
}

/**
 * One AES-256-ECB cipher per hpKey, reused: with auto padding off and whole
 * blocks in, ECB's update() carries no state from one call to the next.
 */
class NodeHeaderMaskKey implements HeaderMaskKey {
  readonly #ecb: Cipheriv

  constructor(hpKey: Uint8Array) {
    this.#ecb = createCipheriv('aes-256-ecb', createSecretKey(hpKey), null)
    this.#ecb.setAutoPadding(false)
  }

  mask(samples: Uint8Array): Uint8Array {
    return this.#ecb.update(samples)
  }
}

/** The data-path backend: node:crypto (OpenSSL). */
export const nodeBackend: CryptoBackend = {
  name: 'node:crypto',
  aeadKey(key) {
    checkKey(key)
    return new NodeAeadKey(key)
  },
  headerMaskKey(hpKey) {
    checkKey(hpKey)
    return new NodeHeaderMaskKey(hpKey)
  },
}

class NobleAeadKey implements AeadKey {
  readonly #key: Uint8Array

  constructor(key: Uint8Array) {
    this.#key = key.slice()
  }

  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): void {
    out.set(gcm(this.#key, nonce, aad).encrypt(plaintext), offset)
  }

  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    src: Uint8Array,
    start: number,
    tagStart: number,
    _tag: Uint8Array,
  ): Uint8Array | undefined {
    try {
      return gcm(this.#key, nonce, aad).decrypt(src.subarray(start, tagStart + TAG_LENGTH))
    } catch {
      return undefined
    }
  }
}

class NobleHeaderMaskKey implements HeaderMaskKey {
  readonly #key: Uint8Array
  readonly #out = new Uint8Array(16)

  constructor(hpKey: Uint8Array) {
    this.#key = hpKey.slice()
  }

  mask(samples: Uint8Array): Uint8Array {
    // A noble ECB instance encrypts once; making one per call keeps to the public API.
    const cipher = ecb(this.#key, { disablePadding: true })
    return samples.length === 16 ? cipher.encrypt(samples, this.#out) : cipher.encrypt(samples)
  }
}

/** The portable backend: @noble/ciphers, pure JS. Same bytes as {@link nodeBackend}. */
export const nobleBackend: CryptoBackend = {
  name: '@noble/ciphers',
  aeadKey(key) {
    checkKey(key)
    return new NobleAeadKey(key)
  },
  headerMaskKey(hpKey) {
    checkKey(hpKey)
    return new NobleHeaderMaskKey(hpKey)
  },
}
