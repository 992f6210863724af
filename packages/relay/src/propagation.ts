/**
 * Subscription propagation (spec 12-relay.md §3): what a relay tells each
 * neighbour about the others' subscriptions, so that a node behind a relay
 * learns that the relay can deliver VFT(x) and sends those frames to it.
 *
 * - Audience: an origin's subscriptions under a proof go only to neighbours
 *   that hold live subscriptions under the same proving key here (members
 *   of that VLAN epoch) and to configured relays; without a proof, to every
 *   neighbour. A member hears the others' subscriptions under a key when it
 *   first proves that key.
 * - Split horizon: never back to the origin.
 * - Verbatim: each subscription goes on with the membership proof of the
 *   latest SUB that renewed it (12-relay.md §3); the relay never signs
 *   anything. Its flags are those of every origin but the hearer that
 *   advertise the VFT to it: downstream keeps one subscription per (VFT,
 *   relay), with the flags of the last SUB.
 * - Soft state: a propagated SUB carries the TTL the relay granted, so it
 *   lapses downstream when it lapses here; the subscriber's own renewals
 *   renew it downstream. A renewal that would move the expiry by less than
 *   `minRenewSeconds` is not passed on, so a SUB storm is not amplified.
 * - UNSUB: when a subscription goes (UNSUB, expiry, the neighbour leaves),
 *   each neighbour that may hear of it gets an UNSUB for the flags that no
 *   remaining subscription it may hear of still advertises to it.
 * - Bounded (spec 12 §12.3.1): one entry per (origin, proving key, VFT), as
 *   the forwarding table keeps them, with the proof of its latest SUB (an
 *   older proof is kept only while entries still rest on it), within a
 *   budget per origin of entries and proof bytes. The work per message
 *   follows its audience, not the number of neighbours; expiry visits only
 *   the origins and keys whose entries are due.
 *
 * Pure: the caller passes the neighbours that are up and the time in
 * seconds, and sends the messages returned.
 */
import { FLAGS_MASK, PROVING_KEY_LENGTH, VFT_LENGTH } from './constants.ts'
import { RelayError } from './errors.ts'
import { hex } from './hash.ts'
import type { SubscriptionEntry } from './table.ts'

/** A SUB or UNSUB to send to one neighbour. */
export interface PropagatedMessage {
  readonly neighbour: string
  readonly unsubscribe: boolean
  /** Seconds; 0 for an UNSUB. */
  readonly ttl: number
  readonly entries: SubscriptionEntry[]
  /** The membership proof exactly as the subscriber sent it, if any. */
  readonly proof?: Uint8Array
}

/** A membership proof the caller has verified, and the key it was verified under. */
export interface VerifiedProof {
  /** The proof exactly as received (spec 07 §2), passed on byte for byte. */
  readonly proof: Uint8Array
  /**
   * Its 32-byte Ed25519 public key (spec 07 §1, offset 0 of the proof): the
   * VLAN epoch the subscriber is a member of, which decides who hears it.
   */
  readonly provingKey: Uint8Array
}

/** What one origin may hold for propagation (spec 12 §12.3.1). */
export interface OriginBudget {
  /** Entries, over all its keys: its table limit (maxSubscriptions). */
  readonly subscriptions: number
  /** Bytes of the distinct proofs kept for its entries. */
  readonly proofBytes: number
}

/**
 * Proof bytes an origin may keep per subscription it may hold: four times
 * the 16 bytes a proof spends on each VFT it covers (spec 07 §2), room for
 * the proofs' own fields and for VFTs a proof covers that its subscriber
 * does not subscribe here.
 */
export const PROOF_BYTES_PER_SUBSCRIPTION = 64

/** The budget of an origin the table lets hold `maxSubscriptions` (spec 12 §12.3.1). */
export function originBudget(maxSubscriptions: number): OriginBudget {
  return {
    subscriptions: maxSubscriptions,
    proofBytes: maxSubscriptions * PROOF_BYTES_PER_SUBSCRIPTION,
  }
}

/**
 * The neighbours that are up and may hear propagated SUBs. Pass the same
 * object while they stay the same: what is derived from it (which are
 * configured relays) is computed once per object.
 */
