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
import type { AesPrimitives, SharedCells } from '@peertap/crypto'
import { type InboundCounters, newInboundCounters } from './address-cap.ts'
import type { Role } from './codec.ts'
import {
  CAP_DATAGRAM_LINK,
  CAP_GSO_FRAMES,
  CONTROL_DATAGRAM_OFFER,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_MAX_QUEUED_CONTROL_BYTES,
  DEFAULT_MAX_QUEUED_FRAMES,
  DEFAULT_QUEUE_BUDGET_BYTES,
  DEFAULT_QUEUE_RESERVE_BYTES,
  DGRAM_SAFE_MTU,
  MESSAGE_LENGTH_LIMIT,
  MIN_ADVERTISED_MESSAGE_SIZE,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  TRUNK_PROTOCOL,
} from './constants.ts'
import { decodeOffer } from './datagram-codec.ts'
import { DatagramEndpoint, type EndpointCounters } from './datagram-endpoint.ts'
import { DatagramLink } from './datagram-link.ts'
import type { DatagramSocketFactory } from './datagram-socket.ts'
import { CLOSE_REASONS, type CloseReason, TrunkError } from './errors.ts'
import type { Link, LinkReceiver } from './link.ts'
import type { SendQueueBounds } from './send.ts'
import { SendBudget, type SendBudgetCounters } from './send-budget.ts'
import { StreamLink } from './stream-link.ts'

export type TransportName = 'tcp' | 'quic' | 'ws'

/**
 * Relative cost per byte of a stream link by transport, lower preferred
 * (docs/design.md §9: as measured here, not by reputation; see README's bench):
 * TCP+Noise+Yamux moves the most bytes per CPU second, WebSocket adds its
 * framing, QUIC's 4 KiB reads cap it (docs/facts.md §3).
 */
export const DEFAULT_LINK_COSTS: Readonly<Record<TransportName, number>> = {
  tcp: 10,
  ws: 12,
  quic: 20,
}

/**
 * Cost of a validated datagram link: below every stream link, so frames
 * that fit take it (docs/design.md §9: it wins for latency and under loss).
 */
export const DEFAULT_DATAGRAM_LINK_COST = 5

/** The datagram link's options (spec 13-datagram-link.md). */
export interface DatagramLinkOptions {
  /** UDP port to bind (default 0: any free port; it is offered to each neighbour). */
  port?: number
  /** Address to bind (default 0.0.0.0). */
  host?: string
  /** IPv4/IPv6 addresses to offer beside the one each neighbour sees on the stream link. */
  announce?: string[]
  /** Link cost of a validated path (default DEFAULT_DATAGRAM_LINK_COST). */
  cost?: number
  /**
   * Opens the UDP socket (default: node:dgram, one system call per
   * datagram). An application with a batched socket (recvmmsg/sendmmsg,
   * `@peertap/tap`'s `openUdp`) passes it here; the wire is the same.
   */
  socket?: DatagramSocketFactory
  /**
   * AES-256-GCM for the hop protection of each datagram (default:
   * node:crypto, a cipher object per datagram). An application with
   * primitives that keep a key's context (`@peertap/tap`'s `opensslAes()`)
   * passes them here; the wire is the same.
   */
  aes?: AesPrimitives
  /**
   * A native fast path's shared cells (docs/spec/18-fast-path.md): each
   * datagram link keeps its sending counter and receive window there, and
   * says when what it offers the fast path changes (`onFlowChange`).
   */
  cells?: SharedCells
  onFlowChange?: (link: DatagramLink) => void
  /** DATA the fast path carried on a link (DatagramLinkInit.fastActivity). */
  fastActivity?: (link: DatagramLink) => { sent: number; received: number } | undefined
}

