import { PeerTapError } from '@peertap/errors'

/**
 * The one error class of this package. It is thrown only at API boundaries,
 * for options or arguments the caller supplied (a limit that is not a number,
 * a hash seed of the wrong length); the data path never throws, it drops and
 * counts (docs/spec/README.md, "Errors"). `code` is stable and safe to match on
 * (kebab-case, the convention of @peertap/errors' `PeerTapError`).
 */
export class RelayError extends PeerTapError<RelayErrorCode> {
  constructor(code: RelayErrorCode, message: string) {
    super(code, message)
    this.name = 'RelayError'
  }
}

export type RelayErrorCode = 'invalid-option' | 'invalid-argument'
