// A slow, obviously correct forwarding table: Maps keyed by hex strings, one
// object per subscription, every rule written as the spec states it
// (docs/spec/09-forwarding.md). The property tests drive it and the fast
// table with the same operations and compare everything they say.
import {
  createCounters,
  FLAG_RECEIVE,
  FLAG_SEND,
  type FrameDropReason,
  type NeighbourLimits,
  type SubscriptionDropReason,
  type TableCounters,
} from '../src/index.ts'

export interface RefOptions {
  requireProofs: boolean
  admitByDefault: boolean
  maxSealedLength: number
  maxTtlSeconds: number
  maxSubscriptions: number
  maxNeighbours: number
  duplicates: boolean
  limits: NeighbourLimits
}

export interface RefFrame {
  hopLimit: number
  vft: Uint8Array
  sealed: Uint8Array
}

interface RefSub {
  neighbour: string
  key: string // '' for none
  flags: number
  expiresAt: number
  /** When a SUB last added or refreshed it (a serial): the oldest goes first (§7). */
  touched: number
}

class RefBucket {
  readonly rate: number
  readonly burst: number
  tokens: number
  last: number
  constructor(rate: number, burst: number, now: number) {
    this.rate = rate
    this.burst = burst
    this.tokens = burst
    this.last = now
  }
  refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.rate)
      this.last = now
    }
  }
  take(cost: number): boolean {
    if (this.rate === Number.POSITIVE_INFINITY) return true
    if (this.tokens <= 0) return false
    this.tokens -= cost
    return true
  }
}

interface RefNeighbour {
  frames: RefBucket
  bytes: RefBucket
  /** Order of arrival: on a tie, the newest neighbour gives up a subscription (§7). */
  serial: number
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

export class ReferenceTable {
  readonly counters: TableCounters = createCounters()
  readonly subs = new Map<string, RefSub[]>() // VFT hex -> subscriptions
  readonly neighbours = new Map<string, RefNeighbour>()
  readonly access = new Map<string, 'allow' | 'deny'>()
  readonly seenTags = new Set<string>()
  readonly options: RefOptions
  #serial = 0

  constructor(options: RefOptions) {
    this.options = options
  }

  refusal(id: string): 'denied' | 'not-admitted' | undefined {
    const a = this.access.get(id)
    if (a === 'deny') return 'denied'
    if (a !== 'allow' && !this.options.admitByDefault) return 'not-admitted'
    return undefined
  }

  resolve(id: string, now: number): FrameDropReason | RefNeighbour {
    const known = this.neighbours.get(id)
    if (known) return known
    const refusal = this.refusal(id)
    if (refusal) return refusal
    if (this.neighbours.size >= this.options.maxNeighbours) return 'neighbour-limit'
    const { limits } = this.options
    const n = {
      frames: new RefBucket(limits.framesPerSecond, limits.frameBurst, now),
      bytes: new RefBucket(limits.bytesPerSecond, limits.byteBurst, now),
      serial: this.#serial++,
    }
    this.neighbours.set(id, n)
    return n
  }

  allSubs(): RefSub[] {
    return [...this.subs.values()].flat()
  }

  setAccess(id: string, access: 'allow' | 'deny' | 'default'): void {
    if (access === 'default') this.access.delete(id)
    else this.access.set(id, access)
    if (this.refusal(id)) this.removeNeighbour(id)
  }

  removeNeighbour(id: string): void {
    if (!this.neighbours.has(id)) return
    for (const [vft, list] of this.subs) {
      const kept = list.filter((s) => s.neighbour !== id)
      this.counters.subscriptionsEvicted += list.length - kept.length
      if (kept.length === 0) this.subs.delete(vft)
      else this.subs.set(vft, kept)
    }
    this.neighbours.delete(id)
  }

