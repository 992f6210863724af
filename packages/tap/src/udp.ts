/**
 * A UDP socket with batched I/O: node:dgram makes one system call and one
 * JavaScript event per datagram; this makes one recvmmsg(2) per received
 * batch and one sendmmsg(2) per sent batch (src/udp.h). Socket I/O only.
 *
 * Receive path, in order:
 *   1. the addon fills a slot of a fixed pool with one recvmmsg(2): on a
 *      reader thread of its own (default), or on the main thread when the
 *      event loop reports the socket readable (`mainThread: true`), the same
 *      reader as a device's (src/reader.h, src/poller.h);
 *   2. one call into JavaScript per batch, carrying the slot: datagrams
 *      packed by offset and length, each with its source address record;
 *      with UDP GRO, a message the kernel coalesced is split into its
 *      datagrams first, so a record is always one datagram;
 *   3. the handler gets the slot's DatagramBatch (reused); when it returns
 *      the slot goes back. If JavaScript holds every slot the thread waits,
 *      the socket's receive buffer fills and the kernel drops and counts
 *      (UdpRcvbufErrors in /proc/net/snmp): backpressure, not growth.
 *
 * Send path: `send(datagrams, addresses, ports)`, one call into the addon
 * and one sendmmsg(2) per 1024 datagrams; datagrams the kernel refuses or a
 * full send buffer leaves over are dropped and counted, never thrown.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { BATCH_FRAMES, MAX_SLOTS, SLOTS } from './constants.ts'
import {
  closedError,
  invalid,
  isSystemFailure,
  type TapError,
  udpErrorFromSystem,
} from './errors.ts'
import { type FlowCacheHandle, type Native, native, type ReaderHandle } from './native.ts'

/** Bytes of an address record (src/udp.h): family, zero, port (BE), address (16). */
const RECORD_BYTES = 20
/** The largest UDP payload over IPv4 (65535 - 20 - 8). */
export const UDP_PAYLOAD_MAX = 65_507
/** Datagrams per sendmmsg(2) and most per received batch (UIO_MAXIOV). */
export const UDP_BATCH_MAX = 1024
/** Default largest datagram received: above the datagram link's 1472-byte probes, any Ethernet MTU. */
export const UDP_DATAGRAM_MAX = 2048

export interface UdpOpenOptions {
  /** Address to bind, IPv4 or IPv6 (default 0.0.0.0); the family follows it. */
  readonly address?: string
  /** Port to bind (default 0: any free port). */
  readonly port?: number
  /** SO_RCVBUF / SO_SNDBUF asked for (the kernel caps them at rmem_max / wmem_max; default: leave). */
  readonly receiveBufferBytes?: number
  readonly sendBufferBytes?: number
  /**
   * Set the don't-fragment flag (IP_MTU_DISCOVER = IP_PMTUDISC_PROBE): a
   * datagram larger than the path is lost instead of fragmented, so a probe
   * tells the real path MTU (default false, as node:dgram, which cannot set it).
   */
  readonly dontFragment?: boolean
  /**
   * UDP GSO (UDP_SEGMENT, default true): consecutive datagrams of one batch
   * to one destination and of one size (the last may be shorter) leave as
   * one super-datagram that the kernel splits late, so the stack is crossed
   * once for up to 64 of them; the receiver still gets separate datagrams.
   * Turned off by itself if the kernel refuses it (no checksum offload on
   * the route's device: EIO); those datagrams are then sent one by one.
   */
  readonly gso?: boolean
  /**
   * UDP GRO (UDP_GRO, default true): the kernel may hand over several
   * datagrams of one sender as one message (a GSO message from this host
   * kept whole, or datagrams the NIC's GRO coalesced), which crosses its
   * receive path once; the socket splits it, so a batch still holds one
   * datagram per record, with its source, in order. Costs up to 4 MiB of
   * receive buffers per socket (64 KiB per message of a recvmmsg, at most
   * 64 of them; src/udp.h). Off when the kernel refuses it (before Linux 5.0).
   */
  readonly gro?: boolean
}

