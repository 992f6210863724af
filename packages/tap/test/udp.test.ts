import { afterEach, describe, expect, it } from 'vitest'
import { openUdp, TapError, type UdpSocket } from '../src/index.ts'
import {
  addNetns,
  canRun,
  child,
  copy,
  delNetns,
  ip,
  nodeArgs,
  nsName,
  type Received,
  until,
} from './helpers.ts'

const opened: UdpSocket[] = []
const track = (s: UdpSocket): UdpSocket => {
  opened.push(s)
  return s
}

/** Datagram i: its index in the first 4 bytes, then a pattern; 40 to 1439 bytes. */
const datagram = (i: number): Uint8Array => {
  const d = new Uint8Array(40 + ((i * 97) % 1400))
  new DataView(d.buffer).setUint32(0, i)
  for (let j = 4; j < d.length; j++) d[j] = (i + j) & 0xff
  return d
}

describe('a UDP socket with batched I/O', () => {
  afterEach(() => {
    for (const s of opened.splice(0)) s.close()
  })

  for (const mainThread of [false, true]) {
    it(`sends a batch with sendmmsg and receives it in batches (${mainThread ? 'main thread' : 'reader thread'})`, async () => {
      const a = track(openUdp({ address: '127.0.0.1' }))
      const b = track(openUdp({ address: '127.0.0.1', receiveBufferBytes: 1 << 20 }))
      const got: Received[] = []
      const sizes: number[] = []
      b.onBatch(
        (batch) => {
          sizes.push(batch.count)
          copy(batch, got)
        },
        { mainThread, batchDatagrams: 32 },
      )
      const ds = Array.from({ length: 300 }, (_, i) => datagram(i))
      expect(
        a.send(
          ds,
          ds.map(() => '127.0.0.1'),
          ds.map(() => b.port),
        ),
      ).toBe(300)
      await until(() => got.length === 300)
      expect(got.map((g) => g.data)).toEqual(ds)
      expect(got.every((g) => g.address === '127.0.0.1' && g.port === a.port)).toBe(true)
      // Batches, not one call per datagram, and never more than asked for.
      expect(sizes.length).toBeLessThan(300)
      expect(Math.max(...sizes)).toBeLessThanOrEqual(32)
      expect(a.stats()).toMatchObject({ batchesSent: 1, datagramsSent: 300, sendDrops: 0 })
      expect(b.stats()).toMatchObject({ datagramsReceived: 300, batchesReceived: sizes.length })
    })
  }

  it('sends runs of one size to one destination as UDP GSO messages, received as separate datagrams', async () => {
    const a = track(openUdp({ address: '127.0.0.1' }))
    const off = track(openUdp({ address: '127.0.0.1', gso: false }))
    const b = track(openUdp({ address: '127.0.0.1', receiveBufferBytes: 1 << 20 }))
    const c = track(openUdp({ address: '127.0.0.1' }))
    const got: Received[] = []
    const gotC: Received[] = []
    b.onBatch((batch) => copy(batch, got))
    c.onBatch((batch) => copy(batch, gotC))
    // 100 of 1000 bytes and a shorter last one to b (GSO: 64 + 37 segments),
    // then 3 to c, then 2 of other sizes to b (no run: one message each).
    const sized = (i: number, n: number) => {
      const d = new Uint8Array(n).fill(i)
      new DataView(d.buffer).setUint32(0, i)
      return d
    }
    const ds = [
      ...Array.from({ length: 100 }, (_, i) => sized(i, 1000)),
      sized(100, 300),
      ...Array.from({ length: 3 }, (_, i) => sized(101 + i, 1000)),
      sized(104, 1000),
      sized(105, 1200),
    ]
    const to = ds.map((_, i) => (i >= 101 && i < 104 ? c.port : b.port))
    expect(
      a.send(
        ds,
        ds.map(() => '127.0.0.1'),
        to,
      ),
    ).toBe(106)
    await until(() => got.length === 103 && gotC.length === 3)
    expect(got.map((g) => g.data)).toEqual([...ds.slice(0, 101), ds[104], ds[105]])
    expect(gotC.map((g) => g.data)).toEqual(ds.slice(101, 104))
    // Runs: 64 + 37 (with the short one) to b, 3 to c, then 105 and 106 apart (a larger one ends a run).
    expect(a.stats()).toMatchObject({ gso: true, gsoMessages: 3, gsoDatagrams: 104 })
    // Without GSO: the same datagrams, one message each.
    expect(
      off.send(
        ds,
        ds.map(() => '127.0.0.1'),
        to,
      ),
    ).toBe(106)
    await until(() => got.length === 206)
    expect(got.slice(103).map((g) => g.data)).toEqual([...ds.slice(0, 101), ds[104], ds[105]])
    expect(off.stats()).toMatchObject({ gso: false, gsoMessages: 0, gsoDatagrams: 0 })
  })

  it('sends each datagram of a batch to its own destination', async () => {
    const a = track(openUdp({ address: '127.0.0.1' }))
    const sinks = [0, 1, 2].map(() => track(openUdp({ address: '127.0.0.1' })))
    const got = sinks.map(() => [] as Received[])
    sinks.forEach((s, k) => {
      s.onBatch((b) => copy(b, got[k]!))
    })
    const ds = Array.from({ length: 30 }, (_, i) => datagram(i))
    expect(
      a.send(
        ds,
        ds.map(() => '127.0.0.1'),
        ds.map((_, i) => sinks[i % 3]!.port),
      ),
    ).toBe(30)
    await until(() => got.every((g) => g.length === 10))
    got.forEach((g, k) => {
      expect(g.map((x) => new DataView(x.data.buffer).getUint32(0))).toEqual(
        Array.from({ length: 10 }, (_, j) => 3 * j + k),
      )
    })
  })

  it('stays bounded under a flood: the reader waits, the kernel drops, nothing grows', async () => {
    const a = track(openUdp({ address: '127.0.0.1', sendBufferBytes: 4 << 20 }))
    const b = track(openUdp({ address: '127.0.0.1', receiveBufferBytes: 64 * 1024 }))
    const got: Received[] = []
    b.onBatch((batch) => copy(batch, got), { slots: 2, batchDatagrams: 16 })
    // 20,000 datagrams while this thread does not return to the loop: the
    // reader fills its two slots, waits, and the small receive buffer overflows.
    const ds = Array.from({ length: 1000 }, (_, i) => datagram(i).subarray(0, 200))
    let sent = 0
    for (let k = 0; k < 20; k++)
      sent += a.send(
        ds,
        ds.map(() => '127.0.0.1'),
        ds.map(() => b.port),
      )
    expect(sent).toBeGreaterThan(5000)
    await new Promise((r) => setTimeout(r, 300))
    const stats = b.stats()
    expect(stats.readerWaits).toBeGreaterThan(0)
    expect(got.length).toBe(stats.datagramsReceived)
    expect(got.length).toBeLessThan(sent)
    // What arrived is intact (datagram i of each round, in order per round).
    for (const g of got) {
      const i = new DataView(g.data.buffer).getUint32(0)
      expect(g.data).toEqual(ds[i])
    }
    // And the socket goes on working.
    const before = got.length
    a.send([datagram(7)], ['127.0.0.1'], [b.port])
    await until(() => got.length === before + 1)
    expect(got.at(-1)!.data).toEqual(datagram(7))
  })

  it('drops and counts what it cannot send or receive, and sends the rest', async () => {
    const a = track(openUdp({ address: '127.0.0.1' }))
    const b = track(openUdp({ address: '127.0.0.1' }))
    const got: Received[] = []
    b.onBatch((batch) => copy(batch, got), { datagramMax: 256 })
    const ok = new Uint8Array(100).fill(1)
    const long = new Uint8Array(300).fill(2) // longer than datagramMax: truncated by the kernel
    const huge = new Uint8Array(70_000) // over the UDP limit: EMSGSIZE
    const sent = a.send(
      [ok, huge, ok, ok, long, ok],
      ['127.0.0.1', '127.0.0.1', 'not an address', '::1', '127.0.0.1', '127.0.0.1'],
      [b.port, b.port, b.port, b.port, b.port, b.port],
    )
    // huge is refused (EMSGSIZE), the text is no address, ::1 is another family.
    expect(sent).toBe(3)
    expect(a.stats().sendDrops).toBe(3)
    await until(() => got.length === 2 && b.stats().truncated === 1)
    expect(got.map((g) => g.data)).toEqual([ok, ok])
  })

  it('throws typed errors caused for real', () => {
    const a = track(openUdp({ address: '127.0.0.1' }))
    const err = (f: () => unknown): TapError => {
      try {
        f()
      } catch (e) {
        expect(e).toBeInstanceOf(TapError)
        return e as TapError
      }
      throw new Error('did not throw')
    }
    const inUse = err(() => openUdp({ address: '127.0.0.1', port: a.port }))
    expect(inUse).toMatchObject({ code: 'address-in-use', errno: 'EADDRINUSE', syscall: 'bind' })
    // 192.0.2.1 (TEST-NET-1, RFC 5737) is no address of this host.
    expect(err(() => openUdp({ address: '192.0.2.1' })).code).toBe('address-not-available')
    expect(err(() => openUdp({ address: 'localhost' })).code).toBe('invalid-argument')
    expect(err(() => openUdp({ port: 70_000 })).code).toBe('invalid-argument')
    expect(err(() => a.onBatch(() => {}, { batchDatagrams: 5000 })).code).toBe('invalid-argument')
    a.close()
    expect(err(() => a.send([new Uint8Array(1)], ['127.0.0.1'], [9])).code).toBe('closed')
    a.close() // idempotent
  })

  it('speaks IPv6 on ::1 with the source as text', async () => {
    let a: UdpSocket
    try {
      a = track(openUdp({ address: '::1' }))
    } catch (e) {
      // No IPv6 on this loopback: nothing to test.
      expect((e as TapError).code).toBe('address-not-available')
      return
    }
    const b = track(openUdp({ address: '::' }))
    const got: Received[] = []
    b.onBatch((batch) => copy(batch, got))
    expect(a.send([datagram(1), datagram(2)], ['::1', '0:0::1'], [b.port, b.port])).toBe(2)
    await until(() => got.length === 2)
    expect(got.map((g) => [g.address, g.port])).toEqual([
      ['::1', a.port],
      ['::1', a.port],
    ])
  })

  it.runIf(canRun)('sends a GSO message the kernel refuses datagram by datagram', async () => {
    // In a namespace of its own, loopback MTU 1280: 1400-byte segments are
    // over it (EINVAL for the GSO message), 1000-byte ones are not.
    const ns = nsName('gso')
    addNetns(ns)
    try {
      ip('-n', ns, 'link', 'set', 'lo', 'mtu', '1280')
      const r = await child('ip', [
        'netns',
        'exec',
        ns,
        process.execPath,
        ...nodeArgs('udp-gso.ts'),
      ])
      expect(r.code, r.stderr).toBe(0)
      const out = JSON.parse(r.stdout) as {
        large: number
        small: number
        afterLarge: { gsoMessages: number; gso: boolean }
        stats: { gsoMessages: number; gsoDatagrams: number; gso: boolean; sendDrops: number }
        lengths: number[]
      }
      expect(out.large).toBe(10)
      expect(out.afterLarge).toMatchObject({ gsoMessages: 0, gso: true })
      expect(out.small).toBe(10)
      expect(out.stats).toMatchObject({ gsoMessages: 1, gsoDatagrams: 10, gso: true, sendDrops: 0 })
      expect(out.lengths).toEqual([...Array(10).fill(1400), ...Array(10).fill(1000)])
    } finally {
      delNetns(ns)
    }
  })
})
