/**
 * AES-256-GCM and AES-256-ECB on the OpenSSL that Node links, through the
 * addon (src/aead.cc): a key's cipher contexts are made once, and a message
 * is one native call. node:crypto makes a cipher object per message, which
 * costs several times the encryption of a small frame (README "AES").
 *
 * The shapes match @peertap/crypto's `AesPrimitives`, so
 * `aesBackend(opensslAes())` is a frame-sealing backend and the trunk's
 * datagram link takes `opensslAes().gcm` for hop protection. A primitive
 * only: nonces, AADs and layouts are the caller's.
 */
import { type AeadHandle, type NativeAead, native } from './native.ts'

/** AES-256-GCM under one key (16-byte tags, 12-byte nonces). */
export class OpensslGcm {
  readonly #h: AeadHandle
  readonly #seal: NativeAead['gcmSeal']
  readonly #open: NativeAead['gcmOpen']

  /** @internal Use {@link opensslAes}. */
  constructor(n: NativeAead, key: Uint8Array) {
    this.#h = n.gcmKey(key)
    this.#seal = n.gcmSeal
    this.#open = n.gcmOpen
  }

  /**
   * Encrypts `src[start, end)` with AAD `aad ‖ aad2`; ciphertext to `dst` at
   * `dstOffset`, the tag right after. In place allowed. Throws a TypeError
   * on a range outside its array.
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
  ): void {
    this.#seal(this.#h, nonce, aad, aad2, src, start, end, dst, dstOffset)
  }

  /**
   * Opens `src[start, end)`, tag at `src[end, end + 16)`, into `dst` at
   * `dstOffset`. False when the tag does not verify (`dst`'s range is then
   * zeroed).
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
  ): boolean {
    return this.#open(this.#h, nonce, aad, aad2, src, start, end, dst, dstOffset)
  }
}

/** AES-256-ECB under one key (no padding: whole blocks). */
export class OpensslEcb {
  readonly #h: AeadHandle
  readonly #encrypt: NativeAead['ecbEncrypt']

  /** @internal Use {@link opensslAes}. */
  constructor(n: NativeAead, key: Uint8Array) {
    this.#h = n.ecbKey(key)
    this.#encrypt = n.ecbEncrypt
  }

  /** dst = AES-256-ECB(key, src): whole 16-byte blocks, `dst` at least as long. */
  encrypt(src: Uint8Array, dst: Uint8Array): void {
    this.#encrypt(this.#h, src, dst)
  }
}

/** The AES primitives of the addon (the shape of @peertap/crypto's `AesPrimitives`). */
export interface OpensslAes {
  readonly name: string
  gcm(key: Uint8Array): OpensslGcm
  ecb(key: Uint8Array): OpensslEcb
}

let primitives: OpensslAes | undefined

/**
 * The addon's AES primitives. Throws a TapError `not-supported` when the addon is
 * not built (then use node:crypto: @peertap/crypto's `nodeAes`).
 */
export function opensslAes(): OpensslAes {
  if (primitives !== undefined) return primitives
  const n: NativeAead = native()
  primitives = {
    name: 'openssl (@peertap/tap)',
    gcm: (key) => new OpensslGcm(n, key),
    ecb: (key) => new OpensslEcb(n, key),
  }
  return primitives
}
