/**
 * The VFT forwarding table (spec 09-forwarding.md): soft-state
 * subscriptions from neighbours, and per batch of received frames the
 * neighbours each frame goes to. Relays and nodes forward with the same
 * table. Neighbours are opaque ids (the remote PeerId string); the table
 * never sees a socket, a clock or a key it must verify.
 *
 * `route` runs these stages, in this order, for each batch (spec §5):
 *
 *   per batch   1. source      the sending neighbour's state: deny list,
 *                              admission, the neighbour limit; a refusal
 *                              drops the whole batch
 *               2. refill      the source's token buckets, once
 *   per frame   3. shape       VFT 16 bytes, hop limit a u8, sealed payload
 *                              at least MIN_SEALED_LENGTH bytes
 *               4. size        sealed payload at most maxSealedLength
 *               5. hop limit   arrived with 2 or more
 *               6. frame rate  one token from the source's frames/s bucket
 *               7. lookup      the VFT's subscriptions (keyed hash, no string)
 *               8. proof       with proofs required: the keys the source
 *                              proved for this VFT with a send subscription
 *               9. fan-out     every live receive subscription but the
 *                              source's (split horizon), under one of those
 *                              keys when proofs are required, each
 *                              neighbour once
 *              10. duplicate   the frame's tag was not forwarded before
 *              11. byte rate   copies × frame bytes from the source's bytes/s bucket
 *              12. forward     remember the tag, write hopLimit − 1
 *
 * Cheap checks come first: nothing before stage 7 touches the table, and
 * signatures are never verified here (see admitSubscription).
 *
 * Storage is typed arrays with free lists, grown by doubling up to the
 * limits, so memory is bounded by maxSubscriptions and maxNeighbours and a
 * SUB storm reuses slots instead of growing:
 *   - an open-addressing index (linear probing, keyed hash over the VFT's
 *     four words, backward-shift deletion) from VFT to entry;
 *   - entries: the VFT's words and the head of its subscription list;
 *   - subscriptions: a doubly linked list per entry, one record of 8 int32
 *     slots each (neighbour, key, flags, next, prev, entry) plus an expiry;
 *   - beside the records, not in them: a second doubly linked list per
 *     neighbour, in the order its subscriptions were last added or
 *     refreshed, and a heap of neighbours by subscriptions held, so that a
 *     full table finds the record to give up (spec §7, fair share) in
 *     O(log neighbours) and routing reads no more bytes per record.
 */
import type { SealedFrame } from '@peertap/crypto'
import {
  DEFAULT_DUPLICATE_CACHE_SIZE,
  DEFAULT_MAX_NEIGHBOURS,
  DEFAULT_MAX_SEALED_LENGTH,
  DEFAULT_MAX_SUBSCRIPTIONS,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_NEIGHBOUR,
  DEFAULT_MAX_TTL_SECONDS,
  FLAG_RECEIVE,
  FLAG_SEND,
  FLAGS_MASK,
  FRAME_OVERHEAD,
  MIN_SEALED_LENGTH,
  PROVING_KEY_LENGTH,
  QUIET_PROOF_CHECK_BURST,
  QUIET_PROOF_CHECKS_PER_SECOND,
  VFT_LENGTH,
} from './constants.ts'
import { createCounters, type SubscriptionDropReason, type TableCounters } from './counters.ts'
import { DuplicateCache } from './duplicate-cache.ts'
import { RelayError } from './errors.ts'
import { hex, makeSeed, mix4, word } from './hash.ts'
import type { RouteBatch } from './route-batch.ts'
import { TokenBucket } from './token-bucket.ts'

/**
 * One received frame, as the trunk decoded it: views into its receive
 * buffer. `route` writes the outgoing hop limit into `hopLimit` of each frame
 * it forwards. It is @peertap/crypto's `SealedFrame`, the one type the
 * trunk's `Frame` and the switch's `SealedFrame` are too.
 */
export type Frame = SealedFrame

/** One VFT of a SUB or UNSUB, with its flags (FLAG_RECEIVE, FLAG_SEND). */
export interface SubscriptionEntry {
  readonly vft: Uint8Array
  readonly flags: number
}

/**
 * A neighbour's subscription to a VFT as the table holds it and `lookup`
 * reports it (not the SUB message, `SubscriptionMessage`, nor what a node
 * holds itself, @peertap/switch's `LocalSubscription`).
 */
export interface NeighbourSubscription {
  readonly neighbour: string
  readonly flags: number
  /** The proving key it was made under (a copy), absent if none. */
  readonly provingKey?: Uint8Array
  /** Time (in the caller's seconds) at which it stops counting. */
  readonly expiresAt: number
}

/** What a `subscribe` call did with its entries. */
export interface SubscribeResult {
  /** Subscriptions created. */
  added: number
  /** Existing subscriptions renewed. */
  refreshed: number
  /** Entries refused (counted in `counters.subscriptionDrops`). */
  rejected: number
  /** Why the first refused entry was refused. */
  reason?: SubscriptionDropReason
}

/** Limits on one neighbour (spec 09-forwarding.md §7). Infinity turns a rate off. */
export interface NeighbourLimits {
  /** Subscriptions it may hold at once. */
  maxSubscriptions: number
  /** Frames per second it may send (every received frame costs one). */
  framesPerSecond: number
  frameBurst: number
  /** Bytes per second it may cause: copies × (FRAME_OVERHEAD + sealed length). */
  bytesPerSecond: number
  byteBurst: number
  /** Membership proofs per second it may make the caller verify (admitSubscription). */
  proofChecksPerSecond: number
  proofCheckBurst: number
  /**
   * SUB entries per second it may send, renewals included: each SUB costs
   * its number of entries, taken before any proof work (spec §7).
   */
  subscriptionEntriesPerSecond: number
  subscriptionEntryBurst: number
}

/** Whether a neighbour is on the allow list, the deny list, or neither. */
export type Access = 'allow' | 'deny' | 'default'

export interface ForwardingTableOptions {
  /**
   * Require membership proofs (spec §4): every subscription carries a
   * proving key, and frames go only from a neighbour holding a send
   * subscription to receivers under the same key. Default false.
   */
  readonly requireProofs?: boolean
  /** Admit neighbours not on the allow list. Default true; false for a closed relay. */
  readonly admitByDefault?: boolean
  /** Largest sealed payload forwarded. Default DEFAULT_MAX_SEALED_LENGTH. */
  readonly maxSealedLength?: number
  /** Longest TTL a SUB may ask for, in seconds. Default DEFAULT_MAX_TTL_SECONDS. */
  readonly maxTtlSeconds?: number
  /** Subscriptions in the whole table. Default DEFAULT_MAX_SUBSCRIPTIONS. */
  readonly maxSubscriptions?: number
  /** Neighbours the table keeps state for. Default DEFAULT_MAX_NEIGHBOURS. */
  readonly maxNeighbours?: number
  /** Tags the duplicate cache remembers, rounded up to a power of two; 0 turns it off. */
  readonly duplicateCacheSize?: number
  /** Default limits for every neighbour; see `setLimits` for one neighbour. */
  readonly limits?: Partial<NeighbourLimits>
  /**
   * Proof checks per second over all neighbours together, and the burst
   * (spec §7): past the neighbour's own bucket, a check also takes a token
   * from this budget, or from the neighbour's quiet allowance
   * (QUIET_PROOF_CHECK_BURST, refilled at QUIET_PROOF_CHECKS_PER_SECOND).
   * Bounds the signature work many identities can cause, while a member's
   * occasional new proof always passes. Default: no budget.
   */
  readonly proofCheckBudget?: { readonly perSecond: number; readonly burst: number }
  /** 16 bytes seeding the keyed hashes (tests); default random. */
  readonly hashSeed?: Uint8Array
}

