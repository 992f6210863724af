import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type CoalesceCounters,
  checkVnetFrame,
  coalesceTcp,
  MAX_COALESCED_SEGMENTS,
  readVnetHeader,
  segmentTcpToFit,
  toPlainFrames,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_GSO_UDP,
  VNET_GSO_UDP_L4,
  VNET_HEADER_LENGTH,
  type VnetHeader,
  withZeroVnetHeader,
  writeVnetHeader,
} from '../src/index.ts'

// Real packets, built here field by field with a checksum written
// differently from src/vnet.ts: the sum of the 16-bit words as a BigInt,
// reduced mod 65535 (ones' complement addition is addition mod 2^16 - 1).

const TCP = 6
const UDP = 17
const FIN = 0x01
const PSH = 0x08
const ACK = 0x10
const ECE = 0x40
const CWR = 0x80

function words(bytes: Uint8Array): bigint {
  let s = 0n
  for (let i = 0; i < bytes.length; i++) s += BigInt(bytes[i]!) * (i % 2 === 0 ? 256n : 1n)
  return s
}

/** Does a region whose sum includes its checksum field verify (fold to 0xffff)? Parts of even length but the last. */
function verifies(...parts: Uint8Array[]): boolean {
  const s = parts.reduce((acc, p) => acc + words(p), 0n)
  return s > 0n && s % 65535n === 0n
}

/** The checksum to write so that the region verifies: ~(ones' complement sum). */
function refChecksum(...parts: Uint8Array[]): number {
  const s = parts.reduce((acc, p) => acc + words(p), 0n)
  const folded = s === 0n ? 0 : Number(s % 65535n) === 0 ? 0xffff : Number(s % 65535n)
  return 0xffff - folded
}

/** The non-inverted, folded pseudo-header sum: what Linux leaves in the field for CHECKSUM_PARTIAL. */
function refSeed(pseudo: Uint8Array): number {
  const s = words(pseudo)
  return s === 0n ? 0 : Number(s % 65535n) === 0 ? 0xffff : Number(s % 65535n)
}

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/[\s:]/g, ''), 'hex'))
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts))
}

function be16(v: number): Uint8Array {
  return Uint8Array.of(v >> 8, v & 0xff)
}

function be32(v: number): Uint8Array {
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff)
}

const SRC4 = hex('c0a80a01')
const DST4 = hex('c0a80a02')
const SRC6 = hex('fd00 0000 0000 0000 0000 0000 0000 0001')
const DST6 = hex('fd00 0000 0000 0000 0000 0000 00ab cdef')
const MAC_DST = hex('02:00:00:00:00:0b')
const MAC_SRC = hex('02:00:00:00:00:0a')
/** 12-byte TCP options: NOP NOP timestamp, as Linux sends on an established flow. */
const TS_OPTIONS = hex('0101080a 0001e240 0000d431')

interface PacketSpec {
  ip: 4 | 6
  l4: 'tcp' | 'udp'
  payload: Uint8Array
  /** One 802.1Q (0x8100) or 802.1ad (0x88a8) tag before IP. */
  tag?: 0x8100 | 0x88a8
  id?: number
  seq?: number
  flags?: number
  tcpOptions?: Uint8Array
  /** IPv4 options (a multiple of 4 bytes). */
  ipOptions?: Uint8Array
  /** What goes in the TCP/UDP checksum field: the full checksum, Linux's seed, or zero. */
  csum?: 'full' | 'seed' | 'zero'
}

interface Packet {
  frame: Uint8Array
  l3: number
  l4: number
  /** Offset of the payload in the frame. */
  data: number
}

/** dst ‖ src ‖ [tag] ‖ ethertype ‖ IP ‖ TCP/UDP ‖ payload, every length and checksum set. */
function packet(spec: PacketSpec): Packet {
  const proto = spec.l4 === 'tcp' ? TCP : UDP
  let l4header: Uint8Array
  if (spec.l4 === 'tcp') {
    const options = spec.tcpOptions ?? new Uint8Array(0)
    l4header = concat(
      be16(40000),
      be16(5201),
      be32(spec.seq ?? 0x11223344),
      be32(0x55667788),
      Uint8Array.of(((20 + options.length) / 4) << 4, spec.flags ?? ACK),
      be16(502),
      be16(0), // checksum
      be16(0), // urgent pointer
      options,
    )
  } else {
    l4header = concat(be16(40000), be16(4433), be16(8 + spec.payload.length), be16(0))
  }
  const l4Length = l4header.length + spec.payload.length
  const pseudo =
    spec.ip === 4
      ? concat(SRC4, DST4, Uint8Array.of(0, proto), be16(l4Length))
      : concat(SRC6, DST6, be32(l4Length), Uint8Array.of(0, 0, 0, proto))
  const csumAt = spec.l4 === 'tcp' ? 16 : 6
  const csum = spec.csum ?? 'full'
  if (csum === 'full') {
    let c = refChecksum(pseudo, l4header, spec.payload)
    if (spec.l4 === 'udp' && c === 0) c = 0xffff
    l4header.set(be16(c), csumAt)
  } else if (csum === 'seed') {
    l4header.set(be16(refSeed(pseudo)), csumAt)
  }
  let ipHeader: Uint8Array
  if (spec.ip === 4) {
    const options = spec.ipOptions ?? new Uint8Array(0)
    const ihl = 20 + options.length
    ipHeader = concat(
      Uint8Array.of(0x40 | (ihl / 4), 0),
      be16(ihl + l4Length),
      be16(spec.id ?? 0x1234),
      be16(0x4000), // DF
      Uint8Array.of(64, proto),
      be16(0),
      SRC4,
      DST4,
      options,
    )
    ipHeader.set(be16(refChecksum(ipHeader)), 10)
  } else {
    ipHeader = concat(hex('60012345'), be16(l4Length), Uint8Array.of(proto, 64), SRC6, DST6)
  }
  const ethertype = spec.ip === 4 ? 0x0800 : 0x86dd
  const eth =
    spec.tag === undefined
      ? concat(MAC_DST, MAC_SRC, be16(ethertype))
      : concat(MAC_DST, MAC_SRC, be16(spec.tag), be16(0x2064), be16(ethertype))
  return {
    frame: concat(eth, ipHeader, l4header, spec.payload),
    l3: eth.length,
    l4: eth.length + ipHeader.length,
    data: eth.length + ipHeader.length + l4header.length,
  }
}

function vnet(h: Partial<VnetHeader>, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(VNET_HEADER_LENGTH + frame.length)
  writeVnetHeader(out, 0, {
    flags: 0,
    gsoType: VNET_GSO_NONE,
    hdrLen: 0,
    gsoSize: 0,
    csumStart: 0,
    csumOffset: 0,
    ...h,
  })
  out.set(frame, VNET_HEADER_LENGTH)
  return out
}

