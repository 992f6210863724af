import { createRequire } from 'node:module'
import { TapError } from './errors.ts'

/**
 * The addon's private interface (src/addon.cc). Failing system calls throw
 * an Error with `errno` and `syscall`; device.ts turns them into TapErrors.
 */
export interface Native extends NativeAead, NativeFlow {
  open(clonePath: string, name: string, flags: number): { fd: number; name: string }
  close(fd: number): void
  adopt(fd: number): { name: string; flags: number }
  setOffload(fd: number, offloads: number): void
  ifGet(name: string): {
    index: number
    mtu: number
    flags: number
    hwFamily: number
    mac: Uint8Array
  }
  ifSetMtu(name: string, mtu: number): void
  ifSetMac(name: string, mac: Uint8Array): void
  ifSetFlags(name: string, set: number, clear: number): number
  writeFrames(fd: number, frames: readonly Uint8Array[], count: number): number
  writePacked(
    fd: number,
    data: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
  ): number
  readerStart(
    fd: number,
    slots: number,
    batchFrames: number,
    slotBytes: number,
    frameMax: number,
    headroom: number,
    tailroom: number,
    onBatch: (slot: number, count: number, errno: number) => void,
    mainThread: boolean,
  ): { handle: ReaderHandle; pool: ArrayBuffer; dataOffset: number; slotBytes: number }
  readerRelease(handle: ReaderHandle, slot: number): void
  readerStop(handle: ReaderHandle): void
  readerRef(handle: ReaderHandle, ref: boolean): void
  /** The fast path for a reader: device slot, or -1 for a UDP socket (src/flow-cache.h). */
  readerSetFlow(handle: ReaderHandle, cache: FlowCacheHandle | null, device: number): void
  readerStats(handle: ReaderHandle): {
    batches: number
    frames: number
    bytes: number
    slotWaits: number
    truncated: number
    groMessages: number
    groDatagrams: number
    /** Batches the datagram socket's reader read from this device right after writing to it. */
    readThroughs: number
    lends: number
  }
  udpOpen(
    family: number,
    bindRecord: Uint8Array,
    receiveBufferBytes: number,
    sendBufferBytes: number,
    dontFragment: boolean,
    gro: boolean,
  ): { fd: number; port: number; gro: boolean }
  udpSend(
    fd: number,
    family: number,
    datagrams: readonly Uint8Array[],
    records: Uint8Array,
    count: number,
    gso: Float64Array | undefined,
  ): number
  udpReaderStart(
    fd: number,
    slots: number,
    batchDatagrams: number,
    datagramMax: number,
    onBatch: (slot: number, count: number, errno: number) => void,
    mainThread: boolean,
    gro: boolean,
  ): { handle: ReaderHandle; pool: ArrayBuffer; dataOffset: number; slotBytes: number }
  /**
   * For tests: the receive side's UDP GRO split over messages as if one
   * recvmmsg(2) had returned them (gsoSizes[i] < 0: no UDP_GRO control
   * message; flags[i]: its msg_flags), in slots of batchFrames records.
   */
  udpGroReplay(
    messages: readonly Uint8Array[],
    gsoSizes: readonly number[],
    flags: readonly number[],
    batchFrames: number,
    datagramMax: number,
  ): { batches: Uint8Array[][]; truncated: number; groMessages: number; groDatagrams: number }
  flags: { IFF_TUN: number; IFF_TAP: number; IFF_NO_PI: number; IFF_VNET_HDR: number }
  offloads: { TUN_F_CSUM: number; TUN_F_TSO4: number; TUN_F_TSO6: number; TUN_F_TSO_ECN: number }
}

declare const aeadHandle: unique symbol
/** An opaque native AES key. */
export type AeadHandle = { readonly [aeadHandle]: true }

/** The arguments of gcmSeal and gcmOpen (src/aead.cc). */
export type GcmCall = [
  h: AeadHandle,
  nonce: Uint8Array,
  aad: Uint8Array,
  aad2: Uint8Array | undefined,
  src: Uint8Array,
  start: number,
  end: number,
  dst: Uint8Array,
  dstOffset: number,
]

