import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import {
  AddressCap,
  addressKey,
  DEFAULT_MAX_CONNECTIONS,
  type InboundConnection,
  type Trunk,
  TrunkError,
} from '../src/index.ts'
import { startTrunk, until } from './helpers.ts'

describe('addressKey', () => {
  it('counts IPv4 by address, IPv6 by /64, IPv4-mapped IPv6 as IPv4, and skips circuits', () => {
    expect(addressKey('/ip4/192.0.2.7/tcp/4001')).toBe('4:192.0.2.7')
    expect(addressKey('/ip4/192.0.2.7/tcp/4002/ws')).toBe('4:192.0.2.7')
    expect(addressKey('/ip4/192.0.2.7/udp/4001/quic-v1/p2p/12D3KooWx')).toBe('4:192.0.2.7')
    expect(addressKey('/ip4/192.0.2.8/tcp/4001')).toBe('4:192.0.2.8')
    const a = addressKey('/ip6/2001:db8:1:2:aaaa::1/tcp/1')
    expect(a).toBe('6:2001:db8:1:2::/64')
    expect(addressKey('/ip6/2001:db8:1:2:ffff:ffff:ffff:ffff/tcp/1')).toBe(a)
    expect(addressKey('/ip6/2001:0db8:0001:0002::/tcp/1')).toBe(a)
    expect(addressKey('/ip6/2001:db8:1:3::1/tcp/1')).not.toBe(a)
    expect(addressKey('/ip6/::1/tcp/1')).toBe('6:0:0:0:0::/64')
    expect(addressKey('/ip6/fe80::1%25eth0/tcp/1')).toBe('6:fe80:0:0:0::/64')
    expect(addressKey('/ip6/::ffff:192.0.2.7/tcp/1')).toBe('4:192.0.2.7')
    expect(addressKey('/ip6/::ffff:c000:207/tcp/1')).toBe('4:192.0.2.7')
    expect(addressKey('/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWr/p2p-circuit/p2p/12D3KooWb')).toBe(
      undefined,
    )
    expect(addressKey('/dns4/example.org/tcp/4001')).toBe(undefined)
    expect(addressKey('/unix/tmp/sock')).toBe(undefined)
    expect(addressKey('/ip6/1::2::3/tcp/1')).toBe(undefined)
    expect(addressKey('/ip6/1:2:3/tcp/1')).toBe(undefined)
  })
})

/** A connection as the gater sees it, closed by calling close(). */
function fakeConnection(addr: string): InboundConnection & { close(): void } {
  const target = new EventTarget()
  const conn = {
    remoteAddr: multiaddr(addr),
    status: 'open',
    addEventListener: (type: 'close', listener: () => void, options?: { once?: boolean }) =>
      target.addEventListener(type, listener, options),
    close: () => {
      conn.status = 'closed'
      target.dispatchEvent(new Event('close'))
      // A second 'close' must not count twice.
      target.dispatchEvent(new Event('close'))
    },
  }
  return conn
}

describe('AddressCap', () => {
  it('admits up to its cap per address, counts refusals, and frees a slot when one closes', () => {
    const cap = new AddressCap(2)
    const [a1, a2, a3] = [1, 2, 3].map(() => fakeConnection('/ip4/192.0.2.7/tcp/1'))
    const v6 = [1, 2, 3].map((i) => fakeConnection(`/ip6/2001:db8:1:2::${i}/tcp/1`))
    expect(cap.admit(a1!)).toBe(true)
    expect(cap.admit(a2!)).toBe(true)
    expect(cap.admit(a3!)).toBe(false)
    expect(v6.map((c) => cap.admit(c))).toEqual([true, true, false])
    expect(cap.admit(fakeConnection('/ip4/192.0.2.8/tcp/1'))).toBe(true)
    expect(cap.admit(fakeConnection('/ip4/192.0.2.1/tcp/1/p2p-circuit'))).toBe(true)
    expect(cap.counters).toEqual({ refused: 2, open: 5, addresses: 3 })
    a1!.close()
    expect(cap.counters.open).toBe(4)
    expect(cap.admit(a3!)).toBe(true)
    a2!.close()
    a3!.close()
    expect(cap.counters).toEqual({ refused: 2, open: 3, addresses: 2 })
  })

  it('is off at 0 or Infinity, and does not count a connection that closed before it was asked', () => {
    for (const max of [0, Number.POSITIVE_INFINITY]) {
      const cap = new AddressCap(max)
      for (let i = 0; i < 100; i++) {
        expect(cap.admit(fakeConnection('/ip4/192.0.2.7/tcp/1'))).toBe(true)
      }
      expect(cap.counters).toEqual({ refused: 0, open: 0, addresses: 0 })
    }
    const cap = new AddressCap(1)
    const gone = fakeConnection('/ip4/192.0.2.7/tcp/1')
    gone.status = 'closed'
    expect(cap.admit(gone)).toBe(true)
    expect(cap.admit(fakeConnection('/ip4/192.0.2.7/tcp/1'))).toBe(true)
    expect(cap.counters.open).toBe(1)
  })
})

