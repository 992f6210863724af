// The DHCPv4 client against a fake server written here with its own byte
// offsets (RFC 2131 §2 figure 1, RFC 2132), so that a mistake in the
// module's layout cannot hide behind the same mistake in its parser.
import { describe, expect, it } from 'vitest'
import { DhcpClient, type DhcpLease, type DhcpOutput, isDhcpReply } from '../src/dhcp.ts'
import { TunL2Error } from '../src/errors.ts'

const MAC = new Uint8Array([0x02, 0x11, 0x22, 0x33, 0x44, 0x55])
const OTHER_MAC = new Uint8Array([0x02, 0x99, 0x22, 0x33, 0x44, 0x55])
const SERVER_MAC = new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
const SERVER_IP = [10, 0, 0, 1]
const OFFERED = [10, 0, 0, 50]
const T0 = 1_000_000
const LEASE = 3600

/** Counter-based xids; every jitter draw is `jitterWord` (0x8000 gives exactly 0 ms). */
function testRandom(jitterWord = 0x8000): (bytes: number) => Uint8Array {
  let counter = 0x1000
  return (bytes) => {
    if (bytes === 2) return new Uint8Array([jitterWord >> 8, jitterWord & 0xff])
    counter += 0x01010101
    const out = new Uint8Array(bytes)
    for (let i = 0; i < bytes; i++) out[i] = (counter >>> (8 * (3 - (i % 4)))) & 0xff
    return out
  }
}

function newClient(options: { hostname?: string; jitterWord?: number } = {}): DhcpClient {
  return new DhcpClient({
    mac: MAC,
    random: testRandom(options.jitterWord),
    ...(options.hostname === undefined ? {} : { hostname: options.hostname }),
  })
}

// --- The fake server's own view of the bytes ---

function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
}

function checksum16(b: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial
  for (let i = start; i < end; i += 2) sum += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return sum
}

/** One frame the client sent, read with fixed offsets: Ethernet 0, IPv4 14 (no options), UDP 34, BOOTP 42. */
interface Sent {
  ethDst: number[]
  ethSrc: number[]
  ethType: number
  ipSrc: number[]
  ipDst: number[]
  ipChecksumValid: boolean
  udpChecksumValid: boolean
  protocol: number
  srcPort: number
  dstPort: number
  bootpLength: number
  op: number
  htype: number
  hlen: number
  xid: number
  secs: number
  ciaddr: number[]
  chaddr: number[]
  cookie: number
  options: Map<number, number[]>
  optionOrder: number[]
}

function parseSent(frame: Uint8Array): Sent {
  const ipTotal = u16(frame, 16)
  const udpLength = u16(frame, 38)
  expect(frame[14]).toBe(0x45)
  expect(ipTotal).toBe(frame.length - 14)
  expect(udpLength).toBe(ipTotal - 20)
  const pseudo = checksum16(frame, 26, 34) + 17 + udpLength
  const options = new Map<number, number[]>()
  const optionOrder: number[] = []
  let at = 42 + 240
  for (;;) {
    const code = frame[at]!
    if (code === 255) break
    if (code === 0) {
      at++
      continue
    }
    const length = frame[at + 1]!
    options.set(code, [...frame.subarray(at + 2, at + 2 + length)])
    optionOrder.push(code)
    at += 2 + length
  }
  for (let i = at + 1; i < frame.length; i++) expect(frame[i]).toBe(0) // padding after the end option
  return {
    ethDst: [...frame.subarray(0, 6)],
    ethSrc: [...frame.subarray(6, 12)],
    ethType: u16(frame, 12),
    ipSrc: [...frame.subarray(26, 30)],
    ipDst: [...frame.subarray(30, 34)],
    ipChecksumValid: checksum16(frame, 14, 34) === 0xffff,
    udpChecksumValid: checksum16(frame, 34, 34 + udpLength, pseudo) === 0xffff,
    protocol: frame[23]!,
    srcPort: u16(frame, 34),
    dstPort: u16(frame, 36),
    bootpLength: udpLength - 8,
    op: frame[42]!,
    htype: frame[43]!,
    hlen: frame[44]!,
    xid: u32(frame, 46),
    secs: u16(frame, 50),
    ciaddr: [...frame.subarray(54, 58)],
    chaddr: [...frame.subarray(70, 86)],
    cookie: u32(frame, 278),
    options,
    optionOrder,
  }
}

function only(out: DhcpOutput): Sent {
  expect(out.frames).toHaveLength(1)
  return parseSent(out.frames[0]!)
}

