/**
 * Checks src/ against every vector of test/vectors/datagram.json (spec 13):
 * path keys, offers both ways, datagrams sealed (forwards) and opened
 * (backwards), and every invalid datagram and sequence for its drop reason,
 * both at the codec (DatagramOpener) and through an endpoint and a link,
 * where the reason must land in the counter spec 13 §2.3 names.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ReplayWindow } from '@peertap/crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { DGRAM_COUNTER_LIMIT, PATH_KEY_LABEL } from '../src/constants.ts'
import type { OpenedDatagram } from '../src/datagram-codec.ts'
import {
  DatagramEndpoint,
  DatagramLink,
  DatagramOpener,
  DatagramSealer,
  type DatagramSocketFactory,
  decodeOffer,
  derivePathKey,
  encodeOffer,
  type Frame,
  type Link,
  type ReceivedDatagrams,
} from '../src/index.ts'
import { PipeStream } from './datagram-pair.ts'
import { refAddress } from './datagram-reference.ts'
import { buildDatagramVectors, type JsonMessage } from './vectors/generate-datagram.ts'

const file = new URL('./vectors/datagram.json', import.meta.url)
const text = readFileSync(file, 'utf8')
const vectors: ReturnType<typeof buildDatagramVectors> = JSON.parse(text)
const { A, B } = vectors.peers
type Side = 'A' | 'B'
const peers: Record<Side, typeof A> = { A, B }

const h = (s: string): Buffer => Buffer.from(s, 'hex')
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const keyOf = (from: Side, to: Side): Uint8Array =>
  derivePathKey(h(peers[from].pathKey), h(peers[to].pathKey))

/** The opened datagram as the vectors write it. */
function fields(r: OpenedDatagram): Record<string, unknown> {
  if (r.type === 0x01) {
    const f = r.frame
    return {
      type: 'data',
      counter: r.counter,
      hopLimit: f.hopLimit,
      vft: hex(f.vft),
      sealed: hex(f.sealed),
    }
  }
  return {
    type: r.type === 0x02 ? 'ping' : 'pong',
    counter: r.counter,
    nonce: r.nonce.toString(),
    size: r.size,
  }
}
function expected(m: JsonMessage, counter: number): Record<string, unknown> {
  if (m.type === 'data') return { ...m, counter }
  return { type: m.type, counter, nonce: m.nonce, size: m.size }
}

const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) as never

/** One side's node: an endpoint with one datagram link whose path key is that side's vector key. */
async function node(side: Side, takeOffer = true) {
  const me = peers[side]
  const other = peers[side === 'A' ? 'B' : 'A']
  const sent: Buffer[] = []
  const frames: Frame[] = []
  const stream = new PipeStream('neighbour')
  stream.counters.bytesReceived = 0 // no probe budget: the link sends nothing of its own
  const spy = vi.spyOn(globalThis.crypto, 'getRandomValues').mockImplementationOnce(((
    a: Uint8Array,
  ) => {
    a.set(h(me.pathKey))
    return a
  }) as never)
  const link = new DatagramLink({
    stream: stream as unknown as Link,
    receiverIndex: me.receiverIndex,
    port: me.port,
    announce: me.addresses,
    transport: { send: (b) => sent.push(Buffer.from(b)) },
    receiver: { onFrames: (f) => frames.push(...f) },
    cost: 5,
    log,
  })
  expect(spy).toHaveBeenCalledTimes(1)
  spy.mockRestore()
  if (takeOffer) expect(link.acceptOffer(decodeOffer(h(toHexOffer(other))))).toBe(true)
  let handler: ((b: ReceivedDatagrams) => void) | undefined
  const factory: DatagramSocketFactory = () => ({
    port: me.port,
    onBatch: (fn) => {
      handler = fn
    },
    send: () => 0,
    close: () => {},
  })
  const endpoint = new DatagramEndpoint(factory)
  await endpoint.bind()
  endpoint.register(link)
  const counters = () => ({
    dropUnknownIndex: endpoint.counters.dropUnknownIndex,
    dropMalformed: link.counters.dropMalformed,
    dropUnknownType: link.counters.dropUnknownType,
    dropAuth: link.counters.dropAuth,
    dropReplay: link.counters.dropReplay,
    dropTooOld: link.counters.dropTooOld,
    dropNoKeys: link.counters.dropNoKeys,
    datagramsReceived: link.counters.datagramsReceived,
  })
  const receive = (bytes: Buffer) => {
    handler!({
      data: bytes,
      offsets: Uint32Array.of(0),
      lengths: Uint32Array.of(bytes.length),
      count: 1,
      owned: true,
      address: () => other.addresses[0] ?? '192.0.2.99',
      port: () => other.port,
    })
  }
  const close = async () => {
    await link.close()
    await endpoint.close()
  }
  opened.push(close)
  return { link, sent, frames, counters, receive }
}
const opened: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of opened.splice(0)) await close()
})

