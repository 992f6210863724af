/**
 * The entry `npm start` runs (the root package.json's `demo` script:
 * `node --conditions=peertap:source tools/overlay/src/demo-main.ts`): the
 * demo of demo.ts, with the node and relay CLIs run from their sources.
 * `npm start -- --keep` leaves the fabric up at the end, with node a's page
 * reachable from this machine's browser, until Ctrl-C.
 */
import { runDemo } from './demo.ts'

const args = process.argv.slice(2)
const unknown = args.filter((a) => a !== '--keep')
if (unknown.length > 0) {
  process.stderr.write(`demo: unknown argument ${unknown[0]} (the one option is --keep)\n`)
  process.exitCode = 2
} else {
  await runDemo({ keep: args.includes('--keep') })
}
