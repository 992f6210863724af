/**
 * The one abstraction the switch and the relay hold (docs/design.md §5.1): a link
 * to one neighbour that sends a batch of frames, delivers received frames a
 * batch at a time, and has an MTU and a cost. Two kinds implement it: the
 * stream link (`/peertap/trunk/1.0.0` over any libp2p transport, here) and
 * the datagram link (UDP, a later issue). Upper layers never care which kind
 * they hold; they read `kind` only to show it.
 */
import type { Control, Frame, Role, SubscriptionMessage } from './codec.ts'
import type { CloseReason } from './errors.ts'

export type LinkKind = 'stream' | 'datagram'
export type LinkStatus = 'up' | 'down'

/** What the HELLO exchange settled (spec 08-trunk.md §5). */
export interface HelloResult {
  /** The protocol version both sides speak: the highest in both ranges. */
  version: number
  /** The neighbour's role. */
  remoteRole: Role
  /** The neighbour's capability bits (CAP_*). */
  remoteCapabilities: number
  /** The largest message (type ‖ body) the neighbour accepts. */
  remoteMaxMessageSize: number
  /** The neighbour's smallest outgoing datagram MTU, 0 if none. */
  remoteDatagramMtu: number
  /** Neighbour's HELLO timestamp minus the local clock at receipt, in ms. */
  clockSkewMs: number
  /** True when |clockSkewMs| exceeds SKEW_WARN_MS (60 s); the node logs a warning. */
  skewWarning: boolean
}

/** Result of `Link.ping()` (spec 08-trunk.md §4.5). */
export interface PingResult {
  /** Round-trip time in milliseconds, measured on the local clock. */
  rttMs: number
  /** The responder's clock when it answered. */
  remoteTime: number
  /** The hop record the PONG carried: the hops the PING crossed, then the responder. */
  hops: Uint8Array[]
}

/**
 * Counters of one link. Plain numbers, updated in place on the data path;
 * read them, never write them.
 */
export interface LinkCounters {
  /** Frames handed to the transport, and their bytes on the wire (framing included). */
  framesSent: number
  bytesSent: number
  /** Writes to the transport (`stream.send()` calls); frames/writes is the batching factor. */
  writes: number
  /** Times the transport asked us to wait for 'drain'. */
  drainWaits: number
  framesReceived: number
  bytesReceived: number
  /** Received batches handed to the receiver (one `onFrames` call each). */
  batchesReceived: number
  /** Frames tail-dropped because the send queue was full (frames or bytes bound, or the trunk's send budget). */
  dropQueueFull: number
  /** Of dropQueueFull, those refused by the trunk's shared send budget rather than this link's own bounds. */
  dropBudget: number
  /** Frames dropped because their FRAME exceeds the neighbour's max message size. */
  dropOversize: number
  /** Frames dropped because they were malformed (VFT length, sealed length, hop limit). */
  dropInvalid: number
  /** Frames offered after the link went down. */
  dropLinkDown: number
  /** Control-plane messages (SUB, UNSUB, CONTROL, PING, PONG) refused: control queue full or link down. */
  controlDropped: number
  subsSent: number
  subsReceived: number
  controlSent: number
  controlReceived: number
  pingsSent: number
  pingsReceived: number
  pongsReceived: number
  /** Exceptions thrown by the receiver's callbacks (caught and counted, never fatal). */
  receiverErrors: number
  /** Frames waiting in the send queue now. */
  queuedFrames: number
  /** Bytes waiting to be written now: the send queue's, and those the stream has not written yet. */
  queuedBytes: number
}

export function newLinkCounters(): LinkCounters {
  return {
    framesSent: 0,
    bytesSent: 0,
    writes: 0,
    drainWaits: 0,
    framesReceived: 0,
    bytesReceived: 0,
    batchesReceived: 0,
    dropQueueFull: 0,
    dropBudget: 0,
    dropOversize: 0,
    dropInvalid: 0,
    dropLinkDown: 0,
    controlDropped: 0,
    subsSent: 0,
    subsReceived: 0,
    controlSent: 0,
    controlReceived: 0,
    pingsSent: 0,
    pingsReceived: 0,
    pongsReceived: 0,
    receiverErrors: 0,
    queuedFrames: 0,
    queuedBytes: 0,
  }
}

/**
 * What a link delivers upward. Every callback runs synchronously on the
 * receive path; views into receive buffers (`vft`, `sealed`, payloads) stay
 * valid after the callback returns (they are never reused), but copy them if
 * you mutate them. A callback that throws is counted in `receiverErrors`.
 */
export interface LinkReceiver {
  /** A batch of frames, in arrival order. The array is the receiver's to keep. */
  onFrames?(frames: Frame[], link: Link): void
  /** A SUB (`unsubscribe` false) or an UNSUB (`unsubscribe` true). */
  onSubscription?(sub: SubscriptionMessage, unsubscribe: boolean, link: Link): void
  /** A CONTROL message; never forwarded. */
  onControl?(control: Control, link: Link): void
}

export interface Link {
  readonly kind: LinkKind
  /** The neighbour's PeerId string: the opaque neighbour id of the relay table. */
  readonly id: string
  readonly status: LinkStatus
  /** Largest `sealed` payload this link carries in one frame, in bytes. */
  readonly mtu: number
  /** Relative cost per byte; the lowest-cost link to a neighbour is preferred. */
  cost: number
  /** The HELLO exchange's outcome. */
  readonly hello: HelloResult
  readonly counters: LinkCounters
  /** Why the link went down, once it has. */
  readonly closeReason: CloseReason | undefined
  /**
   * True when the stream link runs over a libp2p circuit-relay-v2 connection
   * (`…/p2p/R/p2p-circuit/p2p/B`): a control link (spec 08-trunk.md §5.5),
   * which carries CONTROL, PING and datagram offers but no frames and no
   * subscriptions of the node's own.
   */
  readonly relayed: boolean

  /**
   * Queues frames for the neighbour and returns how many were accepted.
   * Frames queued within one tick go out together in one write. Frames over
   * `mtu`, malformed ones, and those beyond the queue's bounds are dropped
   * and counted; never throws. The frames' buffers may be reused as soon as
   * this returns.
   */
  sendFrames(frames: readonly Frame[]): number
  /** Sends a SUB (ttl > 0) or, with `unsubscribe`, an UNSUB; false if refused (counted). */
  sendSubscription(sub: SubscriptionMessage, unsubscribe?: boolean): boolean
  /** Sends a CONTROL message; false if refused (counted). */
  sendControl(control: Control): boolean
  /** Measures the round trip to the neighbour with a PING/PONG. */
  ping(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<PingResult>
  /** Replaces the receiver that gets this link's frames and messages. */
  setReceiver(receiver: LinkReceiver): void
  /**
   * Stops reading from the neighbour (receive backpressure: the neighbour's
   * sends stall and its queue tail-drops). A datagram link drops instead.
   */
  pauseReceive(): void
  resumeReceive(): void
  /** Closes the link; `reason` is counted (default 'local-close'). */
  close(reason?: CloseReason): Promise<void>
}
