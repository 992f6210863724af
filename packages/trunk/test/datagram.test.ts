import { createCipheriv } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { nodeAes, ReplayWindow } from '@peertap/crypto'
import { opensslAes, openUdp } from '@peertap/tap'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type DatagramLink,
  DatagramOpener,
  DatagramSealer,
  type DatagramSocketFactory,
  DGRAM_DATA,
  DGRAM_DATA_OVERHEAD,
  DGRAM_HEADER_LENGTH,
  DGRAM_PING,
  DGRAM_PONG,
  DGRAM_SAFE_MTU,
  decodeOffer,
  derivePathKey,
  encodeOffer,
  type Frame,
  type Trunk,
} from '../src/index.ts'
import { pair } from './datagram-pair.ts'
import { makeFrames, startTrunk, until } from './helpers.ts'

const key = (b: number) => new Uint8Array(32).fill(b)

describe('datagram codec (spec 13 §2-§4)', () => {
  it('encodes and decodes offers, and refuses malformed ones', () => {
    const offer = {
      receiverIndex: 0xdeadbeef,
      pathKey: key(7),
      port: 7402,
      addresses: ['198.18.0.2', 'fd00:5054::2', '::1'],
    }
    const bytes = encodeOffer(offer)
    expect(bytes.length).toBe(1 + 4 + 32 + 2 + 1 + 5 + 17 + 17)
    expect(bytes[0]).toBe(1)
    const back = decodeOffer(bytes)!
    expect(back.receiverIndex).toBe(0xdeadbeef)
    expect(back.port).toBe(7402)
    expect(Buffer.from(back.pathKey)).toEqual(Buffer.from(key(7)))
    expect(back.addresses).toEqual(['198.18.0.2', 'fd00:5054:0:0:0:0:0:2', '0:0:0:0:0:0:0:1'])
    for (let n = 0; n < bytes.length; n++) expect(decodeOffer(bytes.subarray(0, n))).toBeUndefined()
    expect(decodeOffer(Uint8Array.from([...bytes, 0]))).toBeUndefined()
    const v2 = bytes.slice()
    v2[0] = 2
    expect(decodeOffer(v2)).toBeUndefined()
    const badFamily = bytes.slice()
    badFamily[40] = 5
    expect(decodeOffer(badFamily)).toBeUndefined()
  })

  it('derives a different key per direction', () => {
    const ab = derivePathKey(key(1), key(2))
    const ba = derivePathKey(key(2), key(1))
    expect(ab.length).toBe(32)
    expect(Buffer.from(ab).equals(Buffer.from(ba))).toBe(false)
    expect(Buffer.from(derivePathKey(key(1), key(2))).equals(Buffer.from(ab))).toBe(true)
  })

  it('seals DATA forwards and opens it backwards; hides the VFT; refuses tampering and replays', () => {
    const k = derivePathKey(key(1), key(2))
    const sealer = new DatagramSealer(k, 0x01020304)
    const window = new ReplayWindow()
    const opener = new DatagramOpener(k, window)
    const [frame] = makeFrames(1, 100, 9) as [Frame]
    frame.vft.fill(0xab)
    const d = sealer.sealData(frame)!
    expect(d.length).toBe(DGRAM_DATA_OVERHEAD + 100)
    expect(d[0]).toBe(DGRAM_DATA)
    expect(d.readUInt32BE(1)).toBe(0x01020304)
    expect(d.readUInt32BE(5)).toBe(0)
    // The VFT is not on the wire in clear.
    expect(Buffer.from(d).includes(Buffer.alloc(16, 0xab))).toBe(false)
    const opened = opener.open(d)
    if (typeof opened === 'string' || opened.type !== DGRAM_DATA) throw new Error(String(opened))
    expect(opened.frame.hopLimit).toBe(8)
    expect(Buffer.from(opened.frame.vft)).toEqual(Buffer.alloc(16, 0xab))
    expect(Buffer.from(opened.frame.sealed)).toEqual(Buffer.from(frame.sealed))
    // Every single flipped bit is refused (header, protected hop+VFT, tag, sealed).
    for (let i = 0; i < d.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const t = Buffer.from(d)
        t[i]! ^= bit
        expect(typeof opener.open(t), `byte ${i}`).toBe('string')
      }
    }
    // Not yet accepted: it opens again; once accepted, it is a replay.
    expect(typeof opener.open(d)).toBe('object')
    window.update(0)
    expect(opener.open(d)).toBe('replay')
    // Under the other direction's key it does not open.
    expect(new DatagramOpener(derivePathKey(key(2), key(1)), new ReplayWindow()).open(d)).toBe(
      'auth',
    )
  })

  it('makes the same datagrams on node:crypto and on the addon, as spec 13 §3 lays them out', () => {
    const k = derivePathKey(key(5), key(6))
    const [frame] = makeFrames(1, 80, 3) as [Frame]
    const viaNode = new DatagramSealer(k, 77, nodeAes)
    const viaAddon = new DatagramSealer(k, 77, opensslAes())
    for (let i = 0; i < 3; i++) {
      const d = viaNode.sealData(frame)!
      expect(d.toString('hex')).toBe(viaAddon.sealData(frame)!.toString('hex'))
      // GCM(hop ‖ VFT) ‖ tag ‖ sealed, aad = header ‖ sealed, nonce = 0^8 ‖ counter.
      const nonce = Buffer.alloc(12)
      nonce.writeUInt32BE(i, 8)
      const c = createCipheriv('aes-256-gcm', k, nonce)
      c.setAAD(Buffer.concat([d.subarray(0, DGRAM_HEADER_LENGTH), frame.sealed]))
      const hv = Buffer.concat([Buffer.from([frame.hopLimit]), frame.vft])
      const body = Buffer.concat([c.update(hv), c.final(), c.getAuthTag()])
      expect(d.subarray(DGRAM_HEADER_LENGTH, DGRAM_DATA_OVERHEAD).toString('hex')).toBe(
        body.toString('hex'),
      )
      // Each opens the other's.
      const a = new DatagramOpener(k, new ReplayWindow(), nodeAes).open(d)
      const b = new DatagramOpener(k, new ReplayWindow(), opensslAes()).open(d)
      expect(a).toEqual(b)
      expect(typeof a).toBe('object')
    }
    const pings = [viaNode.sealPing(5n, 200)!, viaAddon.sealPing(5n, 200)!]
    expect(pings[0]!.toString('hex')).toBe(pings[1]!.toString('hex'))
  })

  it('seals PING and PONG; a PING carries its padding and the PONG the size it saw', () => {
    const k = derivePathKey(key(3), key(4))
    const sealer = new DatagramSealer(k, 9)
    const opener = new DatagramOpener(k, new ReplayWindow())
    const ping = sealer.sealPing(123n, 1472)!
    expect(ping.length).toBe(1472)
    const p = opener.open(ping)
    expect(p).toMatchObject({ type: DGRAM_PING, counter: 0, nonce: 123n, size: 1472 })
    const pong = sealer.sealPong(123n, 1472)!
    expect(opener.open(pong)).toMatchObject({
      type: DGRAM_PONG,
      counter: 1,
      nonce: 123n,
      size: 1472,
    })
    expect(opener.open(pong.subarray(0, pong.length - 1))).toBe('malformed')
    expect(opener.open(Buffer.alloc(DGRAM_HEADER_LENGTH + 16))).toBe('unknown-type')
  })
})