/** The addon's AES functions (src/aead.cc). */
export interface NativeAead {
  gcmKey(key: Uint8Array): AeadHandle
  gcmSeal(...args: GcmCall): void
  gcmOpen(...args: GcmCall): boolean
  ecbKey(key: Uint8Array): AeadHandle
  ecbEncrypt(h: AeadHandle, src: Uint8Array, dst: Uint8Array): void
}

declare const arenaHandle: unique symbol
/** An opaque native cell arena. */
export type ArenaHandle = { readonly [arenaHandle]: true }

declare const flowCacheHandle: unique symbol
/** An opaque native flow cache. */
export type FlowCacheHandle = { readonly [flowCacheHandle]: true }

declare const raceHandle: unique symbol
/** An opaque native thread racing JavaScript over shared cells (tests). */
export type RaceHandle = { readonly [raceHandle]: true }

/**
 * The fast path's core (src/flow-core.cc through src/flow-napi.cc): the
 * shared cell arena, and each core function on its own for the tests.
 * Drop codes: payload 0 none, 1 short, 2 bad-config, 3 non-minimal-ctr,
 * 4 ctr-limit, 5 auth; DATA 0 none, 1 malformed, 2 unknown-type, 3 not
 * DATA, 4 auth; window 0 fresh, 1 replay, 2 too-old.
 */
export interface NativeFlow {
  flowCells(words: number): { arena: ArenaHandle; words: Int32Array }
  flowCounterTake(cells: Int32Array, index: number, limit: number): number
  /** op 0 check, 1 accept, 2 reset. */
  flowWindow(op: 0 | 1 | 2, cells: Int32Array, index: number, counter: number): 0 | 1 | 2
  flowRaceStart(
    cells: Int32Array,
    counterIndex: number,
    windowIndex: number,
    goIndex: number,
    n: number,
  ): RaceHandle
  flowRaceJoin(h: RaceHandle): { counters: Int32Array; accepted: Uint8Array; tried: Int32Array }
  /**
   * The AES of the fast path (src/cipher.h): what the flow cache uses in
   * this process, what flowSealPayload, flowOpenPayload, flowSealData and
   * flowOpenData use (set by `impl`), and whether the CPU has AES-NI.
   */
  flowAesImpl(impl?: 'auto' | 'evp' | 'ni'): {
    default: 'evp' | 'ni'
    tests: 'auto' | 'evp' | 'ni'
    ni: boolean
  }
  /** bench/cipher.ts: a send's crypto, timed natively (ns). */
  flowAesBench(
    impl: 'evp' | 'ni',
    bytes: number,
    count: number,
    idleUs: number,
  ): { median: number; p90: number }
  flowSealPayload(
    key: Uint8Array,
    salt: Uint8Array,
    kid: Uint8Array,
    hpKey: Uint8Array,
    vft: Uint8Array,
    counter: number,
    plaintext: Uint8Array,
  ): Uint8Array
  flowOpenPayload(
    key: Uint8Array | null,
    salt: Uint8Array | null,
    hpKey: Uint8Array,
    vft: Uint8Array,
    sealed: Uint8Array,
  ): { drop: number; kid?: bigint; counter?: number; plaintext?: Uint8Array }
  flowSealData(
    key: Uint8Array,
    receiverIndex: number,
    counter: number,
    hopLimit: number,
    vft: Uint8Array,
    sealed: Uint8Array,
  ): Uint8Array
  flowOpenData(
    key: Uint8Array,
    datagram: Uint8Array,
  ): { drop: number; receiverIndex?: number; counter?: number; hopLimit?: number; vft?: Uint8Array }
  flowCacheNew(arena: ArenaHandle): FlowCacheHandle
  flowCacheUdp(cache: FlowCacheHandle, fd: number, family: number, gso: boolean): void
  flowCacheAddDevice(cache: FlowCacheHandle, fd: number, vnet: boolean, tun: boolean): number
  flowCacheTunRoute(
    cache: FlowCacheHandle,
    device: number,
    address: Uint8Array,
    mac: Uint8Array,
  ): boolean
  flowCacheRemoveDevice(cache: FlowCacheHandle, device: number): void
  flowCacheSend(
    cache: FlowCacheHandle,
    device: number,
    mac: Uint8Array,
    vft: Uint8Array,
    hopLimit: number,
    key: Uint8Array,
    salt: Uint8Array,
    kid: Uint8Array,
    hpKey: Uint8Array,
    counterCell: number,
    hopKey: Uint8Array,
    receiverIndex: number,
    hopCounterCell: number,
    address: Uint8Array,
    payloadMax: number,
    vlanStats: number,
    linkStats: number,
    src: Uint8Array,
  ): boolean
  flowCacheHop(
    cache: FlowCacheHandle,
    receiverIndex: number,
    key: Uint8Array,
    windowCell: number,
    address: Uint8Array,
    linkStats: number,
  ): void
  flowCacheRecv(
    cache: FlowCacheHandle,
    vft: Uint8Array,
    device: number,
    mac: Uint8Array,
    hpKey: Uint8Array,
    puntTcp: boolean,
    vlanStats: number,
  ): boolean
  flowCacheKid(
    cache: FlowCacheHandle,
    vft: Uint8Array,
    kid: bigint,
    key: Uint8Array,
    salt: Uint8Array,
    windowCell: number,
  ): boolean
  flowCacheForward(
    cache: FlowCacheHandle,
    inIndex: number,
    vft: Uint8Array,
    hopKey: Uint8Array,
    receiverIndex: number,
    hopCounterCell: number,
    address: Uint8Array,
    payloadMax: number,
    linkStats: number,
  ): void
  flowCacheRemoveForwards(cache: FlowCacheHandle, vft: Uint8Array): number
  flowCacheClear(cache: FlowCacheHandle): void
  flowCacheStats(cache: FlowCacheHandle): FlowCacheStats
}

