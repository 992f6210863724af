import { describe, expect, it } from 'vitest'
import { linkLocalOf, TunL2, tunMac } from '../src/index.ts'
import {
  arp,
  batchOf,
  ethernet,
  hex,
  icmp6,
  ip4,
  ipv4Packet,
  ipv6Packet,
  MAC,
  make,
  PEER_MAC,
  ROUTER_MAC,
  random,
  started,
  v6,
} from './helpers.ts'

const BCAST = new Uint8Array(6).fill(0xff)
const ZERO_MAC = new Uint8Array(6)

function arpOp(f: Uint8Array) {
  return {
    op: f[21],
    sender: [...f.subarray(28, 32)].join('.'),
    target: [...f.subarray(38, 42)].join('.'),
  }
}

describe('tunMac', () => {
  it('is stable, locally administered and unicast, and differs per VLAN and per node', () => {
    const peer = new Uint8Array([0, 0x24, 8, 1, 0x12, 0x20, ...new Uint8Array(32).fill(7)])
    const a = tunMac(peer, new Uint8Array(32).fill(1))
    expect(hex(tunMac(peer, new Uint8Array(32).fill(1)))).toBe(hex(a))
    expect(a[0]! & 0x03).toBe(0x02)
    expect(hex(tunMac(peer, new Uint8Array(32).fill(2)))).not.toBe(hex(a))
    expect(
      hex(
        tunMac(
          peer.map((b, i) => (i === 10 ? b ^ 1 : b)),
          new Uint8Array(32).fill(1),
        ),
      ),
    ).not.toBe(hex(a))
    expect(() => tunMac(peer, new Uint8Array(16))).toThrow(/32 bytes/)
  })
})

