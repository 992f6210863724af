/**
 * The base of every error a PeerTap package throws: {@link PeerTapError},
 * an `Error` with a stable `code` in lower-case kebab-case
 * (`invalid-argument`, `vlan-name-too-long`, `mls-malformed`). Each package
 * extends it with a class of its own and declares its codes as a union type;
 * callers match on the class and the code, never on the message. No
 * dependencies, so that packages used on their own (@peertap/vft,
 * @peertap/frag) can share it.
 *
 * @example
 * ```ts
 * import { isPeerTapError, PeerTapError } from '@peertap/errors'
 *
 * type ParseErrorCode = 'empty-input' | 'not-a-number'
 * class ParseError extends PeerTapError<ParseErrorCode> {
 *   constructor(code: ParseErrorCode, message: string) {
 *     super(code, message)
 *     this.name = 'ParseError'
 *   }
 * }
 *
 * try {
 *   throw new ParseError('empty-input', 'nothing to parse')
 * } catch (error) {
 *   console.log(error instanceof PeerTapError, isPeerTapError(error, 'empty-input')) // true true
 * }
 * ```
 *
 * @packageDocumentation
 */

export { ERROR_CODE_PATTERN, isPeerTapError, PeerTapError } from './peertap-error.ts'