type RawOption = [number, number[]]

interface ReplySpec {
  xid?: number
  chaddr?: Uint8Array
  yiaddr?: number[]
  cookie?: number
  options?: RawOption[]
  /** Bytes written after the fixed fields and cookie instead of `options` and an end. */
  rawOptions?: number[]
  op?: number
  serverMac?: Uint8Array
}

/** A BOOTREPLY from the fake server, by hand: unicast to chaddr, UDP checksum 0. */
function reply(request: Sent, spec: ReplySpec): Uint8Array {
  const optionBytes = spec.rawOptions ?? [
    ...(spec.options ?? []).flatMap(([code, value]) => [code, value.length, ...value]),
    255,
  ]
  const bootp = new Uint8Array(240 + optionBytes.length)
  bootp[0] = spec.op ?? 2
  bootp[1] = 1
  bootp[2] = 6
  const xid = spec.xid ?? request.xid
  bootp.set([xid >>> 24, (xid >>> 16) & 0xff, (xid >>> 8) & 0xff, xid & 0xff], 4)
  bootp.set(spec.yiaddr ?? OFFERED, 16)
  bootp.set(SERVER_IP, 20)
  bootp.set(spec.chaddr ?? new Uint8Array(request.chaddr.slice(0, 6)), 28)
  const cookie = spec.cookie ?? 0x63825363
  bootp.set([cookie >>> 24, (cookie >>> 16) & 0xff, (cookie >>> 8) & 0xff, cookie & 0xff], 236)
  bootp.set(optionBytes, 240)
  const frame = new Uint8Array(42 + bootp.length)
  frame.set(request.ethSrc, 0)
  frame.set(spec.serverMac ?? SERVER_MAC, 6)
  frame.set([0x08, 0x00], 12)
  const total = 20 + 8 + bootp.length
  frame.set([0x45, 0, total >> 8, total & 0xff, 0, 1, 0, 0, 64, 17, 0, 0], 14)
  frame.set(SERVER_IP, 26)
  frame.set(spec.yiaddr ?? OFFERED, 30)
  const ipSum = ~checksum16(frame, 14, 34) & 0xffff
  frame.set([ipSum >> 8, ipSum & 0xff], 24)
  const udpLength = 8 + bootp.length
  frame.set([0, 67, 0, 68, udpLength >> 8, udpLength & 0xff, 0, 0], 34)
  frame.set(bootp, 42)
  return frame
}

function be32(n: number): number[] {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]
}

function offerOptions(): RawOption[] {
  return [
    [53, [2]],
    [54, SERVER_IP],
    [51, be32(LEASE)],
    [1, [255, 255, 255, 0]],
    [3, SERVER_IP],
  ]
}

function ackOptions(extra: RawOption[] = [], leaseSeconds = LEASE): RawOption[] {
  return [
    [53, [5]],
    [54, SERVER_IP],
    [51, be32(leaseSeconds)],
    [1, [255, 255, 255, 0]],
    [3, SERVER_IP],
    [6, [1, 1, 1, 1, 9, 9, 9, 9]],
    ...extra,
  ]
}

const NAK_OPTIONS: RawOption[] = [
  [53, [6]],
  [54, SERVER_IP],
]

/** DISCOVER, OFFER, REQUEST at `now`; returns the REQUEST the client sent. */
function toRequesting(client: DhcpClient, now = T0): Sent {
  const discover = only(client.start(now))
  return only(client.receive(reply(discover, { options: offerOptions() }), now))
}

/** A whole DORA at `now`; returns the lease. */
function bind(
  client: DhcpClient,
  now = T0,
  extra: RawOption[] = [],
  leaseSeconds = LEASE,
): DhcpLease {
  const request = toRequesting(client, now)
  const out = client.receive(reply(request, { options: ackOptions(extra, leaseSeconds) }), now)
  expect(out.frames).toEqual([])
  expect(out.events).toHaveLength(1)
  expect(out.events[0]!.type).toBe('bound')
  return client.lease!
}