export interface TrunkProtocolInit {
  /** Our role in HELLO (default 'node'). */
  role?: Role
  /**
   * Which neighbours are relays this node was configured to use (a PeerId
   * string in, true out). Only such a neighbour's HELLO role counts: the
   * address it observes for us becomes a reflexive datagram candidate
   * (spec 13 §4.1). A peer that merely claims the relay role plants nothing.
   * Default: none.
   */
  trustedRelays?: (peer: string) => boolean
  /**
   * Whether to set up a datagram link with this neighbour when its stream
   * link comes up (a PeerId string in): the offer tells the neighbour our
   * UDP port and addresses, reflexive ones included, which a daemon shows
   * only to peers it deals with (docs/spec/14-roles.md §14.2). A neighbour
   * admitted later gets one with `startDatagram`. Default: every neighbour.
   */
  datagramFor?: (peer: string) => boolean
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
  /**
   * Bytes all stream links together may hold to send, queued or unwritten
   * in their streams (spec 08-trunk.md §6.1). Default
   * DEFAULT_QUEUE_BUDGET_BYTES (256 MiB); 0 or Infinity: no shared budget.
   */
  queueBudgetBytes?: number
  /**
   * What each link up may always hold of the budget, whatever the others
   * hold (spec 08-trunk.md §6.1). Default: the budget over 1024 links
   * (256 KiB at the default budget; createTrunk: over its maxConnections);
   * keep links × reserve within the budget.
   */
  queueReserveBytes?: number
  /** The receiver every new link starts with. */
  receiver?: LinkReceiver
  /** Link cost per transport. */
  costs?: Partial<Record<TransportName, number>>
  /**
   * Set up a datagram link (UDP) beside each stream link whose neighbour can
   * (spec 13-datagram-link.md): true, or options. Default off. Advertises
   * CAP_DATAGRAM_LINK and, unless set, datagramMtu = DGRAM_SAFE_MTU in HELLO.
   */
  datagram?: boolean | DatagramLinkOptions
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
  /** The send budget shared by the stream links (spec 08-trunk.md §6.1). */
  sendBudget: SendBudgetCounters
  /** Inbound connections per source address: createTrunk's maxConnectionsPerAddress (spec 08-trunk.md §9). */
  inbound: InboundCounters
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
  readonly #datagramOptions: DatagramLinkOptions | undefined
  readonly #datagramLinks = new Map<string, DatagramLink>()
  readonly #observed = new WeakMap<StreamLink, string>()
  /** Where each stream link comes from, for per-source limits ({@link sourceOf}). */
  readonly #sources = new WeakMap<StreamLink, string>()
  /** Our IPv4 address as each peer's identify reported it (bounded, spec 13 §4.1). */
  readonly #observedBy = new Map<string, string>()
  #endpoint: DatagramEndpoint | undefined
  readonly #hello: {
    versionMin: number
    versionMax: number
    role: Role
    capabilities: number
    maxMessageSize: number
    datagramMtu: number
  }
  readonly #bounds: SendQueueBounds
  readonly #budget: SendBudget
  readonly #costs: Record<TransportName, number>
  readonly #localId: string
  readonly #localPeerIdBytes: Uint8Array
  readonly #trustedRelays: (peer: string) => boolean
  readonly #datagramFor: (peer: string) => boolean
  /** The last offer a neighbour sent before we set up its datagram link (one per stream link). */
  readonly #pendingOffers = new WeakMap<StreamLink, Uint8Array>()
  #receiver: LinkReceiver
  #started = false

  constructor(components: TrunkComponents, init: TrunkProtocolInit = {}) {
    super()
    this.#components = components
    this.#log = components.logger.forComponent('peertap:trunk')
    const maxMessageSize = init.maxMessageSize ?? MESSAGE_LENGTH_LIMIT
    if (maxMessageSize < MIN_ADVERTISED_MESSAGE_SIZE || maxMessageSize > MESSAGE_LENGTH_LIMIT) {
      throw new TrunkError(
        'invalid-option',
        `maxMessageSize must be ${MIN_ADVERTISED_MESSAGE_SIZE} to ${MESSAGE_LENGTH_LIMIT}`,
      )
    }
    this.#datagramOptions =
      init.datagram === true ? {} : init.datagram === false ? undefined : init.datagram
    const datagram = this.#datagramOptions !== undefined
    this.#hello = {
      versionMin: init.versionMin ?? PROTOCOL_VERSION_MIN,
      versionMax: init.versionMax ?? PROTOCOL_VERSION_MAX,
      role: init.role ?? 'node',
      capabilities: (init.capabilities ?? CAP_GSO_FRAMES) | (datagram ? CAP_DATAGRAM_LINK : 0),
      maxMessageSize,
      datagramMtu: init.datagramMtu ?? (datagram ? DGRAM_SAFE_MTU : 0),
    }
    this.#bounds = {
      maxFrames: init.queue?.maxFrames ?? DEFAULT_MAX_QUEUED_FRAMES,
      maxBytes: init.queue?.maxBytes ?? DEFAULT_MAX_QUEUED_BYTES,
      maxControlBytes: init.queue?.maxControlBytes ?? DEFAULT_MAX_QUEUED_CONTROL_BYTES,
    }
    const budget = init.queueBudgetBytes ?? DEFAULT_QUEUE_BUDGET_BYTES
    if (!(budget >= 0)) {
      throw new TrunkError('invalid-option', 'queueBudgetBytes must be 0 or more')
    }
    const reserve =
      init.queueReserveBytes ??
      (budget === DEFAULT_QUEUE_BUDGET_BYTES
        ? DEFAULT_QUEUE_RESERVE_BYTES
        : Math.floor(budget / 1024))
    if (!(reserve >= 0 && (budget === 0 || reserve <= budget))) {
      throw new TrunkError('invalid-option', 'queueReserveBytes must be 0 to queueBudgetBytes')
    }
    this.#budget = new SendBudget(budget, reserve)
    this.#costs = { ...DEFAULT_LINK_COSTS, ...init.costs }
    this.#receiver = init.receiver ?? {}
    this.#trustedRelays = init.trustedRelays ?? (() => false)
    this.#datagramFor = init.datagramFor ?? (() => true)
    this.#localId = components.peerId.toString()
    this.#localPeerIdBytes = components.peerId.toMultihash().bytes
    const closeReasons = {} as Record<CloseReason, number>
    for (const r of CLOSE_REASONS) closeReasons[r] = 0
    this.counters = {
      linksUp: 0,
      linksDown: 0,
      closeReasons,
      skewWarnings: 0,
      sendBudget: this.#budget.counters,
      inbound: newInboundCounters(),
    }
  }

  readonly [Symbol.toStringTag] = '@peertap/trunk'

  async start(): Promise<void> {
    if (this.#datagramOptions !== undefined) {
      const endpoint = new DatagramEndpoint(this.#datagramOptions.socket)
      await endpoint.bind(this.#datagramOptions.port ?? 0, this.#datagramOptions.host)
      this.#endpoint = endpoint
    }
    await this.#components.registrar.handle(
      TRUNK_PROTOCOL,
      (stream, connection) => {
        this.#accept(stream, connection, false)
      },
      // A neighbour reached through a relay's circuit is a control link (spec 08 §5.5).
      { maxInboundStreams: 4, maxOutboundStreams: 4, runOnLimitedConnection: true },
    )
    this.#started = true
  }

  async stop(): Promise<void> {
    this.#started = false
    await this.#components.registrar.unhandle(TRUNK_PROTOCOL)
    const all = [...this.#links.values(), ...this.#pending]
    await Promise.all(all.map((l) => l.close('stopped')))
    for (const d of this.#datagramLinks.values()) await d.close('stopped')
    this.#datagramLinks.clear()
    await this.#endpoint?.close()
    this.#endpoint = undefined
  }

  /** Opens a trunk link to a neighbour at `target` and resolves once HELLO is exchanged. */
  async connect(target: Multiaddr | PeerId, options: { signal?: AbortSignal } = {}): Promise<Link> {
    if (!this.#started) throw new TrunkError('not-started', 'the trunk is not started')
    let stream: Stream
    let connection: Connection
    try {
      connection = await this.#components.connectionManager.openConnection(target, options)
      stream = await connection.newStream(TRUNK_PROTOCOL, {
        ...options,
        runOnLimitedConnection: true,
      })
    } catch (err) {
      throw new TrunkError('link-failed', `cannot open a trunk stream to ${target.toString()}`, {
        cause: err,
      })
    }
    const link = this.#accept(stream, connection, true)
    await link.ready
    return this.#links.get(link.id) ?? link
  }

  /** The links that are up, one per neighbour: its datagram link when validated, else its stream link. */
  links(): Link[] {
    return [...this.#links.values()].map((l) => this.#preferred(l))
  }

  /**
   * The link to the neighbour with this PeerId string, if up: its datagram
   * link while that path is validated (it sends frames over the path MTU on
   * the stream link itself), else the stream link.
   */
  getLink(id: string): Link | undefined {
    const stream = this.#links.get(id)
    return stream === undefined ? undefined : this.#preferred(stream)
  }

  /**
   * Where the neighbour's link comes from, for limits per source (a door a
   * stranger may knock on, such as an invitation's join request): its IP
   * address as the connection shows it, or `via <relay PeerId>` for a link
   * through a relay's circuit (all of a relay's invitees share its limit).
   * Undefined when there is no link to `id`.
   */
  sourceOf(id: string): string | undefined {
    const stream = this.#links.get(id)
    return stream === undefined ? undefined : this.#sources.get(stream)
  }

  /** The neighbour's stream link, whatever the datagram path's state. */
  getStreamLink(id: string): Link | undefined {
    return this.#links.get(id)
  }

  /** The neighbour's datagram link, whatever its path's state (undefined if none was set up). */
  getDatagramLink(id: string): DatagramLink | undefined {
    return this.#datagramLinks.get(id)
  }

  /** Counters of the shared UDP socket, when the datagram link is on. */
  get datagramCounters(): EndpointCounters | undefined {
    return this.#endpoint?.counters
  }

  /** The UDP port datagram links are offered on (0 when off). */
  get datagramPort(): number {
    return this.#endpoint?.port ?? 0
  }

  /**
   * Notes our own address as a peer observed it (libp2p identify's
   * observedAddr). Addresses observed by configured relays we hold a direct
   * link to are our reflexive addresses: offered to every neighbour's datagram link, so
   * that a peer behind another NAT can punch through to ours (spec 13 §4.1).
   */
  noteObservedAddress(peer: string, ip: string): void {
    if (this.#observedBy.get(peer) === ip) return
    this.#observedBy.delete(peer)
    this.#observedBy.set(peer, ip)
    while (this.#observedBy.size > MAX_OBSERVERS) {
      this.#observedBy.delete(this.#observedBy.keys().next().value!)
    }
    const link = this.#links.get(peer)
    if (link !== undefined && this.#isRelayLink(link)) this.#reofferAll()
  }

  /** Our reflexive addresses: those configured relays with a direct link observed (at most 4). */
  reflexiveAddresses(): string[] {
    const out: string[] = []
    for (const [peer, ip] of this.#observedBy) {
      const link = this.#links.get(peer)
      if (link === undefined || !this.#isRelayLink(link) || out.includes(ip)) continue
      out.push(ip)
      if (out.length === MAX_REFLEXIVE) break
    }
    return out
  }

  #announce(): string[] {
    const out = [...(this.#datagramOptions?.announce ?? [])]
    for (const ip of this.reflexiveAddresses()) if (!out.includes(ip)) out.push(ip)
    return out.slice(0, MAX_OFFER_ADDRESSES)
  }

  /** A reflexive address changed: datagram links whose path is not up offer again with it. */
  #reofferAll(): void {
    const announce = this.#announce()
    for (const d of this.#datagramLinks.values()) if (d.state !== 'up') d.reoffer(announce)
  }

  /** A direct link to a configured relay whose HELLO says relay: its observations of our address count. */
  #isRelayLink(link: StreamLink): boolean {
    return (
      !link.relayed &&
      link.status === 'up' &&
      link.hello.remoteRole === 'relay' &&
      this.#trustedRelays(link.id)
    )
  }

  #preferred(stream: StreamLink): Link {
    const d = this.#datagramLinks.get(stream.id)
    return d !== undefined && d.stream === stream && d.status === 'up' ? d : stream
  }

  /** Sets the receiver for links that come up from now on. */
  setReceiver(receiver: LinkReceiver): void {
    this.#receiver = receiver
  }

  #accept(stream: Stream, connection: Connection, initiator: boolean): StreamLink {
    const remotePeer = connection.remotePeer
    const addr = connection.remoteAddr.toString()
    // Through a relay's circuit-relay-v2 connection: a control link (spec 08 §5.5).
    const relayed = addr.includes('/p2p-circuit')
    const transport: TransportName = addr.includes('/quic')
      ? 'quic'
      : addr.includes('/ws')
        ? 'ws'
        : 'tcp'
    const user = this.#receiver
    // CONTROL channel 4 (datagram-link offers) is the trunk's own (spec 13 §4).
    const receiver: LinkReceiver =
      this.#datagramOptions === undefined
        ? user
        : {
            ...user,
            onControl: (control, l) => {
              if (control.channel === CONTROL_DATAGRAM_OFFER) {
                const d = this.#datagramLinks.get(l.id)
                if (d !== undefined && d.stream === l) d.acceptOffer(decodeOffer(control.payload))
                // Not set up (yet): kept, the last one only, for startDatagram.
                else if (l instanceof StreamLink)
                  this.#pendingOffers.set(l, control.payload.slice())
                return
              }
              user.onControl?.(control, l)
            },
          }
    const link: StreamLink = new StreamLink({
      stream,
      remotePeer,
      initiator,
      hello: this.#hello,
      localPeerIdBytes: this.#localPeerIdBytes,
      bounds: this.#bounds,
      budget: this.#budget,
      receiver,
      cost: this.#costs[transport],
      relayed,
      log: this.#log,
      onUp: (l) => this.#onUp(l),
      onClose: (l, reason) => this.#onClose(l, reason),
    })
    // The neighbour's IP as this connection shows it: its first datagram candidate (spec 13 §4).
    // Not through a circuit: that address is the relay's.
    const ip = relayed ? undefined : /^\/ip[46]\/([^/]+)/.exec(addr)?.[1]
    if (ip !== undefined) this.#observed.set(link, ip)
    const relay = relayed ? /\/p2p\/([^/]+)\/p2p-circuit/.exec(addr)?.[1] : undefined
    this.#sources.set(link, relay !== undefined ? `via ${relay}` : (ip ?? addr))
    if (link.status === 'down') return link
    this.#pending.add(link)
    return link
  }

  #onUp(link: StreamLink): boolean {
    this.#pending.delete(link)
    if (link.hello.skewWarning) this.counters.skewWarnings++
    const existing = this.#links.get(link.id)
    if (existing !== undefined) {
      // One link per neighbour; both ends pick the same survivor (spec 08-trunk.md §5.3). A link
      // up for a while is taken to be dead (the neighbour roamed, or restarted): the new one wins.
      const opener = (l: StreamLink): string => (l.initiator ? this.#localId : l.id)
      const keepNew = keepsNewLink({
        olderUpForMs: existing.upForMs(),
        olderRelayed: existing.relayed,
        newerRelayed: link.relayed,
        olderOpener: opener(existing),
        newerOpener: opener(link),
        ends: [this.#localId, link.id],
      })
      if (!keepNew) {
        queueMicrotask(() => void link.close('replaced'))
        return false
      }
      this.#links.delete(link.id)
      void existing.close('replaced')
    }
    this.#links.set(link.id, link)
    if (this.#datagramFor(link.id)) this.#startDatagram(link)
    // Identify may have reported what this relay observes before its HELLO came.
    if (this.#isRelayLink(link) && this.#observedBy.has(link.id)) this.#reofferAll()
    this.counters.linksUp++
    this.safeDispatchEvent('link:up', { detail: link })
    return true
  }

  /**
   * Sets up the datagram link to a neighbour whose stream link is up, if it
   * has none yet and both ends can (the daemon admitted it after its link
   * came up, `datagramFor`); an offer it sent meanwhile is taken at once.
   * Returns whether a link was set up.
   */
  startDatagram(peer: string): boolean {
    const link = this.#links.get(peer)
    if (link === undefined || link.status !== 'up') return false
    if (this.#datagramLinks.get(peer)?.stream === link) return false
    this.#startDatagram(link)
    const d = this.#datagramLinks.get(peer)
    if (d === undefined) return false
    const pending = this.#pendingOffers.get(link)
    if (pending !== undefined) {
      this.#pendingOffers.delete(link)
      d.acceptOffer(decodeOffer(pending))
    }
    return true
  }

  /** Sets up the datagram link beside a stream link that just came up, if both ends can. */
  #startDatagram(link: StreamLink): void {
    const old = this.#datagramLinks.get(link.id)
    if (old !== undefined) this.#stopDatagram(old)
    const endpoint = this.#endpoint
    const options = this.#datagramOptions
    if (endpoint === undefined || options === undefined) return
    if ((link.hello.remoteCapabilities & CAP_DATAGRAM_LINK) === 0) return
    const observed = this.#observed.get(link)
    const d = new DatagramLink({
      stream: link,
      receiverIndex: endpoint.allocateIndex(),
      port: endpoint.port,
      announce: this.#announce(),
      ...(observed === undefined ? {} : { observedAddress: observed }),
      transport: endpoint,
      receiver: this.#receiver,
      cost: options.cost ?? DEFAULT_DATAGRAM_LINK_COST,
      ...(options.aes === undefined ? {} : { aes: options.aes }),
      ...(options.cells === undefined ? {} : { cells: options.cells }),
      ...(options.onFlowChange === undefined ? {} : { onFlowChange: options.onFlowChange }),
      ...(options.fastActivity === undefined ? {} : { fastActivity: options.fastActivity }),
      log: this.#log,
    })
    endpoint.register(d)
    this.#datagramLinks.set(link.id, d)
    d.sendOffer()
  }

  #stopDatagram(d: DatagramLink): void {
    this.#endpoint?.unregister(d)
    if (this.#datagramLinks.get(d.id) === d) this.#datagramLinks.delete(d.id)
    void d.close()
  }

  #onClose(link: StreamLink, reason: CloseReason): void {
    this.#pending.delete(link)
    this.counters.closeReasons[reason]++
    const d = this.#datagramLinks.get(link.id)
    if (d !== undefined && d.stream === link) this.#stopDatagram(d)
    if (this.#links.get(link.id) === link) {
      this.#links.delete(link.id)
      this.counters.linksDown++
      this.safeDispatchEvent('link:down', { detail: { link, reason } })
    }
  }
}

/**
 * A second link to a neighbour whose first has been up this long is a
 * reconnect, not a crossed dial, and replaces it (spec 08-trunk.md §5.3).
 */
export const LINK_RACE_MS = 3_000
/** Peers whose observation of our address we keep. */
const MAX_OBSERVERS = 64
/** Reflexive addresses we offer. */
const MAX_REFLEXIVE = 4
/** Addresses one offer carries (spec 13 §4). */
const MAX_OFFER_ADDRESSES = 8

/**
 * Which of two links to one neighbour survives (spec 08-trunk.md §5.3):
 * true for the newer. Both ends compute the same answer from what both
 * know (who opened each link, the two PeerIds), and from the older link's
 * age, which only a crossed dial (both fresh) leaves to the other rules.
 */
export function keepsNewLink(p: {
  olderUpForMs: number
  /** Through a relay's circuit: a circuit never replaces a direct link on age alone. */
  olderRelayed?: boolean
  newerRelayed?: boolean
  olderOpener: string
  newerOpener: string
  ends: readonly [string, string]
}): boolean {
  const aged =
    p.olderUpForMs >= LINK_RACE_MS && !(p.newerRelayed === true && p.olderRelayed !== true)
  return aged || p.olderOpener === p.newerOpener || p.newerOpener === lowerOf(p.ends[0], p.ends[1])
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