export interface UdpReadOptions {
  /** Most datagrams per batch (default 64, at most 1024). */
  readonly batchDatagrams?: number
  /** Batches JavaScript may hold at once (default 4); the pool never grows. */
  readonly slots?: number
  /** Largest datagram accepted (default 2048); longer ones are dropped and counted. */
  readonly datagramMax?: number
  /** Receive on the main thread's event loop instead of a reader thread (see TapDevice). */
  readonly mainThread?: boolean
  /** Called once if receiving fails; the reader has stopped. Without it, thrown. */
  readonly onError?: (error: TapError) => void
}

/**
 * One batch of received datagrams: datagram i is `data[offsets[i] ..
 * offsets[i] + lengths[i])` from `address(i)`:`port(i)`. It belongs to the
 * pool and is valid until the handler returns: copy what you keep.
 */
export interface DatagramBatch {
  readonly data: Uint8Array
  readonly offsets: Uint32Array
  readonly lengths: Uint32Array
  readonly count: number
  address(i: number): string
  port(i: number): number
}

export type DatagramHandler = (batch: DatagramBatch) => void

export interface UdpStats {
  readonly batchesReceived: number
  readonly datagramsReceived: number
  readonly bytesReceived: number
  /** Times the reader waited because JavaScript held every slot. */
  readonly readerWaits: number
  /** Datagrams longer than `datagramMax`, dropped. */
  readonly truncated: number
  readonly batchesSent: number
  readonly datagramsSent: number
  /** Datagrams not sent: refused by the kernel, or left over by a full send buffer. */
  readonly sendDrops: number
  /** UDP GSO messages sent, and the datagrams in them. */
  readonly gsoMessages: number
  readonly gsoDatagrams: number
  /** Whether GSO is (still) used. */
  readonly gso: boolean
  /** Received messages the kernel coalesced (UDP GRO), and the datagrams in them. */
  readonly groMessages: number
  readonly groDatagrams: number
  /** Whether UDP GRO is on (asked for and accepted by the kernel). */
  readonly gro: boolean
}

/** Text form of an address record's address, cached (the same few peers send again and again). */
const textCache = new Map<string, string>()

class Batch implements DatagramBatch {
  readonly data: Uint8Array
  readonly offsets: Uint32Array
  readonly lengths: Uint32Array
  readonly #records: Uint8Array
  readonly #v4: Map<number, string> = new Map()
  count = 0

  constructor(data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, records: Uint8Array) {
    this.data = data
    this.offsets = offsets
    this.lengths = lengths
    this.#records = records
  }

  port(i: number): number {
    const r = this.#records
    const o = i * RECORD_BYTES
    return (r[o + 2]! << 8) | r[o + 3]!
  }

  address(i: number): string {
    const r = this.#records
    const o = i * RECORD_BYTES
    if (r[o] === 4) {
      const key = ((r[o + 4]! << 24) | (r[o + 5]! << 16) | (r[o + 6]! << 8) | r[o + 7]!) >>> 0
      let text = this.#v4.get(key)
      if (text === undefined) {
        if (this.#v4.size >= 1024) this.#v4.clear()
        text = `${r[o + 4]}.${r[o + 5]}.${r[o + 6]}.${r[o + 7]}`
        this.#v4.set(key, text)
      }
      return text
    }
    return ipv6Text(r.subarray(o + 4, o + 20))
  }
}

function ipv6Text(b: Uint8Array): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16))
  const full = groups.join(':')
  let text = textCache.get(full)
  if (text === undefined) {
    if (textCache.size >= 1024) textCache.clear()
    text = new URL(`http://[${full}]`).hostname.slice(1, -1) // RFC 5952 form
    textCache.set(full, text)
  }
  return text
}

/**
 * @internal The address record of `address`:`port` (family, zero, port,
 * address: src/udp.h), as the reader reports a source; undefined if the
 * address is neither IPv4 nor IPv6.
 */
export function addressRecord(address: string, port: number): Uint8Array | undefined {
  const parsed = addressBytes(address)
  if (parsed === undefined) return undefined
  const record = new Uint8Array(RECORD_BYTES)
  record[0] = parsed.family
  record[2] = (port >>> 8) & 0xff
  record[3] = port & 0xff
  record.set(parsed.bytes, 4)
  return record
}

