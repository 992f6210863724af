/**
 * A TUN device's IP packets as Ethernet frames on a VLAN, and back
 * (docs/spec/17-tun-l2.md). To every other member the TUN port is one more
 * Ethernet host: it has a stable MAC, answers ARP and neighbour
 * solicitations for its addresses (after duplicate address detection),
 * resolves its neighbours' MACs, maps broadcast and multicast, sends
 * off-link packets to the gateway's MAC, and takes addresses from router
 * advertisements (SLAAC) and DHCP.
 *
 * Pure: the caller reads and writes the device and the VLAN and passes the
 * clock. Frames it makes itself (ARP, NDP, DHCP, packets released by a
 * resolution) wait in {@link TunL2.takeFrames}; what the caller must do on
 * the host (put an address on the device, take it off) in
 * {@link TunL2.takeEvents}; `onOutput` says when either has something.
 */
import { DhcpClient, type DhcpOutput, isDhcpReply } from './dhcp.ts'
import { TunL2Error } from './errors.ts'
import {
  BROADCAST_MAC,
  eui64,
  ipv4MulticastMac,
  ipv6MulticastMac,
  linkLocalOf,
  solicitedNode,
} from './mac.ts'
import {
  ALL_NODES,
  isNeighbourDiscovery,
  NA_OVERRIDE,
  NA_SOLICITED,
  type NdMessage,
  neighbourAdvertisement,
  neighbourSolicitation,
  parseNd,
  routerSolicitation,
} from './nd.ts'
import {
  DEFAULT_LIMITS,
  ipKey,
  MAX_SOLICITS,
  type Neighbour,
  NeighbourCache,
  type NeighbourLimits,
  type QueuedFrame,
  RETRANSMIT_MS,
} from './neighbours.ts'
import {
  arpFrame,
  bytesEqual,
  type Cidr,
  ETH_HEADER,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  formatIp,
  inPrefix,
  parseCidr,
  parseIp,
} from './packet.ts'

/** Bytes a device read must leave free before each packet (ReadOptions.headroom): an Ethernet header's. */
export const TUN_HEADROOM = ETH_HEADER
/** Bytes of the virtio-net header (a device opened with IFF_VNET_HDR). */
export const VNET_HEADER = 10
/** How long an address stays tentative: one probe, then this wait (§17.6). */
export const DAD_MS = 1000
const RS_INTERVAL_MS = 4000
const MAX_RS = 3
/** Default routers and on-link prefixes held from router advertisements, each (§17.9). */
const MAX_ROUTERS = 16
const MAX_ON_LINK_PREFIXES = 16
const DEFEND_INTERVAL_MS = 10_000
/** The utun address-family header (macOS, iOS): AF_INET and AF_INET6 there, big-endian. */
const UTUN_AF_INET = 2
const UTUN_AF_INET6 = 30

export type AddressSource = 'static' | 'link-local' | 'slaac' | 'dhcp'
export type AddressState = 'tentative' | 'preferred' | 'duplicate'

export interface TunL2Options {
  /** The port's MAC (usually {@link tunMac}): unicast, 6 bytes. */
  readonly mac: Uint8Array
  /** Static addresses with prefix lengths, `10.0.0.5/24`, `fd00::5/64`. */
  readonly addresses?: readonly string[]
  /** Gateways for off-link destinations, at most one IPv4 and one IPv6; they win over DHCP's and routers'. */
  readonly gateways?: readonly string[]
  /** Run a DHCPv4 client on the VLAN (default false). */
  readonly dhcp?: boolean
  /** Take addresses from router advertisements' prefixes (default true). */
  readonly slaac?: boolean
  /** Own the link-local address fe80::EUI-64 (default true). */
  readonly linkLocal?: boolean
  /**
   * Packets from and to the host are led by a 10-byte virtio-net header
   * (default false); so is every frame to and from the VLAN, as a TAP port
   * with the header has them (§17.8).
   */
  readonly vnetHeader?: boolean
  /** `utun`: each packet is led by a 4-byte address family (macOS, iOS); default none. */
  readonly packetInfo?: 'none' | 'utun'
  /** DHCP option 12. */
  readonly hostname?: string
  readonly random: (bytes: number) => Uint8Array
  readonly limits?: Partial<NeighbourLimits>
  /** Called when frames or events are waiting (at most once until they are taken). */
  readonly onOutput?: () => void
}

export type TunL2Event =
  | { readonly type: 'address-added'; readonly address: string; readonly source: AddressSource }
  | {
      readonly type: 'address-removed'
      readonly address: string
      readonly source: AddressSource
      readonly reason: 'expired' | 'lease-lost' | 'duplicate' | 'stopped'
    }
  | {
      readonly type: 'duplicate'
      readonly address: string
      readonly source: AddressSource
      readonly mac: string
    }

/** One of the port's own addresses. */
export interface OwnAddress {
  readonly cidr: Cidr
  /** `10.0.0.5/24` */
  readonly text: string
  readonly source: AddressSource
  state: AddressState
  /** Tentative until then. */
  deadlineMs: number
  /** SLAAC's valid lifetime, DHCP's lease; Infinity for the others. */
  expiresMs: number
  /** When we last defended it against another claim. */
  defendedMs: number
}

export interface TunL2Stats {
  /** Packets from the host, and frames made of them at once. */
  hostPackets: number
  hostFrames: number
  /** Host packets dropped: not IPv4/IPv6, too short, no route (no gateway), or a bad utun header. */
  hostMalformed: number
  noRoute: number
  /** Frames from the VLAN, and packets written to the host. */
  vlanFrames: number
  vlanPackets: number
  /** Frames from the VLAN for another MAC, of another EtherType, tagged, malformed. */
  notForUs: number
  unknownType: number
  vlanMalformed: number
  arpIn: number
  ndIn: number
  dhcpIn: number
  /** Packets dropped because their neighbour's queue was full, or its resolution failed. */
  queueDrops: number
  unresolvedDrops: number
  /** Claims of our addresses by another MAC. */
  conflicts: number
}

