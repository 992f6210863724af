/**
 * Generates test/vectors/trunk.json from the reference encoder
 * (test/reference.ts), which follows docs/spec/08-trunk.md byte by byte.
 * Run: node --conditions=peertap:source test/vectors/generate.ts
 */
import { writeFileSync } from 'node:fs'
import { type JsonMessage, refBody, refFramed, varint } from '../reference.ts'

const vft = (b: number): string => Buffer.alloc(16, b).toString('hex')
const bytes = (n: number, start = 0): string =>
  Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff)).toString('hex')
// An Ed25519 PeerId's multihash: identity multihash (0x00, 0x24) of the protobuf public key.
const peer = (b: number): string => `002408011220${Buffer.alloc(32, b).toString('hex')}`
const hexOf = (a: number[]): string => Buffer.from(a).toString('hex')

const frame = (hop: number, v: number, n: number): JsonMessage => ({
  type: 'frame',
  hopLimit: hop,
  vft: vft(v),
  sealed: bytes(n, v),
})

const valid: { name: string; message: JsonMessage }[] = [
  {
    name: 'hello node v1',
    message: {
      type: 'hello',
      versionMin: 1,
      versionMax: 1,
      role: 'node',
      capabilities: 1,
      maxMessageSize: 66_560,
      datagramMtu: 0,
      timestamp: 1_767_225_600_000,
    },
  },
  {
    name: 'hello relay v1..3 with extensions',
    message: {
      type: 'hello',
      versionMin: 1,
      versionMax: 3,
      role: 'relay',
      capabilities: 3,
      maxMessageSize: 4096,
      datagramMtu: 1380,
      timestamp: 1_767_225_600_123,
      extensions: 'cafe',
    },
  },
  { name: 'frame, shortest sealed (27 bytes)', message: frame(8, 0xa1, 27) },
  { name: 'frame, 64-byte sealed, hop limit 0', message: frame(0, 0xa2, 64) },
  { name: 'frame, 1400-byte sealed', message: frame(255, 0xa3, 1400) },
  {
    name: 'sub, two entries, no proof',
    message: {
      type: 'sub',
      ttl: 1200,
      entries: [
        { vft: vft(0x11), flags: 1 },
        { vft: vft(0x22), flags: 3 },
      ],
    },
  },
  {
    name: 'sub with proof',
    message: {
      type: 'sub',
      ttl: 65535,
      entries: [{ vft: vft(0x33), flags: 2 }],
      proof: bytes(100),
    },
  },
  { name: 'unsub', message: { type: 'unsub', ttl: 0, entries: [{ vft: vft(0x44), flags: 1 }] } },
  {
    name: 'batch of three frames',
    message: { type: 'batch', messages: [frame(8, 1, 27), frame(7, 2, 40), frame(6, 3, 64)] },
  },
  {
    name: 'batch of a frame, a sub and a control',
    message: {
      type: 'batch',
      messages: [
        frame(8, 5, 30),
        { type: 'sub', ttl: 60, entries: [{ vft: vft(6), flags: 1 }] },
        { type: 'control', channel: 2, payload: 'ab' },
      ],
    },
  },
  {
    name: 'ping, no hops',
    message: { type: 'ping', nonce: '1311768467463790320', sentAt: 1_767_225_600_000, hops: [] },
  },
  {
    name: 'ping, two hops',
    message: { type: 'ping', nonce: '18446744073709551615', sentAt: 5, hops: [peer(1), peer(2)] },
  },
  {
    name: 'pong, one hop',
    message: {
      type: 'pong',
      nonce: '42',
      pingSentAt: 1_767_225_600_000,
      repliedAt: 1_767_225_600_010,
      hops: [peer(3)],
    },
  },
  { name: 'control, empty payload', message: { type: 'control', channel: 1, payload: '' } },
  {
    name: 'control, welcome channel',
    message: { type: 'control', channel: 2, payload: bytes(33) },
  },
]

/** Framed bytes from a raw type ‖ body. */
const framed = (body: number[]): string => hexOf([...varint(body.length), ...body])
const f64 = refBody(frame(8, 9, 27))

