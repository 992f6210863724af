// UDP GRO on the batched socket's receive side (src/udp.h): a message the
// kernel coalesced is split into its datagrams before JavaScript sees it.
// On loopback, a UDP_GRO socket gets a UDP GSO message of this host whole
// (a socket without it gets the datagrams the kernel split), so GSO senders
// on 127.0.0.1 and ::1 make real coalesced messages.
import { afterEach, describe, expect, it } from 'vitest'
import { openUdp, type UdpSocket } from '../src/index.ts'
import { native } from '../src/native.ts'
import {
  addNetns,
  canLoadAddon,
  canRun,
  child,
  copy,
  delNetns,
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

/** A datagram of `size` bytes (at least 1): sender tag, sequence number, then a pattern. */
const datagram = (sender: number, seq: number, size: number): Uint8Array => {
  const d = new Uint8Array(size)
  for (let j = 0; j < size; j++) d[j] = (sender * 31 + seq * 7 + j) & 0xff
  d[0] = sender
  if (size >= 3) {
    d[1] = seq >> 8
    d[2] = seq & 0xff
  }
  return d
}

/** Runs of `count` datagrams of `size` bytes, numbered on from `from`. */
const run = (sender: number, from: number, count: number, size: number): Uint8Array[] =>
  Array.from({ length: count }, (_, i) => datagram(sender, from + i, size))

describe.runIf(canLoadAddon())('UDP GRO on the batched socket', () => {
  afterEach(() => {
    for (const s of opened.splice(0)) s.close()
  })

  /**
   * Three senders to one receiver, interleaved: a and d send with GSO (runs
   * of one size, short last segments, runs of 64 and more), c without.
   */
  const scenario = async (
    receiver: UdpSocket,
    options: { mainThread?: boolean; batchDatagrams?: number },
  ) => {
    const a = track(openUdp({ address: '127.0.0.1' }))
    const c = track(openUdp({ address: '127.0.0.1', gso: false }))
    const d = track(openUdp({ address: '127.0.0.1' }))
    const got: Received[] = []
    const counts: number[] = []
    receiver.onBatch(
      (batch) => {
        counts.push(batch.count)
        copy(batch, got)
      },
      { mainThread: options.mainThread ?? false, batchDatagrams: options.batchDatagrams ?? 64 },
    )
    const sent = new Map<number, Uint8Array[]>([
      [a.port, []],
      [c.port, []],
      [d.port, []],
    ])
    const send = (s: UdpSocket, ds: Uint8Array[]) => {
      expect(
        s.send(
          ds,
          ds.map(() => '127.0.0.1'),
          ds.map(() => receiver.port),
        ),
      ).toBe(ds.length)
      sent.get(s.port)!.push(...ds)
    }
    // a: 70 of 1200 bytes and a 500-byte one (messages of 64, then 6 + 1 short),
    // then 10 of 64 bytes, one of 1400 alone, 3 of 1472 with a 1-byte last one.
    send(a, [...run(1, 0, 70, 1200), datagram(1, 70, 500)])
    send(c, run(2, 0, 20, 1000))
    send(d, [...run(3, 0, 40, 300), datagram(3, 40, 299)])
    send(a, [
      ...run(1, 71, 10, 64),
      datagram(1, 81, 1400),
      ...run(1, 82, 3, 1472),
      datagram(1, 85, 1),
    ])
    send(c, [datagram(2, 20, 1472), datagram(2, 21, 17)])
    send(d, run(3, 41, 64, 1000))
    const total = [...sent.values()].reduce((n, ds) => n + ds.length, 0)
    await until(() => got.length === total)
    // Each sender's datagrams separately, byte for byte, in order, from it.
    for (const [port, ds] of sent) {
      const from = got.filter((g) => g.port === port)
      expect(from.map((g) => g.data)).toEqual(ds)
      expect(from.every((g) => g.address === '127.0.0.1')).toBe(true)
    }
    expect(Math.max(...counts)).toBeLessThanOrEqual(options.batchDatagrams ?? 64)
    return { a, c, d, got, total, counts }
  }

  for (const mainThread of [false, true]) {
    it(`splits coalesced messages into their datagrams, in order, with their sources (${mainThread ? 'main thread' : 'reader thread'})`, async () => {
      const b = track(openUdp({ address: '127.0.0.1', receiveBufferBytes: 4 << 20 }))
      // Batches of 16: a message of 64 datagrams goes up in four.
      const { a, c, d, total } = await scenario(b, { mainThread, batchDatagrams: 16 })
      const sa = a.stats()
      const sd = d.stats()
      expect(sa.gsoMessages).toBeGreaterThan(0)
      expect(c.stats().gsoMessages).toBe(0)
      // The kernel kept every GSO message whole for this socket: each came as
      // one coalesced message, and nothing else did (c's plain datagrams).
      expect(b.stats()).toMatchObject({
        gro: true,
        groMessages: sa.gsoMessages + sd.gsoMessages,
        groDatagrams: sa.gsoDatagrams + sd.gsoDatagrams,
        datagramsReceived: total,
        truncated: 0,
      })
    })
  }

  it('with gro: false nothing changes: the kernel splits, the same datagrams arrive', async () => {
    const b = track(openUdp({ address: '127.0.0.1', receiveBufferBytes: 4 << 20, gro: false }))
    const { a, total } = await scenario(b, {})
    expect(a.stats().gsoMessages).toBeGreaterThan(0)
    expect(b.stats()).toMatchObject({
      gro: false,
      groMessages: 0,
      groDatagrams: 0,
      datagramsReceived: total,
    })
  })

  it('drops and counts segments over datagramMax as it drops such datagrams without GRO', async () => {
    const a = track(openUdp({ address: '127.0.0.1' }))
    const results = []
    for (const gro of [true, false]) {
      const b = track(openUdp({ address: '127.0.0.1', gro }))
      const got: Received[] = []
      b.onBatch((batch) => copy(batch, got), { datagramMax: 512 })
      // 10 of 1000 bytes with a 400-byte last one (one GSO message), then 5 of 100.
      const ds = [...run(1, 0, 10, 1000), datagram(1, 10, 400), ...run(1, 11, 5, 100)]
      expect(
        a.send(
          ds,
          ds.map(() => '127.0.0.1'),
          ds.map(() => b.port),
        ),
      ).toBe(16)
      await until(() => got.length === 6 && b.stats().truncated === 10)
      expect(got.map((g) => g.data)).toEqual([ds[10], ...ds.slice(11)])
      results.push(b.stats())
    }
    expect(results[0]).toMatchObject({ gro: true, groMessages: 2, groDatagrams: 16 })
    expect(results[1]).toMatchObject({ gro: false, groMessages: 0 })
  })

  it('coalesces and splits on ::1, the source as text', async () => {
    let a: UdpSocket
    try {
      a = track(openUdp({ address: '::1' }))
    } catch {
      return // no IPv6 on this loopback: nothing to test
    }
    const b = track(openUdp({ address: '::', receiveBufferBytes: 1 << 20 }))
    const got: Received[] = []
    b.onBatch((batch) => copy(batch, got))
    const ds = [...run(1, 0, 30, 1200), datagram(1, 30, 77)]
    expect(
      a.send(
        ds,
        ds.map(() => '::1'),
        ds.map(() => b.port),
      ),
    ).toBe(31)
    await until(() => got.length === 31)
    expect(got.map((g) => g.data)).toEqual(ds)
    expect(got.every((g) => g.address === '::1' && g.port === a.port)).toBe(true)
    expect(b.stats()).toMatchObject({ gro: true, groMessages: 1, groDatagrams: 31 })
  })

  describe('odd messages, replayed through the split (the kernel makes none on demand)', () => {
    const MSG_TRUNC = 0x20
    const MSG_CTRUNC = 0x08
    const bytes = (n: number, seed = 0) =>
      Uint8Array.from({ length: n }, (_, i) => (i + seed) & 0xff)
    const replay = (
      messages: Array<[data: Uint8Array, gsoSize: number, flags?: number]>,
      batchFrames = 64,
      datagramMax = 2048,
    ) =>
      native().udpGroReplay(
        messages.map((m) => m[0]),
        messages.map((m) => m[1]),
        messages.map((m) => m[2] ?? 0),
        batchFrames,
        datagramMax,
      )
    const cut = (d: Uint8Array, size: number) =>
      Array.from({ length: Math.ceil(d.length / size) }, (_, i) =>
        d.slice(i * size, (i + 1) * size),
      )

    it('splits at gso_size, the last segment shorter, and keeps plain messages whole', () => {
      const m1 = bytes(3000, 1)
      const m2 = bytes(2500, 2)
      const m3 = bytes(1500, 3)
      const r = replay([
        [m1, 1000],
        [m2, 1000],
        [m3, -1], // no control message: one datagram
      ])
      expect(r.batches).toEqual([[...cut(m1, 1000), ...cut(m2, 1000), m3]])
      expect(r).toMatchObject({ truncated: 0, groMessages: 2, groDatagrams: 6 })
    })

    it('takes a gso_size at or above the length, or zero, as one datagram; an empty message as one', () => {
      const m = bytes(700, 4)
      const r = replay([
        [m, 5000],
        [m, 700],
        [m, 0],
        [m, -7],
        [new Uint8Array(0), -1],
        [new Uint8Array(0), 1000],
      ])
      expect(r.batches).toEqual([[m, m, m, m, new Uint8Array(0), new Uint8Array(0)]])
      expect(r.truncated).toBe(0)
    })

    it('splits 1-byte segments, and segments over datagramMax are dropped and counted', () => {
      const tiny = bytes(64, 5)
      const big = bytes(5000, 6)
      const r = replay(
        [
          [tiny, 1],
          [big, 3000], // 3000 (over 2048: dropped) and 2000
          [bytes(2100), -1], // one datagram over 2048: dropped
        ],
        128,
      )
      expect(r.batches).toEqual([[...cut(tiny, 1), big.slice(3000)]])
      expect(r).toMatchObject({ truncated: 2, groMessages: 2, groDatagrams: 66 })
    })

    it('drops a message cut short, or one whose control message was lost', () => {
      const m = bytes(2000, 7)
      const r = replay([
        [m, 1000, MSG_TRUNC],
        [m, -1, MSG_CTRUNC], // could be several datagrams: not passed as one
        [m, 500, MSG_CTRUNC], // the UDP_GRO message made it: split
        [m, -1],
      ])
      expect(r.batches).toEqual([[...cut(m, 500), m]])
      expect(r.truncated).toBe(2)
    })

    it('carries a message over to the next batches when the slot is full, in order', () => {
      const ms = [bytes(64 * 100, 8), bytes(100, 9), bytes(10 * 30 + 1, 10)]
      const r = replay(
        [
          [ms[0]!, 100],
          [ms[1]!, -1],
          [ms[2]!, 30],
        ],
        10,
      )
      const all = [...cut(ms[0]!, 100), ms[1]!, ...cut(ms[2]!, 30)]
      expect(all.length).toBe(76)
      expect(r.batches.map((b) => b.length)).toEqual([10, 10, 10, 10, 10, 10, 10, 6])
      expect(r.batches.flat()).toEqual(all)
    })
  })

  it.runIf(canRun)(
    'splits odd GSO packets from a TUN device as the kernel splits them',
    async () => {
      // In a namespace of its own: UDP GSO packets written into a TUN device
      // with a virtio-net header (as a VM's NIC hands them over), with odd
      // segment sizes, to a socket with GRO and one without (fixture).
      const ns = nsName('gro')
      addNetns(ns)
      try {
        const r = await child('ip', [
          'netns',
          'exec',
          ns,
          process.execPath,
          ...nodeArgs('udp-gro-tun.ts'),
        ])
        expect(r.code, r.stderr).toBe(0)
        const out = JSON.parse(r.stdout) as {
          gro: { lengths: number[]; hashes: string[]; stats: Record<string, unknown> }
          plain: { lengths: number[]; hashes: string[]; stats: Record<string, unknown> }
          expected: number[]
        }
        expect(out.gro.lengths).toEqual(out.expected)
        expect(out.plain.lengths).toEqual(out.expected)
        expect(out.gro.hashes).toEqual(out.plain.hashes)
        expect(out.gro.stats).toMatchObject({ gro: true })
        expect(out.gro.stats.groMessages).toBeGreaterThan(0)
        expect(out.plain.stats).toMatchObject({ gro: false, groMessages: 0 })
      } finally {
        delNetns(ns)
      }
    },
  )
})
