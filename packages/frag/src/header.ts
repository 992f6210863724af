// The fragment header of docs/spec/05-fragmentation.md §5.2, read and written
// byte by byte: a DataView per fragment would allocate, and the input may be
// any view into a larger buffer.

import { FRAGMENT_HEADER_BYTES } from './constants.ts'

/** The decoded header of one fragment. */
export interface FragmentHeader {
  /** Datagram id, u32. */
  readonly id: number
  /** Length of the whole datagram in bytes, u24. */
  readonly total: number
  /** Where this fragment's payload starts within the datagram, u24. */
  readonly offset: number
}

/** Reads the u32 datagram id at `at`. The caller has checked the length. */
export function readId(src: Uint8Array, at: number): number {
  return ((src[at]! << 24) | (src[at + 1]! << 16) | (src[at + 2]! << 8) | src[at + 3]!) >>> 0
}

/** Reads a u24 at `at`. The caller has checked the length. */
export function readU24(src: Uint8Array, at: number): number {
  return (src[at]! << 16) | (src[at + 1]! << 8) | src[at + 2]!
}

/** Writes the 10-byte header at `dst[at]`. Fields are in range (callers check). */
export function writeHeader(
  dst: Uint8Array,
  at: number,
  id: number,
  total: number,
  offset: number,
): void {
  dst[at] = id >>> 24
  dst[at + 1] = id >>> 16
  dst[at + 2] = id >>> 8
  dst[at + 3] = id
  dst[at + 4] = total >>> 16
  dst[at + 5] = total >>> 8
  dst[at + 6] = total
  dst[at + 7] = offset >>> 16
  dst[at + 8] = offset >>> 8
  dst[at + 9] = offset
}

/**
 * Decodes a fragment's header for inspection (tracing, tests), or returns
 * undefined if `fragment` is shorter than a header. Not used on the hot path.
 */
export function decodeFragmentHeader(fragment: Uint8Array): FragmentHeader | undefined {
  if (fragment.length < FRAGMENT_HEADER_BYTES) return undefined
  return { id: readId(fragment, 0), total: readU24(fragment, 4), offset: readU24(fragment, 7) }
}
