/**
 * The fast path (docs/spec/18-fast-path.md): a flow cache in the tap
 * addon that carries established unicast flows on its reader threads, TAP
 * -> seal -> UDP and UDP -> open -> TAP, without waking JavaScript. This
 * file decides what goes into it; the TypeScript switch, forwarding table
 * and datagram links stay the reference and decide every protocol question.
 *
 * - Send: a frame that came up from a port (so no entry carried it) from the
 *   port's own MAC to a unicast MAC whose VFT exactly one neighbour
 *   receives, over a datagram path that is up: an entry (port, MAC) -> VFT,
 *   sender key, path. For a TUN port also a route (port, IP destination)
 *   -> MAC, while its layer 2 holds that MAC REACHABLE (§18.5.7).
 * - Receive: a whole frame opened under a port's own unicast VFT that came
 *   over a datagram path: entries for the path (receiver index), the VFT and
 *   the KID it came under.
 * - Every change that could make an entry wrong clears them all, at once:
 *   the forwarding table (a subscription added, changed, removed or
 *   expired, a neighbour removed, access or limits; not a plain renewal:
 *   ForwardingTable.onChange), a TUN port's layer 2 (TunL2.routesVersion),
 *   the end of our dealing with a peer, the switch's
 *   subscriptions (VFT windows, ports, VLANs), an epoch, a sender key moving
 *   on, and any datagram path's keys, address, size or state. The next
 *   frame of each flow comes up again and reinstalls it. Cells freed meanwhile
 *   are reused only after a clear (FlowCells.reclaim).
 * - Counters and windows both sides use are shared cells; frames and bytes
 *   the cache carries are counted in stats blocks the status adds in.
 */
import { linkCounters, StatsBlocks, startFastPath } from '@peertap/daemon'
import { FLAG_RECEIVE, type ForwardingTable } from '@peertap/relay'
import { type LocalSubscription, type Switch, VNET_HEADER_LENGTH } from '@peertap/switch'
import {
  FlowCache,
  type FlowCacheStats,
  FlowCells,
  STATS_WORDS,
  type TapDevice,
  UdpSocket,
  WINDOW_WORDS,
} from '@peertap/tap'
import { type DatagramFlowPath, DatagramLink, type Link } from '@peertap/trunk'
import type { Logger } from 'pino'
import type { Config } from './config.ts'

/** What the fast path reads of the node (functions: the node makes these parts after it). */
export interface FastPathHost {
  sw(): Switch
  table(): ForwardingTable
  /** The preferred link to a neighbour (the trunk's). */
  getLink(id: string): Link | undefined
  /** Seconds (wall clock). */
  now(): number
}

/** The node's fast path, or undefined when it is off (@peertap/daemon's startFastPath says when). */
export function startNodeFastPath(
  config: Pick<Config, 'fastPath' | 'datagram'>,
  log: Pick<Logger, 'info' | 'warn'>,
  trace: boolean,
  host: FastPathHost,
): FastPath | undefined {
  return startFastPath(
    config,
    log,
    trace,
    'established unicast flows are carried by the addon',
    () => new FastPath(host),
  )
}

/** A TUN port's layer 2, as the fast path asks it where packets go (@peertap/tun-l2's TunL2). */
export interface TunRoutes {
  reachableMac(dst: Uint8Array): Uint8Array | undefined
}

interface PortEntry {
  readonly vlan: string
  readonly portId: string
  readonly device: TapDevice
  readonly slot: number
  readonly mac: Uint8Array
  readonly vnet: boolean
  /** A TUN port's layer 2: its packets go out by TUN routes (docs/spec/18-fast-path.md §18.5.7). */
  readonly tun: TunRoutes | undefined
  /** `vlan/detach`: frames for it are not written, so no flow of its is installed. */
  detached: boolean
}

