/**
 * The UDP socket under the datagram endpoint, as a component (docs/style.md §3):
 * the endpoint needs a bound socket that hands over received datagrams in
 * batches and sends a batch at once. Two kinds fit:
 *
 * - node:dgram (`dgramSocket`, the default, no native code): one system call
 *   and one JavaScript event per datagram; a "batch" is one datagram;
 * - a batched socket injected by the application (`@peertap/tap`'s
 *   `openUdp`: recvmmsg on a reader thread, sendmmsg per batch), through
 *   `DatagramLinkOptions.socket`. The trunk does not depend on it.
 */
import { createSocket, type Socket } from 'node:dgram'

/**
 * Datagrams received together: datagram i is `data[offsets[i] .. offsets[i]
 * + lengths[i])` from `address(i)`:`port(i)`. Valid until the handler
 * returns, unless `owned` says the bytes are the receiver's to keep.
 */
export interface ReceivedDatagrams {
  readonly data: Uint8Array
  readonly offsets: Uint32Array
  readonly lengths: Uint32Array
  readonly count: number
  /** True when the bytes stay valid after the handler returns (no copy needed). */
  readonly owned?: boolean
  /**
   * True when the socket makes one call per datagram (node:dgram): the
   * receiver gathers what one poll phase brings before handing it up.
   * Otherwise a batch is all there is for now and goes up at once.
   */
  readonly eventPerDatagram?: boolean
  address(i: number): string
  port(i: number): number
}

/** A bound UDP socket as the datagram endpoint uses it. */
export interface DatagramSocket {
  /** The bound port, offered to neighbours. */
  readonly port: number
  /** Starts receiving: `handler` runs once per received batch. Called once. */
  onBatch(handler: (batch: ReceivedDatagrams) => void): void
  /**
   * Sends `datagrams[i]` to `addresses[i]`:`ports[i]` for i < count; returns
   * how many the kernel took (the caller counts the rest). Never throws on a
   * datagram.
   */
  send(
    datagrams: readonly Uint8Array[],
    addresses: readonly string[],
    ports: ArrayLike<number>,
    count: number,
  ): number
  close(): void | Promise<void>
}

/**
 * Opens and binds a socket; rejects (EADDRINUSE, ...) if it cannot.
 * `onSendError` counts send failures a socket learns of only later (node:dgram's callbacks).
 */
export type DatagramSocketFactory = (bind: {
  port: number
  address: string
  onSendError: () => void
}) => DatagramSocket | Promise<DatagramSocket>

/** Socket buffer sizes asked for (the kernel caps them at its rmem_max/wmem_max). */
export const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024

class OneDatagram implements ReceivedDatagrams {
  data: Uint8Array = new Uint8Array(0)
  readonly offsets = new Uint32Array(1)
  readonly lengths = new Uint32Array(1)
  readonly count = 1
  readonly owned = true
  readonly eventPerDatagram = true
  #address = ''
  #port = 0

  set(msg: Uint8Array, address: string, port: number): this {
    this.data = msg
    this.lengths[0] = msg.length
    this.#address = address
    this.#port = port
    return this
  }

  address(): string {
    return this.#address
  }

  port(): number {
    return this.#port
  }
}

/**
 * The node:dgram socket (IPv4, as before the batched socket existed). Send
 * errors reported later by libuv go to `onSendError`.
 */
export async function dgramSocket(bind: {
  port: number
  address: string
  onSendError?: () => void
}): Promise<DatagramSocket> {
  const onSendError = bind.onSendError ?? (() => {})
  const socket: Socket = createSocket({ type: 'udp4' })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(bind.port, bind.address, () => {
      socket.off('error', reject)
      resolve()
    })
  })
  socket.on('error', onSendError)
  try {
    socket.setRecvBufferSize(SOCKET_BUFFER_BYTES)
    socket.setSendBufferSize(SOCKET_BUFFER_BYTES)
  } catch {
    // Best effort: the defaults still work, with more drops under bursts.
  }
  const onSent = (err: Error | null): void => {
    if (err) onSendError()
  }
  const one = new OneDatagram()
  return {
    port: socket.address().port,
    onBatch(handler) {
      socket.on('message', (msg, rinfo) => handler(one.set(msg, rinfo.address, rinfo.port)))
    },
    send(datagrams, addresses, ports, count) {
      for (let i = 0; i < count; i++) socket.send(datagrams[i]!, ports[i]!, addresses[i]!, onSent)
      return count
    },
    close: () =>
      new Promise<void>((resolve) => {
        try {
          socket.close(() => resolve())
        } catch {
          resolve()
        }
      }),
  }
}