const toHexOffer = (o: typeof A): string =>
  vectors.offers.valid.find((v) => v.offer.pathKey === o.pathKey)!.hex

/** What changed in the counters from `before` to `after`: only nonzero deltas. */
function delta(before: Record<string, number>, after: Record<string, number>) {
  return Object.fromEntries(
    Object.keys(after)
      .map((k) => [k, after[k]! - before[k]!] as const)
      .filter(([, d]) => d !== 0),
  )
}

describe('datagram.json (spec 13 §8)', () => {
  it('is exactly what the reference generates (deterministic, up to date)', () => {
    expect(`${JSON.stringify(buildDatagramVectors(), null, 2)}\n`).toBe(text)
  })

  it('covers every type, both directions, every drop reason and the offer bounds', () => {
    const v = vectors.datagrams.valid
    expect(new Set(v.map((x) => x.message.type))).toEqual(new Set(['data', 'ping', 'pong']))
    expect(new Set(v.map((x) => x.from))).toEqual(new Set(['A', 'B']))
    const reasons = new Set([
      ...vectors.datagrams.invalid.map((x) => x.reason),
      ...vectors.datagrams.sequences.flatMap((s) => s.steps.map((x) => x.outcome)),
    ])
    expect([...reasons].sort()).toEqual(
      [...Object.keys(vectors.dropCounters).filter((k) => k !== 'offer'), 'accepted'].sort(),
    )
    expect(vectors.offers.invalid.length).toBeGreaterThan(10)
    expect(PATH_KEY_LABEL).toBe('PeerTap v1 datagram path key')
  })
})

describe('path keys (spec 13 §3)', () => {
  it.each(vectors.pathKeys)('$name', (v) => {
    expect(hex(derivePathKey(h(v.senderPathKey), h(v.receiverPathKey)))).toBe(v.key)
    expect(v.ikm).toBe(v.senderPathKey + v.receiverPathKey)
  })
})

describe('offers (spec 13 §4)', () => {
  const bytesOf = (addresses: string[]) =>
    addresses.map((a) => {
      const { family, bytes } = refAddress(a)
      return `${family}:${Buffer.from(bytes).toString('hex')}`
    })

  describe.each(vectors.offers.valid)('$name', (v) => {
    it('encodes forwards', () => {
      expect(hex(encodeOffer({ ...v.offer, pathKey: h(v.offer.pathKey) }))).toBe(v.hex)
    })
    it('decodes backwards', () => {
      const d = decodeOffer(h(v.hex))!
      expect({ ...d, pathKey: hex(d.pathKey), addresses: bytesOf(d.addresses) }).toEqual({
        ...v.offer,
        addresses: bytesOf(v.offer.addresses),
      })
    })
    it('refuses every truncation; a flipped bit is refused or re-encodes to the flipped bytes', () => {
      const b = h(v.hex)
      for (let n = 0; n < b.length; n++) expect(decodeOffer(b.subarray(0, n))).toBeUndefined()
      for (let bit = 0; bit < b.length * 8; bit++) {
        const f = Buffer.from(b)
        f[bit >> 3]! ^= 1 << (bit & 7)
        const d = decodeOffer(f)
        if (d !== undefined) expect(hex(encodeOffer(d))).toBe(hex(f))
      }
    })
    it('is taken by a link (B takes every offer but its own)', async () => {
      const b = await node('B', false)
      const own = v.offer.pathKey === B.pathKey
      expect(b.link.acceptOffer(decodeOffer(h(v.hex)))).toBe(!own)
      expect(b.link.counters.offersReceived).toBe(own ? 0 : 1)
      expect(b.link.counters.badOffers).toBe(own ? 1 : 0)
    })
  })

  it("is what a link with A's or B's path key, index, port and addresses offers", async () => {
    for (const side of ['A', 'B'] as const) {
      const n = await node(side, false)
      expect(hex(n.link.offerBytes())).toBe(toHexOffer(peers[side]))
    }
  })

  it.each(vectors.offers.invalid)('refuses $name ($outcome)', async (v) => {
    expect(decodeOffer(h(v.hex)) !== undefined).toBe(v.decodes)
    const b = await node('B', false)
    expect(b.link.acceptOffer(decodeOffer(h(v.hex)))).toBe(false)
    expect(v.outcome).toBe(vectors.dropCounters.offer)
    expect(b.link.counters.badOffers).toBe(1)
    expect(b.link.counters.offersReceived).toBe(0)
  })
})

