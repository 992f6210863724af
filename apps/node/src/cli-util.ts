/** What the node's CLI commands share: option parsers, JSON output, the local API. */
import { requestDaemon } from '@peertap/daemon'
import { InvalidArgumentError } from 'commander'

/** Prints a command's result as JSON (`--json`). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

export function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer')
  return n
}

/** One request to the local status API of the node whose state directory is given. */
export function request(stateDir: string, method: string, path: string): Promise<unknown> {
  return requestDaemon(stateDir, method, path, 'peertap up')
}
