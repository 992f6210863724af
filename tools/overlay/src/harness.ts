/**
 * A PeerTap overlay in network namespaces: the topology, one real
 * `peertap up` process per host, each with a TAP device on the overlay.
 * Shared by the demo (`npm start`), the end-to-end tests (test/) and the
 * benchmark (tools/bench), so that all three exercise exactly the same
 * thing.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ReceiveCounters } from '@peertap/crypto'
import type { AesKind } from '@peertap/daemon'
import type { TableCounters } from '@peertap/relay'
import type { VlanCounters } from '@peertap/switch'
import { Topology } from '@peertap/tool-netns'
import { apiGet } from './api.ts'
import { cliArgv } from './cli-argv.ts'
import { keygen } from './identity.ts'
import type { RelayHost } from './relay-harness.ts'

export type Transport = 'tcp' | 'quic' | 'ws'

export interface OverlayOptions {
  readonly hosts?: readonly string[]
  readonly transport?: Transport
  /** Per-host VLAN secret override (hex); default: one shared random secret. */
  readonly secrets?: Readonly<Record<string, string>>
  /** Extra arguments for `peertap up`, e.g. ['--trace']. */
  readonly upArgs?: readonly string[]
  /**
   * Config `fastPath` for every node (default: the node's, on;
   * docs/spec/18-fast-path.md): false sends every frame through the switch.
   */
  readonly fastPath?: boolean
  /** Config `subscriptionTtlSeconds` per host (default: the node's, 180). */
  readonly subscriptionTtlSeconds?: Readonly<Record<string, number>>
  /** The TAP MTU; default the node's own (@peertap/node's `DEFAULT_PORT_MTU`). */
  readonly mtu?: number
  /**
   * TAP offloads (the port's `offload`): one value for every node, or per
   * host (hosts not named keep the default, on), to mix nodes with and
   * without them.
   */
  readonly offload?: boolean | Readonly<Record<string, boolean>>
  /**
   * The datagram link (UDP beside the stream link, spec 13) in every node's
   * config; default off here, so that the transports' stream links carry
   * the frames they are tested and measured with.
   */
  readonly datagram?: boolean
  /** The datagram link's UDP socket (config `datagram.socket`; default auto: batched when built). */
  readonly datagramSocket?: 'auto' | 'batched' | 'dgram'
  /** UDP GSO on the batched socket (config `datagram.gso`; default on). */
  readonly datagramGso?: boolean
  /**
   * The nodes' `aes` (the data path's AES implementation): one value for
   * every node, or per host (hosts not named keep the default, auto), to
   * mix nodes on the tap addon with nodes on node:crypto.
   */
  readonly aes?: AesKind | Readonly<Record<string, AesKind>>
  /**
   * Called with the underlay once it is built, before any node or relay
   * starts (e.g. tools/bench's delay line), so that the trunks' connections
   * are made on the path as it will be measured.
   */
  readonly underlay?: (topo: Topology) => Promise<void>
  /**
   * More peers a node's config names (multiaddrs ending in /p2p/<PeerId>),
   * e.g. a test's own trunk peer: a node deals only with the peers its
   * config names and with proven members (docs/spec/14-roles.md §14.2).
   */
  readonly extraPeers?: (host: string, topo: Topology) => readonly string[]
  /** The nodes' `datagram.largeGso` (10-switch.md §10.7); default the node's. */
  readonly largeGso?: 'segment' | 'fragment' | 'stream'
  /**
   * Nodes reach each other only through this relay: its host is added as
   * the hub of an isolated topology (spokes reach only the hub, as NAT'd
   * peers would), it starts first, and every node dials it alone.
   */
  readonly relay?: RelayHost
  /**
   * Several relays instead (a chain): each dials the ones before it, and
   * node i dials relay i mod n alone, so A reaches B only across relays.
   */
  readonly relays?: readonly RelayHost[]
  /**
   * More hosts in the topology that run no node, for a test's own
   * processes (`topo.spawn`), e.g. the relay load test's swarms. With a
   * relay they are spokes as the nodes are, reaching only the relay.
   */
  readonly extraHosts?: readonly string[]
  /**
   * With `nat`: the extra hosts sit behind NATs of their own too, as the
   * nodes do (e.g. an invitee behind a NAT that no relay admits).
   */
  readonly extraBehindNat?: boolean
  /**
   * With `relay`: every node sits behind a NAT of its own (tools/netns
   * `nat`) instead of on an isolated bridge port, reserves a slot at the
   * relay (a `…/p2p-circuit` listen address) and dials every node before
   * it through the relay's circuit (a control link, spec 08 §5.5). A list
   * of hosts instead of `true`: only those sit behind NATs; the other nodes
   * are public, on the underlay's bridge as the relay is, and dial the same
   * way.
   */
  readonly nat?: boolean | readonly string[]
  /**
   * A node's status API port (config `status.port`), asked per host when
   * its config is written (after `underlay`), e.g. the port a forwarder
   * (forward.ts) got on the host's loopback, which must be the node's own
   * for the page's Host check; undefined keeps the node's default (7480).
   */
  readonly statusPort?: (host: string) => number | undefined
  /**
   * Aborts the start (e.g. on Ctrl-C): checked between its steps and while
   * it waits for the nodes; whatever was built is removed and `start` rejects.
   */
  readonly signal?: AbortSignal
  /**
   * The VLAN is an MLS VLAN instead of a PSK one: `owner` (a host) owns it
   * and admits the `admitted` hosts (default: all others); every other
   * host's config names the VLAN and its owner, so it sends key packages.
   * `proposers` (hosts) go into the owner's config; `admins` (hosts) into
   * every host's config.
   */
  readonly mls?: {
    readonly owner: string
    readonly admitted?: readonly string[]
    readonly proposers?: readonly string[]
    readonly admins?: readonly string[]
  }
  /**
   * More of a node's VLAN port config, asked per host when its config is
   * written, merged over the harness's TAP port (`device`, `mac`, `mtu`,
   * `addresses`, `offload`), e.g. `{ type: 'tun', mac: undefined }` for a
   * TUN port with its derived MAC: a field given as undefined drops the
   * harness's value. Undefined keeps the TAP port. The node's `mac` and
   * addresses in `nodes` stay the harness's; read a port's MAC from the
   * node's status where it differs.
   */
  readonly port?: (host: string) => Partial<PortConfig> | undefined
}