describe('IPv4: ARP', () => {
  it('resolves an on-link neighbour with ARP, holding the packets meanwhile, then sends direct', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'] })
    const dad = started(l2)
    // One ARP probe (sender 0.0.0.0) at start, then an announcement.
    expect(dad.filter((f) => f[12] === 0x08 && f[13] === 0x06).map(arpOp)).toEqual([
      { op: 1, sender: '0.0.0.0', target: '10.0.0.1' },
      { op: 1, sender: '10.0.0.1', target: '10.0.0.1' },
    ])
    const out = l2.fromHost(
      batchOf([ipv4Packet('10.0.0.1', '10.0.0.2'), ipv4Packet('10.0.0.1', '10.0.0.2')]),
      2000,
    )
    expect(out).toEqual([])
    const requests = l2.takeFrames()
    expect(requests).toHaveLength(1)
    expect(hex(requests[0]!.subarray(0, 6))).toBe(hex(BCAST))
    expect(arpOp(requests[0]!)).toEqual({ op: 1, sender: '10.0.0.1', target: '10.0.0.2' })
    expect(l2.stats().queuedPackets).toBe(2)
    l2.toHost([arp(2, MAC, PEER_MAC, '10.0.0.2', MAC, '10.0.0.1')], 2100, () => {
      throw new Error('ARP is not for the host')
    })
    const released = l2.takeFrames()
    expect(released).toHaveLength(2)
    for (const f of released) {
      expect(hex(f.subarray(0, 6))).toBe(hex(PEER_MAC))
      expect(hex(f.subarray(6, 12))).toBe(hex(MAC))
      expect(hex(f.subarray(12, 14))).toBe('0800')
      expect([...f.subarray(30, 34)].join('.')).toBe('10.0.0.2')
    }
    const direct = l2.fromHost(batchOf([ipv4Packet('10.0.0.1', '10.0.0.2')]), 2200)
    expect(direct).toHaveLength(1)
    expect(hex(direct[0]!.subarray(0, 14))).toBe(`${hex(PEER_MAC)}${hex(MAC)}0800`)
    expect(l2.stats().queuedPackets).toBe(0)
  })

  it('answers ARP for its address only once detection has passed', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'] })
    l2.start(0)
    l2.takeFrames()
    const ask = arp(1, BCAST, PEER_MAC, '10.0.0.2', ZERO_MAC, '10.0.0.1')
    l2.toHost([ask], 10, () => {})
    expect(l2.takeFrames()).toEqual([])
    l2.tick(1000)
    l2.takeFrames()
    l2.toHost([ask], 1010, () => {})
    const [reply] = l2.takeFrames()
    expect(reply).toBeDefined()
    expect(arpOp(reply!)).toEqual({ op: 2, sender: '10.0.0.1', target: '10.0.0.2' })
    expect(hex(reply!.subarray(0, 6))).toBe(hex(PEER_MAC))
    expect(hex(reply!.subarray(22, 28))).toBe(hex(MAC))
  })

  it('gives up an address another MAC answers for during detection', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'] })
    l2.start(0)
    l2.toHost([arp(2, MAC, PEER_MAC, '10.0.0.1', MAC, '0.0.0.0')], 300, () => {})
    expect(l2.takeEvents()).toEqual([
      { type: 'duplicate', address: '10.0.0.1/24', source: 'static', mac: '02:aa:bb:cc:dd:ee' },
      { type: 'address-removed', address: '10.0.0.1/24', source: 'static', reason: 'duplicate' },
    ])
    l2.tick(1000)
    expect(l2.addresses().map((a) => a.address)).not.toContain('10.0.0.1/24')
  })

  it('maps broadcast, directed broadcast and multicast; sends off-link packets to the gateway', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'], gateways: ['10.0.0.254'] })
    started(l2)
    const out = l2.fromHost(
      batchOf([
        ipv4Packet('10.0.0.1', '255.255.255.255'),
        ipv4Packet('10.0.0.1', '10.0.0.255'),
        ipv4Packet('10.0.0.1', '224.0.0.251'),
        ipv4Packet('10.0.0.1', '239.255.255.250'),
      ]),
      2000,
    )
    expect(out.map((f) => hex(f.subarray(0, 6)))).toEqual([
      'ffffffffffff',
      'ffffffffffff',
      '01005e0000fb',
      '01005e7ffffa',
    ])
    expect(l2.fromHost(batchOf([ipv4Packet('10.0.0.1', '192.0.2.9')]), 2000)).toEqual([])
    const [request] = l2.takeFrames()
    expect(arpOp(request!)).toEqual({ op: 1, sender: '10.0.0.1', target: '10.0.0.254' })
    l2.toHost([arp(2, MAC, ROUTER_MAC, '10.0.0.254', MAC, '10.0.0.1')], 2001, () => {})
    const [released] = l2.takeFrames()
    expect(hex(released!.subarray(0, 6))).toBe(hex(ROUTER_MAC))
    expect([...released!.subarray(30, 34)].join('.')).toBe('192.0.2.9')
  })

  it('takes an address given later (an owner assigned it, a person added it) through detection', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'] })
    started(l2)
    l2.addAddress('10.0.0.7/24', 2000)
    l2.addAddress('10.0.0.1/24', 2000) // held already: nothing happens
    const probes = l2.takeFrames().filter((f) => f[12] === 0x08 && f[13] === 0x06)
    expect(probes.map(arpOp)).toEqual([{ op: 1, sender: '0.0.0.0', target: '10.0.0.7' }])
    const ask = arp(1, BCAST, PEER_MAC, '10.0.0.2', ZERO_MAC, '10.0.0.7')
    l2.toHost([ask], 2500, () => {})
    expect(l2.takeFrames()).toEqual([]) // tentative: not answered
    l2.tick(3000)
    expect(l2.takeEvents()).toEqual([
      { type: 'address-added', address: '10.0.0.7/24', source: 'static' },
    ])
    l2.toHost([ask], 3100, () => {})
    expect(l2.takeFrames().map(arpOp)).toEqual([
      { op: 1, sender: '10.0.0.7', target: '10.0.0.7' }, // the announcement at detection's end
      { op: 2, sender: '10.0.0.7', target: '10.0.0.2' },
    ])
    expect(() => l2.addAddress('not an address', 3200)).toThrow(/not an IP address/)
  })

  it('drops what has no route, and counts it', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'] })
    started(l2)
    expect(l2.fromHost(batchOf([ipv4Packet('10.0.0.1', '192.0.2.9')]), 2000)).toEqual([])
    expect(l2.stats().noRoute).toBe(1)
    expect(l2.takeFrames()).toEqual([])
  })

  it('bounds the queue and drops what waited when the resolution fails', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'] })
    started(l2)
    const many = Array.from({ length: 40 }, () => ipv4Packet('10.0.0.1', '10.0.0.9'))
    l2.fromHost(batchOf(many), 2000)
    expect(l2.stats().queuedPackets).toBe(32)
    expect(l2.stats().queueDrops).toBe(8)
    for (let t = 3000; t <= 6000; t += 1000) l2.tick(t)
    expect(l2.takeFrames().filter((f) => f[21] === 1)).toHaveLength(3) // three requests in all
    expect(l2.stats().unresolvedDrops).toBe(32)
    expect(l2.stats().queuedPackets).toBe(0)
    // Failed: packets are dropped at once for a while, then it tries again.
    l2.fromHost(batchOf([ipv4Packet('10.0.0.1', '10.0.0.9')]), 6500)
    expect(l2.stats().unresolvedDrops).toBe(33)
    l2.tick(9100)
    l2.fromHost(batchOf([ipv4Packet('10.0.0.1', '10.0.0.9')]), 9200)
    expect(l2.stats().queuedPackets).toBe(1)
  })

  it('sends no ARP request from a tentative address: a neighbour still checking its own keeps it', () => {
    // Two ports that start together; A has a packet for B at once.
    const a = make({ addresses: ['10.0.0.1/24'] })
    const b = make({ mac: PEER_MAC, addresses: ['10.0.0.2/24'] })
    a.start(0)
    b.start(0)
    const isArp = (f: Uint8Array) => f[12] === 0x08 && f[13] === 0x06
    expect(a.fromHost(batchOf([ipv4Packet('10.0.0.1', '10.0.0.2')]), 10)).toEqual([])
    // Only A's probe for its own address (spa 0.0.0.0, tpa 10.0.0.1): no request for 10.0.0.2,
    // which from 0.0.0.0 would be a probe for B's address.
    const early = a.takeFrames().filter(isArp)
    expect(early.map(arpOp)).toEqual([{ op: 1, sender: '0.0.0.0', target: '10.0.0.1' }])
    b.toHost(early, 11, () => {})
    // Detection passes on both; A's next try goes out from its address, B answers it.
    a.tick(1010)
    b.tick(1010)
    b.takeFrames()
    const request = a
      .takeFrames()
      .filter(isArp)
      .filter((f) => arpOp(f).target === '10.0.0.2')
    expect(request.map(arpOp)).toEqual([{ op: 1, sender: '10.0.0.1', target: '10.0.0.2' }])
    b.toHost(request, 1001, () => {})
    expect(b.stats().conflicts).toBe(0)
    expect(b.addresses().map((x) => x.address)).toContain('10.0.0.2/24')
    const [reply] = b.takeFrames().filter(isArp)
    expect(arpOp(reply!)).toEqual({ op: 2, sender: '10.0.0.2', target: '10.0.0.1' })
    a.toHost([reply!], 1002, () => {})
    const released = a.takeFrames().filter((f) => !isArp(f))
    expect(released.map((f) => hex(f.subarray(0, 6)))).toEqual([hex(PEER_MAC)])
  })

  it('keeps using a stale entry while a unicast probe checks it', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'] })
    started(l2)
    l2.toHost([arp(1, BCAST, PEER_MAC, '10.0.0.2', ZERO_MAC, '10.0.0.1')], 1500, () => {})
    l2.takeFrames()
    l2.tick(40_000) // reachable -> stale
    const out = l2.fromHost(batchOf([ipv4Packet('10.0.0.1', '10.0.0.2')]), 40_001)
    expect(out).toHaveLength(1)
    const [probe] = l2.takeFrames().filter((f) => f[12] === 0x08 && f[13] === 0x06)
    expect(hex(probe!.subarray(0, 6))).toBe(hex(PEER_MAC))
    expect(arpOp(probe!).op).toBe(1)
  })
})

