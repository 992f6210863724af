import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  decodeFramedMessage,
  encodeFrameBatches,
  encodeMessage,
  type Frame,
  MAX_BATCH_COUNT,
  MESSAGE_LENGTH_LIMIT,
  type Message,
  messageSize,
  negotiateVersion,
  TrunkError,
  WireError,
} from '../src/index.ts'
import { MessageReader } from '../src/receive.ts'
import { type JsonMessage, refFramed } from './reference.ts'

interface Vectors {
  valid: { name: string; message: JsonMessage; hex: string }[]
  invalid: { name: string; hex: string; reason: string }[]
}
const vectors: Vectors = JSON.parse(
  readFileSync(new URL('./vectors/trunk.json', import.meta.url), 'utf8'),
)

const h = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function toMessage(m: JsonMessage): Message {
  switch (m.type) {
    case 'hello': {
      const { type, extensions, ...rest } = m
      return { type, hello: { ...rest, ...(extensions ? { extensions: h(extensions) } : {}) } }
    }
    case 'frame':
      return { type: 'frame', frame: { hopLimit: m.hopLimit, vft: h(m.vft), sealed: h(m.sealed) } }
    case 'sub':
    case 'unsub':
      return {
        type: m.type,
        sub: {
          ttl: m.ttl,
          entries: m.entries.map((e) => ({ vft: h(e.vft), flags: e.flags })),
          ...(m.proof ? { proof: h(m.proof) } : {}),
        },
      }
    case 'batch':
      return { type: 'batch', messages: m.messages.map(toMessage) }
    case 'ping':
      return {
        type: 'ping',
        ping: { nonce: BigInt(m.nonce), sentAt: m.sentAt, hops: m.hops.map(h) },
      }
    case 'pong':
      return {
        type: 'pong',
        pong: {
          nonce: BigInt(m.nonce),
          pingSentAt: m.pingSentAt,
          repliedAt: m.repliedAt,
          hops: m.hops.map(h),
        },
      }
    case 'control':
      return { type: 'control', control: { channel: m.channel, payload: h(m.payload) } }
  }
}

/** Uint8Arrays as hex and bigints as strings, so structures compare by value. */
function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return toHex(x)
  if (typeof x === 'bigint') return x.toString()
  if (Array.isArray(x)) return x.map(plain)
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]))
  }
  return x
}

function reasonOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof WireError) return err.reason
    throw err
  }
  return 'accepted'
}

describe('vectors (test/vectors/trunk.json)', () => {
  it('has vectors of every type', () => {
    const types = new Set(vectors.valid.map((v) => v.message.type))
    expect([...types].sort()).toEqual(
      ['batch', 'control', 'frame', 'hello', 'ping', 'pong', 'sub', 'unsub'].sort(),
    )
  })

  describe.each(vectors.valid)('$name', (v) => {
    it('reference encoder reproduces the hex', () => {
      expect(Buffer.from(refFramed(v.message)).toString('hex')).toBe(v.hex)
    })
    it('encodes forwards', () => {
      const msg = toMessage(v.message)
      expect(toHex(encodeMessage(msg))).toBe(v.hex)
      expect(messageSize(msg) + (messageSize(msg) < 128 ? 1 : 2)).toBe(v.hex.length / 2)
    })
    it('decodes backwards', () => {
      expect(plain(decodeFramedMessage(h(v.hex)))).toEqual(plain(toMessage(v.message)))
    })
    it('rejects every truncation', () => {
      const bytes = h(v.hex)
      for (let n = 0; n < bytes.length; n++) {
        expect(reasonOf(() => decodeFramedMessage(bytes.subarray(0, n)))).not.toBe('accepted')
      }
    })
    it('never mis-parses a flipped bit: it is refused or re-encodes to the flipped bytes', () => {
      const bytes = h(v.hex)
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const flipped = bytes.slice()
        flipped[bit >> 3]! ^= 1 << (bit & 7)
        let decoded: Message | undefined
        try {
          decoded = decodeFramedMessage(flipped)
        } catch (err) {
          expect(err).toBeInstanceOf(WireError)
          continue
        }
        expect(toHex(encodeMessage(decoded))).toBe(toHex(flipped))
      }
    })
  })

  it.each(vectors.invalid)('refuses $name with $reason', (v) => {
    expect(reasonOf(() => decodeFramedMessage(h(v.hex)))).toBe(v.reason)
  })
})

