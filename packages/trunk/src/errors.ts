import { PeerTapError } from '@peertap/errors'

/**
 * Errors of this package. `TrunkError` is thrown only at API boundaries (a
 * bad option, a corrupt identity file, a failed dial); bad input from a peer
 * never throws out of the data path: it closes that peer's stream with a
 * counted `CloseReason` (spec 08-trunk.md §7). Codes are kebab-case, as
 * every PeerTap error's (@peertap/errors), and spelled as the close reasons.
 */
export class TrunkError extends PeerTapError<TrunkErrorCode> {
  constructor(code: TrunkErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.name = 'TrunkError'
  }
}

export type TrunkErrorCode =
  | 'identity-corrupt'
  | 'identity-key-type'
  | 'invalid-option'
  | 'not-started'
  | 'link-failed'
  | 'link-down'
  | 'ping-timeout'
  | 'unencodable'

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

/**
 * Thrown inside the codec for malformed input; caught at the receive
 * boundary. Its `code` is its `reason`, the close reason counted.
 */
export class WireError extends PeerTapError<CloseReason> {
  readonly reason: CloseReason

  constructor(reason: CloseReason, message?: string) {
    super(reason, message ?? reason)
    this.name = 'WireError'
    this.reason = reason
  }
}