export type Neighbours = Iterable<string>

export interface PropagationOptions {
  /** A renewal is passed on only if it moves the expiry by at least this much. Default 10. */
  readonly minRenewSeconds?: number
  /** Entries per message (spec 08 §4.3 allows 1024). Default 1024. */
  readonly maxEntries?: number
  /**
   * The configured neighbour relays (`admission.relays`, spec 12 §4): they
   * hear every subscription, to pass it on through the relay mesh. Default:
   * none.
   */
  readonly relays?: (neighbour: string) => boolean
  /**
   * What each origin may hold, asked once when it first subscribes: what
   * would go over it is neither held nor passed on (counted in
   * `counters.overBudget`). Default: no limit.
   */
  readonly budget?: (origin: string) => OriginBudget
}

export interface PropagationCounters {
  /** Entries neither held nor passed on: their origin was at its budget. */
  overBudget: number
}

/** One subscription of one origin under one key (or none). */
interface Held {
  /** The proof it rests on: that of the latest SUB that renewed it. */
  group: Group
  flags: number
  expiresAt: number
  /** Expiry of the copy downstream neighbours last heard of. */
  propagatedUntil: number
}

/** One proof (or none) of one origin, kept while entries rest on it. */
interface Group {
  readonly proved: Proved
  /** Its key in `proved.groups`: the proof's signature (see groupId), '' without a proof. */
  readonly id: string
  readonly proof: Uint8Array | undefined
  /** Entries resting on it. */
  size: number
}

/** One origin's entries under one proving key (or none). */
interface Proved {
  readonly origin: Origin
  /** The proving key as hex, '' without a proof: who may hear these entries. */
  readonly key: string
  /** VFT name -> entry. */
  readonly entries: Map<string, Held>
  readonly groups: Map<string, Group>
  /** No entry expires before this (a lower bound): when expiry next looks here. */
  due: number
  /** No entry expires after this (an upper bound): `proves` is false from then on without a look. */
  until: number
  /** Removed: a heap slot still naming it is skipped. */
  gone: boolean
}

interface Origin {
  readonly id: string
  readonly byKey: Map<string, Proved>
  readonly budget: OriginBudget
  entries: number
  proofBytes: number
}

/** A neighbour list, with what is derived from it. */
interface View {
  readonly all: readonly string[]
  readonly up: ReadonlySet<string>
  /** Those of `all` that are configured relays. */
  readonly relays: ReadonlySet<string>
}

/**
 * Flags withdrawn, by proving key (who may hear), then VFT name, then
 * origin (for split horizon). Keyed by proving key first so that the work
 * follows each key's audience.
 */
type Cleared = Map<string, Map<string, Map<string, number>>>

const NO_KEY = ''
const UNLIMITED: OriginBudget = {
  subscriptions: Number.POSITIVE_INFINITY,
  proofBytes: Number.POSITIVE_INFINITY,
}
/** Spec 07 §2: the Ed25519 signature follows the 32-byte key. */
const SIGNATURE_OFFSET = PROVING_KEY_LENGTH
const SIGNATURE_LENGTH = 64

export class Propagation {
  readonly counters: PropagationCounters = { overBudget: 0 }
  readonly #minRenew: number
  readonly #maxEntries: number
  readonly #relays: (neighbour: string) => boolean
  readonly #budget: (origin: string) => OriginBudget
  readonly #origins = new Map<string, Origin>()
  /** proving key hex (or '') -> origin -> its entries under that key: who proves what, and the per-key snapshot. */
  readonly #byKey = new Map<string, Map<string, Proved>>()
  /** VFT name -> the entries holding it (one, or an array of several), for "still advertised" without a scan. */
  readonly #holders = new Map<string, Held | Held[]>()
  /** Min-heap of (due, Proved): what expiry looks at next. Slots of a moved or removed Proved are skipped. */
  readonly #heapDue: number[] = []
  readonly #heapProved: Proved[] = []
  readonly #views = new WeakMap<object, View>()
  #size = 0