/** A payload that is not periodic in the MSS, so a misplaced chunk shows. */
function payloadOf(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

/** A GSO super-packet as a TAP with TSO/USO hands it over: seeded checksum, NEEDS_CSUM. */
function gsoFrame(
  spec: PacketSpec,
  gsoSize: number,
  gsoType?: number,
): { p: Packet; buf: Uint8Array } {
  const p = packet({ ...spec, csum: 'seed' })
  const type =
    gsoType ??
    (spec.l4 === 'udp' ? VNET_GSO_UDP_L4 : spec.ip === 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6)
  const buf = vnet(
    {
      flags: VNET_F_NEEDS_CSUM,
      gsoType: type,
      hdrLen: p.data,
      gsoSize,
      csumStart: p.l4,
      csumOffset: spec.l4 === 'tcp' ? 16 : 6,
    },
    p.frame,
  )
  return { p, buf }
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0
}

/** Pseudo-header ‖ L4 of a plain frame, for checking its TCP/UDP checksum verifies. */
function l4Verifies(frame: Uint8Array, l3: number, ip: 4 | 6, proto: number): boolean {
  const l4 = ip === 4 ? l3 + (frame[l3]! & 0xf) * 4 : l3 + 40
  const end = ip === 4 ? l3 + u16(frame, l3 + 2) : l3 + 40 + u16(frame, l3 + 4)
  const l4Bytes = frame.subarray(l4, end)
  const pseudo =
    ip === 4
      ? concat(frame.subarray(l3 + 12, l3 + 20), Uint8Array.of(0, proto), be16(l4Bytes.length))
      : concat(frame.subarray(l3 + 8, l3 + 40), be32(l4Bytes.length), Uint8Array.of(0, 0, 0, proto))
  return verifies(pseudo, l4Bytes)
}

function segments(buf: Uint8Array): Uint8Array[] {
  const out = toPlainFrames(buf)
  if (typeof out === 'string') throw new Error(`refused: ${out}`)
  return out
}

describe('virtio-net header', () => {
  it('uses the values of linux/virtio_net.h', () => {
    expect(VNET_HEADER_LENGTH).toBe(10)
    expect([VNET_F_NEEDS_CSUM, VNET_F_DATA_VALID]).toEqual([1, 2])
    expect([VNET_GSO_NONE, VNET_GSO_TCPV4, VNET_GSO_UDP, VNET_GSO_TCPV6, VNET_GSO_UDP_L4]).toEqual([
      0, 1, 3, 4, 5,
    ])
    expect(VNET_GSO_ECN).toBe(0x80)
  })

  it('reads and writes little-endian fields at an offset', () => {
    const h = {
      flags: 1,
      gsoType: VNET_GSO_TCPV4 | VNET_GSO_ECN,
      hdrLen: 66,
      gsoSize: 1448,
      csumStart: 34,
      csumOffset: 16,
    }
    const buf = new Uint8Array(13).fill(0xee)
    writeVnetHeader(buf, 2, h)
    expect(Buffer.from(buf).toString('hex')).toBe(
      'eeee' + '0181' + '4200' + 'a805' + '2200' + '1000' + 'ee',
    )
    expect(readVnetHeader(buf, 2)).toEqual(h)
    expect(readVnetHeader(hex('0000ffff0100feff0201'))).toEqual({
      flags: 0,
      gsoType: 0,
      hdrLen: 0xffff,
      gsoSize: 1,
      csumStart: 0xfffe,
      csumOffset: 0x0102,
    })
  })

  it('throws a RangeError for a header beyond the buffer (a caller bug, not frame content)', () => {
    expect(() => readVnetHeader(new Uint8Array(9))).toThrow(RangeError)
    expect(() => readVnetHeader(new Uint8Array(12), 3)).toThrow(RangeError)
    expect(() =>
      writeVnetHeader(new Uint8Array(10), 1, readVnetHeader(new Uint8Array(10))),
    ).toThrow(RangeError)
  })

  it('withZeroVnetHeader copies the frame behind ten zero bytes', () => {
    const f = packet({ ip: 4, l4: 'udp', payload: payloadOf(30) }).frame
    const out = withZeroVnetHeader(f)
    expect(out.length).toBe(f.length + 10)
    expect([...out.subarray(0, 10)]).toEqual(new Array(10).fill(0))
    expect(out.subarray(10)).toEqual(f)
    out[10] = 0x55
    expect(f[0]).toBe(0x02)
    expect(checkVnetFrame(out)).toBeUndefined()
  })
})

describe('toPlainFrames without offloads', () => {
  it('returns the frame itself, a view with no copy, for flags 0 or DATA_VALID', () => {
    const f = packet({ ip: 6, l4: 'tcp', payload: payloadOf(100) }).frame
    for (const flags of [0, VNET_F_DATA_VALID]) {
      const buf = vnet({ flags, hdrLen: 54 }, f)
      const out = segments(buf)
      expect(out).toHaveLength(1)
      expect(out[0]!.buffer).toBe(buf.buffer)
      expect(out[0]!.byteOffset).toBe(buf.byteOffset + 10)
      expect(out[0]).toEqual(f)
    }
  })

  it('does not judge what a plain frame carries (a broken IPv4 header passes)', () => {
    const f = packet({ ip: 4, l4: 'tcp', payload: payloadOf(10) }).frame
    f[14] = 0x41 // IHL 1
    expect(segments(withZeroVnetHeader(f))[0]).toEqual(f)
    const arp = concat(MAC_DST, MAC_SRC, be16(0x0806), new Uint8Array(28))
    expect(segments(withZeroVnetHeader(arp))[0]).toEqual(arp)
  })
})

describe('toPlainFrames, partial checksum (NEEDS_CSUM, GSO NONE)', () => {
  const cases: { name: string; spec: Omit<PacketSpec, 'payload'>; length: number }[] = [
    { name: 'IPv4/TCP', spec: { ip: 4, l4: 'tcp', tcpOptions: TS_OPTIONS }, length: 1448 },
    { name: 'IPv6/TCP, odd payload', spec: { ip: 6, l4: 'tcp' }, length: 1001 },
    { name: 'IPv4/UDP, odd payload', spec: { ip: 4, l4: 'udp' }, length: 517 },
    { name: 'IPv6/UDP', spec: { ip: 6, l4: 'udp' }, length: 1200 },
    { name: '802.1Q IPv4/TCP', spec: { ip: 4, l4: 'tcp', tag: 0x8100 }, length: 77 },
    { name: '802.1ad IPv6/UDP', spec: { ip: 6, l4: 'udp', tag: 0x88a8 }, length: 33 },
    {
      name: 'IPv4 with options/TCP',
      spec: { ip: 4, l4: 'tcp', ipOptions: hex('94040000') },
      length: 200,
    },
    { name: 'IPv4/TCP, no payload (a pure ACK)', spec: { ip: 4, l4: 'tcp' }, length: 0 },
  ]
  for (const { name, spec, length } of cases) {
    it(`${name}: the seeded field becomes the full checksum`, () => {
      const payload = payloadOf(length, length)
      const full = packet({ ...spec, payload })
      const seeded = packet({ ...spec, payload, csum: 'seed' })
      const csumOffset = spec.l4 === 'tcp' ? 16 : 6
      const buf = vnet(
        { flags: VNET_F_NEEDS_CSUM, hdrLen: seeded.data, csumStart: seeded.l4, csumOffset },
        seeded.frame,
      )
      const before = buf.slice()
      expect(checkVnetFrame(buf)).toBeUndefined()
      const out = segments(buf)
      expect(out).toHaveLength(1)
      expect(l4Verifies(out[0]!, full.l3, spec.ip, spec.l4 === 'tcp' ? TCP : UDP)).toBe(true)
      expect(out[0]).toEqual(full.frame)
      // The input is left alone: another port may take it with its header.
      expect(buf).toEqual(before)
    })
  }

  it('writes 0xffff, never 0, when the UDP checksum comes to zero (RFC 768)', () => {
    // Pick the last two payload bytes so that the full sum folds to 0xffff.
    const payload = payloadOf(64)
    payload[62] = 0
    payload[63] = 0
    const zeroField = packet({ ip: 4, l4: 'udp', payload, csum: 'zero' })
    const l4Bytes = zeroField.frame.subarray(zeroField.l4)
    const pseudo = concat(SRC4, DST4, Uint8Array.of(0, UDP), be16(l4Bytes.length))
    const w = refChecksum(pseudo, l4Bytes) // ~sum: adding it makes the sum 0xffff
    payload[62] = w >> 8
    payload[63] = w & 0xff
    const seeded = packet({ ip: 4, l4: 'udp', payload, csum: 'seed' })
    const buf = vnet(
      { flags: VNET_F_NEEDS_CSUM, csumStart: seeded.l4, csumOffset: 6 },
      seeded.frame,
    )
    const out = segments(buf)[0]!
    expect(u16(out, seeded.l4 + 6)).toBe(0xffff)
    expect(l4Verifies(out, seeded.l3, 4, UDP)).toBe(true)
  })

  it('sums to the end of the IP packet, not into Ethernet padding, and keeps the padding', () => {
    const full = packet({ ip: 4, l4: 'udp', payload: hex('0102') })
    const seeded = packet({ ip: 4, l4: 'udp', payload: hex('0102'), csum: 'seed' })
    const padded = concat(seeded.frame, hex('abcdefabcdef01')) // to 60 bytes, odd garbage
    const out = segments(
      vnet({ flags: VNET_F_NEEDS_CSUM, csumStart: seeded.l4, csumOffset: 6 }, padded),
    )[0]!
    expect(out.length).toBe(padded.length)
    expect(out.subarray(0, full.frame.length)).toEqual(full.frame)
    expect(out.subarray(full.frame.length)).toEqual(hex('abcdefabcdef01'))
  })

  it('finishes a partial checksum over a non-IP frame where the header says, to the end', () => {
    const body = payloadOf(41)
    body.fill(0, 16, 18) // the field, at csum_start 14 + csum_offset 16, seeded with 0
    const f = concat(MAC_DST, MAC_SRC, be16(0x88b5), body)
    const out = segments(vnet({ flags: VNET_F_NEEDS_CSUM, csumStart: 14, csumOffset: 16 }, f))[0]!
    const expected = refChecksum(body)
    expect(u16(out, 30)).toBe(expected === 0 ? 0xffff : expected)
    expect(verifies(out.subarray(14))).toBe(true)
    expect(out.length).toBe(f.length)
  })
})

describe('the checksum at every alignment', () => {
  it('matches the BigInt reference for every start mod 4 and lengths around the 32-bit word path', () => {
    for (let start = 14; start < 22; start++) {
      for (const bodyLength of [2, 63, 64, 65, 66, 67, 130, 1001, 1448]) {
        const body = payloadOf(start - 14 + bodyLength, start * bodyLength)
        const csumOffset = bodyLength > 16 ? 16 : 0
        if (csumOffset === 0) continue
        const at = start - 14 + csumOffset
        body.fill(0, at, at + 2)
        const f = concat(MAC_DST, MAC_SRC, be16(0x88b5), body)
        const out = segments(
          vnet({ flags: VNET_F_NEEDS_CSUM, csumStart: start, csumOffset }, f),
        )[0]!
        const expected = refChecksum(f.subarray(start))
        expect(u16(out, start + csumOffset)).toBe(expected === 0 ? 0xffff : expected)
        // A frame that sits at an odd place in a larger buffer comes out the same.
        const shifted = new Uint8Array(f.length + 11)
        shifted.set(vnet({ flags: VNET_F_NEEDS_CSUM, csumStart: start, csumOffset }, f), 1)
        expect(segments(shifted.subarray(1, 11 + f.length))[0]).toEqual(out)
      }
    }
  })
})

interface SegmentCase {
  name: string
  spec: Omit<PacketSpec, 'payload'>
  length: number
  mss: number
}

/** Every property of the segments of one super-packet, and equality with independently built packets. */
function checkTcpSegments(c: SegmentCase): Uint8Array[] {
  const payload = payloadOf(c.length, c.mss)
  const flags = c.spec.flags ?? ACK | PSH
  const seq0 = c.spec.seq ?? 0x11223344
  const id0 = c.spec.id ?? 0x1234
  const { p, buf } = gsoFrame({ ...c.spec, payload, flags, seq: seq0, id: id0 }, c.mss)
  const before = buf.slice()
  expect(checkVnetFrame(buf)).toBeUndefined()
  const out = segments(buf)
  const n = Math.max(1, Math.ceil(c.length / c.mss))
  expect(out).toHaveLength(n)
  const headerLength = p.data
  const received: Uint8Array[] = []
  let expectedSeq = seq0
  for (let i = 0; i < n; i++) {
    const seg = out[i]!
    const size = Math.min(c.mss, c.length - i * c.mss)
    const last = i === n - 1
    expect(seg.length).toBe(headerLength + Math.max(0, size))
    if (c.spec.ip === 4) {
      expect(u16(seg, p.l3 + 2)).toBe(seg.length - p.l3)
      expect(u16(seg, p.l3 + 4)).toBe((id0 + i) & 0xffff)
      expect(verifies(seg.subarray(p.l3, p.l4))).toBe(true)
    } else {
      expect(u16(seg, p.l3 + 4)).toBe(seg.length - p.l3 - 40)
    }
    expect(l4Verifies(seg, p.l3, c.spec.ip, TCP)).toBe(true)
    expect(u32(seg, p.l4 + 4)).toBe(expectedSeq)
    const f = seg[p.l4 + 13]!
    expect((f & (FIN | PSH)) !== 0).toBe(last && (flags & (FIN | PSH)) !== 0)
    expect((f & CWR) !== 0).toBe(i === 0 && (flags & CWR) !== 0)
    expect(f & ~(FIN | PSH | CWR)).toBe(flags & ~(FIN | PSH | CWR))
    // The slow reference: the segment built from scratch as a TCP stack would send it.
    let expectedFlags = flags
    if (!last) expectedFlags &= ~(FIN | PSH)
    if (i > 0) expectedFlags &= ~CWR
    const ref = packet({
      ...c.spec,
      payload: payload.subarray(i * c.mss, i * c.mss + Math.max(0, size)),
      seq: expectedSeq,
      id: (id0 + i) & 0xffff,
      flags: expectedFlags,
    })
    expect(seg).toEqual(ref.frame)
    received.push(seg.subarray(headerLength))
    expectedSeq = (expectedSeq + size) >>> 0
  }
  if (n > 1 && c.length % c.mss !== 0) expect(out[n - 1]!.length).toBeLessThan(out[0]!.length)
  expect(concat(...received)).toEqual(payload)
  expect(buf).toEqual(before)
  return out
}

describe('toPlainFrames, TCP segmentation (GSO TCPV4/TCPV6)', () => {
  const cases: SegmentCase[] = [
    {
      name: 'IPv4, 64 KiB at MSS 1348 with timestamps',
      spec: { ip: 4, l4: 'tcp', tcpOptions: TS_OPTIONS, flags: ACK | PSH },
      length: 65_535 - 20 - 32,
      mss: 1348,
    },
    {
      name: 'IPv6, odd payload, FIN and PSH and CWR',
      spec: { ip: 6, l4: 'tcp', tcpOptions: TS_OPTIONS, flags: ACK | PSH | FIN | CWR | ECE },
      length: 30_001,
      mss: 1428,
    },
    {
      name: '802.1Q IPv4 with IP options',
      spec: { ip: 4, l4: 'tcp', tag: 0x8100, ipOptions: hex('94040000'), flags: ACK | FIN },
      length: 9000,
      mss: 1000,
    },
    {
      name: '802.1ad IPv6',
      spec: { ip: 6, l4: 'tcp', tag: 0x88a8 },
      length: 5000,
      mss: 1220,
    },
    {
      name: 'IPv4 ID and sequence number wrap',
      spec: { ip: 4, l4: 'tcp', id: 0xfffe, seq: 0xffffffff - 2000, flags: ACK | CWR },
      length: 6000,
      mss: 1460,
    },
    {
      name: 'payload an exact multiple of the MSS',
      spec: { ip: 4, l4: 'tcp', flags: ACK | PSH },
      length: 4 * 1448,
      mss: 1448,
    },
    {
      name: 'payload within one MSS: one segment, every flag kept',
      spec: { ip: 6, l4: 'tcp', flags: ACK | PSH | FIN | CWR },
      length: 700,
      mss: 1448,
    },
    {
      name: 'no payload',
      spec: { ip: 4, l4: 'tcp', flags: ACK | FIN },
      length: 0,
      mss: 1448,
    },
  ]
  for (const c of cases) it(c.name, () => checkTcpSegments(c))

  it('gives 49 segments for a 64 KiB frame at MSS 1348, the last one shorter', () => {
    const out = checkTcpSegments(cases[0]!)
    expect(out).toHaveLength(49)
    expect(out.at(-1)!.length - 66).toBe((65_535 - 52) % 1348)
  })

  it('segments the same with the ECN bit, and without NEEDS_CSUM (the checksum is computed from scratch)', () => {
    const payload = payloadOf(4000)
    const { buf } = gsoFrame({ ip: 4, l4: 'tcp', payload, flags: ACK | CWR }, 1000)
    const plain = segments(buf)
    const ecn = buf.slice()
    ecn[1] = VNET_GSO_TCPV4 | VNET_GSO_ECN
    expect(segments(ecn)).toEqual(plain)
    const noCsum = buf.slice()
    noCsum[0] = 0
    noCsum.fill(0, 6, 10) // csum_start and csum_offset unset
    noCsum[10 + 34 + 16] = 0xde // and garbage in the field
    expect(segments(noCsum)).toEqual(plain)
    const dataValid = noCsum.slice()
    dataValid[0] = VNET_F_DATA_VALID
    expect(segments(dataValid)).toEqual(plain)
  })
})

describe('toPlainFrames, UDP segmentation (GSO UDP_L4)', () => {
  const cases: { name: string; spec: Omit<PacketSpec, 'payload'>; length: number; size: number }[] =
    [
      {
        name: 'IPv4, 40 datagrams of 1200 and a short one',
        spec: { ip: 4, l4: 'udp', id: 0xfff0 },
        length: 48_123,
        size: 1200,
      },
      { name: 'IPv6, odd datagram size', spec: { ip: 6, l4: 'udp' }, length: 10_000, size: 1351 },
      {
        name: '802.1Q IPv4, exact multiple',
        spec: { ip: 4, l4: 'udp', tag: 0x8100 },
        length: 4000,
        size: 1000,
      },
      { name: 'within one datagram', spec: { ip: 6, l4: 'udp' }, length: 99, size: 1000 },
    ]
  for (const c of cases) {
    it(c.name, () => {
      const payload = payloadOf(c.length, c.size)
      const id0 = c.spec.id ?? 0x1234
      const { p, buf } = gsoFrame({ ...c.spec, payload }, c.size)
      expect(checkVnetFrame(buf)).toBeUndefined()
      const out = segments(buf)
      const n = Math.ceil(c.length / c.size)
      expect(out).toHaveLength(n)
      const received: Uint8Array[] = []
      for (let i = 0; i < n; i++) {
        const seg = out[i]!
        const size = Math.min(c.size, c.length - i * c.size)
        expect(seg.length).toBe(p.data + size)
        expect(u16(seg, p.l4 + 4)).toBe(8 + size)
        expect(u16(seg, p.l4 + 6)).not.toBe(0)
        expect(l4Verifies(seg, p.l3, c.spec.ip, UDP)).toBe(true)
        if (c.spec.ip === 4) {
          expect(u16(seg, p.l3 + 2)).toBe(seg.length - p.l3)
          expect(u16(seg, p.l3 + 4)).toBe((id0 + i) & 0xffff)
          expect(verifies(seg.subarray(p.l3, p.l4))).toBe(true)
        } else {
          expect(u16(seg, p.l3 + 4)).toBe(8 + size)
        }
        const ref = packet({
          ...c.spec,
          payload: payload.subarray(i * c.size, i * c.size + size),
          id: (id0 + i) & 0xffff,
        })
        expect(seg).toEqual(ref.frame)
        received.push(seg.subarray(p.data))
      }
      if (c.length % c.size !== 0 && n > 1) expect(out.at(-1)!.length).toBeLessThan(out[0]!.length)
      expect(concat(...received)).toEqual(payload)
    })
  }
})

describe('toPlainFrames, UDP segmentation: a checksum that comes to zero', () => {
  it('goes out as 0xffff in a segment (RFC 768)', () => {
    const payload = payloadOf(2000)
    payload.fill(0, 998, 1000)
    const first = packet({ ip: 4, l4: 'udp', payload: payload.subarray(0, 1000), csum: 'zero' })
    const l4Bytes = first.frame.subarray(first.l4)
    const pseudo = concat(SRC4, DST4, Uint8Array.of(0, UDP), be16(l4Bytes.length))
    const w = refChecksum(pseudo, l4Bytes)
    payload[998] = w >> 8
    payload[999] = w & 0xff
    const out = segments(gsoFrame({ ip: 4, l4: 'udp', payload }, 1000).buf)
    expect(u16(out[0]!, first.l4 + 6)).toBe(0xffff)
    expect(l4Verifies(out[0]!, first.l3, 4, UDP)).toBe(true)
  })
})

describe('vectors segmented by Python and verified by tcpdump (test/vectors/vnet.json)', () => {
  const { cases } = JSON.parse(
    readFileSync(new URL('./vectors/vnet.json', import.meta.url), 'utf8'),
  ) as { cases: { name: string; input: string; output: string[] }[] }
  for (const c of cases) {
    it(c.name, () => {
      const input = hex(c.input)
      const out = segments(input)
      expect(out.map((f) => Buffer.from(f).toString('hex'))).toEqual(c.output)
      // A flipped payload bit lands in exactly one output frame, whose checksum still verifies.
      const flipped = input.slice()
      flipped[flipped.length - 3]! ^= 0x10
      const again = segments(flipped)
      const changed = again.filter((f, i) => !Buffer.from(f).equals(Buffer.from(out[i]!)))
      expect(changed).toHaveLength(1)
      const f = changed[0]!
      const l3 = u16(f, 12) === 0x0800 || u16(f, 12) === 0x86dd ? 14 : 18
      const ip = u16(f, l3 - 2) === 0x0800 ? 4 : 6
      expect(l4Verifies(f, l3, ip, ip === 4 ? f[l3 + 9]! : f[l3 + 6]!)).toBe(true)
    })
  }
})

/** A valid frame and how to break it, for each reason. */
function mutate(base: Uint8Array, edit: (b: Uint8Array) => void): Uint8Array {
  const b = base.slice()
  edit(b)
  return b
}

describe('checkVnetFrame and toPlainFrames refuse what does not hold up', () => {
  const tcp4 = gsoFrame({ ip: 4, l4: 'tcp', payload: payloadOf(3000) }, 1000).buf // l3 14, l4 34
  const tcp6 = gsoFrame({ ip: 6, l4: 'tcp', payload: payloadOf(3000) }, 1000).buf // l3 14, l4 54
  const udp4 = gsoFrame({ ip: 4, l4: 'udp', payload: payloadOf(3000) }, 1000).buf
  const tagged = gsoFrame({ ip: 4, l4: 'tcp', tag: 0x8100, payload: payloadOf(3000) }, 1000).buf // l3 18
  const csum4 = mutate(tcp4, (b) => {
    b[1] = VNET_GSO_NONE
    b.fill(0, 4, 6)
  })
  const E = VNET_HEADER_LENGTH
  const cases: [string, Uint8Array][] = [
    ['short-vnet-header', tcp4.subarray(0, 9)],
    ['unknown-flags', mutate(tcp4, (b) => (b[0] = 0x05))],
    ['unknown-flags', mutate(tcp4, (b) => (b[0] = 0x80))],
    ['unknown-gso-type', mutate(tcp4, (b) => (b[1] = 2))],
    ['unknown-gso-type', mutate(tcp4, (b) => (b[1] = 6))],
    ['unknown-gso-type', mutate(tcp4, (b) => (b[1] = 0x41))],
    ['unknown-gso-type', mutate(csum4, (b) => (b[1] = VNET_GSO_ECN))],
    ['unknown-gso-type', mutate(udp4, (b) => (b[1] = VNET_GSO_UDP_L4 | VNET_GSO_ECN))],
    ['unsupported-gso-type', mutate(udp4, (b) => (b[1] = VNET_GSO_UDP))],
    ['gso-size-zero', mutate(tcp4, (b) => b.fill(0, 4, 6))],
    ['runt', vnet({}, new Uint8Array(13))],
    ['runt', vnet({ flags: VNET_F_NEEDS_CSUM, csumStart: 14, csumOffset: 6 }, new Uint8Array(13))],
    ['hdr-len-beyond-frame', mutate(tcp4, (b) => b.set([0xff, 0xff], 2))],
    ['csum-start-in-ethernet-header', mutate(csum4, (b) => b.set([12, 0], 6))],
    ['csum-beyond-frame', mutate(csum4, (b) => b.set([0xf0, 0xff], 6))],
    [
      'csum-beyond-frame',
      vnet({ flags: VNET_F_NEEDS_CSUM, csumStart: 20, csumOffset: 16 }, new Uint8Array(37)),
    ],
    ['bad-csum-offset', mutate(csum4, (b) => (b[8] = 10))],
    ['bad-csum-offset', mutate(csum4, (b) => (b[8] = 6))], // UDP's offset on a TCP header
    ['bad-csum-offset', mutate(udp4, (b) => (b[8] = 16))],
    ['bad-ip-header', mutate(tcp4, (b) => (b[E + 14] = 0x44))], // IHL 4
    ['bad-ip-header', mutate(tcp4, (b) => (b[E + 14] = 0x65))], // version 6 under 0x0800
    [
      'bad-ip-header', // IHL 15: options beyond the end of a 60-byte frame
      vnet(
        { flags: VNET_F_NEEDS_CSUM, csumStart: 34, csumOffset: 6 },
        mutate(csum4, (b) => (b[E + 14] = 0x4f)).subarray(E, E + 60),
      ),
    ],
    ['bad-ip-header', vnet({ gsoType: VNET_GSO_TCPV6, gsoSize: 1000 }, tcp6.subarray(E, E + 40))],
    ['ip-length-mismatch', mutate(tcp4, (b) => b.set(be16(u16(b, E + 16) - 1), E + 16))],
    ['ip-length-mismatch', mutate(tcp4, (b) => b.set(be16(u16(b, E + 16) + 1), E + 16))],
    ['ip-length-mismatch', mutate(csum4, (b) => b.set(be16(u16(b, E + 16) + 1), E + 16))],
    ['ip-length-mismatch', mutate(tcp6, (b) => b.set(be16(u16(b, E + 18) - 2), E + 18))],
    ['ip-length-mismatch', mutate(tcp4, (b) => b.set([0, 0], E + 16))], // IPv4 BIG TCP's 0
    ['gso-not-ip', mutate(tcp4, (b) => b.set([0x08, 0x06], E + 12))],
    ['gso-not-ip', mutate(tagged, (b) => b.set([0x81, 0x00], E + 16))], // a second tag
    ['gso-ip-version-mismatch', mutate(tcp4, (b) => (b[1] = VNET_GSO_TCPV6))],
    ['gso-ip-version-mismatch', mutate(tcp6, (b) => (b[1] = VNET_GSO_TCPV4))],
    ['gso-protocol-mismatch', mutate(tcp4, (b) => (b[1] = VNET_GSO_UDP_L4))],
    ['gso-protocol-mismatch', mutate(udp4, (b) => (b[1] = VNET_GSO_TCPV4))],
    ['gso-protocol-mismatch', mutate(tcp6, (b) => (b[E + 20] = 0))], // a hop-by-hop header first
    ['gso-ip-fragment', mutate(tcp4, (b) => (b[E + 20] = 0x60))], // DF|MF
    ['gso-ip-fragment', mutate(tcp4, (b) => (b[E + 21] = 1))], // offset 8
    ['gso-without-csum', mutate(udp4, (b) => (b[0] = 0))],
    ['csum-start-not-l4', mutate(tcp4, (b) => (b[6] = 38))],
    ['csum-start-not-l4', mutate(tagged, (b) => (b[6] = 34))], // as if untagged
    ['bad-tcp-header', mutate(tcp4, (b) => (b[E + 34 + 12] = 0x40))], // data offset 4
    ['udp-length-mismatch', mutate(udp4, (b) => b.set(be16(u16(b, E + 38) - 1), E + 38))],
    ['gso-too-many-segments', gsoFrame({ ip: 4, l4: 'udp', payload: payloadOf(129 * 8) }, 8).buf],
    // An MSS below Linux's smallest (48): a kilobyte would become a thousand segments.
    ['gso-size-too-small', gsoFrame({ ip: 4, l4: 'tcp', payload: payloadOf(1000) }, 1).buf],
    ['gso-size-too-small', gsoFrame({ ip: 6, l4: 'tcp', payload: payloadOf(1000) }, 47).buf],
    // The smallest MSS, but more than 1024 TCP segments.
    [
      'gso-too-many-segments',
      gsoFrame({ ip: 4, l4: 'tcp', payload: payloadOf(1025 * 48) }, 48).buf,
    ],
  ]
  it('takes exactly 1024 TCP segments', () => {
    const buf = gsoFrame({ ip: 4, l4: 'tcp', payload: payloadOf(1024 * 48) }, 48).buf
    expect(checkVnetFrame(buf)).toBeUndefined()
    expect(toPlainFrames(buf)).toHaveLength(1024)
  })
  for (const [reason, buf] of cases) {
    it(`${reason}: ${Buffer.from(buf.subarray(0, 10)).toString('hex')} (${buf.length} bytes)`, () => {
      expect(checkVnetFrame(buf)).toBe(reason)
      expect(toPlainFrames(buf)).toBe(reason)
    })
  }

  it('takes what the kernel takes at the edges', () => {
    // 128 UDP segments (UDP_MAX_SEGMENTS), a TCP MSS of 48 (Linux's
    // tcp_min_snd_mss; the kernel itself takes smaller, PeerTap does not),
    // hdr_len equal to the frame.
    expect(
      checkVnetFrame(gsoFrame({ ip: 4, l4: 'udp', payload: payloadOf(128 * 8) }, 8).buf),
    ).toBeUndefined()
    const tiny = gsoFrame({ ip: 6, l4: 'tcp', payload: payloadOf(100) }, 48)
    expect(segments(tiny.buf)).toHaveLength(3)
    expect(
      checkVnetFrame(mutate(tcp4, (b) => b.set(be16(b.length - 10).reverse(), 2))),
    ).toBeUndefined()
  })
})

describe('segmentTcpToFit', () => {
  it('cuts to fit, plain with checksums or kind 3 with them partial, the same segments either way', () => {
    for (const ip of [4, 6] as const) {
      const { buf } = gsoFrame(
        { ip, l4: 'tcp', payload: payloadOf(30_000), tcpOptions: TS_OPTIONS },
        1448,
      )
      const plain = segmentTcpToFit(buf, 1300)
      const partial = segmentTcpToFit(buf, 1300, true)
      if (!Array.isArray(plain) || !Array.isArray(partial)) throw new Error('not cut')
      expect(partial).toHaveLength(plain.length)
      for (const f of plain) expect(f.length).toBeLessThanOrEqual(1300)
      for (const [i, f] of partial.entries()) {
        expect(f.length).toBe(VNET_HEADER_LENGTH + plain[i]!.length)
        expect(checkVnetFrame(f)).toBeUndefined()
        const h = readVnetHeader(f)
        expect([h.flags, h.gsoType, h.csumOffset]).toEqual([VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 16])
        // Finished in software, it is the plain segment, checksum and all.
        expect(segments(f)).toEqual([plain[i]])
      }
      expect(segmentTcpToFit(buf, 40)).toBeUndefined() // no MSS of 88 fits
    }
  })
})

describe('toPlainFrames on arbitrary input', () => {
  const valid = [
    gsoFrame({ ip: 4, l4: 'tcp', payload: payloadOf(3000), tcpOptions: TS_OPTIONS }, 1000).buf,
    gsoFrame({ ip: 6, l4: 'udp', tag: 0x8100, payload: payloadOf(2000) }, 700).buf,
    mutate(gsoFrame({ ip: 4, l4: 'udp', payload: payloadOf(300) }, 1000).buf, (b) => (b[1] = 0)),
  ]
  it('never throws: a flipped bit or a cut either yields a reason or frames whose checksums verify', () => {
    let segmented = 0
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.array(fc.tuple(fc.nat({ max: 4000 }), fc.integer({ min: 0, max: 7 })), { maxLength: 3 }),
        fc.oneof(
          { weight: 3, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.nat({ max: 4000 }) },
        ),
        (which, flips, cut) => {
          let b = valid[which]!.slice()
          for (const [at, bit] of flips) b[at % b.length]! ^= 1 << bit
          if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1))
          const out = toPlainFrames(b)
          expect(checkVnetFrame(b)).toBe(typeof out === 'string' ? out : undefined)
          if (typeof out === 'string') {
            expect(out).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/)
            return
          }
          // GSO accepted: every segment is IP with checksums computed from scratch, so they
          // verify whatever bits were flipped (a partial checksum only finishes what it is given).
          if (readVnetHeader(b).gsoType === VNET_GSO_NONE) return
          segmented++
          for (const f of out) {
            const l3 = u16(f, 12) === 0x8100 ? 18 : 14
            const ip = u16(f, l3 - 2) === 0x0800 ? 4 : 6
            const proto = ip === 4 ? f[l3 + 9]! : f[l3 + 6]!
            if (ip === 4) expect(verifies(f.subarray(l3, l3 + (f[l3]! & 0xf) * 4))).toBe(true)
            expect(l4Verifies(f, l3, ip, proto)).toBe(true)
          }
        },
      ),
      { numRuns: 3000 },
    )
    // Most runs get past the checks (flips in the payload), so the property is not vacuous.
    expect(segmented).toBeGreaterThan(1000)
  })
})

