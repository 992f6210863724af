/**
 * @packageDocumentation
 *
 * The PeerTap trunk: the libp2p node (an Ed25519 identity kept in the state
 * directory; TCP with Noise and Yamux, QUIC, WebSocket) and the
 * `/peertap/trunk/1.0.0` protocol that links a node to its neighbours:
 * HELLO with version negotiation, FRAME and BATCH on the data path,
 * SUB/UNSUB, PING/PONG and CONTROL. The switch and the relay see each
 * neighbour as a `Link` (send a batch of frames, receive batches, an MTU, a
 * cost); this package implements both kinds: the stream link, and the
 * datagram link (UDP beside it, spec 13-datagram-link.md, `datagram: true`). Links batch what is
 * queued within a tick into one write, wait for 'drain' under backpressure,
 * bound their queues and tail-drop with counters; a malformed or oversized
 * message closes that stream with a counted reason and never crashes the
 * process. Normative wire format: docs/spec/08-trunk.md.
 *
 * @example
 * ```ts
 * import { createTrunk } from '@peertap/trunk'
 *
 * const a = await createTrunk({ stateDir: '/tmp/peertap-a', listen: ['/ip4/127.0.0.1/tcp/0'] })
 * const b = await createTrunk({ stateDir: '/tmp/peertap-b', transports: ['tcp'] })
 * a.setReceiver({
 *   onFrames: (frames, link) => console.log(`${frames.length} frames from ${link.id}`),
 * })
 * await a.start()
 * await b.start()
 *
 * const link = await b.dial(a.getMultiaddrs()[0]!)
 * link.sendFrames([{ hopLimit: 8, vft: new Uint8Array(16), sealed: new Uint8Array(64) }])
 * console.log(link.mtu, link.hello.remoteRole, (await link.ping()).rttMs)
 *
 * await b.stop()
 * await a.stop()
 * ```
 */

export {
  AddressCap,
  addressKey,
  type InboundConnection,
  type InboundCounters,
} from './address-cap.ts'
export {
  type Control,
  decodeFramedMessage,
  decodeMessage,
  encodeFrameBatches,
  encodeMessage,
  type Frame,
  type Hello,
  type Message,
  messageSize,
  type Ping,
  type Pong,
  type Role,
  type SubscriptionEntry,
  type SubscriptionMessage,
} from './codec.ts'
export {
  CAP_DATAGRAM_LINK,
  CAP_GSO_FRAMES,
  CONTROL_COMMIT_CATCH_UP,
  CONTROL_DATAGRAM_OFFER,
  CONTROL_FABRIC_EPOCH,
  CONTROL_FABRIC_GRANT,
  CONTROL_FRAGMENT,
  CONTROL_FRAGMENT_BYTES,
  CONTROL_FRAGMENT_MAX_MESSAGE_BYTES,
  CONTROL_FRAGMENT_MAX_PEERS,
  CONTROL_FRAGMENT_TIMEOUT_MS,
  CONTROL_JOIN,
  CONTROL_KEY_PACKAGE,
  CONTROL_LEASE,
  CONTROL_PRESENCE,
  CONTROL_PROPOSAL,
  CONTROL_RELAY_TICKET,
  CONTROL_RESERVE_BYTES,
  CONTROL_SPANNING_TREE,
  CONTROL_WELCOME,
  DEFAULT_HOP_LIMIT,
  DEFAULT_INBOUND_CONNECTION_THRESHOLD,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_MAX_QUEUED_CONTROL_BYTES,
  DEFAULT_MAX_QUEUED_FRAMES,
  DEFAULT_QUEUE_BUDGET_BYTES,
  DEFAULT_QUEUE_RESERVE_BYTES,
  DGRAM_DATA,
  DGRAM_DATA_OVERHEAD,
  DGRAM_DEAD_MS,
  DGRAM_DEAD_PINGS,
  DGRAM_HEADER_LENGTH,
  DGRAM_PING,
  DGRAM_PONG,
  DGRAM_PROBE_PAYLOAD,
  DGRAM_PROBED_MTU,
  DGRAM_QUIET_MS,
  DGRAM_SAFE_MTU,
  DGRAM_SAFE_PAYLOAD,
  FRAME_HEADER_LENGTH,
  HELLO_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  KEEPALIVE_INTERVAL_MS,
  MAX_BATCH_COUNT,
  MAX_HOPS,
  MAX_PEER_ID_LENGTH,
  MAX_PROOF_LENGTH,
  MAX_SUB_ENTRIES,
  MESSAGE_LENGTH_LIMIT,
  MIN_ADVERTISED_MESSAGE_SIZE,
  MSG_BATCH,
  MSG_CONTROL,
  MSG_FRAME,
  MSG_HELLO,
  MSG_PING,
  MSG_PONG,
  MSG_SUB,
  MSG_UNSUB,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  SEALED_MIN_LENGTH,
  SKEW_WARN_MS,
  SUB_FLAG_RECEIVE,
  SUB_FLAG_SEND,
  TRUNK_PROTOCOL,
  VFT_LENGTH,
} from './constants.ts'
export {
  ControlFragments,
  type ControlFragmentsCounters,
  type ControlSender,
} from './control-fragments.ts'
export {
  type DatagramDrop,
  type DatagramOffer,
  DatagramOpener,
  DatagramSealer,
  decodeOffer,
  derivePathKey,
  encodeOffer,
  type OpenedDatagram,
  receiverIndexOf,
} from './datagram-codec.ts'
export { DatagramEndpoint, type EndpointCounters } from './datagram-endpoint.ts'
export {
  type DatagramCounters,
  type DatagramFlowPath,
  DatagramLink,
  type DatagramLinkInit,
  type DatagramTransport,
  type PathState,
} from './datagram-link.ts'
export {
  type DatagramSocket,
  type DatagramSocketFactory,
  dgramSocket,
  type ReceivedDatagrams,
} from './datagram-socket.ts'
export {
  CLOSE_REASONS,
  type CloseReason,
  TrunkError,
  type TrunkErrorCode,
  WireError,
} from './errors.ts'
export { IDENTITY_FILE, loadOrCreateIdentity, writeFileAtomic } from './identity.ts'
export type {
  HelloResult,
  Link,
  LinkCounters,
  LinkKind,
  LinkReceiver,
  LinkStatus,
  PingResult,
} from './link.ts'
export {
  createTrunk,
  type RelayReservationState,
  Trunk,
  type TrunkInit,
  type TrunkServices,
} from './node.ts'
export { cachedKeyNoiseCrypto } from './noise-crypto.ts'
export { sendRelayTicket } from './relay-ticket.ts'
export type { SendQueueBounds } from './send.ts'
export { SendBudget, type SendBudgetCounters } from './send-budget.ts'
export { negotiateVersion } from './stream-link.ts'
export {
  type DatagramLinkOptions,
  DEFAULT_DATAGRAM_LINK_COST,
  DEFAULT_LINK_COSTS,
  type LinkDownEvent,
  type TransportName,
  type TrunkComponents,
  type TrunkCounters,
  type TrunkEvents,
  TrunkProtocol,
  type TrunkProtocolInit,
  trunkProtocol,
} from './trunk.ts'
