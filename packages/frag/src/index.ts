/**
 * Fragmentation before encryption and bounded reassembly, for any datagram
 * system. A sender splits a datagram into fragments that each fit its link
 * (and then seals each one on its own); a receiver reassembles them under
 * fixed bounds on concurrent reassemblies, bytes held, fragments per datagram
 * and age. Lost, duplicated, reordered, overlapping, oversize and
 * inconsistent fragments are dropped and counted, never thrown. Pure: no I/O,
 * no timers, the clock is an argument; no dependency but @peertap/errors
 * (the base of `FragError`, itself without dependencies).
 *
 * The wire format is docs/spec/05-fragmentation.md: a 10-byte header
 * (id u32 ‖ total u24 ‖ offset u24, big-endian) before each payload.
 *
 * @example
 * ```ts
 * import { Fragmenter, Outcome, Reassembler } from '@peertap/frag'
 *
 * const fragmenter = new Fragmenter({ maxFragmentBytes: 1400 })
 * const reassembler = new Reassembler<string>()
 *
 * const datagram = new Uint8Array(9000).fill(7)
 * const n = fragmenter.fragmentCount(datagram.length) // 7
 * const scratch = new Uint8Array(n * fragmenter.maxFragmentBytes)
 * fragmenter.split(datagram, scratch)
 *
 * for (let i = n - 1; i >= 0; i--) {
 *   const at = i * fragmenter.maxFragmentBytes
 *   const fragment = scratch.subarray(at, at + fragmenter.fragmentBytes(datagram.length, i))
 *   if (reassembler.push('peer-a', fragment, performance.now()) === Outcome.Complete) {
 *     console.log(reassembler.datagram?.length) // 9000
 *   }
 * }
 * console.log(reassembler.counters.complete, reassembler.counters.pending) // 1 6
 * ```
 *
 * @packageDocumentation
 */

export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_DATAGRAM_BYTES,
  DEFAULT_MAX_FRAGMENTS_PER_DATAGRAM,
  DEFAULT_MAX_REASSEMBLIES,
  DEFAULT_TIMEOUT_MS,
  FRAGMENT_HEADER_BYTES,
  MAX_WIRE_DATAGRAM_BYTES,
  MIN_FRAGMENT_BYTES,
} from './constants.ts'
export { FragError, FragErrorCode } from './errors.ts'
export type { FragmenterCounters, FragmenterOptions } from './fragmenter.ts'
export { Fragmenter } from './fragmenter.ts'
export type { FragmentHeader } from './header.ts'
export { decodeFragmentHeader } from './header.ts'
export type { ReassemblerCounters, ReassemblerOptions } from './reassembler.ts'
export { Outcome, Reassembler } from './reassembler.ts'