// ---------------------------------------------------------------------------
// Receive-side coalescing (src/coalesce.ts, spec 10 §10.8): the inverse of
// segmentation. Segments come from toPlainFrames of real GSO frames (every
// checksum from scratch), one flow per source port.

/** The plain segments of one TCP flow: `payload` bytes cut at `mss`, PSH on the last if `psh`. */
function flowSegments(
  ip: 4 | 6,
  port: number,
  payload: number,
  mss: number,
  options: { seq?: number; id?: number; psh?: boolean; timestamps?: boolean } = {},
): Uint8Array[] {
  const spec: PacketSpec = {
    ip,
    l4: 'tcp',
    payload: payloadOf(payload, port),
    seq: options.seq ?? 0x11223344,
    id: options.id ?? 0x1234,
    flags: options.psh ? ACK | PSH : ACK,
    ...(options.timestamps ? { tcpOptions: hex('0101080a0000000100000002') } : {}),
  }
  const { p, buf } = gsoFrame(spec, mss)
  // Another flow: its own source port (the segments' checksums are computed afresh).
  buf[VNET_HEADER_LENGTH + p.l4] = port >>> 8
  buf[VNET_HEADER_LENGTH + p.l4 + 1] = port & 0xff
  return segments(buf).map((x) => x.slice())
}

