/**
 * The entry `npm start` runs (the root package.json's `demo` script:
 * `node --conditions=peertap:source tools/overlay/src/demo-main.ts`): the
 * demo of demo.ts, with the node and relay CLIs run from their sources.
 */
import { runDemo } from './demo.ts'

await runDemo()
