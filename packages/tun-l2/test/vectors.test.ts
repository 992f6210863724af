// Every vector set of test/vectors/ (written by generate.py from
// docs/spec/17-tun-l2.md alone) reproduced by this package: forwards (the
// same bytes from the same inputs), backwards (the fields read back from
// the bytes), with a flipped bit, and, for the frames, as the port itself
// sends them in the exchanges that call for them.
import { readFileSync } from 'node:fs'
import { blake3 } from '@noble/hashes/blake3.js'
import { describe, expect, it } from 'vitest'
import {
  DhcpClient,
  type DhcpOutput,
  eui64,
  formatIp,
  ipv4MulticastMac,
  ipv6MulticastMac,
  linkLocalOf,
  parseIp,
  solicitedNode,
  TunL2,
  tunMac,
} from '../src/index.ts'
import {
  isNeighbourDiscovery,
  neighbourAdvertisement,
  neighbourSolicitation,
  parseNd,
  routerSolicitation,
} from '../src/nd.ts'
import { arpFrame } from '../src/packet.ts'
import { batchOf, icmp6, ipv4Packet, ipv6Packet } from './helpers.ts'

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'))
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

function vectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`vectors/${name}`, import.meta.url), 'utf8')) as T
}

function flip(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = bytes.slice()
  out[index]! ^= 1 << bit
  return out
}

