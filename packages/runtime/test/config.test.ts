import { nodeAes } from '@peertap/crypto'
import { aesPrimitives } from '@peertap/daemon'
import { opensslAes } from '@peertap/tap'
import { describe, expect, it } from 'vitest'
import { ConfigError, DEFAULT_PORT_MTU, loadConfig, parseConfig } from '../src/config.ts'

const good = {
  stateDir: '/var/lib/peertap',
  vlans: [{ name: 'lab', secret: 'ab'.repeat(32), port: { type: 'tap', device: 'pt0' } }],
}

const peerB = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'
const mlsVlan = { name: 'mesh', mls: { owner: 'self' }, port: { type: 'tap', device: 'pt1' } }

function fieldOf(input: unknown): string {
  try {
    parseConfig(input)
  } catch (error) {
    if (error instanceof ConfigError) return `${error.field}: ${error.message}`
    throw error
  }
  return 'accepted'
}

describe('config validation', () => {
  it('accepts a minimal config and fills defaults', () => {
    const config = parseConfig(good)
    expect(config.listen).toEqual(['/ip4/0.0.0.0/tcp/7400'])
    expect(config.vlans[0]!.port.mtu).toBe(1377)
    expect(config.vlans[0]!.port.mtu).toBe(DEFAULT_PORT_MTU)
  })

  it('accepts no config file at all: a state directory and the defaults, no VLAN (peertap up -s DIR)', async () => {
    const config = await loadConfig(undefined, '/tmp/peertap-state')
    expect(config.stateDir).toBe('/tmp/peertap-state')
    expect(config.vlans).toEqual([])
    expect(config.listen).toEqual(['/ip4/0.0.0.0/tcp/7400'])
  })

  it('accepts MLS VLANs: an owner with members, a member naming its owner', () => {
    const config = parseConfig({
      ...good,
      vlans: [
        { ...mlsVlan, mls: { owner: 'self', members: [peerB] } },
        { ...mlsVlan, name: 'other', mls: { owner: peerB, admins: [peerB] } },
        {
          ...mlsVlan,
          name: 'third',
          mls: {
            owner: 'self',
            members: [peerB],
            proposers: [peerB],
            admins: [peerB],
            updateSeconds: 3600,
          },
        },
      ],
    })
    expect(config.vlans[0]!.mls).toEqual({ owner: 'self', members: [peerB] })
    expect(config.vlans[1]!.secret).toBeUndefined()
    expect(config.vlans[1]!.mls?.admins).toEqual([peerB])
    expect(config.vlans[2]!.mls?.proposers).toEqual([peerB])
    expect(config.vlans[2]!.mls?.updateSeconds).toBe(3600)
  })

  it.each([
    ['an unknown field', { ...good, bogus: 1 }, /^bogus: .*unknown field/],
    [
      'an unknown nested field',
      { ...good, vlans: [{ ...good.vlans[0], port: { type: 'tap', device: 'pt0', x: 1 } }] },
      /^vlans\.0\.port\.x: .*unknown field/,
    ],
    [
      'a missing secret',
      { ...good, vlans: [{ name: 'lab', port: { type: 'tap', device: 'pt0' } }] },
      /^vlans\.0\.secret: .*required/,
    ],
    [
      'a short secret',
      { ...good, vlans: [{ ...good.vlans[0], secret: 'abcd' }] },
      /^vlans\.0\.secret: .*64 hex digits/,
    ],
    [
      'a wrong type',
      { ...good, vlans: [{ ...good.vlans[0], port: { type: 'tap', device: 'pt0', mtu: '1400' } }] },
      /^vlans\.0\.port\.mtu: /,
    ],
    [
      'a multicast MAC',
      {
        ...good,
        vlans: [
          { ...good.vlans[0], port: { type: 'tap', device: 'pt0', mac: '01:00:5e:00:00:01' } },
        ],
      },
      /^vlans\.0\.port\.mac: .*unicast/,
    ],
    ['a peer without /p2p/', { ...good, peers: ['/ip4/198.18.0.2/tcp/7400'] }, /^peers\.0: /],
    [
      'a TUN port with a gateway that has a zone',
      {
        ...good,
        vlans: [
          { ...good.vlans[0], port: { type: 'tun', device: 'pt0', gateway: ['fe80::1%pt0'] } },
        ],
      },
      /^vlans\.0\.port\.gateway: .*without a zone/,
    ],
    [
      'a TUN port with an address in netmask form',
      {
        ...good,
        vlans: [
          {
            ...good.vlans[0],
            port: { type: 'tun', device: 'pt0', addresses: ['10.0.0.5/255.255.255.0'] },
          },
        ],
      },
      /^vlans\.0\.port\.addresses: .*ADDRESS\/PREFIX-LENGTH/,
    ],
    [
      'two gateways of one family',
      {
        ...good,
        vlans: [
          {
            ...good.vlans[0],
            port: { type: 'tun', device: 'pt0', gateway: ['10.0.0.1', '10.0.0.2'] },
          },
        ],
      },
      /^vlans\.0\.port\.gateway: .*at most one IPv4 and one IPv6/,
    ],
    [
      'DHCP on a TAP port',
      { ...good, vlans: [{ ...good.vlans[0], port: { type: 'tap', device: 'pt0', dhcp: true } }] },
      /^vlans\.0\.port\.dhcp: .*dhcp and gateway are for TUN ports/,
    ],
    [
      'two VLANs of one name',
      { ...good, vlans: [good.vlans[0], good.vlans[0]] },
      /^vlans: .*VLAN names must be unique/,
    ],
    [
      'both a secret and mls',
      { ...good, vlans: [{ ...good.vlans[0], mls: { owner: 'self' } }] },
      /^vlans\.0\.mls: .*not both/,
    ],
    [
      'an owner that is not a PeerId',
      { ...good, vlans: [{ ...mlsVlan, mls: { owner: 'alice' } }] },
      /^vlans\.0\.mls\.owner: .*PeerId/,
    ],
    [
      'a member that is not a PeerId',
      { ...good, vlans: [{ ...mlsVlan, mls: { owner: 'self', members: [peerB, 'bob'] } }] },
      /^vlans\.0\.mls\.members\.1: .*PeerId/,
    ],
    [
      'a proposer that is not a PeerId',
      { ...good, vlans: [{ ...mlsVlan, mls: { owner: 'self', proposers: ['bob'] } }] },
      /^vlans\.0\.mls\.proposers\.0: .*PeerId/,
    ],
    [
      'an admin that is not a PeerId',
      { ...good, vlans: [{ ...mlsVlan, mls: { owner: 'self', admins: [peerB, 'carol'] } }] },
      /^vlans\.0\.mls\.admins\.1: .*PeerId/,
    ],
    [
      'an update interval under a minute',
      { ...good, vlans: [{ ...mlsVlan, mls: { owner: 'self', updateSeconds: 5 } }] },
      /^vlans\.0\.mls\.updateSeconds: /,
    ],
    [
      'an unknown mls field',
      { ...good, vlans: [{ ...mlsVlan, mls: { owner: 'self', moderators: [] } }] },
      /^vlans\.0\.mls\.moderators: .*unknown field/,
    ],
    [
      'two VLANs of one name',
      { ...good, vlans: [good.vlans[0], { ...mlsVlan, name: 'lab' }] },
      /^vlans: .*unique/,
    ],
  ])('names the field for %s', (_what, input, pattern) => {
    expect(fieldOf(input)).toMatch(pattern)
  })
})

