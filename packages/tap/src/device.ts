/**
 * A TAP or TUN device: open, link control, batched reads and writes.
 *
 * Read path, in order:
 *   1. the addon fills a slot of a fixed pool with frames (until EAGAIN,
 *      `batchFrames`, or the slot is full): by default on a reader thread of
 *      its own (src/reader.h), or with `mainThread: true` on the main thread
 *      when the event loop reports the device readable (src/poller.h);
 *   2. one call into JavaScript per batch (#onNative), carrying the slot;
 *   3. the handler gets the slot's FrameBatch, reused, never reallocated;
 *      handlers run one at a time, in order;
 *   4. when the handler returns (or its promise settles) the slot goes back
 *      to the thread. If JavaScript holds every slot the thread waits, the
 *      kernel's queue for the device fills and the kernel drops and counts
 *      (tx_dropped), as for a NIC whose driver is slow.
 *
 * Write path: one call into the addon per batch, one write(2) per frame
 * (the device takes one frame per write); frames the kernel refuses are
 * dropped and counted, never thrown.
 */
import {
  ARPHRD_ETHER,
  BATCH_FRAMES,
  CLONE_DEVICE,
  FRAME_MAX,
  IFF_RUNNING,
  IFF_UP,
  MAX_BATCH_FRAMES,
  MAX_MTU,
  MAX_ROOM,
  MAX_SLOT_BYTES,
  MAX_SLOTS,
  MIN_MTU,
  NAME_MAX_BYTES,
  SLOTS,
} from './constants.ts'
import {
  closedError,
  invalid,
  isSystemFailure,
  TapError,
  type TapOperation,
  tapErrorFromSystem,
} from './errors.ts'
import { formatMac, parseMac } from './mac.ts'
import { type MulticastEntry, readIpGroups, readMulticast } from './mcast.ts'
import { type FlowCacheHandle, type Native, native, type ReaderHandle } from './native.ts'

export type DeviceKind = 'tap' | 'tun'

export interface OpenOptions {
  /**
   * Interface name, 1 to 15 bytes; a pattern such as `pt%d` lets the kernel
   * pick the number. An existing persistent device of the same kind is
   * attached to, otherwise a new one is created.
   */
  readonly name: string
  /** MTU to set after opening (68..65535). */
  readonly mtu?: number
  /** MAC address to set after opening; TAP only. */
  readonly mac?: string | Uint8Array
  /** Bring the link up after opening (default: leave it as it is). */
  readonly up?: boolean
  /**
   * Frames carry offloads (default false): the device is opened with
   * IFF_VNET_HDR, every frame read and written is led by a 10-byte
   * `struct virtio_net_hdr` (little-endian fields), and TUNSETOFFLOAD lets
   * the kernel hand over frames with a partial checksum (TUN_F_CSUM) and TCP
   * segments of up to 64 KiB (TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN), which
   * it would otherwise segment and checksum itself before the read. Writes
   * may then carry such frames too; the kernel checks each header. See
   * README.md, "Offloads".
   */
  readonly vnetHeader?: boolean
}

/** Bytes of the virtio-net header leading each frame of a device opened with `vnetHeader`. */
export const VNET_HEADER_BYTES = 10

/** Frames laid out in one buffer: frame i is `data[offsets[i] .. offsets[i] + lengths[i])`. */
export interface PackedFrames {
  readonly data: Uint8Array
  readonly offsets: Uint32Array
  readonly lengths: Uint32Array
  readonly count: number
}

/**
 * One batch read from the device. It and its buffers belong to the reader's
 * pool and are valid only until the handler returns (or its promise
 * settles): copy what you keep. Frame i has `headroom` free bytes before it
 * and `tailroom` after it, so it can be framed and sealed in place.
 */
export interface FrameBatch extends PackedFrames {
  /** A view of frame i (allocates the view; the hot path uses offsets/lengths). */
  frame(i: number): Uint8Array
}

