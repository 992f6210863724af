/**
 * The UDP socket of a trunk (spec 13-datagram-link.md §1): one per node,
 * shared by every datagram link, which it tells apart by the receiver index
 * each link chose and offered. It only demultiplexes; the links
 * authenticate. Datagrams for no index, and send errors, are counted.
 *
 * Receive: socket batch -> copy it once if the socket reuses its buffer ->
 * demultiplex each datagram by receiver index -> link.receive -> each link
 * touched hands its frames up once, at the end of the batch.
 * Send: link.send queues -> at the end of the current JavaScript task (a
 * microtask) every queued datagram, of every link, goes in one socket.send:
 * one sendmmsg(2) on a batched socket.
 */
import { receiverIndexOf } from './datagram-codec.ts'
import type { DatagramLink, DatagramTransport } from './datagram-link.ts'
import {
  type DatagramSocket,
  type DatagramSocketFactory,
  dgramSocket,
  type ReceivedDatagrams,
} from './datagram-socket.ts'

export interface EndpointCounters {
  /** Datagrams too short for a header, or for a receiver index we do not hold. */
  dropUnknownIndex: number
  /** Datagrams the socket did not send (refused, or its send buffer was full). */
  sendErrors: number
  /** Received batches (one per datagram on node:dgram). */
  batchesReceived: number
  /** Socket sends (one sendmmsg per batch on a batched socket). */
  batchesSent: number
}

/** Most datagrams queued before a send is forced (sendmmsg takes 1024 at most). */
const SEND_QUEUE_MAX = 1024

export class DatagramEndpoint implements DatagramTransport {
  readonly counters: EndpointCounters = {
    dropUnknownIndex: 0,
    sendErrors: 0,
    batchesReceived: 0,
    batchesSent: 0,
  }
  readonly #factory: DatagramSocketFactory | undefined
  #socket: DatagramSocket | undefined
  readonly #links = new Map<number, DatagramLink>()
  readonly #touched: DatagramLink[] = []
  #queue: Uint8Array[] = []
  #addresses: string[] = []
  #ports: number[] = []
  #flushScheduled = false
  #closed = false

  /** `socket` opens the UDP socket (default: node:dgram). */
  constructor(socket?: DatagramSocketFactory) {
    this.#factory = socket
  }

  async bind(port = 0, address = '0.0.0.0'): Promise<void> {
    const onSendError = () => {
      this.counters.sendErrors++
    }
    const socket = await (this.#factory ?? dgramSocket)({ port, address, onSendError })
    this.#socket = socket
    socket.onBatch(this.#onBatch)
  }

  get port(): number {
    return this.#socket?.port ?? 0
  }

  /** A receiver index no link of ours holds (random, so indices say nothing across restarts). */
  allocateIndex(): number {
    const b = new Uint32Array(1)
    for (;;) {
      crypto.getRandomValues(b)
      if (b[0]! !== 0 && !this.#links.has(b[0]!)) return b[0]!
    }
  }

  register(link: DatagramLink): void {
    this.#links.set(link.receiverIndex, link)
  }

  unregister(link: DatagramLink): void {
    if (this.#links.get(link.receiverIndex) === link) this.#links.delete(link.receiverIndex)
  }

  readonly #onBatch = (batch: ReceivedDatagrams): void => {
    if (this.#closed) return
    this.counters.batchesReceived++
    const n = batch.count
    let data = batch.data
    let base = 0
    if (batch.owned !== true && n > 0) {
      // The socket reuses its buffer: copy the batch out once (links keep
      // views of the frames until the switch has them).
      base = batch.offsets[0]!
      const end = batch.offsets[n - 1]! + batch.lengths[n - 1]!
      data = Buffer.copyBytesFrom(batch.data, base, end - base)
    } else if (!Buffer.isBuffer(data)) {
      data = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    }
    const touched = this.#touched
    const gather = batch.eventPerDatagram === true
    for (let i = 0; i < n; i++) {
      const off = batch.offsets[i]! - base
      const msg = data.subarray(off, off + batch.lengths[i]!)
      const link = this.#links.get(receiverIndexOf(msg))
      if (link === undefined) {
        this.counters.dropUnknownIndex++
        continue
      }
      if (!gather && !touched.includes(link)) touched.push(link)
      link.receive(msg, batch.address(i), batch.port(i), !gather)
    }
    if (touched.length > 0) {
      // One hand-over per link per batch, now rather than on the next loop turn.
      for (const link of touched) link.deliverReceived()
      touched.length = 0
    }
  }

  send(buf: Uint8Array, port: number, address: string): void {
    if (this.#socket === undefined || this.#closed) {
      this.counters.sendErrors++
      return
    }
    this.#queue.push(buf)
    this.#addresses.push(address)
    this.#ports.push(port)
    if (this.#queue.length >= SEND_QUEUE_MAX) {
      this.#flush()
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true
      queueMicrotask(this.#flush)
    }
  }

  /** Sends everything queued in one socket call; never throws. */
  readonly #flush = (): void => {
    this.#flushScheduled = false
    const count = this.#queue.length
    if (count === 0) return
    const queue = this.#queue
    const addresses = this.#addresses
    const ports = this.#ports
    this.#queue = []
    this.#addresses = []
    this.#ports = []
    if (this.#closed || this.#socket === undefined) return
    let sent = 0
    try {
      sent = this.#socket.send(queue, addresses, ports, count)
    } catch {
      // The socket itself failed (closed under us): every datagram is lost.
    }
    this.counters.batchesSent++
    this.counters.sendErrors += count - sent
  }

  async close(): Promise<void> {
    this.#flush()
    this.#closed = true
    this.#links.clear()
    await this.#socket?.close()
  }
}
