/**
 * Codecs of the trunk messages (spec 08-trunk.md §2-§4). Every message is
 * `varint length ‖ u8 type ‖ body`; every body has a fixed binary layout.
 * Encoders compute the size first and write one buffer; decoders check each
 * length before reading, never read out of bounds, reject trailing bytes,
 * and throw a `WireError` naming the close reason, which the receive path
 * catches and counts.
 */
import type { SealedFrame } from '@peertap/crypto'
import {
  FRAME_HEADER_LENGTH,
  HELLO_FIXED_LENGTH,
  HELLO_MAX_EXTENSION_LENGTH,
  LENGTH_VARINT_MAX_BYTES,
  MAX_BATCH_COUNT,
  MAX_HOPS,
  MAX_PEER_ID_LENGTH,
  MAX_PROOF_LENGTH,
  MAX_SUB_ENTRIES,
  MESSAGE_LENGTH_LIMIT,
  MSG_BATCH,
  MSG_CONTROL,
  MSG_FRAME,
  MSG_HELLO,
  MSG_PING,
  MSG_PONG,
  MSG_SUB,
  MSG_UNSUB,
  ROLE_NODE,
  ROLE_RELAY,
  SEALED_MIN_LENGTH,
  SUB_FLAGS_KNOWN,
  VFT_LENGTH,
} from './constants.ts'
import { TrunkError, WireError } from './errors.ts'

/**
 * One sealed frame on its way across a link (spec 08-trunk.md §4.2):
 * @peertap/crypto's `SealedFrame` (hop limit, VFT, sealed payload opaque
 * here), the one type @peertap/relay and @peertap/switch use too.
 */
export type Frame = SealedFrame

export type Role = 'node' | 'relay'

/** HELLO (spec 08-trunk.md §4.1). */
export interface Hello {
  versionMin: number
  versionMax: number
  role: Role
  /** Capability bits, CAP_*; unknown bits are ignored by receivers. */
  capabilities: number
  /** Largest message (type ‖ body) the sender accepts. */
  maxMessageSize: number
  /** Smallest outgoing datagram MTU of the sender, 0 if it has no datagram link. */
  datagramMtu: number
  /** The sender's clock, milliseconds since the Unix epoch. */
  timestamp: number
  /** Extension bytes of later versions; v1 sends none and ignores them. */
  extensions?: Uint8Array
}

/** One VFT of a SUB or UNSUB with its flags, SUB_FLAG_* (spec 08-trunk.md §4.3). */
export interface SubscriptionEntry {
  vft: Uint8Array
  flags: number
}

/**
 * The body of a SUB (ttl > 0) or an UNSUB (ttl 0) (spec 08-trunk.md §4.3).
 * Not the table's record of it (@peertap/relay's `NeighbourSubscription`)
 * nor what a node holds (@peertap/switch's `LocalSubscription`).
 */
export interface SubscriptionMessage {
  /** Seconds the subscription lives unless renewed; 0 in an UNSUB. */
  ttl: number
  entries: SubscriptionEntry[]
  /** Membership proof, opaque here (spec 07-membership-proof.md). */
  proof?: Uint8Array
}

/** PING (spec 08-trunk.md §4.5). */
export interface Ping {
  nonce: bigint
  /** Sender's clock when sent, ms since the Unix epoch. */
  sentAt: number
  /** PeerIds (multihash bytes) of the hops the PING crossed so far. */
  hops: Uint8Array[]
}

/** PONG (spec 08-trunk.md §4.5). */
export interface Pong {
  nonce: bigint
  /** The PING's `sentAt`, echoed. */
  pingSentAt: number
  /** Responder's clock when it answered. */
  repliedAt: number
  /** The PING's hop record followed by the responder's PeerId. */
  hops: Uint8Array[]
}

/** CONTROL (spec 08-trunk.md §4.6). */
export interface Control {
  channel: number
  payload: Uint8Array
}