/** The 16 address bytes of an IPv4 or IPv6 text address; undefined if it is neither. */
function addressBytes(address: string): { family: 4 | 6; bytes: Uint8Array } | undefined {
  if (isIPv4(address)) {
    const bytes = new Uint8Array(16)
    bytes.set(address.split('.').map(Number))
    return { family: 4, bytes }
  }
  if (!isIPv6(address)) return undefined
  let a = address
  const zone = a.indexOf('%')
  if (zone >= 0) a = a.slice(0, zone)
  const tail: number[] = []
  const v4 = a.lastIndexOf(':')
  if (a.includes('.', v4)) {
    // An embedded IPv4 address (::ffff:1.2.3.4): the last two groups.
    const q = a
      .slice(v4 + 1)
      .split('.')
      .map(Number)
    tail.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!)
    a = `${a.slice(0, v4 + 1)}x`
  }
  const groups = (s: string) => (s === '' ? [] : s.split(':'))
  const [head, rest] = a.includes('::') ? a.split('::') : [a, undefined]
  const h = groups(head!).filter((g) => g !== 'x')
  const t = rest === undefined ? [] : groups(rest).filter((g) => g !== 'x')
  const words = [...h.map((g) => Number.parseInt(g, 16))]
  const after = [...t.map((g) => Number.parseInt(g, 16)), ...tail]
  if (rest === undefined) words.push(...tail)
  else words.push(...new Array<number>(8 - words.length - after.length).fill(0), ...after)
  if (words.length !== 8) return undefined
  const bytes = new Uint8Array(16)
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8
    bytes[2 * i + 1] = w & 0xff
  })
  // An IPv4-mapped address is an IPv4 destination (the record's family 4).
  if (bytes.subarray(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    const v4bytes = new Uint8Array(16)
    v4bytes.set(bytes.subarray(12, 16))
    return { family: 4, bytes: v4bytes }
  }
  return { family: 6, bytes }
}

interface ReaderState {
  readonly handle: ReaderHandle
  readonly batches: readonly Batch[]
  readonly handler: DatagramHandler
  readonly onError: ((error: TapError) => void) | undefined
}

/** A bound UDP socket with batched I/O. Obtain one with {@link openUdp}. */
export class UdpSocket {
  readonly family: 4 | 6
  /** The bound address and port. */
  readonly address: string
  readonly port: number
  readonly #native: Native
  readonly #fd: number
  #closed = false
  #reader: ReaderState | undefined
  #flow: FlowCacheHandle | undefined
  /** Destination records, reused; grown to the largest batch sent. */
  #records = new Uint8Array(64 * RECORD_BYTES)
  /** Address text -> family and bytes, for records. */
  readonly #destinations = new Map<string, { family: 4 | 6; bytes: Uint8Array }>()
  #batchesSent = 0
  #datagramsSent = 0
  #sendDrops = 0
  /** [enabled, GSO messages, datagrams in them], kept up to date by the addon. */
  readonly #gso: Float64Array | undefined
  readonly #gro: boolean

  /** @internal Use {@link openUdp}. */
  constructor(
    n: Native,
    fd: number,
    family: 4 | 6,
    address: string,
    port: number,
    gso: boolean,
    gro: boolean,
  ) {
    this.#native = n
    this.#fd = fd
    this.family = family
    this.address = address
    this.port = port
    this.#gso = gso ? Float64Array.of(1, 0, 0) : undefined
    this.#gro = gro
  }

