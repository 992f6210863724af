/**
 * The datagram link's bytes (docs/spec/13-datagram-link.md): the offer
 * carried on CONTROL channel 4, the key schedule that turns two offers into
 * one AES-256-GCM key per direction, and the datagrams themselves.
 *
 *   datagram = type u8 ‖ receiverIndex u32 ‖ counter u32 ‖ body
 *   DATA     body = GCM(hop ‖ VFT) 17 ‖ tag 16 ‖ sealed      aad = header ‖ sealed
 *   PING     body = GCM(nonce u64 ‖ zero padding) ‖ tag 16   aad = header
 *   PONG     body = GCM(nonce u64 ‖ size u16) ‖ tag 16       aad = header
 *   nonce    = 8 zero bytes ‖ counter u32
 *
 * Opening never throws and never changes state: it returns a drop reason,
 * and the caller updates the replay window only after the tag checks.
 */
import { hkdfSync } from 'node:crypto'
import { isIPv4, isIPv6 } from 'node:net'
import { type Aes256Gcm, type AesPrimitives, nodeAes, type SharedCells } from '@peertap/crypto'
import type { Frame } from './codec.ts'
import {
  DGRAM_COUNTER_LIMIT,
  DGRAM_DATA,
  DGRAM_DATA_OVERHEAD,
  DGRAM_HEADER_LENGTH,
  DGRAM_PING,
  DGRAM_PING_MIN_LENGTH,
  DGRAM_PONG,
  DGRAM_PONG_LENGTH,
  DGRAM_TAG_LENGTH,
  FRAME_HEADER_LENGTH,
  OFFER_MAX_ADDRESSES,
  OFFER_PATH_KEY_LENGTH,
  OFFER_VERSION,
  PATH_KEY_LABEL,
  SEALED_MIN_LENGTH,
  VFT_LENGTH,
} from './constants.ts'

// ---------------------------------------------------------------- offer (§4)

/** One side's datagram-link offer (spec 13-datagram-link.md §4). */
export interface DatagramOffer {
  /** The index the offerer's datagrams must carry to reach it. */
  receiverIndex: number
  /** 32 fresh random bytes; the offerer's half of both directions' keys. */
  pathKey: Uint8Array
  /** The UDP port the offerer receives on. */
  port: number
  /** Candidate IPv4/IPv6 addresses beside the one the stream link shows. */
  addresses: string[]
}

/** Encodes an offer; throws on a bad field (our own offers only). */
export function encodeOffer(offer: DatagramOffer): Uint8Array {
  if (offer.pathKey.length !== OFFER_PATH_KEY_LENGTH) throw new RangeError('path key length')
  if (offer.addresses.length > OFFER_MAX_ADDRESSES) throw new RangeError('too many addresses')
  const addrs = offer.addresses.map(addressBytes)
  let size = 1 + 4 + OFFER_PATH_KEY_LENGTH + 2 + 1
  for (const a of addrs) size += 1 + a.length
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out[0] = OFFER_VERSION
  view.setUint32(1, offer.receiverIndex)
  out.set(offer.pathKey, 5)
  let o = 5 + OFFER_PATH_KEY_LENGTH
  view.setUint16(o, offer.port)
  out[o + 2] = addrs.length
  o += 3
  for (const a of addrs) {
    out[o] = a.length === 4 ? 4 : 6
    out.set(a, o + 1)
    o += 1 + a.length
  }
  return out
}