export type Message =
  | { type: 'hello'; hello: Hello }
  | { type: 'frame'; frame: Frame }
  | { type: 'sub'; sub: SubscriptionMessage }
  | { type: 'unsub'; sub: SubscriptionMessage }
  | { type: 'batch'; messages: Message[] }
  | { type: 'ping'; ping: Ping }
  | { type: 'pong'; pong: Pong }
  | { type: 'control'; control: Control }

// ---------------------------------------------------------------- varints

/** Bytes of the minimal unsigned LEB128 encoding of `n` (n < 2^28 here). */
export function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : 4
}

export function writeVarint(buf: Uint8Array, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80
    n >>>= 7
  }
  buf[offset++] = n
  return offset
}

/**
 * Reads a message length varint from `buf[offset..end)` (spec 08-trunk.md §2).
 * Returns `length * 4 + bytes` (bytes is 1 to 3; packed so the hot path
 * allocates nothing), or -1 if more bytes are needed. Throws `WireError` for
 * a varint longer than 3 bytes, a non-minimal one, or a length of zero or
 * above `limit`, before anything of the message is buffered.
 */
export function readLength(buf: Uint8Array, offset: number, end: number, limit: number): number {
  let value = 0
  for (let i = 0; i < LENGTH_VARINT_MAX_BYTES; i++) {
    if (offset + i >= end) return -1
    const b = buf[offset + i]!
    value |= (b & 0x7f) << (7 * i)
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 0) throw new WireError('non-minimal-varint')
      if (value === 0) throw new WireError('empty-message')
      if (value > limit) throw new WireError('oversized')
      return value * 4 + i + 1
    }
  }
  // A fourth byte would be needed: at least 2^21, beyond any allowed length.
  throw new WireError('bad-varint')
}

// ---------------------------------------------------------------- sizes

function hopsSize(hops: readonly Uint8Array[]): number {
  let n = 1
  for (const h of hops) n += 1 + h.length
  return n
}

/** Size of type ‖ body of `msg`, without the length varint. */
export function messageSize(msg: Message): number {
  switch (msg.type) {
    case 'hello':
      return 1 + HELLO_FIXED_LENGTH + (msg.hello.extensions?.length ?? 0)
    case 'frame':
      return 1 + FRAME_HEADER_LENGTH + msg.frame.sealed.length
    case 'sub':
    case 'unsub':
      return (
        1 + 2 + 2 + msg.sub.entries.length * (VFT_LENGTH + 1) + 2 + (msg.sub.proof?.length ?? 0)
      )
    case 'batch': {
      let n = 1 + 2
      for (const inner of msg.messages) {
        const s = messageSize(inner)
        n += varintLength(s) + s
      }
      return n
    }
    case 'ping':
      return 1 + 8 + 8 + hopsSize(msg.ping.hops)
    case 'pong':
      return 1 + 8 + 8 + 8 + hopsSize(msg.pong.hops)
    case 'control':
      return 1 + 2 + msg.control.payload.length
  }
}

// ---------------------------------------------------------------- encoding

function encodeError(message: string): TrunkError {
  return new TrunkError('unencodable', message)
}

function checkU16(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw encodeError(`${what} must be a u16`)
}

function checkU32(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw encodeError(`${what} must be a u32`)
}

function writeU64Number(view: DataView, offset: number, n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw encodeError(`${what} must be a safe non-negative integer`)
  view.setUint32(offset, Math.floor(n / 0x1_0000_0000))
  view.setUint32(offset + 4, n >>> 0)
}

function writeHops(buf: Uint8Array, offset: number, hops: readonly Uint8Array[]): number {
  if (hops.length > MAX_HOPS) throw encodeError(`at most ${MAX_HOPS} hops`)
  buf[offset++] = hops.length
  for (const h of hops) {
    if (h.length < 1 || h.length > MAX_PEER_ID_LENGTH)
      throw encodeError('bad PeerId length in hop record')
    buf[offset++] = h.length
    buf.set(h, offset)
    offset += h.length
  }
  return offset
}

