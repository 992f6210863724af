import { describe, expect, it } from 'vitest'
import {
  doorSourceKey,
  formatIpv6,
  InviteError,
  Ipv4Pool,
  JoinDoor,
  ulaAddress,
  ulaPrefix,
} from '../src/index.ts'
import { ed25519Peer, toHex } from './helpers.ts'

const vlanId = new Uint8Array(32).fill(1)

describe('ULA', () => {
  it('puts every member in the VLAN /64 with a distinct, stable interface ID', () => {
    const prefix = ulaPrefix(vlanId)
    expect(prefix[0]).toBe(0xfd)
    expect(prefix.subarray(6)).toEqual(new Uint8Array(2))
    const seen = new Set<string>()
    for (let i = 0; i < 200; i++) {
      const address = ulaAddress(vlanId, ed25519Peer(i))
      expect(address.subarray(0, 8)).toEqual(prefix)
      expect(toHex(address)).toBe(toHex(ulaAddress(vlanId, ed25519Peer(i))))
      seen.add(toHex(address))
    }
    expect(seen.size).toBe(200)
  })

  it('formats as RFC 5952 says', () => {
    const bytes = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'))
    expect(formatIpv6(bytes('20010db8000000000000000000000001'))).toBe('2001:db8::1')
    expect(formatIpv6(bytes('20010db8000000010000000000000001'))).toBe('2001:db8:0:1::1')
    expect(formatIpv6(bytes('20010db8000000010001000100010001'))).toBe('2001:db8:0:1:1:1:1:1')
    expect(formatIpv6(new Uint8Array(16))).toBe('::')
  })
})

describe('Ipv4Pool', () => {
  const peer = (i: number) => toHex(ed25519Peer(i))

  it('fills a /30 and then says it is full', () => {
    const pool = Ipv4Pool.parse('192.168.9.0/30')
    expect(pool.size).toBe(2)
    expect(pool.assign(peer(1))).toEqual({ address: '192.168.9.1', prefixLength: 30 })
    expect(pool.assign(peer(2)).address).toBe('192.168.9.2')
    expect(() => pool.assign(peer(3))).toThrow(expect.objectContaining({ code: 'pool-full' }))
    pool.release(peer(1))
    expect(pool.assign(peer(3)).address).toBe('192.168.9.1')
  })

  it('refuses a peer that is not PeerId hex', () => {
    expect(() => Ipv4Pool.parse('10.0.0.0/24').assign('bob')).toThrow(InviteError)
  })
})

describe('JoinDoor', () => {
  it('keys IPv4 by the address, IPv6 by its /64, a relay by its whole string (§15.8)', () => {
    expect(doorSourceKey('192.0.2.7')).toBe('192.0.2.7')
    expect(doorSourceKey('2001:db8:0:7::1')).toBe('2001:db8:0:7::/64')
    expect(doorSourceKey('2001:DB8:0:7:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:0:7::/64')
    expect(doorSourceKey('2001:0db8:0000:0007:0:0:0:2%eth0')).toBe('2001:db8:0:7::/64')
    expect(doorSourceKey('::1')).toBe('0:0:0:0::/64')
    expect(doorSourceKey('::ffff:192.0.2.7')).toBe('192.0.2.7')
    expect(doorSourceKey('::ffff:c000:207')).toBe('192.0.2.7')
    expect(doorSourceKey('via 12D3KooWRelay')).toBe('via 12D3KooWRelay')
    for (const odd of ['1:2:3', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', '1.2.3.256', ''])
      expect(doorSourceKey(odd)).toBe(odd)
  })

  it('gives one bucket to all the addresses of an IPv6 /64, and one to each IPv4 address', () => {
    const door = new JoinDoor({ sourceRate: 1, sourceBurst: 1 })
    expect(door.admit('2001:db8:0:7::1', 0)).toBe(true)
    expect(door.admit('2001:db8:0:7::2', 0)).toBe(false)
    expect(door.admit('2001:db8:0:7:1:2:3:4', 0)).toBe(false)
    expect(door.retryAfterSeconds('2001:db8:0:7::99', 0)).toBe(1)
    expect(door.admit('2001:db8:0:8::1', 0)).toBe(true)
    expect(door.admit('192.0.2.1', 0)).toBe(true)
    expect(door.admit('192.0.2.2', 0)).toBe(true)
    expect(door.admit('::ffff:192.0.2.2', 0)).toBe(false)
    expect(door.admit('via 12D3KooWRelay', 0)).toBe(true)
    expect(door.admit('via 12D3KooWRelay', 0)).toBe(false)
    expect(door.sources).toBe(5)
  })

  it('lets a burst of 5 through per source, then 2 per second', () => {
    const door = new JoinDoor()
    const results = Array.from({ length: 7 }, () => door.admit('192.0.2.1', 0))
    expect(results).toEqual([true, true, true, true, true, false, false])
    expect(door.admit('192.0.2.1', 499)).toBe(false)
    expect(door.admit('192.0.2.1', 500)).toBe(true)
    expect(door.admit('192.0.2.2', 500)).toBe(true)
    expect(door.counters).toMatchObject({ admitted: 7, rateLimitedSource: 3 })
  })

  it('holds all sources to the global budget', () => {
    const door = new JoinDoor({ globalRate: 50, globalBurst: 50 })
    let admitted = 0
    for (let i = 0; i < 100; i++) if (door.admit(`10.0.${i >> 8}.${i & 255}`, 0)) admitted++
    expect(admitted).toBe(50)
    expect(door.counters.rateLimitedGlobal).toBe(50)
    expect(door.admit('10.9.9.9', 20)).toBe(true) // 20 ms at 50/s earns one
  })

  it('forgets the least recently seen source past its bound, and ignores a clock stepping back', () => {
    const door = new JoinDoor({ maxSources: 2 })
    door.admit('a', 0)
    door.admit('b', 0)
    door.admit('a', 0)
    door.admit('c', 0) // evicts b
    expect(door.sources).toBe(2)
    for (let i = 0; i < 4; i++) door.admit('a', -1000)
    expect(door.admit('a', -1000)).toBe(false)
  })

  it('says how long to wait', () => {
    const door = new JoinDoor({ sourceRate: 0.1, sourceBurst: 1 })
    expect(door.admit('a', 0)).toBe(true)
    expect(door.admit('a', 0)).toBe(false)
    expect(door.retryAfterSeconds('a', 0)).toBe(10)
    expect(door.retryAfterSeconds('a', 9_500)).toBe(1)
    expect(door.retryAfterSeconds('b', 0)).toBe(1)
  })

  it('counts outcomes', () => {
    const door = new JoinDoor()
    door.record('accepted')
    door.record('not-opened')
    door.record('not-opened')
    expect(door.counters.accepted).toBe(1)
    expect(door.counters.refused).toEqual({ 'not-opened': 2 })
  })
})