describe('reachableMac and routesVersion (what the fast path may keep)', () => {
  it('answers only for a REACHABLE next hop, and the version moves with every change an answer depends on', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'], gateways: ['10.0.0.254'] })
    started(l2)
    let version = l2.routesVersion
    const moved = () => {
      const now = l2.routesVersion
      const changed = now !== version
      version = now
      return changed
    }
    const peer = ip4('10.0.0.2')
    const far = ip4('192.0.2.9')
    // Nothing resolved yet; asking changes nothing (no entry made, no solicitation).
    expect(l2.reachableMac(peer)).toBeUndefined()
    expect(l2.reachableMac(far)).toBeUndefined()
    expect(l2.takeFrames()).toEqual([])
    expect(moved()).toBe(false)
    // Groups and broadcasts: never.
    for (const d of ['255.255.255.255', '10.0.0.255', '224.0.0.251'])
      expect(l2.reachableMac(ip4(d))).toBeUndefined()
    expect(l2.reachableMac(v6(0xff02, 0, 0, 0, 0, 0, 0, 1))).toBeUndefined()
    // The peer and the gateway answer ARP: on-link goes to the peer, off-link to the gateway.
    l2.toHost([arp(1, BCAST, PEER_MAC, '10.0.0.2', ZERO_MAC, '10.0.0.1')], 1500, () => {})
    expect(moved()).toBe(true)
    expect(hex(l2.reachableMac(peer)!)).toBe(hex(PEER_MAC))
    l2.toHost([arp(1, BCAST, ROUTER_MAC, '10.0.0.254', ZERO_MAC, '10.0.0.1')], 1500, () => {})
    expect(moved()).toBe(true)
    expect(hex(l2.reachableMac(far)!)).toBe(hex(ROUTER_MAC))
    // The same MAC again while REACHABLE: no change.
    l2.toHost([arp(1, BCAST, PEER_MAC, '10.0.0.2', ZERO_MAC, '10.0.0.1')], 1600, () => {})
    expect(moved()).toBe(false)
    // Another MAC for the peer: a change, and the new answer.
    l2.toHost([arp(1, BCAST, ROUTER_MAC, '10.0.0.2', ZERO_MAC, '10.0.0.1')], 1700, () => {})
    expect(moved()).toBe(true)
    expect(hex(l2.reachableMac(peer)!)).toBe(hex(ROUTER_MAC))
    l2.takeFrames()
    // REACHABLE runs out: stale, no answer, a change.
    l2.tick(40_000)
    expect(moved()).toBe(true)
    expect(l2.reachableMac(peer)).toBeUndefined()
    expect(l2.reachableMac(far)).toBeUndefined()
    // A packet to it starts a probe (a change); its answer makes it REACHABLE again.
    l2.fromHost(batchOf([ipv4Packet('10.0.0.1', '10.0.0.2')]), 40_001)
    expect(moved()).toBe(true)
    expect(l2.reachableMac(peer)).toBeUndefined()
    l2.toHost([arp(2, MAC, ROUTER_MAC, '10.0.0.2', MAC, '10.0.0.1')], 40_002, () => {})
    expect(moved()).toBe(true)
    expect(hex(l2.reachableMac(peer)!)).toBe(hex(ROUTER_MAC))
    // The address that makes 10.0.0.0/24 on-link goes: a change; the peer is off-link now.
    l2.addAddress('10.9.0.1/24', 40_003)
    expect(moved()).toBe(true)
    l2.stop(40_004)
    expect(moved()).toBe(true)
    expect(l2.reachableMac(peer)).toBeUndefined()
  })
})

