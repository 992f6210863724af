/**
 * The one error class of this package. It is thrown only at API boundaries,
 * for options or arguments the caller supplied (a limit that is not a number,
 * a hash seed of the wrong length); the data path never throws, it drops and
 * counts (docs/spec/README.md, "Errors"). `code` is stable and safe to match on.
 */
export class RelayError extends Error {
  readonly code: RelayErrorCode

  constructor(code: RelayErrorCode, message: string) {
    super(message)
    this.name = 'RelayError'
    this.code = code
  }
}

export type RelayErrorCode = 'ERR_INVALID_OPTION' | 'ERR_INVALID_ARGUMENT'
