/**
 * Subscription propagation (spec 12-relay.md §3): what a relay tells each
 * neighbour about the others' subscriptions, so that a node behind a relay
 * learns that the relay can deliver VFT(x) and sends those frames to it.
 *
 * - Split horizon: a neighbour hears of every other neighbour's live
 *   subscriptions, never of its own.
 * - Verbatim: each subscription goes on with the flags and the membership
 *   proof it arrived with (DESIGN.md 5); the relay never signs anything.
 * - Soft state: a propagated SUB carries the TTL the relay granted, so it
 *   lapses downstream when it lapses here; the subscriber's own renewals
 *   renew it downstream. A renewal that would move the expiry by less than
 *   `minRenewSeconds` is not passed on, so a SUB storm is not amplified.
 * - UNSUB: when a subscription goes (UNSUB, expiry, the neighbour leaves),
 *   each other neighbour gets an UNSUB for the flags that no remaining
 *   subscription still advertises to it.
 *
 * Pure: the caller passes the neighbours that are up and the time in
 * seconds, and sends the messages returned.
 */
import { FLAGS_MASK } from './constants.ts'
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

export interface PropagationOptions {
  /** A renewal is passed on only if it moves the expiry by at least this much. Default 10. */
  readonly minRenewSeconds?: number
  /** Entries per message (spec 08 §4.3 allows 1024). Default 1024. */
  readonly maxEntries?: number
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
  readonly proof: Uint8Array | undefined
  readonly entries: Map<string, Held>
}

export class Propagation {
  readonly #minRenew: number
  readonly #maxEntries: number
  /** origin neighbour -> group key (proof hex, or '') -> group */
  readonly #origins = new Map<string, Map<string, Group>>()

  constructor(options: PropagationOptions = {}) {
    this.#minRenew = options.minRenewSeconds ?? 10
    this.#maxEntries = options.maxEntries ?? 1024
  }

  /** Subscriptions held for propagation, over all origins. */
  get size(): number {
    let n = 0
    for (const groups of this.#origins.values())
      for (const g of groups.values()) n += g.entries.size
    return n
  }

  /**
   * `from` now holds `entries` (those the table accepted) until `expiresAt`,
   * under `proof`. Returns the SUBs for every other neighbour: the new or
   * changed entries, and renewals that extend the expiry enough.
   */
  learn(
    from: string,
    entries: readonly SubscriptionEntry[],
    proof: Uint8Array | undefined,
    expiresAt: number,
    neighbours: readonly string[],
    now: number,
  ): PropagatedMessage[] {
    if (entries.length === 0 || expiresAt <= now) return []
    const group = this.#group(from, proof)
    const changed: SubscriptionEntry[] = []
    for (const { vft, flags } of entries) {
      const key = hex(vft)
      const held = group.entries.get(key)
      if (held === undefined) {
        group.entries.set(key, { vft: vft.slice(), flags, expiresAt, propagatedUntil: expiresAt })
        changed.push({ vft, flags })
      } else if (held.flags !== flags || expiresAt - held.propagatedUntil >= this.#minRenew) {
        held.flags = flags
        held.expiresAt = expiresAt
        held.propagatedUntil = expiresAt
        changed.push({ vft, flags })
      } else {
        held.expiresAt = Math.max(held.expiresAt, expiresAt)
      }
    }
    if (changed.length === 0) return []
    const ttl = Math.max(1, Math.min(65_535, Math.floor(expiresAt - now)))
    return this.#fanOut(from, neighbours, changed, ttl, proof)
  }

  /** An UNSUB from `from`: clears those flags; returns the UNSUBs for the other neighbours. */
  forget(
    from: string,
    entries: readonly SubscriptionEntry[],
    neighbours: readonly string[],
    now: number,
  ): PropagatedMessage[] {
    const groups = this.#origins.get(from)
    if (groups === undefined) return []
    const cleared: Cleared = new Map()
    for (const { vft, flags } of entries) {
      const key = hex(vft)
      for (const group of groups.values()) {
        const held = group.entries.get(key)
        if (held === undefined || (held.flags & flags) === 0) continue
        const gone = held.flags & flags
        held.flags &= ~flags & FLAGS_MASK
        if (held.flags === 0) group.entries.delete(key)
        clear(cleared, key, held.vft, from, gone)
      }
    }
    this.#prune(from)
    return this.#withdraw(cleared, neighbours, now)
  }

  /** `from` left: everything it held is withdrawn from the others. */
  removeNeighbour(from: string, neighbours: readonly string[], now: number): PropagatedMessage[] {
    const groups = this.#origins.get(from)
    if (groups === undefined) return []
    this.#origins.delete(from)
    const cleared: Cleared = new Map()
    for (const group of groups.values()) {
      for (const [key, held] of group.entries) {
        if (held.expiresAt <= now) continue // already lapsed downstream too
        clear(cleared, key, held.vft, from, held.flags)
      }
    }
    return this.#withdraw(cleared, neighbours, now)
  }

  /** Drops what has lapsed; returns the UNSUBs for flags nobody advertises any more. */
  expire(neighbours: readonly string[], now: number): PropagatedMessage[] {
    const cleared: Cleared = new Map()
    for (const [from, groups] of this.#origins) {
      for (const group of groups.values()) {
        for (const [key, held] of group.entries) {
          if (held.expiresAt > now) continue
          group.entries.delete(key)
          clear(cleared, key, held.vft, from, held.flags)
        }
      }
      this.#prune(from)
    }
    return this.#withdraw(cleared, neighbours, now)
  }

  /** Everything `to` should hear now that it came up: the others' live subscriptions. */
  snapshotFor(to: string, now: number): PropagatedMessage[] {
    const out: PropagatedMessage[] = []
    for (const [from, groups] of this.#origins) {
      if (from === to) continue
      for (const group of groups.values()) {
        const live = [...group.entries.values()].filter((h) => h.expiresAt > now)
        if (live.length === 0) continue
        const until = Math.max(...live.map((h) => h.expiresAt))
        const ttl = Math.max(1, Math.min(65_535, Math.floor(until - now)))
        const entries = live.map((h) => ({ vft: h.vft, flags: h.flags }))
        out.push(...this.#chunks(to, false, ttl, entries, group.proof))
      }
    }
    return out
  }

  #group(from: string, proof: Uint8Array | undefined): Group {
    let groups = this.#origins.get(from)
    if (groups === undefined) {
      groups = new Map()
      this.#origins.set(from, groups)
    }
    const key = proof === undefined ? '' : hex(proof)
    let group = groups.get(key)
    if (group === undefined) {
      group = { proof: proof?.slice(), entries: new Map() }
      groups.set(key, group)
    }
    return group
  }

  #prune(from: string): void {
    const groups = this.#origins.get(from)
    if (groups === undefined) return
    for (const [key, group] of groups) if (group.entries.size === 0) groups.delete(key)
    if (groups.size === 0) this.#origins.delete(from)
  }