describe('DhcpClient: DISCOVER, OFFER, REQUEST, ACK', () => {
  it('broadcasts a DISCOVER with the options, chaddr and a valid IP header', () => {
    const client = newClient({ hostname: 'node-1' })
    expect(client.state).toBe('init')
    const d = only(client.start(T0))
    expect(client.state).toBe('selecting')
    expect(d.ethDst).toEqual([255, 255, 255, 255, 255, 255])
    expect(d.ethSrc).toEqual([...MAC])
    expect(d.ethType).toBe(0x0800)
    expect(d.ipSrc).toEqual([0, 0, 0, 0])
    expect(d.ipDst).toEqual([255, 255, 255, 255])
    expect(d.ipChecksumValid).toBe(true)
    expect(d.udpChecksumValid).toBe(true)
    expect(d.protocol).toBe(17)
    expect([d.srcPort, d.dstPort]).toEqual([68, 67])
    expect(d.bootpLength).toBeGreaterThanOrEqual(300)
    expect([d.op, d.htype, d.hlen]).toEqual([1, 1, 6])
    expect(d.chaddr).toEqual([...MAC, ...new Array(10).fill(0)])
    expect(d.ciaddr).toEqual([0, 0, 0, 0])
    expect(d.cookie).toBe(0x63825363)
    expect(d.options.get(53)).toEqual([1])
    expect(d.options.get(61)).toEqual([1, ...MAC])
    expect(d.options.get(12)).toEqual([...new TextEncoder().encode('node-1')])
    expect(d.options.get(55)).toEqual([1, 3, 6, 15, 26, 51, 54, 58, 59])
    expect(d.options.get(57)).toEqual([0x05, 0xdc])
    expect(d.options.has(50)).toBe(false)
    expect(d.options.has(54)).toBe(false)
    expect(d.optionOrder[0]).toBe(53)
  })

  it('requests the first valid OFFER by broadcast with options 50 and 54 and the same xid', () => {
    const client = newClient()
    const d = only(client.start(T0))
    const r = only(client.receive(reply(d, { options: offerOptions() }), T0 + 300))
    expect(client.state).toBe('requesting')
    expect(r.xid).toBe(d.xid)
    expect(r.ethDst).toEqual([255, 255, 255, 255, 255, 255])
    expect(r.ipSrc).toEqual([0, 0, 0, 0])
    expect(r.ipDst).toEqual([255, 255, 255, 255])
    expect(r.ipChecksumValid).toBe(true)
    expect([r.srcPort, r.dstPort]).toEqual([68, 67])
    expect(r.ciaddr).toEqual([0, 0, 0, 0])
    expect(r.options.get(53)).toEqual([3])
    expect(r.options.get(50)).toEqual(OFFERED)
    expect(r.options.get(54)).toEqual(SERVER_IP)
    expect(r.options.get(61)).toEqual([1, ...MAC])
    expect(r.options.has(12)).toBe(false)
    expect(r.bootpLength).toBeGreaterThanOrEqual(300)
    // A second OFFER (another server) while requesting is not taken.
    const late = client.receive(
      reply(d, { options: offerOptions(), yiaddr: [10, 0, 0, 51] }),
      T0 + 400,
    )
    expect(late.frames).toEqual([])
    expect(client.stats().ignored).toBe(1)
  })

  it('binds on the ACK and reports the lease', () => {
    const client = newClient()
    const request = toRequesting(client)
    const out = client.receive(reply(request, { options: ackOptions() }), T0 + 10)
    expect(out.frames).toEqual([])
    expect(out.events).toEqual([{ type: 'bound', lease: client.lease }])
    expect(client.state).toBe('bound')
    const lease = client.lease!
    expect([...lease.address]).toEqual(OFFERED)
    expect(lease.prefix).toBe(24)
    expect([...lease.router!]).toEqual(SERVER_IP)
    expect(lease.dns.map((a) => [...a])).toEqual([
      [1, 1, 1, 1],
      [9, 9, 9, 9],
    ])
    expect([...lease.server]).toEqual(SERVER_IP)
    expect([...lease.serverMac]).toEqual([...SERVER_MAC])
    expect(lease.leaseSeconds).toBe(LEASE)
    // Timed from the REQUEST (RFC 2131 §4.4.1), which went out at T0.
    expect(lease.renewAtMs).toBe(T0 + 1_800_000)
    expect(lease.rebindAtMs).toBe(T0 + 3_150_000)
    expect(lease.expiresAtMs).toBe(T0 + 3_600_000)
    expect(client.nextWakeMs()).toBe(lease.renewAtMs)
    expect(client.stats()).toEqual({ sent: 2, received: 2, ignored: 0, malformed: 0, naks: 0 })
  })

  it('skips an OFFER without a server identifier or with yiaddr 0.0.0.0', () => {
    const client = newClient()
    const d = only(client.start(T0))
    const noServer = offerOptions().filter(([code]) => code !== 54)
    expect(client.receive(reply(d, { options: noServer }), T0).frames).toEqual([])
    expect(
      client.receive(reply(d, { options: offerOptions(), yiaddr: [0, 0, 0, 0] }), T0).frames,
    ).toEqual([])
    expect(client.state).toBe('selecting')
    expect(client.stats().ignored).toBe(2)
    expect(only(client.receive(reply(d, { options: offerOptions() }), T0)).options.get(53)).toEqual(
      [3],
    )
  })

  it('ignores an ACK in REQUESTING from a server it did not name', () => {
    const client = newClient()
    const request = toRequesting(client)
    const options = ackOptions().map(
      ([code, value]): RawOption => [code, code === 54 ? [10, 0, 0, 2] : value],
    )
    expect(client.receive(reply(request, { options }), T0).events).toEqual([])
    expect(client.state).toBe('requesting')
  })

  it('reads the mask, T1 and T2 options, and an infinite lease', () => {
    const masks: [number[] | undefined, number][] = [
      [[255, 255, 0, 0], 16],
      [[255, 255, 255, 252], 30],
      [[255, 255, 255, 255], 32],
      [[255, 0, 255, 0], 24],
      [[0, 0, 0, 0], 24],
      [[255, 255, 255], 24],
      [undefined, 24],
    ]
    for (const [mask, prefix] of masks) {
      const client = newClient()
      const request = toRequesting(client)
      const options = ackOptions().filter(([code]) => code !== 1)
      if (mask !== undefined) options.push([1, mask])
      client.receive(reply(request, { options }), T0)
      expect(client.lease!.prefix).toBe(prefix)
    }
    const timed = newClient()
    const lease = bind(timed, T0, [
      [58, be32(600)],
      [59, be32(900)],
    ])
    expect(lease.renewAtMs).toBe(T0 + 600_000)
    expect(lease.rebindAtMs).toBe(T0 + 900_000)
    const forever = newClient()
    const infinite = bind(forever, T0, [], 0xffffffff)
    expect(infinite.leaseSeconds).toBe(0xffffffff)
    expect(infinite.expiresAtMs).toBe(Infinity)
    expect(infinite.renewAtMs).toBe(Infinity)
    expect(forever.nextWakeMs()).toBeUndefined()
    expect(forever.tick(T0 + 1e12)).toEqual({ frames: [], events: [] })
  })
})

