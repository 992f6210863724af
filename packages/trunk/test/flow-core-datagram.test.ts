/**
 * The fast path's native core (@peertap/tap's flowCore: src/flow-core.cc)
 * against this package's DATA datagram vectors (test/vectors/datagram.json,
 * docs/spec/13-datagram-link.md §8), byte for byte and decision for
 * decision, with the replay window in cells shared with JavaScript
 * (docs/spec/18-fast-path.md §18.8). The sealed payload's half is in
 * packages/tap/test/flow-core.test.ts.
 */
import { readFileSync } from 'node:fs'
import { FlowCells, flowCore, WINDOW_WORDS } from '@peertap/tap'
import { describe, expect, it } from 'vitest'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const DATA_DROPS = ['accepted', 'malformed', 'unknown-type', 'not-data', 'auth']
/** The addon builds at install; in CI a missing one fails these tests instead of skipping them. */
const skip =
  process.platform !== 'linux'
    ? 'not Linux'
    : (() => {
        try {
          new FlowCells(1)
          return false
        } catch (error) {
          if (process.env.CI !== undefined) throw error
          return 'the @peertap/tap addon is not built'
        }
      })()

describe.skipIf(skip)('fast path core: the DATA datagram', () => {
  const d = JSON.parse(readFileSync(new URL('./vectors/datagram.json', import.meta.url), 'utf8'))
  const keyTo = (to: string) =>
    bytes(
      d.pathKeys.find((k: { name: string }) => k.name === (to === 'B' ? 'A -> B' : 'B -> A')).key,
    )

  it('seals every valid DATA vector to its bytes and opens it; hands PING and PONG up untouched', () => {
    let data = 0
    for (const v of d.datagrams.valid) {
      const key = keyTo(v.to)
      const got = flowCore.openData(key, bytes(v.hex))
      if (v.message.type !== 'data') {
        expect(DATA_DROPS[got.drop], v.name).toBe('not-data')
        continue
      }
      data++
      const m = v.message
      const sealed = flowCore.sealData(
        key,
        v.receiverIndex,
        v.counter,
        m.hopLimit,
        bytes(m.vft),
        bytes(m.sealed),
      )
      expect(hex(sealed), v.name).toBe(v.hex)
      expect(got.drop, v.name).toBe(0)
      expect(got.receiverIndex).toBe(v.receiverIndex)
      expect(got.counter).toBe(v.counter)
      expect(got.hopLimit).toBe(m.hopLimit)
      expect(hex(got.vft!)).toBe(m.vft)
    }
    expect(data).toBeGreaterThanOrEqual(6)
  })

  it("drops every invalid vector for the reference's reason (PING and PONG go up, the endpoint's index check is not here)", () => {
    let checked = 0
    for (const v of d.datagrams.invalid) {
      if (v.reason === 'unknown-index') continue
      const raw = bytes(v.hex)
      const got = DATA_DROPS[flowCore.openData(keyTo(v.to), raw).drop]
      // Past checks 3 to 5, a PING or PONG is JavaScript's: its length
      // column and its tag are checked there.
      const pingPong = raw.length >= 25 && (raw[0] === 2 || raw[0] === 3) && got === 'not-data'
      expect(
        pingPong ? v.reason === 'auth' || v.reason === 'malformed' : got === v.reason,
        v.name,
      ).toBe(true)
      checked++
    }
    expect(checked).toBeGreaterThan(15)
  })

  it('takes the replay sequences to their outcomes with the window in shared cells', () => {
    for (const s of d.datagrams.sequences) {
      const key = keyTo(s.to)
      const cells = new FlowCells(WINDOW_WORDS)
      const w = cells.newWindow()
      for (const step of s.steps) {
        const raw = bytes(step.hex)
        const got = flowCore.openData(key, raw)
        const counter = new DataView(raw.buffer, raw.byteOffset).getUint32(5)
        const verdict = raw.length >= 9 ? cells.check(w, counter) : 'fresh'
        if (got.drop === 3) {
          // PING and PONG: opened by JavaScript, which marks the same window.
          if (step.outcome === 'accepted') expect(cells.accept(w, counter), step.note).toBe('fresh')
          else expect(verdict, step.note).toBe(step.outcome)
          continue
        }
        if (got.drop === 1 || got.drop === 2) {
          expect(DATA_DROPS[got.drop], step.note).toBe(step.outcome)
          continue
        }
        if (verdict !== 'fresh') {
          expect(verdict, step.note).toBe(step.outcome)
          continue
        }
        if (got.drop !== 0) {
          expect(DATA_DROPS[got.drop], step.note).toBe(step.outcome)
          continue
        }
        expect(flowCore.windowAccept(cells, w, counter), step.note).toBe('fresh')
        expect('accepted', step.note).toBe(step.outcome)
        expect(hex(got.vft!), step.note).toBe(step.opened.vft)
      }
    }
  })
})
