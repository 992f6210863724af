/**
 * Generates test/vectors/datagram.json, the vectors of the datagram link
 * (docs/spec/13-datagram-link.md), from the slow reference
 * test/datagram-reference.ts: no byte and no expected outcome comes from src/.
 * Inputs are fixed below (filler bytes are SHA-256 of "PeerTap v1 test <label>"),
 * so running it again gives the same file byte for byte.
 * Run (from packages/trunk): node --conditions=peertap:source test/vectors/generate-datagram.ts
 */
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import {
  be,
  fromHex,
  REF_COUNTER_LIMIT,
  REF_TYPES,
  type RefDrop,
  type RefOffer,
  type RefOpened,
  RefWindow,
  refDecodeOffer,
  refEncodeOffer,
  refPathKey,
  refReceive,
  refSeal,
  toHex,
} from '../datagram-reference.ts'

const sha = (label: string): string =>
  createHash('sha256').update(`PeerTap v1 test ${label}`).digest('hex')
/** n filler bytes: SHA-256 of "PeerTap v1 test <label> <i>" for i = 0, 1, ... concatenated. */
const filler = (label: string, n: number): number[] => {
  const out: number[] = []
  for (let i = 0; out.length < n; i++) out.push(...fromHex(sha(`${label} ${i}`)))
  return out.slice(0, n)
}
const vft = (i: number): string => sha(`VFT ${i}`).slice(0, 32)

export type JsonMessage =
  | { type: 'data'; hopLimit: number; vft: string; sealed: string }
  | { type: 'ping'; nonce: string; size: number; padding?: string }
  | { type: 'pong'; nonce: string; size: number }

const A: RefOffer = {
  receiverIndex: 0x0a0b0c0d,
  pathKey: sha('datagram path key A'),
  port: 7401,
  addresses: ['192.0.2.10', '2001:db8::a'],
}
const B: RefOffer = {
  receiverIndex: 0xb0b1b2b3,
  pathKey: sha('datagram path key B'),
  port: 7402,
  addresses: [],
}
const peers = { A, B }
const keyAB = refPathKey(A.pathKey, B.pathKey)
const keyBA = refPathKey(B.pathKey, A.pathKey)

function plaintextOf(m: JsonMessage): number[] {
  switch (m.type) {
    case 'data':
      return [m.hopLimit, ...fromHex(m.vft)]
    case 'ping':
      return [
        ...be(BigInt(m.nonce), 8),
        ...(m.padding ? fromHex(m.padding) : new Array(m.size - 33).fill(0)),
      ]
    case 'pong':
      return [...be(BigInt(m.nonce), 8), ...be(m.size, 2)]
  }
}

/** One datagram `from` seals to the other peer, with every intermediate value. */
function seal(
  from: 'A' | 'B',
  counter: number,
  m: JsonMessage,
  extra: Partial<Parameters<typeof refSeal>[0]> = {},
) {
  const to = from === 'A' ? 'B' : 'A'
  return refSeal({
    key: from === 'A' ? keyAB.key : keyBA.key,
    type: REF_TYPES[m.type],
    receiverIndex: peers[to].receiverIndex,
    counter,
    plaintext: plaintextOf(m),
    ...(m.type === 'data' ? { sealed: fromHex(m.sealed) } : {}),
    ...extra,
  })
}

const data = (hopLimit: number, v: number, n: number, label = `sealed ${v}`): JsonMessage => ({
  type: 'data',
  hopLimit,
  vft: vft(v),
  sealed: toHex(filler(label, n)),
})
const N1 = 0x0123456789abcdefn.toString()
const N2 = 0xfedcba9876543210n.toString()
const N3 = '42'

