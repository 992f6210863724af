/**
 * Errors of this package. `TrunkError` is thrown only at API boundaries (a
 * bad option, a corrupt identity file, a failed dial); bad input from a peer
 * never throws out of the data path: it closes that peer's stream with a
 * counted `CloseReason` (spec 08-trunk.md §7).
 */
export class TrunkError extends Error {
  readonly code: TrunkErrorCode

  constructor(code: TrunkErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'TrunkError'
    this.code = code
  }
}

export type TrunkErrorCode =
  | 'ERR_IDENTITY_CORRUPT'
  | 'ERR_IDENTITY_KEY_TYPE'
  | 'ERR_INVALID_OPTION'
  | 'ERR_NOT_STARTED'
  | 'ERR_LINK_FAILED'
  | 'ERR_LINK_DOWN'
  | 'ERR_PING_TIMEOUT'
  | 'ERR_ENCODE'

/**
 * Why a link closed or a message was refused; stable codes counted per trunk
 * (spec 08-trunk.md §7).
 */
export type CloseReason =
  | 'bad-varint'
  | 'non-minimal-varint'
  | 'oversized'
  | 'empty-message'
  | 'unknown-type'
  | 'bad-body'
  | 'nested-batch'
  | 'too-many-entries'
  | 'hello-expected'
  | 'duplicate-hello'
  | 'bad-hello'
  | 'version-mismatch'
  | 'hello-timeout'
  | 'idle-timeout'
  | 'truncated'
  | 'remote-closed'
  | 'stream-error'
  | 'replaced'
  | 'local-close'
  | 'stopped'

export const CLOSE_REASONS: readonly CloseReason[] = [
  'bad-varint',
  'non-minimal-varint',
  'oversized',
  'empty-message',
  'unknown-type',
  'bad-body',
  'nested-batch',
  'too-many-entries',
  'hello-expected',
  'duplicate-hello',
  'bad-hello',
  'version-mismatch',
  'hello-timeout',
  'idle-timeout',
  'truncated',
  'remote-closed',
  'stream-error',
  'replaced',
  'local-close',
  'stopped',
]

/** Thrown inside the codec for malformed input; caught at the receive boundary. */
export class WireError extends Error {
  readonly reason: CloseReason

  constructor(reason: CloseReason, message?: string) {
    super(message ?? reason)
    this.name = 'WireError'
    this.reason = reason
  }
}
