// Propagation against a slow, obviously-correct reference (spec 12-relay.md
// §3): random sequences of SUBs (under two keys, two proofs each, or none;
// one entry per origin, key and VFT, resting on its latest SUB's proof),
// UNSUBs, departures, expiry, snapshots and clock steps over five
// neighbours, one of them a configured relay. After every step both must
// agree on every message; and, checked apart from the reference, no message
// to a neighbour carries an entry of a key that neighbour does not prove at
// that moment, unless it is the relay or the entry came without a proof. A
// SUB's entries carry the flags every origin but the hearer advertises to
// it (issue 17).
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type PropagatedMessage, Propagation, type VerifiedProof } from '../src/index.ts'

const NEIGHBOURS = ['a', 'b', 'c', 'd', 'r']
const RELAY = 'r'
const KEYS = [new Uint8Array(32).fill(0x10), new Uint8Array(32).fill(0x20)]
/** VFTs are derived per VLAN epoch, so each belongs to one key: 0-2 to key 0, 3-5 to key 1, 6-7 to none. */
const CLASS = [0, 0, 0, 1, 1, 1, undefined, undefined] as const
const VFTS = CLASS.map((_, i) => Uint8Array.from({ length: 16 }, (_, j) => (i * 29 + j * 7) & 0xff))
const vftIndex = (vft: Uint8Array) => VFTS.findIndex((v) => v.every((b, j) => b === vft[j]))
/** Proof `variant` under key `k`: the key at offset 0 (spec 07 §2), then the variant. */
const PROOFS = KEYS.map((key) =>
  [0, 1].map((variant): VerifiedProof => {
    const proof = new Uint8Array(120).fill(variant)
    proof.set(key)
    return { proof, provingKey: key }
  }),
)
const proofId = (proof: Uint8Array | undefined): string =>
  proof === undefined ? '-' : `${proof[0] === 0x10 ? 0 : 1}.${proof[32]}`
const MIN_RENEW = 10

// ---------------------------------------------------------------------------
// The reference: flat state, every question answered by a scan.

interface RefEntry {
  flags: number
  expiresAt: number
  propagatedUntil: number
  /** The proof of the latest SUB that renewed it. */
  proof: string
}
/** One origin's entries under one key (or none): one per VFT, as the forwarding table keeps them. */
interface RefKeyed {
  key: number | undefined
  entries: Map<number, RefEntry>
}
interface Cleared {
  origin: string
  key: number | undefined
  vft: number
  flags: number
}
/** One message, normalized: `to unsub|sub ttl proof [vft:flags...]`. */
type Msg = string

const msg = (to: string, unsub: boolean, ttl: number, proof: string, entries: [number, number][]) =>
  `${to} ${unsub ? 'unsub' : 'sub'} ${ttl} ${proof} ${entries
    .map(([v, f]) => `${v}:${f}`)
    .sort()
    .join(',')}`
const ttlOf = (until: number, now: number) => Math.max(1, Math.min(65_535, Math.floor(until - now)))
const keyId = (key: number | undefined) => (key === undefined ? '-' : `${key}`)

class ReferencePropagation {
  /** origin -> key id -> its entries under that key */
  readonly origins = new Map<string, Map<string, RefKeyed>>()
  /** What the last withdrawal cleared, by origin and key. */
  cleared: Cleared[] = []

  proves(to: string, key: number, now: number): boolean {
    const k = this.origins.get(to)?.get(keyId(key))
    for (const e of k?.entries.values() ?? []) if (e.expiresAt > now) return true
    return false
  }

  hears(to: string, key: number | undefined, now: number): boolean {
    return key === undefined || to === RELAY || this.proves(to, key, now)
  }

  get size(): number {
    let n = 0
    for (const ks of this.origins.values()) for (const k of ks.values()) n += k.entries.size
    return n
  }

  learn(
    from: string,
    entries: [number, number][],
    key: number | undefined,
    variant: number,
    expiresAt: number,
    up: string[],
    now: number,
  ): Msg[] {
    if (entries.length === 0 || expiresAt <= now) return []
    const wasProving = key !== undefined && this.proves(from, key, now)
    const proof = key === undefined ? '-' : `${key}.${variant}`
    let keys = this.origins.get(from)
    if (keys === undefined) {
      keys = new Map()
      this.origins.set(from, keys)
    }
    let k = keys.get(keyId(key))
    if (k === undefined) {
      k = { key, entries: new Map() }
      keys.set(keyId(key), k)
    }
    const changed: [number, number][] = []
    for (const [v, flags] of entries) {
      const e = k.entries.get(v)
      if (e === undefined || e.flags !== flags || expiresAt - e.propagatedUntil >= MIN_RENEW) {
        k.entries.set(v, { flags, expiresAt, propagatedUntil: expiresAt, proof })
        changed.push([v, flags])
      } else {
        // A renewal too small to pass on; it rests on the newer proof all the same.
        e.expiresAt = Math.max(e.expiresAt, expiresAt)
        e.proof = proof
      }
    }
    const out: Msg[] = []
    if (changed.length > 0) {
      for (const to of up) {
        if (to !== from && this.hears(to, key, now)) {
          out.push(msg(to, false, ttlOf(expiresAt, now), proof, this.heard(to, changed, now)))
        }
      }
    }
    if (key !== undefined && !wasProving && from !== RELAY && up.includes(from)) {
      out.push(...this.snapshotFor(from, now, key))
    }
    return out
  }

