// Proposal allowances, held key packages and resend intervals (docs/spec/11-mls.md §11.5).
import { describe, expect, it } from 'vitest'
import {
  due,
  holdKeyPackage,
  MAX_HELD_KEY_PACKAGES,
  PROPOSALS_BURST,
  PROPOSALS_PER_SECOND,
  ProposalAllowances,
} from '../src/index.ts'

describe('ProposalAllowances', () => {
  it(`takes ${PROPOSALS_BURST} at once from a peer, then one every ${1 / PROPOSALS_PER_SECOND} s`, () => {
    const a = new ProposalAllowances()
    const t0 = 1_000_000
    for (let i = 0; i < PROPOSALS_BURST; i++) expect(a.take('m', t0)).toBe(true)
    expect(a.take('m', t0)).toBe(false)
    expect(a.take('other', t0)).toBe(true) // each peer its own
    // Then, as the relay's buckets (spec 09 §7), one charge may go into debt
    // as soon as any allowance has accrued, and the debt is repaid first.
    expect(a.take('m', t0 + 1)).toBe(true)
    const every = 1000 / PROPOSALS_PER_SECOND
    expect(a.take('m', t0 + 1 + every - 100)).toBe(false)
    expect(a.take('m', t0 + 2 + every)).toBe(true)
    expect(a.take('m', t0 + 2 + every)).toBe(false)
  })

  it('holds a bounded number of peers: a full table makes room from whole allowances only', () => {
    const a = new ProposalAllowances({ maxPeers: 2, burst: 1, perSecond: 1 })
    expect(a.take('a', 0)).toBe(true)
    expect(a.take('b', 0)).toBe(true)
    expect(a.take('c', 0)).toBe(false) // both spent: no room
    expect(a.size).toBe(2)
    expect(a.take('c', 1000)).toBe(true) // both whole again: forgotten, room made
    expect(a.size).toBe(1)
  })
})

describe('held key packages and resends', () => {
  it(`keeps the latest key package per peer, at most ${MAX_HELD_KEY_PACKAGES} peers`, () => {
    const held = new Map<string, Uint8Array>()
    for (let i = 0; i < MAX_HELD_KEY_PACKAGES; i++) holdKeyPackage(held, `p${i}`, Uint8Array.of(i))
    holdKeyPackage(held, 'late', Uint8Array.of(1))
    expect(held.has('late')).toBe(false)
    holdKeyPackage(held, 'p0', Uint8Array.of(99)) // a held peer's newer one replaces it
    expect(held.get('p0')).toEqual(Uint8Array.of(99))
    expect(held.size).toBe(MAX_HELD_KEY_PACKAGES)
  })

  it('due: once `every` has passed since the last send', () => {
    expect(due(1000, 2000, 2999)).toBe(false)
    expect(due(1000, 2000, 3000)).toBe(true)
    expect(due(0, 3000, 3000)).toBe(true)
  })
})
