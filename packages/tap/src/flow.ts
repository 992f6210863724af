/**
 * The cells the fast path shares between its native reader threads and
 * JavaScript (docs/spec/18-fast-path.md §3): send counters and replay
 * windows in one arena of native memory, an Int32Array here and the same
 * bytes in the addon (src/flow-core.cc). Both sides take a counter with one
 * compare-and-swap and accept a counter into a window under the window's
 * lock word, so a key both use never seals two messages under one nonce and
 * a window both use never accepts one counter twice.
 *
 * The algorithms are those of @peertap/crypto's ReplayWindow and of a
 * plain counter, word for word; the tests race this class against a native
 * thread over the same cells and compare both with ReplayWindow.
 */
import type { TapDevice } from './device.ts'
import {
  type ArenaHandle,
  type FlowCacheHandle,
  type FlowCacheStats,
  type Native,
  native,
} from './native.ts'
import { addressRecord, type UdpSocket } from './udp.ts'

/** Words of one replay window cell: lock, newest counter (-1: none), a ring of 65 words, one spare. */
export const WINDOW_WORDS = 68
/** Counters a window spans (04-sealed-payload.md §6). */
export const WINDOW_SIZE = 2048
const RING_WORDS = WINDOW_SIZE / 32 + 1
const LOCK = 0
const LAST = 1
const RING = 2

/** What a window says of a counter. */
export type WindowVerdict = 'fresh' | 'replay' | 'too-old'

/**
 * A fixed arena of shared cells, allocated from the addon, handed out and
 * taken back by index: @peertap/crypto's SharedCells (structurally, so
 * this package does not depend on it). A freed cell is
 * reused only after reclaim(), which the flow cache's owner calls once the
 * cache is cleared, so no native entry still names it.
 */
export class FlowCells {
  /** The arena: native memory that stays valid while this array is reachable. */
  readonly words: Int32Array
  /** @internal The arena's native handle, for a flow cache made on it. */
  readonly arena: ArenaHandle
  #next = 0
  readonly #freeCounters: number[] = []
  readonly #freeWindows: number[] = []
  readonly #freeBlocks: number[] = []
  /** Freed since the last reclaim(): [index, kind]. */
  readonly #pending: [number, 'counter' | 'window' | 'block'][] = []
  readonly #wide: BigInt64Array
  #private = new Int32Array(0)
  #privateNext = 0

  /**
   * An arena of `words` 32-bit words (default 4 MiB of address space; pages
   * the kernel maps as cells are first used).
   */
  constructor(words = 1 << 20) {
    const cells = native().flowCells(words)
    this.words = cells.words
    this.arena = cells.arena
    this.#wide = new BigInt64Array(this.words.buffer, this.words.byteOffset, this.words.length >> 1)
  }

  /** A fresh counter cell at 0 (a private one when the arena is full: see `shared`). */
  newCounter(): number {
    const index = this.#freeCounters.pop() ?? this.#take(1)
    const w = this.#arr(index)
    const i = this.#off(index)
    Atomics.store(w, i, 0)
    return index
  }

  /** A fresh, empty window cell (a private one when the arena is full: see `shared`). */
  newWindow(): number {
    const index = this.#freeWindows.pop() ?? this.#take(WINDOW_WORDS)
    const w = this.#arr(index)
    const i = this.#off(index)
    w.fill(0, i, i + WINDOW_WORDS)
    Atomics.store(w, i + LAST, -1)
    return index
  }