const portOf = (frame: Uint8Array) => {
  const l4 = frame[12] === 0x08 ? 14 + 20 : 14 + 40
  return (frame[l4]! << 8) | frame[l4 + 1]!
}
const flowOf = (frame: Uint8Array) => `${frame[12]}:${portOf(frame)}`

/** The outputs' plain frames again, grouped by flow, in order. */
function byFlow(frames: readonly Uint8Array[]): Map<string, string[]> {
  const flows = new Map<string, string[]>()
  for (const f of frames) {
    const key = flowOf(f)
    flows.set(key, [...(flows.get(key) ?? []), Buffer.from(f).toString('hex')])
  }
  return flows
}

describe('coalescing TCP segments for a port with offloads', () => {
  it("makes one GSO frame of a flow's consecutive segments, which splits back byte for byte", () => {
    for (const ip of [4, 6] as const) {
      for (const timestamps of [false, true]) {
        const input = flowSegments(ip, 40001, 20_000, 1348, { psh: true, timestamps })
        const counters: CoalesceCounters = { framesCoalesced: 0, segmentsCoalesced: 0 }
        const out = coalesceTcp(input, counters)
        expect(out).toHaveLength(1)
        expect(checkVnetFrame(out[0]!)).toBeUndefined()
        const h = readVnetHeader(out[0]!)
        expect(h.gsoType).toBe(ip === 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6)
        expect(h.flags).toBe(VNET_F_NEEDS_CSUM)
        expect(h.gsoSize).toBe(1348)
        expect(counters).toEqual({ framesCoalesced: 1, segmentsCoalesced: input.length })
        expect(segments(out[0]!)).toEqual(input)
        // Delivered whole (a local TCP stack takes it so), its partial checksum,
        // completed, verifies: the seed is right for the merged length.
        const whole = out[0]!.slice()
        writeVnetHeader(whole, 0, { ...h, gsoType: VNET_GSO_NONE, gsoSize: 0 })
        const [done] = segments(whole)
        expect(l4Verifies(done!, 14, ip, TCP)).toBe(true)
      }
    }
  })

  it('never merges across a gap, a duplicate, a reordering, PSH or a short segment', () => {
    const s = flowSegments(4, 40002, 10 * 1000, 1000)
    const resent = flowSegments(4, 40002, 10 * 1000, 1000, { id: 0x1234 + 50 })
    const cases: [string, Uint8Array[], number[]][] = [
      ['gap', [s[0]!, s[1]!, s[3]!, s[4]!], [2, 2]],
      // The repeat ends the run; it and the next segment are consecutive again.
      ['duplicate', [s[0]!, s[1]!, s[1]!, s[2]!], [2, 2]],
      ['reordered', [s[0]!, s[2]!, s[1]!, s[3]!], [1, 1, 1, 1]],
      // A resent segment: the same bytes at the same sequence number, a new IPv4 ID.
      ['new IPv4 ID', [s[0]!, resent[1]!, s[2]!], [1, 1, 1]],
    ]
    for (const [what, input, runs] of cases) {
      const out = coalesceTcp(input)
      expect(
        out.map((o) => segments(o).length),
        what,
      ).toEqual(runs)
      expect(
        out.flatMap((o) => segments(o)),
        what,
      ).toEqual(input)
    }
    // PSH ends a run; the segment after it starts a new one.
    const pushed = flowSegments(4, 40003, 3000, 1000, { psh: true })
    const after = flowSegments(4, 40003, 2000, 1000, { seq: 0x11223344 + 3000, id: 0x1234 + 3 })
    expect(coalesceTcp([...pushed, ...after]).map((o) => segments(o).length)).toEqual([3, 2])
    // A short segment ends its run.
    const short = flowSegments(6, 40004, 2500, 1000)
    const next = flowSegments(6, 40004, 2000, 1000, { seq: 0x11223344 + 2500 })
    expect(coalesceTcp([...short, ...next]).map((o) => segments(o).length)).toEqual([3, 2])
  })

  it('passes on unmerged a segment whose TCP or IPv4 checksum fails, and anything not TCP', () => {
    const s = flowSegments(4, 40005, 4000, 1000)
    const badTcp = s[1]!.slice()
    badTcp[badTcp.length - 1] = badTcp.at(-1)! ^ 1 // payload changed, checksum not
    const badIp = s[2]!.slice()
    badIp[14 + 8] = 63 // TTL changed, header checksum not
    const udp = packet({ ip: 4, l4: 'udp', payload: payloadOf(100) }).frame
    const out = coalesceTcp([s[0]!, badTcp, badIp, udp, s[3]!])
    expect(out.map((o) => readVnetHeader(o).gsoType)).toEqual([0, 0, 0, 0, 0])
    expect(out.map((o) => o.subarray(VNET_HEADER_LENGTH))).toEqual([s[0], badTcp, badIp, udp, s[3]])
  })

  it(`bounds a run at ${MAX_COALESCED_SEGMENTS} segments and an IP packet of 64 KiB`, () => {
    const many = flowSegments(4, 40006, 100 * 200, 200)
    const out = coalesceTcp(many)
    expect(out.map((o) => segments(o).length)).toEqual([64, 36])
    // 49 segments of 1400 bytes, 68,600 in all: more than one IPv6 packet holds.
    const big = [
      ...flowSegments(6, 40007, 42 * 1400, 1400),
      ...flowSegments(6, 40007, 7 * 1400, 1400, { seq: 0x11223344 + 42 * 1400 }),
    ]
    const cut = coalesceTcp(big)
    expect(cut.map((o) => segments(o).length)).toEqual([46, 3])
    for (const o of cut) {
      const ip6payload = (o[VNET_HEADER_LENGTH + 18]! << 8) | o[VNET_HEADER_LENGTH + 19]!
      expect(ip6payload).toBeLessThanOrEqual(0xffff)
    }
    expect(cut.flatMap((o) => segments(o))).toEqual(big)
  })

  it("keeps every flow's segments in order, whatever is lost, repeated, reordered or interleaved", () => {
    let merged = 0
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            ip: fc.constantFrom(4 as const, 6 as const),
            payload: fc.integer({ min: 1, max: 30_000 }),
            mss: fc.integer({ min: 88, max: 1400 }),
            seq: fc.integer({ min: 0, max: 0xffffffff }),
            id: fc.integer({ min: 0, max: 0xffff }),
            psh: fc.boolean(),
            timestamps: fc.boolean(),
          }),
          { minLength: 1, maxLength: 3 },
        ),
        fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 400 }),
        (flows, noise) => {
          const queues = flows.map((f, k) => flowSegments(f.ip, 41000 + k, f.payload, f.mss, f))
          // Loss, duplication and reordering within each flow, then interleaving.
          let n = 0
          const next = () => noise[n++ % noise.length]!
          const mutated = queues.map((q) => {
            const out: Uint8Array[] = []
            for (const seg of q) {
              const r = next()
              if (r < 5) continue // lost
              out.push(seg)
              if (r >= 95) out.push(seg) // repeated
              if (r >= 90 && r < 95 && out.length >= 2) {
                const a = out.length - 1
                ;[out[a], out[a - 1]] = [out[a - 1]!, out[a]!] // reordered
              }
            }
            return out
          })
          const input: Uint8Array[] = []
          const at = mutated.map(() => 0)
          for (;;) {
            const left = mutated.map((_, k) => k).filter((k) => at[k]! < mutated[k]!.length)
            if (left.length === 0) break
            const k = left[next() % left.length]!
            input.push(mutated[k]![at[k]!++]!)
          }
          // Some segments come as a sender's 'segment' makes them: kind 3, checksum partial.
          const hasHeader = input.map(() => next() < 50)
          const given = input.map((f, i) => (hasHeader[i] ? asPartial(f) : f))
          const counters: CoalesceCounters = { framesCoalesced: 0, segmentsCoalesced: 0 }
          const out = coalesceTcp(given, counters, hasHeader)
          merged += counters.framesCoalesced
          for (const o of out) expect(checkVnetFrame(o)).toBeUndefined()
          expect(byFlow(out.flatMap((o) => segments(o)))).toEqual(byFlow(input))
        },
      ),
      { numRuns: 200 },
    )
    expect(merged).toBeGreaterThan(100)
  })

  it("coalesces the partial-checksum segments of a sender's 'segment', alone or among plain ones", () => {
    for (const ip of [4, 6] as const) {
      const plain = flowSegments(ip, 40010, 20_000, 1300, { psh: true })
      const partial = plain.map(asPartial)
      const counters: CoalesceCounters = { framesCoalesced: 0, segmentsCoalesced: 0 }
      const out = coalesceTcp(
        partial,
        counters,
        partial.map(() => true),
      )
      expect(out).toHaveLength(1)
      expect(counters).toEqual({ framesCoalesced: 1, segmentsCoalesced: plain.length })
      expect(segments(out[0]!)).toEqual(plain)
      // Mixed with plain segments of the same flow: one run all the same.
      const mixed = plain.map((f, i) => (i % 2 === 0 ? partial[i]! : f))
      const flags = plain.map((_, i) => i % 2 === 0)
      const both = coalesceTcp(mixed, undefined, flags)
      expect(both).toHaveLength(1)
      expect(segments(both[0]!)).toEqual(plain)
      // A lone partial segment goes on as it came, header and all.
      expect(coalesceTcp([partial[0]!], undefined, [true])).toEqual([partial[0]])
    }
  })

  it('starts no run with a segment under 48 bytes: a merged frame never has a gso_size checkVnetFrame refuses', () => {
    // Consecutive single segments of one flow, each its own GSO frame cut once.
    const run = (size: number) =>
      [0, 1, 2].flatMap((k) =>
        flowSegments(4, 40013, size, 1000, { seq: 0x11223344 + k * size, id: 0x1234 + k }),
      )
    expect(coalesceTcp(run(47)).map((o) => segments(o).length)).toEqual([1, 1, 1])
    const merged = coalesceTcp(run(48))
    expect(merged.map((o) => segments(o).length)).toEqual([3])
    expect(checkVnetFrame(merged[0]!)).toBeUndefined()
    expect(readVnetHeader(merged[0]!).gsoSize).toBe(48)
    // A short one may still end a run of larger ones.
    const tail = flowSegments(4, 40014, 1000 + 20, 1000)
    expect(coalesceTcp(tail).map((o) => segments(o).length)).toEqual([2])
  })

  it('passes on as it came a kind-3 frame that asks for more than the TCP checksum', () => {
    const plain = flowSegments(4, 40011, 3000, 1000)
    const partial = plain.map(asPartial)
    const flags = [true, true, true]
    const variants: [string, (b: Uint8Array) => void][] = [
      ['DATA_VALID as well', (b) => (b[0] = VNET_F_NEEDS_CSUM | 2)],
      ['no NEEDS_CSUM', (b) => (b[0] = 0)],
      ['a GSO type', (b) => (b[1] = VNET_GSO_TCPV4)],
      ['csum_start elsewhere', (b) => (b[6] = 14)],
      ['csum_offset of UDP', (b) => (b[8] = 6)],
    ]
    for (const [what, change] of variants) {
      const odd = partial[1]!.slice()
      change(odd)
      const input = [partial[0]!, odd, partial[2]!]
      expect(coalesceTcp(input, undefined, flags), what).toEqual(input)
    }
    // A partial segment whose IPv4 header checksum fails is not merged either.
    const badIp = partial[1]!.slice()
    badIp[VNET_HEADER_LENGTH + 14 + 8] = 63
    expect(coalesceTcp([partial[0]!, badIp, partial[2]!], undefined, flags)).toEqual([
      partial[0],
      badIp,
      partial[2],
    ])
  })
})