/**
 * The fields of a node's VLAN port config (the config's `vlans[].port`)
 * that the harness writes or a test may set through `port`.
 */
export interface PortConfig {
  readonly type: 'tap' | 'tun' | 'auto'
  readonly device: string
  readonly mac: string | undefined
  readonly mtu: number
  readonly addresses: readonly string[]
  readonly offload: boolean
  /** TUN: run a DHCPv4 client over the VLAN. */
  readonly dhcp: boolean
  /** TUN: the routers for off-link destinations (at most one IPv4 and one IPv6 address). */
  readonly gateway: readonly string[]
  /** TUN: addresses from router advertisements' prefixes (default on). */
  readonly slaac: boolean
}

export interface OverlayNode {
  readonly host: string
  readonly stateDir: string
  readonly peerId: string
  readonly mac: string
  readonly ip: string
  readonly ip6: string
  /** Output of the node process, for diagnosis. */
  readonly log: string[]
  /** PID of the `peertap up` process (ip netns exec execs it in place). */
  pid: number
}

/** The argv of the `peertap` CLI (@peertap/node's `./cli` export; see cli-argv.ts). */
export const NODE_ARGV = cliArgv('@peertap/node/cli')
export const TAP = 'pt0'

const PORT: Record<Transport, string> = {
  tcp: '/tcp/7400',
  quic: '/udp/7400/quic-v1',
  ws: '/tcp/7401/ws',
}