/** Frames and bytes the cache carried, per VLAN and per link (added into their counters). */
export interface FastPathCounters extends FlowCacheStats {
  /** Times every entry was cleared. */
  clears: number
  vlans: Record<
    string,
    { framesSent: number; bytesSent: number; framesReceived: number; bytesReceived: number }
  >
  links: Record<
    string,
    { datagramsSent: number; bytesSent: number; datagramsReceived: number; bytesReceived: number }
  >
}

export class FastPath {
  readonly cells: FlowCells
  readonly #cache: FlowCache
  readonly #host: FastPathHost
  /** Ports by VLAN name (a node has one port per VLAN). */
  readonly #ports = new Map<string, PortEntry>()
  readonly #vlans: StatsBlocks
  readonly #links: StatsBlocks
  /**
   * What was tried since the last clear: (port slot, MAC) sends as a number
   * (whether the entry went in), a TUN port's destinations, `VFT/KID`
   * receives, path indices.
   */
  readonly #triedSend = new Map<number, boolean>()
  readonly #triedRoutes = new Set<string>()
  readonly #tried = new Set<string>()
  readonly #hops = new Set<number>()
  #clears = 0
  /** The link whose frames the switch is opening now (receivers.ts sets it around a delivery). */
  from: Link | undefined

  constructor(host: FastPathHost) {
    this.#host = host
    this.cells = new FlowCells()
    this.#cache = new FlowCache(this.cells)
    this.#vlans = new StatsBlocks(this.cells)
    this.#links = new StatsBlocks(this.cells)
  }

  /** The datagram socket (the daemon's batched one): the cache sends on it and reads it. */
  attachSocket(socket: unknown): void {
    if (socket instanceof UdpSocket) this.#cache.attachUdp(socket)
  }

