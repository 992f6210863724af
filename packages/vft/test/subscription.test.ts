import { describe, expect, it } from 'vitest'
import {
  BROADCAST_MAC,
  diffSubscriptions,
  heldWindows,
  parseMac,
  secondsUntilHeldWindowsChange,
  subscriptionSet,
  VftDeriver,
  vftKey,
} from '../src/index.ts'

const current = new VftDeriver(new Uint8Array(32).fill(1))
const previous = new VftDeriver(new Uint8Array(32).fill(2))
const own = parseMac('02:00:00:00:00:01')
const learned = parseMac('52:54:00:12:34:56')
const solicited = parseMac('33:33:ff:00:00:01')
const allNodes = parseMac('33:33:00:00:00:01')
const start = 2_963_231 * 600

describe('subscriptionSet', () => {
  it('covers own and learned MACs, broadcast and multicast, for every held window and epoch', () => {
    const subs = subscriptionSet({
      unixSeconds: start + 30,
      epochs: [
        { epoch: 7, deriver: current },
        { epoch: 6, deriver: previous },
      ],
      unicastMacs: [own, learned],
      multicastMacs: [solicited, allNodes],
    })
    // 2 epochs x 3 windows (previous, current, next: inside the 120 s grace) x 5 MACs
    expect(subs).toHaveLength(2 * 3 * 5)
    for (const epoch of [7, 6]) {
      const deriver = epoch === 7 ? current : previous
      for (const window of heldWindows(start + 30)) {
        for (const mac of [own, learned, BROADCAST_MAC, solicited, allNodes]) {
          const sub = subs.find(
            (s) => s.epoch === epoch && s.window === window && vftKey(s.mac) === vftKey(mac),
          )
          expect(sub?.vft).toEqual(deriver.derive(mac, window))
        }
      }
    }
    expect(new Set(subs.map((s) => vftKey(s.vft))).size).toBe(subs.length)
  })

  it('lists each MAC once, even when the multicast list repeats broadcast or a MAC', () => {
    const subs = subscriptionSet({
      unixSeconds: start + 300,
      epochs: [{ epoch: 1, deriver: current }],
      unicastMacs: [own, own],
      multicastMacs: [BROADCAST_MAC, solicited, solicited],
    })
    expect(subs).toHaveLength(2 * 3)
  })

  it('drops the previous window after the grace period, and says when the set changes next', () => {
    const input = { epochs: [{ epoch: 1, deriver: current }], unicastMacs: [own] }
    expect(subscriptionSet({ ...input, unixSeconds: start + 119 })).toHaveLength(3 * 2)
    expect(subscriptionSet({ ...input, unixSeconds: start + 120 })).toHaveLength(2 * 2)
    expect(secondsUntilHeldWindowsChange(start + 100)).toBe(20)
    expect(secondsUntilHeldWindowsChange(start + 120)).toBe(480)
  })

  it('diffs two sets into the VFTs to subscribe and to drop', () => {
    const input = { epochs: [{ epoch: 1, deriver: current }], unicastMacs: [own] }
    const before = subscriptionSet({ ...input, unixSeconds: start + 60 })
    const after = subscriptionSet({ ...input, unixSeconds: start + 600 + 60 })
    const { added, removed } = diffSubscriptions(before, after)
    // before: windows w-1, w, w+1; after: w, w+1, w+2
    expect(removed.map((s) => s.window)).toEqual([2_963_230, 2_963_230])
    expect(added.map((s) => s.window)).toEqual([2_963_233, 2_963_233])
  })
})