describe('IPv6: neighbour discovery', () => {
  const ll = linkLocalOf(MAC)
  const peerLl = v6(0xfe80, 0, 0, 0, 0x00aa, 0xbbff, 0xfecc, 0xddee)

  it('owns fe80::EUI-64, checks it with DAD, then answers solicitations with S and O', () => {
    const l2 = make()
    l2.start(0)
    const [dad] = l2.takeFrames()
    expect(hex(dad!.subarray(0, 6))).toBe(`3333ff${hex(MAC.subarray(3))}`)
    expect(hex(dad!.subarray(22, 38))).toBe('0'.repeat(32)) // from ::
    expect(dad![54]).toBe(135)
    expect(hex(ll)).toBe(
      `fe80000000000000${hex(new Uint8Array([MAC[0]! ^ 2, MAC[1]!, MAC[2]!, 0xff, 0xfe, ...MAC.subarray(3)]))}`,
    )
    l2.tick(1000)
    expect(l2.takeEvents()).toEqual([
      { type: 'address-added', address: `${fe80Text(ll)}/64`, source: 'link-local' },
    ])
    const sent = l2.takeFrames()
    expect(sent.map((f) => f[54])).toEqual([136, 133]) // unsolicited NA, router solicitation
    const ns = new Uint8Array(32)
    ns[0] = 135
    ns.set(ll, 8)
    ns.set([1, 1, ...PEER_MAC], 24)
    l2.toHost([icmp6(BCAST, PEER_MAC, peerLl, ll, ns)], 1100, () => {})
    const [na] = l2.takeFrames()
    expect(na![54]).toBe(136)
    expect(na![58]).toBe(0x60) // solicited, override
    expect(hex(na!.subarray(0, 6))).toBe(hex(PEER_MAC))
    expect(hex(na!.subarray(38, 54))).toBe(hex(peerLl))
    expect(hex(na!.subarray(78, 86))).toBe(`0201${hex(MAC)}`)
    // The checksum over the pseudo-header sums to 0xffff.
    expect(icmpChecksumOk(na!)).toBe(true)
  })

  it('sends no resolution NS from a tentative address: the first waits for detection', () => {
    const l2 = make({ addresses: ['fd00::1/64'] })
    l2.start(0)
    const dst = v6(0xfd00, 0, 0, 0, 0, 0, 0, 2)
    expect(l2.fromHost(batchOf([ipv6Packet(v6(0xfd00, 0, 0, 0, 0, 0, 0, 1), dst)]), 10)).toEqual([])
    const early = l2.takeFrames().filter((f) => f[54] === 135)
    // Only the two DAD probes (from ::), none for fd00::2.
    expect(early.map((f) => hex(f.subarray(22, 38)))).toEqual(['0'.repeat(32), '0'.repeat(32)])
    l2.tick(1010)
    const ns = l2.takeFrames().filter((f) => f[54] === 135 && hex(f.subarray(62, 78)) === hex(dst))
    expect(ns).toHaveLength(1)
    expect(hex(ns[0]!.subarray(22, 38))).toBe(hex(v6(0xfd00, 0, 0, 0, 0, 0, 0, 1)))
  })

  it('takes no link-layer address that is a group, all zeros or its own into the cache', () => {
    const l2 = make({ addresses: ['fd00::1/64'] })
    started(l2)
    const target = v6(0xfd00, 0, 0, 0, 0, 0, 0, 7)
    l2.fromHost(batchOf([ipv6Packet(v6(0xfd00, 0, 0, 0, 0, 0, 0, 1), target)]), 2000)
    l2.takeFrames()
    for (const bad of [BCAST, ZERO_MAC, MAC]) {
      const na = new Uint8Array(32)
      na[0] = 136
      na[4] = 0x60
      na.set(target, 8)
      na.set([2, 1, ...bad], 24)
      l2.toHost([icmp6(MAC, PEER_MAC, target, v6(0xfd00, 0, 0, 0, 0, 0, 0, 1), na)], 2100, () => {})
    }
    expect(l2.neighbours()).toEqual([{ address: 'fd00::7', state: 'incomplete' }])
    expect(l2.takeFrames()).toEqual([]) // nothing released to a bogus MAC
    expect(l2.stats().vlanMalformed).toBe(3)
  })

  it('treats a DAD probe for its tentative address as a duplicate', () => {
    const l2 = make({ addresses: ['fd00::1/64'], linkLocal: false })
    l2.start(0)
    const ns = new Uint8Array(24)
    ns[0] = 135
    ns.set(v6(0xfd00, 0, 0, 0, 0, 0, 0, 1), 8)
    l2.toHost(
      [icmp6(BCAST, PEER_MAC, new Uint8Array(16), v6(0xff02, 0, 0, 0, 0, 1, 0xff00, 1), ns)],
      10,
      () => {},
    )
    expect(l2.takeEvents().map((e) => e.type)).toEqual(['duplicate', 'address-removed'])
  })

  it('takes a router advertisement: SLAAC address after DAD, the router as gateway, on-link prefix', () => {
    const l2 = make()
    started(l2)
    const ra = new Uint8Array(16 + 8 + 32)
    ra[0] = 134
    ra[6] = 0x07 // router lifetime 1800 s
    ra[7] = 0x08
    ra.set([1, 1, ...ROUTER_MAC], 16)
    const pi = 24
    ra.set([3, 4, 64, 0xc0], pi)
    ra.set([0, 0, 0x1c, 0x20], pi + 4) // valid 7200
    ra.set([0, 0, 0x0e, 0x10], pi + 8) // preferred 3600
    ra.set(v6(0x2001, 0xdb8, 1, 2), pi + 16)
    const routerLl = v6(0xfe80, 0, 0, 0, 0, 0, 0, 1)
    l2.toHost(
      [icmp6(BCAST, ROUTER_MAC, routerLl, v6(0xff02, 0, 0, 0, 0, 0, 0, 1), ra)],
      2000,
      () => {},
    )
    expect(l2.gateways()).toEqual([{ address: 'fe80::1', source: 'router-advertisement' }])
    l2.tick(3000)
    const added = l2.takeEvents()
    expect(added).toEqual([
      { type: 'address-added', address: `2001:db8:1:2:${slaacTail()}/64`, source: 'slaac' },
    ])
    l2.takeFrames()
    // Off-link goes to the router's MAC, known from the advertisement's option.
    const out = l2.fromHost(
      batchOf([
        ipv6Packet(v6(0x2001, 0xdb8, 1, 2, 0, 0, 0, 5), v6(0x2001, 0xdb8, 9, 9, 0, 0, 0, 1)),
      ]),
      3100,
    )
    expect(out).toHaveLength(1)
    expect(hex(out[0]!.subarray(0, 6))).toBe(hex(ROUTER_MAC))
    // The lease runs out with the valid lifetime.
    l2.tick(2000 + 7_200_000)
    expect(l2.takeEvents().map((e) => e.type)).toEqual(['address-removed'])
  })

  it('maps IPv6 multicast, and listens on its solicited-node groups and the host groups', () => {
    const l2 = make({ addresses: ['fd00::1234:5678/64'] })
    started(l2)
    const out = l2.fromHost(
      batchOf([ipv6Packet(linkLocalOf(MAC), v6(0xff02, 0, 0, 0, 0, 0, 0, 0xfb))]),
      2000,
    )
    expect(hex(out[0]!.subarray(0, 6))).toBe('3333000000fb')
    const macs = l2.multicastMacs([ip4('224.0.0.251'), v6(0xff02, 0, 0, 0, 0, 0, 0, 0xfb)]).map(hex)
    expect(macs).toEqual(
      expect.arrayContaining([
        '333300000001',
        '01005e000001',
        '3333ff345678',
        `3333ff${hex(MAC.subarray(3))}`,
        '01005e0000fb',
        '3333000000fb',
      ]),
    )
  })
})