export class Overlay {
  readonly topo: Topology
  readonly nodes: OverlayNode[]
  readonly transport: Transport
  /** The relay every node dials (the first, with several), when the overlay has one. */
  relay: RelayHost | undefined = undefined
  readonly #dir: string
  readonly #children = new Map<string, ChildProcess>()
  /** Hosts whose node runs with no config (`startBare`). */
  readonly #bare = new Set<string>()
  #upArgs: readonly string[] = []

  private constructor(topo: Topology, nodes: OverlayNode[], transport: Transport, dir: string) {
    this.topo = topo
    this.nodes = nodes
    this.transport = transport
    this.#dir = dir
  }

  static async start(options: OverlayOptions = {}): Promise<Overlay> {
    const hosts = options.hosts ?? ['a', 'b']
    const transport = options.transport ?? 'tcp'
    const relays = options.relays ?? (options.relay === undefined ? [] : [options.relay])
    const relayHosts = relays.map((r) => r.host)
    const nat = (options.nat ?? false) !== false && relays.length === 1
    const natHosts = typeof options.nat === 'object' ? options.nat : hosts
    // Extra hosts come last, so the nodes' and relays' underlay addresses stay as they were.
    const extra = options.extraHosts ?? []
    const topo = await Topology.create(
      relays.length === 0
        ? { hosts: [...hosts, ...extra] }
        : nat
          ? {
              hosts: [...hosts, ...relayHosts, ...extra],
              nat: options.extraBehindNat === true ? [...natHosts, ...extra] : natHosts,
            }
          : { hosts: [...hosts, ...relayHosts, ...extra], isolated: true, hubs: relayHosts },
    )
    const dir = await mkdtemp(join(tmpdir(), 'peertap-overlay-'))
    const overlay = new Overlay(topo, [], transport, dir)
    overlay.relay = relays[0]
    try {
      options.signal?.throwIfAborted()
      await options.underlay?.(topo)
      const secret = randomBytes(32).toString('hex')
      overlay.#upArgs = options.upArgs ?? []
      const peerIds = await Promise.all(hosts.map((host) => keygen(join(dir, host))))
      for (const [i, host] of hosts.entries()) {
        overlay.nodes.push({
          host,
          stateDir: join(dir, host),
          peerId: peerIds[i]!,
          mac: `02:00:5e:00:00:${(i + 1).toString(16).padStart(2, '0')}`,
          ip: `198.19.0.${i + 1}`,
          ip6: `fd00:5055::${i + 1}`,
          log: [],
          pid: 0,
        })
      }
      // Relays are closed by default: each admits the overlay's nodes by PeerId.
      await Promise.all(relays.map((relay) => relay.keygen(topo, dir)))
      for (const [i, relay] of relays.entries()) {
        const before = relays.slice(0, i).map((r) => r.address(PORT[transport]))
        const others = relays.filter((r) => r !== relay).map((r) => r.peerId)
        const nodes = overlay.nodes.map((n) => n.peerId)
        await relay.start(topo, dir, [`/ip4/0.0.0.0${PORT[transport]}`], before, others, nodes)
      }
      for (const [i, node] of overlay.nodes.entries()) {
        // Each node dials the ones before it, so every pair has one connection.
        const circuit = nat ? `${relays[0]!.address(PORT[transport])}/p2p-circuit` : undefined
        const peers =
          circuit !== undefined
            ? [
                relays[0]!.address(PORT[transport]),
                ...overlay.nodes.slice(0, i).map((p) => `${circuit}/p2p/${p.peerId}`),
              ]
            : relays.length > 0
              ? [relays[i % relays.length]!.address(PORT[transport])]
              : overlay.nodes
                  .slice(0, i)
                  .map((p) => `/ip4/${topo.address(p.host)}${PORT[transport]}/p2p/${p.peerId}`)
        const mls = options.mls
        const owner = mls === undefined ? undefined : overlay.node(mls.owner)
        const admins =
          mls?.admins === undefined ? {} : { admins: mls.admins.map((h) => overlay.node(h).peerId) }
        const proposers =
          mls?.proposers === undefined
            ? {}
            : { proposers: mls.proposers.map((h) => overlay.node(h).peerId) }
        const keys =
          mls === undefined || owner === undefined
            ? { secret: options.secrets?.[node.host] ?? secret }
            : owner === node
              ? {
                  mls: {
                    owner: 'self',
                    members: overlay.nodes
                      .filter((n) => n !== node && (mls.admitted ?? [n.host]).includes(n.host))
                      .map((n) => n.peerId),
                    ...proposers,
                    ...admins,
                  },
                }
              : { mls: { owner: owner.peerId, ...admins } }
        const statusPort = options.statusPort?.(node.host)
        const config = {
          stateDir: node.stateDir,
          listen: [`/ip4/0.0.0.0${PORT[transport]}`, ...(circuit === undefined ? [] : [circuit])],
          peers: [...peers, ...(options.extraPeers?.(node.host, topo) ?? [])],
          ...(typeof options.aes === 'string'
            ? { aes: options.aes }
            : options.aes?.[node.host] === undefined
              ? {}
              : { aes: options.aes[node.host] }),
          ...(statusPort === undefined ? {} : { status: { port: statusPort } }),
          ...(options.fastPath === undefined ? {} : { fastPath: options.fastPath }),
          ...(options.subscriptionTtlSeconds?.[node.host] === undefined
            ? {}
            : { subscriptionTtlSeconds: options.subscriptionTtlSeconds[node.host] }),
          datagram: {
            enabled: options.datagram ?? false,
            ...(options.datagramSocket === undefined ? {} : { socket: options.datagramSocket }),
            ...(options.datagramGso === undefined ? {} : { gso: options.datagramGso }),
            ...(options.largeGso === undefined ? {} : { largeGso: options.largeGso }),
          },
          vlans: [
            {
              name: 'demo',
              ...keys,
              port: {
                type: 'tap',
                device: TAP,
                mac: node.mac,
                ...(options.mtu === undefined ? {} : { mtu: options.mtu }),
                addresses: [`${node.ip}/24`, `${node.ip6}/64`],
                offload:
                  typeof options.offload === 'object'
                    ? (options.offload[node.host] ?? true)
                    : (options.offload ?? true),
                ...options.port?.(node.host),
              },
            },
          ],
        }
        await writeFile(join(dir, `${node.host}.json`), JSON.stringify(config, null, 2))
        options.signal?.throwIfAborted()
        overlay.#spawn(node)
      }
      await overlay.waitReady(20_000, options.signal)
    } catch (error) {
      await overlay.stop()
      throw error
    }
    return overlay
  }

