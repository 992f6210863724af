/**
 * `@peertap/tap`: Linux TAP/TUN device I/O for PeerTap, through a small
 * Node-API addon built from source by node-gyp at install. Open a device by
 * name, set its MAC, MTU and link state, read frames in batches on a
 * background thread, write frames in batches, read its multicast list.
 * Device I/O only: no protocol logic. Also a UDP socket with batched I/O
 * (`openUdp`: recvmmsg on the same background reader, sendmmsg per batch),
 * which node:dgram cannot do, and AES-256-GCM/ECB keys that keep their
 * OpenSSL contexts (`opensslAes`: one native call per message, where
 * node:crypto makes a cipher object per message).
 *
 * Needs Linux, /dev/net/tun and CAP_NET_ADMIN (to create a device or change
 * its link). Errors are {@link TapError}s with a stable `code`.
 *
 * @example
 * ```ts
 * import { openTap } from '@peertap/tap'
 *
 * // Echo every frame back, swapping nothing: a (silly) loopback port.
 * const tap = openTap({ name: 'pt0', mtu: 1400, up: true })
 * tap.onBatch((batch) => {
 *   // batch.data, batch.offsets[i], batch.lengths[i] for i < batch.count;
 *   // valid until this handler returns: copy what you keep.
 *   tap.writeBatch(batch) // packed frames forward without a copy
 * })
 * console.log(tap.link(), await tap.multicastMacs())
 * setTimeout(() => tap.close(), 10_000)
 * ```
 *
 * @packageDocumentation
 */

export { type OpensslAes, OpensslEcb, OpensslGcm, opensslAes } from './aead.ts'
export {
  BATCH_FRAMES,
  FRAME_MAX,
  MAX_MTU,
  MIN_MTU,
  NAME_MAX_BYTES,
  SLOTS,
} from './constants.ts'
export type {
  BatchHandler,
  DeviceKind,
  DeviceStats,
  FrameBatch,
  LinkState,
  OpenOptions,
  PackedFrames,
  ReadOptions,
} from './device.ts'
export { attachTun, openTap, openTun, TapDevice, VNET_HEADER_BYTES } from './device.ts'
export type {
  SystemFailure,
  TapErrorCode,
  TapErrorDetails,
  TapOperation,
  UdpOperation,
} from './errors.ts'
export { TapError, tapErrorFromSystem, udpErrorFromSystem } from './errors.ts'
export {
  FlowCache,
  FlowCells,
  type ForwardFlow,
  flowCore,
  type HopFlow,
  type ReceiveFlow,
  type SendFlow,
  STATS_WORDS,
  WINDOW_SIZE,
  WINDOW_WORDS,
  type WindowVerdict,
} from './flow.ts'
export { formatMac, parseMac } from './mac.ts'
export type { MulticastEntry } from './mcast.ts'
export { parseDevMcast, parseIgmp, parseIgmp6 } from './mcast.ts'
export type { FlowCacheStats } from './native.ts'
export type {
  DatagramBatch,
  DatagramHandler,
  UdpOpenOptions,
  UdpReadOptions,
  UdpStats,
} from './udp.ts'
export { openUdp, UDP_BATCH_MAX, UDP_DATAGRAM_MAX, UDP_PAYLOAD_MAX, UdpSocket } from './udp.ts'