  /** A zeroed stats block of STATS_WORDS words (four int64), 8-byte aligned; -1 when the arena is full. */
  block(): number {
    const free = this.#freeBlocks.pop()
    if (free !== undefined) {
      this.words.fill(0, free, free + STATS_WORDS)
      return free
    }
    // A full arena: none (-1), and no flow that would count in it is carried natively.
    if (this.#next + (this.#next % 2) + STATS_WORDS > this.words.length) return -1
    if (this.#next % 2 === 1) this.#freeCounters.push(this.#take(1))
    return this.#take(STATS_WORDS)
  }

  /** A stats block's four figures: frames and bytes sent, frames and bytes received. */
  readBlock(index: number): [number, number, number, number] {
    if (!this.shared(index, STATS_WORDS)) return [0, 0, 0, 0]
    const w = this.#wide
    const at = index / 2
    return [Number(w[at]), Number(w[at + 1]), Number(w[at + 2]), Number(w[at + 3])]
  }

  /**
   * Gives a cell back. The caller makes sure no native entry refers to it
   * any more (the flow cache removes its entries first).
   */
  free(index: number, kind: 'counter' | 'window' | 'block'): void {
    this.#pending.push([index, kind])
  }

  /** Makes the cells freed so far reusable: call only when no native entry names them (the cache was cleared). */
  reclaim(): void {
    for (const [index, kind] of this.#pending) {
      ;(kind === 'counter'
        ? this.#freeCounters
        : kind === 'window'
          ? this.#freeWindows
          : this.#freeBlocks
      ).push(index)
    }
    this.#pending.length = 0
  }

  #take(n: number): number {
    if (this.#next + n > this.words.length) return this.#takePrivate(n)
    const index = this.#next
    this.#next += n
    return index
  }

  /**
   * With the arena full, cells of this object's own, past the arena's end:
   * they work the same for JavaScript, but the addon cannot see them, so no
   * flow that needs one is carried natively (`shared` says so). Nothing
   * on the data path fails for want of a cell.
   */
  #takePrivate(n: number): number {
    if (this.#privateNext + n > this.#private.length) {
      const grown = new Int32Array(Math.max(1024, (this.#privateNext + n) * 2))
      grown.set(this.#private)
      this.#private = grown
    }
    const index = this.words.length + this.#privateNext
    this.#privateNext += n
    return index
  }

  /** Whether cells of `words` words at `index` are in the arena, where the addon sees them. */
  shared(index: number, words = 1): boolean {
    return index >= 0 && index + words <= this.words.length
  }

  /** The array a cell lives in (the arena, or the private cells past it). */
  #arr(index: number): Int32Array {
    return index < this.words.length ? this.words : this.#private
  }

  /** A cell's index in the array #arr gives. */
  #off(index: number): number {
    return index < this.words.length ? index : index - this.words.length
  }

  /**
   * Takes `n` consecutive counters below `limit` (at most 2^31 − 1): the
   * first, or -1 when fewer than `n` are left, and the cell is then spent
   * (left at `limit`, for both sides).
   */
  takeCounters(cell: number, n: number, limit: number): number {
    const w = this.#arr(cell)
    const index = this.#off(cell)
    let v = Atomics.load(w, index)
    for (;;) {
      if (v < 0 || v >= limit) return -1
      const next = Math.min(v + n, limit)
      const seen = Atomics.compareExchange(w, index, v, next)
      if (seen === v) return next === v + n ? v : -1
      v = seen
    }
  }

  /** Whether `counter` may be accepted (before the AEAD); changes nothing, decides nothing. */
  check(cell: number, counter: number): WindowVerdict {
    const w = this.#arr(cell)
    const index = this.#off(cell)
    const last = Atomics.load(w, index + LAST)
    if (counter > last) return 'fresh'
    if (last - counter >= WINDOW_SIZE) return 'too-old'
    const word = Atomics.load(w, index + RING + ((counter >>> 5) % RING_WORDS))
    return (word >>> (counter & 31)) & 1 ? 'replay' : 'fresh'
  }

  /**
   * After the AEAD verified: under the window's lock, checks `counter` again
   * and marks it if fresh. 'fresh' means this caller accepted it, and no
   * other caller, native or not, ever will.
   */
  accept(cell: number, counter: number): WindowVerdict {
    const w = this.#arr(cell)
    const index = this.#off(cell)
    // The other holder is a reader thread, for a few dozen instructions.
    while (Atomics.compareExchange(w, index + LOCK, 0, 1) !== 0) {}
    try {
      const verdict = this.check(cell, counter)
      if (verdict !== 'fresh') return verdict
      const last = Atomics.load(w, index + LAST)
      const at = counter >>> 5
      if (counter > last) {
        const current = last >> 5 // -1 before the first counter
        const diff = Math.min(at - current, RING_WORDS)
        for (let i = 1; i <= diff; i++)
          Atomics.store(w, index + RING + ((current + i) % RING_WORDS), 0)
        Atomics.store(w, index + LAST, counter)
      }
      Atomics.or(w, index + RING + (at % RING_WORDS), 1 << (counter & 31))
      return 'fresh'
    } finally {
      Atomics.store(w, index + LOCK, 0)
    }
  }

  /** Forgets every counter of a window (its key changed). */
  reset(cell: number): void {
    const w = this.#arr(cell)
    const index = this.#off(cell)
    while (Atomics.compareExchange(w, index + LOCK, 0, 1) !== 0) {}
    w.fill(0, index + RING, index + RING + RING_WORDS)
    Atomics.store(w, index + LAST, -1)
    Atomics.store(w, index + LOCK, 0)
  }
}

/** Stats blocks in the arena: four int64 words (frames and bytes sent, frames and bytes received). */
export const STATS_WORDS = 8

/** An established unicast flow from a local device to one neighbour over its datagram path. */
export interface SendFlow {
  /** The device's slot (FlowCache.attachDevice), and its own MAC: only frames from it are carried. */
  readonly device: number
  readonly src: Uint8Array
  /** The destination MAC and the VFT its frames go under now, with the hop limit the switch gives them. */
  readonly mac: Uint8Array
  readonly vft: Uint8Array
  readonly hopLimit: number
  /** The VLAN epoch's sender key: AES key, salt, KID (8 bytes), header-protection key, counter cell. */
  readonly key: Uint8Array
  readonly salt: Uint8Array
  readonly kid: Uint8Array
  readonly hpKey: Uint8Array
  readonly counterCell: number
  /** The datagram path: send key, the neighbour's receiver index, the hop counter cell, its address and the largest payload. */
  readonly hopKey: Uint8Array
  readonly receiverIndex: number
  readonly hopCounterCell: number
  readonly address: string
  readonly port: number
  readonly payloadMax: number
  /** Stats blocks (STATS_WORDS each) the frames and datagrams count in. */
  readonly vlanStats: number
  readonly linkStats: number
}

/** A datagram path's receive side: our receiver index, its key and window, the neighbour's address. */
export interface HopFlow {
  readonly receiverIndex: number
  readonly key: Uint8Array
  readonly windowCell: number
  readonly address: string
  readonly port: number
  readonly linkStats: number
}

/**
 * A relay's forwarding: DATA under `vft` arriving on our path `inIndex`
 * goes on, its sealed payload untouched, its hop limit one less, to the one
 * neighbour that receives it, over that neighbour's path.
 */
export interface ForwardFlow {
  readonly inIndex: number
  readonly vft: Uint8Array
  readonly hopKey: Uint8Array
  readonly receiverIndex: number
  readonly hopCounterCell: number
  readonly address: string
  readonly port: number
  readonly payloadMax: number
  /** The outgoing link's stats block. */
  readonly linkStats: number
}

/** Frames under one VFT for one local device (the VFT names the port's MAC). */
export interface ReceiveFlow {
  readonly vft: Uint8Array
  readonly device: number
  readonly mac: Uint8Array
  readonly hpKey: Uint8Array
  /** TCP goes up to the switch, which coalesces its segments. */
  readonly puntTcp: boolean
  readonly vlanStats: number
}

/**
 * The fast path's flow cache (src/flow-cache.h; docs/spec/18-fast-path.md):
 * entries the switch installs for established unicast flows, which the
 * reader threads of the attached devices and datagram socket then carry
 * without waking JavaScript. Everything else still comes up in the batches.
 */
export class FlowCache {
  readonly cells: FlowCells
  readonly #h: FlowCacheHandle
  readonly #native = native()

  constructor(cells: FlowCells = new FlowCells()) {
    this.cells = cells
    this.#h = this.#native.flowCacheNew(cells.arena)
  }

  /** Runs the socket's received batches through the cache, and sends on it. */
  attachUdp(socket: UdpSocket): void {
    socket.attachFlow(this.#h)
  }

  /**
   * Runs the device's read batches through the cache, and writes to it; its
   * slot. A TUN device's packets go out by its TUN routes (installTunRoute).
   */
  attachDevice(device: TapDevice): number {
    return device.attachFlow(this.#h)
  }

  /** Drops the device and every entry that names it (also done by its close()). */
  detachDevice(device: TapDevice): void {
    device.attachFlow(undefined)
  }

  /** False when the device is not attached (any more). */
  installSend(f: SendFlow): boolean {
    return this.#native.flowCacheSend(
      this.#h,
      f.device,
      f.mac,
      f.vft,
      f.hopLimit,
      f.key,
      f.salt,
      f.kid,
      f.hpKey,
      f.counterCell,
      f.hopKey,
      f.receiverIndex,
      f.hopCounterCell,
      record(f.address, f.port),
      f.payloadMax,
      f.vlanStats,
      f.linkStats,
      f.src,
    )
  }

  /**
   * A TUN device's route (docs/spec/18-fast-path.md §18.4.9): its packets
   * to `address` (4 bytes IPv4, or 16 IPv6) go in Ethernet frames to
   * `mac`, carried by the send entry for (`device`, `mac`). False when the
   * slot is not an attached TUN device, or the cache holds its most routes
   * (4096, until a clear).
   */
  installTunRoute(device: number, address: Uint8Array, mac: Uint8Array): boolean {
    let key = address
    if (address.length === 4) {
      key = new Uint8Array(16)
      key[10] = 0xff
      key[11] = 0xff
      key.set(address, 12)
    } else if (address.length !== 16) {
      throw new TypeError(`a TUN route's address is 4 or 16 bytes, not ${address.length}`)
    }
    return this.#native.flowCacheTunRoute(this.#h, device, key, mac)
  }

  installHop(f: HopFlow): void {
    this.#native.flowCacheHop(
      this.#h,
      f.receiverIndex,
      f.key,
      f.windowCell,
      record(f.address, f.port),
      f.linkStats,
    )
  }

  /**
   * The VFT's entry, unless it has one (which keeps its KIDs: every sender
   * under the VFT shares it). False when the device is not attached.
   */
  installReceive(f: ReceiveFlow): boolean {
    return this.#native.flowCacheRecv(
      this.#h,
      f.vft,
      f.device,
      f.mac,
      f.hpKey,
      f.puntTcp,
      f.vlanStats,
    )
  }

  /** A sender's key under a VFT installed with installReceive; false if there is none. */
  installKid(
    vft: Uint8Array,
    kid: bigint,
    key: Uint8Array,
    salt: Uint8Array,
    windowCell: number,
  ): boolean {
    return this.#native.flowCacheKid(this.#h, vft, kid, key, salt, windowCell)
  }

  installForward(f: ForwardFlow): void {
    this.#native.flowCacheForward(
      this.#h,
      f.inIndex,
      f.vft,
      f.hopKey,
      f.receiverIndex,
      f.hopCounterCell,
      record(f.address, f.port),
      f.payloadMax,
      f.linkStats,
    )
  }

  /**
   * Drops a VFT's forward entries, on whatever path they arrive (its route
   * changed); how many there were. The rest of the cache stays.
   */
  removeForwards(vft: Uint8Array): number {
    return this.#native.flowCacheRemoveForwards(this.#h, vft)
  }

  /** Drops every entry (devices and socket stay attached). */
  clear(): void {
    this.#native.flowCacheClear(this.#h)
  }

  /** What the cache carried, and why frames went up instead. */
  counters(): FlowCacheStats {
    return this.#native.flowCacheStats(this.#h)
  }
}

function record(address: string, port: number): Uint8Array {
  const r = addressRecord(address, port)
  if (r === undefined) throw new TypeError(`not an IP address: ${address}`)
  return r
}

/**
 * The fast path's native core, one call each (src/flow-core.cc through
 * src/flow-napi.cc): for conformance tests against the vectors of the
 * TypeScript references (docs/spec/18-fast-path.md §18.8). Each makes its
 * OpenSSL contexts per call; the flow cache keeps its own per entry.
 */
export const flowCore = {
  /** DATA = header ‖ GCM(hop limit ‖ VFT) ‖ tag ‖ sealed (13-datagram-link.md §2.1). */
  sealData(
    key: Uint8Array,
    receiverIndex: number,
    counter: number,
    hopLimit: number,
    vft: Uint8Array,
    sealed: Uint8Array,
  ): Uint8Array {
    return native().flowSealData(key, receiverIndex, counter, hopLimit, vft, sealed)
  },
  /**
   * Checks 3 to 6 and 8 of 13-datagram-link.md §2.3. drop: 0 none, 1
   * malformed, 2 unknown-type, 3 not DATA (PING, PONG: left to the
   * reference), 4 auth.
   */
  openData(key: Uint8Array, datagram: Uint8Array): ReturnType<Native['flowOpenData']> {
    return native().flowOpenData(key, datagram)
  },
  /** A replay window cell's accept, natively: 'fresh' when this call accepted `counter`. */
  windowAccept(cells: FlowCells, cell: number, counter: number): WindowVerdict {
    return (['fresh', 'replay', 'too-old'] as const)[
      native().flowWindow(1, cells.words, cell, counter)
    ]
  },
}
