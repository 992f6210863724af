// The table-wide proof-check budget (spec 09-forwarding.md §7): many
// identities each within their own proof-check rate cannot make the relay
// verify more than the budget (plus each one's small quiet allowance), and a
// member's occasional check still passes while the flood has spent it.
import { describe, expect, it } from 'vitest'
import {
  ForwardingTable,
  QUIET_PROOF_CHECK_BURST,
  QUIET_PROOF_CHECKS_PER_SECOND,
} from '../src/index.ts'

const limits = { proofChecksPerSecond: 20, proofCheckBurst: 40 }

describe('proof-check budget over all neighbours', () => {
  it('holds a flood of identities to the budget plus their quiet allowances', () => {
    const t = new ForwardingTable({ limits, proofCheckBudget: { perSecond: 100, burst: 100 } })
    const flood = Array.from({ length: 500 }, (_, i) => `flood-${i}`)
    let passed = 0
    // 10 s: every identity asks at its own rate (20/s), in 100 ms steps.
    for (let step = 0; step < 100; step++) {
      const now = 1000 + step / 10
      for (const id of flood)
        for (let k = 0; k < 2; k++) if (t.chargeProofCheck(id, 1, now) === undefined) passed++
    }
    const allowance = flood.length * (QUIET_PROOF_CHECK_BURST + 10 * QUIET_PROOF_CHECKS_PER_SECOND)
    // Without the budget: 500 × (40 + 20 × 10) checks.
    expect(passed).toBeLessThanOrEqual(100 + 100 * 10 + allowance + 1)
    expect(passed).toBeGreaterThanOrEqual(100 * 10)
    expect(t.counters.proofChecksOverBudget).toBeGreaterThan(0)
  })

  it("lets a member's occasional checks through while the flood holds the budget at zero", () => {
    const t = new ForwardingTable({ limits, proofCheckBudget: { perSecond: 10, burst: 10 } })
    let member = 0
    for (let step = 0; step < 600; step++) {
      const now = 1000 + step / 10
      for (let i = 0; i < 50; i++) t.chargeProofCheck(`flood-${i}`, 1, now)
      // The member: a burst of 3 new proofs (a window turn) every 20 s.
      if (step % 200 === 0)
        for (let k = 0; k < 3; k++) if (t.chargeProofCheck('member', 1, now) === undefined) member++
    }
    expect(member).toBe(9)
  })

  it('a check refused for the budget spends none of the neighbour’s own tokens', () => {
    // Its own bucket: 10 tokens, hardly refilled.
    const t = new ForwardingTable({
      limits: { proofChecksPerSecond: 0.001, proofCheckBurst: 10 },
      proofCheckBudget: { perSecond: 0.001, burst: 1 },
    })
    // The quiet allowance first, then the budget's one token: 9 of its 10.
    for (let i = 0; i < QUIET_PROOF_CHECK_BURST + 1; i++)
      expect(t.chargeProofCheck('a', 1, 1000)).toBeUndefined()
    // Refused for the budget, twice: its last own token is given back each time.
    expect(t.chargeProofCheck('a', 1, 1000)).toBe('sub-rate')
    expect(t.chargeProofCheck('a', 1, 1000)).toBe('sub-rate')
    expect(t.counters.proofChecksOverBudget).toBe(2)
    // Another neighbour still has its own quiet allowance.
    expect(t.chargeProofCheck('b', 1, 1000)).toBeUndefined()
  })

  it('without a budget, only the neighbour’s own rate counts', () => {
    const t = new ForwardingTable({ limits })
    let passed = 0
    for (let i = 0; i < 100; i++) if (t.chargeProofCheck(`n-${i}`, 1, 1000) === undefined) passed++
    expect(passed).toBe(100)
    expect(t.counters.proofChecksOverBudget).toBe(0)
  })
})