/** The ICMPv6 checksum of an Ethernet frame holds (a slow reference: RFC 4443 §2.3, RFC 1071). */
function icmpChecksumOk(frame: Uint8Array): boolean {
  const length = (frame[18]! << 8) | frame[19]!
  const words = [...frame.subarray(22, 54), 0, 0, length >> 8, length & 0xff, 0, 0, 0, 58]
  words.push(...frame.subarray(54, 54 + length))
  let sum = 0
  for (let i = 0; i < words.length; i += 2) sum += (words[i]! << 8) | (words[i + 1] ?? 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return sum === 0xffff
}

// ---------------------------------------------------------------- mac.json

describe('mac.json (§17.2)', () => {
  const v = vectors<{
    macs: {
      peer: string
      peerId: string
      vlan: string
      vlanId: string
      hashFirstByte: number
      mac: string
    }[]
    psk: { secret: string; pskVlanId: string; peerId: string; mac: string }[]
  }>('mac.json')

  it('tunMac gives every MAC; a flipped bit of the PeerId or the VLAN-ID gives another', () => {
    expect(v.macs.length).toBeGreaterThanOrEqual(6)
    expect(new Set(v.macs.map((m) => m.hashFirstByte & 3)).size).toBe(4)
    for (const m of v.macs) {
      const mac = tunMac(hex(m.peerId), hex(m.vlanId))
      expect(toHex(mac)).toBe(m.mac)
      expect(mac[0]! & 3).toBe(2)
      // Backwards: the MAC is the hash's first 6 bytes, only bits 0x02 and 0x01 of byte 0 changed.
      expect(m.hashFirstByte & 0xfc).toBe(mac[0]! & 0xfc)
      expect(toHex(flip(mac, 0, 1).subarray(0, 1))).not.toBe(m.mac.slice(0, 2))
      expect(toHex(tunMac(flip(hex(m.peerId), 10), hex(m.vlanId)))).not.toBe(m.mac)
      expect(toHex(tunMac(hex(m.peerId), flip(hex(m.vlanId), 31, 7)))).not.toBe(m.mac)
    }
  })

  it('PSK VLAN-IDs are derive_key("PeerTap v1 PSK VLAN-ID", secret), and their MACs', () => {
    // @peertap/vft's pskVlanId is not a dependency of this package: the derivation is written here.
    const context = new TextEncoder().encode('PeerTap v1 PSK VLAN-ID')
    for (const p of v.psk) {
      const id = blake3(hex(p.secret), { context, dkLen: 32 })
      expect(toHex(id)).toBe(p.pskVlanId)
      expect(toHex(blake3(flip(hex(p.secret), 0), { context, dkLen: 32 }))).not.toBe(p.pskVlanId)
      expect(toHex(tunMac(hex(p.peerId), id))).toBe(p.mac)
    }
  })
})

// ---------------------------------------------------------------- frames.json

interface ArpVector {
  name: string
  op: 1 | 2
  ethDst: string
  sha: string
  spa: string
  tha: string
  tpa: string
  frame: string
}

type NdVector = { name: string; frame: string; mac: string } & (
  | { kind: 'ns'; src: string | null; target: string; dstMac: string | null }
  | { kind: 'na'; target: string; flags: number; dst: string | null; dstMac: string | null }
  | { kind: 'rs'; src: string }
)

interface DhcpStep {
  do: 'start' | 'receive' | 'tick' | 'release' | 'decline'
  atMs: number
  input?: string
  frames: string[]
  state: string
  lease?: {
    address: string
    prefix: number
    router: string
    renewAtMs: number
    rebindAtMs: number
    expiresAtMs: number
  }
}

const frames = vectors<{
  port: {
    mac: string
    addresses: string[]
    linkLocal: string
    peerMac: string
    peer4: string
    peer6: string
  }
  arp: ArpVector[]
  nd: NdVector[]
  peerFrames: Record<'arpRequest' | 'arpProbe' | 'arpReply' | 'ns' | 'dadNs' | 'na', string>
  dhcp: {
    runs: {
      name: string
      mac: string
      hostname: string | null
      random: string
      steps: DhcpStep[]
    }[]
  }
}>('frames.json')

const arpByName = (name: string) => frames.arp.find((a) => a.name === name)!.frame
const ndByName = (name: string) => frames.nd.find((n) => n.name === name)!.frame

function buildNd(n: NdVector): Uint8Array {
  const mac = hex(n.mac)
  switch (n.kind) {
    case 'ns':
      return neighbourSolicitation(
        mac,
        n.src === null ? undefined : hex(n.src),
        hex(n.target),
        n.dstMac === null ? undefined : hex(n.dstMac),
      )
    case 'na':
      return neighbourAdvertisement(
        mac,
        hex(n.target),
        n.flags,
        n.dst === null ? undefined : hex(n.dst),
        n.dstMac === null ? undefined : hex(n.dstMac),
      )
    case 'rs':
      return routerSolicitation(mac, hex(n.src))
  }
}

describe('frames.json: ARP (§17.3.1)', () => {
  it('arpFrame gives every frame, and its fields read back', () => {
    expect(frames.arp.length).toBe(6)
    for (const a of frames.arp) {
      const f = arpFrame(a.op, hex(a.ethDst), hex(a.sha), hex(a.spa), hex(a.tha), hex(a.tpa))
      expect(toHex(f), a.name).toBe(a.frame)
      const bytes = hex(a.frame)
      expect(toHex(bytes.subarray(0, 6))).toBe(a.ethDst)
      expect(toHex(bytes.subarray(6, 12))).toBe(a.sha)
      expect(toHex(bytes.subarray(14, 22))).toBe(`000108000604000${a.op}`)
      expect(toHex(bytes.subarray(22, 28))).toBe(a.sha)
      expect(toHex(bytes.subarray(28, 32))).toBe(a.spa)
      expect(toHex(bytes.subarray(32, 38))).toBe(a.tha)
      expect(toHex(bytes.subarray(38, 42))).toBe(a.tpa)
      const other = arpFrame(
        a.op,
        hex(a.ethDst),
        hex(a.sha),
        flip(hex(a.spa), 3),
        hex(a.tha),
        hex(a.tpa),
      )
      expect(toHex(other)).not.toBe(a.frame)
    }
  })
})

describe('frames.json: neighbour discovery (§17.3.2)', () => {
  it('the builders give every frame; checksums hold and a flipped bit breaks them; NS and NA parse back', () => {
    expect(frames.nd.length).toBe(9)
    for (const n of frames.nd) {
      const f = buildNd(n)
      expect(toHex(f), n.name).toBe(n.frame)
      expect(icmpChecksumOk(f), n.name).toBe(true)
      expect(icmpChecksumOk(flip(f, f.length - 1)), n.name).toBe(false)
      expect(f[21]).toBe(255)
      expect(isNeighbourDiscovery(f, 14)).toBe(true)
      const m = parseNd(f, 14)
      if (n.kind === 'ns') {
        expect(m).toMatchObject({ type: 'ns', target: hex(n.target) })
        expect(m?.type === 'ns' && m.lladdr !== undefined).toBe(n.src !== null)
      } else if (n.kind === 'na') {
        expect(m).toMatchObject({
          type: 'na',
          target: hex(n.target),
          flags: n.flags,
          lladdr: hex(n.mac),
        })
      } else expect(m).toEqual({ type: 'other' })
    }
  })
})

describe('frames.json: the port sends them (§17.3, §17.4, §17.6)', () => {
  const p = frames.port
  const peer = (name: keyof typeof frames.peerFrames) => hex(frames.peerFrames[name])
  const has = (sent: Uint8Array[], frame: string) => expect(sent.map(toHex)).toContain(frame)

  it('detection, announcements and the RS; ARP and NS resolution, probes of stale entries, replies and NAs', () => {
    const l2 = new TunL2({
      mac: hex(p.mac),
      addresses: p.addresses,
      random: (n) => new Uint8Array(n),
    })
    l2.start(0)
    let sent = l2.takeFrames()
    has(sent, arpByName('probe'))
    has(sent, ndByName('DAD NS for fd00:99::7'))
    has(sent, ndByName('DAD NS for the link-local address'))
    l2.tick(1000)
    sent = l2.takeFrames()
    has(sent, arpByName('announcement'))
    has(sent, ndByName('unsolicited NA'))
    has(sent, ndByName('unsolicited NA for the link-local address'))
    has(sent, ndByName('RS'))
    const none = () => {
      throw new Error('not for the host')
    }
    // IPv4: resolution, then a reply releases the packet.
    const packet4 = ipv4Packet('10.99.0.7', p.peer4)
    expect(l2.fromHost(batchOf([packet4]), 2000)).toEqual([])
    expect(l2.takeFrames().map(toHex)).toEqual([arpByName('request')])
    l2.toHost([peer('arpReply')], 2001, none)
    expect(l2.takeFrames().map((f) => toHex(f.subarray(0, 6)))).toEqual([p.peerMac])
    l2.toHost([peer('arpRequest')], 2002, none)
    expect(l2.takeFrames().map(toHex)).toEqual([arpByName('reply')])
    l2.toHost([peer('arpProbe')], 2003, none)
    expect(l2.takeFrames().map(toHex)).toEqual([arpByName('reply to a probe')])
    // IPv6: resolution with SLL, an NA releases the packet; an NS is answered.
    const packet6 = ipv6Packet(parseIp('fd00:99::7'), parseIp(p.peer6))
    expect(l2.fromHost(batchOf([packet6]), 2100)).toEqual([])
    expect(l2.takeFrames().map(toHex)).toEqual([ndByName('resolution NS with SLL')])
    l2.toHost([peer('na')], 2101, none)
    expect(l2.takeFrames().map((f) => toHex(f.subarray(0, 6)))).toEqual([p.peerMac])
    l2.toHost([peer('ns')], 2102, none)
    expect(l2.takeFrames().map(toHex)).toEqual([ndByName('solicited NA')])
    l2.toHost([peer('dadNs')], 2103, none)
    expect(l2.takeFrames().map(toHex)).toEqual([ndByName('unsolicited NA')])
    // Link-local destination: the NS leaves from the link-local address.
    const toRouter = ipv6Packet(hex(p.linkLocal), parseIp('fe80::1'))
    expect(l2.fromHost(batchOf([toRouter]), 2200)).toEqual([])
    expect(l2.takeFrames().map(toHex)).toEqual([
      ndByName('resolution NS from the link-local address'),
    ])
    // 30 s after their confirmations the entries are stale: used, and probed by unicast.
    l2.tick(40_000)
    l2.takeFrames()
    const out = l2.fromHost(batchOf([packet4, packet6]), 40_001)
    expect(out.map((f) => toHex(f.subarray(0, 6)))).toEqual([p.peerMac, p.peerMac])
    expect(l2.takeFrames().map(toHex)).toEqual([
      arpByName('request, unicast probe of a stale entry'),
      ndByName('probe NS, unicast'),
    ])
  })
})

describe('frames.json: DHCP (§17.3.4, §17.7)', () => {
  for (const run of frames.dhcp.runs) {
    it(run.name, () => {
      const random = hex(run.random)
      const client = new DhcpClient({
        mac: hex(run.mac),
        random: (n) => random.slice(0, n),
        ...(run.hostname === null ? {} : { hostname: run.hostname }),
      })
      for (const step of run.steps) {
        let out: DhcpOutput
        switch (step.do) {
          case 'start':
            out = client.start(step.atMs)
            break
          case 'receive':
            out = client.receive(hex(step.input!), step.atMs)
            break
          case 'tick':
            out = client.tick(step.atMs)
            break
          case 'release':
            out = client.release(step.atMs)
            break
          case 'decline':
            out = client.decline(step.atMs)
            break
        }
        const label = `${step.do} at ${step.atMs}`
        expect(out.frames.map(toHex), label).toEqual(step.frames)
        expect(client.state, label).toBe(step.state)
        if (step.lease !== undefined) {
          const lease = client.lease!
          expect({
            address: formatIp(lease.address),
            prefix: lease.prefix,
            router: formatIp(lease.router!),
            renewAtMs: lease.renewAtMs,
            rebindAtMs: lease.rebindAtMs,
            expiresAtMs: lease.expiresAtMs,
          }).toEqual(step.lease)
        }
        for (const f of out.frames) {
          // Backwards: the UDP checksum over the pseudo-header holds (RFC 768), and a flipped bit breaks it.
          expect(udpChecksumOk(f)).toBe(true)
          expect(udpChecksumOk(flip(f, f.length - 1))).toBe(false)
        }
      }
    })
  }

  it('a reply with a flipped bit in its xid is ignored', () => {
    const run = frames.dhcp.runs[0]!
    const random = hex(run.random)
    const client = new DhcpClient({ mac: hex(run.mac), random: (n) => random.slice(0, n) })
    client.start(0)
    const offer = hex(run.steps[1]!.input!)
    expect(client.receive(flip(offer, 14 + 20 + 8 + 4), 100).frames).toEqual([])
    expect(client.stats().ignored).toBe(1)
    expect(client.receive(offer, 200).frames).toHaveLength(1)
  })
})

function udpChecksumOk(frame: Uint8Array): boolean {
  const ip = 14
  const udp = ip + 20
  const length = (frame[udp + 4]! << 8) | frame[udp + 5]!
  let sum = 17 + length
  for (let i = ip + 12; i < ip + 20; i += 2) sum += (frame[i]! << 8) | frame[i + 1]!
  for (let i = udp; i < udp + length; i += 2) sum += (frame[i]! << 8) | (frame[i + 1] ?? 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return sum === 0xffff
}

// ---------------------------------------------------------------- mapping.json

describe('mapping.json (§17.5, §17.6.3)', () => {
  const v = vectors<{
    ipv4Multicast: { group: string; mac: string }[]
    ipv6Multicast: { group: string; mac: string }[]
    solicitedNode: { address: string; group: string; mac: string }[]
    linkLocal: {
      mac: string
      eui64: string
      linkLocal: string
      slaacPrefix: string
      slaac: string
    }[]
    nextHops: {
      addresses: string[]
      gateways: string[]
      results: { destination: string; dst?: string; resolve?: string; drop?: 'noRoute' }[]
    }[]
  }>('mapping.json')

  it('group MACs and solicited-node groups', () => {
    for (const g of v.ipv4Multicast) expect(toHex(ipv4MulticastMac(parseIp(g.group)))).toBe(g.mac)
    for (const g of v.ipv6Multicast) expect(toHex(ipv6MulticastMac(parseIp(g.group)))).toBe(g.mac)
    for (const s of v.solicitedNode) {
      const group = solicitedNode(parseIp(s.address))
      expect(formatIp(group)).toBe(s.group)
      expect(toHex(ipv6MulticastMac(group))).toBe(s.mac)
    }
  })

  it('EUI-64 and link-local addresses; the SLAAC address a router advertisement gives', () => {
    for (const l of v.linkLocal) {
      const mac = hex(l.mac)
      expect(toHex(eui64(mac))).toBe(l.eui64)
      expect(formatIp(linkLocalOf(mac))).toBe(l.linkLocal)
      // An RA with the prefix, A and L set, from a router: the port takes the address after detection.
      const l2 = new TunL2({ mac, random: (n) => new Uint8Array(n) })
      l2.start(0)
      l2.tick(1000)
      l2.takeEvents()
      const prefix = parseIp(l.slaacPrefix.split('/')[0]!)
      const ra = new Uint8Array(16 + 32)
      ra.set([134, 0, 0, 0, 64, 0, 0x07, 0x08])
      ra.set([3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0, 0, 0x0e, 0x10], 16)
      ra.set(prefix, 32)
      const router = new Uint8Array([0x02, 0, 0, 0, 0, 1])
      const allNodes = new Uint8Array([0x33, 0x33, 0, 0, 0, 1])
      l2.toHost(
        [icmp6(allNodes, router, parseIp('fe80::1'), parseIp('ff02::1'), ra)],
        1500,
        () => {},
      )
      l2.tick(2500)
      expect(l2.takeEvents()).toContainEqual({
        type: 'address-added',
        address: `${l.slaac}/64`,
        source: 'slaac',
      })
    }
  })

  it('each destination gets the MAC, the next hop or the drop of §17.5', () => {
    let count = 0
    for (const port of v.nextHops) {
      for (const r of port.results) {
        const l2 = new TunL2({
          mac: new Uint8Array([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]),
          addresses: port.addresses,
          gateways: port.gateways,
          random: (n) => new Uint8Array(n),
        })
        l2.start(0)
        l2.tick(1000)
        l2.takeFrames()
        const d = parseIp(r.destination)
        const packet =
          d.length === 4
            ? ipv4Packet('10.99.0.7', r.destination)
            : ipv6Packet(parseIp('fd00:99::7'), d)
        const out = l2.fromHost(batchOf([packet]), 2000)
        const sent = l2.takeFrames()
        if (r.dst !== undefined) {
          expect(
            out.map((f) => toHex(f.subarray(0, 6))),
            r.destination,
          ).toEqual([r.dst])
        } else if (r.resolve !== undefined) {
          expect(out, r.destination).toEqual([])
          expect(sent).toHaveLength(1)
          const f = sent[0]!
          // The ARP request's tpa, or the NS's target.
          const asked = f[12] === 0x08 ? f.subarray(38, 42) : f.subarray(62, 78)
          expect(formatIp(asked), r.destination).toBe(r.resolve)
        } else {
          expect(out, r.destination).toEqual([])
          expect(sent).toEqual([])
          expect(l2.stats().noRoute).toBe(1)
        }
        count++
      }
    }
    expect(count).toBeGreaterThan(20)
  })
})