/** Per-neighbour figures, for status pages and metrics. */
export interface NeighbourStats {
  readonly subscriptions: number
  /** Frames it sent us. */
  readonly framesIn: number
  /** Sealed bytes it sent us. */
  readonly bytesIn: number
  /** Of those frames, how many were dropped (for any reason). */
  readonly framesDropped: number
  /** Copies its frames caused. */
  readonly copiesCaused: number
  /** Copies of others' frames routed to it. */
  readonly copiesReceived: number
  /** Its subscriptions given up to neighbours below their fair share of a full table (spec §7). */
  readonly displaced: number
}

const DEFAULT_LIMITS: NeighbourLimits = {
  maxSubscriptions: DEFAULT_MAX_SUBSCRIPTIONS_PER_NEIGHBOUR,
  framesPerSecond: Number.POSITIVE_INFINITY,
  frameBurst: Number.POSITIVE_INFINITY,
  bytesPerSecond: Number.POSITIVE_INFINITY,
  byteBurst: Number.POSITIVE_INFINITY,
  proofChecksPerSecond: Number.POSITIVE_INFINITY,
  proofCheckBurst: Number.POSITIVE_INFINITY,
  subscriptionEntriesPerSecond: Number.POSITIVE_INFINITY,
  subscriptionEntryBurst: Number.POSITIVE_INFINITY,
}

/** The table's state for one admitted neighbour. */
class Neighbour {
  readonly id: string
  readonly index: number
  /** Order of arrival: among neighbours holding equally many, the newest gives up a record first. */
  readonly serial: number
  limits: NeighbourLimits
  subscriptions = 0
  /** Its subscription records, most and least recently added or refreshed (-1: none). */
  newest = -1
  oldest = -1
  /** Position in the table's heap of holders, -1 while it holds nothing. */
  heapIndex = -1
  displaced = 0
  readonly frames: TokenBucket
  readonly bytes: TokenBucket
  readonly proofChecks: TokenBucket
  readonly entries: TokenBucket
  /** Checks it may make outside the table-wide budget (QUIET_PROOF_CHECK_BURST, slowly refilled). */
  readonly quietChecks: TokenBucket
  framesIn = 0
  bytesIn = 0
  framesDropped = 0
  copiesCaused = 0
  copiesReceived = 0

  constructor(id: string, index: number, serial: number, limits: NeighbourLimits, now: number) {
    this.id = id
    this.index = index
    this.serial = serial
    this.limits = limits
    this.frames = new TokenBucket(limits.framesPerSecond, limits.frameBurst, now)
    this.bytes = new TokenBucket(limits.bytesPerSecond, limits.byteBurst, now)
    this.proofChecks = new TokenBucket(limits.proofChecksPerSecond, limits.proofCheckBurst, now)
    this.entries = new TokenBucket(
      limits.subscriptionEntriesPerSecond,
      limits.subscriptionEntryBurst,
      now,
    )
    this.quietChecks = new TokenBucket(QUIET_PROOF_CHECKS_PER_SECOND, QUIET_PROOF_CHECK_BURST, now)
  }

  configure(limits: NeighbourLimits): void {
    this.limits = limits
    this.frames.configure(limits.framesPerSecond, limits.frameBurst)
    this.bytes.configure(limits.bytesPerSecond, limits.byteBurst)
    this.proofChecks.configure(limits.proofChecksPerSecond, limits.proofCheckBurst)
    this.entries.configure(limits.subscriptionEntriesPerSecond, limits.subscriptionEntryBurst)
  }

  /** Whether its entry bucket lets a SUB through now (taken by subscribe). */
  entriesAllowed(now: number): boolean {
    this.entries.refill(now)
    return this.entries.rate === Number.POSITIVE_INFINITY || this.entries.tokens > 0
  }
}

// Subscription record layout: SUB_STRIDE int32 slots per subscription.
/** A neighbour refused at the source stage, as a subscription drop reason. */
const SUBSCRIPTION_REFUSAL = {
  denied: 'sub-denied',
  'not-admitted': 'sub-not-admitted',
  'neighbour-limit': 'sub-neighbour-limit',
} as const satisfies Record<string, SubscriptionDropReason>

const SUB_STRIDE = 8
const S_NEIGHBOUR = 0
const S_KEY = 1 // interned proving key id, or -1
const S_FLAGS = 2 // 0 marks a free record
const S_NEXT = 3 // next in the entry's list (or in the free list), -1 ends
const S_PREV = 4
const S_ENTRY = 5
/** The expiry is a float64 in int32 slots 6 and 7: index `s * SUB_F64_STRIDE + S_EXPIRY` of the Float64Array view. */
const SUB_F64_STRIDE = SUB_STRIDE / 2
const S_EXPIRY = 3
// Entry record layout: VFT words 0..3, the head of its subscription list,
// 1 in E_USED, and 1 in E_WATCH while a fast path waits to hear of a change
// to the entry (watch()); an entry lives in its slot of the index (all
// zero: empty).
const ENTRY_STRIDE = 8
const E_HEAD = 4
const E_USED = 5
const E_WATCH = 6
const NO_KEY = -1
const INITIAL_CAPACITY = 64

export class ForwardingTable {
  /** Cumulative counters; a plain object of numbers (spec §8). */
  readonly counters: TableCounters = createCounters()
  readonly requireProofs: boolean
  readonly admitByDefault: boolean
  readonly maxSealedLength: number
  readonly maxTtlSeconds: number
  readonly maxSubscriptions: number
  readonly maxNeighbours: number

  readonly #defaultLimits: NeighbourLimits
  readonly #seed: Int32Array
  readonly #duplicates: DuplicateCache | undefined
  readonly #proofCheckBudget: TokenBucket | undefined

  // Neighbours: records for admitted neighbours only; policy kept for any id.
  readonly #neighbours = new Map<string, Neighbour>()
  #byIndex: (Neighbour | undefined)[] = []
  readonly #freeIndices: number[] = []
  #neighbourSerial = 0
  readonly #access = new Map<string, Access>()
  readonly #limits = new Map<string, Partial<NeighbourLimits>>()
  /** Per neighbour index: the serial of the frame that last reached it (fan-out dedupe). */
  #mark = new Uint32Array(16)
  #serial = 0

  // The VFT index, open addressing with linear probing, at most half full.
  // Each entry is stored in its slot (32 bytes, ENTRY_STRIDE words), so a
  // lookup reads one record, not a slot and then an entry elsewhere; an
  // entry's number is its slot, and moves (with its subscriptions'
  // S_ENTRY) when a removal or rehash moves it.
  #entries = new Int32Array(INITIAL_CAPACITY * 2 * ENTRY_STRIDE)
  #slotMask = INITIAL_CAPACITY * 2 - 1
  #entryCount = 0

