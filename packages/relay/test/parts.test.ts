// The table's parts on their own: the duplicate cache and the token bucket.
import { describe, expect, it } from 'vitest'
import { DuplicateCache, TokenBucket } from '../src/index.ts'

function sealedWithTag(n: number, length = 40): Uint8Array {
  const sealed = new Uint8Array(length)
  const view = new DataView(sealed.buffer)
  view.setUint32(length - 16, n)
  view.setUint32(length - 4, n ^ 0x5a5a5a5a)
  return sealed
}

describe('DuplicateCache', () => {
  it('remembers tags, keyed by the last 16 bytes only', () => {
    const cache = new DuplicateCache(64)
    const a = sealedWithTag(1)
    expect(cache.has(a)).toBe(false)
    cache.add(a)
    expect(cache.has(a)).toBe(true)
    // Same tag, different length and body: a duplicate.
    const b = sealedWithTag(1, 100)
    b[0] = 0xff
    expect(cache.has(b)).toBe(true)
    expect(cache.has(sealedWithTag(2))).toBe(false)
    cache.clear()
    expect(cache.has(a)).toBe(false)
  })

  it('stays within its capacity, keeping recent tags', () => {
    const cache = new DuplicateCache(1_000) // rounds up to 1024
    expect(cache.capacity).toBe(1_024)
    for (let i = 1; i <= 100_000; i++) cache.add(sealedWithTag(i))
    expect(cache.size).toBeLessThanOrEqual(1_024)
    expect(cache.size).toBeGreaterThan(1_000)
    // The newest tag of each bucket survives; the oldest are gone.
    expect(cache.has(sealedWithTag(100_000))).toBe(true)
    let old = 0
    for (let i = 1; i <= 1_000; i++) if (cache.has(sealedWithTag(i))) old++
    expect(old).toBe(0)
    // Most of the last 512 are still there (a bucket keeps its 4 newest).
    let recent = 0
    for (let i = 100_000 - 511; i <= 100_000; i++) if (cache.has(sealedWithTag(i))) recent++
    expect(recent).toBeGreaterThan(450)
  })

  it('holds the all-zero tag like any other (an empty slot is not a tag)', () => {
    const cache = new DuplicateCache(16)
    expect(cache.has(new Uint8Array(32))).toBe(false)
    cache.add(new Uint8Array(32))
    expect(cache.has(new Uint8Array(32))).toBe(true)
    expect(cache.size).toBe(1)
  })
})

describe('TokenBucket', () => {
  it('refills at its rate up to its burst, and may go into debt by one charge', () => {
    const bucket = new TokenBucket(10, 5, 0)
    for (let i = 0; i < 5; i++) expect(bucket.take(1)).toBe(true)
    expect(bucket.take(1)).toBe(false)
    bucket.refill(0.2) // two tokens
    expect(bucket.take(100)).toBe(true) // in debt now: -98
    bucket.refill(9.8) // +96: still in debt
    expect(bucket.tokens).toBeCloseTo(-2)
    expect(bucket.take(1)).toBe(false)
    bucket.refill(10.2) // +4
    expect(bucket.tokens).toBeCloseTo(2)
    bucket.refill(100)
    expect(bucket.tokens).toBe(5)
    bucket.refill(50) // a clock that goes back refills nothing
    expect(bucket.tokens).toBe(5)
  })

  it('never limits at an infinite rate', () => {
    const bucket = new TokenBucket(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, 0)
    for (let i = 0; i < 1_000; i++) expect(bucket.take(1e9)).toBe(true)
  })
})