describe('datagrams (spec 13 §2, §3)', () => {
  describe.each(vectors.datagrams.valid)('$name', (v) => {
    const from = v.from as Side
    const to = v.to as Side
    const key = keyOf(from, to)

    it('is under key(from -> to), to the receiver index of `to`, laid out as spec 13 §2 says', () => {
      expect(hex(key)).toBe(v.key)
      expect(v.receiverIndex).toBe(peers[to].receiverIndex)
      const isData = v.message.type === 'data'
      expect(v.hex).toBe(
        v.header + v.ciphertext + v.tag + (isData ? (v.message as { sealed: string }).sealed : ''),
      )
      expect(v.gcmNonce).toBe(`0000000000000000${v.header.slice(10, 18)}`)
    })

    it(v.receiveOnly ? 'is never sealed by a conforming sender' : 'seals forwards', () => {
      if (v.receiveOnly !== undefined) {
        const m = v.message
        if (m.type === 'ping') expect(/[^0]/.test(m.padding ?? '')).toBe(true)
        else expect(v.counter).toBe(DGRAM_COUNTER_LIMIT)
        return
      }
      const sealer = new DatagramSealer(key, v.receiverIndex)
      for (let i = 0; i < v.counter; i++) sealer.sealPong(0n, 0)
      expect(sealer.counter).toBe(v.counter)
      const m = v.message
      const out =
        m.type === 'data'
          ? sealer.sealData({ hopLimit: m.hopLimit, vft: h(m.vft), sealed: h(m.sealed) })
          : m.type === 'ping'
            ? sealer.sealPing(BigInt(m.nonce), m.size)
            : sealer.sealPong(BigInt(m.nonce), m.size)
      expect(hex(out!)).toBe(v.hex)
    })

    it('opens backwards', () => {
      const r = new DatagramOpener(key, new ReplayWindow()).open(h(v.hex))
      if (typeof r === 'string') throw new Error(r)
      expect(fields(r)).toEqual(expected(v.message, v.counter))
    })

    it('is taken by the receiving node, and a PING is answered', async () => {
      const n = await node(to)
      const before = n.counters()
      n.receive(h(v.hex))
      expect(delta(before, n.counters())).toEqual({ datagramsReceived: 1 })
      const m = v.message
      if (m.type === 'data') {
        expect(
          n.frames.map((f) => ({ hopLimit: f.hopLimit, vft: hex(f.vft), sealed: hex(f.sealed) })),
        ).toEqual([{ hopLimit: m.hopLimit, vft: m.vft, sealed: m.sealed }])
      } else {
        expect(n.frames).toEqual([])
      }
      if (m.type !== 'ping') {
        expect(n.sent).toEqual([])
        return
      }
      // The answer: the receiver's first datagram (counter 0), same nonce, the PING's length.
      expect(n.sent.length).toBe(1)
      const pong = new DatagramOpener(keyOf(to, from), new ReplayWindow()).open(n.sent[0]!)
      if (typeof pong === 'string') throw new Error(pong)
      expect(fields(pong)).toEqual({ type: 'pong', counter: 0, nonce: m.nonce, size: m.size })
      const vector = vectors.datagrams.valid.find(
        (x) =>
          x.from === to &&
          x.counter === 0 &&
          x.message.type === 'pong' &&
          x.message.nonce === m.nonce &&
          x.message.size === m.size,
      )
      if (vector !== undefined) expect(hex(n.sent[0]!)).toBe(vector.hex)
    })
  })

  it('has the answer to a PING among the vectors', () => {
    const answered = vectors.datagrams.valid.filter(
      (x) =>
        x.message.type === 'ping' &&
        vectors.datagrams.valid.some(
          (y) =>
            y.from === x.to &&
            y.counter === 0 &&
            y.message.type === 'pong' &&
            y.message.nonce === (x.message as { nonce: string }).nonce,
        ),
    )
    expect(answered.length).toBeGreaterThan(0)
  })

  describe.each(vectors.datagrams.invalid)('$name', (v) => {
    const counter = (vectors.dropCounters as Record<string, string>)[v.reason]!

    it(`is dropped as ${v.reason} by the codec`, () => {
      const d = h(v.hex)
      if (v.reason === 'unknown-index') {
        // The endpoint's check: no header, or an index no link holds (the codec never sees it).
        expect(d.length < 9 || d.readUInt32BE(1) !== B.receiverIndex).toBe(true)
        return
      }
      expect(new DatagramOpener(keyOf('A', 'B'), new ReplayWindow()).open(d)).toBe(v.reason)
    })

    it(`is counted in ${counter} alone and changes nothing`, async () => {
      const b = await node('B')
      const before = b.counters()
      b.receive(h(v.hex))
      expect(delta(before, b.counters())).toEqual({ [counter]: 1 })
      expect(b.frames).toEqual([])
      expect(b.sent).toEqual([])
    })
  })

  describe.each(vectors.datagrams.sequences)('sequence: $name', (s) => {
    it('gives every outcome at the codec, the window updated only on success', () => {
      const window = new ReplayWindow()
      const opener = new DatagramOpener(keyOf('A', 'B'), window)
      for (const step of s.steps) {
        const r = opener.open(h(step.hex))
        if (step.outcome === 'accepted') {
          if (typeof r === 'string') throw new Error(`${step.note}: ${r}`)
          expect(fields(r), step.note).toEqual(step.opened)
          window.update(r.counter)
        } else {
          expect(r, step.note).toBe(step.outcome)
        }
      }
    })

    it('counts every outcome at the link', async () => {
      const b = await node('B')
      for (const step of s.steps) {
        const before = b.counters()
        b.receive(h(step.hex))
        const counter =
          step.outcome === 'accepted'
            ? 'datagramsReceived'
            : (vectors.dropCounters as Record<string, string>)[step.outcome]!
        expect(delta(before, b.counters()), step.note).toEqual({ [counter]: 1 })
      }
    })
  })

  it('drops a datagram that comes before the neighbour’s offer (dropNoKeys)', async () => {
    const b = await node('B', false)
    const before = b.counters()
    b.receive(h(vectors.datagrams.valid[0]!.hex))
    expect(delta(before, b.counters())).toEqual({ dropNoKeys: 1 })
  })
})