const validInputs: {
  name: string
  from: 'A' | 'B'
  counter: number
  message: JsonMessage
  receiveOnly?: string
}[] = [
  {
    name: 'DATA, shortest: 27-byte sealed payload, 69 bytes, counter 0',
    from: 'A',
    counter: 0,
    message: data(8, 1, 27),
  },
  {
    name: 'DATA, hop limit 0, 100-byte sealed payload, counter 1',
    from: 'A',
    counter: 1,
    message: data(0, 2, 100),
  },
  {
    name: 'DATA at the starting path size: 1232 bytes (sealed 1190 = DGRAM_SAFE_MTU), hop limit 255, counter 2',
    from: 'A',
    counter: 2,
    message: data(255, 3, 1190),
  },
  {
    name: 'DATA at the probed path size: 1472 bytes (sealed 1430), counter 3',
    from: 'A',
    counter: 3,
    message: data(64, 4, 1430),
  },
  {
    name: 'PING, 33 bytes (no padding), counter 4',
    from: 'A',
    counter: 4,
    message: { type: 'ping', nonce: N1, size: 33 },
  },
  {
    name: 'PING padded to 1472 bytes (MTU probe), counter 5',
    from: 'A',
    counter: 5,
    message: { type: 'ping', nonce: N2, size: 1472 },
  },
  {
    name: 'PING padded to 100 bytes, counter 6',
    from: 'A',
    counter: 6,
    message: { type: 'ping', nonce: N3, size: 100 },
  },
  {
    name: 'PONG reporting size 1472, counter 7',
    from: 'A',
    counter: 7,
    message: { type: 'pong', nonce: N2, size: 1472 },
  },
  {
    name: 'PONG reporting size 33, counter 8',
    from: 'A',
    counter: 8,
    message: { type: 'pong', nonce: N1, size: 33 },
  },
  {
    name: 'worked example (spec 13 §8.3): DATA, counter 300',
    from: 'A',
    counter: 300,
    message: data(7, 5, 27, 'worked example sealed'),
  },
  {
    name: 'DATA, counter 0x00010203 (every counter byte but the first set)',
    from: 'A',
    counter: 0x00010203,
    message: data(1, 6, 40),
  },
  {
    name: "PONG answering A's 33-byte PING (counter 4), B's first datagram: counter 0",
    from: 'B',
    counter: 0,
    message: { type: 'pong', nonce: N1, size: 33 },
  },
  { name: 'DATA from B, counter 1', from: 'B', counter: 1, message: data(8, 7, 64) },
  {
    name: 'PING of 73 bytes whose padding is not zero, counter 9',
    from: 'A',
    counter: 9,
    message: { type: 'ping', nonce: N3, size: 73, padding: toHex(filler('padding', 40)) },
    receiveOnly: 'a sender pads with zeros; the receiver does not check the padding (spec 13 §2.2)',
  },
  {
    name: 'DATA at counter 2^31 − 1',
    from: 'A',
    counter: REF_COUNTER_LIMIT,
    message: data(8, 8, 27),
    receiveOnly:
      'a receiver takes counters up to 2^31 − 1; a sender stops at 2^31 − 2 (spec 13 §3)',
  },
]

function opened(m: JsonMessage, counter: number): RefOpened {
  if (m.type === 'data')
    return { type: 'data', counter, hopLimit: m.hopLimit, vft: m.vft, sealed: m.sealed }
  return { type: m.type, counter, nonce: m.nonce, size: m.size }
}

function receiveAt(to: 'A' | 'B', hex: string, window = new RefWindow()): RefOpened | RefDrop {
  const from = to === 'B' ? 'A' : 'B'
  const key = from === 'A' ? keyAB.key : keyBA.key
  return refReceive(fromHex(hex), peers[to].receiverIndex, key, window)
}

const valid = validInputs.map((v) => {
  const to = v.from === 'A' ? 'B' : 'A'
  const s = seal(v.from, v.counter, v.message)
  const back = receiveAt(to, s.hex)
  if (JSON.stringify(back) !== JSON.stringify(opened(v.message, v.counter))) {
    throw new Error(
      `${v.name}: the reference does not open its own datagram: ${JSON.stringify(back)}`,
    )
  }
  return {
    name: v.name,
    from: v.from,
    to,
    receiverIndex: peers[to].receiverIndex,
    counter: v.counter,
    message: v.message,
    ...s,
    ...(v.receiveOnly ? { receiveOnly: v.receiveOnly } : {}),
  }
})

