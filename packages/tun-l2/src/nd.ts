/**
 * IPv6 neighbour discovery messages (RFC 4861 §4): the ones layer 2
 * emulation sends (neighbour solicitations and advertisements, router
 * solicitations) and a bounded parser for the ones it takes (NS, NA, RA).
 */

import { ipv6MulticastMac, solicitedNode } from './mac.ts'
import { IPV6_HEADER, icmpv6Frame } from './packet.ts'

export const ICMP6_RS = 133
export const ICMP6_RA = 134
export const ICMP6_NS = 135
export const ICMP6_NA = 136
export const ICMP6_REDIRECT = 137

const UNSPECIFIED = new Uint8Array(16)
const ALL_NODES = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
const ALL_ROUTERS = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])

/** NA flags (RFC 4861 §4.4). */
export const NA_ROUTER = 0x80
export const NA_SOLICITED = 0x40
export const NA_OVERRIDE = 0x20

/**
 * A neighbour solicitation for `target`. From `src` with our MAC as source
 * link-layer option; from the unspecified address (duplicate address
 * detection, RFC 4862 §5.4.2) without it. To the target's solicited-node
 * group, or unicast to `dstMac`/`target` (a reachability probe).
 */
export function neighbourSolicitation(
  mac: Uint8Array,
  src: Uint8Array | undefined,
  target: Uint8Array,
  dstMac?: Uint8Array,
): Uint8Array {
  const icmp = new Uint8Array(src === undefined ? 24 : 32)
  icmp[0] = ICMP6_NS
  icmp.set(target, 8)
  if (src !== undefined) {
    icmp[24] = 1
    icmp[25] = 1
    icmp.set(mac, 26)
  }
  const group = solicitedNode(target)
  return icmpv6Frame(
    dstMac ?? ipv6MulticastMac(group),
    mac,
    src ?? UNSPECIFIED,
    dstMac === undefined ? group : target,
    icmp,
  )
}

/** A neighbour advertisement for `target` with our MAC as target link-layer option. */
export function neighbourAdvertisement(
  mac: Uint8Array,
  target: Uint8Array,
  flags: number,
  dst: Uint8Array | undefined,
  dstMac: Uint8Array | undefined,
): Uint8Array {
  const icmp = new Uint8Array(32)
  icmp[0] = ICMP6_NA
  icmp[4] = flags
  icmp.set(target, 8)
  icmp[24] = 2
  icmp[25] = 1
  icmp.set(mac, 26)
  return icmpv6Frame(dstMac ?? ipv6MulticastMac(ALL_NODES), mac, target, dst ?? ALL_NODES, icmp)
}

/** A router solicitation from `src` (with our MAC as source link-layer option) to all routers. */
export function routerSolicitation(mac: Uint8Array, src: Uint8Array): Uint8Array {
  const icmp = new Uint8Array(16)
  icmp[0] = ICMP6_RS
  icmp[8] = 1
  icmp[9] = 1
  icmp.set(mac, 10)
  return icmpv6Frame(ipv6MulticastMac(ALL_ROUTERS), mac, src, ALL_ROUTERS, icmp)
}

/** A prefix information option of a router advertisement (RFC 4861 §4.6.2). */
export interface PrefixInfo {
  readonly prefix: Uint8Array
  readonly length: number
  readonly onLink: boolean
  readonly autonomous: boolean
  /** Seconds; 0xffffffff is infinity. */
  readonly valid: number
  readonly preferred: number
}

/** A neighbour discovery message taken from the VLAN, checked (RFC 4861 §6.1, §7.1.1, §7.1.2). */
export type NdMessage =
  | {
      readonly type: 'ns'
      readonly src: Uint8Array
      readonly target: Uint8Array
      readonly lladdr: Uint8Array | undefined
    }
  | {
      readonly type: 'na'
      readonly target: Uint8Array
      readonly flags: number
      readonly lladdr: Uint8Array | undefined
    }
  | {
      readonly type: 'ra'
      readonly src: Uint8Array
      /** Seconds; 0: not a default router. */
      readonly routerLifetime: number
      readonly lladdr: Uint8Array | undefined
      readonly prefixes: readonly PrefixInfo[]
    }
  | { readonly type: 'other' }