  /** Flags of `key` still advertised to `to`: held live by any origin but `to`. */
  #advertised(key: string, to: string, now: number): number {
    let flags = 0
    for (const [from, groups] of this.#origins) {
      if (from === to) continue
      for (const group of groups.values()) {
        const held = group.entries.get(key)
        if (held !== undefined && held.expiresAt > now) flags |= held.flags
      }
    }
    return flags
  }

  #withdraw(cleared: Cleared, neighbours: readonly string[], now: number): PropagatedMessage[] {
    if (cleared.size === 0) return []
    const out: PropagatedMessage[] = []
    for (const to of neighbours) {
      const entries: SubscriptionEntry[] = []
      for (const [key, { vft, byOrigin }] of cleared) {
        // Only what `to` heard of (split horizon: never its own), and nobody still advertises.
        let flags = 0
        for (const [origin, f] of byOrigin) if (origin !== to) flags |= f
        const gone = flags & ~this.#advertised(key, to, now)
        if (gone !== 0) entries.push({ vft, flags: gone })
      }
      if (entries.length > 0) out.push(...this.#chunks(to, true, 0, entries, undefined))
    }
    return out
  }

  #fanOut(
    from: string,
    neighbours: readonly string[],
    entries: SubscriptionEntry[],
    ttl: number,
    proof: Uint8Array | undefined,
  ): PropagatedMessage[] {
    const out: PropagatedMessage[] = []
    for (const to of neighbours) {
      if (to === from) continue // split horizon
      out.push(...this.#chunks(to, false, ttl, entries, proof))
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
}

/** Flags withdrawn per VFT, by the origin that held them. */
type Cleared = Map<string, { vft: Uint8Array; byOrigin: Map<string, number> }>

function clear(
  cleared: Cleared,
  key: string,
  vft: Uint8Array,
  origin: string,
  flags: number,
): void {
  let c = cleared.get(key)
  if (c === undefined) {
    c = { vft, byOrigin: new Map() }
    cleared.set(key, c)
  }
  c.byOrigin.set(origin, (c.byOrigin.get(origin) ?? 0) | flags)
}

function hex(bytes: Uint8Array): string {
  let out = ''
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0')
  return out
}