describe('a trunk node caps inbound connections per source address (TCP on loopback)', () => {
  const nodes: Trunk[] = []
  const sockets: Socket[] = []
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy()
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
  })

  /** A TCP socket to the trunk that never says a word (no multistream, no Noise). */
  async function silent(port: number, localAddress: string): Promise<Socket> {
    const s = connect({ host: '127.0.0.1', port, localAddress })
    s.on('error', () => {})
    sockets.push(s)
    // A refused socket may be reset before 'connect' reaches us.
    await new Promise((resolve) => {
      s.once('connect', resolve)
      s.once('close', resolve)
    })
    return s
  }

  /** True if the peer closed the socket within `ms`. */
  async function closedWithin(s: Socket, ms: number): Promise<boolean> {
    if (s.closed) return true
    const closed = once(s, 'close').then(() => true)
    return Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), ms))])
  }

  it('refuses connection N+1 from one address before any handshake, admits again when one closes, leaves other addresses alone', async () => {
    const server = await startTrunk(
      'tcp',
      { maxConnectionsPerAddress: 3, inboundConnectionThreshold: 100 },
      nodes,
    )
    const addr = server.getMultiaddrs()[0]!
    const port = Number(addr.toString().split('/')[4])
    const inbound = server.protocol.counters.inbound
    // Three silent sockets from 127.0.0.1: admitted, counted while their handshake is pending.
    const held = [
      await silent(port, '127.0.0.1'),
      await silent(port, '127.0.0.1'),
      await silent(port, '127.0.0.1'),
    ]
    await until(() => inbound.open === 3, 2000, 'three counted')
    // The fourth is closed by the server at once although it sent nothing: refused before Noise.
    const fourth = await silent(port, '127.0.0.1')
    expect(await closedWithin(fourth, 2000)).toBe(true)
    expect(inbound.refused).toBe(1)
    for (const s of held) expect(await closedWithin(s, 50)).toBe(false)
    // A whole trunk from 127.0.0.1 is refused too.
    const client = await startTrunk('tcp', {}, nodes)
    await expect(client.dial(addr)).rejects.toThrow(TrunkError)
    expect(inbound.refused).toBe(2)
    // Another address is unaffected.
    const other = await silent(port, '127.0.0.2')
    expect(await closedWithin(other, 200)).toBe(false)
    expect(inbound).toMatchObject({ open: 4, addresses: 2 })
    // One closes: a trunk from 127.0.0.1 gets in, and is counted until its connection closes.
    held[0]!.destroy()
    await until(() => inbound.open === 3, 2000, 'a slot freed')
    const link = await client.dial(addr)
    expect(link.status).toBe('up')
    expect(inbound.open).toBe(4)
    await client.stop()
    await until(() => inbound.open === 3, 5000, 'the trunk connection released')
    expect(inbound.refused).toBe(2)
  })

  it.each(['quic', 'ws'] as const)(
    'caps %s connections too, and releases them on close',
    async (transport) => {
      // QUIC's transport asks the gater after its TLS handshake, WebSocket's before Noise.
      const server = await startTrunk(transport, { maxConnectionsPerAddress: 1 }, nodes)
      const addr = server.getMultiaddrs()[0]!
      const inbound = server.protocol.counters.inbound
      const first = await startTrunk(transport, {}, nodes)
      await first.dial(addr)
      expect(inbound.open).toBe(1)
      const second = await startTrunk(transport, {}, nodes)
      await expect(second.dial(addr)).rejects.toThrow(TrunkError)
      expect(inbound.refused).toBe(1)
      await first.stop()
      await until(() => inbound.open === 0, 5000, 'the first connection released')
      await second.dial(addr)
      expect(inbound).toEqual({ refused: 1, open: 1, addresses: 1 })
    },
  )

  it("sets libp2p's connection limits explicitly", async () => {
    const t = await startTrunk('tcp', {}, nodes)
    const cm = (
      t.libp2p as unknown as { components: { connectionManager: { getMaxConnections(): number } } }
    ).components.connectionManager
    expect(cm.getMaxConnections()).toBe(DEFAULT_MAX_CONNECTIONS)
    expect(t.protocol.counters.sendBudget.reserveBytes).toBe(256 * 1024)
    const u = await startTrunk('tcp', { maxConnections: 2048 }, nodes)
    expect(u.protocol.counters.sendBudget.reserveBytes).toBe(128 * 1024)
    await expect(startTrunk('tcp', { maxConnections: 0 })).rejects.toThrow(TrunkError)
  })
})