  constructor(options: PropagationOptions = {}) {
    this.#minRenew = options.minRenewSeconds ?? 10
    this.#maxEntries = options.maxEntries ?? 1024
    const relays = options.relays ?? (() => false)
    if (typeof relays !== 'function') {
      throw new RelayError('invalid-option', 'relays: a function of a neighbour id')
    }
    this.#relays = relays
    const budget = options.budget ?? (() => UNLIMITED)
    if (typeof budget !== 'function') {
      throw new RelayError('invalid-option', 'budget: a function of a neighbour id')
    }
    this.#budget = budget
  }

  /** Subscriptions held for propagation, over all origins. */
  get size(): number {
    return this.#size
  }

  /** Origins holding subscriptions here. */
  get origins(): number {
    return this.#origins.size
  }

  /** What `origin` holds here against its budget, or undefined when it holds nothing. */
  originStats(
    origin: string,
  ): { subscriptions: number; proofs: number; proofBytes: number } | undefined {
    const o = this.#origins.get(origin)
    if (o === undefined) return undefined
    let proofs = 0
    for (const proved of o.byKey.values()) proofs += proved.groups.size
    return { subscriptions: o.entries, proofs, proofBytes: o.proofBytes }
  }

  /**
   * `from` now holds `entries` (those the table accepted) until `expiresAt`,
   * under `proof` (verified by the caller) or none. Returns the SUBs for the
   * other neighbours that may hear them (§3): the new or changed entries,
   * and renewals that extend the expiry enough; and, when this is `from`'s
   * first live proof of its key, the others' live subscriptions under that
   * key for `from`.
   */
  learn(
    from: string,
    entries: readonly SubscriptionEntry[],
    proof: VerifiedProof | undefined,
    expiresAt: number,
    neighbours: Neighbours,
    now: number,
  ): PropagatedMessage[] {
    if (proof !== undefined && proof.provingKey.length !== PROVING_KEY_LENGTH) {
      throw new RelayError('invalid-argument', `provingKey: ${PROVING_KEY_LENGTH} bytes`)
    }
    if (entries.length === 0 || expiresAt <= now) return []
    const view = this.#view(neighbours)
    const origin = this.#origin(from)
    const proved = this.#proved(origin, proof === undefined ? NO_KEY : hex(proof.provingKey))
    const wasProving = this.#proves(proved, now)
    const group = this.#group(proved, proof)
    if (group === undefined) {
      // A new proof over the origin's proof budget: none of it is held.
      this.counters.overBudget += entries.length
      this.#releaseIfEmpty(proved)
      return []
    }
    const changed: SubscriptionEntry[] = []
    for (const { vft, flags } of entries) {
      const name = nameOf(vft)
      const held = proved.entries.get(name)
      if (held === undefined) {
        if (origin.entries >= origin.budget.subscriptions) {
          this.counters.overBudget++
          continue
        }
        this.#add(proved, name, { group, flags, expiresAt, propagatedUntil: expiresAt })
        changed.push({ vft, flags })
        continue
      }
      if (held.group !== group) {
        // Renewed under a newer proof of the same key: it rests on that one now.
        group.size++
        this.#unref(held.group)
        held.group = group
      }
      if (held.flags !== flags || expiresAt - held.propagatedUntil >= this.#minRenew) {
        held.flags = flags
        held.expiresAt = expiresAt
        held.propagatedUntil = expiresAt
        changed.push({ vft, flags })
      } else {
        held.expiresAt = Math.max(held.expiresAt, expiresAt)
      }
      if (held.expiresAt < proved.due) this.#push(held.expiresAt, proved)
    }
    proved.until = Math.max(proved.until, expiresAt)
    // Entries over the subscription budget may leave the new proof with none.
    if (group.size === 0) this.#unref(group)
    this.#releaseIfEmpty(proved)
    const out: PropagatedMessage[] = []
    if (changed.length > 0) {
      const ttl = Math.max(1, Math.min(65_535, Math.floor(expiresAt - now)))
      for (const to of this.#audience(proved.key, view, now)) {
        if (to === from) continue // split horizon
        const heard = this.#withOthers(changed, to, view.relays.has(to), now)
        out.push(...this.#chunks(to, false, ttl, heard, group.proof))
      }
    }
    // A member who joins later learns the existing ones (§3): `from` just proved the key.
    if (
      proved.key !== NO_KEY &&
      !wasProving &&
      proved.entries.size > 0 &&
      !view.relays.has(from) && // heard everything already
      view.up.has(from)
    ) {
      out.push(...this.#keySnapshot(from, proved.key, now))
    }
    return out
  }

  /** An UNSUB from `from`: clears those flags; returns the UNSUBs for those that may have heard. */
  forget(
    from: string,
    entries: readonly SubscriptionEntry[],
    neighbours: Neighbours,
    now: number,
  ): PropagatedMessage[] {
    const origin = this.#origins.get(from)
    if (origin === undefined) return []
    const cleared: Cleared = new Map()
    const touched = new Set<Proved>()
    for (const { vft, flags } of entries) {
      const name = nameOf(vft)
      for (const held of holdersOf(this.#holders.get(name))) {
        const proved = held.group.proved
        if (proved.origin !== origin) continue
        const gone = held.flags & flags
        if (gone === 0) continue
        held.flags &= ~flags & FLAGS_MASK
        if (held.flags === 0) {
          this.#drop(proved, name, held)
          touched.add(proved)
        }
        clear(cleared, proved.key, name, from, gone)
      }
    }
    for (const proved of touched) this.#releaseIfEmpty(proved)
    return this.#withdraw(cleared, this.#view(neighbours), now)
  }

  /** `from` left: everything it held is withdrawn from those that may have heard of it. */
  removeNeighbour(from: string, neighbours: Neighbours, now: number): PropagatedMessage[] {
    const origin = this.#origins.get(from)
    if (origin === undefined) return []
    const cleared: Cleared = new Map()
    for (const proved of [...origin.byKey.values()]) {
      for (const [name, held] of proved.entries) {
        this.#drop(proved, name, held)
        if (held.expiresAt <= now) continue // already lapsed downstream too
        clear(cleared, proved.key, name, from, held.flags)
      }
      this.#releaseIfEmpty(proved)
    }
    return this.#withdraw(cleared, this.#view(neighbours), now)
  }

  /**
   * Drops what has lapsed; returns the UNSUBs for flags nobody advertises
   * any more. Looks only at the origins and keys with an entry due by `now`.
   */
  expire(neighbours: Neighbours, now: number): PropagatedMessage[] {
    const cleared: Cleared = new Map()
    const dues = this.#heapDue
    const proveds = this.#heapProved
    while (dues.length > 0 && dues[0]! <= now) {
      const due = dues[0]!
      const proved = proveds[0]!
      this.#pop()
      if (proved.gone || due !== proved.due) continue // moved or removed since
      let next = Number.POSITIVE_INFINITY
      for (const [name, held] of proved.entries) {
        if (held.expiresAt > now) {
          if (held.expiresAt < next) next = held.expiresAt
          continue
        }
        this.#drop(proved, name, held)
        clear(cleared, proved.key, name, proved.origin.id, held.flags)
      }
      if (proved.entries.size === 0) this.#releaseIfEmpty(proved)
      else this.#push(next, proved)
    }
    return this.#withdraw(cleared, this.#view(neighbours), now)
  }

  /**
   * Everything `to` should hear now that it came up or was admitted: the
   * others' live subscriptions that it may hear (§3): under the keys it
   * proves here and without a proof, or all of them for a configured relay.
   */
  snapshotFor(to: string, now: number): PropagatedMessage[] {
    const out: PropagatedMessage[] = []
    if (this.#relays(to)) {
      for (const [id, origin] of this.#origins) {
        if (id === to) continue
        for (const proved of origin.byKey.values())
          out.push(...this.#provedSnapshot(to, true, proved, now))
      }
      return out
    }
    out.push(...this.#keySnapshot(to, NO_KEY, now))
    for (const proved of this.#origins.get(to)?.byKey.values() ?? []) {
      if (proved.key !== NO_KEY && this.#proves(proved, now)) {
        out.push(...this.#keySnapshot(to, proved.key, now))
      }
    }
    return out
  }

  /** Whether `proved` holds a live entry at `now`: its origin proves its key (§3). */
  #proves(proved: Proved | undefined, now: number): boolean {
    if (proved === undefined || proved.until <= now) return false
    // Entries lapse only between expiry's visits, so the first look nearly always finds one.
    let until = Number.NEGATIVE_INFINITY
    for (const held of proved.entries.values()) {
      if (held.expiresAt > now) return true
      if (held.expiresAt > until) until = held.expiresAt
    }
    proved.until = until
    return false
  }

  /** Whether `to` may hear of subscriptions under `key` (§3): the audience rule. */
  #hears(to: string, relay: boolean, key: string, now: number): boolean {
    return key === NO_KEY || relay || this.#proves(this.#byKey.get(key)?.get(to), now)
  }

  /** The neighbours of `view` that may hear of subscriptions under `key`, now. */
  #audience(key: string, view: View, now: number): Iterable<string> {
    if (key === NO_KEY) return view.all
    const out: string[] = []
    for (const [id, proved] of this.#byKey.get(key) ?? []) {
      if (view.up.has(id) && !view.relays.has(id) && this.#proves(proved, now)) out.push(id)
    }
    for (const id of view.relays) out.push(id)
    return out
  }

  #view(neighbours: Neighbours): View {
    let view = this.#views.get(neighbours as object)
    if (view === undefined) {
      const all = [...neighbours]
      view = { all, up: new Set(all), relays: new Set(all.filter((id) => this.#relays(id))) }
      this.#views.set(neighbours as object, view)
    }
    return view
  }

  #origin(id: string): Origin {
    let origin = this.#origins.get(id)
    if (origin === undefined) {
      origin = { id, byKey: new Map(), budget: this.#budget(id), entries: 0, proofBytes: 0 }
      this.#origins.set(id, origin)
    }
    return origin
  }

  #proved(origin: Origin, key: string): Proved {
    let proved = origin.byKey.get(key)
    if (proved === undefined) {
      proved = {
        origin,
        key,
        entries: new Map(),
        groups: new Map(),
        due: Number.POSITIVE_INFINITY,
        until: Number.NEGATIVE_INFINITY,
        gone: false,
      }
      origin.byKey.set(key, proved)
      let origins = this.#byKey.get(key)
      if (origins === undefined) {
        origins = new Map()
        this.#byKey.set(key, origins)
      }
      origins.set(origin.id, proved)
    }
    return proved
  }

  /** The group of `proof` under `proved`; undefined if a new one would go over the proof budget. */
  #group(proved: Proved, proof: VerifiedProof | undefined): Group | undefined {
    const id = proof === undefined ? NO_KEY : groupId(proof.proof)
    let group = proved.groups.get(id)
    if (group !== undefined) return group
    const origin = proved.origin
    const bytes = proof?.proof.length ?? 0
    if (origin.proofBytes + bytes > origin.budget.proofBytes) return undefined
    group = { proved, id, proof: proof?.proof.slice(), size: 0 }
    proved.groups.set(id, group)
    origin.proofBytes += bytes
    return group
  }

  /** One entry fewer rests on `group`: forgotten (and its proof's bytes given back) at none. */
  #unref(group: Group): void {
    if (--group.size > 0) return
    group.proved.groups.delete(group.id)
    group.proved.origin.proofBytes -= group.proof?.length ?? 0
  }

  #add(proved: Proved, name: string, held: Held): void {
    proved.entries.set(name, held)
    held.group.size++
    proved.origin.entries++
    const holders = this.#holders.get(name)
    if (holders === undefined) this.#holders.set(name, held)
    else if (Array.isArray(holders)) holders.push(held)
    else this.#holders.set(name, [holders, held])
    this.#size++
    if (held.expiresAt < proved.due) this.#push(held.expiresAt, proved)
  }

  #drop(proved: Proved, name: string, held: Held): void {
    if (!proved.entries.delete(name)) return
    this.#unref(held.group)
    proved.origin.entries--
    const holders = this.#holders.get(name)
    if (holders === held) this.#holders.delete(name)
    else if (Array.isArray(holders)) {
      const i = holders.indexOf(held)
      if (i >= 0) holders.splice(i, 1)
      if (holders.length === 1) this.#holders.set(name, holders[0]!)
    }
    this.#size--
  }

  /** Forgets `proved` once it holds nothing (and its origin, once that holds nothing). */
  #releaseIfEmpty(proved: Proved): void {
    if (proved.entries.size > 0 || proved.gone) return
    proved.gone = true
    const origin = proved.origin
    origin.byKey.delete(proved.key)
    const origins = this.#byKey.get(proved.key)
    origins?.delete(origin.id)
    if (origins?.size === 0) this.#byKey.delete(proved.key)
    if (origin.byKey.size === 0) this.#origins.delete(origin.id)
  }