  // Subscriptions: int32 fields and the float64 expiry share one buffer, so a
  // record is 32 bytes in one place (one cache miss per subscriber, not two).
  #subs = new Int32Array(INITIAL_CAPACITY * SUB_STRIDE)
  #expiry = new Float64Array(this.#subs.buffer)
  #subCapacity = INITIAL_CAPACITY
  #subHigh = 0
  #subFree = -1
  #subCount = 0
  // Per neighbour, its records from newest to oldest touch: slot 2s links
  // record s to the next older one, 2s + 1 to the next newer. Kept out of
  // the records so that routing reads 32 bytes per subscriber, as before.
  #ownLinks = new Int32Array(INITIAL_CAPACITY * 2)
  /** Neighbours holding subscriptions, a max-heap by (subscriptions, serial): its root gives up a record. */
  readonly #holders: Neighbour[] = []

  // Proving keys, interned: hex -> id, with reference counts.
  readonly #keyIds = new Map<string, number>()
  readonly #keyBytes: (Uint8Array | undefined)[] = []
  readonly #keyRefs: number[] = []
  readonly #keyFree: number[] = []
  /** Scratch: the key ids the current frame's source proved. */
  #sourceKeys = new Int32Array(4)
  /** Scratch: per frame of a batch, its home slot in stage 7a, then its entry; -1 if dropped. */
  #found = new Int32Array(64)
  /** Per batch, from the two halves of `route`: bytes in, copies and bytes out. */
  #batchBytesIn = 0
  #batchCopies = 0
  #batchBytesOut = 0
  /** Sink for the loads that warm each frame's first subscription. */
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: written so the warming loads are not optimised away
  #touched = 0
  /** The VFT #changed passes to onWatchedChange (one buffer, reused). */
  readonly #changedVft = new Uint8Array(VFT_LENGTH)

  constructor(options: ForwardingTableOptions = {}) {
    this.requireProofs = options.requireProofs ?? false
    this.admitByDefault = options.admitByDefault ?? true
    this.maxSealedLength = positive(
      'maxSealedLength',
      options.maxSealedLength ?? DEFAULT_MAX_SEALED_LENGTH,
    )
    if (this.maxSealedLength < MIN_SEALED_LENGTH) {
      throw new RelayError(
        'invalid-option',
        `maxSealedLength must be at least ${MIN_SEALED_LENGTH}`,
      )
    }
    this.maxTtlSeconds = positive('maxTtlSeconds', options.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS)
    this.maxSubscriptions = count(
      'maxSubscriptions',
      options.maxSubscriptions ?? DEFAULT_MAX_SUBSCRIPTIONS,
    )
    this.maxNeighbours = count('maxNeighbours', options.maxNeighbours ?? DEFAULT_MAX_NEIGHBOURS)
    this.#defaultLimits = mergeLimits(DEFAULT_LIMITS, options.limits)
    if (options.hashSeed !== undefined && options.hashSeed.length !== 16) {
      throw new RelayError('invalid-option', 'hashSeed must be 16 bytes')
    }
    this.#seed = makeSeed(options.hashSeed)
    const cacheSize = count(
      'duplicateCacheSize',
      options.duplicateCacheSize ?? DEFAULT_DUPLICATE_CACHE_SIZE,
    )
    this.#proofCheckBudget =
      options.proofCheckBudget === undefined
        ? undefined
        : new TokenBucket(
            positive('proofCheckBudget.perSecond', options.proofCheckBudget.perSecond),
            positive('proofCheckBudget.burst', options.proofCheckBudget.burst),
            0,
          )
    this.#duplicates =
      cacheSize === 0
        ? undefined
        : new DuplicateCache(
            cacheSize,
            options.hashSeed === undefined ? undefined : reversed(options.hashSeed),
          )
  }

  /** Live and not yet reaped subscriptions. */
  get subscriptionCount(): number {
    return this.#subCount
  }

  /** Distinct VFTs with at least one subscription. */
  get vftCount(): number {
    return this.#entryCount
  }

  /** Neighbours the table keeps state for. */
  get neighbourCount(): number {
    return this.#neighbours.size
  }

  /** Tags in the duplicate cache (0 when it is off). */
  get duplicateCacheSize(): number {
    return this.#duplicates?.size ?? 0
  }

  /** Subscription records allocated (live or free): what memory is sized for. */
  get subscriptionCapacity(): number {
    return this.#subCapacity
  }

  // ---------------------------------------------------------------------------
  // Policy: access lists and limits (control plane).

