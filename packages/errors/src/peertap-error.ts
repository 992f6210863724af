/**
 * The base of every error a PeerTap package throws (docs/style.md §5). Each
 * package has its own class (`VftError`, `FragError`, `MlsError`, …) that
 * extends this one, so a caller can catch any PeerTap error with
 * `instanceof PeerTapError` and a given package's with its class; `name` is
 * the class's name.
 *
 * The `code` convention, one for every package:
 *
 * - A code is lower-case kebab-case ASCII: words of `a`–`z` and `0`–`9`
 *   joined by single hyphens, starting with a letter
 *   ({@link ERROR_CODE_PATTERN}): `invalid-argument`, `vlan-name-too-long`,
 *   `mls-malformed`. It is spelled as the drop, close and refusal reasons the
 *   data path counts (`bad-varint`, `replay`, `not-ours`), so one vocabulary
 *   serves logs, metrics and errors.
 * - A code names the failure. The class says which package threw; a code may
 *   start with the subject's name where that reads better (`mls-`, `hpke-`,
 *   `frag-`). A code used by several packages means the same there
 *   (`invalid-argument`: a value of the wrong type, size or range;
 *   `invalid-option`: an option object's field).
 * - A code is stable: callers match on it, never on `message`, which is for
 *   a person. A code that changes is a breaking change with a changeset.
 * - Each package declares its codes as a union type of string literals, so
 *   `switch (error.code)` is checked.
 *
 * Errors are thrown at API boundaries and in the control plane only; the
 * data path drops bad input from the wire and counts it, never throws
 * (docs/spec/README.md, "Errors").
 */
export class PeerTapError<Code extends string = string> extends Error {
  /** Stable machine-readable code in kebab-case, e.g. 'invalid-argument'. */
  readonly code: Code

  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'PeerTapError'
    this.code = code
  }
}

/** What every `code` of a {@link PeerTapError} matches: lower-case kebab-case. */
export const ERROR_CODE_PATTERN: RegExp = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/

/** True if `error` is a {@link PeerTapError}, with the given `code` if one is given. */
export function isPeerTapError(error: unknown, code?: string): error is PeerTapError {
  return error instanceof PeerTapError && (code === undefined || error.code === code)
}
