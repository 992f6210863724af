/**
 * Typed errors for API misuse and the control plane (docs/style.md §5). The data
 * path never throws on bad input from the wire: it drops and counts.
 */

import { PeerTapError } from '@peertap/errors'

/**
 * The base of every PeerTap error, from @peertap/errors (its doc comment
 * gives the `code` convention: kebab-case, stable); re-exported here so
 * `import { PeerTapError } from '@peertap/crypto'` keeps working.
 */
export { PeerTapError }

/** A caller passed a value of the wrong size or range (a bug, not bad input from the wire). */
export class InvalidArgumentError extends PeerTapError<'invalid-argument'> {
  constructor(message: string) {
    super('invalid-argument', message)
    this.name = 'InvalidArgumentError'
  }
}

// -- Control path: HPKE and membership proofs (docs/spec/06-hpke.md, 07-membership-proof.md) --
// A caller's own mistakes there (a key or seed of the wrong length, an HPKE
// info without the "PeerTap v1" prefix, a bad `now`) throw InvalidArgumentError.

/**
 * A sealed HPKE message did not open: too short, a bad encapsulated key, or
 * an AEAD tag that does not verify under this key, info and aad. One code for
 * all of them, so nothing tells a sender which check failed (06-hpke.md §5).
 */
export class HpkeOpenError extends PeerTapError<'hpke-open-failed'> {
  constructor(message: string, options?: ErrorOptions) {
    super('hpke-open-failed', message, options)
    this.name = 'HpkeOpenError'
  }
}

/**
 * An X25519 key of the right length that HPKE cannot use: a recipient public
 * key of low order, whose shared secret is all zero (RFC 9180 §7.1.4;
 * 06-hpke.md §2), or a key the platform refuses.
 */
export class HpkeKeyError extends PeerTapError<'hpke-invalid-key'> {
  constructor(message: string, options?: ErrorOptions) {
    super('hpke-invalid-key', message, options)
    this.name = 'HpkeKeyError'
  }
}