describe('DhcpClient: retransmission', () => {
  it('retransmits the DISCOVER after 2, 4, 8, 16, 32, 64, 64 s with the same xid', () => {
    const client = newClient()
    const first = only(client.start(T0))
    let at = T0
    for (const delay of [2, 4, 8, 16, 32, 64, 64, 64]) {
      const due = at + delay * 1000
      expect(client.nextWakeMs()).toBe(due)
      expect(client.tick(due - 1).frames).toEqual([])
      const again = only(client.tick(due))
      expect(again.xid).toBe(first.xid)
      expect(again.options.get(53)).toEqual([1])
      expect(again.secs).toBe(Math.floor((due - T0) / 1000))
      at = due
    }
    expect(client.stats().sent).toBe(9)
  })

  it('jitters each retransmission by at most 0.5 s either way', () => {
    const low = newClient({ jitterWord: 0x0000 })
    low.start(T0)
    expect(low.nextWakeMs()).toBe(T0 + 1500)
    const high = newClient({ jitterWord: 0xffff })
    high.start(T0)
    expect(high.nextWakeMs()).toBe(T0 + 2500)
  })

  it('retransmits the REQUEST on the same schedule, then goes back to DISCOVER with a new xid', () => {
    const client = newClient()
    const request = toRequesting(client)
    let at = T0
    for (const delay of [2, 4, 8, 16]) {
      at += delay * 1000
      const again = only(client.tick(at))
      expect(again.options.get(53)).toEqual([3])
      expect(again.options.get(50)).toEqual(OFFERED)
      expect(again.xid).toBe(request.xid)
    }
    at += 32_000
    const discover = only(client.tick(at))
    expect(discover.options.get(53)).toEqual([1])
    expect(discover.xid).not.toBe(request.xid)
    expect(client.state).toBe('selecting')
  })
})

