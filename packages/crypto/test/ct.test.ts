import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { constantTimeEqual } from '../src/ct.ts'

/** A view of `b` that counts every indexed read, to check the access pattern. */
function counted(b: Uint8Array): { view: Uint8Array; reads: () => number } {
  let n = 0
  const view = new Proxy(b, {
    get(target, prop) {
      if (typeof prop === 'string' && /^\d+$/.test(prop)) n++
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { view, reads: () => n }
}

describe('constantTimeEqual', () => {
  it('is true for equal bytes, including empty and distinct buffers', () => {
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true)
    const a = Uint8Array.from(randomBytes(64))
    expect(constantTimeEqual(a, a)).toBe(true)
    expect(constantTimeEqual(a, a.slice())).toBe(true)
    // Views into larger buffers compare their own bytes only.
    const big = Uint8Array.from(randomBytes(100))
    expect(constantTimeEqual(big.subarray(10, 42), big.slice(10, 42))).toBe(true)
  })

  it('is false when any one bit of any byte differs', () => {
    const a = Uint8Array.from(randomBytes(33))
    for (let i = 0; i < a.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = a.slice()
        b[i]! ^= 1 << bit
        expect(constantTimeEqual(a, b)).toBe(false)
        expect(constantTimeEqual(b, a)).toBe(false)
      }
    }
  })

  it('is false on a length mismatch, even when one is a prefix of the other', () => {
    const a = Uint8Array.from(randomBytes(16))
    expect(constantTimeEqual(a, a.subarray(0, 15))).toBe(false)
    expect(constantTimeEqual(a.subarray(0, 15), a)).toBe(false)
    expect(constantTimeEqual(new Uint8Array(0), Uint8Array.of(0))).toBe(false)
  })

  it('agrees with Buffer.equals on random inputs', () => {
    for (let i = 0; i < 500; i++) {
      const n = i % 9
      const a = Uint8Array.from(randomBytes(n))
      // Small alphabets so that equal pairs are common.
      for (let j = 0; j < n; j++) a[j]! &= 1
      const b = Uint8Array.from(randomBytes(i % 3 === 0 ? n + 1 : n))
      for (let j = 0; j < b.length; j++) b[j]! &= 1
      expect(constantTimeEqual(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)))
    }
  })

  it('reads every byte of both inputs whether they differ first, last or not at all', () => {
    const n = 32
    const base = Uint8Array.from(randomBytes(n))
    const patterns: Uint8Array[] = [base.slice()]
    for (const at of [0, 1, n >> 1, n - 1]) {
      const c = base.slice()
      c[at]! ^= 0xff
      patterns.push(c)
    }
    for (const other of patterns) {
      const a = counted(base)
      const b = counted(other)
      constantTimeEqual(a.view, b.view)
      expect(a.reads()).toBe(n)
      expect(b.reads()).toBe(n)
    }
  })
})