  /**
   * A port opened: the cache reads its device and writes to it. A TUN
   * port's device comes with its layer 2 (`tun`), which says where its
   * packets go; the port calls {@link clear} whenever that changes
   * (TunL2.routesVersion).
   */
  attachPort(
    vlan: string,
    portId: string,
    device: TapDevice,
    mac: Uint8Array,
    tun?: TunRoutes,
  ): void {
    const slot = this.#cache.attachDevice(device)
    this.#ports.set(vlan, {
      vlan,
      portId,
      device,
      slot,
      mac,
      vnet: device.vnetHeader,
      tun,
      detached: false,
    })
    this.clear()
  }

  /** A port closing (before its device does). */
  detachPort(vlan: string, portId: string): void {
    const p = this.#ports.get(vlan)
    if (p === undefined || p.portId !== portId) return
    this.#ports.delete(vlan)
    this.#cache.detachDevice(p.device)
    this.clear()
  }

  /** A port detached (`vlan/detach`: frames for it are not written) or attached again. */
  setAttached(vlan: string, portId: string, attached: boolean): void {
    const p = this.#ports.get(vlan)
    if (p !== undefined && p.portId === portId) p.detached = !attached
    this.clear()
  }

  /** Drops every entry: something they depend on changed (see the file comment). */
  clear(): void {
    this.#cache.clear()
    this.cells.reclaim()
    this.#triedSend.clear()
    this.#triedRoutes.clear()
    this.#tried.clear()
    this.#hops.clear()
    this.#clears++
  }

  /**
   * Frames a port read that came up (no entry carried them), after the
   * switch sealed them: installs the flows among them that the cache can
   * carry from now on.
   */
  considerSend(vlan: string, portId: string, frames: readonly Uint8Array[]): void {
    const port = this.#ports.get(vlan)
    if (port === undefined || port.portId !== portId || port.detached) return
    const eth = port.vnet ? VNET_HEADER_LENGTH : 0
    for (const frame of frames) {
      if (frame.length < eth + 14 || (frame[eth]! & 1) !== 0) continue
      // GSO frames and (from a port with offloads) TCP stay with the switch: nothing to install.
      if (eth > 0 && (frame[1] !== 0 || isTcp(frame.subarray(eth)))) continue
      // Only the port's own frames are carried: a host bridged behind it is not tried (nor
      // remembered as tried, which would keep the port's own flow to that MAC out).
      if (!sameMac(frame, eth + 6, port.mac)) continue
      // The slot (a few ports: below 32) and the 48-bit MAC in one safe integer, no string.
      const high = port.slot * 65536 + frame[eth]! * 256 + frame[eth + 1]!
      const low =
        frame[eth + 2]! * 2 ** 24 +
        frame[eth + 3]! * 65536 +
        frame[eth + 4]! * 256 +
        frame[eth + 5]!
      const key = high * 2 ** 32 + low
      let installed = this.#triedSend.get(key)
      if (installed === undefined) {
        installed = this.#installSend(port, frame, eth)
        this.#triedSend.set(key, installed)
      } else if (port.tun === undefined) continue
      if (installed && port.tun !== undefined) this.#installRoute(port, port.tun, frame, eth)
    }
  }

  /**
   * A TUN port's frame whose send entry is in: a TUN route for its IP
   * destination, if the port's layer 2 sends every packet to that
   * destination to the frame's MAC until its routes change (§18.5.7).
   */
  #installRoute(port: PortEntry, tun: TunRoutes, frame: Uint8Array, eth: number): void {
    const type = (frame[eth + 12]! << 8) | frame[eth + 13]!
    const ip = eth + 14
    const dst =
      type === 0x0800 && frame.length >= ip + 20
        ? frame.subarray(ip + 16, ip + 20)
        : type === 0x86dd && frame.length >= ip + 40
          ? frame.subarray(ip + 24, ip + 40)
          : undefined
    if (dst === undefined) return
    const key = `${port.slot}/${Buffer.from(dst.buffer, dst.byteOffset, dst.length).toString('hex')}`
    if (this.#triedRoutes.has(key)) return
    this.#triedRoutes.add(key)
    const mac = tun.reachableMac(dst)
    if (mac === undefined || !sameMac(frame, eth, mac)) return
    this.#cache.installTunRoute(port.slot, dst.slice(), mac)
  }

  /** Whether the send entry for this frame's flow went in. */
  #installSend(port: PortEntry, frame: Uint8Array, eth: number): boolean {
    const sw = this.#host.sw()
    const table = this.#host.table()
    const now = this.#host.now()
    const flow = sw.flowOf(port.vlan, port.portId, frame, eth, now)
    if (flow === undefined) return false
    const receivers = table.lookup(flow.vft, now).filter((s) => (s.flags & FLAG_RECEIVE) !== 0)
    if (receivers.length !== 1) return false
    const neighbour = receivers[0]!.neighbour
    const link = this.#host.getLink(neighbour)
    if (!(link instanceof DatagramLink)) return false
    const path = link.flowPath()
    const key = flow.epoch.sender.flowKey()
    if (path === undefined || key === undefined) return false
    const vlanStats = this.#vlans.block(port.vlan)
    const linkStats = this.#links.block(link.id)
    // Cells past a full arena are the sender's and link's alone: that flow stays in JavaScript.
    if (!this.#shared(key.counterCell, path, vlanStats, linkStats)) return false
    // A sender key moving on (2^23 frames) clears the flows sealed under it.
    flow.epoch.sender.onKeyChange = () => this.clear()
    this.#installHop(link, path)
    return this.#cache.installSend({
      device: port.slot,
      src: port.mac,
      mac: frame.slice(eth, eth + 6),
      vft: flow.vft,
      hopLimit: flow.hopLimit,
      key: key.key,
      salt: key.salt,
      kid: key.kid,
      hpKey: flow.epoch.receiver.hpKey,
      counterCell: key.counterCell,
      hopKey: path.sendKey,
      receiverIndex: path.remoteIndex,
      hopCounterCell: path.counterCell,
      address: path.address,
      port: path.port,
      payloadMax: path.payloadMax,
      vlanStats,
      linkStats,
    })
  }

  /** Whether the cells a flow would name are all in the arena (FlowCells.shared). */
  #shared(counterCell: number, path: DatagramFlowPath, ...blocks: number[]): boolean {
    const c = this.cells
    return (
      c.shared(counterCell) &&
      c.shared(path.counterCell) &&
      c.shared(path.windowCell, WINDOW_WORDS) &&
      blocks.every((b) => c.shared(b, STATS_WORDS))
    )
  }

  /**
   * The switch opened a whole frame under a port's own unicast VFT (switch
   * onOpened): installs the receive side of its flow, if it came over a
   * datagram path.
   */
  readonly onOpened = (
    sub: LocalSubscription,
    vft: Uint8Array,
    kidHi: number,
    kidLo: number,
    ethernet: Uint8Array,
  ): void => {
    const link = this.from
    if (!(link instanceof DatagramLink) || sub.vlan.ports.size !== 1) return
    // The VLAN's one port, when the VFT is its own MAC's: no lookup that allocates per frame.
    const port = this.#ports.get(sub.vlan.name)
    if (port === undefined || port.detached || !sameMac(sub.mac, 0, port.mac)) return
    // TCP to a port with offloads stays with the switch, which coalesces it: nothing to install.
    if (port.vnet && isTcp(ethernet)) return
    const key = `${Buffer.from(vft).toString('hex')}/${kidHi}/${kidLo}`
    if (this.#tried.has(key)) return
    this.#tried.add(key)
    const path = link.flowPath()
    const kid = sub.epoch.receiver.flowKid(kidHi, kidLo)
    if (path === undefined || kid === undefined) return
    const vlanStats = this.#vlans.block(sub.vlan.name)
    if (
      !this.#shared(path.counterCell, path, vlanStats, this.#links.block(link.id)) ||
      !this.cells.shared(kid.windowCell, WINDOW_WORDS)
    )
      return
    this.#installHop(link, path)
    this.#cache.installReceive({
      vft,
      device: port.slot,
      mac: port.mac,
      hpKey: sub.epoch.receiver.hpKey,
      // TCP segments go up, for the switch to coalesce them for a port with offloads.
      puntTcp: port.vnet,
      vlanStats,
    })
    this.#cache.installKid(
      vft,
      (BigInt(kidHi) << 32n) | BigInt(kidLo),
      kid.key,
      kid.salt,
      kid.windowCell,
    )
  }

  #installHop(link: DatagramLink, path: DatagramFlowPath): void {
    if (this.#hops.has(path.localIndex)) return
    this.#hops.add(path.localIndex)
    this.#cache.installHop({
      receiverIndex: path.localIndex,
      key: path.receiveKey,
      windowCell: path.windowCell,
      address: path.address,
      port: path.port,
      linkStats: this.#links.block(link.id),
    })
  }

  /** DATA datagrams carried on a link so far, each way (its liveness checks count them). */
  activity(linkId: string): { sent: number; received: number } | undefined {
    return this.#links.activity(linkId)
  }

  counters(): FastPathCounters {
    const vlans: FastPathCounters['vlans'] = {}
    for (const [name, [framesSent, bytesSent, framesReceived, bytesReceived]] of this.#vlans.read())
      vlans[name] = { framesSent, bytesSent, framesReceived, bytesReceived }
    return {
      ...this.#cache.counters(),
      clears: this.#clears,
      vlans,
      links: linkCounters(this.#links),
    }
  }
}

/** Whether an Ethernet frame is TCP over IPv4 or IPv6 (no extension headers), as the addon tells. */
function isTcp(f: Uint8Array): boolean {
  if (f.length < 14) return false
  const type = (f[12]! << 8) | f[13]!
  if (type === 0x0800) return f.length >= 34 && f[23] === 6
  if (type === 0x86dd) return f.length >= 54 && f[20] === 6
  return false
}

function sameMac(frame: Uint8Array, at: number, mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (frame[at + i] !== mac[i]) return false
  return true
}