/**
 * A plain TCP segment as a sender's largeGso 'segment' sends it: led by a
 * header with NEEDS_CSUM at the TCP checksum, GSO none, the checksum field
 * holding the pseudo-header sum for its length (folded, not complemented).
 */
function asPartial(frame: Uint8Array): Uint8Array {
  const ip = frame[12] === 0x08 ? 4 : 6
  const l4 = ip === 4 ? 14 + 20 : 14 + 40
  const ipEnd = ip === 4 ? 14 + u16(frame, 16) : 14 + 40 + u16(frame, 18)
  let sum = TCP + (ipEnd - l4)
  const [from, to] = ip === 4 ? [14 + 12, 14 + 20] : [14 + 8, 14 + 40]
  for (let i = from; i < to; i += 2) sum += u16(frame, i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  const out = new Uint8Array(VNET_HEADER_LENGTH + frame.length)
  const header = (frame[l4 + 12]! >> 4) * 4
  writeVnetHeader(out, 0, {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: VNET_GSO_NONE,
    hdrLen: l4 + header,
    gsoSize: 0,
    csumStart: l4,
    csumOffset: 16,
  })
  out.set(frame, VNET_HEADER_LENGTH)
  out.set(be16(sum), VNET_HEADER_LENGTH + l4 + 16)
  return out
}