describe('config fields', () => {
  it('takes the AES implementation from the addon when it can (aes: auto), and checks the field', () => {
    expect(parseConfig(good).aes).toBe('auto')
    expect(parseConfig({ ...good, aes: 'node' }).aes).toBe('node')
    expect(parseConfig({ ...good, aes: 'addon' }).aes).toBe('addon')
    expect(fieldOf({ ...good, aes: 'fast' })).toMatch(/^aes: /)
    const log = { info: () => {}, warn: () => {} }
    expect(aesPrimitives('node', log)).toBe(nodeAes)
    expect(aesPrimitives('addon', log)).toBe(opensslAes())
    expect(aesPrimitives('auto', log)).toBe(opensslAes())
  })

  it('gives our SUBs a TTL of 180 s by default, and takes 3 to 1800 s', () => {
    expect(parseConfig(good).subscriptionTtlSeconds).toBe(180)
    expect(parseConfig({ ...good, subscriptionTtlSeconds: 3 }).subscriptionTtlSeconds).toBe(3)
    expect(parseConfig({ ...good, subscriptionTtlSeconds: 1800 }).subscriptionTtlSeconds).toBe(1800)
    for (const bad of [2, 1801, 10.5, '60', 0, -1])
      expect(fieldOf({ ...good, subscriptionTtlSeconds: bad })).toMatch(/^subscriptionTtlSeconds: /)
  })

  it('turns the datagram link on by default, and checks its fields', () => {
    expect(parseConfig(good).datagram).toEqual({
      enabled: true,
      port: 0,
      announce: [],
      socket: 'auto',
      gso: true,
      gro: true,
      largeGso: 'segment',
    })
    const off = parseConfig({
      ...good,
      datagram: {
        enabled: false,
        port: 7402,
        socket: 'dgram',
        gso: false,
        gro: false,
        largeGso: 'fragment',
      },
    })
    expect(off.datagram).toEqual({
      enabled: false,
      port: 7402,
      announce: [],
      socket: 'dgram',
      gso: false,
      gro: false,
      largeGso: 'fragment',
    })
    expect(fieldOf({ ...good, datagram: { gro: 'yes' } })).toMatch(/^datagram\.gro: /)
    expect(fieldOf({ ...good, datagram: { socket: 'mmsg' } })).toMatch(/^datagram\.socket: /)
    expect(fieldOf({ ...good, datagram: { largeGso: 'split' } })).toMatch(/^datagram\.largeGso: /)
    expect(fieldOf({ ...good, datagram: { port: 70_000 } })).toMatch(/^datagram\.port: /)
    expect(fieldOf({ ...good, datagram: { announce: ['not-an-ip'] } })).toMatch(
      /^datagram\.announce\.0: /,
    )
    expect(fieldOf({ ...good, datagram: { on: true } })).toMatch(/^datagram\.on: /)
  })
})