describe('spec 13 §8', () => {
  const spec = readFileSync(
    new URL('../../../docs/spec/13-datagram-link.md', import.meta.url),
    'utf8',
  )
  const section = spec.slice(spec.indexOf('## 8. Test vectors'))

  it('quotes only values of the vectors', () => {
    const blocks = [...section.matchAll(/```\n([\s\S]*?)```/g)].map((m) => m[1]!)
    const tokens = blocks.flatMap((b) => b.match(/\b[0-9a-f]{8,}\b/g) ?? [])
    expect(tokens.length).toBeGreaterThan(20)
    for (const t of tokens) expect(text, t).toContain(t)
  })

  it('names the worked example that is in the vectors', () => {
    const worked = vectors.datagrams.valid.find((v) => v.name.includes('spec 13 §8.3'))!
    expect(worked.counter).toBe(300)
    expect(section).toContain(worked.tag)
    expect(section).toContain(worked.ciphertext)
  })
})

describe('independent cross-check (test/vectors/crosscheck.py)', () => {
  const ready =
    spawnSync('python3', ['-c', 'import cryptography']).status === 0 &&
    spawnSync('openssl', ['version']).status === 0
  it.runIf(ready)('agrees on every value (pyca/cryptography, OpenSSL CLI)', () => {
    const script = fileURLToPath(new URL('./vectors/crosscheck.py', import.meta.url))
    const r = spawnSync('python3', [script], { encoding: 'utf8' })
    expect(r.stdout).toMatch(/^0 failures$/m)
    expect(r.status).toBe(0)
  })
})