export type BatchHandler = (batch: FrameBatch) => void | Promise<void>

export interface ReadOptions {
  /** Most frames per batch (default 64). */
  readonly batchFrames?: number
  /** Batches JavaScript may hold at once (default 4); the pool never grows. */
  readonly slots?: number
  /** Read size: the largest frame accepted (default 65553, any MTU fits). */
  readonly frameMax?: number
  /** Free bytes kept before each frame (default 0). */
  readonly headroom?: number
  /** Free bytes kept after each frame (default 0). */
  readonly tailroom?: number
  /** Bytes per slot (default: `batchFrames` frames at the current MTU plus one `frameMax`). */
  readonly slotBytes?: number
  /**
   * Read on the main thread, when Node's event loop reports the device
   * readable (true), or on a background thread of the addon's (false, the
   * default). The main thread saves a thread wake and a cross-thread hop per
   * batch: about 50 us off a ping's median across the overlay here. The
   * thread takes the read(2) calls off a busy main thread: about 15 % more
   * TCP throughput and small-packet rate here (README.md, "Read modes").
   * Same batches, same backpressure.
   */
  readonly mainThread?: boolean
  /**
   * Called once if reading fails (the device was deleted: code `no-device`); the
   * reader has stopped. Without it the error is thrown as an uncaught
   * exception, as an EventEmitter without an 'error' listener does.
   */
  readonly onError?: (error: TapError) => void
}

export interface LinkState {
  readonly name: string
  readonly index: number
  readonly mtu: number
  /** The MAC address of a TAP device; undefined for TUN. */
  readonly mac: string | undefined
  /** Administratively up (IFF_UP). */
  readonly up: boolean
  /** Operationally up (IFF_RUNNING: a process has the device open and it is up). */
  readonly running: boolean
  /** All interface flags (linux/if.h). */
  readonly flags: number
}

export interface DeviceStats {
  readonly batchesRead: number
  readonly framesRead: number
  readonly bytesRead: number
  /** Times the reader thread waited because JavaScript held every slot. */
  readonly readerWaits: number
  /** Frames longer than `frameMax`, dropped by the reader. */
  readonly truncated: number
  /**
   * Of batchesRead, those the fast path's datagram socket reader read right
   * after it wrote frames to the device (what the kernel answered at once),
   * so that this device's own reader thread needed no wake-up.
   */
  readonly readThroughs: number
  /**
   * Times this device's reader, idle for a few milliseconds, lent the device
   * to the fast path's datagram socket reader, whose thread then waits on
   * it and reads it (counted in readThroughs) until a burst, no free slot
   * or a read error gives it back (docs/spec/18-fast-path.md §18.4.11).
   */
  readonly lends: number
  readonly batchesWritten: number
  readonly framesWritten: number
  /** Frames the kernel refused on write (malformed), dropped. */
  readonly writeDrops: number
}

class Batch implements FrameBatch {
  readonly data: Uint8Array
  readonly offsets: Uint32Array
  readonly lengths: Uint32Array
  count = 0

  constructor(data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array) {
    this.data = data
    this.offsets = offsets
    this.lengths = lengths
  }

  frame(i: number): Uint8Array {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`frame ${i} of ${this.count}`)
    const off = this.offsets[i]!
    return this.data.subarray(off, off + this.lengths[i]!)
  }
}

interface ReaderState {
  readonly handle: ReaderHandle
  readonly batches: readonly Batch[]
  readonly handler: BatchHandler
  readonly onError: ((error: TapError) => void) | undefined
  /** Slots delivered while a handler was busy, in order; at most `slots`. */
  readonly queue: number[]
  busy: boolean
}

/** An open TAP or TUN device. Obtain one with {@link openTap} or {@link openTun}. */
export class TapDevice {
  /** The interface name, as the kernel chose it. */
  readonly name: string
  readonly kind: DeviceKind
  #fd: number
  #native: Native
  #closed = false
  #reader: ReaderState | undefined
  #flow: { cache: FlowCacheHandle; slot: number } | undefined
  #refed = true
  #batchesWritten = 0
  #framesWritten = 0
  #writeDrops = 0