// ---------------------------------------------------------------- invalid datagrams (all sent to B)

const flip = (hex: string, byte: number, bit = 0x01): string => {
  const b = fromHex(hex)
  const i = byte < 0 ? b.length + byte : byte
  b[i] = (b[i] ?? 0) ^ bit
  return toHex(b)
}
const setBytes = (hex: string, at: number, bytes: number[]): string => {
  const b = fromHex(hex)
  b.splice(at, bytes.length, ...bytes)
  return toHex(b)
}
const d0 = seal('A', 0, data(8, 1, 27)).hex
const d5 = seal('A', 5, data(8, 9, 27))
/** A datagram to B of any type and plaintext, sealed properly under key(A -> B). */
const raw = (
  type: number,
  counter: number,
  plaintext: number[],
  sealed?: number[],
  index = B.receiverIndex,
) =>
  refSeal({
    key: keyAB.key,
    type,
    receiverIndex: index,
    counter,
    plaintext,
    ...(sealed ? { sealed } : {}),
  }).hex
const hv = [8, ...fromHex(vft(1))]

const invalidInputs: { name: string; hex: string; reason: RefDrop }[] = [
  { name: 'empty datagram', hex: '', reason: 'unknown-index' },
  { name: '8 bytes: shorter than the header', hex: d0.slice(0, 16), reason: 'unknown-index' },
  {
    name: 'receiver index 0 (no link holds it)',
    hex: raw(1, 0, hv, filler('sealed 1', 27), 0),
    reason: 'unknown-index',
  },
  {
    name: "receiver index no link of B holds (A's own)",
    hex: raw(1, 0, hv, filler('sealed 1', 27), A.receiverIndex),
    reason: 'unknown-index',
  },
  {
    name: '24 bytes: header and 15 bytes, shorter than header ‖ tag',
    hex: d0.slice(0, 48),
    reason: 'malformed',
  },
  {
    name: '24 bytes of unknown type 0x04: the length is checked before the type',
    hex: setBytes(d0.slice(0, 48), 0, [4]),
    reason: 'malformed',
  },
  {
    name: 'DATA at counter 2^31',
    hex: raw(1, 2 ** 31, hv, filler('sealed 1', 27)),
    reason: 'malformed',
  },
  {
    name: 'DATA at counter 2^32 − 1',
    hex: raw(1, 2 ** 32 - 1, hv, filler('sealed 1', 27)),
    reason: 'malformed',
  },
  {
    name: 'unknown type 0x04 at counter 2^31: the counter is checked before the type',
    hex: raw(4, 2 ** 31, [...be(1n, 8), 0, 33]),
    reason: 'malformed',
  },
  { name: 'type 0x00, 35 bytes', hex: raw(0, 0, [...be(1n, 8), 0, 33]), reason: 'unknown-type' },
  { name: 'type 0x04, 35 bytes', hex: raw(4, 0, [...be(1n, 8), 0, 33]), reason: 'unknown-type' },
  {
    name: 'type 0xff, 69 bytes',
    hex: raw(0xff, 0, hv, filler('sealed 1', 27)),
    reason: 'unknown-type',
  },
  {
    name: 'DATA of 68 bytes (26-byte sealed payload)',
    hex: raw(1, 0, hv, filler('sealed 1', 26)),
    reason: 'malformed',
  },
  {
    name: 'PING of 32 bytes (7-byte plaintext)',
    hex: raw(2, 0, [0, 0, 0, 0, 0, 0, 1]),
    reason: 'malformed',
  },
  {
    name: 'PONG of 34 bytes (9-byte plaintext)',
    hex: raw(3, 0, [...be(1n, 8), 33]),
    reason: 'malformed',
  },
  {
    name: 'PONG of 36 bytes (11-byte plaintext)',
    hex: raw(3, 0, [...be(1n, 8), 0, 33, 0]),
    reason: 'malformed',
  },
  {
    name: 'PONG of 1472 bytes',
    hex: raw(3, 0, [...be(1n, 8), 0x05, 0xc0, ...new Array(1437).fill(0)]),
    reason: 'malformed',
  },
  { name: 'DATA with a flipped bit in the tag', hex: flip(d0, 9 + 17 + 15, 0x80), reason: 'auth' },
  { name: 'DATA with a flipped bit in the protected hop ‖ VFT', hex: flip(d0, 9), reason: 'auth' },
  {
    name: 'DATA with a flipped bit in the sealed payload (it is AAD)',
    hex: flip(d0, -1),
    reason: 'auth',
  },
  {
    name: 'DATA with its header counter changed from 5 to 4',
    hex: flip(d5.hex, 8),
    reason: 'auth',
  },
  {
    name: 'DATA sealed to index 0x0b0b0b0b, its header index then set to B’s (the index is AAD)',
    hex: setBytes(raw(1, 0, hv, filler('sealed 1', 27), 0x0b0b0b0b), 1, be(B.receiverIndex, 4)),
    reason: 'auth',
  },
  {
    name: 'a 35-byte PING relabelled PONG (the type is AAD)',
    hex: setBytes(raw(2, 0, [...be(1n, 8), 0, 0]), 0, [3]),
    reason: 'auth',
  },
  {
    name: 'DATA to B sealed under key(B -> A), the other direction',
    hex: refSeal({
      key: keyBA.key,
      type: 1,
      receiverIndex: B.receiverIndex,
      counter: 0,
      plaintext: hv,
      sealed: filler('sealed 1', 27),
    }).hex,
    reason: 'auth',
  },
  {
    name: 'DATA sealed with the header alone as AAD (the sealed payload left out)',
    hex: refSeal({
      key: keyAB.key,
      type: 1,
      receiverIndex: B.receiverIndex,
      counter: 0,
      plaintext: hv,
      sealed: filler('sealed 1', 27),
      mistake: 'aad-header-only',
    }).hex,
    reason: 'auth',
  },
  {
    name: 'DATA at counter 5 sealed with nonce counter ‖ 0x00 × 8 (wrong nonce layout)',
    hex: refSeal({
      key: keyAB.key,
      type: 1,
      receiverIndex: B.receiverIndex,
      counter: 5,
      plaintext: hv,
      sealed: filler('sealed 1', 27),
      mistake: 'nonce-counter-first',
    }).hex,
    reason: 'auth',
  },
]