/** Decodes an offer, or undefined if it is malformed in any way (spec 13 §4). */
export function decodeOffer(buf: Uint8Array): DatagramOffer | undefined {
  const fixed = 1 + 4 + OFFER_PATH_KEY_LENGTH + 2 + 1
  if (buf.length < fixed || buf[0] !== OFFER_VERSION) return undefined
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const receiverIndex = view.getUint32(1)
  const pathKey = buf.slice(5, 5 + OFFER_PATH_KEY_LENGTH)
  let o = 5 + OFFER_PATH_KEY_LENGTH
  const port = view.getUint16(o)
  const count = buf[o + 2]!
  o += 3
  // Index 0 is never a link's (spec 13 §1): datagrams sent to it would go nowhere.
  if (receiverIndex === 0 || port === 0 || count > OFFER_MAX_ADDRESSES) return undefined
  const addresses: string[] = []
  for (let i = 0; i < count; i++) {
    const family = buf[o]
    const len = family === 4 ? 4 : family === 6 ? 16 : 0
    if (len === 0 || o + 1 + len > buf.length) return undefined
    addresses.push(addressText(buf.subarray(o + 1, o + 1 + len)))
    o += 1 + len
  }
  if (o !== buf.length) return undefined
  return { receiverIndex, pathKey, port, addresses }
}

function addressBytes(address: string): Uint8Array {
  if (isIPv4(address)) return Uint8Array.from(address.split('.').map(Number))
  if (!isIPv6(address)) throw new RangeError(`not an IP address: ${address}`)
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined]
  const groups = (s: string | undefined) => (s === undefined || s === '' ? [] : s.split(':'))
  const h = groups(head)
  const t = groups(tail)
  const all = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  if (all.length !== 8 || all.some((g) => g.includes('.'))) {
    throw new RangeError(`unsupported IPv6 form: ${address}`)
  }
  const out = new Uint8Array(16)
  all.forEach((g, i) => {
    const n = Number.parseInt(g, 16)
    out[2 * i] = n >> 8
    out[2 * i + 1] = n & 0xff
  })
  return out
}

function addressText(b: Uint8Array): string {
  if (b.length === 4) return b.join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16))
  return groups.join(':')
}

// ---------------------------------------------------------------- keys (§3)

/**
 * The key of the direction from the side that offered `senderPathKey` to the
 * side that offered `receiverPathKey` (spec 13-datagram-link.md §3):
 * HKDF-SHA256(salt = empty, ikm = sender's path key ‖ receiver's path key,
 * info = "PeerTap v1 datagram path key", 32 bytes).
 */
export function derivePathKey(senderPathKey: Uint8Array, receiverPathKey: Uint8Array): Uint8Array {
  const ikm = new Uint8Array(2 * OFFER_PATH_KEY_LENGTH)
  ikm.set(senderPathKey, 0)
  ikm.set(receiverPathKey, OFFER_PATH_KEY_LENGTH)
  return new Uint8Array(hkdfSync('sha256', ikm, new Uint8Array(0), PATH_KEY_LABEL, 32))
}

// ---------------------------------------------------------------- datagrams (§2, §3)

export type DatagramDrop = 'malformed' | 'unknown-type' | 'auth' | 'replay' | 'too-old'

/** A datagram that opened: its type, counter and content (views into the datagram). */
export type OpenedDatagram =
  | { type: typeof DGRAM_DATA; counter: number; frame: Frame }
  | { type: typeof DGRAM_PING; counter: number; nonce: bigint; size: number }
  | { type: typeof DGRAM_PONG; counter: number; nonce: bigint; size: number }

/** Reads the receiver index of a datagram, or -1 if it is too short to have one. */
export function receiverIndexOf(buf: Uint8Array): number {
  if (buf.length < DGRAM_HEADER_LENGTH) return -1
  return ((buf[1]! << 24) | (buf[2]! << 16) | (buf[3]! << 8) | buf[4]!) >>> 0
}

/**
 * Seals datagrams for one direction: the peer's receiver index, a key
 * prepared once (`aes`: node:crypto by default, or an application's faster
 * primitives), a nonce buffer reused, a counter from 0 (spec 13 §3).
 *
 * One sealer lives as long as the sender's own offer: `rekey` (the
 * neighbour's offer changed) keeps the counter, so no counter repeats under
 * one local path key whatever remote keys come and go (spec 13 §3).
 */
export class DatagramSealer {
  readonly #aes: AesPrimitives
  #gcm: Aes256Gcm
  #key: Uint8Array
  #receiverIndex: number
  readonly #nonce = Buffer.alloc(12)
  #counter = 0
  /** With shared cells (a native fast path seals on this path too): the counter's cell. */
  readonly #cells: SharedCells | undefined
  readonly #cell: number