  /** Flags of VFT `name` still advertised to `to`: held live by an origin but `to`, under a key `to` may hear. */
  #advertised(name: string, to: string, relay: boolean, now: number): number {
    let flags = 0
    for (const held of holdersOf(this.#holders.get(name))) {
      const proved = held.group.proved
      if (held.expiresAt <= now || proved.origin.id === to) continue
      if (this.#hears(to, relay, proved.key, now)) flags |= held.flags
      if (flags === FLAGS_MASK) break
    }
    return flags
  }

  /**
   * `entries` as `to` is to hear them (§3 rule 1): each with the flags every
   * origin but `to` advertises to it. `to` keeps one subscription per (VFT,
   * this relay) and takes the flags of the last SUB, so a member's send
   * declaration passed on with its own flags alone would take the receive
   * flag of the VFT's subscriber away there (issue 17: a node then saw no
   * receiver for another member's solicited-node group). The same array
   * when no entry can gain a flag.
   */
  #withOthers(
    entries: SubscriptionEntry[],
    to: string,
    relay: boolean,
    now: number,
  ): SubscriptionEntry[] {
    let out: SubscriptionEntry[] | undefined
    for (let i = 0; i < entries.length; i++) {
      const { vft, flags } = entries[i]!
      if (flags === FLAGS_MASK) continue
      const all = flags | this.#advertised(nameOf(vft), to, relay, now)
      if (all === flags) continue
      out ??= entries.slice()
      out[i] = { vft, flags: all }
    }
    return out ?? entries
  }