describe('to the host', () => {
  it('writes IP packets for its MAC or a group, drops frames for other MACs and other EtherTypes', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'] })
    started(l2)
    const packet = ipv4Packet('10.0.0.2', '10.0.0.1')
    const written: string[] = []
    l2.toHost(
      [
        ethernet(MAC, PEER_MAC, 0x0800, packet),
        ethernet(PEER_MAC, ROUTER_MAC, 0x0800, packet),
        ethernet(BCAST, PEER_MAC, 0x0800, packet),
        ethernet(MAC, PEER_MAC, 0x88b5, packet),
        ethernet(MAC, PEER_MAC, 0x8100, packet),
        ethernet(MAC, PEER_MAC, 0x0800, packet.subarray(0, 10)),
      ],
      2000,
      (packets) => written.push(...packets.map(hex)),
    )
    expect(written).toEqual([hex(packet), hex(packet)])
    expect(l2.stats()).toMatchObject({ notForUs: 1, unknownType: 2, vlanMalformed: 1 })
  })

  it('moves the virtio-net header across the Ethernet header, shifting its offsets, and puts the frame back', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'], vnetHeader: true })
    started(l2)
    const ask = arp(1, BCAST, PEER_MAC, '10.0.0.2', ZERO_MAC, '10.0.0.1')
    l2.toHost([new Uint8Array([...new Uint8Array(10), ...ask])], 1500, () => {})
    l2.takeFrames()
    // A GSO TCP packet from the host: csum_start 20 and hdr_len 40 from the IP header.
    const vnet = new Uint8Array([1, 1, 40, 0, 0xa8, 0x05, 20, 0, 16, 0])
    const out = l2.fromHost(
      batchOf([ipv4Packet('10.0.0.1', '10.0.0.2', 3000)], 14, () => vnet),
      2000,
    )
    expect(out).toHaveLength(1)
    const frame = out[0]!
    expect(hex(frame.subarray(0, 10))).toBe(
      hex(new Uint8Array([1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0])),
    )
    expect(hex(frame.subarray(10, 24))).toBe(`${hex(PEER_MAC)}${hex(MAC)}0800`)
    // And back: the frame as the switch hands it over.
    const incoming = new Uint8Array(frame.length)
    incoming.set(frame)
    incoming.set(MAC, 10)
    incoming.set(PEER_MAC, 16)
    const before = hex(incoming)
    let packet = ''
    l2.toHost([incoming], 2100, (packets) => {
      packet = hex(packets[0]!)
    })
    expect(packet.slice(0, 20)).toBe(hex(vnet))
    expect(packet.slice(20, 22)).toBe('45')
    expect(hex(incoming)).toBe(before)
  })

  it('adds and strips the 4-byte utun address family', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'], packetInfo: 'utun' })
    started(l2)
    const af = (n: number) => new Uint8Array([0, 0, 0, n])
    const bad = l2.fromHost(
      batchOf([ipv4Packet('10.0.0.1', '255.255.255.255')], 14, () => af(30)),
      2000,
    )
    expect(bad).toEqual([])
    const out = l2.fromHost(
      batchOf([ipv4Packet('10.0.0.1', '255.255.255.255')], 14, () => af(2)),
      2000,
    )
    expect(hex(out[0]!.subarray(12, 15))).toBe('080045')
    let packet = ''
    l2.toHost(
      [ethernet(MAC, PEER_MAC, 0x86dd, ipv6Packet(v6(0xfd00), v6(0xfd00, 0, 0, 0, 0, 0, 0, 1)))],
      2000,
      (p) => {
        packet = hex(p[0]!)
      },
    )
    expect(packet.slice(0, 10)).toBe('0000001e60')
  })

  it('never throws on what the VLAN sends', () => {
    const l2 = make({ addresses: ['10.0.0.1/24', 'fd00::1/64'], dhcp: true })
    started(l2)
    const seeds = [
      arp(1, BCAST, PEER_MAC, '10.0.0.2', ZERO_MAC, '10.0.0.1'),
      icmp6(
        BCAST,
        PEER_MAC,
        v6(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        v6(0xff02, 0, 0, 0, 0, 0, 0, 1),
        new Uint8Array([134, 0, 0, 0, 64, 0, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 64, 0xc0]),
      ),
      ethernet(MAC, PEER_MAC, 0x0800, ipv4Packet('10.0.0.2', '10.0.0.1')),
    ]
    for (let i = 0; i < 3000; i++) {
      const base = seeds[i % seeds.length]!
      const f = base.slice(0, 1 + (random(2)[0]! * base.length) / 256 + 20)
      const flips = random(4)
      for (let k = 0; k < 4; k++) {
        const at = (flips[k]! * 7) % f.length
        f[at] = f[at]! ^ random(1)[0]!
      }
      l2.toHost([f.subarray(0, Math.min(f.length, base.length))], 3000 + i, () => {})
      l2.tick(3000 + i)
    }
    l2.takeFrames()
    expect(l2.stats().vlanFrames).toBe(3000)
  })
})

