// Shared by the tests: hex, the vectors, a deterministic HPKE seal (the
// ephemeral key from a fixed IKM, as RFC 9180's vectors do; tests only).
import { readFileSync } from 'node:fs'
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core'
import type { HpkeSealParams } from '@peertap/crypto'

export const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'))
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

export function vectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`vectors/${name}`, import.meta.url), 'utf8')) as T
}

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
})

/** An HPKE seal whose ephemeral key derives from `ikmE` (@hpke/core's `ekm` hook). */
export function sealWithEphemeralIkm(ikmE: Uint8Array) {
  return async (params: HpkeSealParams): Promise<Uint8Array> => {
    const recipientPublicKey = await suite.kem.deserializePublicKey(params.recipientPublicKey)
    const { enc, ct } = await suite.seal(
      { recipientPublicKey, info: params.info, ekm: ikmE },
      params.plaintext,
      params.aad ?? new Uint8Array(0),
    )
    return Uint8Array.from([...new Uint8Array(enc), ...new Uint8Array(ct)])
  }
}

export const ed25519Peer = (byte: number): Uint8Array =>
  hex(`002408011220${byte.toString(16).padStart(2, '0').repeat(32)}`)

/** A random source that gives the listed secrets in turn. */
export function fixedRandom(...secrets: Uint8Array[]) {
  let next = 0
  return (n: number): Uint8Array => {
    const secret = secrets[next++]
    if (secret === undefined || secret.length !== n) throw new Error('fixedRandom ran out')
    return secret
  }
}