  forget(from: string, entries: [number, number][], up: string[], now: number): Msg[] {
    const cleared: Cleared[] = []
    for (const [v, flags] of entries) {
      for (const k of this.origins.get(from)?.values() ?? []) {
        const e = k.entries.get(v)
        if (e === undefined || (e.flags & flags) === 0) continue
        cleared.push({ origin: from, key: k.key, vft: v, flags: e.flags & flags })
        e.flags &= ~flags & 3
        if (e.flags === 0) k.entries.delete(v)
      }
    }
    this.prune()
    return this.withdraw(cleared, up, now)
  }

  remove(from: string, up: string[], now: number): Msg[] {
    const cleared: Cleared[] = []
    for (const k of this.origins.get(from)?.values() ?? []) {
      for (const [v, e] of k.entries) {
        if (e.expiresAt > now) cleared.push({ origin: from, key: k.key, vft: v, flags: e.flags })
      }
    }
    this.origins.delete(from)
    return this.withdraw(cleared, up, now)
  }

  expire(up: string[], now: number): Msg[] {
    const cleared: Cleared[] = []
    for (const [origin, ks] of this.origins) {
      for (const k of ks.values()) {
        for (const [v, e] of k.entries) {
          if (e.expiresAt > now) continue
          cleared.push({ origin, key: k.key, vft: v, flags: e.flags })
          k.entries.delete(v)
        }
      }
    }
    this.prune()
    return this.withdraw(cleared, up, now)
  }

  /** What `to` may hear (all keys, or only `only`'s): one message per origin and proof. */
  snapshotFor(to: string, now: number, only?: number): Msg[] {
    const out: Msg[] = []
    for (const [origin, ks] of this.origins) {
      if (origin === to) continue
      for (const k of ks.values()) {
        if (only !== undefined && k.key !== only) continue
        if (!this.hears(to, k.key, now)) continue
        const live = [...k.entries].filter(([, e]) => e.expiresAt > now)
        for (const proof of new Set(live.map(([, e]) => e.proof))) {
          const group = live.filter(([, e]) => e.proof === proof)
          const until = Math.max(...group.map(([, e]) => e.expiresAt))
          out.push(
            msg(
              to,
              false,
              ttlOf(until, now),
              proof,
              this.heard(
                to,
                group.map(([v, e]) => [v, e.flags]),
                now,
              ),
            ),
          )
        }
      }
    }
    return out
  }

  withdraw(cleared: Cleared[], up: string[], now: number): Msg[] {
    this.cleared = cleared
    const out: Msg[] = []
    const vfts = [...new Set(cleared.map((c) => c.vft))]
    for (const to of up) {
      const entries: [number, number][] = []
      for (const v of vfts) {
        let flags = 0
        for (const c of cleared) {
          if (c.vft === v && c.origin !== to && this.hears(to, c.key, now)) flags |= c.flags
        }
        const gone = flags & ~this.advertised(to, v, now)
        if (gone !== 0) entries.push([v, gone])
      }
      if (entries.length > 0) out.push(msg(to, true, 0, '-', entries))
    }
    return out
  }

  /** Flags of VFT `v` that origins but `to` advertise to it, live, under keys it may hear. */
  advertised(to: string, v: number, now: number): number {
    let advertised = 0
    for (const [origin, ks] of this.origins) {
      if (origin === to) continue
      for (const k of ks.values()) {
        const e = k.entries.get(v)
        if (e !== undefined && e.expiresAt > now && this.hears(to, k.key, now)) {
          advertised |= e.flags
        }
      }
    }
    return advertised
  }

  /** Entries as `to` hears them: with the flags the others advertise to it too (issue 17). */
  heard(to: string, entries: [number, number][], now: number): [number, number][] {
    return entries.map(([v, f]) => [v, f | this.advertised(to, v, now)])
  }

  prune(): void {
    for (const [origin, ks] of this.origins) {
      for (const [id, k] of ks) if (k.entries.size === 0) ks.delete(id)
      if (ks.size === 0) this.origins.delete(origin)
    }
  }
}

// ---------------------------------------------------------------------------