/** Writes type ‖ body of `msg` at `offset`; returns the offset after it. */
function writeMessage(buf: Uint8Array, view: DataView, offset: number, msg: Message): number {
  switch (msg.type) {
    case 'hello': {
      const h = msg.hello
      checkU16(h.versionMin, 'versionMin')
      checkU16(h.versionMax, 'versionMax')
      checkU32(h.capabilities, 'capabilities')
      checkU32(h.maxMessageSize, 'maxMessageSize')
      checkU16(h.datagramMtu, 'datagramMtu')
      const ext = h.extensions ?? new Uint8Array(0)
      if (ext.length > HELLO_MAX_EXTENSION_LENGTH) throw encodeError('HELLO extensions too long')
      buf[offset] = MSG_HELLO
      view.setUint16(offset + 1, h.versionMin)
      view.setUint16(offset + 3, h.versionMax)
      buf[offset + 5] = h.role === 'relay' ? ROLE_RELAY : ROLE_NODE
      view.setUint32(offset + 6, h.capabilities)
      view.setUint32(offset + 10, h.maxMessageSize)
      view.setUint16(offset + 14, h.datagramMtu)
      writeU64Number(view, offset + 16, h.timestamp, 'timestamp')
      view.setUint16(offset + 24, ext.length)
      buf.set(ext, offset + 26)
      return offset + 26 + ext.length
    }
    case 'frame':
      return writeFrame(buf, offset, msg.frame)
    case 'sub':
    case 'unsub': {
      const s = msg.sub
      checkU16(s.ttl, 'ttl')
      if ((msg.type === 'unsub') !== (s.ttl === 0))
        throw encodeError('ttl is 0 exactly in an UNSUB')
      if (s.entries.length < 1 || s.entries.length > MAX_SUB_ENTRIES) {
        throw encodeError(`1 to ${MAX_SUB_ENTRIES} entries`)
      }
      const proof = s.proof ?? new Uint8Array(0)
      if (proof.length > MAX_PROOF_LENGTH) throw encodeError('proof too long')
      buf[offset] = msg.type === 'sub' ? MSG_SUB : MSG_UNSUB
      view.setUint16(offset + 1, s.ttl)
      view.setUint16(offset + 3, s.entries.length)
      offset += 5
      for (const e of s.entries) {
        if (e.vft.length !== VFT_LENGTH) throw encodeError('a VFT is 16 bytes')
        if (e.flags === 0 || (e.flags & ~SUB_FLAGS_KNOWN) !== 0)
          throw encodeError('bad entry flags')
        buf.set(e.vft, offset)
        buf[offset + VFT_LENGTH] = e.flags
        offset += VFT_LENGTH + 1
      }
      view.setUint16(offset, proof.length)
      buf.set(proof, offset + 2)
      return offset + 2 + proof.length
    }
    case 'batch': {
      const n = msg.messages.length
      if (n < 1 || n > MAX_BATCH_COUNT)
        throw encodeError(`a BATCH holds 1 to ${MAX_BATCH_COUNT} messages`)
      buf[offset] = MSG_BATCH
      view.setUint16(offset + 1, n)
      offset += 3
      for (const inner of msg.messages) {
        if (inner.type === 'batch' || inner.type === 'hello') {
          throw encodeError(`a BATCH never holds a ${inner.type.toUpperCase()}`)
        }
        offset = writeVarint(buf, offset, messageSize(inner))
        offset = writeMessage(buf, view, offset, inner)
      }
      return offset
    }
    case 'ping': {
      const p = msg.ping
      buf[offset] = MSG_PING
      view.setBigUint64(offset + 1, BigInt.asUintN(64, p.nonce))
      writeU64Number(view, offset + 9, p.sentAt, 'sentAt')
      return writeHops(buf, offset + 17, p.hops)
    }
    case 'pong': {
      const p = msg.pong
      buf[offset] = MSG_PONG
      view.setBigUint64(offset + 1, BigInt.asUintN(64, p.nonce))
      writeU64Number(view, offset + 9, p.pingSentAt, 'pingSentAt')
      writeU64Number(view, offset + 17, p.repliedAt, 'repliedAt')
      return writeHops(buf, offset + 25, p.hops)
    }
    case 'control': {
      checkU16(msg.control.channel, 'channel')
      buf[offset] = MSG_CONTROL
      view.setUint16(offset + 1, msg.control.channel)
      buf.set(msg.control.payload, offset + 3)
      return offset + 3 + msg.control.payload.length
    }
  }
}