  /**
   * Puts `neighbour` on the allow list, the deny list, or neither. A
   * neighbour that is denied, or no longer admitted, loses its state and
   * subscriptions at once, so it gets nothing more.
   */
  setAccess(neighbour: string, access: Access): void {
    if (access === 'default') this.#access.delete(neighbour)
    else this.#access.set(neighbour, access)
    if (this.#refusal(neighbour) !== undefined) this.removeNeighbour(neighbour)
    this.onChange?.()
    this.onWatchedChange?.(undefined)
  }

  /** The neighbour's access list entry. */
  access(neighbour: string): Access {
    return this.#access.get(neighbour) ?? 'default'
  }

  /**
   * Sets limits for one neighbour (a relay neighbour carries many peers'
   * traffic); fields not given keep the table's defaults; `undefined` goes
   * back to the defaults. Subscriptions already held over a lowered limit
   * stay until they expire; no new one is taken.
   */
  setLimits(neighbour: string, limits: Partial<NeighbourLimits> | undefined): void {
    if (limits === undefined) this.#limits.delete(neighbour)
    else {
      mergeLimits(this.#defaultLimits, limits) // validates
      this.#limits.set(neighbour, limits)
    }
    this.#neighbours.get(neighbour)?.configure(this.#limitsOf(neighbour))
    this.onChange?.()
    this.onWatchedChange?.(undefined)
  }

  /** Forgets a neighbour (it disconnected): its subscriptions and buckets go. */
  removeNeighbour(neighbour: string): void {
    const record = this.#neighbours.get(neighbour)
    if (record === undefined) return
    while (record.newest >= 0) {
      this.#removeSub(record.newest)
      this.counters.subscriptionsEvicted++
    }
    this.#neighbours.delete(neighbour)
    this.#byIndex[record.index] = undefined
    this.#freeIndices.push(record.index)
    this.onChange?.()
    this.onWatchedChange?.(undefined)
  }

  /**
   * Called after every change that may change where a VFT's frames go: a
   * subscription added, removed, expired or its flags changed, a neighbour
   * removed, an access or limit set (not a plain renewal). A fast path
   * that forwards by what the table said drops its entries then.
   */
  onChange: (() => void) | undefined

  /**
   * Called on a change to a watched VFT, and on every change not tied to
   * one VFT, so that a fast path drops only the entries it must:
   *
   *   - with a VFT (a scratch buffer, valid during the call only): a
   *     subscription to a VFT passed to watch() was added, removed
   *     (unsubscribed, expired, displaced, its neighbour gone) or its flags
   *     changed; once per watch(), not for a plain renewal;
   *   - with undefined: a neighbour removed, an access or limits set.
   *
   * Changes to VFTs nobody watches are not told here (onChange tells of
   * them), so that a neighbour's subscriptions coming and going, as many
   * identities at their limits make them, leave a relay's entries for other
   * VFTs alone (docs/spec/18-fast-path.md §18.5.5).
   */
  onWatchedChange: ((vft: Uint8Array | undefined) => void) | undefined

  /**
   * Asks for one onWatchedChange(vft) on the next change to the VFT's
   * subscriptions (a fast path installed its route). False, and nothing
   * watched, when the table holds no subscription to it.
   */
  watch(vft: Uint8Array): boolean {
    if (vft.length !== VFT_LENGTH) return false
    const e = this.#find(word(vft, 0), word(vft, 4), word(vft, 8), word(vft, 12))
    if (e < 0) return false
    this.#entries[e * ENTRY_STRIDE + E_WATCH] = 1
    return true
  }

  /** A watched entry changed: tells onWatchedChange its VFT, once. */
  #changed(e: number): void {
    const entries = this.#entries
    const base = e * ENTRY_STRIDE
    if (entries[base + E_WATCH] === 0) return
    entries[base + E_WATCH] = 0
    const vft = this.#changedVft
    for (let i = 0; i < 4; i++) {
      const w = entries[base + i]!
      vft[4 * i] = w >>> 24
      vft[4 * i + 1] = (w >>> 16) & 0xff
      vft[4 * i + 2] = (w >>> 8) & 0xff
      vft[4 * i + 3] = w & 0xff
    }
    this.onWatchedChange?.(vft)
  }

  /** The limits that apply to `neighbour` (its own merged over the defaults), whether or not it is up. */
  limitsOf(neighbour: string): NeighbourLimits {
    return { ...this.#limitsOf(neighbour) }
  }

  /** Figures for one neighbour, or undefined if the table keeps no state for it. */
  neighbourStats(neighbour: string): NeighbourStats | undefined {
    const n = this.#neighbours.get(neighbour)
    if (n === undefined) return undefined
    return {
      subscriptions: n.subscriptions,
      framesIn: n.framesIn,
      bytesIn: n.bytesIn,
      framesDropped: n.framesDropped,
      copiesCaused: n.copiesCaused,
      copiesReceived: n.copiesReceived,
      displaced: n.displaced,
    }
  }

  /**
   * The admission checks of a SUB (spec §3 steps 1-2): state can be kept
   * for the neighbour, it is not denied, it is admitted, and its entry
   * bucket lets the SUB through (`sub-rate`; subscribe takes the entries).
   * Returns the reason it may not go on (and counts it for all `entries`),
   * or undefined. admitSubscription calls this before it looks at the proof.
   */
  checkAdmission(
    neighbour: string,
    entries: number,
    now: number,
  ): SubscriptionDropReason | undefined {
    const source = this.#resolve(neighbour, now)
    let reason: SubscriptionDropReason | undefined
    if (typeof source === 'string') reason = SUBSCRIPTION_REFUSAL[source]
    else if (!source.entriesAllowed(now)) reason = 'sub-rate'
    if (reason !== undefined) this.counters.subscriptionDrops[reason] += entries
    return reason
  }

  /**
   * The checks of a SUB with a membership proof that come before anyone
   * spends time on its signature (spec §3): the neighbour is admitted and
   * its proof-check bucket has a token, which this takes. Returns the
   * reason it may not go on (and counts it for all `entries`), or
   * undefined. admitSubscription calls this only for a proof it must
   * verify (not for one its ProofVerifier verified before); a caller that
   * verifies proofs itself should too.
   */
  chargeProofCheck(
    neighbour: string,
    entries: number,
    now: number,
  ): SubscriptionDropReason | undefined {
    const source = this.#resolve(neighbour, now)
    let reason: SubscriptionDropReason | undefined
    if (typeof source === 'string') reason = SUBSCRIPTION_REFUSAL[source]
    else {
      source.proofChecks.refill(now)
      if (!source.proofChecks.take(1)) reason = 'sub-rate'
      else if (!this.#withinBudget(source, now)) {
        source.proofChecks.tokens += 1 // not spent: the check does not happen
        this.counters.proofChecksOverBudget++
        reason = 'sub-rate'
      }
    }
    if (reason !== undefined) this.counters.subscriptionDrops[reason] += entries
    return reason
  }

  /** A proof check within the table-wide budget, or the neighbour's quiet allowance (which goes first). */
  #withinBudget(source: Neighbour, now: number): boolean {
    const budget = this.#proofCheckBudget
    if (budget === undefined) return true
    source.quietChecks.refill(now)
    if (source.quietChecks.tokens >= 1) {
      source.quietChecks.tokens -= 1
      return true
    }
    budget.refill(now)
    return budget.take(1)
  }

  /** Counts `entries` subscription entries refused for `reason` by a check outside the table. */
  countRefused(reason: SubscriptionDropReason, entries: number): void {
    this.counters.subscriptionDrops[reason] += entries
  }

  // ---------------------------------------------------------------------------
  // Subscriptions (control plane; spec §2, §3).

  /**
   * Handles a SUB from `neighbour`: each entry creates or refreshes the
   * subscription (VFT, neighbour, provingKey), whose flags become the
   * entry's and which lives until `now + ttlSeconds`. `provingKey` is the
   * 32-byte Ed25519 public key of a membership proof the caller has already
   * verified for these VFTs (admitSubscription does both). Refreshes are
   * never refused; in a full table, a neighbour below its fair share takes
   * a record from the neighbour holding the most (spec §7). Refused entries
   * are counted, never thrown.
   */
  subscribe(
    neighbour: string,
    entries: readonly SubscriptionEntry[],
    ttlSeconds: number,
    now: number,
    provingKey?: Uint8Array,
  ): SubscribeResult {
    const result: SubscribeResult = { added: 0, refreshed: 0, rejected: 0 }
    const source = this.#resolve(neighbour, now)
    if (typeof source === 'string') {
      return this.#rejectAll(result, entries.length, SUBSCRIPTION_REFUSAL[source])
    }
    if (!source.entriesAllowed(now)) return this.#rejectAll(result, entries.length, 'sub-rate')
    source.entries.take(entries.length)
    if (!(ttlSeconds > 0 && ttlSeconds <= this.maxTtlSeconds)) {
      return this.#rejectAll(result, entries.length, 'sub-ttl-invalid')
    }
    if (provingKey !== undefined && provingKey.length !== PROVING_KEY_LENGTH) {
      return this.#rejectAll(result, entries.length, 'sub-malformed')
    }
    if (this.requireProofs && provingKey === undefined) {
      return this.#rejectAll(result, entries.length, 'sub-no-proof')
    }
    const key = provingKey === undefined ? NO_KEY : this.#internKey(provingKey)
    const expiresAt = now + ttlSeconds
    let changed = false
    for (const entry of entries) {
      const { vft, flags } = entry
      if (vft.length !== VFT_LENGTH || flags === 0 || (flags & ~FLAGS_MASK) !== 0) {
        this.#reject(result, 'sub-malformed')
        continue
      }
      const w0 = word(vft, 0)
      const w1 = word(vft, 4)
      const w2 = word(vft, 8)
      const w3 = word(vft, 12)
      let e = this.#find(w0, w1, w2, w3)
      if (e >= 0) {
        const s = this.#findSub(e, source.index, key)
        if (s >= 0) {
          if (this.#subs[s * SUB_STRIDE + S_FLAGS] !== flags) {
            changed = true
            this.#changed(e)
          }
          this.#subs[s * SUB_STRIDE + S_FLAGS] = flags
          this.#expiry[s * SUB_F64_STRIDE + S_EXPIRY] = expiresAt
          this.#renewed(source, s)
          result.refreshed++
          this.counters.subscriptionsRefreshed++
          continue
        }
      }
      if (source.subscriptions >= source.limits.maxSubscriptions) {
        this.#reject(result, 'sub-limit')
        continue
      }
      if (this.#subCount >= this.maxSubscriptions) {
        if (!this.#displaceFor(source)) {
          this.#reject(result, 'sub-table-full')
          continue
        }
        // The record given up may have been the last of its VFT: that
        // entry's removal can move or remove this VFT's entry in the index.
        e = this.#find(w0, w1, w2, w3)
      }
      if (e < 0) e = this.#addEntry(w0, w1, w2, w3)
      else this.#changed(e)
      this.#addSub(e, source, key, flags, expiresAt)
      result.added++
      this.counters.subscriptionsAdded++
    }
    if (key !== NO_KEY) this.#releaseKey(key) // drops the intern reference taken above
    if (changed || result.added > 0) this.onChange?.()
    return result
  }

  /**
   * Handles an UNSUB from `neighbour`: clears the entry's flags on its
   * subscriptions to each VFT (only those under `provingKey` if given);
   * a subscription left with no flag is removed. Returns how many were removed.
   */
  unsubscribe(
    neighbour: string,
    entries: readonly SubscriptionEntry[],
    provingKey?: Uint8Array,
  ): number {
    const source = this.#neighbours.get(neighbour)
    if (source === undefined) return 0
    let key = NO_KEY
    if (provingKey !== undefined) {
      const id = this.#keyIds.get(hex(provingKey))
      if (id === undefined) return 0
      key = id
    }
    const subs = this.#subs
    let removed = 0
    for (const entry of entries) {
      if (entry.vft.length !== VFT_LENGTH) continue
      const e = this.#find(
        word(entry.vft, 0),
        word(entry.vft, 4),
        word(entry.vft, 8),
        word(entry.vft, 12),
      )
      if (e < 0) continue
      let s = this.#entries[e * ENTRY_STRIDE + E_HEAD]!
      while (s >= 0) {
        const base = s * SUB_STRIDE
        const next = subs[base + S_NEXT]!
        if (
          subs[base + S_NEIGHBOUR] === source.index &&
          (provingKey === undefined || subs[base + S_KEY] === key)
        ) {
          const flags = subs[base + S_FLAGS]! & ~entry.flags
          if (flags !== subs[base + S_FLAGS]) this.#changed(e)
          if (flags === 0) {
            this.#removeSub(s)
            removed++
            this.counters.subscriptionsRemoved++
          } else subs[base + S_FLAGS] = flags
        }
        s = next
      }
    }
    if (removed > 0 || entries.length > 0) this.onChange?.()
    return removed
  }