  constructor(
    key: Uint8Array,
    receiverIndex: number,
    aes: AesPrimitives = nodeAes,
    cells?: SharedCells,
  ) {
    this.#aes = aes
    this.#gcm = aes.gcm(key)
    this.#key = key
    this.#receiverIndex = receiverIndex
    this.#cells = cells
    this.#cell = cells === undefined ? -1 : cells.newCounter()
  }

  /** Seals under `key` to `receiverIndex` from now on; the counter goes on where it was. */
  rekey(key: Uint8Array, receiverIndex: number): void {
    this.#gcm = this.#aes.gcm(key)
    this.#key = key
    this.#receiverIndex = receiverIndex
  }

  /** @internal For the fast path: the send key, the receiver index, the counter cell (-1 without cells). */
  get flow(): { key: Uint8Array; receiverIndex: number; counterCell: number } {
    return { key: this.#key, receiverIndex: this.#receiverIndex, counterCell: this.#cell }
  }

  /** Gives the counter cell back (a sealer replaced by a fresh offer). */
  free(): void {
    if (this.#cells !== undefined) this.#cells.free(this.#cell, 'counter')
  }

  /** The next counter (with shared cells, one past the last this object took); at DGRAM_COUNTER_LIMIT the key is spent. */
  get counter(): number {
    return this.#counter
  }

  get exhausted(): boolean {
    return this.#counter >= DGRAM_COUNTER_LIMIT
  }

  /** Takes the next counter, or -1 once the key is spent. */
  #take(): number {
    if (this.#cells === undefined) {
      return this.#counter >= DGRAM_COUNTER_LIMIT ? -1 : this.#counter++
    }
    const c = this.#cells.takeCounters(this.#cell, 1, DGRAM_COUNTER_LIMIT)
    this.#counter = c < 0 ? DGRAM_COUNTER_LIMIT : c + 1
    return c
  }

  /** A DATA datagram carrying `frame`, in a new buffer; undefined once the key is spent. */
  sealData(frame: Frame): Buffer | undefined {
    const counter = this.#take()
    if (counter < 0) return undefined
    const sealed = frame.sealed
    const out = Buffer.allocUnsafe(DGRAM_DATA_OVERHEAD + sealed.length)
    this.#header(out, DGRAM_DATA, counter)
    // hop ‖ VFT is 17 bytes: build it in place, then encrypt it in place, the tag after it.
    out[DGRAM_HEADER_LENGTH] = frame.hopLimit
    out.set(frame.vft, DGRAM_HEADER_LENGTH + 1)
    out.set(sealed, DGRAM_DATA_OVERHEAD)
    const hvEnd = DGRAM_HEADER_LENGTH + FRAME_HEADER_LENGTH
    this.#gcm.seal(
      this.#nonce,
      out.subarray(0, DGRAM_HEADER_LENGTH),
      sealed,
      out,
      DGRAM_HEADER_LENGTH,
      hvEnd,
      out,
      DGRAM_HEADER_LENGTH,
    )
    return out
  }

  /** A PING of `size` bytes in all (at least DGRAM_PING_MIN_LENGTH), or undefined once spent. */
  sealPing(nonce: bigint, size: number): Buffer | undefined {
    const plain = Buffer.alloc(size - DGRAM_HEADER_LENGTH - DGRAM_TAG_LENGTH)
    plain.writeBigUInt64BE(nonce, 0)
    return this.#sealControl(DGRAM_PING, plain)
  }

  /** A PONG answering PING `nonce` that arrived as `size` bytes, or undefined once spent. */
  sealPong(nonce: bigint, size: number): Buffer | undefined {
    const plain = Buffer.alloc(10)
    plain.writeBigUInt64BE(nonce, 0)
    plain.writeUInt16BE(size, 8)
    return this.#sealControl(DGRAM_PONG, plain)
  }

