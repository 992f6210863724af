import { expect, it } from 'vitest'
import { ERROR_CODE_PATTERN, isPeerTapError, PeerTapError } from '../src/index.ts'

type ParseErrorCode = 'empty-input' | 'not-a-number'
class ParseError extends PeerTapError<ParseErrorCode> {
  constructor(code: ParseErrorCode, message: string) {
    super(code, message)
    this.name = 'ParseError'
  }
}

it('the package example runs', () => {
  let caught: unknown
  try {
    throw new ParseError('empty-input', 'nothing to parse')
  } catch (error) {
    caught = error
  }
  expect(caught instanceof PeerTapError).toBe(true)
  expect(isPeerTapError(caught, 'empty-input')).toBe(true)
})

it('is an Error with a code, a name, a message and a cause', () => {
  const cause = new Error('underneath')
  const error = new PeerTapError('invalid-argument', 'key must be 32 bytes', { cause })
  expect(error).toBeInstanceOf(Error)
  expect(error).toMatchObject({ name: 'PeerTapError', code: 'invalid-argument', cause })
  expect(error.message).toBe('key must be 32 bytes')
  expect(error.stack).toContain('key must be 32 bytes')
})

it('keeps instanceof and the name through a subclass', () => {
  const error = new ParseError('not-a-number', 'x')
  expect(error).toBeInstanceOf(ParseError)
  expect(error).toBeInstanceOf(PeerTapError)
  expect(error).toBeInstanceOf(Error)
  expect(error.name).toBe('ParseError')
  expect(String(error)).toBe('ParseError: x')
})

it('isPeerTapError tells PeerTap errors and their codes from others', () => {
  expect(isPeerTapError(new ParseError('not-a-number', 'x'))).toBe(true)
  expect(isPeerTapError(new ParseError('not-a-number', 'x'), 'empty-input')).toBe(false)
  expect(isPeerTapError(Object.assign(new Error('x'), { code: 'empty-input' }))).toBe(false)
  expect(isPeerTapError(undefined)).toBe(false)
})

it('ERROR_CODE_PATTERN takes kebab-case and nothing else', () => {
  for (const code of ['invalid-argument', 'mls-malformed', 'vlan-name-invalid-utf8', 'closed'])
    expect(code).toMatch(ERROR_CODE_PATTERN)
  for (const code of [
    'ERR_INVALID_OPTION',
    'EPERM',
    'Invalid',
    'a--b',
    '-a',
    'a-',
    '1a',
    'a_b',
    '',
  ])
    expect(code).not.toMatch(ERROR_CODE_PATTERN)
})
