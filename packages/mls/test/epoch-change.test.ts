// The epoch-change machine (docs/spec/11-mls.md §11.7, §11.8), alone:
// time is passed in, actions come out.
import { describe, expect, it } from 'vitest'
import { ACK_TIMEOUT_MS, EpochChange, SETTLE_MS } from '../src/index.ts'

describe('EpochChange', () => {
  it('an add or update: held, then promoted by the last ack (not before), then settled', () => {
    const e = new EpochChange()
    e.hold(5, 1000)
    expect(e.held).toBe(5)
    expect(e.expectAcks(5, [1, 2], 1000, true)).toBeUndefined()
    expect(e.ack(5, 1)).toBeUndefined()
    expect(e.ack(4, 2)).toBeUndefined() // another epoch's ack counts for nothing
    expect(e.ack(5, 7)).toBeUndefined() // a leaf not awaited
    expect(e.ack(5, 2)).toEqual({ type: 'promote', epoch: 5, why: 'acked' })
    expect(e.awaitingAcks).toBeUndefined()
    e.release(5, 1300)
    expect(e.held).toBeUndefined()
    expect(e.lastSwitchMs).toBe(300)
    e.settle(1300)
    expect(e.nextDeadline()).toBe(1300 + SETTLE_MS)
    expect(e.tick(1300 + SETTLE_MS - 1)).toEqual([])
    expect(e.tick(1300 + SETTLE_MS)).toEqual([{ type: 'drop-previous' }])
    expect(e.tick(1300 + SETTLE_MS + 1)).toEqual([])
    expect(e.nextDeadline()).toBeUndefined()
  })

  it('promotes at once when there is no one to wait for (and only when asked to)', () => {
    const e = new EpochChange()
    e.hold(2, 0)
    expect(e.expectAcks(2, [], 0, true)).toEqual({ type: 'promote', epoch: 2, why: 'acked' })
    expect(new EpochChange().expectAcks(2, [], 0, false)).toBeUndefined()
  })

  it(`after ${ACK_TIMEOUT_MS} ms without every ack: promotes once, and resends to the silent leaves once`, () => {
    const e = new EpochChange()
    e.hold(9, 10_000)
    e.expectAcks(9, [3, 4, 5], 10_000, true)
    e.ack(9, 4)
    expect(e.nextDeadline()).toBe(10_000 + ACK_TIMEOUT_MS)
    expect(e.tick(10_000 + ACK_TIMEOUT_MS - 1)).toEqual([])
    expect(e.tick(10_000 + ACK_TIMEOUT_MS)).toEqual([
      { type: 'promote', epoch: 9, why: 'timeout' },
      { type: 'resend', epoch: 9, leaves: [3, 5] },
    ])
    // The promotion is the caller's: until it releases, nothing is due twice.
    expect(e.tick(20_000)).toEqual([])
    expect(e.held).toBe(9)
    expect(e.nextDeadline()).toBeUndefined()
  })

  it('a removal: acks awaited (to resend) but nothing held; switchNow ends a hold and a settle', () => {
    const e = new EpochChange()
    e.hold(3, 0)
    e.settle(0)
    e.switchNow()
    expect(e.held).toBeUndefined()
    expect(e.expectAcks(4, [1], 0, false)).toBeUndefined()
    expect(e.ack(4, 1)).toBeUndefined() // all in, nothing held: nothing to promote
    expect(e.tick(60_000)).toEqual([])
  })

  it('a newer wait for acks replaces the older; a newer hold replaces the older', () => {
    const e = new EpochChange()
    e.expectAcks(1, [1], 0, true)
    e.expectAcks(2, [2], 500, true)
    expect(e.ack(1, 1)).toBeUndefined()
    e.hold(1, 0)
    e.hold(2, 500)
    expect(e.ack(2, 2)).toEqual({ type: 'promote', epoch: 2, why: 'acked' })
    expect(e.nextDeadline()).toBe(500 + ACK_TIMEOUT_MS)
  })

  it('stop: nothing is due any more', () => {
    const e = new EpochChange()
    e.hold(1, 0)
    e.expectAcks(1, [1], 0, true)
    e.settle(0)
    e.stop()
    expect(e.nextDeadline()).toBeUndefined()
    expect(e.tick(1e9)).toEqual([])
  })
})
