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
 * - Verbatim: each subscription goes on with the flags and the membership
 *   proof it arrived with (DESIGN.md 5); the relay never signs anything.
 * - Soft state: a propagated SUB carries the TTL the relay granted, so it
 *   lapses downstream when it lapses here; the subscriber's own renewals
 *   renew it downstream. A renewal that would move the expiry by less than
 *   `minRenewSeconds` is not passed on, so a SUB storm is not amplified.
 * - UNSUB: when a subscription goes (UNSUB, expiry, the neighbour leaves),
 *   each neighbour that may hear of it gets an UNSUB for the flags that no
 *   remaining subscription it may hear of still advertises to it.
 *
 * Pure: the caller passes the neighbours that are up and the time in
 * seconds, and sends the messages returned.
 */
import { FLAGS_MASK, PROVING_KEY_LENGTH } from './constants.ts'
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
}

interface Held {
  readonly vft: Uint8Array
  flags: number
  expiresAt: number
  /** Expiry of the copy downstream neighbours last heard of. */
  propagatedUntil: number
}

/** One origin's subscriptions under one proof (or none): the unit passed on together. */
interface Group {
  readonly origin: string
  /** Its key in the origin's map: the proof as hex, '' without one. */
  readonly id: string
  /** The proving key as hex, '' without a proof: who may hear this group. */
  readonly key: string
  readonly proof: Uint8Array | undefined
  readonly entries: Map<string, Held>
  readonly proved: Proved
}

/** One origin's groups under one key: it proves that key while `until` is ahead. */
interface Proved {
  /** The latest expiry among the groups' entries (exact, so membership needs no scan). */
  until: number
  readonly groups: Set<Group>
}

/**
 * Flags withdrawn, by proving key (who may hear), then VFT, then the group
 * that held them (its origin, for split horizon). Keyed by proving key
 * first so that a neighbour skips, at one lookup each, the keys it may not
 * hear: a mass expiry stays proportional to what each neighbour may hear.
 */
type Cleared = Map<string, Map<string, { vft: Uint8Array; byGroup: Map<Group, number> }>>

const NO_KEY = ''

export class Propagation {
  readonly #minRenew: number
  readonly #maxEntries: number
  readonly #relays: (neighbour: string) => boolean
  /** origin neighbour -> group id (proof hex, or '') -> group */
  readonly #origins = new Map<string, Map<string, Group>>()
  /** proving key hex (or '') -> origin -> its groups under that key: who proved what, and the per-key snapshot. */
  readonly #byKey = new Map<string, Map<string, Proved>>()
  /** VFT hex (its `name` below) -> the groups holding it, for "still advertised" without a scan of all origins. */
  readonly #holders = new Map<string, Set<Group>>()
  #size = 0

  constructor(options: PropagationOptions = {}) {
    this.#minRenew = options.minRenewSeconds ?? 10
    this.#maxEntries = options.maxEntries ?? 1024
    const relays = options.relays ?? (() => false)
    if (typeof relays !== 'function') {
      throw new RelayError('ERR_INVALID_OPTION', 'relays: a function of a neighbour id')
    }
    this.#relays = relays
  }