  /** Every frame read or written is led by a virtio-net header (OpenOptions.vnetHeader). */
  readonly vnetHeader: boolean

  /** @internal Use openTap/openTun. */
  constructor(nat: Native, fd: number, name: string, kind: DeviceKind, vnetHeader = false) {
    this.#native = nat
    this.#fd = fd
    this.name = name
    this.kind = kind
    this.vnetHeader = vnetHeader
  }

  get closed(): boolean {
    return this.#closed
  }

  /**
   * Starts the background reader: `handler` gets every batch, one call at a
   * time, in order. One handler per device.
   */
  onBatch(handler: BatchHandler, options: ReadOptions = {}): void {
    this.#checkOpen()
    if (this.#reader !== undefined) throw invalid(`device "${this.name}" already has a reader`)
    const batchFrames = intOption(
      options.batchFrames,
      BATCH_FRAMES,
      1,
      MAX_BATCH_FRAMES,
      'batchFrames',
    )
    const slots = intOption(options.slots, SLOTS, 1, MAX_SLOTS, 'slots')
    const frameMax = intOption(options.frameMax, FRAME_MAX, 64, 1 << 20, 'frameMax')
    const headroom = intOption(options.headroom, 0, 0, MAX_ROOM, 'headroom')
    const tailroom = intOption(options.tailroom, 0, 0, MAX_ROOM, 'tailroom')
    const need = headroom + frameMax + tailroom
    const typical = align8(headroom + this.#mtuOr(1500) + 18 + tailroom)
    const slotBytes = intOption(
      options.slotBytes,
      Math.min(MAX_SLOT_BYTES, need + batchFrames * typical),
      need,
      MAX_SLOT_BYTES,
      'slotBytes',
    )
    const started = this.#native.readerStart(
      this.#fd,
      slots,
      batchFrames,
      slotBytes,
      frameMax,
      headroom,
      tailroom,
      (slot, count, errno) => this.#onNative(slot, count, errno),
      options.mainThread ?? false,
    )
    const batches: Batch[] = []
    for (let s = 0; s < slots; s++) {
      const meta = s * batchFrames * 2 * 4
      batches.push(
        new Batch(
          new Uint8Array(
            started.pool,
            started.dataOffset + s * started.slotBytes,
            started.slotBytes,
          ),
          new Uint32Array(started.pool, meta, batchFrames),
          new Uint32Array(started.pool, meta + batchFrames * 4, batchFrames),
        ),
      )
    }
    this.#reader = {
      handle: started.handle,
      batches,
      handler,
      onError: options.onError,
      queue: [],
      busy: false,
    }
    if (!this.#refed) this.#native.readerRef(started.handle, false)
    if (this.#flow !== undefined)
      this.#native.readerSetFlow(started.handle, this.#flow.cache, this.#flow.slot)
  }

  /**
   * Writes a batch with one call into the addon: an array of frames, or
   * frames packed in one buffer (a FrameBatch from another device forwards
   * without a copy). Returns how many frames the kernel took; the rest were
   * refused (malformed, e.g. shorter than an Ethernet header), dropped and counted in
   * `stats().writeDrops`. Throws only if the device itself is unusable.
   */
  writeBatch(frames: readonly Uint8Array[] | PackedFrames): number {
    this.#checkOpen()
    let count: number
    let written: number
    try {
      if (isFrameArray(frames)) {
        count = frames.length
        written = this.#native.writeFrames(this.#fd, frames, count)
      } else {
        count = frames.count
        written = this.#native.writePacked(
          this.#fd,
          frames.data,
          frames.offsets,
          frames.lengths,
          count,
        )
      }
    } catch (e) {
      throw this.#error(e, 'write')
    }
    this.#batchesWritten++
    this.#framesWritten += written
    this.#writeDrops += count - written
    return written
  }

  /** The device's link state, read by ioctl. */
  link(): LinkState {
    this.#checkOpen()
    const info = this.#control('read the link state of', (n) => n.ifGet(this.name))
    return {
      name: this.name,
      index: info.index,
      mtu: info.mtu,
      mac: info.hwFamily === ARPHRD_ETHER ? formatMac(info.mac) : undefined,
      up: (info.flags & IFF_UP) !== 0,
      running: (info.flags & IFF_RUNNING) !== 0,
      flags: info.flags,
    }
  }

  setMtu(mtu: number): void {
    this.#checkOpen()
    if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
      throw invalid(`MTU ${mtu} is out of range ${MIN_MTU}..${MAX_MTU}`, this.name)
    }
    this.#control('set the MTU of', (n) => n.ifSetMtu(this.name, mtu))
  }