const neighbour = fc.constantFrom(...NEIGHBOURS)
/** UNSUB entries, mostly of both flags, so that whole subscriptions go. */
const entries = fc.array(
  fc.tuple(
    fc.integer({ min: 0, max: VFTS.length - 1 }),
    fc.oneof({ weight: 2, arbitrary: fc.constant(3) }, fc.integer({ min: 1, max: 2 })),
  ),
  { minLength: 1, maxLength: 2 },
)
const op = fc.record({
  dt: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 8 }) },
    { weight: 1, arbitrary: fc.integer({ min: 9, max: 90 }) },
  ),
  /** A neighbour that is down for this step (not in the list passed), or none. */
  down: fc.option(neighbour, { freq: 4, nil: undefined }),
  act: fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('learn' as const),
        from: neighbour,
        key: fc.option(fc.integer({ min: 0, max: 1 }), { freq: 5, nil: undefined }),
        variant: fc.integer({ min: 0, max: 1 }),
        /** Indices into the key's own VFTs (a proof covers only its epoch's VFTs). */
        picks: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 3 })), {
          minLength: 0,
          maxLength: 3,
        }),
        /** Now and then a VFT of another key: a collision, so one VFT is held under two keys. */
        collide: fc.option(fc.integer({ min: 0, max: VFTS.length - 1 }), {
          freq: 8,
          nil: undefined,
        }),
        ttl: fc.oneof(
          { weight: 4, arbitrary: fc.integer({ min: 1, max: 25 }) },
          { weight: 1, arbitrary: fc.integer({ min: -5, max: 120 }) },
        ),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant('forget' as const), from: neighbour, entries }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), from: neighbour }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('expire' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), to: neighbour }) },
  ),
})

const normalize = (ms: PropagatedMessage[]): Msg[] =>
  ms
    .map((m) =>
      msg(
        m.neighbour,
        m.unsubscribe,
        m.ttl,
        proofId(m.proof),
        m.entries.map((e) => [vftIndex(e.vft), e.flags]),
      ),
    )
    .sort()

describe('Propagation against the reference', () => {
  it('agrees on every message, and tells nobody of a key it does not prove', () => {
    const reached = new Map<string, number>()
    const tally = (name: string, n = 1) => reached.set(name, (reached.get(name) ?? 0) + n)
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 80 }), (ops) => {
        const fast = new Propagation({ minRenewSeconds: MIN_RENEW, relays: (id) => id === RELAY })
        const ref = new ReferencePropagation()
        let now = 1_000
        for (const { dt, down, act } of ops) {
          now += dt
          const up = NEIGHBOURS.filter((n) => n !== down)
          let got: PropagatedMessage[]
          let want: Msg[]
          switch (act.kind) {
            case 'learn': {
              const base = act.key === undefined ? 6 : act.key * 3
              const es = act.picks
                .filter(([i]) => act.key !== undefined || i < 2)
                .map(([i, f]): [number, number] => [base + i, f])
              if (act.collide !== undefined) es.push([act.collide, 3])
              const proof = act.key === undefined ? undefined : PROOFS[act.key]![act.variant]!
              const wasProving = act.key !== undefined && ref.proves(act.from, act.key, now)
              const expiresAt = now + act.ttl
              got = fast.learn(
                act.from,
                es.map(([v, flags]) => ({ vft: VFTS[v]!, flags })),
                proof,
                expiresAt,
                up,
                now,
              )
              want = ref.learn(act.from, es, act.key, act.variant, expiresAt, up, now)
              if (!wasProving && got.some((m) => m.neighbour === act.from)) tally('first-proof')
              break
            }
            case 'forget': {
              const es = act.entries.map(([v, flags]) => ({ vft: VFTS[v]!, flags }))
              got = fast.forget(act.from, es, up, now)
              want = ref.forget(act.from, act.entries, up, now)
              break
            }
            case 'remove':
              got = fast.removeNeighbour(act.from, up, now)
              want = ref.remove(act.from, up, now)
              break
            case 'expire':
              got = fast.expire(up, now)
              want = ref.expire(up, now)
              break
            case 'snapshot':
              got = fast.snapshotFor(act.to, now)
              want = ref.snapshotFor(act.to, now)
              break
          }
          expect(normalize(got)).toEqual(want.sort())
          expect(fast.size).toBe(ref.size)
          // The audience rule itself, judged from the state after the step: a SUB's
          // key is its proof's; an UNSUB's, that of a group it withdraws.
          for (const m of got) {
            tally(m.unsubscribe ? 'unsub' : 'sub')
            const to = m.neighbour
            const may = (key: number | undefined) =>
              key === undefined || to === RELAY || ref.proves(to, key, now)
            for (const e of m.entries) {
              const v = vftIndex(e.vft)
              if (m.unsubscribe) {
                const from = ref.cleared.filter((c) => c.vft === v && c.origin !== to)
                expect(
                  from.some((c) => may(c.key)),
                  `${to} may hear of VFT ${v}`,
                ).toBe(true)
                continue
              }
              const key =
                m.proof === undefined ? undefined : KEYS.findIndex((k) => k[0] === m.proof![0])
              expect(may(key), `${to} hears key ${key}`).toBe(true)
              if (key !== undefined && to !== RELAY) tally('to-member')
            }
          }
        }
      }),
      { numRuns: 300 },
    )
    for (const path of ['first-proof', 'sub', 'unsub', 'to-member']) {
      expect(reached.get(path) ?? 0, path).toBeGreaterThan(20)
    }
  })
})
