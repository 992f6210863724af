/** Packets and frames built by hand for the tests (offsets from the RFCs, not from src/). */
import { TunL2, type TunL2Options } from '../src/index.ts'

export const MAC = new Uint8Array([0x02, 0x11, 0x22, 0x33, 0x44, 0x55])
export const PEER_MAC = new Uint8Array([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee])
export const ROUTER_MAC = new Uint8Array([0x02, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f])

let seed = 1
export function random(n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0
    out[i] = seed >>> 24
  }
  return out
}

export function ip4(text: string): Uint8Array {
  return new Uint8Array(text.split('.').map(Number))
}

/** A minimal IPv4 packet (UDP, no checksum) from `src` to `dst`. */
export function ipv4Packet(src: string, dst: string, payload = 8): Uint8Array {
  const p = new Uint8Array(20 + 8 + payload)
  p[0] = 0x45
  p[2] = p.length >> 8
  p[3] = p.length & 0xff
  p[8] = 64
  p[9] = 17
  p.set(ip4(src), 12)
  p.set(ip4(dst), 16)
  return p
}

/** A minimal IPv6 packet (UDP) from `src` to `dst` (16-byte addresses). */
export function ipv6Packet(src: Uint8Array, dst: Uint8Array, payload = 8): Uint8Array {
  const p = new Uint8Array(40 + 8 + payload)
  p[0] = 0x60
  p[5] = 8 + payload
  p[6] = 17
  p[7] = 64
  p.set(src, 8)
  p.set(dst, 24)
  return p
}

/** Packets laid out as a device read with `headroom` bytes before each (and a `lead` header each). */
export function batchOf(packets: Uint8Array[], headroom = 14, lead?: (i: number) => Uint8Array) {
  const leads = packets.map((_, i) => lead?.(i) ?? new Uint8Array(0))
  const size = packets.reduce((n, p, i) => n + headroom + leads[i]!.length + p.length, 0)
  const data = new Uint8Array(size)
  const offsets = new Uint32Array(packets.length)
  const lengths = new Uint32Array(packets.length)
  let at = 0
  packets.forEach((p, i) => {
    at += headroom
    offsets[i] = at
    data.set(leads[i]!, at)
    data.set(p, at + leads[i]!.length)
    lengths[i] = leads[i]!.length + p.length
    at += lengths[i]!
  })
  return { data, offsets, lengths, count: packets.length }
}

/** An Ethernet frame. */
export function ethernet(
  dst: Uint8Array,
  src: Uint8Array,
  type: number,
  payload: Uint8Array,
): Uint8Array {
  const f = new Uint8Array(14 + payload.length)
  f.set(dst)
  f.set(src, 6)
  f[12] = type >> 8
  f[13] = type & 0xff
  f.set(payload, 14)
  return f
}

/** An ARP packet (RFC 826) in an Ethernet frame. */
export function arp(
  op: 1 | 2,
  ethDst: Uint8Array,
  senderMac: Uint8Array,
  senderIp: string,
  targetMac: Uint8Array,
  targetIp: string,
): Uint8Array {
  const a = new Uint8Array(28)
  a.set([0, 1, 8, 0, 6, 4, 0, op])
  a.set(senderMac, 8)
  a.set(ip4(senderIp), 14)
  a.set(targetMac, 18)
  a.set(ip4(targetIp), 24)
  return ethernet(ethDst, senderMac, 0x0806, a)
}

/** An ICMPv6 message in IPv6 (hop limit 255) in Ethernet; checksum left 0 (tun-l2 does not check it). */
export function icmp6(
  ethDst: Uint8Array,
  ethSrc: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  icmp: Uint8Array,
) {
  const p = new Uint8Array(40 + icmp.length)
  p[0] = 0x60
  p[4] = icmp.length >> 8
  p[5] = icmp.length & 0xff
  p[6] = 58
  p[7] = 255
  p.set(src, 8)
  p.set(dst, 24)
  p.set(icmp, 40)
  return ethernet(ethDst, ethSrc, 0x86dd, p)
}

export function v6(...words: number[]): Uint8Array {
  const out = new Uint8Array(16)
  const head = words.slice(0, 8)
  head.forEach((w, i) => {
    out[2 * i] = w >> 8
    out[2 * i + 1] = w & 0xff
  })
  return out
}

export function make(options: Partial<TunL2Options> = {}): TunL2 {
  return new TunL2({ mac: MAC, random, ...options })
}

/** Starts and lets duplicate address detection pass; returns the frames sent meanwhile. */
export function started(l2: TunL2, now = 0): Uint8Array[] {
  l2.start(now)
  l2.tick(now + 1000)
  const frames = l2.takeFrames()
  l2.takeEvents()
  return frames
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}