  subscribe(
    id: string,
    entries: { vft: Uint8Array; flags: number }[],
    ttl: number,
    now: number,
    key?: Uint8Array,
  ): void {
    const drop = (reason: SubscriptionDropReason, n = 1) => {
      this.counters.subscriptionDrops[reason] += n
    }
    const n = this.resolve(id, now)
    let refusal: SubscriptionDropReason | undefined
    if (typeof n === 'string') refusal = `sub-${n}` as SubscriptionDropReason
    else if (!(ttl > 0 && ttl <= this.options.maxTtlSeconds)) refusal = 'sub-ttl-invalid'
    else if (key !== undefined && key.length !== 32) refusal = 'sub-malformed'
    else if (this.options.requireProofs && key === undefined) refusal = 'sub-no-proof'
    if (refusal !== undefined) {
      drop(refusal, entries.length)
      return
    }
    const k = key === undefined ? '' : hex(key)
    for (const { vft, flags } of entries) {
      if (vft.length !== 16 || flags === 0 || (flags & ~3) !== 0) {
        drop('sub-malformed')
        continue
      }
      const list = this.subs.get(hex(vft)) ?? []
      const existing = list.find((s) => s.neighbour === id && s.key === k)
      if (existing) {
        existing.flags = flags
        existing.expiresAt = now + ttl
        existing.touched = this.#serial++
        this.counters.subscriptionsRefreshed++
        continue
      }
      const held = this.allSubs().filter((s) => s.neighbour === id).length
      if (held >= this.options.limits.maxSubscriptions) {
        drop('sub-limit')
        continue
      }
      if (this.allSubs().length >= this.options.maxSubscriptions) {
        // Fair share (§7): below it, take the oldest-touched subscription of
        // the neighbour holding the most (the newest neighbour on a tie).
        const held = new Map<string, number>()
        for (const s of this.allSubs()) held.set(s.neighbour, (held.get(s.neighbour) ?? 0) + 1)
        const mine = held.get(id) ?? 0
        const holders = held.size + (mine === 0 ? 1 : 0)
        if (mine >= Math.floor(this.options.maxSubscriptions / holders)) {
          drop('sub-table-full')
          continue
        }
        const most = Math.max(...held.values())
        const victim = [...held]
          .filter(([, n]) => n === most)
          .map(([v]) => v)
          .sort((x, y) => this.neighbours.get(y)!.serial - this.neighbours.get(x)!.serial)[0]!
        const oldest = this.allSubs()
          .filter((s) => s.neighbour === victim)
          .sort((x, y) => x.touched - y.touched)[0]!
        for (const [v, l] of this.subs) {
          const kept = l.filter((s) => s !== oldest)
          if (kept.length === 0) this.subs.delete(v)
          else this.subs.set(v, kept)
        }
        this.counters.subscriptionsDisplaced++
      }
      const current = this.subs.get(hex(vft)) ?? []
      current.push({ neighbour: id, key: k, flags, expiresAt: now + ttl, touched: this.#serial++ })
      this.subs.set(hex(vft), current)
      this.counters.subscriptionsAdded++
    }
  }

  unsubscribe(id: string, entries: { vft: Uint8Array; flags: number }[], key?: Uint8Array): number {
    if (!this.neighbours.has(id)) return 0
    let removed = 0
    for (const { vft, flags } of entries) {
      const list = this.subs.get(hex(vft))
      if (!list) continue
      for (const s of list) {
        if (s.neighbour === id && (key === undefined || s.key === hex(key))) s.flags &= ~flags
      }
      const kept = list.filter((s) => s.flags !== 0)
      removed += list.length - kept.length
      if (kept.length === 0) this.subs.delete(hex(vft))
      else this.subs.set(hex(vft), kept)
    }
    this.counters.subscriptionsRemoved += removed
    return removed
  }

  expire(now: number): number {
    let removed = 0
    for (const [vft, list] of this.subs) {
      const kept = list.filter((s) => s.expiresAt > now)
      removed += list.length - kept.length
      if (kept.length === 0) this.subs.delete(vft)
      else this.subs.set(vft, kept)
    }
    this.counters.subscriptionsExpired += removed
    return removed
  }

  /** Neighbour -> indices of the frames it gets, and hop limits written. */
  route(from: string, frames: RefFrame[], now: number): Map<string, number[]> {
    const out = new Map<string, number[]>()
    const c = this.counters
    c.batches++
    const dropFrame = (reason: FrameDropReason) => {
      c.frameDrops[reason]++
    }
    const source = this.resolve(from, now)
    for (const f of frames) {
      c.framesIn++
      c.bytesIn += f.sealed.length
    }
    if (typeof source === 'string') {
      for (const _ of frames) dropFrame(source)
      return out
    }
    source.frames.refill(now)
    source.bytes.refill(now)
    for (const [i, f] of frames.entries()) {
      const reason = this.forward(from, source, f, i, now, out)
      if (reason !== undefined) dropFrame(reason)
    }
    return out
  }

  /** One frame through the checks in spec order: the drop reason, or undefined if forwarded. */
  forward(
    from: string,
    source: RefNeighbour,
    f: RefFrame,
    i: number,
    now: number,
    out: Map<string, number[]>,
  ): FrameDropReason | undefined {
    const c = this.counters
    const { hopLimit, vft, sealed } = f
    const shapeOk =
      vft.length === 16 &&
      sealed.length >= 27 &&
      Number.isInteger(hopLimit) &&
      hopLimit >= 0 &&
      hopLimit <= 255
    if (!shapeOk) return 'malformed'
    if (sealed.length > this.options.maxSealedLength) return 'too-large'
    if (hopLimit <= 1) return 'hop-limit'
    if (!source.frames.take(1)) return 'rate-frames'
    const list = this.subs.get(hex(vft))
    if (!list) return 'no-subscriber'
    const live = list.filter((s) => s.expiresAt > now)
    let sourceKeys: Set<string> | undefined
    if (this.options.requireProofs) {
      sourceKeys = new Set(
        live.filter((s) => s.neighbour === from && (s.flags & FLAG_SEND) !== 0).map((s) => s.key),
      )
      if (sourceKeys.size === 0) return 'no-proof'
    }
    const receivers = live.filter((s) => s.neighbour !== from && (s.flags & FLAG_RECEIVE) !== 0)
    const matching = receivers.filter((s) => sourceKeys === undefined || sourceKeys.has(s.key))
    const targets = new Set(matching.map((s) => s.neighbour))
    if (targets.size === 0) {
      return receivers.length > 0 && sourceKeys ? 'proof-mismatch' : 'no-subscriber'
    }
    const tag = hex(sealed.subarray(sealed.length - 16))
    if (this.options.duplicates && this.seenTags.has(tag)) return 'duplicate'
    const cost = targets.size * (17 + sealed.length)
    if (!source.bytes.take(cost)) return 'rate-bytes'
    if (this.options.duplicates) this.seenTags.add(tag)
    f.hopLimit = hopLimit - 1
    c.framesForwarded++
    c.copiesOut += targets.size
    c.bytesOut += cost
    for (const t of targets) {
      const indices = out.get(t) ?? []
      indices.push(i)
      out.set(t, indices)
    }
    return undefined
  }

  lookup(
    vft: Uint8Array,
    now: number,
  ): { neighbour: string; flags: number; key: string; expiresAt: number }[] {
    return (this.subs.get(hex(vft)) ?? [])
      .filter((s) => s.expiresAt > now)
      .map((s) => ({ neighbour: s.neighbour, flags: s.flags, key: s.key, expiresAt: s.expiresAt }))
  }
}