describe('DhcpClient: RENEWING, REBINDING, expiry', () => {
  it('at T1 unicasts a REQUEST with ciaddr to the server, and an ACK renews', () => {
    const client = newClient()
    const lease = bind(client)
    expect(client.tick(lease.renewAtMs - 1)).toEqual({ frames: [], events: [] })
    const r = only(client.tick(lease.renewAtMs))
    expect(client.state).toBe('renewing')
    expect(r.ethDst).toEqual([...SERVER_MAC])
    expect(r.ethSrc).toEqual([...MAC])
    expect(r.ipSrc).toEqual(OFFERED)
    expect(r.ipDst).toEqual(SERVER_IP)
    expect(r.ipChecksumValid).toBe(true)
    expect(r.udpChecksumValid).toBe(true)
    expect([r.srcPort, r.dstPort]).toEqual([68, 67])
    expect(r.ciaddr).toEqual(OFFERED)
    expect(r.options.get(53)).toEqual([3])
    expect(r.options.has(50)).toBe(false)
    expect(r.options.has(54)).toBe(false)
    // Half the time to T2 (1 350 s), which is over 60 s.
    expect(client.nextWakeMs()).toBe(lease.renewAtMs + 675_000)
    const now = lease.renewAtMs + 5_000
    const out = client.receive(reply(r, { options: ackOptions() }), now)
    expect(out.events).toHaveLength(1)
    expect(out.events[0]!.type).toBe('renewed')
    expect(client.state).toBe('bound')
    const renewed = client.lease!
    expect(renewed.renewAtMs).toBe(lease.renewAtMs + 1_800_000)
    expect(renewed.expiresAtMs).toBe(lease.renewAtMs + 3_600_000)
    expect(client.nextWakeMs()).toBe(renewed.renewAtMs)
  })

  it('retransmits an unanswered renewal, then at T2 broadcasts the REQUEST', () => {
    const client = newClient()
    const lease = bind(client)
    const first = only(client.tick(lease.renewAtMs))
    const retransmitAt = lease.renewAtMs + 675_000
    const second = only(client.tick(retransmitAt))
    expect(second.ethDst).toEqual([...SERVER_MAC])
    expect(second.xid).toBe(first.xid)
    expect(client.nextWakeMs()).toBe(retransmitAt + 337_500)
    // Halving down to the 60 s floor: 337.5, 168.75, 84.375, then 60 s, 60 s (past T2, so T2 wins).
    const expected = [1_012_500, 1_181_250, 1_265_625, 1_325_625].map((d) => lease.renewAtMs + d)
    for (const at of expected) {
      expect(client.nextWakeMs()).toBe(at)
      expect(only(client.tick(at)).ethDst).toEqual([...SERVER_MAC])
    }
    expect(client.nextWakeMs()).toBe(lease.rebindAtMs)
    const rebind = only(client.tick(lease.rebindAtMs))
    expect(client.state).toBe('rebinding')
    expect(rebind.ethDst).toEqual([255, 255, 255, 255, 255, 255])
    expect(rebind.ipSrc).toEqual(OFFERED)
    expect(rebind.ipDst).toEqual([255, 255, 255, 255])
    expect(rebind.ipChecksumValid).toBe(true)
    expect(rebind.ciaddr).toEqual(OFFERED)
    expect(rebind.options.get(53)).toEqual([3])
    expect(rebind.options.has(50)).toBe(false)
    expect(rebind.options.has(54)).toBe(false)
    // Half the time left to expiry (450 s).
    expect(client.nextWakeMs()).toBe(lease.rebindAtMs + 225_000)
    // Another server answers the rebind: its MAC becomes the one renewals go to.
    const otherServerMac = new Uint8Array([0x52, 0x54, 0, 0, 0, 9])
    const out = client.receive(
      reply(rebind, { options: ackOptions(), serverMac: otherServerMac }),
      lease.rebindAtMs + 1,
    )
    expect(out.events[0]!.type).toBe('renewed')
    expect([...client.lease!.serverMac]).toEqual([...otherServerMac])
  })

  it('at expiry reports the lease lost and DISCOVERs again with a new xid', () => {
    const client = newClient()
    const lease = bind(client)
    const firstXid = only(client.tick(lease.renewAtMs)).xid
    let wake = client.nextWakeMs()
    let frames = 1
    while (wake !== undefined && wake < lease.expiresAtMs) {
      const out = client.tick(wake)
      expect(out.events).toEqual([])
      frames += out.frames.length
      wake = client.nextWakeMs()
    }
    expect(frames).toBeGreaterThanOrEqual(4)
    expect(client.state).toBe('rebinding')
    expect(wake).toBe(lease.expiresAtMs)
    const out = client.tick(lease.expiresAtMs)
    expect(out.events).toEqual([{ type: 'lost', lease, reason: 'expired' }])
    const discover = only(out)
    expect(discover.options.get(53)).toEqual([1])
    expect(discover.ethDst).toEqual([255, 255, 255, 255, 255, 255])
    expect(discover.ipSrc).toEqual([0, 0, 0, 0])
    expect(discover.xid).not.toBe(firstXid)
    expect(client.state).toBe('selecting')
    expect(client.lease).toBeUndefined()
  })

  it('a tick long after T1 goes straight to the state the time calls for', () => {
    const late = newClient()
    const lease = bind(late)
    expect(only(late.tick(lease.rebindAtMs + 10)).ethDst).toEqual([255, 255, 255, 255, 255, 255])
    expect(late.state).toBe('rebinding')
    const later = newClient()
    const lease2 = bind(later)
    expect(later.tick(lease2.expiresAtMs + 10).events[0]).toMatchObject({
      type: 'lost',
      reason: 'expired',
    })
  })
})