describe('encoder', () => {
  const vft = new Uint8Array(16)
  it('refuses what no receiver accepts', () => {
    const bad: Message[] = [
      { type: 'frame', frame: { hopLimit: 256, vft, sealed: new Uint8Array(27) } },
      {
        type: 'frame',
        frame: { hopLimit: 1, vft: new Uint8Array(15), sealed: new Uint8Array(27) },
      },
      { type: 'frame', frame: { hopLimit: 1, vft, sealed: new Uint8Array(26) } },
      { type: 'frame', frame: { hopLimit: 1, vft, sealed: new Uint8Array(MESSAGE_LENGTH_LIMIT) } },
      { type: 'sub', sub: { ttl: 0, entries: [{ vft, flags: 1 }] } },
      { type: 'sub', sub: { ttl: 1, entries: [] } },
      { type: 'sub', sub: { ttl: 1, entries: Array(1025).fill({ vft, flags: 1 }) } },
      { type: 'batch', messages: [{ type: 'batch', messages: [] }] },
      { type: 'ping', ping: { nonce: 1n, sentAt: 1, hops: Array(17).fill(new Uint8Array(38)) } },
      { type: 'control', control: { channel: 65536, payload: new Uint8Array(0) } },
    ]
    for (const m of bad) expect(() => encodeMessage(m)).toThrow(TrunkError)
  })

  it('packs frames into BATCHes within the limit, single frames as FRAME', () => {
    let seed = 7
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    for (const limit of [2048, 9100, MESSAGE_LENGTH_LIMIT]) {
      const frames: Frame[] = Array.from({ length: 1500 }, (_, i) => ({
        hopLimit: i & 0xff,
        vft: new Uint8Array(16).fill(i & 0xff),
        sealed: new Uint8Array(27 + rand(limit - 18 - 27)).fill(i & 0xff),
      }))
      const buf = encodeFrameBatches(frames, 0, frames.length, limit)
      const out: Frame[] = []
      new MessageReader(limit, (b, s, e) => {
        const m = decodeFramedMessage(
          b.subarray(s - (e - s < 128 ? 1 : e - s < 16384 ? 2 : 3), e),
          limit,
        )
        if (m.type === 'frame') out.push(m.frame)
        else if (m.type === 'batch') {
          expect(m.messages.length).toBeGreaterThan(1)
          expect(m.messages.length).toBeLessThanOrEqual(MAX_BATCH_COUNT)
          for (const x of m.messages) if (x.type === 'frame') out.push(x.frame)
        } else throw new Error(`unexpected ${m.type}`)
        expect(e - s).toBeLessThanOrEqual(limit)
      }).push(buf)
      expect(plain(out)).toEqual(plain(frames))
    }
  })
})

describe('MessageReader', () => {
  const all = vectors.valid.map((v) => h(v.hex))
  const stream = Buffer.concat(all)

  it('splits messages however the bytes are chunked', () => {
    for (const chunk of [1, 2, 3, 7, 64, 1000, stream.length]) {
      const seen: string[] = []
      const reader = new MessageReader(MESSAGE_LENGTH_LIMIT, (b, s, e) => {
        seen.push(toHex(b.subarray(s, e)))
      })
      for (let o = 0; o < stream.length; o += chunk) reader.push(stream.subarray(o, o + chunk))
      expect(reader.buffered).toBe(0)
      expect(seen.length).toBe(all.length)
      expect(
        seen.map((x) => plain(decodeFramedMessage(h(Buffer.from(refLen(x)).toString('hex'))))),
      ).toEqual(all.map((b) => plain(decodeFramedMessage(b))))
    }
  })

  it('refuses an oversized length before buffering the message', () => {
    const reader = new MessageReader(4096, () => {})
    expect(reasonOf(() => reader.push(Uint8Array.of(0x81, 0x20)))).toBe('oversized')
    const split = new MessageReader(4096, () => {})
    split.push(Uint8Array.of(0x81))
    expect(reasonOf(() => split.push(Uint8Array.of(0x20)))).toBe('oversized')
  })

  it('holds only the unfinished tail', () => {
    const reader = new MessageReader(MESSAGE_LENGTH_LIMIT, () => {})
    const one = all[4]!
    reader.push(one.subarray(0, 10))
    expect(reader.buffered).toBe(10)
    reader.push(one.subarray(10))
    expect(reader.buffered).toBe(0)
  })
})

function refLen(hexBody: string): number[] {
  const body = [...Buffer.from(hexBody, 'hex')]
  const len: number[] = []
  let n = body.length
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n > 0) b |= 0x80
    len.push(b)
  } while (n > 0)
  return [...len, ...body]
}

describe('version negotiation', () => {
  it('picks the highest common version', () => {
    expect(
      negotiateVersion({ versionMin: 1, versionMax: 3 }, { versionMin: 2, versionMax: 5 }),
    ).toBe(3)
    expect(
      negotiateVersion({ versionMin: 1, versionMax: 1 }, { versionMin: 1, versionMax: 1 }),
    ).toBe(1)
    expect(
      negotiateVersion({ versionMin: 4, versionMax: 6 }, { versionMin: 1, versionMax: 9 }),
    ).toBe(6)
  })
  it('finds none in disjoint ranges', () => {
    expect(
      negotiateVersion({ versionMin: 1, versionMax: 1 }, { versionMin: 2, versionMax: 3 }),
    ).toBe(undefined)
    expect(
      negotiateVersion({ versionMin: 3, versionMax: 4 }, { versionMin: 1, versionMax: 2 }),
    ).toBe(undefined)
  })
})