describe('datagram link state (in-memory UDP pipe)', () => {
  const open: DatagramLink[] = []
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close()
  })

  it('sends nothing on the path before a PING/PONG validates it', async () => {
    const { a, b, cut, streams } = pair()
    open.push(a, b)
    cut.ab = true
    cut.ba = true
    a.sendOffer()
    b.sendOffer()
    expect(a.sendFrames(makeFrames(3, 64))).toBe(3)
    expect(streams[0]!.frames.length).toBe(3)
    await new Promise((r) => setTimeout(r, 400))
    expect(a.state).toBe('probing')
    expect(a.status).toBe('down')
    expect(a.counters.framesSent).toBe(0)
    cut.ab = false
    cut.ba = false
    await until(() => a.status === 'up' && b.status === 'up', 2000, 'path up')
    expect(a.pathAddress).toBe('10.0.0.2:7001')
  })

  it('carries frames that fit; larger ones go on the stream link', async () => {
    const { a, b, got, streams } = pair()
    open.push(a, b)
    a.sendOffer()
    b.sendOffer()
    await until(() => a.status === 'up' && b.status === 'up', 2000, 'path up')
    expect(a.mtu).toBeGreaterThanOrEqual(DGRAM_SAFE_MTU)
    const frames = [...makeFrames(10, 200, 1), ...makeFrames(2, a.mtu + 1, 2)]
    expect(a.sendFrames(frames)).toBe(12)
    await until(() => got[1]!.length === 10, 2000, 'frames')
    expect(streams[0]!.frames.length).toBe(2)
    expect(a.counters.framesOnStreamTooLarge).toBe(2)
    expect(Buffer.from(got[1]![3]!.sealed)).toEqual(Buffer.from(frames[3]!.sealed))
    // The padded probe raises the path MTU to 1472 - 42.
    await until(() => a.mtu === 1472 - DGRAM_DATA_OVERHEAD, 3000, 'MTU probe')
  })

  it('drops forged and replayed datagrams, counts them, and changes no state', async () => {
    const { a, b, got } = pair()
    open.push(a, b)
    a.sendOffer()
    b.sendOffer()
    await until(() => a.status === 'up' && b.status === 'up', 2000, 'path up')
    // Record what reaches b, as an on-path observer would.
    const wire: Buffer[] = []
    const receive = b.receive.bind(b)
    b.receive = (buf, address, port) => {
      wire.push(Buffer.from(buf))
      receive(buf, address, port)
    }
    expect(a.sendFrames(makeFrames(1, 80))).toBe(1)
    await until(() => got[1]!.length === 1, 2000, 'frame')
    const before = { ...b.counters }
    const path = b.pathAddress
    // Forged: b's receiver index, random rest, each type, from another address.
    for (const type of [DGRAM_DATA, DGRAM_PING, DGRAM_PONG]) {
      const forged = Buffer.alloc(type === DGRAM_PONG ? DGRAM_HEADER_LENGTH + 26 : 200)
      crypto.getRandomValues(forged)
      forged[0] = type
      forged.writeUInt32BE(101, 1)
      forged.writeUInt32BE(1_000_000, 5)
      receive(forged, '10.0.0.66', 9)
    }
    expect(b.counters.dropAuth).toBe(before.dropAuth + 3)
    // Replayed: the real DATA datagram again.
    const data = wire.find((x) => x[0] === DGRAM_DATA)!
    receive(data, '10.0.0.1', 7000)
    receive(data, '10.0.0.66', 9)
    await new Promise((r) => setImmediate(r))
    expect(b.counters.dropReplay).toBe(before.dropReplay + 2)
    // Nothing moved: no frame delivered, nothing answered, same path, still up.
    expect(got[1]!.length).toBe(1)
    expect(b.counters.datagramsReceived).toBe(before.datagramsReceived)
    expect(b.counters.datagramsSent).toBe(before.datagramsSent)
    expect(b.counters.pathPingsReceived).toBe(before.pathPingsReceived)
    expect(b.status).toBe('up')
    expect(b.pathAddress).toBe(path)
  })

  it('falls back to the stream link within one second of losing the path, and recovers', async () => {
    const { a, b, cut, got, streams } = pair()
    open.push(a, b)
    a.sendOffer()
    b.sendOffer()
    await until(() => a.status === 'up' && b.status === 'up', 2000, 'path up')
    cut.ab = true
    cut.ba = true
    const lostAt = performance.now()
    // Keep sending, as a TAP would.
    let sentAfterLoss = 0
    while (a.status === 'up') {
      a.sendFrames(makeFrames(1, 100))
      sentAfterLoss++
      await new Promise((r) => setTimeout(r, 10))
      if (performance.now() - lostAt > 3000) break
    }
    const fellBackMs = performance.now() - lostAt
    expect(a.status).toBe('down')
    expect(fellBackMs).toBeLessThan(1000)
    expect(a.counters.pathLosses).toBe(1)
    const onStream = streams[0]!.frames.length
    a.sendFrames(makeFrames(4, 100))
    expect(streams[0]!.frames.length).toBe(onStream + 4)
    expect(sentAfterLoss).toBeGreaterThan(0)
    cut.ab = false
    cut.ba = false
    await until(() => a.status === 'up', 2500, 'path back')
    const n = got[1]!.length
    a.sendFrames(makeFrames(3, 100))
    await until(() => got[1]!.length === n + 3, 2000, 'frames after recovery')
  })
})