  /**
   * Removes every subscription whose TTL has run out by `now` and returns
   * how many. Routing already ignores them; this gives their memory back.
   * Linear in the subscriptions held: call it every second or so.
   */
  expire(now: number): number {
    const subs = this.#subs
    const expiry = this.#expiry
    let removed = 0
    for (let s = 0; s < this.#subHigh; s++) {
      if (subs[s * SUB_STRIDE + S_FLAGS] !== 0 && expiry[s * SUB_F64_STRIDE + S_EXPIRY]! <= now) {
        this.#removeSub(s)
        removed++
      }
    }
    this.counters.subscriptionsExpired += removed
    if (removed > 0) this.onChange?.()
    return removed
  }

  /**
   * The subscriptions to `vft` (control plane: allocates). With `now`, only
   * those still live at `now`.
   */
  lookup(vft: Uint8Array, now?: number): NeighbourSubscription[] {
    const found: NeighbourSubscription[] = []
    if (vft.length !== VFT_LENGTH) return found
    const e = this.#find(word(vft, 0), word(vft, 4), word(vft, 8), word(vft, 12))
    if (e < 0) return found
    const subs = this.#subs
    for (
      let s = this.#entries[e * ENTRY_STRIDE + E_HEAD]!;
      s >= 0;
      s = subs[s * SUB_STRIDE + S_NEXT]!
    ) {
      const base = s * SUB_STRIDE
      const expiresAt = this.#expiry[s * SUB_F64_STRIDE + S_EXPIRY]!
      if (now !== undefined && expiresAt <= now) continue
      const key = subs[base + S_KEY]!
      const keyBytes = key === NO_KEY ? undefined : this.#keyBytes[key]
      found.push({
        neighbour: this.#byIndex[subs[base + S_NEIGHBOUR]!]!.id,
        flags: subs[base + S_FLAGS]!,
        expiresAt,
        ...(keyBytes === undefined ? {} : { provingKey: keyBytes.slice() }),
      })
    }
    return found
  }

  // ---------------------------------------------------------------------------
  // The data path (spec §5): see the stage list at the top of this file.

  /**
   * Routes a batch of frames received from `from` into `out`: for each
   * neighbour, the indices of the frames to send it. Forwarded frames get
   * `hopLimit − 1` written into their `hopLimit`. Only the first `count`
   * frames are read. Never throws on frame contents; drops are counted.
   */
  route(
    from: string,
    frames: readonly Frame[],
    now: number,
    out: RouteBatch,
    count: number = frames.length,
  ): RouteBatch {
    out.begin()
    const counters = this.counters
    const drops = counters.frameDrops
    counters.batches++
    counters.framesIn += count
    // 1. source
    const source = this.#resolve(from, now)
    if (typeof source === 'string') {
      drops[source] += count
      for (let i = 0; i < count; i++) counters.bytesIn += frames[i]!.sealed.length
      out.dropped = count
      return out
    }
    // 2. refill
    source.frames.refill(now)
    source.bytes.refill(now)

    // Stages 3-7 run over the whole batch first, then 8-12: the lookups of
    // a batch are independent, so the CPU overlaps their cache misses
    // (measured: about 1.4x at 100k subscriptions). Nothing in 3-7 has an
    // effect but the frame-rate tokens, taken in frame order as before.
    // Each half is a method of its own, small enough that V8 inlines every
    // helper it calls (its inlining budget is per compiled function: with
    // both halves in one, the duplicate cache's and the RouteBatch's
    // methods stayed calls).
    const dropped =
      this.#lookUpBatch(source, frames, count) + this.#fanOutBatch(source, frames, count, now, out)
    const bytesIn = this.#batchBytesIn
    const copiesOut = this.#batchCopies
    const bytesOut = this.#batchBytesOut
    const byIndex = this.#byIndex
    const forwarded = count - dropped
    counters.bytesIn += bytesIn
    counters.framesForwarded += forwarded
    counters.copiesOut += copiesOut
    counters.bytesOut += bytesOut
    source.framesIn += count
    source.bytesIn += bytesIn
    source.framesDropped += dropped
    source.copiesCaused += copiesOut
    for (let o = 0; o < out.length; o++) {
      const output = out.outputs[o]!
      byIndex[output.index]!.copiesReceived += output.count
    }
    out.forwarded = forwarded
    out.copies = copiesOut
    out.dropped = dropped
    return out
  }