  #withdraw(cleared: Cleared, view: View, now: number): PropagatedMessage[] {
    if (cleared.size === 0) return []
    // Only keys `to` may hear of (an UNSUB naming a VFT tells as much as a
    // SUB), never its own entries (split horizon), and what nobody still advertises.
    const heard = new Map<string, Map<string, number>>()
    for (const [key, vfts] of cleared) {
      for (const to of this.#audience(key, view, now)) {
        let mine = heard.get(to)
        for (const [name, byOrigin] of vfts) {
          let flags = 0
          for (const [origin, f] of byOrigin) if (origin !== to) flags |= f
          if (flags === 0) continue
          if (mine === undefined) {
            mine = new Map()
            heard.set(to, mine)
          }
          mine.set(name, (mine.get(name) ?? 0) | flags)
        }
      }
    }
    const out: PropagatedMessage[] = []
    for (const [to, names] of heard) {
      const relay = view.relays.has(to)
      const entries: SubscriptionEntry[] = []
      for (const [name, flags] of names) {
        const gone = flags & ~this.#advertised(name, to, relay, now)
        if (gone !== 0) entries.push({ vft: vftOf(name), flags: gone })
      }
      if (entries.length > 0) out.push(...this.#chunks(to, true, 0, entries, undefined))
    }
    return out
  }