  #sealControl(type: number, plain: Buffer): Buffer | undefined {
    const counter = this.#take()
    if (counter < 0) return undefined
    const out = Buffer.allocUnsafe(DGRAM_HEADER_LENGTH + plain.length + DGRAM_TAG_LENGTH)
    this.#header(out, type, counter)
    this.#gcm.seal(
      this.#nonce,
      out.subarray(0, DGRAM_HEADER_LENGTH),
      undefined,
      plain,
      0,
      plain.length,
      out,
      DGRAM_HEADER_LENGTH,
    )
    return out
  }

  #header(out: Buffer, type: number, counter: number): void {
    out[0] = type
    out.writeUInt32BE(this.#receiverIndex, 1)
    out.writeUInt32BE(counter, 5)
    this.#nonce.writeUInt32BE(counter, 8)
  }
}

/**
 * Opens datagrams of one direction. `open` checks the replay window before
 * the tag and never updates it; the caller calls `accept(counter)` after
 * (spec 13 §3, after 04-sealed-payload.md §6).
 */
export class DatagramOpener {
  readonly #gcm: Aes256Gcm
  readonly #nonce = Buffer.alloc(12)
  readonly #replay: { check(counter: number): 'replay' | 'too-old' | undefined }

  constructor(
    key: Uint8Array,
    replay: { check(counter: number): 'replay' | 'too-old' | undefined },
    aes: AesPrimitives = nodeAes,
  ) {
    this.#gcm = aes.gcm(key)
    this.#replay = replay
  }

  open(buf: Uint8Array): OpenedDatagram | DatagramDrop {
    if (buf.length < DGRAM_HEADER_LENGTH + DGRAM_TAG_LENGTH) return 'malformed'
    const type = buf[0]!
    const counter = ((buf[5]! << 24) | (buf[6]! << 16) | (buf[7]! << 8) | buf[8]!) >>> 0
    if (counter > DGRAM_COUNTER_LIMIT) return 'malformed'
    switch (type) {
      case DGRAM_DATA: {
        if (buf.length < DGRAM_DATA_OVERHEAD + SEALED_MIN_LENGTH) return 'malformed'
        const seen = this.#replay.check(counter)
        if (seen !== undefined) return seen
        const sealed = buf.subarray(DGRAM_DATA_OVERHEAD)
        const plain = this.#decrypt(
          buf,
          sealed,
          DGRAM_HEADER_LENGTH,
          DGRAM_HEADER_LENGTH + FRAME_HEADER_LENGTH,
          counter,
        )
        if (plain === undefined) return 'auth'
        return {
          type: DGRAM_DATA,
          counter,
          frame: { hopLimit: plain[0]!, vft: plain.subarray(1, 1 + VFT_LENGTH), sealed },
        }
      }
      case DGRAM_PING:
      case DGRAM_PONG: {
        if (
          type === DGRAM_PING
            ? buf.length < DGRAM_PING_MIN_LENGTH
            : buf.length !== DGRAM_PONG_LENGTH
        ) {
          return 'malformed'
        }
        const seen = this.#replay.check(counter)
        if (seen !== undefined) return seen
        const end = buf.length - DGRAM_TAG_LENGTH
        const plain = this.#decrypt(buf, undefined, DGRAM_HEADER_LENGTH, end, counter)
        if (plain === undefined) return 'auth'
        const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength)
        const nonce = view.getBigUint64(0)
        if (type === DGRAM_PING) return { type, counter, nonce, size: buf.length }
        return { type, counter, nonce, size: view.getUint16(8) }
      }
      default:
        return 'unknown-type'
    }
  }

  /** Opens buf[start, end) whose tag is buf[end, end + 16); the plaintext in a new buffer. */
  #decrypt(
    buf: Uint8Array,
    aad2: Uint8Array | undefined,
    start: number,
    end: number,
    counter: number,
  ): Buffer | undefined {
    this.#nonce.writeUInt32BE(counter, 8)
    const plain = Buffer.allocUnsafe(end - start)
    const header = buf.subarray(0, DGRAM_HEADER_LENGTH)
    return this.#gcm.open(this.#nonce, header, aad2, buf, start, end, plain, 0) ? plain : undefined
  }
}
