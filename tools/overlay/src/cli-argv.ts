/**
 * How the harness runs the apps' command lines: it resolves the `./cli`
 * export of their packages (`@peertap/node/cli`, `@peertap/relay-app/cli`)
 * as this process resolves packages, so under the `peertap:source`
 * condition (the tests, `npm start`, the benchmark) it runs their sources,
 * and otherwise their builds. No app is reached by a relative path.
 */
import { fileURLToPath } from 'node:url'

/** The argv that runs the CLI a package exports as `specifier` (e.g. '@peertap/node/cli'). */
export function cliArgv(specifier: string): string[] {
  const path = fileURLToPath(import.meta.resolve(specifier))
  return [process.execPath, ...(path.endsWith('.ts') ? ['--conditions=peertap:source'] : []), path]
}
