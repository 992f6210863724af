/**
 * The libp2p node of a PeerTap daemon: an Ed25519 identity from the state
 * directory, TCP with Noise and Yamux, QUIC, WebSocket, identify, and the
 * trunk service. Nothing else runs: no DHT, no AutoNAT, no connection
 * monitor (the trunk's own PING keepalive watches its links); circuit relay
 * and DCUtR come with a later issue.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { quic } from '@chainsafe/libp2p-quic'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Libp2p, PeerId, PrivateKey, Startable } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
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
}

export interface TrunkServices extends Record<string, unknown> {
  identify: unknown
  trunk: TrunkProtocol
}

/** A PeerTap trunk node: start it, dial neighbours, hold their links. */
export class Trunk implements Startable {
  /** The libp2p node underneath, for later layers (circuit relay, DCUtR). */
  readonly libp2p: Libp2p<TrunkServices>
  /** The trunk service: links, counters, `link:up` / `link:down` events. */
  readonly protocol: TrunkProtocol

  constructor(libp2p: Libp2p<TrunkServices>) {
    this.libp2p = libp2p
    this.protocol = libp2p.services.trunk
  }

  get peerId(): PeerId {
    return this.libp2p.peerId
  }

  async start(): Promise<void> {
    await this.libp2p.start()
  }

  async stop(): Promise<void> {
    await this.libp2p.stop()
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
      throw new TrunkError('ERR_INVALID_OPTION', `not a multiaddr: ${String(address)}`, {
        cause: err,
      })
    }
    return this.protocol.connect(ma, options)
  }

  links(): Link[] {
    return this.protocol.links()
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
    throw new TrunkError('ERR_INVALID_OPTION', 'createTrunk needs a stateDir or a privateKey')
  }
  if (privateKey.type !== 'Ed25519') {
    throw new TrunkError(
      'ERR_IDENTITY_KEY_TYPE',
      `the identity must be Ed25519, not ${privateKey.type}`,
    )
  }
  const names = init.transports ?? ['tcp', 'quic', 'ws']
  if (names.length === 0 || names.some((n) => !['tcp', 'quic', 'ws'].includes(n))) {
    throw new TrunkError('ERR_INVALID_OPTION', `transports must be some of tcp, quic, ws`)
  }
  const transports = []
  if (names.includes('tcp')) transports.push(tcp())
  if (names.includes('quic')) transports.push(quic())
  if (names.includes('ws')) transports.push(webSockets())
  for (const a of init.listen ?? []) {
    try {
      multiaddr(a)
    } catch (err) {
      throw new TrunkError('ERR_INVALID_OPTION', `listen address is not a multiaddr: ${a}`, {
        cause: err,
      })
    }
  }
  const crypto = init.noiseCrypto === 'default' ? {} : { crypto: cachedKeyNoiseCrypto }
  const libp2p = await createLibp2p({
    start: false,
    privateKey,
    addresses: { listen: init.listen ?? [] },
    transports,
    connectionEncrypters: [noise(crypto)],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      trunk: trunkProtocol(init),
    },
  })
  return new Trunk(libp2p as unknown as Libp2p<TrunkServices>)
}