const invalid = invalidInputs.map((v) => {
  const got = receiveAt('B', v.hex)
  if (got !== v.reason)
    throw new Error(`${v.name}: the reference says ${JSON.stringify(got)}, not ${v.reason}`)
  return { name: v.name, to: 'B', hex: v.hex, reason: v.reason }
})

// ---------------------------------------------------------------- sequences (one receiver, in order)

const dataTo = (counter: number) => seal('A', counter, data(8, 10, 30, `sequence ${counter}`)).hex
const sequenceInputs: { name: string; steps: { hex: string; note: string }[] }[] = [
  {
    name: 'replay and too-old',
    steps: [
      { hex: dataTo(5), note: 'DATA 5' },
      { hex: dataTo(5), note: 'DATA 5 again' },
      {
        hex: flip(dataTo(5), -1),
        note: 'DATA 5 with a bad tag: the window is checked before the tag',
      },
      { hex: seal('A', 3000, { type: 'ping', nonce: N1, size: 33 }).hex, note: 'PING 3000' },
      { hex: dataTo(952), note: 'DATA 952 = 3000 − 2048' },
      { hex: dataTo(953), note: 'DATA 953 = 3000 − 2047' },
      { hex: dataTo(953), note: 'DATA 953 again' },
      {
        hex: seal('A', 2000, { type: 'pong', nonce: N1, size: 33 }).hex,
        note: 'PONG 2000, below the newest',
      },
      { hex: dataTo(5), note: 'DATA 5 again, now too old' },
    ],
  },
  {
    name: 'a datagram that fails its tag marks nothing',
    steps: [
      { hex: flip(dataTo(7), 9 + 17), note: 'DATA 7 with a bad tag' },
      { hex: dataTo(7), note: 'DATA 7' },
      { hex: dataTo(7), note: 'DATA 7 again' },
    ],
  },
  {
    name: 'out of order within the window',
    steps: [
      { hex: dataTo(10), note: 'DATA 10' },
      { hex: dataTo(2), note: 'DATA 2' },
      { hex: dataTo(9), note: 'DATA 9' },
      { hex: dataTo(2), note: 'DATA 2 again' },
      { hex: dataTo(10), note: 'DATA 10 again' },
    ],
  },
  {
    name: 'at the counter limit',
    steps: [
      { hex: dataTo(REF_COUNTER_LIMIT), note: 'DATA 2^31 − 1' },
      { hex: dataTo(2 ** 31), note: 'DATA 2^31' },
      { hex: dataTo(REF_COUNTER_LIMIT - 2048), note: 'DATA 2^31 − 1 − 2048' },
      { hex: dataTo(REF_COUNTER_LIMIT - 2047), note: 'DATA 2^31 − 1 − 2047' },
    ],
  },
]

