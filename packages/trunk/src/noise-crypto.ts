/**
 * A Noise crypto backend that caches one node:crypto KeyObject per Noise
 * cipher key. js-libp2p-noise passes the raw 32-byte key to
 * `createCipheriv` for every message of 1200 bytes or more; on Node 24 that
 * re-imports the key each call, about 9x slower than with a KeyObject made
 * once (docs/facts.md §4: 88k vs 783k calls/s). Noise keeps one key object per
 * CipherState for the life of the session, so a WeakMap keyed by it hits on
 * every message and lets the entry go with the session. Below 1200 bytes the
 * default backend's WebAssembly ChaCha20-Poly1305 stays (it is faster there).
 * Measured in README.md (bench, "noise crypto").
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'

const ALGORITHM = 'chacha20-poly1305'
const TAG_LENGTH = 16
/** Where js-libp2p-noise's default switches from WebAssembly to node:crypto. */
const NODE_CRYPTO_THRESHOLD = 1200

/** js-libp2p-noise pins another copy of uint8arraylist; the classes are the same at runtime. */
type NoiseBytes = ReturnType<ICryptoInterface['chaCha20Poly1305Encrypt']>

const keys = new WeakMap<Uint8Array, KeyObject>()

function keyObject(k: Uint8Array): KeyObject {
  let key = keys.get(k)
  if (key === undefined) {
    key = createSecretKey(k)
    keys.set(k, key)
  }
  return key
}

export const cachedKeyNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) {
    if (plaintext.byteLength < NODE_CRYPTO_THRESHOLD) {
      return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
    }
    const cipher = createCipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG_LENGTH })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    if (plaintext instanceof Uint8Array) {
      const out = cipher.update(plaintext)
      const final = cipher.final()
      return Buffer.concat([out, final, cipher.getAuthTag()])
    }
    const output = new Uint8ArrayList()
    for (const buf of plaintext) output.append(cipher.update(buf))
    const final = cipher.final()
    if (final.byteLength > 0) output.append(final)
    output.append(cipher.getAuthTag())
    return output as unknown as NoiseBytes
  },
  chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst) {
    if (ciphertext.byteLength < NODE_CRYPTO_THRESHOLD) {
      return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
    }
    const tag = ciphertext.subarray(ciphertext.byteLength - TAG_LENGTH)
    const decipher = createDecipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG_LENGTH })
    const text =
      ciphertext instanceof Uint8Array
        ? ciphertext.subarray(0, ciphertext.byteLength - TAG_LENGTH)
        : ciphertext.sublist(0, ciphertext.byteLength - TAG_LENGTH)
    decipher.setAAD(ad, { plaintextLength: text.byteLength })
    decipher.setAuthTag(tag)
    if (text instanceof Uint8Array) {
      const out = decipher.update(text)
      const final = decipher.final()
      return final.byteLength > 0 ? Buffer.concat([out, final]) : out
    }
    const output = new Uint8ArrayList()
    for (const buf of text) output.append(decipher.update(buf))
    const final = decipher.final()
    if (final.byteLength > 0) output.append(final)
    return output as unknown as NoiseBytes
  },
}
