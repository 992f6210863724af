// Splitting a datagram into fragments (docs/spec/05-fragmentation.md §5.3).
//
// Stages of split(), in order:
//   1. check the datagram: empty, over maxDatagramBytes, or needing more than
//      maxFragmentsPerDatagram fragments -> drop and count, return 0
//   2. check the caller's buffer holds every fragment (misuse -> FragError)
//   3. take the next datagram id (u32, wrapping)
//   4. write each fragment (header ‖ payload) at dstOffset + i * stride;
//      every fragment but the last carries maxPayloadBytes of payload
//
// Nothing is allocated per fragment except the source view that
// Uint8Array#set needs to copy a range at memcpy speed.

import {
  DEFAULT_MAX_DATAGRAM_BYTES,
  DEFAULT_MAX_FRAGMENTS_PER_DATAGRAM,
  FRAGMENT_HEADER_BYTES,
  ID_MODULUS,
  MAX_WIRE_DATAGRAM_BYTES,
  MIN_FRAGMENT_BYTES,
} from './constants.ts'
import { FragError, FragErrorCode, integerOption } from './errors.ts'
import { writeHeader } from './header.ts'

export interface FragmenterOptions {
  /**
   * The largest fragment to produce, header included: what one datagram of
   * the underlying link can carry after the caller's own overhead. At least 11.
   */
  readonly maxFragmentBytes: number
  /** Datagrams longer than this are dropped and counted. Default 66 560. */
  readonly maxDatagramBytes?: number
  /**
   * Datagrams needing more fragments than this are dropped and counted, as a
   * receiver with the same bound could never reassemble them. Default 128.
   */
  readonly maxFragmentsPerDatagram?: number
  /** The id of the first datagram; pick it at random per sender start (spec §5.3). Default 0. */
  readonly firstId?: number
}

/** Sender counters: plain numbers, only ever incremented. */
export interface FragmenterCounters {
  /** Datagrams split (including those that fit one fragment). */
  datagrams: number
  /** Fragments written. */
  fragments: number
  /** Datagram bytes split. */
  bytes: number
  /** Datagrams dropped: empty. */
  empty: number
  /** Datagrams dropped: longer than maxDatagramBytes. */
  oversize: number
  /** Datagrams dropped: would need more than maxFragmentsPerDatagram fragments. */
  tooManyFragments: number
}

/** Splits datagrams into fragments of at most `maxFragmentBytes` bytes. */
export class Fragmenter {
  readonly maxFragmentBytes: number
  /** Payload bytes in every fragment but the last: maxFragmentBytes - 10. */
  readonly maxPayloadBytes: number
  readonly maxDatagramBytes: number
  readonly maxFragmentsPerDatagram: number
  readonly counters: FragmenterCounters = {
    datagrams: 0,
    fragments: 0,
    bytes: 0,
    empty: 0,
    oversize: 0,
    tooManyFragments: 0,
  }
  private id: number

  constructor(options: FragmenterOptions) {
    this.maxFragmentBytes = integerOption(
      'maxFragmentBytes',
      options.maxFragmentBytes,
      MIN_FRAGMENT_BYTES,
      FRAGMENT_HEADER_BYTES + MAX_WIRE_DATAGRAM_BYTES,
    )
    this.maxPayloadBytes = this.maxFragmentBytes - FRAGMENT_HEADER_BYTES
    this.maxDatagramBytes = integerOption(
      'maxDatagramBytes',
      options.maxDatagramBytes ?? DEFAULT_MAX_DATAGRAM_BYTES,
      1,
      MAX_WIRE_DATAGRAM_BYTES,
    )
    this.maxFragmentsPerDatagram = integerOption(
      'maxFragmentsPerDatagram',
      options.maxFragmentsPerDatagram ?? DEFAULT_MAX_FRAGMENTS_PER_DATAGRAM,
      1,
      MAX_WIRE_DATAGRAM_BYTES,
    )
    this.id = integerOption('firstId', options.firstId ?? 0, 0, ID_MODULUS - 1)
  }

  /** The id the next split() will use. */
  get nextId(): number {
    return this.id
  }

  /**
   * How many fragments a datagram of `datagramLength` bytes becomes, or 0 if
   * split() would drop it (empty, oversize, too many fragments). Counts nothing.
   */
  fragmentCount(datagramLength: number): number {
    if (datagramLength < 1 || datagramLength > this.maxDatagramBytes) return 0
    const count = Math.ceil(datagramLength / this.maxPayloadBytes)
    return count > this.maxFragmentsPerDatagram ? 0 : count
  }

  /** The length, header included, of fragment `index` of a datagram of `datagramLength` bytes. */
  fragmentBytes(datagramLength: number, index: number): number {
    const start = index * this.maxPayloadBytes
    return FRAGMENT_HEADER_BYTES + Math.min(this.maxPayloadBytes, datagramLength - start)
  }

  /**
   * Splits `datagram` into fragments written to `dst`: fragment i starts at
   * `dstOffset + i * stride` and is `fragmentBytes(datagram.length, i)` long.
   * A stride above maxFragmentBytes leaves room between fragments for the
   * caller's own per-fragment bytes (a type byte, a header).
   *
   * Returns the number of fragments written; 0 if the datagram was dropped
   * (counted). Throws FragError `frag-buffer-too-small` if `dst` cannot hold
   * them all, or `frag-invalid-options` for a stride below maxFragmentBytes.
   */
  split(
    datagram: Uint8Array,
    dst: Uint8Array,
    dstOffset = 0,
    stride: number = this.maxFragmentBytes,
  ): number {
    const total = datagram.length
    const count = this.fragmentCount(total)
    if (count === 0) {
      if (total === 0) this.counters.empty++
      else if (total > this.maxDatagramBytes) this.counters.oversize++
      else this.counters.tooManyFragments++
      return 0
    }
    if (stride < this.maxFragmentBytes || !Number.isSafeInteger(stride)) {
      throw new FragError(
        FragErrorCode.InvalidOptions,
        `stride must be an integer of at least maxFragmentBytes (${this.maxFragmentBytes}), got ${String(stride)}`,
      )
    }
    const last = count - 1
    const end = dstOffset + last * stride + this.fragmentBytes(total, last)
    if (dstOffset < 0 || !Number.isSafeInteger(dstOffset) || end > dst.length) {
      throw new FragError(
        FragErrorCode.BufferTooSmall,
        `split needs a dst of at least ${end} bytes for ${count} fragments at offset ${dstOffset}, stride ${stride}; got ${dst.length}`,
      )
    }

    const id = this.id
    this.id = (id + 1) % ID_MODULUS
    const step = this.maxPayloadBytes
    let at = dstOffset
    for (let start = 0; start < total; start += step) {
      const stop = Math.min(start + step, total)
      writeHeader(dst, at, id, total, start)
      dst.set(datagram.subarray(start, stop), at + FRAGMENT_HEADER_BYTES)
      at += stride
    }
    this.counters.datagrams++
    this.counters.fragments += count
    this.counters.bytes += total
    return count
  }
}