  /** Sets the MAC address (TAP only). Multicast addresses are refused. */
  setMac(mac: string | Uint8Array): void {
    this.#checkOpen()
    if (this.kind !== 'tap')
      throw invalid(`TUN device "${this.name}" has no MAC address`, this.name)
    const bytes = parseMac(mac)
    if ((bytes[0]! & 1) !== 0) {
      throw invalid(`${formatMac(bytes)} is a multicast address, not a station's`, this.name)
    }
    this.#control('set the MAC address of', (n) => n.ifSetMac(this.name, bytes))
  }

  /** Sets the link administratively up (default) or down. */
  setUp(up = true): void {
    this.#checkOpen()
    this.#control('set the link state of', (n) =>
      n.ifSetFlags(this.name, up ? IFF_UP : 0, up ? 0 : IFF_UP),
    )
  }

  /**
   * The device's multicast list (link-layer addresses the stack joined), from
   * /proc/net/dev_mcast of this process's network namespace.
   */
  async multicast(): Promise<MulticastEntry[]> {
    this.#checkOpen()
    return readMulticast(this.name)
  }

  /** The multicast MAC addresses only, in kernel order. */
  async multicastMacs(): Promise<string[]> {
    return (await this.multicast()).map((e) => e.mac)
  }

  /**
   * The IP multicast groups the host joined on the device (/proc/net/igmp
   * and igmp6), as 4- and 16-byte addresses: what a TUN device, which has
   * no link-layer multicast list, listens to.
   */
  async multicastGroups(): Promise<Uint8Array[]> {
    this.#checkOpen()
    return readIpGroups(this.name)
  }

  stats(): DeviceStats {
    const r = this.#reader === undefined ? undefined : this.#native.readerStats(this.#reader.handle)
    return {
      batchesRead: r?.batches ?? 0,
      framesRead: r?.frames ?? 0,
      bytesRead: r?.bytes ?? 0,
      readerWaits: r?.slotWaits ?? 0,
      truncated: r?.truncated ?? 0,
      readThroughs: r?.readThroughs ?? 0,
      lends: r?.lends ?? 0,
      batchesWritten: this.#batchesWritten,
      framesWritten: this.#framesWritten,
      writeDrops: this.#writeDrops,
    }
  }

  /** Keep the process alive while reading (the default), like a socket. */
  ref(): this {
    this.#refed = true
    if (this.#reader !== undefined && !this.#closed)
      this.#native.readerRef(this.#reader.handle, true)
    return this
  }

  /** Let the process exit even while reading. */
  unref(): this {
    this.#refed = false
    if (this.#reader !== undefined && !this.#closed) {
      this.#native.readerRef(this.#reader.handle, false)
    }
    return this
  }

  /**
   * Stops the reader thread (waking it if it waits on the device or for a
   * slot), then closes the fd; a non-persistent device disappears with it.
   * Batches already queued are not delivered. Idempotent.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    // The flow cache's UDP thread writes to this fd: it lets go first.
    this.attachFlow(undefined)
    if (this.#reader !== undefined) {
      this.#native.readerStop(this.#reader.handle)
      this.#reader.queue.length = 0
    }
    this.#native.close(this.#fd)
    this.#fd = -1
  }

  [Symbol.dispose](): void {
    this.close()
  }

  /**
   * @internal The fast path's flow cache (flow.ts FlowCache.attachDevice):
   * read batches run through it on the reader thread, and its UDP thread
   * writes frames to this device. Returns the device's slot in the cache.
   */
  attachFlow(cache: FlowCacheHandle | undefined): number {
    const old = this.#flow
    if (old !== undefined) {
      if (this.#reader !== undefined) this.#native.readerSetFlow(this.#reader.handle, null, -1)
      this.#native.flowCacheRemoveDevice(old.cache, old.slot)
      this.#flow = undefined
    }
    if (cache === undefined) return -1
    this.#checkOpen()
    // A TUN device's IP packets: the cache frames them by its TUN routes.
    const slot = this.#native.flowCacheAddDevice(
      cache,
      this.#fd,
      this.vnetHeader,
      this.kind === 'tun',
    )
    this.#flow = { cache, slot }
    if (this.#reader !== undefined) this.#native.readerSetFlow(this.#reader.handle, cache, slot)
    return slot
  }

  #onNative(slot: number, count: number, errno: number): void {
    const r = this.#reader
    if (this.#closed || r === undefined) return
    if (slot < 0) {
      const err = this.#error({ errno, syscall: 'read' }, 'read')
      if (r.onError !== undefined) r.onError(err)
      else throw err
      return
    }
    const batch = r.batches[slot]!
    batch.count = count
    if (r.busy) r.queue.push(slot)
    else this.#run(r, slot)
  }

  #run(r: ReaderState, slot: number): void {
    r.busy = true
    let result: void | Promise<void>
    try {
      result = r.handler(r.batches[slot]!)
    } catch (e) {
      this.#done(r, slot)
      throw e
    }
    if (result !== undefined && typeof result.then === 'function') {
      result.then(
        () => this.#done(r, slot),
        (e: unknown) => {
          this.#done(r, slot)
          // A handler's rejection is its bug, not a device error: surface it.
          process.nextTick(() => {
            throw e
          })
        },
      )
    } else {
      this.#done(r, slot)
    }
  }

  #done(r: ReaderState, slot: number): void {
    r.busy = false
    if (this.#closed) return
    this.#native.readerRelease(r.handle, slot)
    const next = r.queue.shift()
    if (next !== undefined) this.#run(r, next)
  }

  #mtuOr(fallback: number): number {
    try {
      return this.#native.ifGet(this.name).mtu
    } catch {
      return fallback
    }
  }

  #control<T>(op: TapOperation, fn: (n: Native) => T): T {
    try {
      return fn(this.#native)
    } catch (e) {
      throw this.#error(e, op)
    }
  }

  #error(e: unknown, op: TapOperation): TapError {
    if (isSystemFailure(e)) return tapErrorFromSystem(e, op, this.name, CLONE_DEVICE, e)
    throw e
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError(this.name)
  }
}