/** Writes a FRAME (type ‖ body) at `offset`; the caller has checked the frame. */
export function writeFrame(buf: Uint8Array, offset: number, frame: Frame): number {
  buf[offset] = MSG_FRAME
  buf[offset + 1] = frame.hopLimit
  buf.set(frame.vft, offset + 2)
  buf.set(frame.sealed, offset + 2 + VFT_LENGTH)
  return offset + 2 + VFT_LENGTH + frame.sealed.length
}

/** True if `frame` may be encoded: hop limit a u8, a 16-byte VFT, a sealed payload of legal length. */
export function isValidFrame(frame: Frame): boolean {
  return (
    frame.vft.length === VFT_LENGTH &&
    frame.sealed.length >= SEALED_MIN_LENGTH &&
    (frame.hopLimit & 0xff) === frame.hopLimit
  )
}

/**
 * Encodes one message with its length varint into a new buffer. Throws
 * `TrunkError` `unencodable` for a message no receiver would accept, including
 * one longer than `limit` (default MESSAGE_LENGTH_LIMIT).
 */
export function encodeMessage(msg: Message, limit: number = MESSAGE_LENGTH_LIMIT): Uint8Array {
  if (msg.type === 'frame' && !isValidFrame(msg.frame)) throw encodeError('invalid frame')
  const size = messageSize(msg)
  if (size > limit) throw encodeError(`message of ${size} bytes exceeds ${limit}`)
  const total = varintLength(size) + size
  const buf = new Uint8Array(total)
  const view = new DataView(buf.buffer)
  const end = writeMessage(buf, view, writeVarint(buf, 0, size), msg)
  if (end !== total) throw encodeError('internal size mismatch')
  return buf
}

// ---------------------------------------------------------------- decoding

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
}

function u64Number(b: Uint8Array, o: number): number {
  const hi = u32(b, o)
  if (hi > 0x1f_ffff) throw new WireError('bad-body', 'timestamp beyond 2^53')
  return hi * 0x1_0000_0000 + u32(b, o + 4)
}

function u64Big(b: Uint8Array, o: number): bigint {
  return (BigInt(u32(b, o)) << 32n) | BigInt(u32(b, o + 4))
}

function need(body: Uint8Array, end: number): void {
  if (end > body.length) throw new WireError('bad-body', 'truncated body')
}

function done(body: Uint8Array, end: number): void {
  if (end !== body.length) throw new WireError('bad-body', 'trailing bytes')
}

/** Decodes a FRAME body (after the type byte) as views into `body`. */
export function decodeFrameBody(body: Uint8Array): Frame {
  if (body.length < FRAME_HEADER_LENGTH + SEALED_MIN_LENGTH)
    throw new WireError('bad-body', 'short FRAME')
  return {
    hopLimit: body[0]!,
    vft: body.subarray(1, FRAME_HEADER_LENGTH),
    sealed: body.subarray(FRAME_HEADER_LENGTH),
  }
}

export function decodeHelloBody(body: Uint8Array): Hello {
  need(body, HELLO_FIXED_LENGTH)
  const role = body[4]!
  if (role !== ROLE_NODE && role !== ROLE_RELAY) throw new WireError('bad-hello', 'unknown role')
  const extLength = u16(body, 23)
  if (extLength > HELLO_MAX_EXTENSION_LENGTH)
    throw new WireError('bad-hello', 'extensions too long')
  done(body, HELLO_FIXED_LENGTH + extLength)
  const hello: Hello = {
    versionMin: u16(body, 0),
    versionMax: u16(body, 2),
    role: role === ROLE_RELAY ? 'relay' : 'node',
    capabilities: u32(body, 5),
    maxMessageSize: u32(body, 9),
    datagramMtu: u16(body, 13),
    timestamp: u64Number(body, 15),
  }
  if (extLength > 0) hello.extensions = body.subarray(HELLO_FIXED_LENGTH)
  return hello
}

