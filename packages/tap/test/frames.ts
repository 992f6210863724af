/** Builders and parsers for the frames the tests craft: Ethernet, ARP, IPv4/UDP. */

export const ETH_P_IP = 0x0800
export const ETH_P_ARP = 0x0806

export function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((h) => Number.parseInt(h, 16)))
}

export function ipBytes(ip: string): Uint8Array {
  return Uint8Array.from(ip.split('.').map(Number))
}

export const fmtIp = (b: Uint8Array): string => [...b].join('.')
export const fmtMac = (b: Uint8Array): string =>
  [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')

/** An ARP packet (RFC 826) for IPv4 over Ethernet in an Ethernet frame. */
export function arpFrame(o: {
  op: 1 | 2
  srcMac: string
  dstMac: string
  senderMac: string
  senderIp: string
  targetMac: string
  targetIp: string
}): Uint8Array {
  const f = new Uint8Array(42)
  const v = new DataView(f.buffer)
  f.set(macBytes(o.dstMac), 0)
  f.set(macBytes(o.srcMac), 6)
  v.setUint16(12, ETH_P_ARP)
  v.setUint16(14, 1) // htype Ethernet
  v.setUint16(16, ETH_P_IP)
  f[18] = 6
  f[19] = 4
  v.setUint16(20, o.op)
  f.set(macBytes(o.senderMac), 22)
  f.set(ipBytes(o.senderIp), 28)
  f.set(macBytes(o.targetMac), 32)
  f.set(ipBytes(o.targetIp), 38)
  return f
}

export interface Arp {
  op: number
  senderMac: string
  senderIp: string
  targetMac: string
  targetIp: string
}

export function parseArp(frame: Uint8Array): Arp | undefined {
  if (frame.length < 42) return undefined
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  if (v.getUint16(12) !== ETH_P_ARP) return undefined
  return {
    op: v.getUint16(20),
    senderMac: fmtMac(frame.subarray(22, 28)),
    senderIp: fmtIp(frame.subarray(28, 32)),
    targetMac: fmtMac(frame.subarray(32, 38)),
    targetIp: fmtIp(frame.subarray(38, 42)),
  }
}

/** The RFC 1071 Internet checksum. */
export function inetChecksum(b: Uint8Array): number {
  let sum = 0
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!
  if (b.length % 2 === 1) sum += b[b.length - 1]! << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/**
 * An Ethernet frame of exactly `frameLength` bytes carrying IPv4/UDP
 * (UDP checksum 0: none, RFC 768), payload filled with `fill`.
 */
export function udpFrame(o: {
  srcMac: string
  dstMac: string
  srcIp: string
  dstIp: string
  srcPort: number
  dstPort: number
  frameLength: number
  fill?: number
}): Uint8Array {
  const f = new Uint8Array(o.frameLength)
  const v = new DataView(f.buffer)
  f.set(macBytes(o.dstMac), 0)
  f.set(macBytes(o.srcMac), 6)
  v.setUint16(12, ETH_P_IP)
  const ipLen = o.frameLength - 14
  f[14] = 0x45
  v.setUint16(16, ipLen)
  f[22] = 64 // TTL
  f[23] = 17 // UDP
  f.set(ipBytes(o.srcIp), 26)
  f.set(ipBytes(o.dstIp), 30)
  v.setUint16(24, inetChecksum(f.subarray(14, 34)))
  v.setUint16(34, o.srcPort)
  v.setUint16(36, o.dstPort)
  v.setUint16(38, ipLen - 20)
  f.fill(o.fill ?? 0xab, 42)
  return f
}

/** The UDP destination port of an Ethernet/IPv4/UDP frame, or -1. */
export function udpDstPort(frame: Uint8Array): number {
  if (frame.length < 42) return -1
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  if (v.getUint16(12) !== ETH_P_IP || frame[23] !== 17) return -1
  const ihl = (frame[14]! & 0x0f) * 4
  return v.getUint16(14 + ihl + 2)
}
