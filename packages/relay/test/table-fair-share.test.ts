// A full table and many identities (spec 09-forwarding.md §7, fair share):
// a neighbour below maxSubscriptions / holders takes a record from the
// neighbour holding the most, so a flood of self-made identities at their
// limits cannot keep a member from adding or renewing its subscriptions.
import { describe, expect, it } from 'vitest'
import { FLAG_RECEIVE, FLAG_SEND, ForwardingTable, RouteBatch } from '../src/index.ts'

const NOW = 10_000
const R = FLAG_RECEIVE
const RS = FLAG_RECEIVE | FLAG_SEND

/** A distinct VFT per (owner, n). */
function vft(owner: number, n: number): Uint8Array {
  const v = new Uint8Array(16)
  const view = new DataView(v.buffer)
  view.setUint32(0, 0x5eed_0000 + owner)
  view.setUint32(12, n)
  return v
}

const entries = (owner: number, from: number, count: number, flags = R) =>
  Array.from({ length: count }, (_, i) => ({ vft: vft(owner, from + i), flags }))

const held = (t: ForwardingTable, id: string): number => t.neighbourStats(id)?.subscriptions ?? 0

describe('fair share of a full table', () => {
  it('lets a newcomer add up to its fair share of a table that neighbours at their limit filled', () => {
    const t = new ForwardingTable({ maxSubscriptions: 4_096, limits: { maxSubscriptions: 256 } })
    for (let i = 0; i < 16; i++) {
      expect(t.subscribe(`flood-${i}`, entries(i, 0, 256), 600, NOW)).toMatchObject({ added: 256 })
    }
    expect(t.subscriptionCount).toBe(4_096)
    expect(t.subscribe('flood-16', entries(16, 0, 1), 600, NOW).added).toBe(1) // below 4096/17

    // The member's share: floor(4096 / 18) = 227 with itself counted.
    const share = Math.floor(4_096 / 18)
    const result = t.subscribe('member', entries(100, 0, 256), 600, NOW)
    expect(result).toEqual({
      added: share,
      refreshed: 0,
      rejected: 256 - share,
      reason: 'sub-table-full',
    })
    expect(held(t, 'member')).toBe(share)
    expect(t.subscriptionCount).toBe(4_096)
    // Each record it took was counted, and taken from the neighbours holding the most.
    expect(t.counters.subscriptionsDisplaced).toBe(share + 1)
    let displaced = 0
    for (let i = 0; i < 16; i++) {
      const stats = t.neighbourStats(`flood-${i}`)!
      expect(stats.subscriptions).toBeGreaterThanOrEqual(share)
      displaced += stats.displaced
    }
    expect(displaced).toBe(share + 1)
    expect(t.neighbourStats('member')!.displaced).toBe(0)
    expect(t.counters.subscriptionDrops['sub-table-full']).toBe(256 - share)

    // Its frames reach it: the subscriptions it holds are live ones.
    const out = t.route(
      'flood-3',
      [{ hopLimit: 4, vft: vft(100, 0), sealed: new Uint8Array(64).fill(1) }],
      NOW,
      new RouteBatch(),
    )
    expect(out.outputs[0]?.neighbour).toBe('member')
  })

  it('always accepts renewals, for everyone, however full the table', () => {
    const t = new ForwardingTable({ maxSubscriptions: 1_024, limits: { maxSubscriptions: 256 } })
    for (let i = 0; i < 4; i++) t.subscribe(`flood-${i}`, entries(i, 0, 256), 600, NOW)
    t.subscribe('member', entries(100, 0, 50, RS), 600, NOW)
    const displaced = t.counters.subscriptionsDisplaced
    expect(displaced).toBe(50)
    // Renewing a full table's subscriptions takes nothing from anyone.
    for (let i = 0; i < 4; i++) {
      const kept = Array.from({ length: 256 }, (_, n) => ({ vft: vft(i, n), flags: R })).filter(
        (e) => t.lookup(e.vft).length > 0,
      )
      expect(t.subscribe(`flood-${i}`, kept, 600, NOW + 100)).toMatchObject({
        refreshed: kept.length,
        rejected: 0,
      })
    }
    expect(t.subscribe('member', entries(100, 0, 50, RS), 600, NOW + 100)).toEqual({
      added: 0,
      refreshed: 50,
      rejected: 0,
    })
    expect(t.counters.subscriptionsDisplaced).toBe(displaced)
    expect(t.subscriptionCount).toBe(1_024)
    expect(t.lookup(vft(100, 0))[0]!.expiresAt).toBe(NOW + 700)
  })

  it('takes the least recently renewed record of the neighbour holding the most, the newest neighbour on a tie', () => {
    const t = new ForwardingTable({ maxSubscriptions: 6 })
    t.subscribe('old', entries(1, 0, 3), 600, NOW)
    t.subscribe('new', entries(2, 0, 3), 600, NOW)
    // 'new' renews its first two; its third is now its least recently renewed.
    t.subscribe('new', entries(2, 0, 2), 600, NOW + 1)
    // Both hold 3, more than 6 / 3 = 2: the newer neighbour gives first.
    expect(t.subscribe('member', entries(3, 0, 1), 600, NOW + 2).added).toBe(1)
    expect(t.lookup(vft(2, 2))).toEqual([])
    expect(held(t, 'old')).toBe(3)
    // Now 'old' holds the most; its oldest record goes.
    expect(t.subscribe('member', entries(3, 1, 1), 600, NOW + 2).added).toBe(1)
    expect(t.lookup(vft(1, 0))).toEqual([])
    // Each holds 2 = 6 / 3: the member is at its share, nobody gives more.
    expect(t.subscribe('member', entries(3, 2, 1), 600, NOW + 2).reason).toBe('sub-table-full')
    expect([held(t, 'old'), held(t, 'new'), held(t, 'member')]).toEqual([2, 2, 2])
  })

  it('keeps every member renewing its next window while 500 identities flood at their limit', () => {
    // The ratio scaled down 64x: a table of 2^14 (2^20 / 64) and
    // 64 subscriptions per neighbour (4096 / 64), so 256 identities fill it,
    // and 500 try to hold twice that, every window, with fresh VFTs.
    const table = new ForwardingTable({
      maxSubscriptions: 1 << 14,
      limits: { maxSubscriptions: 64 },
    })
    const members = 10
    const perWindow = 8 // a member holds the current and the next window: 16
    let accepted = 0
    let asked = 0
    for (let window = 0; window < 6; window++) {
      const now = NOW + window * 600
      for (let id = 0; id < 500; id++) {
        table.subscribe(`sybil-${id}`, entries(1_000 + id, window * 64, 64), 1_200, now)
      }
      for (let m = 0; m < members; m++) {
        // SUB for the next window's VFTs, and renew the current window's.
        const next = entries(m, (window + 1) * perWindow, perWindow, RS)
        const current = entries(m, window * perWindow, perWindow, RS)
        const result = table.subscribe(`member-${m}`, [...current, ...next], 1_200, now)
        asked += 2 * perWindow
        accepted += result.added + result.refreshed
        expect(result.rejected).toBe(0)
      }
      // The flood goes on after the members' SUBs: they keep what they hold.
      for (let id = 0; id < 500; id++) {
        table.subscribe(`sybil-${id}`, entries(1_000 + id, window * 64 + 32, 64), 1_200, now)
      }
      for (let m = 0; m < members; m++) {
        for (const e of entries(m, window * perWindow, 2 * perWindow)) {
          expect(table.lookup(e.vft, now).length).toBe(1)
        }
      }
      table.expire(now)
      expect(table.subscriptionCount).toBeLessThanOrEqual(1 << 14)
    }
    expect(accepted).toBe(asked)
    expect(table.counters.subscriptionsDisplaced).toBeGreaterThan(0)
    for (let m = 0; m < members; m++) expect(table.neighbourStats(`member-${m}`)!.displaced).toBe(0)
  })

  it('forgets a departed neighbour in time proportional to what it held', () => {
    const t = new ForwardingTable()
    t.subscribe('big', entries(1, 0, 4_000), 600, NOW)
    t.subscribe('small', entries(2, 0, 3), 600, NOW)
    t.removeNeighbour('small')
    expect(t.subscriptionCount).toBe(4_000)
    expect(t.counters.subscriptionsEvicted).toBe(3)
    t.removeNeighbour('big')
    expect(t.subscriptionCount).toBe(0)
    expect(t.vftCount).toBe(0)
    // Both left the heap of holders: a full table of newcomers is shared afresh.
    const u = new ForwardingTable({ maxSubscriptions: 4 })
    u.subscribe('a', entries(1, 0, 4), 600, NOW)
    u.removeNeighbour('a')
    expect(u.subscribe('b', entries(2, 0, 4), 600, NOW)).toMatchObject({ added: 4 })
    expect(u.counters.subscriptionsDisplaced).toBe(0)
  })
})
