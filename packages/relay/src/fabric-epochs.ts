/**
 * The fabrics a relay admits the members of (spec 12-relay.md §12.4,
 * 16-fabric.md): the relay is given each fabric's root public key and
 * holds, per root, the newest root-signed epoch statement it has verified
 * ("epoch n of the fabric whose root is R uses credential key K"). The
 * credential keys of the statements held for configured roots are the keys
 * whose membership proofs admit their peer (`RelayAdmission`'s fabric
 * keys); the relay never holds a fabric's secret.
 *
 *   CONTROL 11 from any peer, strangers too (it is signed) -> offer, cheapest
 *     first: decodes (`malformed`), a configured root (`unknown-root`), an
 *     epoch above the one held for that root (`stale`: equal or lower,
 *     dropped with no signature check), the peer's and the global signature
 *     budget (`rate`, `busy`), the root's Ed25519 signature
 *     (`bad-signature`) -> held, replacing the older statement, or a counted
 *     refusal
 *   a statement stored by an earlier run -> restore (no budget; verified)
 *   roots added or removed at run time -> setRoots
 *   link down -> forget(peer)
 *
 * A root removed admits nothing from then on; its statement is kept (a few,
 * oldest dropped first) so that adding the root again never goes back to an
 * older epoch. Bounded: the signature budgets of a few thousand peers, the
 * oldest evicted first. Pure: no I/O, no timers (`now` in seconds is an
 * argument).
 */
import { decodeFabricEpoch, verifyFabricEpoch } from '@peertap/mvlan'
import {
  DEFAULT_FABRIC_EPOCH_CHECK_BURST,
  DEFAULT_FABRIC_EPOCH_CHECKS_PER_SECOND,
  DEFAULT_FABRIC_EPOCH_GLOBAL_CHECK_BURST,
  DEFAULT_FABRIC_EPOCH_GLOBAL_CHECKS_PER_SECOND,
  DEFAULT_FABRIC_EPOCH_MAX_PEERS,
  DEFAULT_FABRIC_EPOCH_MAX_RETIRED,
} from './constants.ts'
import { RelayError } from './errors.ts'
import { hex } from './hash.ts'
import { TokenBucket } from './token-bucket.ts'

/** Why an offered statement changed nothing, in check order. */
export const FABRIC_EPOCH_REFUSALS = [
  'malformed',
  'unknown-root',
  'stale',
  'rate',
  'busy',
  'bad-signature',
] as const
export type FabricEpochRefusal = (typeof FABRIC_EPOCH_REFUSALS)[number]

/** A verified statement the relay holds for one root; keys as lower-case hex. */
export interface HeldFabricEpoch {
  readonly rootKey: string
  readonly epoch: number
  readonly credentialKey: string
  readonly issuedAt: number
  /** The statement as signed, to pass on and to store. */
  readonly bytes: Uint8Array
}

export type FabricEpochOffer =
  | {
      readonly ok: true
      readonly held: HeldFabricEpoch
      /** The statement it replaced, if the relay held one for the root. */
      readonly replaced: HeldFabricEpoch | undefined
    }
  | { readonly ok: false; readonly reason: FabricEpochRefusal }

export interface FabricEpochsInit {
  /** Fabric root public keys, 64 hex digits each (the config's and those added at run time). */
  readonly roots?: Iterable<string>
  /** Signature checks per second per peer, and burst (default 2, 4). */
  readonly checksPerSecond?: number
  readonly checkBurst?: number
  /** Signature checks per second over all peers, and burst (default 50, 50). */
  readonly globalChecksPerSecond?: number
  readonly globalCheckBurst?: number
  /** Peers whose budgets are kept at once (default 4096). */
  readonly maxPeers?: number
  /** Statements of removed roots kept (default 64). */
  readonly maxRetired?: number
}

export interface FabricEpochsCounters {
  /** Statements verified and held (new roots, or newer epochs). */
  accepted: number
  /** Of those, statements that replaced an older epoch of their root (a rotation). */
  rotations: number
  /** Roots' signatures verified (statements past every cheap refusal and both budgets). */
  signatureChecks: number
  /** Statements refused, by reason. */
  refused: Record<FabricEpochRefusal, number>
  /** Stored statements restored at start. */
  restored: number
}

const KEY = /^[0-9a-fA-F]{64}$/

