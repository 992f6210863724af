import { PeerTapError } from '@peertap/errors'

/**
 * Stable error codes, kebab-case as every PeerTap error's (@peertap/errors). Errors are raised only for API misuse (invalid options,
 * an output buffer too small); bad fragments are dropped and counted, never thrown.
 */
export const FragErrorCode = {
  InvalidOptions: 'frag-invalid-options',
  BufferTooSmall: 'frag-buffer-too-small',
} as const

export type FragErrorCode = (typeof FragErrorCode)[keyof typeof FragErrorCode]

/** The one error class of this package; switch on `code`, not on the message. */
export class FragError extends PeerTapError<FragErrorCode> {
  constructor(code: FragErrorCode, message: string) {
    super(code, message)
    this.name = 'FragError'
  }
}

/** Checks that an option is an integer within [min, max] and returns it. */
export function integerOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new FragError(
      FragErrorCode.InvalidOptions,
      `${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
    )
  }
  return value
}
