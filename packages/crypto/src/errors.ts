/**
 * Typed errors for API misuse and the control plane (STYLE.md 5). The data
 * path never throws on bad input from the wire: it drops and counts.
 */

/** Base class of every error @peertap/crypto throws; `code` is stable. */
export class PeerTapError extends Error {
  /** Stable machine-readable code, e.g. 'invalid-argument'. */
  readonly code: string

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'PeerTapError'
    this.code = code
  }
}

/** A caller passed a value of the wrong size or range (a bug, not bad input from the wire). */
export class InvalidArgumentError extends PeerTapError {
  constructor(message: string) {
    super('invalid-argument', message)
    this.name = 'InvalidArgumentError'
  }
}
