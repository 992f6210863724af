/**
 * The libp2p node of a PeerTap daemon: an Ed25519 identity from the state
 * directory, TCP with Noise and Yamux, QUIC, WebSocket, identify, and the
 * trunk service. Nothing else runs: no DHT, no AutoNAT, no connection
 * monitor (the trunk's own PING keepalive watches its links). Circuit relay
 * v2: every node can dial `…/p2p/R/p2p-circuit/p2p/B` and reserve a slot at
 * a relay by listening on `…/p2p/R/p2p-circuit`; a relay runs the server
 * with bounded reservations and limits, for the peers it admits (spec 08-trunk.md §5.5).
 * Inbound connections are capped per source address before the Noise
 * handshake, and libp2p's connection limits are set explicitly (spec §9).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { quic } from '@chainsafe/libp2p-quic'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type {
  ConnectionGater,
  IdentifyResult,
  Libp2p,
  PeerId,
  PrivateKey,
  Startable,
} from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import { AddressCap } from './address-cap.ts'
import {
  DEFAULT_INBOUND_CONNECTION_THRESHOLD,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS,
  DEFAULT_QUEUE_BUDGET_BYTES,
} from './constants.ts'
import type { DatagramLink } from './datagram-link.ts'
import { TrunkError } from './errors.ts'
import { loadOrCreateIdentity } from './identity.ts'
import type { Link, LinkReceiver } from './link.ts'
import { cachedKeyNoiseCrypto } from './noise-crypto.ts'
import {
  type TransportName,
  type TrunkEvents,
  type TrunkProtocol,
  type TrunkProtocolInit,
  trunkProtocol,
} from './trunk.ts'

export interface TrunkInit extends TrunkProtocolInit {
  /** Directory holding `identity.key`; created on first start. One of stateDir or privateKey. */
  stateDir?: string
  /** An Ed25519 private key to use instead of a state directory. */
  privateKey?: PrivateKey
  /** Multiaddrs to listen on, e.g. '/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/udp/4001/quic-v1', '/ip4/0.0.0.0/tcp/4002/ws'. */
  listen?: string[]
  /** Transports to enable (default all three). */
  transports?: TransportName[]
  /**
   * Noise backend: 'cached-keys' (default) caches node:crypto KeyObjects
   * (noise-crypto.ts); 'default' is js-libp2p-noise's own.
   */
  noiseCrypto?: 'cached-keys' | 'default'
  /**
   * Run the circuit-relay-v2 server (relays only): peers may reserve a slot
   * here and reach each other through it, within these bounds (spec 08-trunk.md §5.5).
   */
  circuitRelayServer?: CircuitRelayServerOptions
  /**
   * Most inbound connections at once from one source address: an IPv4
   * address, or an IPv6 /64 (spec 08-trunk.md §9). Counted from acceptance,
   * handshake included, until close; one more is refused before its Noise
   * handshake. Connections through a relay's circuit are not counted.
   * Default DEFAULT_MAX_CONNECTIONS_PER_ADDRESS (32); 0 or Infinity: no cap.
   */
  maxConnectionsPerAddress?: number
  /**
   * libp2p's `connectionManager.maxConnections`: inbound connections past
   * it are refused, and libp2p prunes open ones down to it. Default
   * DEFAULT_MAX_CONNECTIONS (1024; libp2p's own is 300). Without
   * `queueReserveBytes`, each link's reserve is the send budget over this.
   */
  maxConnections?: number
  /**
   * libp2p's `maxIncomingPendingConnections`: inbound handshakes in
   * progress at once, from all addresses. Default
   * DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS (128; libp2p's own is 10).
   */
  maxIncomingPendingConnections?: number
  /**
   * libp2p's `inboundConnectionThreshold`: connections accepted per second
   * from one IP address (not /64), the rest refused. Default
   * DEFAULT_INBOUND_CONNECTION_THRESHOLD (5, libp2p's own).
   */
  inboundConnectionThreshold?: number
}

