// The CONTROL channel registry (spec 08-trunk.md §4.6.1): every channel
// number is defined once, in constants.ts, and no two channels share one.
import { describe, expect, it } from 'vitest'
import * as constants from '../src/constants.ts'
import {
  CONTROL_COMMIT_CATCH_UP,
  CONTROL_DATAGRAM_OFFER,
  CONTROL_FABRIC_EPOCH,
  CONTROL_FABRIC_GRANT,
  CONTROL_FRAGMENT,
  CONTROL_JOIN,
  CONTROL_KEY_PACKAGE,
  CONTROL_LEASE,
  CONTROL_PRESENCE,
  CONTROL_PROPOSAL,
  CONTROL_RELAY_TICKET,
  CONTROL_SPANNING_TREE,
  CONTROL_WELCOME,
} from '../src/index.ts'

/** The registry as spec 08-trunk.md §4.6.1's table has it. */
const REGISTRY = {
  CONTROL_KEY_PACKAGE: 1,
  CONTROL_WELCOME: 2,
  CONTROL_COMMIT_CATCH_UP: 3,
  CONTROL_DATAGRAM_OFFER: 4,
  CONTROL_PROPOSAL: 5,
  CONTROL_LEASE: 6,
  CONTROL_FRAGMENT: 7,
  CONTROL_SPANNING_TREE: 8,
  CONTROL_JOIN: 9,
  CONTROL_RELAY_TICKET: 10,
  CONTROL_FABRIC_EPOCH: 11,
  CONTROL_PRESENCE: 12,
  CONTROL_FABRIC_GRANT: 13,
}
/** CONTROL_* constants that are not channel numbers. */
const NOT_CHANNELS = new Set([
  'CONTROL_RESERVE_BYTES',
  'CONTROL_FRAGMENT_BYTES',
  'CONTROL_FRAGMENT_MAX_MESSAGE_BYTES',
  'CONTROL_FRAGMENT_MAX_PEERS',
  'CONTROL_FRAGMENT_TIMEOUT_MS',
])

describe('CONTROL channel registry', () => {
  it('exports every channel from the package entry, with the number the spec gives', () => {
    expect({
      CONTROL_KEY_PACKAGE,
      CONTROL_WELCOME,
      CONTROL_COMMIT_CATCH_UP,
      CONTROL_DATAGRAM_OFFER,
      CONTROL_PROPOSAL,
      CONTROL_LEASE,
      CONTROL_FRAGMENT,
      CONTROL_SPANNING_TREE,
      CONTROL_JOIN,
      CONTROL_RELAY_TICKET,
      CONTROL_FABRIC_EPOCH,
      CONTROL_PRESENCE,
      CONTROL_FABRIC_GRANT,
    }).toEqual(REGISTRY)
  })

  it('knows every CONTROL_* channel constant (a new one joins the registry and this test)', () => {
    const channels = Object.keys(constants).filter(
      (name) => name.startsWith('CONTROL_') && !NOT_CHANNELS.has(name),
    )
    expect(channels.sort()).toEqual(Object.keys(REGISTRY).sort())
  })

  it('gives each channel a distinct u16', () => {
    const numbers = Object.keys(REGISTRY).map(
      (name) => (constants as Record<string, unknown>)[name] as number,
    )
    expect(new Set(numbers).size).toBe(numbers.length)
    for (const n of numbers) {
      expect(Number.isInteger(n)).toBe(true)
      expect(n).toBeGreaterThan(0)
      expect(n).toBeLessThanOrEqual(0xffff)
    }
  })
})
