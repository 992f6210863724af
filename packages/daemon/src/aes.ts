/**
 * Which AES implementation a daemon's data path uses (config `aes`): the
 * tap addon's OpenSSL primitives (a key's cipher contexts made once, one
 * native call per frame; packages/tap README "AES") or node:crypto (a
 * cipher object per frame). `auto` takes the addon when it is built and
 * falls back to node:crypto when it is not. The bytes on the wire are the
 * same. The node seals frames end to end and protects its datagram hops
 * with it; the relay protects its datagram hops.
 */
import { type AesPrimitives, nodeAes } from '@peertap/crypto'
import { opensslAes, TapError } from '@peertap/tap'
import type { Logger } from 'pino'
import * as v from 'valibot'

export type AesKind = 'auto' | 'addon' | 'node'

/**
 * The config field `aes`: `addon` (the tap addon's OpenSSL contexts, kept
 * per key), `node` (node:crypto, a cipher object per frame), or `auto` (the
 * addon when it is built). Same bytes either way.
 */
export const aesField = v.optional(v.picklist(['auto', 'addon', 'node']), 'auto')

export function aesPrimitives(kind: AesKind, log: Pick<Logger, 'info' | 'warn'>): AesPrimitives {
  if (kind !== 'node') {
    try {
      const aes = opensslAes()
      log.info({ aes: aes.name }, 'AES-256-GCM: OpenSSL contexts kept per key (tap addon)')
      return aes
    } catch (error) {
      // Only a missing addon falls back.
      if (kind === 'addon' || !(error instanceof TapError) || error.code !== 'not-supported')
        throw error
      log.warn({ err: error.message }, 'AES-256-GCM: no tap addon, using node:crypto')
    }
  }
  return nodeAes
}
