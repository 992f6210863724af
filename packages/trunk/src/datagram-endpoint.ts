/**
 * The UDP socket of a trunk (spec 13-datagram-link.md §1): one per node,
 * shared by every datagram link, which it tells apart by the receiver index
 * each link chose and offered. It only demultiplexes; the links
 * authenticate. Datagrams for no index, and send errors, are counted.
 */
import { createSocket, type Socket } from 'node:dgram'
import { receiverIndexOf } from './datagram-codec.ts'
import type { DatagramLink, DatagramTransport } from './datagram-link.ts'

export interface EndpointCounters {
  /** Datagrams too short for a header, or for a receiver index we do not hold. */
  dropUnknownIndex: number
  sendErrors: number
}

/** Socket buffer sizes asked for (the kernel caps them at its rmem_max/wmem_max). */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024

export class DatagramEndpoint implements DatagramTransport {
  readonly counters: EndpointCounters = { dropUnknownIndex: 0, sendErrors: 0 }
  readonly #socket: Socket
  readonly #links = new Map<number, DatagramLink>()
  #port = 0

  constructor() {
    this.#socket = createSocket({ type: 'udp4' })
    this.#socket.on('message', (msg, rinfo) => {
      const link = this.#links.get(receiverIndexOf(msg))
      if (link === undefined) {
        this.counters.dropUnknownIndex++
        return
      }
      link.receive(msg, rinfo.address, rinfo.port)
    })
    this.#socket.on('error', () => {
      this.counters.sendErrors++
    })
  }

  async bind(port = 0, address = '0.0.0.0'): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#socket.once('error', reject)
      this.#socket.bind(port, address, () => {
        this.#socket.off('error', reject)
        resolve()
      })
    })
    this.#port = this.#socket.address().port
    try {
      this.#socket.setRecvBufferSize(SOCKET_BUFFER_BYTES)
      this.#socket.setSendBufferSize(SOCKET_BUFFER_BYTES)
    } catch {
      // Best effort: the defaults still work, with more drops under bursts.
    }
  }

  get port(): number {
    return this.#port
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

  send(buf: Uint8Array, port: number, address: string): void {
    this.#socket.send(buf, port, address, this.#onSent)
  }

  readonly #onSent = (err: Error | null): void => {
    if (err) this.counters.sendErrors++
  }

  async close(): Promise<void> {
    this.#links.clear()
    await new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => resolve())
      } catch {
        resolve()
      }
    })
  }
}