  /** Subscriptions held for propagation, over all origins. */
  get size(): number {
    return this.#size
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
    neighbours: readonly string[],
    now: number,
  ): PropagatedMessage[] {
    if (proof !== undefined && proof.provingKey.length !== PROVING_KEY_LENGTH) {
      throw new RelayError('ERR_INVALID_ARGUMENT', `provingKey: ${PROVING_KEY_LENGTH} bytes`)
    }
    if (entries.length === 0 || expiresAt <= now) return []
    const group = this.#group(from, proof)
    const proved = group.proved
    const wasProving = proved.until > now
    const changed: SubscriptionEntry[] = []
    let lowered = false
    for (const { vft, flags } of entries) {
      const name = hex(vft)
      const held = group.entries.get(name)
      if (held === undefined) {
        this.#add(group, name, { vft: vft.slice(), flags, expiresAt, propagatedUntil: expiresAt })
        changed.push({ vft, flags })
      } else if (held.flags !== flags || expiresAt - held.propagatedUntil >= this.#minRenew) {
        // A flags change may shorten the expiry; `until` must then be recomputed.
        if (expiresAt < held.expiresAt && held.expiresAt >= proved.until) lowered = true
        held.flags = flags
        held.expiresAt = expiresAt
        held.propagatedUntil = expiresAt
        changed.push({ vft, flags })
      } else {
        held.expiresAt = Math.max(held.expiresAt, expiresAt)
      }
    }
    if (lowered) this.#settle(proved, true)
    else proved.until = Math.max(proved.until, expiresAt)
    const out: PropagatedMessage[] = []
    if (changed.length > 0) {
      const ttl = Math.max(1, Math.min(65_535, Math.floor(expiresAt - now)))
      for (const to of neighbours) {
        if (to === from) continue // split horizon
        if (!this.#hears(to, this.#relays(to), group.key, now)) continue
        out.push(...this.#chunks(to, false, ttl, changed, group.proof))
      }
    }
    // A member who joins later learns the existing ones (§3): `from` just proved the key.
    if (
      group.key !== NO_KEY &&
      !wasProving &&
      !this.#relays(from) && // heard everything already
      neighbours.includes(from)
    ) {
      out.push(...this.#keySnapshot(from, group.key, now))
    }
    return out
  }

  /** An UNSUB from `from`: clears those flags; returns the UNSUBs for those that may have heard. */
  forget(
    from: string,
    entries: readonly SubscriptionEntry[],
    neighbours: readonly string[],
    now: number,
  ): PropagatedMessage[] {
    if (!this.#origins.has(from)) return []
    const cleared: Cleared = new Map()
    /** Each group set touched, and whether it lost an entry at its latest expiry. */
    const touched = new Map<Proved, boolean>()
    for (const { vft, flags } of entries) {
      const name = hex(vft)
      const holders = this.#holders.get(name)
      if (holders === undefined) continue
      for (const group of holders) {
        if (group.origin !== from) continue
        const held = group.entries.get(name)!
        const gone = held.flags & flags
        if (gone === 0) continue
        held.flags &= ~flags & FLAGS_MASK
        if (held.flags === 0) {
          this.#drop(group, name)
          const latest = held.expiresAt >= group.proved.until
          touched.set(group.proved, (touched.get(group.proved) ?? false) || latest)
        }
        clear(cleared, name, held.vft, group, gone)
      }
    }
    for (const [proved, latest] of touched) this.#settle(proved, latest)
    return this.#withdraw(cleared, neighbours, now)
  }

  /** `from` left: everything it held is withdrawn from those that may have heard of it. */
  removeNeighbour(from: string, neighbours: readonly string[], now: number): PropagatedMessage[] {
    const groups = this.#origins.get(from)
    if (groups === undefined) return []
    const cleared: Cleared = new Map()
    for (const group of groups.values()) {
      for (const [name, held] of group.entries) {
        this.#drop(group, name)
        if (held.expiresAt <= now) continue // already lapsed downstream too
        clear(cleared, name, held.vft, group, held.flags)
      }
      this.#settle(group.proved, false)
    }
    return this.#withdraw(cleared, neighbours, now)
  }

  /** Drops what has lapsed; returns the UNSUBs for flags nobody advertises any more. */
  expire(neighbours: readonly string[], now: number): PropagatedMessage[] {
    const cleared: Cleared = new Map()
    const touched = new Set<Proved>()
    for (const groups of this.#origins.values()) {
      for (const group of groups.values()) {
        for (const [name, held] of group.entries) {
          if (held.expiresAt > now) continue
          this.#drop(group, name)
          clear(cleared, name, held.vft, group, held.flags)
          touched.add(group.proved)
        }
      }
    }
    // Only lapsed entries went: a set that keeps any keeps its latest expiry.
    for (const proved of touched) this.#settle(proved, false)
    return this.#withdraw(cleared, neighbours, now)
  }

  /**
   * Everything `to` should hear now that it came up or was admitted: the
   * others' live subscriptions that it may hear (§3): under the keys it
   * proves here and without a proof, or all of them for a configured relay.
   */
  snapshotFor(to: string, now: number): PropagatedMessage[] {
    const out: PropagatedMessage[] = []
    if (this.#relays(to)) {
      for (const [from, groups] of this.#origins) {
        if (from === to) continue
        for (const group of groups.values()) out.push(...this.#groupSnapshot(to, group, now))
      }
      return out
    }
    out.push(...this.#keySnapshot(to, NO_KEY, now))
    const proving = new Set<string>()
    for (const group of this.#origins.get(to)?.values() ?? []) {
      if (group.key !== NO_KEY && group.proved.until > now) proving.add(group.key)
    }
    for (const key of proving) out.push(...this.#keySnapshot(to, key, now))
    return out
  }

  /** Whether `to` may hear of subscriptions under `key` (§3): the audience rule. */
  #hears(to: string, relay: boolean, key: string, now: number): boolean {
    if (key === NO_KEY || relay) return true
    const proved = this.#byKey.get(key)?.get(to)
    return proved !== undefined && proved.until > now
  }

  #group(from: string, proof: VerifiedProof | undefined): Group {
    let groups = this.#origins.get(from)
    if (groups === undefined) {
      groups = new Map()
      this.#origins.set(from, groups)
    }
    const id = proof === undefined ? NO_KEY : hex(proof.proof)
    let group = groups.get(id)
    if (group === undefined) {
      const key = proof === undefined ? NO_KEY : hex(proof.provingKey)
      let origins = this.#byKey.get(key)
      if (origins === undefined) {
        origins = new Map()
        this.#byKey.set(key, origins)
      }
      let proved = origins.get(from)
      if (proved === undefined) {
        proved = { until: Number.NEGATIVE_INFINITY, groups: new Set() }
        origins.set(from, proved)
      }
      group = { origin: from, id, key, proof: proof?.proof.slice(), entries: new Map(), proved }
      groups.set(id, group)
      proved.groups.add(group)
    }
    return group
  }

  #add(group: Group, name: string, held: Held): void {
    group.entries.set(name, held)
    let holders = this.#holders.get(name)
    if (holders === undefined) {
      holders = new Set()
      this.#holders.set(name, holders)
    }
    holders.add(group)
    this.#size++
  }

  #drop(group: Group, name: string): void {
    if (!group.entries.delete(name)) return
    const holders = this.#holders.get(name)
    holders?.delete(group)
    if (holders?.size === 0) this.#holders.delete(name)
    this.#size--
  }

  /**
   * After entries left `proved`'s groups: forgets the empty groups (and the
   * set, and the origin, once empty), and recomputes `until` when the entry
   * holding the latest expiry may have gone.
   */
  #settle(proved: Proved, recompute: boolean): void {
    let until = Number.NEGATIVE_INFINITY
    for (const group of proved.groups) {
      if (group.entries.size === 0) {
        proved.groups.delete(group)
        const groups = this.#origins.get(group.origin)
        groups?.delete(group.id)
        if (groups?.size === 0) this.#origins.delete(group.origin)
        if (proved.groups.size === 0) {
          const origins = this.#byKey.get(group.key)
          origins?.delete(group.origin)
          if (origins?.size === 0) this.#byKey.delete(group.key)
        }
      } else if (recompute) {
        for (const held of group.entries.values()) until = Math.max(until, held.expiresAt)
      }
    }
    if (recompute) proved.until = until
  }

  /** Flags of VFT `name` still advertised to `to`: held live by an origin but `to`, in a group `to` may hear. */
  #advertised(name: string, to: string, relay: boolean, now: number): number {
    const holders = this.#holders.get(name)
    if (holders === undefined) return 0
    let flags = 0
    for (const group of holders) {
      if (group.origin === to || !this.#hears(to, relay, group.key, now)) continue
      const held = group.entries.get(name)!
      if (held.expiresAt > now) flags |= held.flags
    }
    return flags
  }

  #withdraw(cleared: Cleared, neighbours: readonly string[], now: number): PropagatedMessage[] {
    if (cleared.size === 0) return []
    const vftOf = new Map<string, Uint8Array>()
    for (const vfts of cleared.values()) for (const [name, { vft }] of vfts) vftOf.set(name, vft)
    const out: PropagatedMessage[] = []
    for (const to of neighbours) {
      const relay = this.#relays(to)
      // Only groups `to` may hear of (an UNSUB naming a VFT tells as much as
      // a SUB), never its own (split horizon), and what nobody still advertises.
      const heard = new Map<string, number>()
      for (const [key, vfts] of cleared) {
        if (!this.#hears(to, relay, key, now)) continue
        for (const [name, { byGroup }] of vfts) {
          let flags = 0
          for (const [group, f] of byGroup) if (group.origin !== to) flags |= f
          if (flags !== 0) heard.set(name, (heard.get(name) ?? 0) | flags)
        }
      }
      const entries: SubscriptionEntry[] = []
      for (const [name, flags] of heard) {
        const gone = flags & ~this.#advertised(name, to, relay, now)
        if (gone !== 0) entries.push({ vft: vftOf.get(name)!, flags: gone })
      }
      if (entries.length > 0) out.push(...this.#chunks(to, true, 0, entries, undefined))
    }
    return out
  }

  /** The others' live groups under `key`, for `to`. */
  #keySnapshot(to: string, key: string, now: number): PropagatedMessage[] {
    const out: PropagatedMessage[] = []
    for (const [origin, proved] of this.#byKey.get(key) ?? []) {
      if (origin === to) continue
      for (const group of proved.groups) out.push(...this.#groupSnapshot(to, group, now))
    }
    return out
  }

  /** One group's live entries, with the TTL of its latest expiry. */
  #groupSnapshot(to: string, group: Group, now: number): PropagatedMessage[] {
    const entries: SubscriptionEntry[] = []
    let until = now
    for (const held of group.entries.values()) {
      if (held.expiresAt <= now) continue
      entries.push({ vft: held.vft, flags: held.flags })
      until = Math.max(until, held.expiresAt)
    }
    if (entries.length === 0) return []
    const ttl = Math.max(1, Math.min(65_535, Math.floor(until - now)))
    return this.#chunks(to, false, ttl, entries, group.proof)
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
}

function clear(cleared: Cleared, name: string, vft: Uint8Array, group: Group, flags: number): void {
  let vfts = cleared.get(group.key)
  if (vfts === undefined) {
    vfts = new Map()
    cleared.set(group.key, vfts)
  }
  let c = vfts.get(name)
  if (c === undefined) {
    c = { vft, byGroup: new Map() }
    vfts.set(name, c)
  }
  c.byGroup.set(group, (c.byGroup.get(group) ?? 0) | flags)
}
