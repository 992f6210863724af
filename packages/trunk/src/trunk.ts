/**
 * The trunk protocol as a libp2p service, `trunkProtocol(init) =>
 * (components) => TrunkProtocol`: it registers `/peertap/trunk/1.0.0`,
 * turns every trunk stream into a `StreamLink`, keeps at most one link per
 * neighbour, counts close reasons, and emits `link:up` / `link:down`. It
 * makes no forwarding decision and does no crypto beyond libp2p's own.
 */
import {
  type AbortOptions,
  type ComponentLogger,
  type Connection,
  type Logger,
  type PeerId,
  type Startable,
  type Stream,
  type StreamHandler,
  type StreamHandlerOptions,
  TypedEventEmitter,
} from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Role } from './codec.ts'
import {
  CAP_GSO_FRAMES,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_MAX_QUEUED_CONTROL_BYTES,
  DEFAULT_MAX_QUEUED_FRAMES,
  MESSAGE_LENGTH_LIMIT,
  MIN_ADVERTISED_MESSAGE_SIZE,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  TRUNK_PROTOCOL,
} from './constants.ts'
import { CLOSE_REASONS, type CloseReason, TrunkError } from './errors.ts'
import type { Link, LinkReceiver } from './link.ts'
import type { SendQueueBounds } from './send.ts'
import { StreamLink } from './stream-link.ts'

export type TransportName = 'tcp' | 'quic' | 'ws'

/**
 * Relative cost per byte of a stream link by transport, lower preferred
 * (DESIGN.md 9: as measured here, not by reputation; see README's bench):
 * TCP+Noise+Yamux moves the most bytes per CPU second, WebSocket adds its
 * framing, QUIC's 4 KiB reads cap it (FACTS.md).
 */
export const DEFAULT_LINK_COSTS: Readonly<Record<TransportName, number>> = {
  tcp: 10,
  ws: 12,
  quic: 20,
}

export interface TrunkProtocolInit {
  /** Our role in HELLO (default 'node'). */
  role?: Role
  /** Capability bits advertised in HELLO (default CAP_GSO_FRAMES). */
  capabilities?: number
  /** Largest message we accept, advertised in HELLO (default and maximum MESSAGE_LENGTH_LIMIT). */
  maxMessageSize?: number
  /** Our smallest outgoing datagram MTU, advertised in HELLO (default 0: none). */
  datagramMtu?: number
  /** Lowest and highest protocol version we speak (default 1..1). */
  versionMin?: number
  versionMax?: number
  /** Send queue bounds per link. */
  queue?: Partial<SendQueueBounds>
  /** The receiver every new link starts with. */
  receiver?: LinkReceiver
  /** Link cost per transport. */
  costs?: Partial<Record<TransportName, number>>
}

/** The components the trunk service needs, and no more. */
export interface TrunkComponents {
  peerId: PeerId
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string, options?: AbortOptions): Promise<void>
  }
  connectionManager: {
    openConnection(peer: PeerId | Multiaddr, options?: AbortOptions): Promise<Connection>
  }
  logger: ComponentLogger
}

export interface TrunkCounters {
  linksUp: number
  linksDown: number
  /** Links that failed or closed, by reason (spec 08-trunk.md §7). */
  closeReasons: Record<CloseReason, number>
  /** HELLOs whose timestamp was more than 60 s off our clock. */
  skewWarnings: number
}

export interface LinkDownEvent {
  link: Link
  reason: CloseReason
}

export interface TrunkEvents {
  'link:up': CustomEvent<Link>
  'link:down': CustomEvent<LinkDownEvent>
}