  /** The others' live entries under `key`, for `to`. */
  #keySnapshot(to: string, key: string, now: number): PropagatedMessage[] {
    const out: PropagatedMessage[] = []
    const relay = this.#relays(to)
    for (const [origin, proved] of this.#byKey.get(key) ?? []) {
      if (origin !== to) out.push(...this.#provedSnapshot(to, relay, proved, now))
    }
    return out
  }

  /**
   * One origin's live entries under one key: a SUB per proof, with the TTL
   * of its latest expiry, each entry with the flags the others advertise
   * to `to` too (`#withOthers`).
   */
  #provedSnapshot(to: string, relay: boolean, proved: Proved, now: number): PropagatedMessage[] {
    const byGroup = new Map<Group, { entries: SubscriptionEntry[]; until: number }>()
    for (const [name, held] of proved.entries) {
      if (held.expiresAt <= now) continue
      let batch = byGroup.get(held.group)
      if (batch === undefined) {
        batch = { entries: [], until: now }
        byGroup.set(held.group, batch)
      }
      batch.entries.push({ vft: vftOf(name), flags: held.flags })
      batch.until = Math.max(batch.until, held.expiresAt)
    }
    const out: PropagatedMessage[] = []
    for (const [group, { entries, until }] of byGroup) {
      const ttl = Math.max(1, Math.min(65_535, Math.floor(until - now)))
      out.push(
        ...this.#chunks(to, false, ttl, this.#withOthers(entries, to, relay, now), group.proof),
      )
    }
    return out
  }

  #chunks(
    neighbour: string,
    unsubscribe: boolean,
    ttl: number,
    entries: SubscriptionEntry[],
    proof: Uint8Array | undefined,
  ): PropagatedMessage[] {
    const out: PropagatedMessage[] = []
    for (let i = 0; i < entries.length; i += this.#maxEntries) {
      const chunk = entries.slice(i, i + this.#maxEntries)
      out.push(
        proof === undefined
          ? { neighbour, unsubscribe, ttl, entries: chunk }
          : { neighbour, unsubscribe, ttl, entries: chunk, proof },
      )
    }
    return out
  }

  /** Expiry looks at `proved` by `due`; a slot with an older `due` is skipped when it comes up. */
  #push(due: number, proved: Proved): void {
    proved.due = due
    const dues = this.#heapDue
    const proveds = this.#heapProved
    let i = dues.length
    dues.push(due)
    proveds.push(proved)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (dues[parent]! <= due) break
      dues[i] = dues[parent]!
      proveds[i] = proveds[parent]!
      i = parent
    }
    dues[i] = due
    proveds[i] = proved
  }

  #pop(): void {
    const dues = this.#heapDue
    const proveds = this.#heapProved
    const lastDue = dues.pop()!
    const lastProved = proveds.pop()!
    const n = dues.length
    if (n === 0) return
    let i = 0
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      if (child + 1 < n && dues[child + 1]! < dues[child]!) child++
      if (dues[child]! >= lastDue) break
      dues[i] = dues[child]!
      proveds[i] = proveds[child]!
      i = child
    }
    dues[i] = lastDue
    proveds[i] = lastProved
  }
}

