import { describe, expect, it } from 'vitest'
import {
  decodePresenceBatch,
  decodePresenceFrame,
  encodePresenceBatch,
  encodePresenceFrame,
  MAX_BATCH_BYTES,
  MvlanError,
  mvlanPortMac,
  PRESENCE_ETHERTYPE,
  signPresence,
} from '../src/index.ts'
import { identity, toHex } from './helpers.ts'

const alice = identity(1)
const record = signPresence({
  seed: alice.seed,
  peerId: alice.peerId,
  role: 'node',
  seq: 1n,
  issuedAt: 1_800_000_000,
  expiresAt: 1_800_000_900,
  addresses: ['/ip4/192.0.2.7/udp/7400'],
  vlans: [],
})
const broadcast = new Uint8Array(6).fill(0xff)
const src = mvlanPortMac(alice.peerId)

describe('presence frames', () => {
  it('round-trip: dst, src, 0x88b5, 0x01, the record', () => {
    const frame = encodePresenceFrame({ dst: broadcast, src, record })
    expect(PRESENCE_ETHERTYPE).toBe(0x88b5)
    expect(toHex(frame.subarray(0, 15))).toBe(`ffffffffffff${toHex(src)}88b501`)
    expect(frame.length).toBe(15 + record.length)
    const d = decodePresenceFrame(frame)
    expect(d?.src).toEqual(src)
    expect(d?.record).toEqual(record)
  })

  it('reject other frames and garbage', () => {
    const frame = encodePresenceFrame({ dst: broadcast, src, record })
    const cases: Record<string, Uint8Array> = {
      empty: new Uint8Array(0),
      'header only': frame.subarray(0, 15),
      'IPv4 ethertype': Uint8Array.from([
        ...frame.subarray(0, 12),
        0x08,
        0x00,
        ...frame.subarray(14),
      ]),
      'type byte 2': Uint8Array.from([...frame.subarray(0, 14), 0x02, ...frame.subarray(15)]),
      'record over 1200 bytes': Uint8Array.from([
        ...frame.subarray(0, 15),
        ...new Uint8Array(1201),
      ]),
    }
    for (const [name, bytes] of Object.entries(cases))
      expect(decodePresenceFrame(bytes), name).toBeUndefined()
  })

  it('throw on a bad MAC or record', () => {
    expect(() => encodePresenceFrame({ dst: new Uint8Array(5), src, record })).toThrow(MvlanError)
    expect(() => encodePresenceFrame({ dst: broadcast, src: new Uint8Array(7), record })).toThrow(
      MvlanError,
    )
    expect(() => encodePresenceFrame({ dst: broadcast, src, record: new Uint8Array(0) })).toThrow(
      MvlanError,
    )
    expect(() =>
      encodePresenceFrame({ dst: broadcast, src, record: new Uint8Array(1201) }),
    ).toThrow(MvlanError)
  })
})

describe('presence batches', () => {
  it('round-trip 0, 1 and many records', () => {
    expect(toHex(encodePresenceBatch([]))).toBe('010000')
    expect(decodePresenceBatch(encodePresenceBatch([]))).toEqual([])
    const one = encodePresenceBatch([record])
    expect(toHex(one.subarray(0, 5))).toBe(`010001${record.length.toString(16).padStart(4, '0')}`)
    expect(decodePresenceBatch(one)).toEqual([record])
    const many = Array.from({ length: 4096 }, (_, i) => Uint8Array.of(i & 0xff, i >> 8))
    expect(decodePresenceBatch(encodePresenceBatch(many))).toEqual(many)
  })

  it('reject garbage', () => {
    const good = encodePresenceBatch([record, record])
    const withCount = (count: number, body: number[]) =>
      Uint8Array.of(1, count >> 8, count & 0xff, ...body)
    const cases: Record<string, Uint8Array> = {
      empty: new Uint8Array(0),
      'two bytes': Uint8Array.of(1, 0),
      version: Uint8Array.from([2, ...good.subarray(1)]),
      'count over the records': withCount(3, [...good.subarray(3)]),
      'count under the records': withCount(1, [...good.subarray(3)]),
      truncated: good.subarray(0, good.length - 1),
      'a byte left over': Uint8Array.from([...good, 0]),
      'a zero-length record': withCount(1, [0, 0]),
      'a record of 1201 bytes': withCount(1, [0x04, 0xb1, ...new Uint8Array(1201)]),
      'a length cut': withCount(1, [0]),
      '4097 records': withCount(4097, Array.from({ length: 4097 }, () => [0, 1, 7]).flat()),
      'over 1 MiB': new Uint8Array(MAX_BATCH_BYTES + 1).fill(1),
    }
    for (const [name, bytes] of Object.entries(cases))
      expect(decodePresenceBatch(bytes), name).toBeUndefined()
  })

  it('throw past 4096 records or 1 MiB, or for a bad record', () => {
    expect(() => encodePresenceBatch(Array.from({ length: 4097 }, () => Uint8Array.of(1)))).toThrow(
      expect.objectContaining({ code: 'too-large' }),
    )
    // 900 records of 1200 bytes: 1 081 803 bytes.
    expect(() =>
      encodePresenceBatch(Array.from({ length: 900 }, () => new Uint8Array(1200))),
    ).toThrow(expect.objectContaining({ code: 'too-large' }))
    expect(() => encodePresenceBatch([new Uint8Array(0)])).toThrow(MvlanError)
    expect(() => encodePresenceBatch([new Uint8Array(1201)])).toThrow(MvlanError)
  })
})
