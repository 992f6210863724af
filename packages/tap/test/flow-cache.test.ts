/**
 * The fast path's flow cache (src/flow-cache.cc) on real devices: two
 * namespaces, a TAP in each, joined by this process. Broadcasts and
 * anything without an entry go up to a JavaScript forwarder (the slow
 * path); unicast frames between the two TAPs are carried by the reader
 * threads: sealed, sent as DATA datagrams over a UDP socket on 127.0.0.1
 * (to itself), opened and written to the other TAP, without JavaScript.
 * Then, from the outside: replayed and forged datagrams go up untouched and
 * the device gets nothing; cleared entries send frames up again; a closed
 * device takes its entries with it.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FlowCache } from '../src/flow.ts'
import { openUdp, type UdpSocket } from '../src/index.ts'
import { native } from '../src/native.ts'
import { type Direction, direction, installPair, macOf, sealedDatagram } from './flow-pair.ts'
import { canRun, copy, forwardedPair, type Received, udpEcho } from './helpers.ts'

/** Whether a frame (no virtio-net header) is unicast IPv4. */
const unicastIpv4 = (f: Uint8Array) => (f[0]! & 1) === 0 && f[12] === 0x08 && f[13] === 0x00

describe.skipIf(!canRun)('the flow cache between two TAPs in namespaces', () => {
  let pair: ReturnType<typeof forwardedPair> | undefined
  let udp: UdpSocket | undefined
  let cache: FlowCache | undefined
  const upA: Uint8Array[] = []
  const punted: Received[] = []
  let ab: Direction
  let ba: Direction
  let macA: Uint8Array
  let macB: Uint8Array
  let slotA = -1
  let slotB = -1

  const install = () => {
    for (const ok of installPair(cache!, udp!.port, [slotA, macA, ab], [slotB, macB, ba]))
      expect(ok).toBe(true)
  }

  const echo = (count: number) => udpEcho(pair!.nsA, pair!.nsB, '10.79.0.2', 7000, count)

  beforeAll(() => {
    pair = forwardedPair('fc', '10.79.0', {}, (batch) => {
      for (let i = 0; i < batch.count; i++) upA.push(batch.frame(i).slice())
    })
    macA = macOf(pair.nsA, pair.a.name)
    macB = macOf(pair.nsB, pair.b.name)
    udp = openUdp({ address: '127.0.0.1', port: 0 })
    udp.onBatch((batch) => copy(batch, punted))
    cache = new FlowCache()
    cache.attachUdp(udp)
    slotA = cache.attachDevice(pair.a)
    slotB = cache.attachDevice(pair.b)
    ab = direction(cache.cells, 0x0a0b0c0d)
    ba = direction(cache.cells, 0x01020304)
    install()
  })

  afterAll(() => {
    pair?.close()
    udp?.close()
  })

  it('carries unicast both ways on the reader threads; only broadcasts come up to JavaScript', async () => {
    const rtts = await echo(5)
    expect(rtts).toHaveLength(5)
    const s = cache!.counters()
    expect(s.sent).toBeGreaterThanOrEqual(10)
    expect(s.received).toBe(s.sent)
    // JavaScript saw A's ARP request (a broadcast), never a unicast IPv4 frame.
    expect(upA.some((f) => (f[0]! & 1) === 1)).toBe(true)
    expect(upA.filter(unicastIpv4)).toHaveLength(0)
    expect(punted).toHaveLength(0)
    // Each frame took one counter of its sender key and one of its path,
    // from the cells JavaScript also takes from: the next is JavaScript's.
    const cells = cache!.cells
    const fromA = Atomics.load(cells.words, ab.counterCell)
    expect(fromA).toBeGreaterThanOrEqual(5)
    expect(Atomics.load(cells.words, ab.hopCounterCell)).toBe(fromA)
    expect(cells.takeCounters(ab.counterCell, 1, 2 ** 23)).toBe(fromA)
    // The stats blocks count what went each way.
    const [framesSent, , framesReceived] = cells.readBlock(ab.vlanStats)
    expect(framesSent).toBe(fromA)
    expect(framesReceived).toBe(fromA)
  })

  it("reads through a device it wrote to: the kernel's echo reply goes out on the socket's reader thread", async () => {
    const { nsA, a, b } = pair!
    const before = { a: a.stats().readThroughs, b: b.stats().readThroughs, s: cache!.counters() }
    // ICMP echo: B's kernel answers inside the write(2) of the request, so
    // the reply is in B's queue when the write returns.
    const out = execFileSync(
      'ip',
      ['netns', 'exec', nsA, 'ping', '-c', '20', '-i', '0.02', '10.79.0.2'],
      {
        encoding: 'utf8',
      },
    )
    expect(out).toMatch(/20 received/)
    const s = cache!.counters()
    expect(s.sent - before.s.sent).toBeGreaterThanOrEqual(40)
    // Replies were read by the reader that wrote the request. The device's
    // own thread, woken by the same write, may win the race for each: here
    // at least 10 of 20 were read through in runs on a quiet machine, 7 in
    // a CI run.
    expect(b.stats().readThroughs - before.b).toBeGreaterThanOrEqual(1)
    // A's replies go to ping, not back into the device: nothing to read
    // through there. What the socket's thread read of A were the requests,
    // A being lent to it (next test).
    if (a.stats().readThroughs > before.a) expect(a.stats().lends).toBeGreaterThanOrEqual(1)
    expect(punted).toHaveLength(0)
  })

  it("lends an idle device to the socket's reader, whose thread reads its paced frames; a burst is carried", () => {
    const { nsA, a } = pair!
    const ping = (...args: string[]) =>
      execFileSync('ip', ['netns', 'exec', nsA, 'ping', ...args, '10.79.0.2'], { encoding: 'utf8' })
    // Paced: A, idle for 5 ms, is lent to the socket's reader, which then
    // reads every request on its thread (docs/spec/18-fast-path.md §18.4.11).
    const before = { a: a.stats(), s: cache!.counters() }
    expect(ping('-c', '10', '-i', '0.02')).toMatch(/10 received/)
    const paced = a.stats()
    expect(paced.lends).toBeGreaterThanOrEqual(1)
    expect(paced.readThroughs - before.a.readThroughs).toBeGreaterThanOrEqual(9)
    // A burst of 100 requests at once: a full batch (64) gives A back to its
    // own thread, and every echo still comes back, carried by the cache.
    expect(ping('-c', '100', '-l', '100', '-i', '0', '-W', '2')).toMatch(/100 received/)
    const burst = a.stats()
    expect(burst.framesRead - paced.framesRead).toBeGreaterThanOrEqual(100)
    expect(cache!.counters().sent - before.s.sent).toBeGreaterThanOrEqual(220)
    // Whether the burst filled a batch (and gave A back) depends on how fast
    // the socket's thread reads it: not asserted.
    expect(punted).toHaveLength(0)
  })

  it('hands a replayed datagram up untouched and writes nothing; takes a fresh one once', async () => {
    const frame = new Uint8Array(60)
    frame.set(macB, 0)
    frame.set(macA, 6)
    frame.set([0x88, 0xb5], 12) // local experimental EtherType: the kernel ignores it
    const before = cache!.counters()
    // Counter 0 of the sender key and of the path: taken by the first frame.
    const replay = sealedDatagram(ab, frame, 0, 0)
    udp!.send([replay], ['127.0.0.1'], [udp!.port])
    // Far ahead of both windows: fresh.
    const fresh = sealedDatagram(ab, frame, 100_000, 1_000_000)
    udp!.send([fresh, fresh], ['127.0.0.1', '127.0.0.1'], [udp!.port, udp!.port])
    const deadline = Date.now() + 5000
    while (punted.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    const after = cache!.counters()
    expect(punted.map((p) => Buffer.from(p.data).toString('hex'))).toEqual([
      Buffer.from(replay).toString('hex'),
      Buffer.from(fresh).toString('hex'),
    ])
    expect(after.receiveChecks - before.receiveChecks).toBe(2)
    expect(after.received - before.received).toBe(1)
    // JavaScript sees the same verdicts in the shared windows.
    expect(cache!.cells.check(ab.hopWindow, 0)).toBe('too-old')
    expect(cache!.cells.check(ab.hopWindow, 1_000_000)).toBe('replay')
    expect(cache!.cells.check(ab.kidWindow, 100_000)).toBe('replay')
    // A's sender goes on past what was forged under its keys (the test
    // forged them; a real sender's counters are its own).
    Atomics.store(cache!.cells.words, ab.counterCell, 300_000)
    Atomics.store(cache!.cells.words, ab.hopCounterCell, 1_200_000)
    punted.length = 0
  })

  it('hands up a forged datagram, one from another source, and garbage, and keeps carrying', async () => {
    const frame = new Uint8Array(60)
    frame.set(macB, 0)
    frame.set(macA, 6)
    const before = cache!.counters()
    const good = sealedDatagram(ab, frame, 200_000, 1_100_000)
    const flipped = good.slice()
    flipped[good.length - 1]! ^= 1
    const other = openUdp({ address: '127.0.0.1', port: 0 })
    try {
      other.send([sealedDatagram(ab, frame, 200_001, 1_100_001)], ['127.0.0.1'], [udp!.port])
    } finally {
      other.close()
    }
    const garbage = [new Uint8Array(0), randomBytes(8), randomBytes(69), randomBytes(1400)]
    udp!.send([flipped, ...garbage], Array(5).fill('127.0.0.1'), Array(5).fill(udp!.port))
    const deadline = Date.now() + 5000
    while (punted.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(punted).toHaveLength(6)
    expect(cache!.counters().received).toBe(before.received)
    punted.length = 0
    expect(await echo(3)).toHaveLength(3)
    expect(cache!.counters().received).toBeGreaterThan(before.received)
  })

  it('forwards as a relay: DATA on one path goes on under the next path, its sealed payload untouched, hop limit one less; hop limit 1 goes up', async () => {
    const c = cache!
    const port = udp!.port
    const cells = c.cells
    // In on path X (key kx), under a VFT this node does not hold; out on
    // path Y (key ky) to the one receiver, which is this same socket: the
    // forwarded datagram comes back here, where nothing holds its VFT, and
    // goes up to be read.
    const [x, y] = [0x0e0e0e01, 0x0e0e0e02]
    const [kx, ky] = [randomBytes(32), randomBytes(32)]
    const vft = randomBytes(16)
    const linkStats = cells.block()
    c.installHop({
      receiverIndex: x,
      key: kx,
      windowCell: cells.newWindow(),
      address: '127.0.0.1',
      port,
      linkStats,
    })
    /** A forward entry for `v` from path X to path Y. */
    const forward = (v: Uint8Array) =>
      c.installForward({
        inIndex: x,
        vft: v,
        hopKey: ky,
        receiverIndex: y,
        hopCounterCell: cells.newCounter(),
        address: '127.0.0.1',
        port,
        payloadMax: 1472,
        linkStats,
      })
    forward(vft)
    c.installHop({
      receiverIndex: y,
      key: ky,
      windowCell: cells.newWindow(),
      address: '127.0.0.1',
      port,
      linkStats: cells.block(),
    })
    const frame = new Uint8Array(60)
    frame.set(macB, 0)
    frame.set(macA, 6)
    frame.set([0x88, 0xb5], 12)
    const plaintext = new Uint8Array(61)
    plaintext.set(frame, 1)
    const counter = cells.takeCounters(ab.counterCell, 1, 2 ** 23)
    const sealed = native().flowSealPayload(
      ab.key,
      ab.salt,
      ab.kid,
      ab.hpKey,
      vft,
      counter,
      plaintext,
    )
    const before = c.counters()
    udp!.send(
      [
        native().flowSealData(kx, x, 0, 5, vft, sealed),
        native().flowSealData(kx, x, 1, 1, vft, sealed),
      ],
      ['127.0.0.1', '127.0.0.1'],
      [port, port],
    )
    const deadline = Date.now() + 5000
    while (punted.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    const after = c.counters()
    expect(after.forwarded - before.forwarded).toBe(1)
    // Hop limit 1: the table would drop it; it goes up, untouched.
    expect(after.forwardOther - before.forwardOther).toBe(1)
    expect(punted).toHaveLength(2)
    const index = (p: Received) => Buffer.from(p.data).readUInt32BE(1)
    const up = punted.find((p) => index(p) === x)
    const forwarded = punted.find((p) => index(p) === y)
    expect(
      Buffer.from(up!.data).equals(Buffer.from(native().flowSealData(kx, x, 1, 1, vft, sealed))),
    ).toBe(true)
    // The next hop's DATA: counter 0 of its path, hop limit 4, the same VFT and sealed payload.
    const opened = native().flowOpenData(ky, forwarded!.data)
    expect(opened).toMatchObject({ drop: 0, receiverIndex: y, counter: 0, hopLimit: 4 })
    expect(Buffer.from(opened.vft!).equals(vft)).toBe(true)
    expect(Buffer.from(forwarded!.data.subarray(42)).equals(Buffer.from(sealed))).toBe(true)
    const [sent, , received] = cells.readBlock(linkStats)
    expect([sent, received]).toEqual([1, 1])
    // The same frame again under a fresh hop counter (a loop): forwarded once only.
    udp!.send([native().flowSealData(kx, x, 2, 5, vft, sealed)], ['127.0.0.1'], [port])
    const until = Date.now() + 5000
    while (c.counters().forwardDuplicate === after.forwardDuplicate && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20))
    expect(c.counters().forwardDuplicate - after.forwardDuplicate).toBe(1)
    expect(c.counters().forwarded).toBe(after.forwarded)
    punted.length = 0

    // One VFT's route changes: its entry goes, another VFT's on the same path stays.
    const other = randomBytes(16)
    forward(other)
    expect(c.removeForwards(vft)).toBe(1)
    expect(c.removeForwards(vft)).toBe(0)
    const fresh = (v: Uint8Array) =>
      native().flowSealPayload(
        ab.key,
        ab.salt,
        ab.kid,
        ab.hpKey,
        v,
        cells.takeCounters(ab.counterCell, 1, 2 ** 23),
        plaintext,
      )
    const removedBefore = c.counters()
    udp!.send(
      [
        native().flowSealData(kx, x, 3, 5, vft, fresh(vft)),
        native().flowSealData(kx, x, 4, 5, other, fresh(other)),
      ],
      ['127.0.0.1', '127.0.0.1'],
      [port, port],
    )
    const by = Date.now() + 5000
    while (punted.length < 2 && Date.now() < by) await new Promise((r) => setTimeout(r, 20))
    // Up: the removed VFT's datagram on path x, and the other's forwarded on y.
    expect(c.counters().forwarded - removedBefore.forwarded).toBe(1)
    expect(punted.map(index).sort()).toEqual([x, y])
    const upAgain = punted.find((p) => index(p) === x)!
    expect(native().flowOpenData(kx, upAgain.data)).toMatchObject({ drop: 0, counter: 3 })
    punted.length = 0
  })

  it("keeps every sender's KID under one VFT: a second sender's entry leaves the first's", async () => {
    const c = cache!
    const before = c.counters()
    // B's VFT entry again, as the runtime installs it for a second sender: kept as it is.
    expect(
      c.installReceive({
        vft: ab.vft,
        device: slotB,
        mac: macB,
        hpKey: ab.hpKey,
        puntTcp: false,
        vlanStats: ab.vlanStats,
      }),
    ).toBe(true)
    expect(c.counters().entries).toBe(before.entries)
    // A second sender: its own KID, key and window under the same VFT.
    const kid2 = randomBytes(8)
    const key2 = randomBytes(32)
    const salt2 = randomBytes(12)
    const window2 = c.cells.newWindow()
    expect(c.installKid(ab.vft, kid2.readBigUInt64BE(0), key2, salt2, window2)).toBe(true)
    expect(c.counters().entries).toBe(before.entries + 1)
    // Each sender's frames are delivered on the reader thread.
    const frame = new Uint8Array(60)
    frame.set(macB, 0)
    frame.set(macA, 6)
    frame.set([0x88, 0xb5], 12)
    const plaintext = new Uint8Array(61)
    plaintext.set(frame, 1)
    const hop = c.cells.takeCounters(ab.hopCounterCell, 2, 2 ** 31 - 1)
    const first = c.cells.takeCounters(ab.counterCell, 1, 2 ** 23)
    const sealed1 = native().flowSealPayload(
      ab.key,
      ab.salt,
      ab.kid,
      ab.hpKey,
      ab.vft,
      first,
      plaintext,
    )
    const sealed2 = native().flowSealPayload(key2, salt2, kid2, ab.hpKey, ab.vft, 0, plaintext)
    udp!.send(
      [
        native().flowSealData(ab.hopKey, ab.receiverIndex, hop, 8, ab.vft, sealed1),
        native().flowSealData(ab.hopKey, ab.receiverIndex, hop + 1, 8, ab.vft, sealed2),
      ],
      ['127.0.0.1', '127.0.0.1'],
      [udp!.port, udp!.port],
    )
    const deadline = Date.now() + 5000
    while (c.counters().received < before.received + 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20))
    expect(c.counters().received - before.received).toBe(2)
    expect(punted).toHaveLength(0)
    expect(c.cells.check(window2, 0)).toBe('replay')
  })

  it('sends every frame up once its entries are cleared, and the JavaScript path carries them', async () => {
    cache!.clear()
    expect(cache!.counters().entries).toBe(0)
    const sentBefore = cache!.counters().sent
    upA.length = 0
    expect(await echo(3)).toHaveLength(3)
    expect(cache!.counters().sent).toBe(sentBefore)
    expect(upA.filter(unicastIpv4).length).toBeGreaterThanOrEqual(3)
    install()
  })

  it('gives a lent device back when it is detached: its own thread reads it again', async () => {
    const { a } = pair!
    // Idle: A is lent to the socket's reader (§18.4.11).
    await new Promise((r) => setTimeout(r, 50))
    expect(a.stats().lends).toBeGreaterThanOrEqual(1)
    cache!.detachDevice(a)
    // B's entries go too, so that both ways take the JavaScript path.
    cache!.clear()
    // Were A still lent, nobody would read it: the socket's reader no longer
    // waits on a detached device, and A's own thread would wait to be woken.
    const before = a.stats()
    upA.length = 0
    expect(await echo(3)).toHaveLength(3)
    expect(a.stats().readThroughs).toBe(before.readThroughs)
    expect(upA.filter(unicastIpv4).length).toBeGreaterThanOrEqual(3)
    // Attached again, the cache carries A's frames.
    slotA = cache!.attachDevice(a)
    install()
    const sent = cache!.counters().sent
    expect(await echo(3)).toHaveLength(3)
    expect(cache!.counters().sent - sent).toBeGreaterThanOrEqual(6)
  })

  it('drops the entries of a device that closes, before its fd does', () => {
    // Two send entries, two hop entries, two VFT entries, two KIDs.
    expect(cache!.counters().entries).toBe(8)
    // A's send entry, and the VFT entry (with its KID) that writes to A.
    pair!.a.close()
    expect(cache!.counters().entries).toBe(5)
    pair!.b.close()
    expect(cache!.counters().entries).toBe(2)
  })
})