  /**
   * Starts a node with no config on a host of the topology that runs none
   * (an extra host): `peertap up -s DIR`, the defaults and no VLAN, as a
   * person's first run; waits until its status answers. With `statusPort`,
   * a config of that alone (`status.port`) beside `-s DIR`.
   */
  async startBare(host: string, timeoutMs = 20_000, statusPort?: number): Promise<OverlayNode> {
    const stateDir = join(this.#dir, host)
    const peerId = (
      await this.topo.exec(host, [...NODE_ARGV, 'keygen', '--state-dir', stateDir])
    ).trim()
    const node: OverlayNode = { host, stateDir, peerId, mac: '', ip: '', ip6: '', log: [], pid: 0 }
    this.nodes.push(node)
    this.#bare.add(host)
    if (statusPort !== undefined)
      await writeFile(
        join(this.#dir, `${host}.json`),
        JSON.stringify({ status: { port: statusPort } }),
      )
    this.#spawn(node)
    const deadline = Date.now() + timeoutMs
    while ((await this.status(host).catch(() => undefined)) === undefined) {
      if (Date.now() > deadline)
        throw new Error(`bare node ${host} not up; its log:\n${node.log.slice(-30).join('\n')}`)
      await new Promise((r) => setTimeout(r, 200))
    }
    return node
  }

  /** Starts a node's `peertap up` from its config file (a bare node: from its state directory alone). */
  #spawn(node: OverlayNode): void {
    const configPath = join(this.#dir, `${node.host}.json`)
    const child = this.topo.spawn(node.host, [
      ...NODE_ARGV,
      'up',
      ...(this.#bare.has(node.host)
        ? [...(existsSync(configPath) ? ['--config', configPath] : []), '-s', node.stateDir]
        : ['--config', configPath]),
      ...this.#upArgs,
    ])
    node.pid = child.pid ?? 0
    this.#children.set(node.host, child)
    const keep = (chunk: Buffer) => {
      node.log.push(...chunk.toString().split('\n').filter(Boolean))
      if (node.log.length > 2000) node.log.splice(0, node.log.length - 2000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
  }

  /**
   * Stops a node's process (SIGTERM, as an operator would), runs `whileDown`
   * if given, and starts it again from the same state dir.
   */
  async restart(host: string, whileDown?: () => Promise<unknown>): Promise<void> {
    const node = this.node(host)
    const child = this.#children.get(host)
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    }
    await whileDown?.()
    this.#spawn(node)
  }

  node(host: string): OverlayNode {
    const node = this.nodes.find((n) => n.host === host)
    if (node === undefined) throw new Error(`no node ${host}`)
    return node
  }

  /** A node's status snapshot (what `peertap status --json` prints), read over its API socket (api.ts). */
  async status(host: string): Promise<NodeStatus> {
    return (await apiGet(this.node(host).stateDir, '/status')) as NodeStatus
  }

  /** Waits until every node has its TAP up and a link to every other node (or to the relay). */
  async waitReady(timeoutMs = 20_000, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (const node of this.nodes) {
      for (;;) {
        signal?.throwIfAborted()
        const status = await this.status(node.host).catch(() => undefined)
        if (
          status !== undefined &&
          status.neighbours.filter((n) => n.status === 'up').length >=
            (this.relay === undefined ? this.nodes.length - 1 : 1)
        ) {
          break
        }
        if (Date.now() > deadline) {
          throw new Error(
            `node ${node.host} not ready after ${timeoutMs} ms; its log:\n${node.log.slice(-30).join('\n')}`,
          )
        }
        await new Promise((r) => setTimeout(r, 200))
      }
    }
  }

  async stop(): Promise<void> {
    await this.topo.destroy()
    await rm(this.#dir, { recursive: true, force: true })
  }
}

/** The part of `peertap status --json` the harness reads. */
export interface NodeStatus {
  peerId: string
  neighbours: Array<{
    id: string
    status: string
    kind: string
    relayed?: boolean
    /** Whom the node deals with: 'config', 'proof', or 'stranger' (docs/spec/14-roles.md §14.2). */
    admitted: 'config' | 'proof' | 'stranger'
    rttMs?: number
    counters: Record<string, number>
  }>
  /** What the fast path carried (docs/spec/18-fast-path.md); null when it is off. */
  fastPath: { sent: number; received: number; entries: number } | null
  /** Reflexive datagram candidates: what configured relays observe of this node. */
  reflexive: string[]
  forwarding: { dropNoLink: number; dropNotAdmitted: number; controlNotAdmitted: number }
  admission: {
    admittedByProof: number
    provenPeers: number
    declarations: { refusedProofs: number; overCap: number }
    refusals: Record<string, number>
  }
  reservations: Array<{ relay: string; reserved: boolean; made: number; failures: number }>
  vlans: Record<string, VlanCounters & { receive: ReceiveCounters; learned: number }>
  table: TableCounters
  trunk: { linksUp: number; linksDown: number; closeReasons: Record<string, number> }
  scavenges: { scavenges: number; seconds: number }
  /** Each open port's device: a TAP, or a TUN with layer 2 emulated (its MAC is the port's). */
  interfaces: Array<{
    vlan: string
    device: string
    kind: 'tap' | 'tun'
    mac?: string
    /** As the kernel has them, with prefix lengths; no link-local ones. */
    addresses: string[]
  }>
}
