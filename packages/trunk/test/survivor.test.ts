/**
 * Which of two links to one neighbour survives (spec 08-trunk.md §5.3):
 * crossed dials pick the same link at both ends; a link up for
 * LINK_RACE_MS or more gives way to a reconnect (a neighbour that roamed).
 */
import { describe, expect, it } from 'vitest'
import { keepsNewLink, LINK_RACE_MS } from '../src/trunk.ts'

const A = '12D3KooWA'
const B = '12D3KooWB'

describe('keepsNewLink', () => {
  it('picks the same survivor at both ends of a crossed dial', () => {
    // At A: the older link was opened by B, the newer by A; at B the same links, seen from B.
    const atA = keepsNewLink({ olderUpForMs: 5, olderOpener: B, newerOpener: A, ends: [A, B] })
    const atB = keepsNewLink({ olderUpForMs: 5, olderOpener: B, newerOpener: A, ends: [B, A] })
    expect(atA).toBe(atB)
    // The link A opened survives: A sorts first.
    expect(atA).toBe(true)
    expect(keepsNewLink({ olderUpForMs: 5, olderOpener: A, newerOpener: B, ends: [A, B] })).toBe(
      false,
    )
  })

  it('keeps the newer of two links one peer opened', () => {
    expect(keepsNewLink({ olderUpForMs: 5, olderOpener: B, newerOpener: B, ends: [A, B] })).toBe(
      true,
    )
  })

  it('lets a reconnect replace a link up for LINK_RACE_MS, whoever opened them', () => {
    const older = { olderOpener: A, newerOpener: B, ends: [A, B] as const }
    expect(keepsNewLink({ ...older, olderUpForMs: LINK_RACE_MS - 1 })).toBe(false)
    expect(keepsNewLink({ ...older, olderUpForMs: LINK_RACE_MS })).toBe(true)
  })

  it('never lets a circuit replace a direct link on age alone', () => {
    const older = { olderOpener: A, newerOpener: B, ends: [A, B] as const }
    expect(
      keepsNewLink({ ...older, olderUpForMs: 60_000, olderRelayed: false, newerRelayed: true }),
    ).toBe(false)
    expect(
      keepsNewLink({ ...older, olderUpForMs: 60_000, olderRelayed: true, newerRelayed: false }),
    ).toBe(true)
  })
})
