/**
 * Which UDP socket a daemon's datagram link uses (config `datagram.socket`,
 * both daemons): the
 * tap addon's batched one (recvmmsg on a reader thread, one sendmmsg per
 * batch; packages/tap README "UDP sockets") or node:dgram (one system call
 * and one event per datagram). `auto` takes the batched socket when the
 * addon is built and falls back to node:dgram when it is not. `gso` and
 * `gro` (config `datagram.gso`, `datagram.gro`) are the batched socket's
 * UDP GSO and GRO.
 */
import { openUdp, TapError } from '@peertap/tap'
import { type DatagramSocketFactory, dgramSocket } from '@peertap/trunk'
import type { Logger } from 'pino'

export type DatagramSocketKind = 'auto' | 'batched' | 'dgram'

/** Socket buffer sizes asked for, as node:dgram's (the kernel caps them at rmem_max/wmem_max). */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024

export function datagramSocketFactory(
  kind: DatagramSocketKind,
  log: Pick<Logger, 'info' | 'warn'>,
  gso = true,
  gro = true,
): DatagramSocketFactory {
  return (bind) => {
    if (kind !== 'dgram') {
      try {
        const socket = openUdp({
          address: bind.address,
          port: bind.port,
          receiveBufferBytes: SOCKET_BUFFER_BYTES,
          sendBufferBytes: SOCKET_BUFFER_BYTES,
          gso,
          gro,
        })
        // gro: what the kernel granted (UDP_GRO needs Linux 5.0).
        log.info(
          { port: socket.port, gso, gro: socket.stats().gro },
          'datagram link: batched UDP socket (recvmmsg/sendmmsg)',
        )
        return socket
      } catch (error) {
        // Only a missing addon falls back; address-in-use and the like are real.
        if (kind === 'batched' || !(error instanceof TapError) || error.code !== 'not-supported') {
          throw error
        }
        log.warn({ err: error.message }, 'datagram link: no batched UDP socket, using node:dgram')
      }
    }
    return dgramSocket(bind)
  }
}
