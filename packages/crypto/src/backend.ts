/**
 * The byte-identical backends of the data path (docs/spec/04-sealed-payload.md §3, §4):
 * node:crypto (OpenSSL, AES-NI), @noble/ciphers (pure JS, portable), and
 * `aesBackend` over AES primitives that keep a key's context (the
 * @peertap/tap addon's `opensslAes()`: the fast one). A backend prepares a
 * key once and then runs many frames under it.
 *
 * `nodeBackend` stays its own code rather than `aesBackend(nodeAes)`: its
 * open returns node:crypto's output buffer as the plaintext, where the
 * primitive's open would copy it into a second buffer.
 */

import { Buffer } from 'node:buffer'
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

/**
 * node:crypto AES-256-GCM with a KeyObject made once (docs/facts.md §4: raw key
 * buffers are 9x slower).
 */
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

/**
 * AES-256-GCM under one key prepared once, one call per message: the
 * primitive a faster backend is built on ({@link aesBackend}), and what the
 * trunk's datagram hop protection uses. Tags are 16 bytes, nonces 12.
 */
export interface Aes256Gcm {
  /**
   * Encrypts `src[start, end)` with AAD `aad ‖ aad2` (aad2 may be undefined)
   * and writes the ciphertext to `dst` at `dstOffset`, the tag right after
   * it. `src` and `dst` may be the same bytes at the same offset (in place).
   * Throws only on misuse (a range outside its array).
   */
  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    aad2: Uint8Array | undefined,
    src: Uint8Array,
    start: number,
    end: number,
    dst: Uint8Array,
    dstOffset: number,
  ): void
  /**
   * Opens `src[start, end)` whose tag is `src[end, end + 16)`, with AAD
   * `aad ‖ aad2`, writing the plaintext to `dst` at `dstOffset` (in place
   * allowed). Returns false when the tag does not verify; `dst`'s range then
   * holds no plaintext. Throws only on misuse.
   */
  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    aad2: Uint8Array | undefined,
    src: Uint8Array,
    start: number,
    end: number,
    dst: Uint8Array,
    dstOffset: number,
  ): boolean
}

/** AES-256-ECB under one key: whole 16-byte blocks of `src` into `dst` (at least as long). */
export interface Aes256Ecb {
  encrypt(src: Uint8Array, dst: Uint8Array): void
}

/**
 * A source of AES-256 keys prepared once, e.g. the OpenSSL primitives of
 * the @peertap/tap addon (`tapAes`), or {@link nodeAes}.
 */
export interface AesPrimitives {
  readonly name: string
  gcm(key: Uint8Array): Aes256Gcm
  ecb(key: Uint8Array): Aes256Ecb
}

class NodeGcm implements Aes256Gcm {
  readonly #key: KeyObject

  constructor(key: Uint8Array) {
    this.#key = createSecretKey(key)
  }

  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    aad2: Uint8Array | undefined,
    src: Uint8Array,
    start: number,
    end: number,
    dst: Uint8Array,
    dstOffset: number,
  ): void {
    checkRange(src, start, end)
    checkRange(dst, dstOffset, dstOffset + end - start + TAG_LENGTH)
    const cipher = createCipheriv(GCM, this.#key, nonce, GCM_OPTIONS)
    cipher.setAAD(aad)
    if (aad2 !== undefined) cipher.setAAD(aad2)
    const ct = cipher.update(src.subarray(start, end))
    cipher.final()
    dst.set(ct, dstOffset)
    dst.set(cipher.getAuthTag(), dstOffset + ct.length)
  }

  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    aad2: Uint8Array | undefined,
    src: Uint8Array,
    start: number,
    end: number,
    dst: Uint8Array,
    dstOffset: number,
  ): boolean {
    checkRange(src, start, end + TAG_LENGTH)
    checkRange(dst, dstOffset, dstOffset + end - start)
    const decipher = createDecipheriv(GCM, this.#key, nonce, GCM_OPTIONS)
    decipher.setAAD(aad)
    if (aad2 !== undefined) decipher.setAAD(aad2)
    decipher.setAuthTag(src.subarray(end, end + TAG_LENGTH))
    const pt = decipher.update(src.subarray(start, end))
    try {
      decipher.final()
    } catch {
      return false
    }
    dst.set(pt, dstOffset)
    return true
  }
}

function checkRange(a: Uint8Array, start: number, end: number): void {
  if (
    !Number.isInteger(start) ||
    !Number.isInteger(end) ||
    start < 0 ||
    start > end ||
    end > a.length
  ) {
    throw new InvalidArgumentError('a range outside its array')
  }
}

class NodeEcb implements Aes256Ecb {
  readonly #ecb: Cipheriv

  constructor(key: Uint8Array) {
    this.#ecb = createCipheriv('aes-256-ecb', createSecretKey(key), null)
    this.#ecb.setAutoPadding(false)
  }

  encrypt(src: Uint8Array, dst: Uint8Array): void {
    if (src.length % 16 !== 0 || dst.length < src.length) {
      throw new InvalidArgumentError('whole 16-byte blocks and room for them')
    }
    dst.set(this.#ecb.update(src))
  }
}

/** {@link AesPrimitives} on node:crypto: a cipher object per GCM message. */
export const nodeAes: AesPrimitives = {
  name: 'node:crypto',
  gcm(key) {
    checkKey(key)
    return new NodeGcm(key)
  },
  ecb(key) {
    checkKey(key)
    return new NodeEcb(key)
  },
}

/**
 * Plaintexts that open() returns come from Buffer's pool: one allocation in
 * an 8 KiB slab, where a `new Uint8Array` over 64 bytes would get a backing
 * store of its own from the allocator.
 */
class PrimitiveAeadKey implements AeadKey {
  readonly #gcm: Aes256Gcm

  constructor(gcm: Aes256Gcm) {
    this.#gcm = gcm
  }

  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): void {
    this.#gcm.seal(nonce, aad, undefined, plaintext, 0, plaintext.length, out, offset)
  }

  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    src: Uint8Array,
    start: number,
    tagStart: number,
    _tag: Uint8Array,
  ): Uint8Array | undefined {
    const pt = Buffer.allocUnsafe(tagStart - start)
    return this.#gcm.open(nonce, aad, undefined, src, start, tagStart, pt, 0) ? pt : undefined
  }
}

class PrimitiveHeaderMaskKey implements HeaderMaskKey {
  readonly #ecb: Aes256Ecb
  #out = new Uint8Array(16 * 64)

  constructor(ecb: Aes256Ecb) {
    this.#ecb = ecb
  }

  mask(samples: Uint8Array): Uint8Array {
    if (this.#out.length < samples.length) this.#out = new Uint8Array(samples.length * 2)
    const out = this.#out.subarray(0, samples.length)
    this.#ecb.encrypt(samples, out)
    return out
  }
}

/**
 * A backend over AES primitives (e.g. `tapAes` from @peertap/tap: OpenSSL
 * contexts made once per key, one native call per frame). Same bytes as
 * {@link nodeBackend}.
 */
export function aesBackend(primitives: AesPrimitives): CryptoBackend {
  return {
    name: `${primitives.name} primitives`,
    aeadKey(key) {
      checkKey(key)
      return new PrimitiveAeadKey(primitives.gcm(key))
    },
    headerMaskKey(hpKey) {
      checkKey(hpKey)
      return new PrimitiveHeaderMaskKey(primitives.ecb(hpKey))
    },
  }
}
