/**
 * What a port reads and writes: a TAP or TUN device of the tap addon, or,
 * for an embedded node whose platform hands over no file descriptor (iOS's
 * NEPacketTunnelFlow), a pair of packet callbacks ({@link CallbackDevice}).
 */
import type {
  BatchHandler,
  DeviceStats,
  LinkState,
  PackedFrames,
  ReadOptions,
  TapDevice,
} from '@peertap/tap'

/** The part of a TapDevice a port uses. */
export type PortDevice = Pick<
  TapDevice,
  | 'name'
  | 'vnetHeader'
  | 'closed'
  | 'onBatch'
  | 'writeBatch'
  | 'multicastGroups'
  | 'multicastMacs'
  | 'close'
  | 'link'
  | 'stats'
  | 'setUp'
>

/** Where a TUN port of an embedded node gets its packets (embed.ts). */
export type TunSource =
  /** A TUN file descriptor (Android's VpnService.Builder.establish()), opened with IFF_NO_PI. */
  | { readonly fd: number }
  /** Packet callbacks: the node writes with `write`, the shell calls EmbeddedNode.input. */
  | { readonly packets: PacketFlow; readonly packetInfo?: 'none' | 'utun' }

/** The shell's side of a callback port. */
export interface PacketFlow {
  /**
   * Packets for the host (iOS: NEPacketTunnelFlow.writePackets). Called on
   * the node's thread; the buffers are the node's again once it returns, so
   * copy what is kept.
   */
  write(packets: readonly Uint8Array[]): void
}

/** Per VLAN name, the packet source of its TUN port; undefined: a device opened by name. */
export type PortSources = (vlan: string) => TunSource | undefined

/**
 * A port device over packet callbacks: packets in through {@link input}
 * (each copied behind `headroom` free bytes, as a device read leaves them),
 * out through the shell's `write`. Link state is its own: no kernel device.
 */
export class CallbackDevice implements PortDevice {
  readonly name: string
  readonly vnetHeader = false
  readonly #flow: PacketFlow
  readonly #mtu: number
  #handler: BatchHandler | undefined
  #headroom = 0
  #closed = false
  #up = true
  #reading = Promise.resolve()
  readonly #stats = {
    batchesRead: 0,
    framesRead: 0,
    bytesRead: 0,
    readerWaits: 0,
    truncated: 0,
    readThroughs: 0,
    lends: 0,
    batchesWritten: 0,
    framesWritten: 0,
    writeDrops: 0,
  }

  constructor(name: string, flow: PacketFlow, mtu: number) {
    this.name = name
    this.#flow = flow
    this.#mtu = mtu
  }

  get closed(): boolean {
    return this.#closed
  }

  onBatch(handler: BatchHandler, options: ReadOptions = {}): void {
    this.#handler = handler
    this.#headroom = options.headroom ?? 0
  }

  /**
   * Packets the shell read from its tunnel (iOS: NEPacketTunnelFlow.readPackets'
   * handler). Longer than the MTU plus 4 (a utun header): dropped and counted.
   * Batches are handled one at a time, in order.
   */
  input(packets: readonly Uint8Array[]): void {
    const handler = this.#handler
    if (this.#closed || handler === undefined || packets.length === 0) return
    const max = this.#mtu + 4
    const kept = packets.filter((p) => p.length > 0 && p.length <= max)
    this.#stats.truncated += packets.length - kept.length
    const stride = this.#headroom + max
    const data = new Uint8Array(stride * kept.length)
    const offsets = new Uint32Array(kept.length)
    const lengths = new Uint32Array(kept.length)
    kept.forEach((p, i) => {
      offsets[i] = i * stride + this.#headroom
      lengths[i] = p.length
      data.set(p, offsets[i] as number)
      this.#stats.bytesRead += p.length
    })
    this.#stats.batchesRead++
    this.#stats.framesRead += kept.length
    const batch = {
      data,
      offsets,
      lengths,
      count: kept.length,
      frame: (i: number) =>
        data.subarray(offsets[i], (offsets[i] as number) + (lengths[i] as number)),
    }
    this.#reading = this.#reading.then(() => handler(batch)).catch(() => undefined)
  }

  writeBatch(frames: readonly Uint8Array[] | PackedFrames): number {
    if (this.#closed) return 0
    const list = Array.isArray(frames)
      ? (frames as readonly Uint8Array[])
      : Array.from({ length: (frames as PackedFrames).count }, (_, i) => {
          const f = frames as PackedFrames
          return f.data.subarray(f.offsets[i], (f.offsets[i] as number) + (f.lengths[i] as number))
        })
    this.#stats.batchesWritten++
    this.#stats.framesWritten += list.length
    this.#flow.write(list)
    return list.length
  }

  async multicastGroups(): Promise<Uint8Array[]> {
    return []
  }

  async multicastMacs(): Promise<string[]> {
    return []
  }

  link(): LinkState {
    return {
      name: this.name,
      index: 0,
      mtu: this.#mtu,
      mac: undefined,
      up: this.#up,
      running: this.#up && !this.#closed,
      flags: 0,
    }
  }

  setUp(up: boolean): void {
    this.#up = up
  }

  stats(): DeviceStats {
    return { ...this.#stats }
  }

  close(): void {
    this.#closed = true
    this.#handler = undefined
  }
}
