// Strict JSON records (docs/spec/15-invitations.md §15.6, §15.7): UTF-8 JSON
// objects with exactly the named keys; anything else is refused whole.
import { fromUtf8 } from './bytes.ts'

/** Why a stored record was refused. */
export type RecordRefusal = 'not-json' | 'unknown-version' | 'bad-field' | 'duplicate' | 'too-many'

export type RecordFailure = {
  readonly ok: false
  readonly reason: RecordRefusal
  readonly detail: string
}

/** Thrown inside a decoder and turned into its {@link RecordFailure} at the top. */
export class RecordProblem {
  readonly reason: RecordRefusal
  readonly detail: string
  constructor(reason: RecordRefusal, detail: string) {
    this.reason = reason
    this.detail = detail
  }
}

/** Runs `read` over the parsed JSON; a {@link RecordProblem} or bad JSON becomes a failure. */
export function decodeRecord<T>(
  bytes: Uint8Array,
  version: number,
  read: (record: Record<string, unknown>) => T,
): { readonly ok: true; readonly value: T } | RecordFailure {
  try {
    const text = bytes instanceof Uint8Array ? fromUtf8(bytes) : undefined
    if (text === undefined)
      return { ok: false, reason: 'not-json', detail: 'the record is not UTF-8' }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return { ok: false, reason: 'not-json', detail: 'the record is not JSON' }
    }
    const record = object(parsed, 'the record')
    if (record.version !== version)
      return {
        ok: false,
        reason: 'unknown-version',
        detail: `record version ${String(record.version)}; this PeerTap reads ${version}`,
      }
    return { ok: true, value: read(record) }
  } catch (error) {
    if (error instanceof RecordProblem)
      return { ok: false, reason: error.reason, detail: error.detail }
    throw error
  }
}

/** `value` as an object with exactly `keys` (when given), else a bad-field problem. */
export function object(
  value: unknown,
  what: string,
  keys?: readonly string[],
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new RecordProblem('bad-field', `${what} is not an object`)
  const record = value as Record<string, unknown>
  if (keys !== undefined) {
    const have = Object.keys(record).sort().join(',')
    if (have !== [...keys].sort().join(','))
      throw new RecordProblem('bad-field', `${what} must have exactly the keys ${keys.join(', ')}`)
  }
  return record
}

export function array(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new RecordProblem('bad-field', `${what} is not an array`)
  return value
}

export function integer(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
    throw new RecordProblem('bad-field', `${what} must be an integer from ${min} to ${max}`)
  return value
}

export function string(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new RecordProblem('bad-field', `${what} is not a string`)
  return value
}

export const encodeJson = (value: unknown): Uint8Array =>
  new TextEncoder().encode(JSON.stringify(value))