export class FabricEpochs {
  readonly counters: FabricEpochsCounters
  readonly #roots = new Set<string>()
  /** The newest statement per root, configured or retired; retired ones oldest first. */
  readonly #held = new Map<string, HeldFabricEpoch>()
  readonly #checks = new Map<string, TokenBucket>()
  readonly #global: TokenBucket | undefined
  readonly #rate: number
  readonly #burst: number
  readonly #maxPeers: number
  readonly #maxRetired: number
  #credentialKeys: ReadonlySet<string> = new Set()

  constructor(init: FabricEpochsInit = {}) {
    this.#rate = positive(
      init.checksPerSecond ?? DEFAULT_FABRIC_EPOCH_CHECKS_PER_SECOND,
      'checksPerSecond',
    )
    this.#burst = positive(init.checkBurst ?? DEFAULT_FABRIC_EPOCH_CHECK_BURST, 'checkBurst')
    const globalRate = positive(
      init.globalChecksPerSecond ?? DEFAULT_FABRIC_EPOCH_GLOBAL_CHECKS_PER_SECOND,
      'globalChecksPerSecond',
    )
    const globalBurst = positive(
      init.globalCheckBurst ?? DEFAULT_FABRIC_EPOCH_GLOBAL_CHECK_BURST,
      'globalCheckBurst',
    )
    this.#global =
      globalRate === Number.POSITIVE_INFINITY
        ? undefined
        : new TokenBucket(globalRate, globalBurst, 0)
    this.#maxPeers = count(init.maxPeers ?? DEFAULT_FABRIC_EPOCH_MAX_PEERS, 'maxPeers', 1)
    this.#maxRetired = count(init.maxRetired ?? DEFAULT_FABRIC_EPOCH_MAX_RETIRED, 'maxRetired', 0)
    const refused = {} as Record<FabricEpochRefusal, number>
    for (const reason of FABRIC_EPOCH_REFUSALS) refused[reason] = 0
    this.counters = { accepted: 0, rotations: 0, signatureChecks: 0, refused, restored: 0 }
    this.setRoots(init.roots ?? [])
  }

  /** The configured roots (lower-case hex), sorted. */
  roots(): string[] {
    return [...this.#roots].sort()
  }

  /**
   * Sets the configured roots (64 hex digits each; throws `invalid-option`
   * on any other): a root removed admits nothing from now on, a root added
   * admits under the statement held for it, if any.
   */
  setRoots(roots: Iterable<string>): { added: string[]; removed: string[] } {
    const next = new Set<string>()
    for (const root of roots) {
      if (typeof root !== 'string' || !KEY.test(root))
        throw new RelayError('invalid-option', `a fabric root key is 64 hex digits, not ${root}`)
      next.add(root.toLowerCase())
    }
    const added = [...next].filter((r) => !this.#roots.has(r)).sort()
    const removed = [...this.#roots].filter((r) => !next.has(r)).sort()
    this.#roots.clear()
    for (const r of next) this.#roots.add(r)
    // A removed root's statement becomes the newest retired one.
    for (const r of removed) {
      const held = this.#held.get(r)
      if (held === undefined) continue
      this.#held.delete(r)
      this.#held.set(r, held)
    }
    this.#trimRetired()
    this.#update()
    return { added, removed }
  }

  /** The statement held for a root (configured or not). */
  held(root: string): HeldFabricEpoch | undefined {
    return this.#held.get(root.toLowerCase())
  }

  /** The statements of the configured roots, by root key. */
  current(): HeldFabricEpoch[] {
    return [...this.#held.values()]
      .filter((h) => this.#roots.has(h.rootKey))
      .sort((a, b) => (a.rootKey < b.rootKey ? -1 : 1))
  }

  /** Every statement held, retired ones too: what the relay stores. */
  statements(): Uint8Array[] {
    return [...this.#held.values()].map((h) => h.bytes)
  }

  /**
   * The credential keys (lower-case hex) whose proofs admit their peer now:
   * one per configured root that has a statement. The same Set until the
   * keys change.
   */
  credentialKeys(): ReadonlySet<string> {
    return this.#credentialKeys
  }

  /** The root whose current statement names this credential key, if one does. */
  rootOf(credentialKey: string): string | undefined {
    const key = credentialKey.toLowerCase()
    return this.current().find((h) => h.credentialKey === key)?.rootKey
  }

  /**
   * A statement sent by `from` on its link (CONTROL 11): held, replacing an
   * older epoch of its root, or a counted refusal. Never throws.
   */
  offer(from: string, bytes: Uint8Array, now: number): FabricEpochOffer {
    const decoded = decodeFabricEpoch(bytes)
    if (!decoded.ok) return this.#refuse('malformed')
    const statement = decoded.statement
    const root = hex(statement.rootKey)
    if (!this.#roots.has(root)) return this.#refuse('unknown-root')
    const held = this.#held.get(root)
    if (held !== undefined && statement.epoch <= held.epoch) return this.#refuse('stale')
    const budget = this.#takeCheck(from, now)
    if (budget !== undefined) return this.#refuse(budget)
    this.counters.signatureChecks++
    if (!verifyFabricEpoch(statement)) return this.#refuse('bad-signature')
    return this.#hold(statement, bytes, held)
  }

  /**
   * A statement stored by an earlier run: verified, held if newer than the
   * one held for its root, whether or not the root is configured now (so
   * that adding it again never goes back). No budget; never throws.
   */
  restore(bytes: Uint8Array): FabricEpochOffer {
    const decoded = decodeFabricEpoch(bytes)
    if (!decoded.ok) return { ok: false, reason: 'malformed' }
    const statement = decoded.statement
    const held = this.#held.get(hex(statement.rootKey))
    if (held !== undefined && statement.epoch <= held.epoch) return { ok: false, reason: 'stale' }
    if (!verifyFabricEpoch(statement)) return { ok: false, reason: 'bad-signature' }
    const result = this.#hold(statement, bytes, held, true)
    this.counters.restored++
    return result
  }

  /** The peer's link went down: its signature budget goes with it. */
  forget(peer: string): void {
    this.#checks.delete(peer)
  }

  #hold(
    statement: { rootKey: Uint8Array; epoch: number; credentialKey: Uint8Array; issuedAt: number },
    bytes: Uint8Array,
    replaced: HeldFabricEpoch | undefined,
    restoring = false,
  ): FabricEpochOffer {
    const held: HeldFabricEpoch = {
      rootKey: hex(statement.rootKey),
      epoch: statement.epoch,
      credentialKey: hex(statement.credentialKey),
      issuedAt: statement.issuedAt,
      bytes: Uint8Array.from(bytes),
    }
    this.#held.delete(held.rootKey)
    this.#held.set(held.rootKey, held)
    this.#trimRetired()
    if (!restoring) {
      this.counters.accepted++
      if (replaced !== undefined) this.counters.rotations++
    }
    this.#update()
    return { ok: true, held, replaced }
  }

  /** Drops the oldest statements of removed roots over the bound. */
  #trimRetired(): void {
    let retired = [...this.#held.keys()].filter((r) => !this.#roots.has(r))
    while (retired.length > this.#maxRetired) {
      this.#held.delete(retired[0]!)
      retired = retired.slice(1)
    }
  }

  #update(): void {
    const keys = new Set(this.current().map((h) => h.credentialKey))
    const same =
      keys.size === this.#credentialKeys.size && [...keys].every((k) => this.#credentialKeys.has(k))
    if (!same) this.#credentialKeys = keys
  }

  /** One signature check from the peer's budget and the global one; the refusal if none is left. */
  #takeCheck(peer: string, now: number): 'rate' | 'busy' | undefined {
    let bucket = this.#checks.get(peer)
    if (bucket === undefined) {
      if (this.#checks.size >= this.#maxPeers) {
        const oldest = this.#checks.keys().next().value as string
        this.#checks.delete(oldest)
      }
      bucket = new TokenBucket(this.#rate, this.#burst, now)
      this.#checks.set(peer, bucket)
    }
    bucket.refill(now)
    // The peer's own budget first: one peer's flood must not spend the global budget.
    if (bucket.tokens < 1 && this.#rate !== Number.POSITIVE_INFINITY) return 'rate'
    const global = this.#global
    if (global !== undefined) {
      global.refill(now)
      if (global.tokens < 1) return 'busy'
      global.take(1)
    }
    bucket.take(1)
    return undefined
  }

  #refuse(reason: FabricEpochRefusal): FabricEpochOffer {
    this.counters.refused[reason]++
    return { ok: false, reason }
  }
}

function positive(value: number, name: string): number {
  if (!(value > 0)) throw new RelayError('invalid-option', `${name} must be more than 0`)
  return value
}

function count(value: number, name: string, min: number): number {
  if (!(Number.isInteger(value) && value >= min))
    throw new RelayError('invalid-option', `${name} must be an integer of ${min} or more`)
  return value
}