/** Bounds of the circuit-relay-v2 server; `admits` decides who may use it at all. */
export interface CircuitRelayServerOptions {
  /** Whether a peer may reserve a slot and open or accept circuits (both ends must be admitted). */
  admits: (peer: string) => boolean
  /**
   * Whether a circuit from `source` to `target` (which holds a reservation)
   * may open, asked for each HOP CONNECT in place of `admits` of both ends:
   * a relay honouring tickets lets a stranger through to a ticket's owner
   * (spec 12-relay.md §12.8.2).
   */
  allowsCircuit?: (source: string, target: string) => boolean
  /** Reservations held at once (default 64). */
  maxReservations?: number
  /** How long a reservation lasts before the peer must renew it, ms (default 1 h). */
  reservationTtlMs?: number
  /** How long one relayed connection may stay open, ms (default 1 h). */
  durationLimitMs?: number
  /** Bytes one relayed connection may carry before the relay resets it (default 1 MiB). */
  dataLimitBytes?: number
}

/** Defaults of CircuitRelayServerOptions. */
export const CIRCUIT_DEFAULTS = {
  maxReservations: 64,
  reservationTtlMs: 3_600_000,
  durationLimitMs: 3_600_000,
  dataLimitBytes: 1 << 20,
} as const

export interface TrunkServices extends Record<string, unknown> {
  identify: unknown
  trunk: TrunkProtocol
}

/** How often missing reservations at relays are tried again. */
const RESERVE_RETRY_MS = 2_000

/** A reservation this node keeps at a relay (a `…/p2p/R/p2p-circuit` listen address). */
export interface RelayReservationState {
  /** The listen address, `…/p2p/R/p2p-circuit`. */
  address: string
  /** The relay's PeerId. */
  relay: string
  /** Whether the relay holds our reservation now. */
  reserved: boolean
  /** Reservations made (the first, and again after the relay or its connection was lost). */
  made: number
  /** Attempts that failed (relay unreachable, or it refused us). */
  failures: number
}

/** The parts of libp2p's internal transport manager the reservations use. */
interface TransportManagerLike {
  listen(addrs: Multiaddr[]): Promise<void>
  getListeners(): CircuitListenerLike[]
}

/** What a circuit-relay-v2 listener (4.2.8) holds that matters here. */
interface CircuitListenerLike {
  getAddrs(): Multiaddr[]
  dispatchEvent(event: Event): boolean
  reservationStore?: { removeEventListener(type: string, listener: unknown): void }
  _onRemoveRelayPeer?: unknown
}

/**
 * Drops circuit listeners that hold no reservation (a failed or lost one)
 * from libp2p's transport manager. Their own close() would cancel every
 * reservation in the shared store, those at other relays too; this does the
 * rest of what close() does: it unhooks the listener from the store and
 * emits 'close', on which the transport manager forgets it. Without it each
 * retry would leave one listener behind.
 */
function dropIdleCircuitListeners(tm: TransportManagerLike): void {
  for (const l of tm.getListeners()) {
    if (l._onRemoveRelayPeer === undefined || l.getAddrs().length > 0) continue
    l.reservationStore?.removeEventListener('relay:removed', l._onRemoveRelayPeer)
    l.dispatchEvent(new Event('close'))
  }
}

/** A PeerTap trunk node: start it, dial neighbours, hold their links. */
export class Trunk implements Startable {
  /** The libp2p node underneath, for later layers (circuit relay, DCUtR). */
  readonly libp2p: Libp2p<TrunkServices>
  /** The trunk service: links, counters, `link:up` / `link:down` events. */
  readonly protocol: TrunkProtocol
  readonly #reservations: RelayReservationState[]
  #reserveTimer: ReturnType<typeof setInterval> | undefined
  #reserving = false

