/**
 * Addresses, checksums and the few packets layer 2 emulation makes itself:
 * Ethernet headers, ARP, ICMPv6 (neighbour discovery) and UDP over IPv4
 * (DHCP). Byte layouts are the RFCs'; docs/spec/17-tun-l2.md §17.3 lists
 * which fields PeerTap sets to what.
 */
import { TunL2Error } from './errors.ts'

export const ETH_HEADER = 14
export const ETHERTYPE_IPV4 = 0x0800
export const ETHERTYPE_ARP = 0x0806
export const ETHERTYPE_IPV6 = 0x86dd
export const IPV4_HEADER = 20
export const IPV6_HEADER = 40

/** An interface address: its bytes (4 or 16) and prefix length. */
export interface Cidr {
  readonly family: 4 | 6
  readonly address: Uint8Array
  readonly prefix: number
}

/** Parses `10.0.0.5/24`, `fd00::5/64` (a bare address gets /32 or /128). */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/')
  const addressText = slash === -1 ? text : text.slice(0, slash)
  const address = parseIp(addressText)
  const max = address.length * 8
  let prefix = max
  if (slash !== -1) {
    const p = text.slice(slash + 1)
    prefix = /^\d{1,3}$/.test(p) ? Number(p) : -1
    if (prefix < 0 || prefix > max)
      throw new TunL2Error('tun-l2-address-invalid', `bad prefix length in ${JSON.stringify(text)}`)
  }
  return { family: address.length === 4 ? 4 : 6, address, prefix }
}

/** Parses an IPv4 (dotted quad) or IPv6 (RFC 4291 §2.2 text, no zone) address. */
export function parseIp(text: string): Uint8Array {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (v4 !== null) {
    const bytes = v4.slice(1).map(Number)
    if (bytes.every((b) => b <= 255)) return new Uint8Array(bytes)
  }
  const v6 = parseIpv6(text)
  if (v6 !== undefined) return v6
  throw new TunL2Error('tun-l2-address-invalid', `not an IP address: ${JSON.stringify(text)}`)
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(text)) return undefined
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groups = (part: string): number[] | undefined => {
    if (part === '') return []
    const out: number[] = []
    const items = part.split(':')
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      if (i === items.length - 1 && item.includes('.')) {
        const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(item)
        if (m === null) return undefined
        const b = m.slice(1).map(Number)
        if (b.some((x) => x > 255)) return undefined
        out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!)
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return undefined
        out.push(Number.parseInt(item, 16))
      }
    }
    return out
  }
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  const fill = 8 - head.length - tail.length
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail]
  const bytes = new Uint8Array(16)
  for (let i = 0; i < 8; i++) {
    bytes[2 * i] = all[i]! >> 8
    bytes[2 * i + 1] = all[i]! & 0xff
  }
  return bytes
}

/** An address's text form: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as `::`). */
export function formatIp(bytes: Uint8Array, offset = 0, length = bytes.length - offset): string {
  if (length === 4)
    return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`
  const words: number[] = []
  for (let i = 0; i < 8; i++) words.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!)
  let best = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLength) {
      best = i
      bestLength = j - i
    }
    i = j
  }
  const hex = (w: number[]) => w.map((x) => x.toString(16)).join(':')
  if (best === -1) return hex(words)
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLength))}`
}

/** Whether `address` (at `offset`) lies in `net`/`prefix`; both of one family. */
export function inPrefix(
  address: Uint8Array,
  offset: number,
  net: Uint8Array,
  prefix: number,
): boolean {
  const whole = prefix >> 3
  for (let i = 0; i < whole; i++) if (address[offset + i] !== net[i]) return false
  const bits = prefix & 7
  if (bits === 0) return true
  const mask = (0xff << (8 - bits)) & 0xff
  return ((address[offset + whole]! ^ net[whole]!) & mask) === 0
}

/** Whether two byte ranges are equal. */
export function bytesEqual(
  a: Uint8Array,
  aOffset: number,
  b: Uint8Array,
  bOffset: number,
  length: number,
): boolean {
  for (let i = 0; i < length; i++) if (a[aOffset + i] !== b[bOffset + i]) return false
  return true
}

/** The 16-bit ones' complement sum of `data[start, end)` added to `sum` (RFC 1071), not yet folded. */
export function onesSum(data: Uint8Array, start: number, end: number, sum = 0): number {
  let i = start
  for (; i + 1 < end; i += 2) sum += (data[i]! << 8) | data[i + 1]!
  if (i < end) sum += data[i]! << 8
  return sum
}