  /**
   * Starts receiving: `handler` gets each batch, one at a time, in order.
   * Once per socket.
   */
  onBatch(handler: DatagramHandler, options: UdpReadOptions = {}): void {
    if (this.#closed) throw closedError(`udp:${this.port}`)
    if (this.#reader !== undefined) throw invalid('the socket is already receiving')
    const batchDatagrams = options.batchDatagrams ?? BATCH_FRAMES
    const slots = options.slots ?? SLOTS
    const datagramMax = options.datagramMax ?? UDP_DATAGRAM_MAX
    if (!Number.isInteger(batchDatagrams) || batchDatagrams < 1 || batchDatagrams > UDP_BATCH_MAX) {
      throw invalid(`batchDatagrams must be 1 to ${UDP_BATCH_MAX}`)
    }
    if (!Number.isInteger(slots) || slots < 1 || slots > MAX_SLOTS) {
      throw invalid(`slots must be 1 to ${MAX_SLOTS}`)
    }
    if (!Number.isInteger(datagramMax) || datagramMax < 64 || datagramMax > UDP_PAYLOAD_MAX) {
      throw invalid(`datagramMax must be 64 to ${UDP_PAYLOAD_MAX}`)
    }
    const started = this.#native.udpReaderStart(
      this.#fd,
      slots,
      batchDatagrams,
      datagramMax,
      (slot, count, errno) => this.#onNative(slot, count, errno),
      options.mainThread ?? false,
      this.#gro,
    )
    // Per slot, batchDatagrams x 7 words: offsets, lengths, address records.
    const words = 7 * batchDatagrams
    const batches: Batch[] = []
    for (let s = 0; s < slots; s++) {
      const meta = s * words * 4
      batches.push(
        new Batch(
          new Uint8Array(
            started.pool,
            started.dataOffset + s * started.slotBytes,
            started.slotBytes,
          ),
          new Uint32Array(started.pool, meta, batchDatagrams),
          new Uint32Array(started.pool, meta + 4 * batchDatagrams, batchDatagrams),
          new Uint8Array(started.pool, meta + 8 * batchDatagrams, RECORD_BYTES * batchDatagrams),
        ),
      )
    }
    this.#reader = { handle: started.handle, batches, handler, onError: options.onError }
    if (this.#flow !== undefined) this.#native.readerSetFlow(started.handle, this.#flow, -1)
  }

  /**
   * @internal The fast path's flow cache (flow.ts FlowCache.attachUdp):
   * received batches run through it on the reader thread, and it sends on
   * this socket. The cache lets go of the socket before it closes.
   */
  attachFlow(cache: FlowCacheHandle | undefined): void {
    if (this.#closed) throw closedError(`udp:${this.port}`)
    if (this.#flow !== undefined && cache === undefined)
      this.#native.flowCacheUdp(this.#flow, -1, 4, false)
    this.#flow = cache
    if (cache !== undefined)
      this.#native.flowCacheUdp(cache, this.#fd, this.family, this.#gso?.[0] === 1)
    if (this.#reader !== undefined)
      this.#native.readerSetFlow(this.#reader.handle, cache ?? null, -1)
  }

  #onNative(slot: number, count: number, errno: number): void {
    const r = this.#reader
    if (this.#closed || r === undefined) return
    if (slot < 0) {
      const err = udpErrorFromSystem({ errno, syscall: 'recvmmsg' }, 'receive on', this.#name())
      if (r.onError !== undefined) r.onError(err)
      else throw err
      return
    }
    const batch = r.batches[slot]!
    batch.count = count
    try {
      r.handler(batch)
    } finally {
      if (!this.#closed) this.#native.readerRelease(r.handle, slot)
    }
  }

  /**
   * Sends `datagrams[i]` to `addresses[i]`:`ports[i]` for i < count (default
   * all) with sendmmsg(2); returns how many the kernel took. Never throws on
   * a datagram: an unparsable address, a refused datagram (too large,
   * unreachable) or a full send buffer drops and counts (`stats().sendDrops`).
   * Throws only when the socket is closed or unusable.
   */
  send(
    datagrams: readonly Uint8Array[],
    addresses: readonly string[],
    ports: ArrayLike<number>,
    count = datagrams.length,
  ): number {
    if (this.#closed) throw closedError(`udp:${this.port}`)
    if (count <= 0) return 0
    if (this.#records.length < count * RECORD_BYTES) {
      this.#records = new Uint8Array(count * RECORD_BYTES * 2)
    }
    const records = this.#records
    for (let i = 0; i < count; i++) {
      const o = i * RECORD_BYTES
      const address = addresses[i]!
      let d = this.#destinations.get(address)
      if (d === undefined) {
        d = addressBytes(address) ?? { family: 0 as 4, bytes: new Uint8Array(16) }
        if (this.#destinations.size >= 1024) this.#destinations.clear()
        this.#destinations.set(address, d)
      }
      const port = ports[i]!
      records[o] = d.family // 0 for an unparsable address: the addon refuses it
      records[o + 1] = 0
      records[o + 2] = port >> 8
      records[o + 3] = port & 0xff
      records.set(d.bytes, o + 4)
    }
    let sent: number
    try {
      sent = this.#native.udpSend(this.#fd, this.family, datagrams, records, count, this.#gso)
    } catch (e) {
      if (isSystemFailure(e)) throw udpErrorFromSystem(e, 'send on', this.#name(), e)
      throw e
    }
    this.#batchesSent++
    this.#datagramsSent += sent
    this.#sendDrops += count - sent
    return sent
  }

  stats(): UdpStats {
    const r = this.#reader
    const s = r === undefined || this.#closed ? undefined : this.#native.readerStats(r.handle)
    return {
      batchesReceived: s?.batches ?? 0,
      datagramsReceived: s?.frames ?? 0,
      bytesReceived: s?.bytes ?? 0,
      readerWaits: s?.slotWaits ?? 0,
      truncated: s?.truncated ?? 0,
      batchesSent: this.#batchesSent,
      datagramsSent: this.#datagramsSent,
      sendDrops: this.#sendDrops,
      gsoMessages: this.#gso?.[1] ?? 0,
      gsoDatagrams: this.#gso?.[2] ?? 0,
      gso: this.#gso?.[0] === 1,
      groMessages: s?.groMessages ?? 0,
      groDatagrams: s?.groDatagrams ?? 0,
      gro: this.#gro,
    }
  }

  /** Whether receiving keeps the process alive (default yes, like a socket). */
  ref(): void {
    if (this.#reader !== undefined && !this.#closed)
      this.#native.readerRef(this.#reader.handle, true)
  }

  unref(): void {
    if (this.#reader !== undefined && !this.#closed)
      this.#native.readerRef(this.#reader.handle, false)
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Stops the reader (joins its thread) and closes the socket. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    // The flow cache's device threads send on this fd: they stop first.
    if (this.#flow !== undefined) this.#native.flowCacheUdp(this.#flow, -1, 4, false)
    if (this.#reader !== undefined) this.#native.readerStop(this.#reader.handle)
    try {
      this.#native.close(this.#fd)
    } catch {
      // The fd is released either way.
    }
  }

  [Symbol.dispose](): void {
    this.close()
  }

  #name(): string {
    return this.family === 6 ? `[${this.address}]:${this.port}` : `${this.address}:${this.port}`
  }
}

/**
 * Opens and binds a UDP socket with batched I/O. Errors are TapErrors:
 * `address-in-use` (the port is taken), `address-not-available` (no such
 * local address), `permission-denied` (a privileged port), `invalid-argument`
 * (bad options), `not-supported` (no addon).
 */
export function openUdp(options: UdpOpenOptions = {}): UdpSocket {
  const address = options.address ?? '0.0.0.0'
  const port = options.port ?? 0
  const parsed = addressBytes(address)
  if (parsed === undefined) throw invalid(`not an IP address: ${address}`)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw invalid('port must be 0 to 65535')
  for (const [name, v] of [
    ['receiveBufferBytes', options.receiveBufferBytes],
    ['sendBufferBytes', options.sendBufferBytes],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 1 << 30)) {
      throw invalid(`${name} must be 0 to ${1 << 30}`)
    }
  }
  const n = native()
  // An IPv6 wildcard or address binds an IPv6 socket (dual-stack by the
  // system default); IPv4 an IPv4 socket, as node:dgram's udp4.
  const family = isIPv4(address) ? 4 : 6
  const record = new Uint8Array(RECORD_BYTES)
  record[0] = parsed.family // an IPv4-mapped address binds an IPv6 socket mapped
  record[2] = port >> 8
  record[3] = port & 0xff
  record.set(parsed.bytes, 4)
  let opened: { fd: number; port: number; gro: boolean }
  try {
    opened = n.udpOpen(
      family,
      record,
      options.receiveBufferBytes ?? 0,
      options.sendBufferBytes ?? 0,
      options.dontFragment ?? false,
      options.gro ?? true,
    )
  } catch (e) {
    if (isSystemFailure(e)) throw udpErrorFromSystem(e, 'bind', `${address}:${port}`, e)
    throw e
  }
  return new UdpSocket(n, opened.fd, family, address, opened.port, options.gso ?? true, opened.gro)
}