/** The two socket kinds behind the endpoint: node:dgram, and the tap addon's recvmmsg/sendmmsg one. */
const SOCKETS: Array<[string, DatagramSocketFactory | undefined]> = [
  ['node:dgram', undefined],
  ['batched (recvmmsg/sendmmsg)', (b) => openUdp({ address: b.address, port: b.port })],
]

describe.each(SOCKETS)('datagram link between two trunks on 127.0.0.1 over %s', (_, socket) => {
  const nodes: Trunk[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
  })

  it('validates the path, prefers it, carries frames both ways, and counts forged UDP', async () => {
    const a = await startTrunk('tcp', { datagram: socket === undefined ? true : { socket } }, nodes)
    const b = await startTrunk('tcp', { datagram: socket === undefined ? true : { socket } }, nodes)
    const got: { a: Frame[]; b: Frame[]; kinds: string[] } = { a: [], b: [], kinds: [] }
    a.setReceiver({
      onFrames: (f, l) => {
        got.a.push(...f)
        got.kinds.push(l.kind)
      },
    })
    b.setReceiver({ onFrames: (f) => got.b.push(...f) })
    const link = await b.dial(a.getMultiaddrs()[0]!)
    expect(link.hello.remoteDatagramMtu).toBe(DGRAM_SAFE_MTU)
    const aId = a.peerId.toString()
    const bId = b.peerId.toString()
    await until(() => b.getLink(aId)?.kind === 'datagram', 3000, 'b prefers datagram')
    await until(() => a.getLink(bId)?.kind === 'datagram', 3000, 'a prefers datagram')
    expect(b.links().map((l) => l.kind)).toEqual(['datagram'])
    // The 50 datagrams of one sendFrames leave in one socket send (one sendmmsg).
    const sentBefore = b.protocol.datagramCounters!.batchesSent
    b.getLink(aId)!.sendFrames(makeFrames(50, 1000, 1))
    await Promise.resolve()
    expect(b.protocol.datagramCounters!.batchesSent - sentBefore).toBe(1)
    a.getLink(bId)!.sendFrames(makeFrames(20, 300, 2))
    // One frame too large for the path: the datagram link hands it to the stream link.
    b.getLink(aId)!.sendFrames(makeFrames(1, 4000, 3))
    await until(() => got.a.length === 51 && got.b.length === 20, 3000, 'frames')
    expect(got.kinds).toContain('datagram')
    expect(got.kinds).toContain('stream')
    const dl = b.getDatagramLink(aId)!
    expect(dl.counters.framesSent).toBe(50)
    expect(dl.counters.framesOnStreamTooLarge).toBe(1)
    // Forged datagrams at a's UDP port: unknown index, and right index with a bad tag.
    const ad = a.getDatagramLink(bId)!
    const s = createSocket('udp4')
    const send = (buf: Buffer) =>
      new Promise<void>((r) => s.send(buf, a.protocol.datagramPort, '127.0.0.1', () => r()))
    const forged = Buffer.alloc(200)
    forged[0] = DGRAM_DATA
    forged.writeUInt32BE(ad.receiverIndex, 1)
    forged.writeUInt32BE(1_000_000, 5)
    await send(forged)
    const unknown = Buffer.from(forged)
    unknown.writeUInt32BE((ad.receiverIndex + 1) >>> 0, 1)
    await send(unknown)
    s.close()
    await until(
      () => ad.counters.dropAuth === 1 && a.protocol.datagramCounters!.dropUnknownIndex >= 1,
      2000,
      'forged counted',
    )
    expect(ad.status).toBe('up')
  })

  it('keeps the stream link when the neighbour has no datagram link', async () => {
    const a = await startTrunk('tcp', { datagram: socket === undefined ? true : { socket } }, nodes)
    const b = await startTrunk('tcp', {}, nodes)
    const link = await b.dial(a.getMultiaddrs()[0]!)
    expect(link.hello.remoteDatagramMtu).toBe(DGRAM_SAFE_MTU)
    await new Promise((r) => setTimeout(r, 300))
    expect(a.getLink(b.peerId.toString())?.kind).toBe('stream')
    expect(a.getDatagramLink(b.peerId.toString())).toBeUndefined()
  })
})