describe('DhcpClient: NAK', () => {
  it('a NAK while requesting DISCOVERs again with a new xid and no event', () => {
    const client = newClient()
    const request = toRequesting(client)
    const out = client.receive(
      reply(request, { options: NAK_OPTIONS, yiaddr: [0, 0, 0, 0] }),
      T0 + 1,
    )
    expect(out.events).toEqual([])
    const discover = only(out)
    expect(discover.options.get(53)).toEqual([1])
    expect(discover.xid).not.toBe(request.xid)
    expect(client.state).toBe('selecting')
    expect(client.stats().naks).toBe(1)
  })

  it('a NAK while renewing loses the lease and DISCOVERs again', () => {
    const client = newClient()
    const lease = bind(client)
    const renew = only(client.tick(lease.renewAtMs))
    const out = client.receive(
      reply(renew, { options: NAK_OPTIONS, yiaddr: [0, 0, 0, 0] }),
      lease.renewAtMs,
    )
    expect(out.events).toEqual([{ type: 'lost', lease, reason: 'nak' }])
    expect(only(out).options.get(53)).toEqual([1])
    expect(client.state).toBe('selecting')
    expect(client.lease).toBeUndefined()
    expect(client.stats().naks).toBe(1)
  })

  it('a NAK while bound (no request outstanding) is ignored', () => {
    const client = newClient()
    const request = toRequesting(client)
    client.receive(reply(request, { options: ackOptions() }), T0)
    expect(client.receive(reply(request, { options: NAK_OPTIONS }), T0)).toEqual({
      frames: [],
      events: [],
    })
    expect(client.state).toBe('bound')
    expect(client.stats()).toMatchObject({ ignored: 1, naks: 0 })
  })
})