export class TrunkProtocol extends TypedEventEmitter<TrunkEvents> implements Startable {
  readonly counters: TrunkCounters
  readonly #components: TrunkComponents
  readonly #log: Logger
  readonly #links = new Map<string, StreamLink>()
  readonly #pending = new Set<StreamLink>()
  readonly #hello: {
    versionMin: number
    versionMax: number
    role: Role
    capabilities: number
    maxMessageSize: number
    datagramMtu: number
  }
  readonly #bounds: SendQueueBounds
  readonly #costs: Record<TransportName, number>
  readonly #localId: string
  readonly #localPeerIdBytes: Uint8Array
  #receiver: LinkReceiver
  #started = false

  constructor(components: TrunkComponents, init: TrunkProtocolInit = {}) {
    super()
    this.#components = components
    this.#log = components.logger.forComponent('peertap:trunk')
    const maxMessageSize = init.maxMessageSize ?? MESSAGE_LENGTH_LIMIT
    if (maxMessageSize < MIN_ADVERTISED_MESSAGE_SIZE || maxMessageSize > MESSAGE_LENGTH_LIMIT) {
      throw new TrunkError(
        'ERR_INVALID_OPTION',
        `maxMessageSize must be ${MIN_ADVERTISED_MESSAGE_SIZE} to ${MESSAGE_LENGTH_LIMIT}`,
      )
    }
    this.#hello = {
      versionMin: init.versionMin ?? PROTOCOL_VERSION_MIN,
      versionMax: init.versionMax ?? PROTOCOL_VERSION_MAX,
      role: init.role ?? 'node',
      capabilities: init.capabilities ?? CAP_GSO_FRAMES,
      maxMessageSize,
      datagramMtu: init.datagramMtu ?? 0,
    }
    this.#bounds = {
      maxFrames: init.queue?.maxFrames ?? DEFAULT_MAX_QUEUED_FRAMES,
      maxBytes: init.queue?.maxBytes ?? DEFAULT_MAX_QUEUED_BYTES,
      maxControlBytes: init.queue?.maxControlBytes ?? DEFAULT_MAX_QUEUED_CONTROL_BYTES,
    }
    this.#costs = { ...DEFAULT_LINK_COSTS, ...init.costs }
    this.#receiver = init.receiver ?? {}
    this.#localId = components.peerId.toString()
    this.#localPeerIdBytes = components.peerId.toMultihash().bytes
    const closeReasons = {} as Record<CloseReason, number>
    for (const r of CLOSE_REASONS) closeReasons[r] = 0
    this.counters = { linksUp: 0, linksDown: 0, closeReasons, skewWarnings: 0 }
  }

  readonly [Symbol.toStringTag] = '@peertap/trunk'

  async start(): Promise<void> {
    await this.#components.registrar.handle(
      TRUNK_PROTOCOL,
      (stream, connection) => {
        this.#accept(stream, connection, false)
      },
      { maxInboundStreams: 4, maxOutboundStreams: 4 },
    )
    this.#started = true
  }

  async stop(): Promise<void> {
    this.#started = false
    await this.#components.registrar.unhandle(TRUNK_PROTOCOL)
    const all = [...this.#links.values(), ...this.#pending]
    await Promise.all(all.map((l) => l.close('stopped')))
  }

  /** Opens a trunk link to a neighbour at `target` and resolves once HELLO is exchanged. */
  async connect(target: Multiaddr | PeerId, options: { signal?: AbortSignal } = {}): Promise<Link> {
    if (!this.#started) throw new TrunkError('ERR_NOT_STARTED', 'the trunk is not started')
    let stream: Stream
    let connection: Connection
    try {
      connection = await this.#components.connectionManager.openConnection(target, options)
      stream = await connection.newStream(TRUNK_PROTOCOL, options)
    } catch (err) {
      throw new TrunkError(
        'ERR_LINK_FAILED',
        `cannot open a trunk stream to ${target.toString()}`,
        {
          cause: err,
        },
      )
    }
    const link = this.#accept(stream, connection, true)
    await link.ready
    return this.#links.get(link.id) ?? link
  }

  /** The links that are up. */
  links(): Link[] {
    return [...this.#links.values()]
  }

  /** The link to the neighbour with this PeerId string, if up. */
  getLink(id: string): Link | undefined {
    return this.#links.get(id)
  }

  /** Sets the receiver for links that come up from now on. */
  setReceiver(receiver: LinkReceiver): void {
    this.#receiver = receiver
  }

  #accept(stream: Stream, connection: Connection, initiator: boolean): StreamLink {
    const remotePeer = connection.remotePeer
    const addr = connection.remoteAddr.toString()
    const transport: TransportName = addr.includes('/quic')
      ? 'quic'
      : addr.includes('/ws')
        ? 'ws'
        : 'tcp'
    const link: StreamLink = new StreamLink({
      stream,
      remotePeer,
      initiator,
      hello: this.#hello,
      localPeerIdBytes: this.#localPeerIdBytes,
      bounds: this.#bounds,
      receiver: this.#receiver,
      cost: this.#costs[transport],
      log: this.#log,
      onUp: (l) => this.#onUp(l),
      onClose: (l, reason) => this.#onClose(l, reason),
    })
    if (link.status === 'down') return link
    this.#pending.add(link)
    return link
  }

  #onUp(link: StreamLink): boolean {
    this.#pending.delete(link)
    if (link.hello.skewWarning) this.counters.skewWarnings++
    const existing = this.#links.get(link.id)
    if (existing !== undefined) {
      // One link per neighbour; both ends pick the same survivor (spec 08-trunk.md §5).
      const opener = (l: StreamLink): string => (l.initiator ? this.#localId : l.id)
      const keepNew =
        opener(existing) === opener(link) || opener(link) === lowerOf(this.#localId, link.id)
      if (!keepNew) {
        queueMicrotask(() => void link.close('replaced'))
        return false
      }
      this.#links.delete(link.id)
      void existing.close('replaced')
    }
    this.#links.set(link.id, link)
    this.counters.linksUp++
    this.safeDispatchEvent('link:up', { detail: link })
    return true
  }

  #onClose(link: StreamLink, reason: CloseReason): void {
    this.#pending.delete(link)
    this.counters.closeReasons[reason]++
    if (this.#links.get(link.id) === link) {
      this.#links.delete(link.id)
      this.counters.linksDown++
      this.safeDispatchEvent('link:down', { detail: { link, reason } })
    }
  }
}

/** The PeerId string that sorts first (plain UTF-16 string order). */
function lowerOf(a: string, b: string): string {
  return [a, b].sort()[0]!
}

/**
 * The trunk service factory, for `createLibp2p({ services: { trunk: trunkProtocol(init) } })`.
 */
export function trunkProtocol(
  init: TrunkProtocolInit = {},
): (components: TrunkComponents) => TrunkProtocol {
  return (components) => new TrunkProtocol(components, init)
}