const invalid: { name: string; hex: string; reason: string }[] = [
  { name: 'zero length', hex: '00', reason: 'empty-message' },
  {
    name: 'non-minimal varint (1 as 0x81 0x00)',
    hex: `8100${hexOf(f64.slice(0, 1))}`,
    reason: 'non-minimal-varint',
  },
  { name: 'varint of 4 bytes', hex: '80808001', reason: 'bad-varint' },
  { name: 'length above 66560', hex: hexOf(varint(66_561)), reason: 'oversized' },
  { name: 'unknown type 0x09', hex: framed([0x09, 1, 2, 3]), reason: 'unknown-type' },
  { name: 'type 0x00', hex: framed([0x00]), reason: 'unknown-type' },
  { name: 'frame with 26-byte sealed', hex: framed(refBody(frame(8, 1, 26))), reason: 'bad-body' },
  {
    name: 'hello with trailing byte',
    hex: framed([...refBody(valid[0]!.message), 0]),
    reason: 'bad-body',
  },
  {
    name: 'hello with unknown role',
    hex: framed(refBody(valid[0]!.message).map((b, i) => (i === 5 ? 7 : b))),
    reason: 'bad-hello',
  },
  {
    name: 'hello truncated by one byte',
    hex: framed(refBody(valid[0]!.message).slice(0, -1)),
    reason: 'bad-body',
  },
  {
    name: 'sub with flags 0',
    hex: framed(refBody({ type: 'sub', ttl: 5, entries: [{ vft: vft(1), flags: 0 }] })),
    reason: 'bad-body',
  },
  {
    name: 'sub with unknown flag bit',
    hex: framed(refBody({ type: 'sub', ttl: 5, entries: [{ vft: vft(1), flags: 4 }] })),
    reason: 'bad-body',
  },
  {
    name: 'sub with ttl 0',
    hex: framed(refBody({ type: 'sub', ttl: 0, entries: [{ vft: vft(1), flags: 1 }] })),
    reason: 'bad-body',
  },
  {
    name: 'unsub with ttl 5',
    hex: framed(refBody({ type: 'unsub', ttl: 5, entries: [{ vft: vft(1), flags: 1 }] })),
    reason: 'bad-body',
  },
  { name: 'sub with 1025 entries', hex: framed([3, 0, 5, 0x04, 0x01]), reason: 'too-many-entries' },
  {
    name: 'sub whose count exceeds its entries',
    hex: framed([3, 0, 5, 0, 2, ...Buffer.alloc(16, 1), 1, 0, 0]),
    reason: 'bad-body',
  },
  {
    name: 'batch inside batch',
    hex: framed(
      refBody({ type: 'batch', messages: [{ type: 'batch', messages: [frame(8, 1, 27)] }] }),
    ),
    reason: 'nested-batch',
  },
  {
    name: 'hello inside batch',
    hex: framed(refBody({ type: 'batch', messages: [valid[0]!.message] })),
    reason: 'bad-body',
  },
  { name: 'batch with count 0', hex: framed([5, 0, 0]), reason: 'bad-body' },
  { name: 'batch with count 1025', hex: framed([5, 0x04, 0x01]), reason: 'too-many-entries' },
  {
    name: 'batch whose count exceeds its messages',
    hex: framed([5, 0, 2, ...refFramed(frame(8, 1, 27))]),
    reason: 'bad-body',
  },
  {
    name: 'ping with 17 hops',
    hex: framed([6, ...Buffer.alloc(16, 0), 17]),
    reason: 'too-many-entries',
  },
  {
    name: 'ping with a 65-byte PeerId',
    hex: framed([6, ...Buffer.alloc(16, 0), 1, 65, ...Buffer.alloc(65, 1)]),
    reason: 'bad-body',
  },
  {
    name: 'ping with sentAt beyond 2^53',
    hex: framed([6, ...Buffer.alloc(8, 0), 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0]),
    reason: 'bad-body',
  },
  { name: 'control with 1-byte body', hex: framed([8, 1]), reason: 'bad-body' },
]

const out = {
  description:
    'PeerTap trunk messages (docs/spec/08-trunk.md): varint length ‖ u8 type ‖ body, hex. Generated by test/vectors/generate.ts from the reference encoder test/reference.ts.',
  valid: valid.map((v) => ({ name: v.name, message: v.message, hex: hexOf(refFramed(v.message)) })),
  invalid,
}
writeFileSync(new URL('./trunk.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`)
console.log(`wrote ${out.valid.length} valid and ${out.invalid.length} invalid vectors`)
