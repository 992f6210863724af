/**
 * A slow, obviously-correct reference encoder of the trunk messages, written
 * from docs/spec/08-trunk.md alone with plain byte arrays (no DataView, no
 * size precomputation), to generate and cross-check the vectors.
 */

export type JsonMessage =
  | {
      type: 'hello'
      versionMin: number
      versionMax: number
      role: 'node' | 'relay'
      capabilities: number
      maxMessageSize: number
      datagramMtu: number
      timestamp: number
      extensions?: string
    }
  | { type: 'frame'; hopLimit: number; vft: string; sealed: string }
  | {
      type: 'sub' | 'unsub'
      ttl: number
      entries: { vft: string; flags: number }[]
      proof?: string
    }
  | { type: 'batch'; messages: JsonMessage[] }
  | { type: 'ping'; nonce: string; sentAt: number; hops: string[] }
  | { type: 'pong'; nonce: string; pingSentAt: number; repliedAt: number; hops: string[] }
  | { type: 'control'; channel: number; payload: string }

const hex = (s: string): number[] => [...Buffer.from(s, 'hex')]
const be = (n: number | bigint, bytes: number): number[] => {
  let v = BigInt(n)
  const out: number[] = []
  for (let i = 0; i < bytes; i++) {
    out.unshift(Number(v & 0xffn))
    v >>= 8n
  }
  return out
}
export const varint = (n: number): number[] => {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b += 128
    out.push(b)
  } while (n > 0)
  return out
}

const TYPES = { hello: 1, frame: 2, sub: 3, unsub: 4, batch: 5, ping: 6, pong: 7, control: 8 }

/** type ‖ body of a message. */
export function refBody(m: JsonMessage): number[] {
  switch (m.type) {
    case 'hello': {
      const ext = hex(m.extensions ?? '')
      return [
        TYPES.hello,
        ...be(m.versionMin, 2),
        ...be(m.versionMax, 2),
        m.role === 'relay' ? 1 : 0,
        ...be(m.capabilities, 4),
        ...be(m.maxMessageSize, 4),
        ...be(m.datagramMtu, 2),
        ...be(m.timestamp, 8),
        ...be(ext.length, 2),
        ...ext,
      ]
    }
    case 'frame':
      return [TYPES.frame, m.hopLimit, ...hex(m.vft), ...hex(m.sealed)]
    case 'sub':
    case 'unsub': {
      const proof = hex(m.proof ?? '')
      return [
        TYPES[m.type],
        ...be(m.ttl, 2),
        ...be(m.entries.length, 2),
        ...m.entries.flatMap((e) => [...hex(e.vft), e.flags]),
        ...be(proof.length, 2),
        ...proof,
      ]
    }
    case 'batch':
      return [TYPES.batch, ...be(m.messages.length, 2), ...m.messages.flatMap((x) => refFramed(x))]
    case 'ping':
      return [TYPES.ping, ...be(BigInt(m.nonce), 8), ...be(m.sentAt, 8), ...hops(m.hops)]
    case 'pong':
      return [
        TYPES.pong,
        ...be(BigInt(m.nonce), 8),
        ...be(m.pingSentAt, 8),
        ...be(m.repliedAt, 8),
        ...hops(m.hops),
      ]
    case 'control':
      return [TYPES.control, ...be(m.channel, 2), ...hex(m.payload)]
  }
}

function hops(list: string[]): number[] {
  return [list.length, ...list.flatMap((h) => [hex(h).length, ...hex(h)])]
}

/** varint length ‖ type ‖ body. */
export function refFramed(m: JsonMessage): number[] {
  const body = refBody(m)
  return [...varint(body.length), ...body]
}