  constructor(libp2p: Libp2p<TrunkServices>, circuitListen: readonly string[] = []) {
    this.libp2p = libp2p
    this.protocol = libp2p.services.trunk
    this.#reservations = circuitListen.map((address) => ({
      address,
      relay: address.slice(address.lastIndexOf('/p2p/') + 5, address.lastIndexOf('/p2p-circuit')),
      reserved: false,
      made: 0,
      failures: 0,
    }))
  }

  get peerId(): PeerId {
    return this.libp2p.peerId
  }

  async start(): Promise<void> {
    await this.libp2p.start()
    if (this.#reservations.length > 0) {
      await this.#reserve()
      this.#reserveTimer = setInterval(() => void this.#reserve(), RESERVE_RETRY_MS)
      this.#reserveTimer.unref?.()
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#reserveTimer)
    this.#reserveTimer = undefined
    await this.libp2p.stop()
  }

  /** The reservations this node keeps at relays (its `/p2p-circuit` listen addresses). */
  reservations(): RelayReservationState[] {
    return this.#reservations.map((r) => ({ ...r }))
  }

  /**
   * Makes every missing reservation (spec 08 §5.5). libp2p makes a
   * configured reservation once, when it starts listening, and drops it for
   * good when the relay's connection closes; the node keeps them instead:
   * a listen address whose relay does not hold us is listened on again.
   */
  async #reserve(): Promise<void> {
    if (this.#reserving) return
    this.#reserving = true
    try {
      const tm = (
        this.libp2p as unknown as { components?: { transportManager?: TransportManagerLike } }
      ).components?.transportManager
      if (tm === undefined) throw new TrunkError('invalid-option', 'no libp2p transport manager')
      for (const r of this.#reservations) {
        const marker = `/p2p/${r.relay}/p2p-circuit`
        r.reserved = this.libp2p.getMultiaddrs().some((m) => m.toString().includes(marker))
        if (r.reserved || this.libp2p.status !== 'started') continue
        try {
          await tm.listen([multiaddr(r.address)])
          r.made++
          r.reserved = true
        } catch {
          r.failures++
          dropIdleCircuitListeners(tm)
        }
      }
    } finally {
      this.#reserving = false
    }
  }

  /** The addresses we listen on, with our /p2p/ PeerId. */
  getMultiaddrs(): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  /** Dials a neighbour by multiaddr (with /p2p/PeerId for authentication) and opens a trunk link. */
  async dial(address: string | Multiaddr, options: { signal?: AbortSignal } = {}): Promise<Link> {
    let ma: Multiaddr
    try {
      ma = typeof address === 'string' ? multiaddr(address) : address
    } catch (err) {
      throw new TrunkError('invalid-option', `not a multiaddr: ${String(address)}`, {
        cause: err,
      })
    }
    return this.protocol.connect(ma, options)
  }

  links(): Link[] {
    return this.protocol.links()
  }

  /**
   * Closes every direct (not circuit) libp2p connection, and with them
   * their links: for a node whose underlay address changed (it roamed),
   * whose connections from the old address are dead but would be reused by
   * a dial until their idle timeout. Circuits ride on a relay's connection
   * and close with it. Returns how many were closed.
   */
  dropDirectConnections(reason: string): number {
    let closed = 0
    for (const connection of this.libp2p.getConnections()) {
      if (connection.remoteAddr.toString().includes('/p2p-circuit')) continue
      connection.abort(new TrunkError('link-down', reason))
      closed++
    }
    return closed
  }

  getLink(id: string): Link | undefined {
    return this.protocol.getLink(id)
  }

  /** The neighbour's datagram link, whatever its path's state (spec 13-datagram-link.md). */
  getDatagramLink(id: string): DatagramLink | undefined {
    return this.protocol.getDatagramLink(id)
  }

  setReceiver(receiver: LinkReceiver): void {
    this.protocol.setReceiver(receiver)
  }

  addEventListener<K extends keyof TrunkEvents>(
    type: K,
    listener: (evt: TrunkEvents[K]) => void,
  ): void {
    this.protocol.addEventListener(type, listener)
  }

  removeEventListener<K extends keyof TrunkEvents>(
    type: K,
    listener: (evt: TrunkEvents[K]) => void,
  ): void {
    this.protocol.removeEventListener(type, listener)
  }
}