function isFrameArray(f: readonly Uint8Array[] | PackedFrames): f is readonly Uint8Array[] {
  return Array.isArray(f)
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8

function intOption(
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
  what: string,
): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < min || v > max) {
    throw invalid(`${what} ${v} is out of range ${min}..${max}`)
  }
  return v
}

function validateName(name: string): void {
  const bytes = Buffer.byteLength(name)
  if (bytes < 1 || bytes > NAME_MAX_BYTES || /[\s/:]/.test(name) || name === '.' || name === '..') {
    throw invalid(
      `"${name}" is not a valid interface name: 1 to ${NAME_MAX_BYTES} bytes, no whitespace, "/" or ":"`,
    )
  }
}

function openDevice(kind: DeviceKind, options: OpenOptions): TapDevice {
  validateName(options.name)
  if (kind === 'tun' && options.mac !== undefined) {
    throw invalid('a TUN device has no MAC address', options.name)
  }
  const n = native()
  const vnet = options.vnetHeader === true
  const flags =
    (kind === 'tap' ? n.flags.IFF_TAP : n.flags.IFF_TUN) |
    n.flags.IFF_NO_PI |
    (vnet ? n.flags.IFF_VNET_HDR : 0)
  let opened: { fd: number; name: string }
  try {
    opened = n.open(CLONE_DEVICE, options.name, flags)
  } catch (e) {
    if (isSystemFailure(e)) throw tapErrorFromSystem(e, 'open', options.name, CLONE_DEVICE, e)
    throw e
  }
  const dev = new TapDevice(n, opened.fd, opened.name, kind, vnet)
  try {
    if (vnet) {
      const o = n.offloads
      try {
        n.setOffload(opened.fd, o.TUN_F_CSUM | o.TUN_F_TSO4 | o.TUN_F_TSO6 | o.TUN_F_TSO_ECN)
      } catch (e) {
        if (isSystemFailure(e))
          throw tapErrorFromSystem(e, 'set the offloads of', opened.name, CLONE_DEVICE, e)
        throw e
      }
    }
    if (options.mtu !== undefined) dev.setMtu(options.mtu)
    if (options.mac !== undefined) dev.setMac(options.mac)
    if (options.up === true) dev.setUp(true)
  } catch (e) {
    dev.close()
    throw e
  }
  return dev
}