describe('fixes', () => {
  it('with a virtio-net header, leads every frame it makes with a zero header, as it does released ones', () => {
    const l2 = make({ addresses: ['10.0.0.1/24'], vnetHeader: true })
    const dad = started(l2)
    // DAD NS and ARP probe, then the NA, the ARP announcement and an RS: each a zero header, then the frame.
    expect(dad).toHaveLength(5)
    for (const f of dad) expect(hex(f.subarray(0, 10))).toBe('00'.repeat(10))
    expect(dad.map((f) => hex(f.subarray(22, 24)))).toContain('0806')
    // An ARP request from the host's packet, and the packet released by the reply: both led by a header.
    const vnet = new Uint8Array(10)
    l2.fromHost(
      batchOf([ipv4Packet('10.0.0.1', '10.0.0.2')], 14, () => vnet),
      2000,
    )
    const [request] = l2.takeFrames()
    expect(request!.length).toBe(10 + 42)
    expect(hex(request!.subarray(10, 16))).toBe(hex(BCAST))
    const reply = arp(2, MAC, PEER_MAC, '10.0.0.2', MAC, '10.0.0.1')
    l2.toHost([new Uint8Array([...new Uint8Array(10), ...reply])], 2100, () => {})
    const [released] = l2.takeFrames()
    expect(hex(released!.subarray(0, 10))).toBe('00'.repeat(10))
    expect(hex(released!.subarray(10, 24))).toBe(`${hex(PEER_MAC)}${hex(MAC)}0800`)
  })

  it('holds at most 16 default routers, whatever the VLAN advertises', () => {
    const l2 = make({ slaac: false })
    started(l2)
    for (let i = 1; i <= 40; i++) {
      const ra = new Uint8Array(16)
      ra[0] = 134
      ra[6] = 0x07 // router lifetime 1800 s
      ra[7] = 0x08
      const mac = new Uint8Array([0x02, 0, 0, 0, 0, i])
      l2.toHost(
        [icmp6(BCAST, mac, v6(0xfe80, 0, 0, 0, 0, 0, 0, i), v6(0xff02, 0, 0, 0, 0, 0, 0, 1), ra)],
        2000,
        () => {},
      )
    }
    expect(l2.gateways()).toEqual([{ address: 'fe80::1', source: 'router-advertisement' }])
    // The first 16 are held: the 17th takes over only when they are all gone.
    const ra = new Uint8Array(16)
    ra[0] = 134
    for (let i = 1; i <= 16; i++)
      l2.toHost(
        [
          icmp6(
            BCAST,
            new Uint8Array([0x02, 0, 0, 0, 0, i]),
            v6(0xfe80, 0, 0, 0, 0, 0, 0, i),
            v6(0xff02, 0, 0, 0, 0, 0, 0, 1),
            ra,
          ),
        ],
        2001,
        () => {},
      )
    expect(l2.gateways()).toEqual([])
  })
})

function fe80Text(ll: Uint8Array): string {
  const words = []
  for (let i = 8; i < 16; i += 2) words.push(((ll[i]! << 8) | ll[i + 1]!).toString(16))
  return `fe80::${words.join(':')}`
}

function slaacTail(): string {
  return fe80Text(linkLocalOf(MAC)).slice('fe80::'.length)
}

function icmpChecksumOk(frame: Uint8Array): boolean {
  const ip = 14
  const length = (frame[ip + 4]! << 8) | frame[ip + 5]!
  let sum = length + 58
  for (let i = ip + 8; i < ip + 40; i += 2) sum += (frame[i]! << 8) | frame[i + 1]!
  for (let i = ip + 40; i < ip + 40 + length; i += 2) sum += (frame[i]! << 8) | (frame[i + 1] ?? 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return sum === 0xffff
}

export { TunL2 }