/** What the flow cache carried and why frames went up instead (src/flow-cache.h FlowStats). */
export interface FlowCacheStats {
  /** Entries installed now (send, hop, VFT and KID entries). */
  entries: number
  /** DATA datagrams the device threads sent; frames the UDP thread wrote to devices. */
  sent: number
  received: number
  /** Frames that went up: no entry; group, runt or offload header; too large; a spent key or path; lost (OpenSSL or sendmmsg failed). */
  sendMiss: number
  sendOther: number
  sendSize: number
  sendSpent: number
  sendFailed: number
  /** Datagrams that went up: no entry; not DATA, another source, another kind, TCP; a window or AEAD check failed; taken by JavaScript meanwhile. */
  receiveMiss: number
  receiveOther: number
  receiveChecks: number
  receiveRaced: number
  /** Frames lost: the device refused the write. */
  writeFailed: number
  /** A relay's: DATA forwarded; DATA that went up (hop limit 1 or less, too large); lost (spent counter, sendmmsg). */
  forwarded: number
  forwardOther: number
  forwardFailed: number
  /** A relay's: DATA dropped because the fast path forwarded its frame before (a loop). */
  forwardDuplicate: number
}

declare const readerHandle: unique symbol
/** An opaque native reader. */
export type ReaderHandle = { readonly [readerHandle]: true }

let loaded: Native | undefined

/** Loads build/Release/peertap_tap.node on first use (node-gyp builds it at install). */
export function native(): Native {
  if (loaded !== undefined) return loaded
  if (process.platform !== 'linux') {
    throw new TapError(
      'not-supported',
      `@peertap/tap needs Linux TAP/TUN; this is ${process.platform}.`,
    )
  }
  const require = createRequire(import.meta.url)
  try {
    loaded = require('../build/Release/peertap_tap.node') as Native
  } catch (cause) {
    throw new TapError(
      'not-supported',
      'the @peertap/tap native addon is not built (build/Release/peertap_tap.node): it builds ' +
        'at install with node-gyp, which needs python3, make and a C++ compiler; rebuild it with ' +
        '`pnpm --filter @peertap/tap run install`.',
      { cause },
    )
  }
  return loaded
}