/**
 * Whether the IPv6 packet at `ip` in `frame` is ICMPv6 neighbour discovery
 * (types 133 to 137, no extension headers, as RFC 4861 requires of them).
 */
export function isNeighbourDiscovery(frame: Uint8Array, ip: number): boolean {
  if (frame.length < ip + IPV6_HEADER + 4 || frame[ip + 6] !== 58) return false
  const type = frame[ip + IPV6_HEADER]!
  return type >= ICMP6_RS && type <= ICMP6_REDIRECT
}

/**
 * Parses the neighbour discovery message at `ip` (an IPv6 header) in
 * `frame`; undefined if it does not hold up: hop limit not 255, code not 0,
 * a length that does not match, a message too short, an option of length 0
 * or past the end. The ICMPv6 checksum is not checked: the frame arrived
 * sealed and authenticated from a VLAN member.
 */
export function parseNd(frame: Uint8Array, ip: number): NdMessage | undefined {
  const end = ip + IPV6_HEADER + ((frame[ip + 4]! << 8) | frame[ip + 5]!)
  if (end > frame.length || frame[ip + 7] !== 255) return undefined
  const icmp = ip + IPV6_HEADER
  if (frame[icmp + 1] !== 0) return undefined
  const type = frame[icmp]!
  const src = frame.subarray(ip + 8, ip + 24)
  const fixed = type === ICMP6_RA ? 16 : type === ICMP6_NS || type === ICMP6_NA ? 24 : 8
  if (end - icmp < fixed) return undefined
  let lladdr: Uint8Array | undefined
  const prefixes: PrefixInfo[] = []
  for (let o = icmp + fixed; o < end; ) {
    if (o + 2 > end) return undefined
    const kind = frame[o]!
    const length = frame[o + 1]! * 8
    if (length === 0 || o + length > end) return undefined
    if ((kind === 1 || kind === 2) && length >= 8) lladdr = frame.slice(o + 2, o + 8)
    if (kind === 3 && type === ICMP6_RA) {
      if (length !== 32) return undefined
      const view = new DataView(frame.buffer, frame.byteOffset + o)
      prefixes.push({
        length: frame[o + 2]!,
        onLink: (frame[o + 3]! & 0x80) !== 0,
        autonomous: (frame[o + 3]! & 0x40) !== 0,
        valid: view.getUint32(4),
        preferred: view.getUint32(8),
        prefix: frame.slice(o + 16, o + 32),
      })
    }
    o += length
  }
  switch (type) {
    case ICMP6_NS:
      if (isMulticast(frame, icmp + 8)) return undefined
      return { type: 'ns', src: src.slice(), target: frame.slice(icmp + 8, icmp + 24), lladdr }
    case ICMP6_NA:
      if (isMulticast(frame, icmp + 8)) return undefined
      return {
        type: 'na',
        target: frame.slice(icmp + 8, icmp + 24),
        flags: frame[icmp + 4]!,
        lladdr,
      }
    case ICMP6_RA: {
      // A router advertisement comes from a link-local address (RFC 4861 §6.1.2).
      if (src[0] !== 0xfe || (src[1]! & 0xc0) !== 0x80) return undefined
      const lifetime = (frame[icmp + 6]! << 8) | frame[icmp + 7]!
      return { type: 'ra', src: src.slice(), routerLifetime: lifetime, lladdr, prefixes }
    }
    default:
      return { type: 'other' }
  }
}

function isMulticast(frame: Uint8Array, offset: number): boolean {
  return frame[offset] === 0xff
}

export { ALL_NODES, UNSPECIFIED }