export function decodeSubscriptionBody(body: Uint8Array, unsub: boolean): SubscriptionMessage {
  need(body, 4)
  const ttl = u16(body, 0)
  if (unsub !== (ttl === 0)) throw new WireError('bad-body', 'ttl is 0 exactly in an UNSUB')
  const count = u16(body, 2)
  if (count > MAX_SUB_ENTRIES) throw new WireError('too-many-entries')
  if (count === 0) throw new WireError('bad-body', 'no entries')
  let o = 4
  need(body, o + count * (VFT_LENGTH + 1) + 2)
  const entries: SubscriptionEntry[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const flags = body[o + VFT_LENGTH]!
    if (flags === 0 || (flags & ~SUB_FLAGS_KNOWN) !== 0)
      throw new WireError('bad-body', 'bad flags')
    entries[i] = { vft: body.subarray(o, o + VFT_LENGTH), flags }
    o += VFT_LENGTH + 1
  }
  const proofLength = u16(body, o)
  if (proofLength > MAX_PROOF_LENGTH) throw new WireError('too-many-entries', 'proof too long')
  o += 2
  done(body, o + proofLength)
  const sub: SubscriptionMessage = { ttl, entries }
  if (proofLength > 0) sub.proof = body.subarray(o)
  return sub
}

function decodeHops(body: Uint8Array, o: number): Uint8Array[] {
  need(body, o + 1)
  const count = body[o]!
  if (count > MAX_HOPS) throw new WireError('too-many-entries', 'hop record too long')
  o += 1
  const hops: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    need(body, o + 1)
    const len = body[o]!
    if (len < 1 || len > MAX_PEER_ID_LENGTH) throw new WireError('bad-body', 'bad PeerId length')
    need(body, o + 1 + len)
    hops.push(body.subarray(o + 1, o + 1 + len))
    o += 1 + len
  }
  done(body, o)
  return hops
}

export function decodePingBody(body: Uint8Array): Ping {
  need(body, 17)
  return { nonce: u64Big(body, 0), sentAt: u64Number(body, 8), hops: decodeHops(body, 16) }
}

export function decodePongBody(body: Uint8Array): Pong {
  need(body, 25)
  return {
    nonce: u64Big(body, 0),
    pingSentAt: u64Number(body, 8),
    repliedAt: u64Number(body, 16),
    hops: decodeHops(body, 24),
  }
}

export function decodeControlBody(body: Uint8Array): Control {
  need(body, 2)
  return { channel: u16(body, 0), payload: body.subarray(2) }
}

/**
 * Walks the inner messages of a BATCH body, calling `visit(type, body)` for
 * each; rejects a nested BATCH or a HELLO, a count of 0 or above
 * MAX_BATCH_COUNT, a count that does not match, and trailing bytes.
 */
export function forEachInBatch(
  body: Uint8Array,
  visit: (type: number, innerBody: Uint8Array) => void,
): void {
  need(body, 2)
  const count = u16(body, 0)
  if (count > MAX_BATCH_COUNT) throw new WireError('too-many-entries', 'BATCH count')
  if (count === 0) throw new WireError('bad-body', 'empty BATCH')
  let o = 2
  for (let i = 0; i < count; i++) {
    const header = readLength(body, o, body.length, MESSAGE_LENGTH_LIMIT)
    if (header < 0) throw new WireError('bad-body', 'truncated BATCH')
    const start = o + (header & 3)
    const end = start + (header >>> 2)
    need(body, end)
    const type = body[start]!
    if (type === MSG_BATCH) throw new WireError('nested-batch')
    if (type === MSG_HELLO) throw new WireError('bad-body', 'HELLO inside BATCH')
    visit(type, body.subarray(start + 1, end))
    o = end
  }
  done(body, o)
}

/**
 * Decodes one message given as `type ‖ body` (no length varint). The slow,
 * general path for tests and control messages; the receive path dispatches
 * frames without building `Message` objects.
 */
export function decodeMessage(bytes: Uint8Array): Message {
  if (bytes.length < 1) throw new WireError('empty-message')
  return decodeTyped(bytes[0]!, bytes.subarray(1), true)
}

