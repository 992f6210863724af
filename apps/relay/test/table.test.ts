// The relay's table as its config asks (apps/relay/src/table.ts): closed by
// default (spec 14 §14.3), allow and deny lists, limits, configured relays.
import { describe, expect, it } from 'vitest'
import { parseRelayConfig } from '../src/config.ts'
import { relayTable, tableLimits } from '../src/table.ts'

const A = '12D3KooWK4oX9f1ymXiA6iiBqw7NGuTsarqeGYX7k28kPcjtKyGN'
const R = '12D3KooWRkGLz4YbVmrsWK75VjFTs8jm6f5Q1VmqyYfVPVgBiZ8G'
const D = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
const X = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'

describe('relayTable', () => {
  it('is closed by default: only allow and relays are admitted, deny is denied', () => {
    const table = relayTable(
      parseRelayConfig({ stateDir: '/s', admission: { allow: [A], relays: [R], deny: [D] } }),
    )
    expect(table.access(A)).toBe('allow')
    expect(table.access(R)).toBe('allow')
    expect(table.access(D)).toBe('deny')
    expect(table.access(X)).toBe('default')
    expect(table.checkAdmission(X, 1, 0)).toBe('sub-not-admitted')
  })

  it('gives configured relays no entry rate unless their peerLimits set one', () => {
    const config = parseRelayConfig({
      stateDir: '/s',
      admission: { relays: [R] },
      limits: { subscriptionEntriesPerSecond: 10 },
      peerLimits: { [A]: { framesPerSecond: 100 } },
    })
    const table = relayTable(config)
    expect(table.limitsOf(R).subscriptionEntriesPerSecond).toBe(Number.POSITIVE_INFINITY)
    expect(table.limitsOf(X).subscriptionEntriesPerSecond).toBe(10)
    expect(table.limitsOf(A)).toMatchObject({ framesPerSecond: 100, frameBurst: 100 })
  })

  it('takes omitted bursts as one second of the rate', () => {
    expect(tableLimits({ bytesPerSecond: 5e6 })).toEqual({ bytesPerSecond: 5e6, byteBurst: 5e6 })
    expect(tableLimits({})).toEqual({})
  })
})