/** Creates (but does not start) a trunk node. */
export async function createTrunk(init: TrunkInit): Promise<Trunk> {
  const privateKey =
    init.privateKey ??
    (init.stateDir !== undefined ? await loadOrCreateIdentity(init.stateDir) : undefined)
  if (privateKey === undefined) {
    throw new TrunkError('invalid-option', 'createTrunk needs a stateDir or a privateKey')
  }
  if (privateKey.type !== 'Ed25519') {
    throw new TrunkError(
      'identity-key-type',
      `the identity must be Ed25519, not ${privateKey.type}`,
    )
  }
  const names = init.transports ?? ['tcp', 'quic', 'ws']
  if (names.length === 0 || names.some((n) => !['tcp', 'quic', 'ws'].includes(n))) {
    throw new TrunkError('invalid-option', `transports must be some of tcp, quic, ws`)
  }
  // Circuit relay v2 for dialling and reserving through relays (spec 08 §5.5).
  const transports: NonNullable<Libp2pOptions['transports']> = [circuitRelayTransport()]
  if (names.includes('tcp')) transports.push(tcp())
  if (names.includes('quic')) transports.push(quic())
  if (names.includes('ws')) transports.push(webSockets())
  for (const a of init.listen ?? []) {
    try {
      multiaddr(a)
    } catch (err) {
      throw new TrunkError('invalid-option', `listen address is not a multiaddr: ${a}`, {
        cause: err,
      })
    }
  }
  const crypto = init.noiseCrypto === 'default' ? {} : { crypto: cachedKeyNoiseCrypto }
  const maxConnections = init.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  const perAddress = init.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS
  const pending = init.maxIncomingPendingConnections ?? DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS
  const perSecond = init.inboundConnectionThreshold ?? DEFAULT_INBOUND_CONNECTION_THRESHOLD
  if (!(maxConnections >= 1 && pending >= 1 && perSecond >= 1 && perAddress >= 0)) {
    throw new TrunkError(
      'invalid-option',
      'maxConnections, maxIncomingPendingConnections and inboundConnectionThreshold must be 1 or more, maxConnectionsPerAddress 0 or more',
    )
  }
  const budget = init.queueBudgetBytes ?? DEFAULT_QUEUE_BUDGET_BYTES
  const queueReserveBytes =
    init.queueReserveBytes ??
    (budget > 0 && Number.isFinite(budget) && Number.isFinite(maxConnections)
      ? Math.floor(budget / maxConnections)
      : undefined)
  const server = init.circuitRelayServer
  // Set once the trunk exists; libp2p asks the gater only after start.
  let cap: AddressCap | undefined
  const connectionGater: ConnectionGater = {
    // Before the Noise handshake for TCP and WebSocket (libp2p's upgrader), after QUIC's own.
    denyInboundConnection: (maConn) => cap !== undefined && !cap.admit(maConn),
  }
  const services: Record<string, unknown> = {}
  if (server !== undefined) {
    connectionGater.denyInboundRelayReservation = (peer) => !server.admits(peer.toString())
    const allowsCircuit =
      server.allowsCircuit ?? ((source, target) => server.admits(source) && server.admits(target))
    connectionGater.denyOutboundRelayedConnection = (source, target) =>
      !allowsCircuit(source.toString(), target.toString())
    services.circuitRelay = circuitRelayServer({
      reservations: {
        maxReservations: server.maxReservations ?? CIRCUIT_DEFAULTS.maxReservations,
        reservationTtl: server.reservationTtlMs ?? CIRCUIT_DEFAULTS.reservationTtlMs,
        applyDefaultLimit: true,
        defaultDurationLimit: server.durationLimitMs ?? CIRCUIT_DEFAULTS.durationLimitMs,
        defaultDataLimit: BigInt(server.dataLimitBytes ?? CIRCUIT_DEFAULTS.dataLimitBytes),
      },
    })
  }
  // `…/p2p/R/p2p-circuit`: a reservation at relay R, which the Trunk keeps itself.
  const circuitListen = (init.listen ?? []).filter((a) => a.endsWith('/p2p-circuit'))
  const libp2p = await createLibp2p({
    start: false,
    privateKey,
    addresses: { listen: (init.listen ?? []).filter((a) => !circuitListen.includes(a)) },
    transports,
    connectionEncrypters: [noise(crypto)],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    connectionManager: {
      maxConnections,
      maxIncomingPendingConnections: pending,
      inboundConnectionThreshold: perSecond,
    },
    connectionGater,
    services: {
      ...services,
      identify: identify(),
      trunk: trunkProtocol(queueReserveBytes === undefined ? init : { ...init, queueReserveBytes }),
    },
  })
  const trunk = new Trunk(libp2p as unknown as Libp2p<TrunkServices>, circuitListen)
  cap = new AddressCap(perAddress, trunk.protocol.counters.inbound)
  // What peers observe of our address (not through a circuit): reflexive candidates (spec 13 §4.1).
  libp2p.addEventListener('peer:identify', (event: CustomEvent<IdentifyResult>) => {
    const { observedAddr, connection, peerId } = event.detail
    if (observedAddr === undefined || connection.remoteAddr.toString().includes('/p2p-circuit'))
      return
    const ip = /^\/ip4\/([^/]+)/.exec(observedAddr.toString())?.[1]
    if (ip !== undefined) trunk.protocol.noteObservedAddress(peerId.toString(), ip)
  })
  return trunk
}
