/**
 * The receive path of a stream link, in order (spec 08-trunk.md §2, §6):
 *
 * 1. a read event delivers one or more chunks from the transport;
 * 2. `MessageReader` splits them into messages: it reads the length varint
 *    and refuses a bad, non-minimal, zero or oversized length before it
 *    buffers anything of that message; a message that lies inside one chunk
 *    is handed on as a view, only a message straddling chunks is copied;
 * 3. the link dispatches each message by type (stream-link.ts); a BATCH is
 *    walked in place and its FRAMEs become `Frame`s whose `vft` and `sealed`
 *    are views into the received buffer;
 * 4. at the end of the read event, and before any non-frame message, the
 *    frames gathered so far go up in one `onFrames` call.
 *
 * Any malformed input throws `WireError` out of `push`; the link catches it,
 * counts its reason and closes the stream. Nothing here throws anything else.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { readLength } from './codec.ts'
import { LENGTH_VARINT_MAX_BYTES } from './constants.ts'

/** Gets each whole message as `buf[start..end)`, `buf[start]` being its type byte. */
export type MessageVisitor = (buf: Uint8Array, start: number, end: number) => void

export class MessageReader {
  /** The unfinished tail of the last read: at most one message in progress. */
  #pending = new Uint8ArrayList()
  readonly #limit: number
  readonly #visit: MessageVisitor

  /** `limit` is the largest length (type ‖ body) this side accepts. */
  constructor(limit: number, visit: MessageVisitor) {
    this.#limit = limit
    this.#visit = visit
  }

  /** Bytes of an unfinished message held; non-zero when a peer closes mid-message. */
  get buffered(): number {
    return this.#pending.byteLength
  }

  push(chunk: Uint8Array | Uint8ArrayList): void {
    if (chunk instanceof Uint8Array) {
      this.#pushBytes(chunk)
      return
    }
    for (const buf of chunk) this.#pushBytes(buf)
  }

  #pushBytes(data: Uint8Array): void {
    if (this.#pending.byteLength > 0) {
      const rest = this.#completePending(data)
      if (rest === undefined) return
      data = rest
    }
    // Fast path: whole messages inside `data` are visited in place.
    const end = data.length
    let o = 0
    while (o < end) {
      const header = readLength(data, o, end, this.#limit)
      if (header < 0) break
      const start = o + (header & 3)
      const stop = start + (header >>> 2)
      if (stop > end) break
      this.#visit(data, start, stop)
      o = stop
    }
    if (o < end) this.#pending.append(data.subarray(o))
  }

  /**
   * Appends `data` to the unfinished message; if that completes it, visits
   * it (one copy) and returns what follows it in `data`.
   */
  #completePending(data: Uint8Array): Uint8Array | undefined {
    const p = this.#pending
    const have = p.byteLength
    const head = p.subarray(0, Math.min(LENGTH_VARINT_MAX_BYTES, have))
    let header = readLength(head, 0, head.length, this.#limit)
    if (header < 0) {
      // The varint itself straddles: join its bytes with the new data's first ones.
      const joined = new Uint8Array(head.length + Math.min(LENGTH_VARINT_MAX_BYTES, data.length))
      joined.set(head)
      joined.set(data.subarray(0, joined.length - head.length), head.length)
      header = readLength(joined, 0, joined.length, this.#limit)
      if (header < 0) {
        p.append(data)
        return undefined
      }
    }
    const total = (header & 3) + (header >>> 2)
    if (have + data.length < total) {
      p.append(data)
      return undefined
    }
    const used = total - have
    p.append(data.subarray(0, used))
    const message = p.subarray()
    this.#pending = new Uint8ArrayList()
    this.#visit(message, header & 3, total)
    return data.subarray(used)
  }
}