/** A VFT as a 16-character one-byte string: a compact map key. */
function nameOf(vft: Uint8Array): string {
  if (vft.length !== VFT_LENGTH) {
    throw new RelayError('invalid-argument', `vft: ${VFT_LENGTH} bytes`)
  }
  return String.fromCharCode(...vft)
}

function vftOf(name: string): Uint8Array {
  const vft = new Uint8Array(VFT_LENGTH)
  for (let i = 0; i < VFT_LENGTH; i++) vft[i] = name.charCodeAt(i)
  return vft
}

/**
 * A proof's identity under its key: its Ed25519 signature (spec 07 §2),
 * which under one key differs for any two messages (a collision would be
 * one of SHA-512 in the signature's challenge), 64 bytes rather than the
 * whole proof. A proof too short to hold one (never one the caller
 * verified) is named by all of it.
 */
function groupId(proof: Uint8Array): string {
  const end = SIGNATURE_OFFSET + SIGNATURE_LENGTH
  const bytes = proof.length >= end ? proof.subarray(SIGNATURE_OFFSET, end) : proof
  return String.fromCharCode(...bytes)
}

const NO_HOLDERS: readonly Held[] = []

/** The entries holding a VFT, as a list (a copy when several, so the caller may drop as it goes). */
function holdersOf(holders: Held | Held[] | undefined): readonly Held[] {
  if (holders === undefined) return NO_HOLDERS
  return Array.isArray(holders) ? [...holders] : [holders]
}

function clear(cleared: Cleared, key: string, name: string, origin: string, flags: number): void {
  let vfts = cleared.get(key)
  if (vfts === undefined) {
    vfts = new Map()
    cleared.set(key, vfts)
  }
  let byOrigin = vfts.get(name)
  if (byOrigin === undefined) {
    byOrigin = new Map()
    vfts.set(name, byOrigin)
  }
  byOrigin.set(origin, (byOrigin.get(origin) ?? 0) | flags)
}