  /** Stages 3-7 for a batch: fills `#found`; returns the frames dropped. */
  #lookUpBatch(source: Neighbour, frames: readonly Frame[], count: number): number {
    const drops = this.counters.frameDrops
    const maxSealedLength = this.maxSealedLength
    const subs = this.#subs
    const entries = this.#entries
    const seed = this.#seed
    const slotMask = this.#slotMask
    let bytesIn = 0
    let dropped = 0
    if (this.#found.length < count) this.#found = new Int32Array(count * 2)
    const found = this.#found
    let touched = 0
    for (let i = 0; i < count; i++) {
      const frame = frames[i]!
      const vft = frame.vft
      const length = frame.sealed.length
      const hopLimit = frame.hopLimit
      bytesIn += length
      found[i] = -1
      // 3. shape (a hop limit that is not an integer in 0..255 fails `& 0xff`)
      if (
        vft.length !== VFT_LENGTH ||
        length < MIN_SEALED_LENGTH ||
        (hopLimit & 0xff) !== hopLimit
      ) {
        drops.malformed++
        dropped++
        continue
      }
      // 4. size
      if (length > maxSealedLength) {
        drops['too-large']++
        dropped++
        continue
      }
      // 5. hop limit: sending on would need 1 or more after the decrement
      if (hopLimit <= 1) {
        drops['hop-limit']++
        dropped++
        continue
      }
      // 6. frame rate
      if (!source.frames.take(1)) {
        drops['rate-frames']++
        dropped++
        continue
      }
      // 7a. the VFT's home slot, loaded
      const slot = mix4(seed, word(vft, 0), word(vft, 4), word(vft, 8), word(vft, 12)) & slotMask
      found[i] = slot
      touched += entries[slot * ENTRY_STRIDE + E_HEAD]!
    }
    // 7b. the lookup proper (its first probe now hits the CPU's cache), and
    // the entry's first subscription, loaded. Each sweep issues one
    // independent load per frame, so the whole batch's misses of one kind
    // are in flight at once; within a frame they depend on each other.
    for (let i = 0; i < count; i++) {
      const slot = found[i]!
      if (slot < 0) continue
      const vft = frames[i]!.vft
      const e = this.#findFrom(slot, word(vft, 0), word(vft, 4), word(vft, 8), word(vft, 12))
      if (e < 0) {
        found[i] = -1
        drops['no-subscriber']++
        dropped++
        continue
      }
      found[i] = e
      touched += subs[entries[e * ENTRY_STRIDE + E_HEAD]! * SUB_STRIDE]!
    }
    this.#touched = touched
    this.#batchBytesIn = bytesIn
    return dropped
  }

