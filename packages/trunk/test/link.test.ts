import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import {
  CONTROL_WELCOME,
  encodeMessage,
  type Frame,
  type Link,
  SUB_FLAG_RECEIVE,
  SUB_FLAG_SEND,
  type SubscriptionMessage,
  TRUNK_PROTOCOL,
  type Trunk,
  TrunkError,
} from '../src/index.ts'
import { makeFrames, startTrunk, type TransportName, until } from './helpers.ts'

const nodes: Trunk[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

describe.each(['tcp', 'quic', 'ws'] as TransportName[])(
  'a link over %s on 127.0.0.1',
  (transport) => {
    it('carries batches of frames, SUBs, PING/PONG and CONTROL both ways', async () => {
      const a = await startTrunk(transport, { role: 'relay' }, nodes)
      const b = await startTrunk(transport, {}, nodes)
      const got: {
        frames: Frame[][]
        subs: [SubscriptionMessage, boolean][]
        control: [number, string][]
      } = {
        frames: [],
        subs: [],
        control: [],
      }
      a.setReceiver({
        onFrames: (frames) => got.frames.push(frames),
        onSubscription: (sub, unsub) => got.subs.push([sub, unsub]),
        onControl: (c) => got.control.push([c.channel, Buffer.from(c.payload).toString()]),
      })
      let up: Link | undefined
      a.addEventListener('link:up', (e) => {
        up = e.detail
      })
      const link = await b.dial(a.getMultiaddrs()[0]!)
      expect(link.kind).toBe('stream')
      expect(link.id).toBe(a.peerId.toString())
      expect(link.hello.remoteRole).toBe('relay')
      expect(link.hello.version).toBe(1)
      expect(link.mtu).toBe(66_560 - 18)
      expect(Math.abs(link.hello.clockSkewMs)).toBeLessThan(5000)
      await until(() => up !== undefined, 5000, 'link:up at a')
      expect(up!.id).toBe(b.peerId.toString())
      expect(a.getLink(b.peerId.toString())).toBe(up)

      const frames = [
        ...makeFrames(300, 1400, 1),
        ...makeFrames(20, 64, 2),
        ...makeFrames(10, 9000, 3),
      ]
      expect(link.sendFrames(frames)).toBe(frames.length)
      const sub: SubscriptionMessage = {
        ttl: 600,
        entries: [
          { vft: new Uint8Array(16).fill(7), flags: SUB_FLAG_RECEIVE },
          { vft: new Uint8Array(16).fill(8), flags: SUB_FLAG_RECEIVE | SUB_FLAG_SEND },
        ],
        proof: new Uint8Array([1, 2, 3]),
      }
      expect(link.sendSubscription(sub)).toBe(true)
      expect(link.sendSubscription({ ttl: 0, entries: [sub.entries[0]!] }, true)).toBe(true)
      expect(link.sendControl({ channel: CONTROL_WELCOME, payload: Buffer.from('welcome') })).toBe(
        true,
      )
      const pong = await link.ping()
      expect(pong.rttMs).toBeGreaterThan(0)
      expect(pong.rttMs).toBeLessThan(5000)
      expect(pong.hops.map((h) => Buffer.from(h).toString('hex'))).toEqual([
        Buffer.from(a.peerId.toMultihash().bytes).toString('hex'),
      ])

      await until(
        () => got.frames.flat().length === frames.length && got.control.length === 1,
        5000,
        'frames',
      )
      const received = got.frames.flat()
      expect(received.map((f) => Buffer.from(f.sealed).toString('hex'))).toEqual(
        frames.map((f) => Buffer.from(f.sealed).toString('hex')),
      )
      expect(Buffer.from(received[5]!.vft)).toEqual(Buffer.from(frames[5]!.vft))
      // Batched: far fewer receive batches than frames, and few writes.
      expect(got.frames.length).toBeLessThan(frames.length / 4)
      expect(link.counters.writes).toBeLessThan(10)
      expect(got.subs.length).toBe(2)
      expect(got.subs[0]![1]).toBe(false)
      expect(got.subs[0]![0].entries[1]!.flags).toBe(3)
      expect(Buffer.from(got.subs[0]![0].proof!)).toEqual(Buffer.from([1, 2, 3]))
      expect(got.subs[1]![1]).toBe(true)
      expect(got.control).toEqual([[CONTROL_WELCOME, 'welcome']])

      // And back from a to b.
      const back: Frame[] = []
      b.setReceiver({})
      link.setReceiver({ onFrames: (f) => back.push(...f) })
      expect(up!.sendFrames(makeFrames(50, 1400, 9))).toBe(50)
      await until(() => back.length === 50, 5000, 'frames back')
      expect((await up!.ping()).rttMs).toBeGreaterThan(0)
    })
  },
)

describe('limits and misbehaving peers (TCP)', () => {
  it("drops and counts a frame larger than the peer's max message size, never sends it", async () => {
    const a = await startTrunk('tcp', { maxMessageSize: 4096 }, nodes)
    const b = await startTrunk('tcp', {}, nodes)
    const got: Frame[] = []
    a.setReceiver({ onFrames: (f) => got.push(...f) })
    const link = await b.dial(a.getMultiaddrs()[0]!)
    expect(link.hello.remoteMaxMessageSize).toBe(4096)
    expect(link.mtu).toBe(4096 - 18)
    const frames = [
      ...makeFrames(1, link.mtu),
      ...makeFrames(1, link.mtu + 1),
      ...makeFrames(3, 100),
    ]
    expect(link.sendFrames(frames)).toBe(4)
    expect(link.counters.dropOversize).toBe(1)
    await until(() => got.length === 4, 5000, 'frames')
    expect(got.map((f) => f.sealed.length)).toEqual([link.mtu, 100, 100, 100])
    expect(a.protocol.counters.closeReasons.oversized).toBe(0)
  })

  it("a slow receiver does not grow the sender's queue beyond its bound: tail drop is counted", async () => {
    const a = await startTrunk('tcp', {}, nodes)
    const b = await startTrunk('tcp', { queue: { maxFrames: 200, maxBytes: 256 * 1024 } }, nodes)
    let aLink: Link | undefined
    let received = 0
    a.setReceiver({ onFrames: (f) => (received += f.length) })
    a.addEventListener('link:up', (e) => {
      aLink = e.detail
      e.detail.pauseReceive()
    })
    const link = await b.dial(a.getMultiaddrs()[0]!)
    await until(() => aLink !== undefined)
    let accepted = 0
    let maxQueued = 0
    for (let round = 0; round < 100; round++) {
      accepted += link.sendFrames(makeFrames(100, 1400))
      maxQueued = Math.max(maxQueued, link.counters.queuedBytes)
      await new Promise((r) => setImmediate(r))
    }
    expect(link.counters.dropQueueFull).toBeGreaterThan(0)
    expect(accepted + link.counters.dropQueueFull).toBe(10_000)
    expect(link.counters.queuedFrames).toBeLessThanOrEqual(200)
    expect(maxQueued).toBeLessThanOrEqual(256 * 1024)
    expect(link.counters.drainWaits).toBeGreaterThan(0)
    expect(link.status).toBe('up')
    // Resume: what was queued arrives, the link still works.
    aLink!.resumeReceive()
    await until(() => received === accepted, 10_000, 'queued frames after resume')
    expect(link.counters.queuedFrames).toBe(0)
  })

  it("a trunk's send budget holds against neighbours that never read; a fresh one still gets through", async () => {
    const limit = 4 * 1024 * 1024
    const reserve = 64 * 1024
    const hub = await startTrunk(
      'tcp',
      { queueBudgetBytes: limit, queueReserveBytes: reserve },
      nodes,
    )
    const addr = hub.getMultiaddrs()[0]!
    // Four neighbours that stop reading as soon as their link is up (libp2p admits 5 connections per second per host).
    for (let i = 0; i < 4; i++) {
      const slow = await startTrunk('tcp', {}, nodes)
      ;(await slow.dial(addr)).pauseReceive()
    }
    await until(() => hub.links().length === 4)
    const slowLinks = hub.links()
    const budget = hub.protocol.counters.sendBudget
    expect(budget.links).toBe(4)
    expect(budget.limitBytes).toBe(limit)
    const burst = makeFrames(64, 1400)
    for (let round = 0; round < 80; round++) {
      for (const l of slowLinks) l.sendFrames(burst)
      await new Promise((r) => setImmediate(r))
      expect(budget.heldBytes).toBeLessThanOrEqual(limit + 4 * 12)
    }
    expect(budget.heldBytes).toBeGreaterThan(limit - 4 * 1500)
    expect(slowLinks.reduce((n, l) => n + l.counters.queuedBytes, 0)).toBe(budget.heldBytes)
    expect(budget.framesRefused).toBeGreaterThan(0)
    expect(slowLinks.reduce((n, l) => n + l.counters.dropBudget, 0)).toBe(budget.framesRefused)

    // A neighbour that reads: what fits its reserve per tick all arrives.
    const fast = await startTrunk('tcp', {}, nodes)
    let received = 0
    fast.setReceiver({ onFrames: (f) => (received += f.length) })
    await fast.dial(addr)
    await until(() => hub.links().length === 5)
    const fastLink = hub.getLink(fast.peerId.toString())!
    for (let round = 0; round < 200; round++) {
      expect(fastLink.sendFrames(makeFrames(10, 1400))).toBe(10)
      await new Promise((r) => setTimeout(r, 1))
    }
    await until(() => received === 2000, 10_000, 'frames on the fast link')
    expect(fastLink.counters.dropQueueFull).toBe(0)
    expect(budget.heldBytes).toBeLessThanOrEqual(limit + 4 * 12)
  })

  it('rejects a disjoint version range on both sides with a counted reason', async () => {
    const a = await startTrunk('tcp', { versionMin: 2, versionMax: 3 }, nodes)
    const b = await startTrunk('tcp', {}, nodes)
    await expect(b.dial(a.getMultiaddrs()[0]!)).rejects.toThrow(TrunkError)
    await until(() => a.protocol.counters.closeReasons['version-mismatch'] === 1)
    expect(b.protocol.counters.closeReasons['version-mismatch']).toBe(1)
    expect(a.links()).toEqual([])
  })

  it('negotiates the highest common version of overlapping ranges', async () => {
    const a = await startTrunk('tcp', { versionMin: 1, versionMax: 3 }, nodes)
    const b = await startTrunk('tcp', { versionMin: 1, versionMax: 1 }, nodes)
    expect((await b.dial(a.getMultiaddrs()[0]!)).hello.version).toBe(1)
  })

  it('survives garbage, a peer closing mid-message and a SUB flood, and keeps serving others', async () => {
    const a = await startTrunk('tcp', {}, nodes)
    const rogue = await startTrunk('tcp', {}, nodes)
    const addr = a.getMultiaddrs()[0]!
    const hello = encodeMessage({
      type: 'hello',
      hello: {
        versionMin: 1,
        versionMax: 1,
        role: 'node',
        capabilities: 0,
        maxMessageSize: 66_560,
        datagramMtu: 0,
        timestamp: Date.now(),
      },
    })
    const raw = async () => rogue.libp2p.dialProtocol(multiaddr(addr.toString()), TRUNK_PROTOCOL)
    const reasons = a.protocol.counters.closeReasons

    // Garbage instead of HELLO.
    ;(await raw()).send(Uint8Array.from([0x05, 0xff, 0xff, 0xff, 0xff, 0xff]))
    await until(() => reasons['hello-expected'] === 1, 5000, 'hello-expected')
    // A length beyond the limit, refused before buffering.
    const s2 = await raw()
    s2.send(Buffer.concat([hello, Uint8Array.of(0xff, 0xff, 0x7f)]))
    await until(() => reasons.oversized === 1, 5000, 'oversized')
    // A non-minimal varint.
    const s3 = await raw()
    s3.send(Buffer.concat([hello, Uint8Array.of(0x80, 0x00)]))
    await until(() => reasons['non-minimal-varint'] === 1, 5000, 'non-minimal')
    // Unknown type, then a BATCH inside a BATCH.
    const s4 = await raw()
    s4.send(Buffer.concat([hello, Uint8Array.of(2, 0x7e, 0)]))
    await until(() => reasons['unknown-type'] === 1, 5000, 'unknown-type')
    const s5 = await raw()
    s5.send(Buffer.concat([hello, Uint8Array.of(8, 5, 0, 1, 4, 5, 0, 1, 0)]))
    await until(() => reasons['nested-batch'] === 1, 5000, 'nested-batch')
    // Half a message, then close.
    const s6 = await raw()
    const frame = encodeMessage({ type: 'frame', frame: makeFrames(1, 1400)[0]! })
    s6.send(Buffer.concat([hello, frame.subarray(0, 700)]))
    await new Promise((r) => setTimeout(r, 50))
    await s6.close()
    await until(() => reasons.truncated === 1, 5000, 'truncated')

    // A SUB flood: 5000 SUBs of 1024 entries each, in BATCHes; the node counts them and lives.
    let subs = 0
    a.setReceiver({ onSubscription: () => subs++ })
    const flood = await rogue.dial(addr)
    const entries = Array.from({ length: 1024 }, (_, i) => ({
      vft: new Uint8Array(16).fill(i & 0xff),
      flags: SUB_FLAG_RECEIVE,
    }))
    let sent = 0
    for (let i = 0; i < 5000; i++) {
      if (flood.sendSubscription({ ttl: 60, entries })) sent++
      if (i % 50 === 49) await new Promise((r) => setImmediate(r))
    }
    expect(sent).toBeGreaterThan(0)
    await until(() => subs === sent, 20_000, 'SUB flood delivered')

    // Others are still served.
    const good = await startTrunk('tcp', {}, nodes)
    const got: Frame[] = []
    a.setReceiver({ onFrames: (f) => got.push(...f) })
    const link = await good.dial(addr)
    link.sendFrames(makeFrames(10, 200))
    await until(() => got.length === 10, 5000, 'frames from a good peer')
    expect(
      a
        .links()
        .map((l) => l.id)
        .sort(),
    ).toEqual([rogue.peerId.toString(), good.peerId.toString()].sort())
  })

  it('keeps one link per neighbour when both dial each other', async () => {
    const a = await startTrunk('tcp', {}, nodes)
    const b = await startTrunk('tcp', {}, nodes)
    const [la, lb] = await Promise.all([
      a.dial(b.getMultiaddrs()[0]!),
      b.dial(a.getMultiaddrs()[0]!),
    ])
    await until(() => a.links().length === 1 && b.links().length === 1, 5000, 'one link each')
    await new Promise((r) => setTimeout(r, 100))
    expect(a.links().length).toBe(1)
    expect(b.links().length).toBe(1)
    const got: Frame[] = []
    b.setReceiver({ onFrames: (f) => got.push(...f) })
    a.links()[0]!.setReceiver({})
    b.links()[0]!.setReceiver({ onFrames: (f) => got.push(...f) })
    expect(a.links()[0]!.sendFrames(makeFrames(5, 100))).toBe(5)
    await until(() => got.length === 5, 5000, 'frames over the surviving link')
    expect(la.id).toBe(b.peerId.toString())
    expect(lb.id).toBe(a.peerId.toString())
  })

  it('reports link down with its reason when the neighbour stops', async () => {
    const a = await startTrunk('tcp', {}, nodes)
    const b = await startTrunk('tcp', {}, nodes)
    const down: string[] = []
    a.addEventListener('link:down', (e) => down.push(e.detail.reason))
    const link = await b.dial(a.getMultiaddrs()[0]!)
    await until(() => a.links().length === 1)
    await b.stop()
    await until(() => down.length === 1, 5000, 'link:down')
    expect(['remote-closed', 'stream-error']).toContain(down[0])
    expect(link.status).toBe('down')
    expect(link.sendFrames(makeFrames(2, 100))).toBe(0)
    expect(link.counters.dropLinkDown).toBe(2)
    await expect(link.ping()).rejects.toThrow(TrunkError)
  })
})