interface OnLinkPrefix {
  readonly net: Uint8Array
  readonly length: number
  expiresMs: number
}

interface Router {
  readonly ip: Uint8Array
  expiresMs: number
}

/** Layer 2 for one TUN port on one VLAN. */
export class TunL2 {
  readonly mac: Uint8Array
  readonly #vnet: boolean
  readonly #utun: boolean
  readonly #slaac: boolean
  readonly #onOutput: (() => void) | undefined
  readonly #own: OwnAddress[] = []
  readonly #neighbours: NeighbourCache
  readonly #dhcp: DhcpClient | undefined
  readonly #gateway4: Uint8Array | undefined
  /** Bumped by every change of what {@link reachableMac} answers but the neighbour cache's. */
  #routes = 0
  readonly #gateway6: Uint8Array | undefined
  #dhcpRouter: Uint8Array | undefined
  readonly #routers: Router[] = []
  readonly #onLink6: OnLinkPrefix[] = []
  #frames: Uint8Array[] = []
  /** Bytes of a virtio-net (10) or utun (4) header before each packet to the host; 0: none. */
  readonly #lead: number
  /** toHost's scratch: the Ethernet header bytes each packet's leading header covers, to restore. */
  #saved = new Uint8Array(0)
  #events: TunL2Event[] = []
  #notified = false
  #rsSent = 0
  #rsNextMs = Number.POSITIVE_INFINITY
  #started = false
  readonly #stats: TunL2Stats = {
    hostPackets: 0,
    hostFrames: 0,
    hostMalformed: 0,
    noRoute: 0,
    vlanFrames: 0,
    vlanPackets: 0,
    notForUs: 0,
    unknownType: 0,
    vlanMalformed: 0,
    arpIn: 0,
    ndIn: 0,
    dhcpIn: 0,
    queueDrops: 0,
    unresolvedDrops: 0,
    conflicts: 0,
  }
  readonly #staticAddresses: Cidr[]
  readonly #linkLocal: boolean

  constructor(options: TunL2Options) {
    const mac = options.mac
    if (mac.length !== 6 || (mac[0]! & 1) !== 0)
      throw new TunL2Error('tun-l2-invalid-options', 'mac must be 6 bytes, unicast')
    if (options.vnetHeader === true && options.packetInfo === 'utun')
      throw new TunL2Error('tun-l2-invalid-options', 'a utun device has no virtio-net header')
    this.mac = mac.slice()
    this.#vnet = options.vnetHeader ?? false
    this.#utun = options.packetInfo === 'utun'
    this.#lead = this.#vnet ? VNET_HEADER : this.#utun ? 4 : 0
    this.#slaac = options.slaac ?? true
    this.#linkLocal = options.linkLocal ?? true
    this.#onOutput = options.onOutput
    this.#neighbours = new NeighbourCache({ ...DEFAULT_LIMITS, ...options.limits }, this.#stats)
    this.#staticAddresses = (options.addresses ?? []).map(parseCidr)
    let gateway4: Uint8Array | undefined
    let gateway6: Uint8Array | undefined
    for (const text of options.gateways ?? []) {
      const ip = parseIp(text)
      if (ip.length === 4 ? gateway4 !== undefined : gateway6 !== undefined)
        throw new TunL2Error('tun-l2-invalid-options', 'at most one IPv4 and one IPv6 gateway')
      if (ip.length === 4) gateway4 = ip
      else gateway6 = ip
    }
    this.#gateway4 = gateway4
    this.#gateway6 = gateway6
    this.#dhcp =
      options.dhcp === true
        ? new DhcpClient({
            mac: this.mac,
            random: options.random,
            ...(options.hostname === undefined ? {} : { hostname: options.hostname }),
          })
        : undefined
  }

  /** Begins: duplicate address detection for the static and link-local addresses, DHCP. */
  start(nowMs: number): void {
    if (this.#started) return
    this.#started = true
    if (this.#linkLocal)
      this.#addAddress(
        { family: 6, address: linkLocalOf(this.mac), prefix: 64 },
        'link-local',
        nowMs,
      )
    for (const cidr of this.#staticAddresses) this.#addAddress(cidr, 'static', nowMs)
    if (this.#dhcp !== undefined) this.#dhcpOutput(this.#dhcp.start(nowMs), nowMs)
  }

  /**
   * Takes an address the host was given another way (the VLAN's owner
   * assigned it, a person added it to the device) as a static one: it goes
   * through detection like those of the options. One it holds already is
   * left as it is. Throws TunL2Error for text that is not an address.
   */
  addAddress(text: string, nowMs: number): void {
    const cidr = parseCidr(text)
    if (this.#ownAddress(cidr.address) === undefined) this.#addAddress(cidr, 'static', nowMs)
  }

  /** Ends: releases a DHCP lease (the RELEASE waits in takeFrames); the addresses go. */
  stop(nowMs: number): void {
    // The addresses go first, each `stopped` (the lease's too); then the RELEASE.
    this.#routes++
    for (const own of this.#own.splice(0))
      if (own.state === 'preferred')
        this.#event({
          type: 'address-removed',
          address: own.text,
          source: own.source,
          reason: 'stopped',
        })
    if (this.#dhcp !== undefined && this.#dhcp.state !== 'stopped')
      this.#dhcpOutput(this.#dhcp.release(nowMs), nowMs)
  }

  // ---------------------------------------------------------------- host -> VLAN

  /**
   * Packets read from the device, each with {@link TUN_HEADROOM} free bytes
   * before it: returns the Ethernet frames to send into the VLAN, views
   * into `batch.data` written in place (the headroom takes the Ethernet
   * header). Packets whose neighbour is not resolved yet are copied and
   * wait (they come out of {@link takeFrames} once it is).
   */
  fromHost(
    batch: {
      readonly data: Uint8Array
      readonly offsets: ArrayLike<number>
      readonly lengths: ArrayLike<number>
      readonly count: number
    },
    nowMs: number,
  ): Uint8Array[] {
    const out: Uint8Array[] = []
    const data = batch.data
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i]!
      const length = batch.lengths[i]!
      this.#stats.hostPackets++
      if (off < TUN_HEADROOM)
        throw new TunL2Error(
          'tun-l2-invalid-options',
          `packets need ${TUN_HEADROOM} bytes of headroom`,
        )
      const ip = off + (this.#vnet ? VNET_HEADER : this.#utun ? 4 : 0)
      const end = off + length
      const version = ip < end ? data[ip]! >> 4 : 0
      if (!this.#hostPacketOk(data, ip, end, version)) {
        this.#stats.hostMalformed++
        continue
      }
      const eth = ip - ETH_HEADER
      const start = this.#vnet ? eth - VNET_HEADER : eth
      if (this.#vnet) moveVnetHeader(data, off, start, ETH_HEADER)
      data[eth + 12] = version === 4 ? 0x08 : 0x86
      data[eth + 13] = version === 4 ? 0x00 : 0xdd
      data.set(this.mac, eth + 6)
      const dst = this.#nextHopMac(data, ip, version, nowMs)
      if (dst === undefined) continue
      if (dst instanceof Uint8Array) {
        data.set(dst, eth)
        out.push(data.subarray(start, end))
        this.#stats.hostFrames++
        continue
      }
      // Wait for the resolution: a copy, the batch's memory goes back to the reader.
      this.#neighbours.enqueue(dst, { frame: data.slice(start, end), eth: eth - start })
    }
    return out
  }

  #hostPacketOk(data: Uint8Array, ip: number, end: number, version: number): boolean {
    if (this.#utun) {
      const af =
        (data[ip - 4]! << 24) | (data[ip - 3]! << 16) | (data[ip - 2]! << 8) | data[ip - 1]!
      if (af !== (version === 4 ? UTUN_AF_INET : UTUN_AF_INET6)) return false
    }
    if (version === 4) return end - ip >= 20
    if (version === 6) return end - ip >= 40
    return false
  }

  /**
   * The destination MAC of the packet at `ip`; a neighbour entry to queue on
   * while it resolves; undefined if the packet is dropped (counted).
   */
  #nextHopMac(
    data: Uint8Array,
    ip: number,
    version: number,
    nowMs: number,
  ): Uint8Array | Neighbour | undefined {
    let hop: Uint8Array
    let hopOffset: number
    if (version === 4) {
      const d = ip + 16
      if (data[d] === 255 && data[d + 1] === 255 && data[d + 2] === 255 && data[d + 3] === 255)
        return BROADCAST_MAC
      if ((data[d]! & 0xf0) === 0xe0) return ipv4MulticastMac(data, d)
      const onLink = this.#onLink4(data, d)
      if (onLink === 'broadcast') return BROADCAST_MAC
      if (onLink) {
        hop = data
        hopOffset = d
      } else {
        const gateway = this.#gateway4 ?? this.#dhcpRouter
        if (gateway === undefined) return this.#noRoute()
        hop = gateway
        hopOffset = 0
      }
      return this.#resolve(hop, hopOffset, 4, nowMs)
    }
    const d = ip + 24
    if (data[d] === 0xff) return ipv6MulticastMac(data, d)
    if (this.#onLink6Check(data, d)) {
      hop = data
      hopOffset = d
    } else {
      const gateway = this.#gateway6 ?? this.#routers[0]?.ip
      if (gateway === undefined) return this.#noRoute()
      hop = gateway
      hopOffset = 0
    }
    return this.#resolve(hop, hopOffset, 16, nowMs)
  }

  #noRoute(): undefined {
    this.#stats.noRoute++
    return undefined
  }

  /** Whether an IPv4 address is on one of our subnets (`broadcast`: its directed broadcast). */
  #onLink4(data: Uint8Array, d: number): boolean | 'broadcast' {
    for (const own of this.#own) {
      const { family, address, prefix } = own.cidr
      if (family !== 4 || own.state === 'duplicate' || !inPrefix(data, d, address, prefix)) continue
      if (prefix <= 30 && isHostBitsAllOnes(data, d, prefix)) return 'broadcast'
      return true
    }
    return false
  }

  #onLink6Check(data: Uint8Array, d: number): boolean {
    if (data[d] === 0xfe && (data[d + 1]! & 0xc0) === 0x80) return true
    for (const own of this.#own) {
      const { family, address, prefix } = own.cidr
      if (
        family === 6 &&
        own.state !== 'duplicate' &&
        prefix < 128 &&
        inPrefix(data, d, address, prefix)
      )
        return true
    }
    for (const p of this.#onLink6) if (inPrefix(data, d, p.net, p.length)) return true
    return false
  }

  /** The MAC of a neighbour, or its entry while it resolves (a solicitation sent). */
  #resolve(
    hop: Uint8Array,
    offset: number,
    length: 4 | 16,
    nowMs: number,
  ): Uint8Array | Neighbour | undefined {
    const key = ipKey(hop, offset, length)
    let entry = this.#neighbours.get(key)
    if (entry === undefined) {
      entry = this.#neighbours.create(key, hop.subarray(offset, offset + length), nowMs)
      this.#solicit(entry, nowMs)
      return entry
    }
    switch (entry.state) {
      case 'reachable':
      case 'probe':
        return entry.mac
      case 'stale':
        // Used as it is while a unicast probe checks it (RFC 4861 §7.3.3).
        entry.state = 'probe'
        this.#routes++
        entry.solicits = 0
        this.#solicit(entry, nowMs)
        return entry.mac
      case 'incomplete':
        return entry
      case 'failed':
        this.#stats.unresolvedDrops++
        return undefined
    }
  }

  /** Sends an ARP request or neighbour solicitation for `entry` (unicast to its MAC when probing). */
  #solicit(entry: Neighbour, nowMs: number): void {
    entry.solicits++
    entry.deadlineMs = nowMs + RETRANSMIT_MS
    const unicast = entry.state === 'probe' ? entry.mac : undefined
    if (entry.ip.length === 4) {
      const src = this.#source4(entry.ip)
      // No IPv4 address has passed detection yet: this try is counted, not sent (a request
      // from 0.0.0.0 would be a probe, which a neighbour checking that address takes as a claim).
      if (src !== undefined)
        this.#send(
          arpFrame(1, unicast ?? BROADCAST_MAC, this.mac, src, new Uint8Array(6), entry.ip),
        )
    } else {
      const src = this.#source6(entry.ip)
      // No address has passed detection yet: this try is counted, not sent.
      if (src !== undefined) this.#send(neighbourSolicitation(this.mac, src, entry.ip, unicast))
    }
  }

  #source4(target: Uint8Array): Uint8Array | undefined {
    let any: Uint8Array | undefined
    for (const own of this.#own) {
      if (own.cidr.family !== 4 || own.state !== 'preferred') continue
      if (inPrefix(target, 0, own.cidr.address, own.cidr.prefix)) return own.cidr.address
      any ??= own.cidr.address
    }
    return any
  }

  /**
   * The source of a solicitation for `target` (RFC 4861 §7.2.2): a
   * preferred address on the target's prefix, else the preferred link-local
   * address, else any preferred one; undefined while none has passed
   * detection (a tentative address is for DAD only, RFC 4862 §5.4), and the
   * solicitation waits for the next retransmission.
   */
  #source6(target: Uint8Array): Uint8Array | undefined {
    let linkLocal: Uint8Array | undefined
    let any: Uint8Array | undefined
    for (const own of this.#own) {
      if (own.cidr.family !== 6 || own.state !== 'preferred') continue
      if (own.cidr.prefix < 128 && inPrefix(target, 0, own.cidr.address, own.cidr.prefix))
        return own.cidr.address
      if (own.source === 'link-local') linkLocal = own.cidr.address
      any ??= own.cidr.address
    }
    return linkLocal ?? any
  }

  // ---------------------------------------------------------------- VLAN -> host

  /**
   * Frames the switch delivers to the port: ARP, neighbour discovery and
   * DHCP replies are taken here; the IP packets for us go to `write`, in
   * one call, as the device takes them. The frames' bytes are borrowed: a
   * virtio-net or utun header is written over the Ethernet header for the
   * call and put back after it, so `write` must not keep them.
   */
  toHost(
    frames: readonly Uint8Array[],
    nowMs: number,
    write: (packets: Uint8Array[]) => void,
  ): void {
    const packets: Uint8Array[] = []
    const e = this.#vnet ? VNET_HEADER : 0
    for (const f of frames) {
      this.#stats.vlanFrames++
      if (f.length < e + ETH_HEADER) {
        this.#stats.vlanMalformed++
        continue
      }
      const group = (f[e]! & 1) === 1
      if (!group && !bytesEqual(f, e, this.mac, 0, 6)) {
        this.#stats.notForUs++
        continue
      }
      const type = (f[e + 12]! << 8) | f[e + 13]!
      const ip = e + ETH_HEADER
      if (type === ETHERTYPE_ARP) {
        this.#stats.arpIn++
        this.#takeArp(f, ip, nowMs)
        continue
      }
      if (type === ETHERTYPE_IPV6) {
        if (f.length < ip + 40 || f[ip]! >> 4 !== 6) {
          this.#stats.vlanMalformed++
          continue
        }
        if (isNeighbourDiscovery(f, ip)) {
          this.#stats.ndIn++
          this.#takeNd(f, e, parseNd(f, ip), nowMs)
          continue
        }
      } else if (type === ETHERTYPE_IPV4) {
        if (f.length < ip + 20 || f[ip]! >> 4 !== 4) {
          this.#stats.vlanMalformed++
          continue
        }
        if (this.#dhcp !== undefined && isDhcpReply(e === 0 ? f : f.subarray(e))) {
          this.#stats.dhcpIn++
          this.#dhcpOutput(this.#dhcp.receive(e === 0 ? f : f.subarray(e), nowMs), nowMs)
          continue
        }
      } else {
        this.#stats.unknownType++
        continue
      }
      packets.push(this.#asHostPacket(f, ip, type, packets.length))
    }
    if (packets.length === 0) return
    this.#stats.vlanPackets += packets.length
    try {
      write(packets)
    } finally {
      // Each packet's leading header sits where its frame's Ethernet header ended: put it back.
      const lead = this.#lead
      if (lead > 0)
        for (let i = 0; i < packets.length; i++)
          packets[i]!.set(this.#saved.subarray(i * lead, (i + 1) * lead), 0)
    }
  }

  /**
   * The packet at `ip` as the device takes it, its leading header (virtio-net
   * or utun) written over the end of the Ethernet header; the bytes it
   * covers are kept in a scratch buffer reused across batches, at `index`.
   */
  #asHostPacket(f: Uint8Array, ip: number, type: number, index: number): Uint8Array {
    const lead = this.#lead
    if (lead === 0) return f.subarray(ip)
    const at = ip - lead
    if (this.#saved.length < (index + 1) * lead) {
      const grown = new Uint8Array(Math.max(64, 2 * (index + 1)) * lead)
      grown.set(this.#saved)
      this.#saved = grown
    }
    this.#saved.set(f.subarray(at, ip), index * lead)
    if (this.#vnet) {
      moveVnetHeader(f, 0, at, -ETH_HEADER)
      return f.subarray(at)
    }
    f[at] = 0
    f[at + 1] = 0
    f[at + 2] = 0
    f[at + 3] = type === ETHERTYPE_IPV4 ? UTUN_AF_INET : UTUN_AF_INET6
    return f.subarray(at)
  }

  #takeArp(f: Uint8Array, a: number, nowMs: number): void {
    if (
      f.length < a + 28 ||
      f[a] !== 0 ||
      f[a + 1] !== 1 ||
      f[a + 2] !== 0x08 ||
      f[a + 3] !== 0 ||
      f[a + 4] !== 6 ||
      f[a + 5] !== 4 ||
      f[a + 6] !== 0 ||
      (f[a + 7] !== 1 && f[a + 7] !== 2)
    ) {
      this.#stats.vlanMalformed++
      return
    }
    const op = f[a + 7]!
    const senderMac = f.subarray(a + 8, a + 14)
    if (!this.#usableMac(senderMac)) return
    const senderIp = f.subarray(a + 14, a + 18)
    const targetIp = f.subarray(a + 24, a + 28)
    const probe = senderIp[0] === 0 && senderIp[1] === 0 && senderIp[2] === 0 && senderIp[3] === 0
    const target = this.#ownAddress(targetIp)
    const claimed = probe ? undefined : this.#ownAddress(senderIp)
    if (claimed !== undefined) this.#claimedByOther(claimed, senderMac, nowMs)
    else if (probe && target?.state === 'tentative') this.#duplicate(target, senderMac, nowMs)
    if (!probe && claimed === undefined) {
      const key = ipKey(senderIp, 0, 4)
      const isForUs = target?.state === 'preferred'
      if (isForUs || this.#onLink4(senderIp, 0) !== false)
        this.#flush(this.#neighbours.confirm(key, senderIp, senderMac, nowMs, isForUs), senderMac)
    }
    if (op === 1 && target?.state === 'preferred')
      this.#send(arpFrame(2, senderMac, this.mac, targetIp, senderMac, senderIp))
  }

  #takeNd(f: Uint8Array, e: number, m: NdMessage | undefined, nowMs: number): void {
    if (m === undefined) {
      this.#stats.vlanMalformed++
      return
    }
    const ethSrc = f.subarray(e + 6, e + 12)
    if (bytesEqual(ethSrc, 0, this.mac, 0, 6)) return
    // A link-layer address that is a group, all zeros or our own would make the cache flood
    // or black-hole a neighbour's traffic: the message is dropped (§17.6.6).
    const lladdr = m.type === 'other' ? undefined : (m.lladdr ?? ethSrc)
    if (lladdr !== undefined && !this.#usableMac(lladdr)) {
      this.#stats.vlanMalformed++
      return
    }
    switch (m.type) {
      case 'ns': {
        const own = this.#ownAddress(m.target)
        const dad = isUnspecified(m.src)
        if (dad) {
          if (own?.state === 'tentative') this.#duplicate(own, ethSrc, nowMs)
          else if (own?.state === 'preferred')
            this.#send(
              neighbourAdvertisement(this.mac, m.target, NA_OVERRIDE, undefined, undefined),
            )
          return
        }
        const mac = m.lladdr ?? ethSrc
        const isForUs = own?.state === 'preferred'
        this.#flush(this.#neighbours.confirm(ipKey(m.src, 0, 16), m.src, mac, nowMs, isForUs), mac)
        if (isForUs)
          this.#send(
            neighbourAdvertisement(this.mac, m.target, NA_SOLICITED | NA_OVERRIDE, m.src, mac),
          )
        return
      }
      case 'na': {
        const own = this.#ownAddress(m.target)
        if (own !== undefined) {
          if (own.state === 'tentative') this.#duplicate(own, m.lladdr ?? ethSrc, nowMs)
          else this.#claimedByOther(own, m.lladdr ?? ethSrc, nowMs)
          return
        }
        const mac = m.lladdr ?? ethSrc
        this.#flush(
          this.#neighbours.confirm(ipKey(m.target, 0, 16), m.target, mac, nowMs, false),
          mac,
        )
        return
      }
      case 'ra':
        this.#takeRouterAdvertisement(m, ethSrc, nowMs)
        return
      case 'other':
        return
    }
  }

  /** A neighbour's MAC as the cache may hold it: unicast, not all zeros, not ours. */
  #usableMac(mac: Uint8Array): boolean {
    if ((mac[0]! & 1) === 1 || bytesEqual(mac, 0, this.mac, 0, 6)) return false
    for (let i = 0; i < 6; i++) if (mac[i] !== 0) return true
    return false
  }

  #takeRouterAdvertisement(
    m: Extract<NdMessage, { type: 'ra' }>,
    ethSrc: Uint8Array,
    nowMs: number,
  ): void {
    this.#rsNextMs = Number.POSITIVE_INFINITY
    const mac = m.lladdr ?? ethSrc
    this.#flush(this.#neighbours.confirm(ipKey(m.src, 0, 16), m.src, mac, nowMs, true), mac)
    const index = this.#routers.findIndex((r) => bytesEqual(r.ip, 0, m.src, 0, 16))
    if (m.routerLifetime === 0) {
      if (index !== -1) {
        this.#routers.splice(index, 1)
        this.#routes++
      }
    } else if (index === -1) {
      if (this.#routers.length < MAX_ROUTERS) {
        this.#routers.push({ ip: m.src, expiresMs: nowMs + m.routerLifetime * 1000 })
        this.#routes++
      }
    } else this.#routers[index]!.expiresMs = nowMs + m.routerLifetime * 1000
    for (const p of m.prefixes) {
      if (p.length > 128 || (p.prefix[0] === 0xfe && (p.prefix[1]! & 0xc0) === 0x80)) continue
      const valid = lifetimeMs(p.valid, nowMs)
      if (p.onLink) {
        const existing = this.#onLink6.find(
          (o) => o.length === p.length && inPrefix(p.prefix, 0, o.net, o.length),
        )
        if (existing !== undefined) existing.expiresMs = valid
        else if (p.valid > 0 && this.#onLink6.length < MAX_ON_LINK_PREFIXES) {
          this.#onLink6.push({ net: p.prefix, length: p.length, expiresMs: valid })
          this.#routes++
        }
      }
      if (!this.#slaac || !p.autonomous || p.length !== 64 || p.preferred > p.valid) continue
      const address = new Uint8Array(16)
      address.set(p.prefix.subarray(0, 8))
      address.set(eui64(this.mac), 8)
      const own = this.#ownAddress(address)
      if (own === undefined) {
        if (p.valid > 0 && this.#own.length < 32)
          this.#addAddress({ family: 6, address, prefix: 64 }, 'slaac', nowMs, valid)
      } else if (own.source === 'slaac') {
        // RFC 4862 §5.5.3 e): a short valid lifetime may not cut a long one below two hours.
        const remaining = own.expiresMs - nowMs
        if (valid - nowMs > 7_200_000 || valid - nowMs > remaining) own.expiresMs = valid
        else if (remaining > 7_200_000) own.expiresMs = nowMs + 7_200_000
      }
    }
  }

  /** Fills the Ethernet headers of released frames and queues them out. */
  #flush(released: QueuedFrame[] | undefined, mac: Uint8Array): void {
    if (released === undefined) return
    for (const q of released) {
      q.frame.set(mac, q.eth)
      // Already led by the host's virtio-net header when the port has one.
      this.#frames.push(q.frame)
      this.#notify()
    }
  }

  // ---------------------------------------------------------------- addresses

  #ownAddress(ip: Uint8Array): OwnAddress | undefined {
    for (const own of this.#own)
      if (
        own.cidr.address.length === ip.length &&
        bytesEqual(own.cidr.address, 0, ip, 0, ip.length)
      )
        return own
    return undefined
  }

  #addAddress(
    cidr: Cidr,
    source: AddressSource,
    nowMs: number,
    expiresMs = Number.POSITIVE_INFINITY,
  ): void {
    const existing = this.#ownAddress(cidr.address)
    if (existing !== undefined) {
      // A renewal of the same kind; a lease never shortens an address held another way.
      if (existing.source === source) existing.expiresMs = expiresMs
      return
    }
    const own: OwnAddress = {
      cidr,
      text: `${formatIp(cidr.address)}/${cidr.prefix}`,
      source,
      state: 'tentative',
      deadlineMs: nowMs + DAD_MS,
      expiresMs,
      defendedMs: Number.NEGATIVE_INFINITY,
    }
    this.#own.push(own)
    this.#routes++
    if (cidr.family === 4)
      this.#send(
        arpFrame(1, BROADCAST_MAC, this.mac, new Uint8Array(4), new Uint8Array(6), cidr.address),
      )
    else this.#send(neighbourSolicitation(this.mac, undefined, cidr.address))
  }

  #removeAddress(own: OwnAddress, reason: 'expired' | 'lease-lost' | 'duplicate'): void {
    const i = this.#own.indexOf(own)
    if (i !== -1) this.#own.splice(i, 1)
    this.#routes++
    if (own.state === 'preferred' || reason === 'duplicate')
      this.#event({ type: 'address-removed', address: own.text, source: own.source, reason })
  }

  /** Another MAC answered for or probed an address we are still checking: it is not ours to take. */
  #duplicate(own: OwnAddress, mac: Uint8Array, nowMs: number): void {
    this.#stats.conflicts++
    own.state = 'duplicate'
    this.#routes++
    this.#event({
      type: 'duplicate',
      address: own.text,
      source: own.source,
      mac: formatMacText(mac),
    })
    this.#removeAddress(own, 'duplicate')
    if (own.source === 'dhcp' && this.#dhcp !== undefined)
      this.#dhcpOutput(this.#dhcp.decline(nowMs), nowMs)
  }

  /** Another MAC claims an address we hold: announce ours again, at most every 10 s (RFC 5227 §2.4 b). */
  #claimedByOther(own: OwnAddress, mac: Uint8Array, nowMs: number): void {
    if (own.state === 'tentative') {
      this.#duplicate(own, mac, nowMs)
      return
    }
    this.#stats.conflicts++
    if (own.state !== 'preferred' || nowMs - own.defendedMs < DEFEND_INTERVAL_MS) return
    own.defendedMs = nowMs
    this.#announce(own)
  }

  #announce(own: OwnAddress): void {
    const a = own.cidr.address
    if (own.cidr.family === 4)
      this.#send(arpFrame(1, BROADCAST_MAC, this.mac, a, new Uint8Array(6), a))
    else this.#send(neighbourAdvertisement(this.mac, a, NA_OVERRIDE, undefined, undefined))
  }

  #dhcpOutput(output: DhcpOutput, nowMs: number): void {
    for (const frame of output.frames) this.#send(frame)
    for (const event of output.events) {
      const lease = event.lease
      const old = this.#own.find((o) => o.source === 'dhcp')
      if (event.type === 'lost') {
        if (old !== undefined) this.#removeAddress(old, 'lease-lost')
        this.#dhcpRouter = undefined
        this.#routes++
        continue
      }
      this.#dhcpRouter = lease.router
      this.#routes++
      if (old !== undefined && !bytesEqual(old.cidr.address, 0, lease.address, 0, 4))
        this.#removeAddress(old, 'lease-lost')
      this.#addAddress(
        { family: 4, address: lease.address, prefix: lease.prefix },
        'dhcp',
        nowMs,
        lease.expiresAtMs,
      )
    }
  }

  // ---------------------------------------------------------------- timers

  /** Runs what is due: address detection, solicitations, expiries, router solicitations, DHCP. */
  tick(nowMs: number): void {
    for (const own of [...this.#own]) {
      if (own.expiresMs <= nowMs) {
        this.#removeAddress(own, own.source === 'dhcp' ? 'lease-lost' : 'expired')
        continue
      }
      if (own.state !== 'tentative' || own.deadlineMs > nowMs) continue
      own.state = 'preferred'
      this.#routes++
      this.#announce(own)
      this.#event({ type: 'address-added', address: own.text, source: own.source })
      if (own.source === 'link-local' && this.#rsSent === 0)
        this.#sendRouterSolicitation(own, nowMs)
    }
    if (this.#rsNextMs <= nowMs) {
      const linkLocal = this.#own.find((o) => o.source === 'link-local' && o.state === 'preferred')
      if (linkLocal !== undefined) this.#sendRouterSolicitation(linkLocal, nowMs)
    }
    for (const [key, entry] of this.#neighbours.due(nowMs)) {
      switch (entry.state) {
        case 'reachable':
          entry.state = 'stale'
          this.#routes++
          entry.deadlineMs = Number.POSITIVE_INFINITY
          break
        case 'incomplete':
        case 'probe':
          if (entry.solicits < MAX_SOLICITS) this.#solicit(entry, nowMs)
          else if (entry.state === 'probe') this.#neighbours.delete(key)
          else this.#neighbours.fail(entry, nowMs)
          break
        case 'failed':
          this.#neighbours.delete(key)
          break
        case 'stale':
          break
      }
    }
    for (let i = this.#routers.length - 1; i >= 0; i--)
      if (this.#routers[i]!.expiresMs <= nowMs) {
        this.#routers.splice(i, 1)
        this.#routes++
      }
    for (let i = this.#onLink6.length - 1; i >= 0; i--)
      if (this.#onLink6[i]!.expiresMs <= nowMs) {
        this.#onLink6.splice(i, 1)
        this.#routes++
      }
    if (this.#dhcp !== undefined) this.#dhcpOutput(this.#dhcp.tick(nowMs), nowMs)
  }

  #sendRouterSolicitation(linkLocal: OwnAddress, nowMs: number): void {
    this.#rsSent++
    this.#rsNextMs = this.#rsSent < MAX_RS ? nowMs + RS_INTERVAL_MS : Number.POSITIVE_INFINITY
    this.#send(routerSolicitation(this.mac, linkLocal.cidr.address))
  }

  /** When {@link tick} next has work (undefined: nothing scheduled). */
  nextWakeMs(): number | undefined {
    let next = this.#neighbours.nextDeadline()
    const consider = (t: number | undefined) => {
      if (t !== undefined && Number.isFinite(t) && (next === undefined || t < next)) next = t
    }
    for (const own of this.#own)
      consider(own.state === 'tentative' ? own.deadlineMs : own.expiresMs)
    consider(this.#rsNextMs)
    for (const r of this.#routers) consider(r.expiresMs)
    for (const p of this.#onLink6) consider(p.expiresMs)
    consider(this.#dhcp?.nextWakeMs())
    return next
  }

  // ---------------------------------------------------------------- output and state

  /** Frames made here (ARP, NDP, DHCP, packets released by a resolution), to send into the VLAN; with `vnetHeader`, each led by its virtio-net header. */
  takeFrames(): Uint8Array[] {
    const frames = this.#frames
    this.#frames = []
    this.#notified = this.#events.length > 0 && this.#notified
    return frames
  }

  /** What the host must do: addresses to put on the device or take off it, conflicts to report. */
  takeEvents(): TunL2Event[] {
    const events = this.#events
    this.#events = []
    this.#notified = this.#frames.length > 0 && this.#notified
    return events
  }

  /**
   * The group MACs the port listens on (the switch subscribes to them): all
   * nodes and all hosts, the solicited-node group of each IPv6 address, and
   * those of `hostGroups`, the groups the host joined on the device (4- or
   * 16-byte addresses).
   */
  multicastMacs(hostGroups: readonly Uint8Array[] = []): Uint8Array[] {
    const macs = new Map<string, Uint8Array>()
    const add = (mac: Uint8Array) => macs.set(formatMacText(mac), mac)
    add(ipv6MulticastMac(ALL_NODES))
    add(ipv4MulticastMac(new Uint8Array([224, 0, 0, 1])))
    for (const own of this.#own)
      if (own.cidr.family === 6) add(ipv6MulticastMac(solicitedNode(own.cidr.address)))
    for (const group of hostGroups) {
      if (group.length === 4 && (group[0]! & 0xf0) === 0xe0) add(ipv4MulticastMac(group))
      else if (group.length === 16 && group[0] === 0xff) add(ipv6MulticastMac(group))
    }
    return [...macs.values()]
  }

  /** The port's addresses and their states. */
  addresses(): Array<{ address: string; source: AddressSource; state: AddressState }> {
    return this.#own.map((o) => ({ address: o.text, source: o.source, state: o.state }))
  }

  /** The gateways in use, IPv4 and IPv6, and where each came from. */
  gateways(): Array<{ address: string; source: 'config' | 'dhcp' | 'router-advertisement' }> {
    const out: Array<{ address: string; source: 'config' | 'dhcp' | 'router-advertisement' }> = []
    if (this.#gateway4 !== undefined)
      out.push({ address: formatIp(this.#gateway4), source: 'config' })
    else if (this.#dhcpRouter !== undefined)
      out.push({ address: formatIp(this.#dhcpRouter), source: 'dhcp' })
    if (this.#gateway6 !== undefined)
      out.push({ address: formatIp(this.#gateway6), source: 'config' })
    else if (this.#routers[0] !== undefined)
      out.push({ address: formatIp(this.#routers[0].ip), source: 'router-advertisement' })
    return out
  }

  /**
   * A version of what {@link reachableMac} answers: it changes whenever an
   * answer could (a neighbour entry made, confirmed with another MAC or
   * from another state, gone stale, probed, failed or deleted; an own
   * address, the DHCP router, a default router or an on-link prefix added,
   * changed or gone). A caller that keeps answers, as the fast path does
   * (docs/spec/18-fast-path.md §18.5.7), drops them when it changes.
   */
  get routesVersion(): number {
    return this.#routes + this.#neighbours.version
  }

  /**
   * The MAC that packets to `dst` (an IPv4 or IPv6 address, 4 or 16
   * bytes) go to now, if that is settled: §17.5 gives a next hop and its
   * neighbour entry is REACHABLE. Undefined for a group, broadcast or
   * directed broadcast destination, with no route, and while the next hop
   * resolves, is stale, probed or failed: such packets need
   * {@link fromHost}. Changes nothing (no entry made, nothing counted).
   */
  reachableMac(dst: Uint8Array): Uint8Array | undefined {
    let hop: Uint8Array | undefined
    if (dst.length === 4) {
      if (dst[0] === 255 && dst[1] === 255 && dst[2] === 255 && dst[3] === 255) return undefined
      if ((dst[0]! & 0xf0) === 0xe0) return undefined
      const onLink = this.#onLink4(dst, 0)
      if (onLink === 'broadcast') return undefined
      hop = onLink ? dst : (this.#gateway4 ?? this.#dhcpRouter)
    } else if (dst.length === 16) {
      if (dst[0] === 0xff) return undefined
      hop = this.#onLink6Check(dst, 0) ? dst : (this.#gateway6 ?? this.#routers[0]?.ip)
    }
    if (hop === undefined) return undefined
    const entry = this.#neighbours.get(ipKey(hop, 0, hop.length))
    return entry?.state === 'reachable' ? entry.mac : undefined
  }

  /** The neighbour cache: address, MAC (if known) and state. */
  neighbours(): Array<{ address: string; mac?: string; state: string }> {
    return [...this.#neighbours.entries()].map(([, n]) => ({
      address: formatIp(n.ip),
      ...(n.mac === undefined ? {} : { mac: formatMacText(n.mac) }),
      state: n.state,
    }))
  }

  /** The DHCP client's lease, if it has one. */
  dhcpLease() {
    return this.#dhcp?.lease
  }

  stats(): Readonly<TunL2Stats> & {
    queuedPackets: number
    queuedBytes: number
    neighbours: number
  } {
    const queued = this.#neighbours.queued()
    return {
      ...this.#stats,
      queuedPackets: queued.packets,
      queuedBytes: queued.bytes,
      neighbours: this.#neighbours.size,
    }
  }

  /** Queues a frame the port made itself; with a virtio-net header, led by a zero one (no offload), as every frame of the port is. */
  #send(frame: Uint8Array): void {
    if (this.#vnet) {
      const led = new Uint8Array(VNET_HEADER + frame.length)
      led.set(frame, VNET_HEADER)
      frame = led
    }
    this.#frames.push(frame)
    this.#notify()
  }

  #event(event: TunL2Event): void {
    this.#events.push(event)
    this.#notify()
  }

  #notify(): void {
    if (this.#notified) return
    this.#notified = true
    this.#onOutput?.()
  }
}

/**
 * Moves the 10-byte virtio-net header at `from` to `to` in `data`,
 * shifting its offsets (csum_start, and hdr_len when set) by `shift`: +14
 * when an Ethernet header goes in front of the packet, -14 when it goes.
 */
function moveVnetHeader(data: Uint8Array, from: number, to: number, shift: number): void {
  data.copyWithin(to, from, from + VNET_HEADER)
  const flags = data[to]!
  const hdrLen = data[to + 2]! | (data[to + 3]! << 8)
  if (hdrLen !== 0) {
    const moved = Math.max(0, hdrLen + shift)
    data[to + 2] = moved & 0xff
    data[to + 3] = moved >> 8
  }
  if ((flags & 1) !== 0) {
    const csumStart = Math.max(0, (data[to + 6]! | (data[to + 7]! << 8)) + shift)
    data[to + 6] = csumStart & 0xff
    data[to + 7] = csumStart >> 8
  }
}

function isHostBitsAllOnes(data: Uint8Array, d: number, prefix: number): boolean {
  for (let bit = prefix; bit < 32; bit++)
    if (((data[d + (bit >> 3)]! >> (7 - (bit & 7))) & 1) === 0) return false
  return true
}

function isUnspecified(ip: Uint8Array): boolean {
  for (const b of ip) if (b !== 0) return false
  return true
}

function lifetimeMs(seconds: number, nowMs: number): number {
  return seconds === 0xffffffff ? Number.POSITIVE_INFINITY : nowMs + seconds * 1000
}

function formatMacText(mac: Uint8Array): string {
  return Array.from(mac.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':')
}