  /** Stages 8-12 for a batch whose lookups `#lookUpBatch` made; returns the frames dropped. */
  #fanOutBatch(
    source: Neighbour,
    frames: readonly Frame[],
    count: number,
    now: number,
    out: RouteBatch,
  ): number {
    const drops = this.counters.frameDrops
    const requireProofs = this.requireProofs
    const duplicates = this.#duplicates
    const subs = this.#subs
    const expiry = this.#expiry
    const entries = this.#entries
    const byIndex = this.#byIndex
    const found = this.#found
    const src = source.index
    let copiesOut = 0
    let bytesOut = 0
    let dropped = 0

    for (let i = 0; i < count; i++) {
      const e = found[i]!
      if (e < 0) continue
      const frame = frames[i]!
      const sealed = frame.sealed
      const length = sealed.length
      const hopLimit = frame.hopLimit
      // 8. proof: the keys the source proved for this VFT, by a live send subscription
      let keyCount = 0
      if (requireProofs) {
        for (
          let s = entries[e * ENTRY_STRIDE + E_HEAD]!;
          s >= 0;
          s = subs[s * SUB_STRIDE + S_NEXT]!
        ) {
          const base = s * SUB_STRIDE
          if (
            subs[base + S_NEIGHBOUR] === src &&
            (subs[base + S_FLAGS]! & FLAG_SEND) !== 0 &&
            expiry[s * SUB_F64_STRIDE + S_EXPIRY]! > now
          ) {
            if (keyCount === this.#sourceKeys.length) this.#growSourceKeys()
            this.#sourceKeys[keyCount++] = subs[base + S_KEY]!
          }
        }
        if (keyCount === 0) {
          drops['no-proof']++
          dropped++
          continue
        }
      }
      // 9. fan-out: split horizon, live receivers, matching key, each neighbour once
      const serial = this.#nextSerial()
      const mark = this.#mark
      const sourceKeys = this.#sourceKeys
      const lengthBefore = out.length
      let copies = 0
      let otherReceivers = 0
      for (
        let s = entries[e * ENTRY_STRIDE + E_HEAD]!;
        s >= 0;
        s = subs[s * SUB_STRIDE + S_NEXT]!
      ) {
        const base = s * SUB_STRIDE
        const n = subs[base + S_NEIGHBOUR]!
        if (
          n === src ||
          (subs[base + S_FLAGS]! & FLAG_RECEIVE) === 0 ||
          expiry[s * SUB_F64_STRIDE + S_EXPIRY]! <= now
        ) {
          continue
        }
        if (requireProofs) {
          otherReceivers++
          const key = subs[base + S_KEY]!
          let k = 0
          while (k < keyCount && sourceKeys[k] !== key) k++
          if (k === keyCount) continue
        }
        if (mark[n] === serial) continue
        mark[n] = serial
        out.push(n, byIndex[n]!.id, i)
        copies++
      }
      if (copies === 0) {
        if (otherReceivers > 0) drops['proof-mismatch']++
        else drops['no-subscriber']++
        dropped++
        continue
      }
      // 10. duplicate
      if (duplicates?.has(sealed)) {
        out.retract(i, lengthBefore)
        drops.duplicate++
        dropped++
        continue
      }
      // 11. byte rate: the sender pays for every copy it causes
      const cost = copies * (length + FRAME_OVERHEAD)
      if (!source.bytes.take(cost)) {
        out.retract(i, lengthBefore)
        drops['rate-bytes']++
        dropped++
        continue
      }
      // 12. forward
      if (duplicates !== undefined) duplicates.add(sealed)
      frame.hopLimit = hopLimit - 1
      copiesOut += copies
      bytesOut += cost
    }
    this.#batchCopies = copiesOut
    this.#batchBytesOut = bytesOut
    return dropped
  }

  // ---------------------------------------------------------------------------
  // Neighbours.

  /** Why `neighbour` may not use the table, or undefined if it may. */
  #refusal(neighbour: string): 'denied' | 'not-admitted' | undefined {
    const access = this.#access.get(neighbour)
    if (access === 'deny') return 'denied'
    if (access !== 'allow' && !this.admitByDefault) return 'not-admitted'
    return undefined
  }

  /** The neighbour's record, made on first use if it is admitted; or why not. */
  #resolve(
    neighbour: string,
    now: number,
  ): Neighbour | 'denied' | 'not-admitted' | 'neighbour-limit' {
    const known = this.#neighbours.get(neighbour)
    if (known !== undefined) return known
    const refusal = this.#refusal(neighbour)
    if (refusal !== undefined) return refusal
    if (this.#neighbours.size >= this.maxNeighbours) return 'neighbour-limit'
    const index = this.#freeIndices.pop() ?? this.#byIndex.length
    const record = new Neighbour(
      neighbour,
      index,
      this.#neighbourSerial++,
      this.#limitsOf(neighbour),
      now,
    )
    this.#neighbours.set(neighbour, record)
    this.#byIndex[index] = record
    if (index >= this.#mark.length) {
      const mark = new Uint32Array(this.#mark.length * 2)
      mark.set(this.#mark)
      this.#mark = mark
    }
    return record
  }

  #limitsOf(neighbour: string): NeighbourLimits {
    const own = this.#limits.get(neighbour)
    return own === undefined ? this.#defaultLimits : mergeLimits(this.#defaultLimits, own)
  }

  #nextSerial(): number {
    if (this.#serial === 0xffff_ffff) {
      this.#mark.fill(0)
      this.#serial = 0
    }
    return ++this.#serial
  }

  #growSourceKeys(): void {
    const keys = new Int32Array(this.#sourceKeys.length * 2)
    keys.set(this.#sourceKeys)
    this.#sourceKeys = keys
  }

  #reject(result: SubscribeResult, reason: SubscriptionDropReason): void {
    result.rejected++
    result.reason ??= reason
    this.counters.subscriptionDrops[reason]++
  }

  #rejectAll(
    result: SubscribeResult,
    entries: number,
    reason: SubscriptionDropReason,
  ): SubscribeResult {
    if (entries > 0) {
      result.rejected = entries
      result.reason = reason
      this.counters.subscriptionDrops[reason] += entries
    }
    return result
  }

  // ---------------------------------------------------------------------------
  // The VFT index and entries.

  /** Entry (slot) of the VFT with these words, or -1. */
  #find(w0: number, w1: number, w2: number, w3: number): number {
    return this.#findFrom(mix4(this.#seed, w0, w1, w2, w3) & this.#slotMask, w0, w1, w2, w3)
  }

  /** `#find` from the VFT's home slot, already computed. */
  #findFrom(home: number, w0: number, w1: number, w2: number, w3: number): number {
    const entries = this.#entries
    const mask = this.#slotMask
    let slot = home
    for (;;) {
      const base = slot * ENTRY_STRIDE
      if (entries[base + E_USED] === 0) return -1
      if (
        entries[base] === w0 &&
        entries[base + 1] === w1 &&
        entries[base + 2] === w2 &&
        entries[base + 3] === w3
      ) {
        return slot
      }
      slot = (slot + 1) & mask
    }
  }

  /** Home slot of the entry in slot `e`. */
  #home(e: number): number {
    const entries = this.#entries
    const base = e * ENTRY_STRIDE
    return (
      mix4(this.#seed, entries[base]!, entries[base + 1]!, entries[base + 2]!, entries[base + 3]!) &
      this.#slotMask
    )
  }

  /** Adds an entry with an empty list for a VFT not in the index; returns its slot. */
  #addEntry(w0: number, w1: number, w2: number, w3: number): number {
    const slotCount = this.#slotMask + 1
    if ((this.#entryCount + 1) * 2 > slotCount) this.#rehash(slotCount * 2)
    const entries = this.#entries
    const mask = this.#slotMask
    let slot = mix4(this.#seed, w0, w1, w2, w3) & mask
    while (entries[slot * ENTRY_STRIDE + E_USED] !== 0) slot = (slot + 1) & mask
    const base = slot * ENTRY_STRIDE
    entries[base] = w0
    entries[base + 1] = w1
    entries[base + 2] = w2
    entries[base + 3] = w3
    entries[base + E_HEAD] = -1
    entries[base + E_USED] = 1
    this.#entryCount++
    return slot
  }

  /** Removes entry `e` (its list is empty) from the index: backward-shift deletion. */
  #removeEntry(e: number): void {
    const entries = this.#entries
    const mask = this.#slotMask
    let hole = e
    let slot = e
    for (;;) {
      slot = (slot + 1) & mask
      if (entries[slot * ENTRY_STRIDE + E_USED] === 0) break
      // Move the entry into the hole unless its home lies cyclically in (hole, slot].
      const home = this.#home(slot)
      if (((slot - home) & mask) >= ((slot - hole) & mask)) {
        this.#moveEntry(entries, slot, entries, hole)
        hole = slot
      }
    }
    entries.fill(0, hole * ENTRY_STRIDE, (hole + 1) * ENTRY_STRIDE)
    this.#entryCount--
  }

  /** Copies the entry in slot `from` of `source` to slot `to` of `target`, and points its subscriptions there. */
  #moveEntry(source: Int32Array, from: number, target: Int32Array, to: number): void {
    target.set(source.subarray(from * ENTRY_STRIDE, (from + 1) * ENTRY_STRIDE), to * ENTRY_STRIDE)
    const subs = this.#subs
    for (
      let s = source[from * ENTRY_STRIDE + E_HEAD]!;
      s >= 0;
      s = subs[s * SUB_STRIDE + S_NEXT]!
    ) {
      subs[s * SUB_STRIDE + S_ENTRY] = to
    }
  }

  #rehash(size: number): void {
    const old = this.#entries
    const entries = new Int32Array(size * ENTRY_STRIDE)
    const mask = size - 1
    this.#entries = entries
    this.#slotMask = mask
    for (let e = 0; e * ENTRY_STRIDE < old.length; e++) {
      const base = e * ENTRY_STRIDE
      if (old[base + E_USED] === 0) continue
      let slot = mix4(this.#seed, old[base]!, old[base + 1]!, old[base + 2]!, old[base + 3]!) & mask
      while (entries[slot * ENTRY_STRIDE + E_USED] !== 0) slot = (slot + 1) & mask
      this.#moveEntry(old, e, entries, slot)
    }
  }

  // ---------------------------------------------------------------------------
  // Subscription records.

  #findSub(e: number, neighbour: number, key: number): number {
    const subs = this.#subs
    for (
      let s = this.#entries[e * ENTRY_STRIDE + E_HEAD]!;
      s >= 0;
      s = subs[s * SUB_STRIDE + S_NEXT]!
    ) {
      const base = s * SUB_STRIDE
      if (subs[base + S_NEIGHBOUR] === neighbour && subs[base + S_KEY] === key) return s
    }
    return -1
  }

  #addSub(e: number, neighbour: Neighbour, key: number, flags: number, expiresAt: number): void {
    let s = this.#subFree
    if (s >= 0) this.#subFree = this.#subs[s * SUB_STRIDE + S_NEXT]!
    else {
      if (this.#subHigh === this.#subCapacity) this.#growSubs()
      s = this.#subHigh++
    }
    const subs = this.#subs
    const base = s * SUB_STRIDE
    const head = this.#entries[e * ENTRY_STRIDE + E_HEAD]!
    subs[base + S_NEIGHBOUR] = neighbour.index
    subs[base + S_KEY] = key
    subs[base + S_FLAGS] = flags
    subs[base + S_NEXT] = head
    subs[base + S_PREV] = -1
    subs[base + S_ENTRY] = e
    if (head >= 0) subs[head * SUB_STRIDE + S_PREV] = s
    this.#entries[e * ENTRY_STRIDE + E_HEAD] = s
    this.#expiry[s * SUB_F64_STRIDE + S_EXPIRY] = expiresAt
    if (key !== NO_KEY) this.#keyRefs[key]!++
    this.#linkNewest(neighbour, s)
    neighbour.subscriptions++
    if (neighbour.heapIndex < 0) {
      neighbour.heapIndex = this.#holders.length
      this.#holders.push(neighbour)
    }
    this.#siftUp(neighbour.heapIndex)
    this.#subCount++
  }

  #removeSub(s: number): void {
    const subs = this.#subs
    const base = s * SUB_STRIDE
    const next = subs[base + S_NEXT]!
    const prev = subs[base + S_PREV]!
    const e = subs[base + S_ENTRY]!
    this.#changed(e)
    if (prev >= 0) subs[prev * SUB_STRIDE + S_NEXT] = next
    else this.#entries[e * ENTRY_STRIDE + E_HEAD] = next
    if (next >= 0) subs[next * SUB_STRIDE + S_PREV] = prev
    const key = subs[base + S_KEY]!
    if (key !== NO_KEY) this.#releaseKey(key)
    const neighbour = this.#byIndex[subs[base + S_NEIGHBOUR]!]!
    this.#unlinkOwn(neighbour, s)
    if (--neighbour.subscriptions === 0) this.#leaveHeap(neighbour)
    else this.#siftDown(neighbour.heapIndex)
    subs[base + S_FLAGS] = 0
    subs[base + S_NEXT] = this.#subFree
    this.#subFree = s
    this.#subCount--
    if (this.#entries[e * ENTRY_STRIDE + E_HEAD]! < 0) this.#removeEntry(e)
  }

  #growSubs(): void {
    const capacity = this.#subCapacity * 2
    const subs = new Int32Array(capacity * SUB_STRIDE)
    subs.set(this.#subs)
    this.#subs = subs
    this.#expiry = new Float64Array(subs.buffer)
    const links = new Int32Array(capacity * 2)
    links.set(this.#ownLinks)
    this.#ownLinks = links
    this.#subCapacity = capacity
  }

  // ---------------------------------------------------------------------------
  // Fair share of a full table (spec §7): each neighbour's records in touch
  // order, and the heap of holders.

  /**
   * Frees one record for `source` when the table is full and `source` holds
   * less than its fair share, `floor(maxSubscriptions / holders)` with itself
   * counted: the least recently touched record of the neighbour holding the
   * most goes (the newest such neighbour on a tie). That neighbour holds more
   * than the share (the others average above it), so it keeps at least the
   * share, and a flood of identities can never push a neighbour below it.
   */
  #displaceFor(source: Neighbour): boolean {
    const holders = this.#holders.length + (source.subscriptions === 0 ? 1 : 0)
    if (source.subscriptions >= Math.floor(this.maxSubscriptions / holders)) return false
    const victim = this.#holders[0]!
    this.#removeSub(victim.oldest)
    victim.displaced++
    this.counters.subscriptionsDisplaced++
    return true
  }

  #linkNewest(neighbour: Neighbour, s: number): void {
    const links = this.#ownLinks
    const head = neighbour.newest
    links[2 * s] = head
    links[2 * s + 1] = -1
    if (head >= 0) links[2 * head + 1] = s
    else neighbour.oldest = s
    neighbour.newest = s
  }

  #unlinkOwn(neighbour: Neighbour, s: number): void {
    const links = this.#ownLinks
    const older = links[2 * s]!
    const newer = links[2 * s + 1]!
    if (newer >= 0) links[2 * newer] = older
    else neighbour.newest = older
    if (older >= 0) links[2 * older + 1] = newer
    else neighbour.oldest = newer
  }

  /** A refreshed record becomes its neighbour's newest. */
  #renewed(neighbour: Neighbour, s: number): void {
    if (neighbour.newest === s) return
    this.#unlinkOwn(neighbour, s)
    this.#linkNewest(neighbour, s)
  }

  #leaveHeap(neighbour: Neighbour): void {
    const heap = this.#holders
    const i = neighbour.heapIndex
    const last = heap.pop()!
    neighbour.heapIndex = -1
    if (last === neighbour) return
    heap[i] = last
    last.heapIndex = i
    this.#siftUp(i)
    this.#siftDown(last.heapIndex)
  }

  #siftUp(i: number): void {
    const heap = this.#holders
    const n = heap[i]!
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent]!
      if (!before(n, p)) break
      heap[i] = p
      p.heapIndex = i
      i = parent
    }
    heap[i] = n
    n.heapIndex = i
  }

  #siftDown(i: number): void {
    const heap = this.#holders
    const n = heap[i]!
    const size = heap.length
    for (;;) {
      let child = 2 * i + 1
      if (child >= size) break
      if (child + 1 < size && before(heap[child + 1]!, heap[child]!)) child++
      const c = heap[child]!
      if (!before(c, n)) break
      heap[i] = c
      c.heapIndex = i
      i = child
    }
    heap[i] = n
    n.heapIndex = i
  }

  // ---------------------------------------------------------------------------
  // Proving keys.

  /** Interns a proving key and takes one reference to it (the caller releases it). */
  #internKey(key: Uint8Array): number {
    const name = hex(key)
    let id = this.#keyIds.get(name)
    if (id === undefined) {
      id = this.#keyFree.pop() ?? this.#keyBytes.length
      this.#keyIds.set(name, id)
      this.#keyBytes[id] = key.slice()
      this.#keyRefs[id] = 0
    }
    this.#keyRefs[id]!++
    return id
  }

  #releaseKey(id: number): void {
    const refs = --this.#keyRefs[id]!
    if (refs > 0) return
    this.#keyIds.delete(hex(this.#keyBytes[id]!))
    this.#keyBytes[id] = undefined
    this.#keyFree.push(id)
  }
}

/** Heap order of holders: more subscriptions first; on a tie, the newer neighbour. */
function before(a: Neighbour, b: Neighbour): boolean {
  return (
    a.subscriptions > b.subscriptions ||
    (a.subscriptions === b.subscriptions && a.serial > b.serial)
  )
}

function reversed(bytes: Uint8Array): Uint8Array {
  return bytes.slice().reverse()
}

function positive(name: string, value: number): number {
  if (!(typeof value === 'number' && value > 0)) {
    throw new RelayError('invalid-option', `${name} must be a positive number`)
  }
  return value
}

function count(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 0)) {
    throw new RelayError('invalid-option', `${name} must be a non-negative integer`)
  }
  return value
}

function mergeLimits(
  base: NeighbourLimits,
  own: Partial<NeighbourLimits> | undefined,
): NeighbourLimits {
  const limits = { ...base, ...own }
  for (const [name, value] of Object.entries(limits)) {
    if (!(typeof value === 'number' && value >= 0)) {
      throw new RelayError('invalid-option', `limit ${name} must be a non-negative number`)
    }
  }
  if (limits.maxSubscriptions !== Number.POSITIVE_INFINITY)
    count('maxSubscriptions', limits.maxSubscriptions)
  return limits
}