/** Opens (creating if needed) a TAP device: Ethernet frames, IFF_NO_PI. */
export function openTap(options: OpenOptions): TapDevice {
  return openDevice('tap', options)
}

/**
 * A TUN device from a file descriptor opened elsewhere: by a parent
 * process, or by a platform API (Android's `VpnService.Builder.establish()`
 * gives one). It is made non-blocking and close-on-exec; its name and
 * whether it carries virtio-net headers come from the kernel (TUNGETIFF).
 * It must be a TUN device opened with IFF_NO_PI. The device takes
 * ownership: {@link TapDevice.close} closes the fd. Link control works by
 * the name, where this process may do it.
 */
export function attachTun(fd: number): TapDevice {
  if (!Number.isInteger(fd) || fd < 0) throw invalid(`not a file descriptor: ${fd}`, undefined)
  const n = native()
  let adopted: { name: string; flags: number }
  try {
    adopted = n.adopt(fd)
  } catch (e) {
    if (!isSystemFailure(e)) throw e
    const error = tapErrorFromSystem(e, 'attach to', `fd ${fd}`, CLONE_DEVICE, e)
    if (error.syscall !== 'TUNGETIFF') throw error
    throw new TapError(
      'invalid-argument',
      `fd ${fd} is not an open TUN device (${error.errno} from TUNGETIFF): pass the descriptor of ` +
        "one, such as the one Android's VpnService.Builder.establish() returns",
      {
        ...(error.errno === undefined ? {} : { errno: error.errno }),
        syscall: 'TUNGETIFF',
        cause: e,
      },
    )
  }
  const flags = n.flags
  if ((adopted.flags & (flags.IFF_TUN | flags.IFF_TAP)) !== flags.IFF_TUN)
    throw invalid(`fd ${fd} is not a TUN device (${adopted.name} is TAP)`, adopted.name)
  if ((adopted.flags & flags.IFF_NO_PI) === 0)
    throw invalid(
      `fd ${fd} (${adopted.name}) carries a packet information header: open it with IFF_NO_PI`,
      adopted.name,
    )
  return new TapDevice(n, fd, adopted.name, 'tun', (adopted.flags & flags.IFF_VNET_HDR) !== 0)
}

/** Opens (creating if needed) a TUN device: IP packets, IFF_NO_PI. */
export function openTun(options: Omit<OpenOptions, 'mac'>): TapDevice {
  return openDevice('tun', options)
}