/** Folds a ones' complement sum and complements it: the checksum field's value. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/** Writes an Ethernet header (destination, source, EtherType) at `offset`. */
export function writeEthernet(
  frame: Uint8Array,
  offset: number,
  dst: Uint8Array,
  src: Uint8Array,
  type: number,
): void {
  frame.set(dst, offset)
  frame.set(src, offset + 6)
  frame[offset + 12] = type >> 8
  frame[offset + 13] = type & 0xff
}

/** An ARP packet for IPv4 over Ethernet (RFC 826) in an Ethernet frame: 42 bytes. */
export function arpFrame(
  op: 1 | 2,
  ethDst: Uint8Array,
  senderMac: Uint8Array,
  senderIp: Uint8Array,
  targetMac: Uint8Array,
  targetIp: Uint8Array,
): Uint8Array {
  const frame = new Uint8Array(ETH_HEADER + 28)
  writeEthernet(frame, 0, ethDst, senderMac, ETHERTYPE_ARP)
  frame.set([0x00, 0x01, 0x08, 0x00, 6, 4, 0, op], ETH_HEADER)
  frame.set(senderMac, ETH_HEADER + 8)
  frame.set(senderIp, ETH_HEADER + 14)
  frame.set(targetMac, ETH_HEADER + 18)
  frame.set(targetIp, ETH_HEADER + 24)
  return frame
}

/**
 * An ICMPv6 message (`icmp`: type, code, zero checksum, body) in an IPv6
 * packet (hop limit 255, as neighbour discovery requires) in an Ethernet
 * frame, with the checksum over the pseudo-header filled in.
 */
export function icmpv6Frame(
  ethDst: Uint8Array,
  ethSrc: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  icmp: Uint8Array,
): Uint8Array {
  const frame = new Uint8Array(ETH_HEADER + IPV6_HEADER + icmp.length)
  writeEthernet(frame, 0, ethDst, ethSrc, ETHERTYPE_IPV6)
  const ip = ETH_HEADER
  frame[ip] = 0x60
  frame[ip + 4] = icmp.length >> 8
  frame[ip + 5] = icmp.length & 0xff
  frame[ip + 6] = 58
  frame[ip + 7] = 255
  frame.set(src, ip + 8)
  frame.set(dst, ip + 24)
  const body = ip + IPV6_HEADER
  frame.set(icmp, body)
  frame[body + 2] = 0
  frame[body + 3] = 0
  let sum = onesSum(frame, ip + 8, ip + 40) + icmp.length + 58
  sum = onesSum(frame, body, body + icmp.length, sum)
  const check = finishChecksum(sum)
  frame[body + 2] = check >> 8
  frame[body + 3] = check & 0xff
  return frame
}

/** A UDP datagram over IPv4 (TTL 64, DF clear, UDP checksum filled in) in an Ethernet frame. */
export function udp4Frame(
  ethDst: Uint8Array,
  ethSrc: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
): Uint8Array {
  const udpLength = 8 + payload.length
  const frame = new Uint8Array(ETH_HEADER + IPV4_HEADER + udpLength)
  writeEthernet(frame, 0, ethDst, ethSrc, ETHERTYPE_IPV4)
  const ip = ETH_HEADER
  const total = IPV4_HEADER + udpLength
  frame.set([0x45, 0, total >> 8, total & 0xff, 0, 0, 0, 0, 64, 17, 0, 0], ip)
  frame.set(src, ip + 12)
  frame.set(dst, ip + 16)
  const ipCheck = finishChecksum(onesSum(frame, ip, ip + IPV4_HEADER))
  frame[ip + 10] = ipCheck >> 8
  frame[ip + 11] = ipCheck & 0xff
  const u = ip + IPV4_HEADER
  frame.set(
    [srcPort >> 8, srcPort & 0xff, dstPort >> 8, dstPort & 0xff, udpLength >> 8, udpLength & 0xff],
    u,
  )
  frame.set(payload, u + 8)
  let sum = onesSum(frame, ip + 12, ip + 20) + 17 + udpLength
  sum = onesSum(frame, u, u + udpLength, sum)
  const check = finishChecksum(sum) || 0xffff
  frame[u + 6] = check >> 8
  frame[u + 7] = check & 0xff
  return frame
}