const sequences = sequenceInputs.map((s) => {
  const window = new RefWindow()
  return {
    name: s.name,
    to: 'B',
    steps: s.steps.map((st) => {
      const r = receiveAt('B', st.hex, window)
      return typeof r === 'string'
        ? { note: st.note, hex: st.hex, outcome: r }
        : { note: st.note, hex: st.hex, outcome: 'accepted', opened: r }
    }),
  }
})

// ---------------------------------------------------------------- offers

const offerValid: { name: string; offer: RefOffer }[] = [
  { name: "A's offer: two addresses, one of each family", offer: A },
  { name: "B's offer: no addresses", offer: B },
  {
    name: 'eight addresses (the most)',
    offer: {
      receiverIndex: 1,
      pathKey: sha('offer path key 3'),
      port: 65535,
      addresses: [
        '198.51.100.1',
        '203.0.113.254',
        'fd00::1',
        '10.0.0.1',
        '2001:db8:0:1:2:3:4:5',
        '255.255.255.255',
        'fe80::1:2',
        '::',
      ],
    },
  },
  {
    name: 'receiver index 0xffffffff, port 1, one loopback address',
    offer: {
      receiverIndex: 0xffffffff,
      pathKey: sha('offer path key 4'),
      port: 1,
      addresses: ['127.0.0.1'],
    },
  },
]
const aOffer = refEncodeOffer(A)
const bOffer = refEncodeOffer(B)
const nine = Array.from({ length: 9 }, (_, i) => `192.0.2.${i + 1}`)
const offerInvalid: { name: string; bytes: number[]; decodes?: boolean }[] = [
  { name: 'empty', bytes: [] },
  { name: '39 bytes: the fixed part less one', bytes: bOffer.slice(0, 39) },
  { name: 'version 0', bytes: [0, ...aOffer.slice(1)] },
  { name: 'version 2', bytes: [2, ...aOffer.slice(1)] },
  { name: 'receiver index 0', bytes: refEncodeOffer({ ...A, receiverIndex: 0 }) },
  { name: 'port 0', bytes: refEncodeOffer({ ...A, port: 0 }) },
  { name: 'count 9 with nine IPv4 addresses', bytes: refEncodeOffer({ ...A, addresses: nine }) },
  {
    name: 'count 9 and no address bytes: over the bound and short',
    bytes: refEncodeOffer({ ...B }, 9),
  },
  { name: 'count 255 and no address bytes', bytes: refEncodeOffer({ ...B }, 255) },
  {
    name: 'count 2 with one address',
    bytes: refEncodeOffer({ ...A, addresses: ['192.0.2.10'] }, 2),
  },
  { name: 'family 5', bytes: fromHex(setBytes(toHex(aOffer), 40, [5])) },
  { name: 'family 0', bytes: fromHex(setBytes(toHex(aOffer), 40, [0])) },
  { name: 'family 4 with 3 address bytes', bytes: [...refEncodeOffer({ ...B }, 1), 4, 192, 0, 2] },
  {
    name: 'family 6 with 4 address bytes',
    bytes: [...refEncodeOffer({ ...B }, 1), 6, 0x20, 0x01, 0x0d, 0xb8],
  },
  { name: 'one byte after the last address', bytes: [...aOffer, 0] },
  { name: 'count 0 followed by an address', bytes: [...bOffer, 4, 192, 0, 2, 1] },
  {
    name: "B's own path key, received by B (well formed; refused by the link)",
    bytes: refEncodeOffer({ ...A, pathKey: B.pathKey }),
    decodes: true,
  },
]