function decodeTyped(type: number, body: Uint8Array, allowBatch: boolean): Message {
  switch (type) {
    case MSG_HELLO:
      return { type: 'hello', hello: decodeHelloBody(body) }
    case MSG_FRAME:
      return { type: 'frame', frame: decodeFrameBody(body) }
    case MSG_SUB:
      return { type: 'sub', sub: decodeSubscriptionBody(body, false) }
    case MSG_UNSUB:
      return { type: 'unsub', sub: decodeSubscriptionBody(body, true) }
    case MSG_BATCH: {
      if (!allowBatch) throw new WireError('nested-batch')
      const messages: Message[] = []
      forEachInBatch(body, (t, b) => {
        messages.push(decodeTyped(t, b, false))
      })
      return { type: 'batch', messages }
    }
    case MSG_PING:
      return { type: 'ping', ping: decodePingBody(body) }
    case MSG_PONG:
      return { type: 'pong', pong: decodePongBody(body) }
    case MSG_CONTROL:
      return { type: 'control', control: decodeControlBody(body) }
    default:
      throw new WireError('unknown-type')
  }
}

/**
 * Decodes exactly one framed message (`varint length ‖ type ‖ body`) that
 * fills `bytes`; for tests and vectors.
 */
export function decodeFramedMessage(
  bytes: Uint8Array,
  limit: number = MESSAGE_LENGTH_LIMIT,
): Message {
  const header = readLength(bytes, 0, bytes.length, limit)
  if (header < 0) throw new WireError('truncated')
  const total = (header & 3) + (header >>> 2)
  if (bytes.length < total) throw new WireError('truncated')
  if (bytes.length > total) throw new WireError('bad-body', 'trailing bytes')
  return decodeMessage(bytes.subarray(header & 3))
}

// ---------------------------------------------------------------- frame batches

/**
 * Encodes `frames[from..to)` as BATCHes of FRAMEs, each message at most
 * `limit` bytes (type ‖ body), into one new buffer: the hot path of the send
 * side (spec 08-trunk.md §4.4). A batch holding a single frame goes out as a
 * plain FRAME. The caller has checked every frame with `isValidFrame` and
 * that each FRAME alone fits `limit`.
 */
export function encodeFrameBatches(
  frames: readonly Frame[],
  from: number,
  to: number,
  limit: number,
): Uint8Array {
  // Pass 1: the size of the whole buffer, by the same greedy packing as pass 2.
  let total = 0
  let i = from
  while (i < to) {
    const [end, size] = packBatch(frames, i, to, limit)
    total += varintLength(size) + size
    i = end
  }
  const buf = new Uint8Array(total)
  const view = new DataView(buf.buffer)
  // Pass 2: write.
  let o = 0
  i = from
  while (i < to) {
    const [end, size] = packBatch(frames, i, to, limit)
    o = writeVarint(buf, o, size)
    if (end - i === 1) {
      o = writeFrame(buf, o, frames[i]!)
    } else {
      buf[o] = MSG_BATCH
      view.setUint16(o + 1, end - i)
      o += 3
      for (let k = i; k < end; k++) {
        const f = frames[k]!
        o = writeVarint(buf, o, 1 + FRAME_HEADER_LENGTH + f.sealed.length)
        o = writeFrame(buf, o, f)
      }
    }
    i = end
  }
  return buf
}

/** Greedy packing: how many frames from `i` fit one message, and its size (type ‖ body). */
function packBatch(
  frames: readonly Frame[],
  i: number,
  to: number,
  limit: number,
): [number, number] {
  const first = 1 + FRAME_HEADER_LENGTH + frames[i]!.sealed.length
  let size = 3 + varintLength(first) + first
  let end = i + 1
  while (end < to && end - i < MAX_BATCH_COUNT) {
    const m = 1 + FRAME_HEADER_LENGTH + frames[end]!.sealed.length
    const next = size + varintLength(m) + m
    if (next > limit) break
    size = next
    end++
  }
  if (end - i === 1) return [end, first]
  return [end, size]
}