describe('DhcpClient: replies that are not for us', () => {
  it('drops and counts a wrong xid, chaddr, op, a bad cookie, truncated options, no message type', () => {
    const client = newClient()
    const d = only(client.start(T0))
    const cases: [string, Uint8Array, 'ignored' | 'malformed'][] = [
      ['wrong xid', reply(d, { options: offerOptions(), xid: (d.xid + 1) >>> 0 }), 'ignored'],
      ['wrong chaddr', reply(d, { options: offerOptions(), chaddr: OTHER_MAC }), 'ignored'],
      ['a BOOTREQUEST', reply(d, { options: offerOptions(), op: 1 }), 'ignored'],
      ['bad cookie', reply(d, { options: offerOptions(), cookie: 0x63825364 }), 'malformed'],
      ['option past the end', reply(d, { rawOptions: [53, 1, 2, 54, 4, 10, 0] }), 'malformed'],
      ['length byte missing', reply(d, { rawOptions: [53, 1, 2, 54] }), 'malformed'],
      [
        'no message type',
        reply(d, { options: offerOptions().filter(([c]) => c !== 53) }),
        'malformed',
      ],
      ['message type of 2 bytes', reply(d, { rawOptions: [53, 2, 2, 2, 255] }), 'malformed'],
      [
        'an ARP frame',
        new Uint8Array(42).fill(0xff).fill(0x08, 12, 13).fill(0x06, 13, 14),
        'ignored',
      ],
      [
        'truncated after UDP',
        reply(d, { options: offerOptions() }).slice(0, 42 + 100),
        'malformed',
      ],
    ]
    for (const [name, frame, kind] of cases) {
      const before = client.stats()
      const out = client.receive(frame, T0)
      expect(out, name).toEqual({ frames: [], events: [] })
      const after = client.stats()
      expect(after[kind] - before[kind], name).toBe(1)
      expect(after.received - before.received, name).toBe(1)
      expect(client.state, name).toBe('selecting')
    }
    // Pad bytes between options are fine, and the same offer then works.
    const padded = [0, 0, 53, 1, 2, 0, 54, 4, ...SERVER_IP, 255]
    expect(only(client.receive(reply(d, { rawOptions: padded }), T0)).options.get(53)).toEqual([3])
  })

  it('honours the IPv4 header length and Ethernet padding, and drops fragments', () => {
    const client = newClient()
    const d = only(client.start(T0))
    const plain = reply(d, { options: offerOptions() })
    // The same reply with a 4-byte IP option (NOP x4, IHL 6) and 20 bytes of Ethernet padding.
    const withOptions = new Uint8Array(plain.length + 4 + 20)
    withOptions.set(plain.subarray(0, 34), 0)
    withOptions.set([1, 1, 1, 1], 34)
    withOptions.set(plain.subarray(34), 38)
    withOptions[14] = 0x46
    const total = u16(plain, 16) + 4
    withOptions.set([total >> 8, total & 0xff, 0, 1, 0, 0, 64, 17, 0, 0], 16)
    const sum = ~checksum16(withOptions, 14, 38) & 0xffff
    withOptions.set([sum >> 8, sum & 0xff], 24)
    withOptions.fill(0xee, withOptions.length - 20)
    const fragment = plain.slice()
    fragment[20] = 0x20 // more fragments
    expect(client.receive(fragment, T0).frames).toEqual([])
    const longUdp = plain.slice()
    longUdp[38] = 0xff // UDP length past the IP packet
    expect(client.receive(longUdp, T0).frames).toEqual([])
    expect(client.stats().malformed).toBe(2)
    expect(only(client.receive(withOptions, T0)).options.get(50)).toEqual(OFFERED)
  })

  it('ignores an ACK without a lease time', () => {
    const client = newClient()
    const request = toRequesting(client)
    const options = ackOptions().filter(([code]) => code !== 51)
    expect(client.receive(reply(request, { options }), T0)).toEqual({ frames: [], events: [] })
    expect(client.state).toBe('requesting')
    expect(client.stats().ignored).toBe(1)
  })

  it('tells DHCP replies from other frames cheaply', () => {
    const client = newClient()
    const discoverFrame = client.start(T0).frames[0]!
    const frame = reply(parseSent(discoverFrame), { options: offerOptions() })
    expect(isDhcpReply(frame)).toBe(true)
    expect(isDhcpReply(discoverFrame)).toBe(false)
    const toServer = frame.slice()
    toServer[37] = 67
    expect(isDhcpReply(toServer)).toBe(false)
    const tcp = frame.slice()
    tcp[23] = 6
    expect(isDhcpReply(tcp)).toBe(false)
    const ipv6 = frame.slice()
    ipv6[12] = 0x86
    ipv6[13] = 0xdd
    expect(isDhcpReply(ipv6)).toBe(false)
    expect(isDhcpReply(frame.slice(0, 40))).toBe(false)
  })

  it('never throws on 2000 mutated or truncated ACKs', () => {
    let seed = 0x12345678
    const next = (): number => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0
      let t = seed
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
    let client = newClient()
    let ack = reply(toRequesting(client), { options: ackOptions() })
    let bound = 0
    for (let i = 0; i < 2000; i++) {
      if (client.state !== 'requesting') {
        client = newClient()
        ack = reply(toRequesting(client), { options: ackOptions() })
      }
      let frame = ack.slice()
      const flips = 1 + Math.floor(next() * 4)
      // Mostly the IP and UDP headers and the options, where the bounds checks are; sometimes anywhere.
      for (let f = 0; f < flips; f++) {
        const region = next()
        const at =
          region < 0.4
            ? 14 + Math.floor(next() * 28)
            : region < 0.8
              ? 282 + Math.floor(next() * (frame.length - 282))
              : Math.floor(next() * frame.length)
        frame[at] = Math.floor(next() * 256)
      }
      if (next() < 0.4) frame = frame.slice(0, Math.floor(next() * frame.length))
      const out = client.receive(frame, T0 + i)
      expect(out.frames.length + out.events.length).toBeLessThanOrEqual(2)
      if (client.lease !== undefined) {
        bound++
        const lease = client.lease
        expect(lease.address).toHaveLength(4)
        expect(lease.prefix).toBeGreaterThanOrEqual(1)
        expect(lease.prefix).toBeLessThanOrEqual(32)
        expect(lease.server).toHaveLength(4)
        expect(lease.renewAtMs).toBeLessThanOrEqual(lease.rebindAtMs)
        expect(lease.rebindAtMs).toBeLessThanOrEqual(lease.expiresAtMs)
      }
      const s = client.stats()
      expect(s.ignored + s.malformed).toBeLessThanOrEqual(s.received)
    }
    expect(bound).toBeGreaterThan(0) // some mutations leave a valid ACK
  })
})

