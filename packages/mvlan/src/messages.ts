/**
 * How presence records travel (docs/spec/16-fabric.md §16.4): one record
 * in an Ethernet frame on the MVLAN, broadcast by its member, and a batch of
 * records on trunk CONTROL channel 12, the directory a member hands a
 * newcomer.
 *
 *   frame = dst 6 ‖ src 6 ‖ 0x88b5 ‖ 0x01 ‖ record
 *   batch = 0x01 ‖ count u16 ‖ count × (length u16 ‖ record)
 *
 * Decoders never throw and never read out of bounds; they check framing
 * only, each record is judged by decodePresence and the directory.
 */
import {
  BATCH_HEADER_LENGTH,
  BATCH_RECORD_OVERHEAD,
  BATCH_SEND_BYTES,
  ETHERNET_HEADER_LENGTH,
  MAC_LENGTH,
  MAX_BATCH_BYTES,
  MAX_BATCH_RECORDS,
  MAX_RECORD_BYTES,
  PRESENCE_BATCH_VERSION,
  PRESENCE_ETHERTYPE,
  PRESENCE_FRAME_TYPE,
} from './constants.ts'
import { MvlanError } from './errors.ts'

export interface PresenceFrameParams {
  /** Destination MAC: ff:ff:ff:ff:ff:ff for the periodic broadcast. */
  readonly dst: Uint8Array
  /** The sender's port MAC (mvlanPortMac). */
  readonly src: Uint8Array
  /** A signed record (signPresence). */
  readonly record: Uint8Array
}

/** §16.4: a presence record in an Ethernet frame. Throws `MvlanError` on a bad MAC or record length. */
export function encodePresenceFrame(params: PresenceFrameParams): Uint8Array {
  const { dst, src, record } = params
  if (
    !(dst instanceof Uint8Array) ||
    dst.length !== MAC_LENGTH ||
    !(src instanceof Uint8Array) ||
    src.length !== MAC_LENGTH
  ) {
    throw new MvlanError('invalid-argument', `MACs are ${MAC_LENGTH} bytes`)
  }
  checkRecordLength(record)
  const out = new Uint8Array(ETHERNET_HEADER_LENGTH + 1 + record.length)
  out.set(dst, 0)
  out.set(src, MAC_LENGTH)
  out[12] = PRESENCE_ETHERTYPE >> 8
  out[13] = PRESENCE_ETHERTYPE & 0xff
  out[ETHERNET_HEADER_LENGTH] = PRESENCE_FRAME_TYPE
  out.set(record, ETHERNET_HEADER_LENGTH + 1)
  return out
}

/**
 * §16.4: the source MAC and record of a presence frame (views into
 * `frame`), or undefined for another ethertype, another type byte, or a
 * record of 0 or more than 1200 bytes.
 */
export function decodePresenceFrame(
  frame: Uint8Array,
): { src: Uint8Array; record: Uint8Array } | undefined {
  if (!(frame instanceof Uint8Array)) return undefined
  const length = frame.length - ETHERNET_HEADER_LENGTH - 1
  if (length < 1 || length > MAX_RECORD_BYTES) return undefined
  if (frame[12] !== PRESENCE_ETHERTYPE >> 8 || frame[13] !== (PRESENCE_ETHERTYPE & 0xff))
    return undefined
  if (frame[ETHERNET_HEADER_LENGTH] !== PRESENCE_FRAME_TYPE) return undefined
  return {
    src: frame.subarray(MAC_LENGTH, 2 * MAC_LENGTH),
    record: frame.subarray(ETHERNET_HEADER_LENGTH + 1),
  }
}

/** §16.4: a CONTROL channel 12 batch. Throws `MvlanError` past 4096 records or 1 MiB. */
export function encodePresenceBatch(records: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(records) || records.length > MAX_BATCH_RECORDS) {
    throw new MvlanError('too-large', `a batch carries at most ${MAX_BATCH_RECORDS} records`)
  }
  let length = BATCH_HEADER_LENGTH
  for (const record of records) {
    checkRecordLength(record)
    length += BATCH_RECORD_OVERHEAD + record.length
  }
  if (length > MAX_BATCH_BYTES) {
    throw new MvlanError('too-large', `the batch would be ${length} bytes, over ${MAX_BATCH_BYTES}`)
  }
  const out = new Uint8Array(length)
  const view = new DataView(out.buffer)
  out[0] = PRESENCE_BATCH_VERSION
  view.setUint16(1, records.length)
  let at = BATCH_HEADER_LENGTH
  for (const record of records) {
    view.setUint16(at, record.length)
    out.set(record, at + BATCH_RECORD_OVERHEAD)
    at += BATCH_RECORD_OVERHEAD + record.length
  }
  return out
}

/**
 * §16.4: `records` in as many batches as it takes, each at most `maxBytes`
 * (default BATCH_SEND_BYTES: one trunk message), in order.
 */
export function encodePresenceBatches(
  records: readonly Uint8Array[],
  maxBytes: number = BATCH_SEND_BYTES,
): Uint8Array[] {
  const out: Uint8Array[] = []
  let group: Uint8Array[] = []
  let length = BATCH_HEADER_LENGTH
  for (const record of records) {
    checkRecordLength(record)
    const size = BATCH_RECORD_OVERHEAD + record.length
    if (group.length > 0 && (length + size > maxBytes || group.length === MAX_BATCH_RECORDS)) {
      out.push(encodePresenceBatch(group))
      group = []
      length = BATCH_HEADER_LENGTH
    }
    group.push(record)
    length += size
  }
  if (group.length > 0) out.push(encodePresenceBatch(group))
  return out
}

/**
 * §16.4: the records of a batch (views into `bytes`), or undefined if it is
 * over 1 MiB, not version 1, has more than 4096 records, a record of 0 or
 * more than 1200 bytes, or bytes missing or left over.
 */
export function decodePresenceBatch(bytes: Uint8Array): Uint8Array[] | undefined {
  if (
    !(bytes instanceof Uint8Array) ||
    bytes.length < BATCH_HEADER_LENGTH ||
    bytes.length > MAX_BATCH_BYTES
  ) {
    return undefined
  }
  if (bytes[0] !== PRESENCE_BATCH_VERSION) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const count = view.getUint16(1)
  if (count > MAX_BATCH_RECORDS) return undefined
  const records: Uint8Array[] = []
  let at = BATCH_HEADER_LENGTH
  for (let i = 0; i < count; i++) {
    if (at + BATCH_RECORD_OVERHEAD > bytes.length) return undefined
    const length = view.getUint16(at)
    at += BATCH_RECORD_OVERHEAD
    if (length === 0 || length > MAX_RECORD_BYTES || at + length > bytes.length) return undefined
    records.push(bytes.subarray(at, at + length))
    at += length
  }
  return at === bytes.length ? records : undefined
}

function checkRecordLength(record: Uint8Array): void {
  if (!(record instanceof Uint8Array) || record.length === 0 || record.length > MAX_RECORD_BYTES) {
    throw new MvlanError('invalid-argument', `a record is 1 to ${MAX_RECORD_BYTES} bytes`)
  }
}