export function buildDatagramVectors() {
  for (const o of offerValid) {
    const back = refDecodeOffer(refEncodeOffer(o.offer))
    if (back === 'badOffers' || back.pathKey !== o.offer.pathKey)
      throw new Error(`${o.name}: does not decode`)
  }
  for (const o of offerInvalid) {
    const decodes = refDecodeOffer(o.bytes) !== 'badOffers'
    if (decodes !== (o.decodes ?? false))
      throw new Error(`${o.name}: the reference decodes it: ${decodes}`)
  }
  return {
    description:
      'The datagram link of docs/spec/13-datagram-link.md: path keys, offers (CONTROL channel 4), DATA/PING/PONG datagrams, drops. Hex. Generated by test/vectors/generate-datagram.ts from the reference test/datagram-reference.ts; README.md beside this file says how to read it.',
    peers: { A, B },
    dropCounters: {
      'unknown-index': 'dropUnknownIndex',
      malformed: 'dropMalformed',
      'unknown-type': 'dropUnknownType',
      replay: 'dropReplay',
      'too-old': 'dropTooOld',
      auth: 'dropAuth',
      offer: 'badOffers',
    },
    pathKeys: [
      { name: 'A -> B', senderPathKey: A.pathKey, receiverPathKey: B.pathKey, ...keyAB },
      { name: 'B -> A', senderPathKey: B.pathKey, receiverPathKey: A.pathKey, ...keyBA },
      {
        name: 'zeros -> ones',
        senderPathKey: '00'.repeat(32),
        receiverPathKey: 'ff'.repeat(32),
        ...refPathKey('00'.repeat(32), 'ff'.repeat(32)),
      },
    ],
    offers: {
      valid: offerValid.map((o) => ({
        name: o.name,
        offer: o.offer,
        hex: toHex(refEncodeOffer(o.offer)),
      })),
      invalid: offerInvalid.map((o) => ({
        name: o.name,
        hex: toHex(o.bytes),
        decodes: o.decodes ?? false,
        outcome: 'badOffers',
      })),
    },
    datagrams: { valid, invalid, sequences },
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = buildDatagramVectors()
  writeFileSync(new URL('./datagram.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`)
  const steps = out.datagrams.sequences.reduce((n, s) => n + s.steps.length, 0)
  console.log(
    `wrote ${out.pathKeys.length} path keys, ${out.offers.valid.length} + ${out.offers.invalid.length} offers, ` +
      `${out.datagrams.valid.length} valid and ${out.datagrams.invalid.length} invalid datagrams, ` +
      `${out.datagrams.sequences.length} sequences of ${steps} steps`,
  )
}