describe('DhcpClient: RELEASE and DECLINE', () => {
  it('release unicasts a RELEASE to the server and stops', () => {
    const client = newClient()
    const lease = bind(client)
    const out = client.release(T0 + 5000)
    expect(out.events).toEqual([{ type: 'lost', lease, reason: 'released' }])
    const r = only(out)
    expect(r.ethDst).toEqual([...SERVER_MAC])
    expect(r.ethSrc).toEqual([...MAC])
    expect(r.ipSrc).toEqual(OFFERED)
    expect(r.ipDst).toEqual(SERVER_IP)
    expect(r.ipChecksumValid).toBe(true)
    expect(r.udpChecksumValid).toBe(true)
    expect([r.srcPort, r.dstPort]).toEqual([68, 67])
    expect(r.ciaddr).toEqual(OFFERED)
    expect(r.options.get(53)).toEqual([7])
    expect(r.options.get(54)).toEqual(SERVER_IP)
    expect(r.options.get(61)).toEqual([1, ...MAC])
    expect(r.options.has(50)).toBe(false)
    expect(r.bootpLength).toBeGreaterThanOrEqual(300)
    expect(client.state).toBe('stopped')
    expect(client.lease).toBeUndefined()
    expect(client.nextWakeMs()).toBeUndefined()
    expect(client.tick(T0 + 1e9)).toEqual({ frames: [], events: [] })
    // Started again, it DISCOVERs.
    expect(only(client.start(T0 + 6000)).options.get(53)).toEqual([1])
  })

  it('release without a lease sends nothing', () => {
    const client = newClient()
    client.start(T0)
    expect(client.release(T0)).toEqual({ frames: [], events: [] })
    expect(client.state).toBe('stopped')
  })

  it('decline broadcasts a DECLINE, loses the lease and DISCOVERs again 10 s later', () => {
    const client = newClient()
    const lease = bind(client)
    const now = T0 + 1000
    const out = client.decline(now)
    expect(out.events).toEqual([{ type: 'lost', lease, reason: 'declined' }])
    const d = only(out)
    expect(d.ethDst).toEqual([255, 255, 255, 255, 255, 255])
    expect(d.ipSrc).toEqual([0, 0, 0, 0])
    expect(d.ipDst).toEqual([255, 255, 255, 255])
    expect(d.ipChecksumValid).toBe(true)
    expect(d.ciaddr).toEqual([0, 0, 0, 0])
    expect(d.options.get(53)).toEqual([4])
    expect(d.options.get(50)).toEqual(OFFERED)
    expect(d.options.get(54)).toEqual(SERVER_IP)
    expect(d.options.get(61)).toEqual([1, ...MAC])
    expect(client.state).toBe('init')
    expect(client.lease).toBeUndefined()
    expect(client.nextWakeMs()).toBe(now + 10_000)
    expect(client.tick(now + 9_999).frames).toEqual([])
    const discover = only(client.tick(now + 10_000))
    expect(discover.options.get(53)).toEqual([1])
    expect(discover.xid).not.toBe(d.xid)
    expect(client.state).toBe('selecting')
  })

  it('decline without a lease does nothing', () => {
    const client = newClient()
    expect(client.decline(T0)).toEqual({ frames: [], events: [] })
    expect(client.state).toBe('init')
  })
})

describe('DhcpClient: options', () => {
  it('rejects a MAC that is not 6 bytes and a hostname that is not short ASCII', () => {
    const random = testRandom()
    expect(() => new DhcpClient({ mac: new Uint8Array(5), random })).toThrow(TunL2Error)
    for (const hostname of ['', 'a'.repeat(64), 'naïve', 'two words', 'tab\there']) {
      try {
        new DhcpClient({ mac: MAC, random, hostname })
        expect.unreachable(hostname)
      } catch (error) {
        expect(error).toBeInstanceOf(TunL2Error)
        expect((error as TunL2Error).code).toBe('tun-l2-invalid-options')
      }
    }
    expect(() => new DhcpClient({ mac: MAC, random, hostname: 'a'.repeat(63) })).not.toThrow()
  })

  it('start does nothing while already running', () => {
    const client = newClient()
    client.start(T0)
    expect(client.start(T0 + 1)).toEqual({ frames: [], events: [] })
  })
})
