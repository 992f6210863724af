/**
 * The subscriber's side of membership proofs (spec 07; 12-relay.md §2): a
 * node groups the VFTs it subscribes to by VLAN epoch and window, so that
 * each SUB carries the proof for its own VFTs, signed with that epoch's
 * authSeed; and it declares, under its own proof, that it sends to the VFTs
 * a relay tells it about under a key of one of its VLANs (spec 09 §4: a
 * relay that requires proofs forwards a frame only from a peer holding a
 * send subscription to its VFT under the receivers' key).
 *
 * Pure: the clock is an argument; proofs are cached per (key, window, VFT
 * set), so renewals cost no signature.
 */
import {
  createMembershipProof,
  decodeMembershipProof,
  type MembershipProofRejection,
  type MembershipProofVerdict,
  membershipProofPublicKey,
  PROOF_WINDOW_SECONDS,
  type VerifyMembershipProofParams,
  verifyMembershipProof,
} from '@peertap/crypto'
import { FLAG_RECEIVE, FLAG_SEND } from './constants.ts'
import { hex } from './hash.ts'
import type { SubscriptionEntry } from './table.ts'

/** Clock skew the proof windows tolerate, in seconds (spec 07 §4). */
const SKEW_SECONDS = 120
/**
 * VFTs per proved SUB: the trunk bounds a proof at 4096 bytes (spec 08
 * §4.3), and a proof is 111 + PeerId (at most 64) + 16 per VFT bytes
 * (spec 07 §2), so 245 always fit.
 */
export const MAX_PROVED_VFTS = 245
const MAX_CACHED_PROOFS = 512
/**
 * VFTs this node declares it sends to, live at once, per neighbour relay: a
 * relay passes on the subscriptions of the members it serves, so this bounds
 * the signatures a relay (or a peer posing as one) can draw from this node.
 */
export const MAX_DECLARED_VFTS = 4096

/** Why a proof did not show its peer to be a member of one of this node's VLAN epochs. */
export type MembershipRefusal = MembershipProofRejection | 'not-ours'

/** The verdict on a neighbour's proof: a member of one of our VLAN epochs until `expiry`, or why not. */
export type MembershipVerdict =
  | { readonly ok: true; readonly publicKey: Uint8Array; readonly expiry: number }
  | { readonly ok: false; readonly reason: MembershipRefusal }

/**
 * The body of a SUB or UNSUB (spec 08-trunk.md §4.3), the same shape as
 * @peertap/trunk's `SubscriptionMessage` (this package does not depend on
 * the trunk).
 */
export interface SubscriptionMessage {
  ttl: number
  entries: SubscriptionEntry[]
  proof?: Uint8Array
}

/** What a VFT this node holds stands for, as far as proofs care. */
export interface HeldVft {
  /** The authSeed of the VFT's VLAN epoch (03-keys.md §1). */
  readonly authSeed: Uint8Array
  /** The VFT's window, floor(unixSeconds / 600). */
  readonly window: number
}

export interface SubscriptionProofsInit {
  /** This node's PeerId as multihash bytes: what its proofs speak for. */
  readonly peerId: Uint8Array
  /** The VLAN epoch and window of a VFT this node holds, or undefined (sent without a proof). */
  readonly describe: (vft: Uint8Array) => HeldVft | undefined
  /** The authSeeds of the VLAN epochs this node is a member of now. */
  readonly authSeeds: () => Iterable<Uint8Array>
  /** Whether this node holds the VFT itself (it then subscribes to it, and declares nothing). */
  readonly holds: (vft: Uint8Array) => boolean
  /** Verifies a proof (default @peertap/crypto's verifyMembershipProof; a caching verifier fits here). */
  readonly verify?: (params: VerifyMembershipProofParams) => MembershipProofVerdict
}

/** What declarations were refused, for status pages. */
export interface DeclarationCounters {
  /** SUBs passed on with a proof under one of our keys that did not verify: nothing declared. */
  refusedProofs: number
  /** VFTs not declared because the neighbour already had MAX_DECLARED_VFTS of them. */
  overCap: number
}

export class SubscriptionProofs {
  readonly #init: SubscriptionProofsInit
  readonly #cache = new Map<string, Uint8Array>()
  readonly #keyBySeed = new Map<string, string>()
  readonly #verify: (params: VerifyMembershipProofParams) => MembershipProofVerdict
  /** Per neighbour: the VFTs declared to it (hex) and until when. */
  readonly #declared = new Map<string, Map<string, number>>()
  /** Proofs signed (cache misses), for status pages. */
  signed = 0
  readonly declarations: DeclarationCounters = { refusedProofs: 0, overCap: 0 }

  constructor(init: SubscriptionProofsInit) {
    this.#init = init
    this.#verify = init.verify ?? verifyMembershipProof
  }

  /** Why `proof` cannot be one of our VLAN epochs' (malformed, another key), without a signature check. */
  notOurs(proof: Uint8Array): 'malformed' | 'not-ours' | undefined {
    const decoded = decodeMembershipProof(proof)
    if (!decoded.ok) return 'malformed'
    return this.#seedFor(decoded.proof.publicKey) === undefined ? 'not-ours' : undefined
  }

  /**
   * Whether `proof`, received from the neighbour whose PeerId (multihash
   * bytes) is `peerId`, shows that neighbour to be a member of one of this
   * node's VLAN epochs now (its key is one of our epochs' authSeed keys, and
   * it verifies for that PeerId, spec 07 §4). The cheap checks run first:
   * a proof under a key that is not ours costs no signature check.
   */
  membership(proof: Uint8Array, peerId: Uint8Array, now: number): MembershipVerdict {
    const refusal = this.notOurs(proof)
    if (refusal !== undefined) return { ok: false, reason: refusal }
    const verdict = this.#verify({ proof, peerId, now: Math.floor(now) })
    if (!verdict.ok) return verdict
    return { ok: true, publicKey: verdict.proof.publicKey, expiry: verdict.proof.expiry }
  }

  /**
   * The SUBs for `vfts` with `flags` and `ttl`: one per (epoch, window)
   * group and at most MAX_PROVED_VFTS VFTs, each with its proof; VFTs the
   * node cannot describe go without a proof, 1024 to a SUB.
   */
  subscriptions(
    vfts: readonly Uint8Array[],
    flags: number,
    ttl: number,
    now: number,
  ): SubscriptionMessage[] {
    const groups = new Map<string, { held: HeldVft; vfts: Uint8Array[] }>()
    const unproved: Uint8Array[] = []
    for (const vft of vfts) {
      const held = this.#init.describe(vft)
      if (held === undefined || !usable(held.window, now)) {
        unproved.push(vft)
        continue
      }
      const key = `${hex(held.authSeed)}/${held.window}`
      let group = groups.get(key)
      if (group === undefined) {
        group = { held, vfts: [] }
        groups.set(key, group)
      }
      group.vfts.push(vft)
    }
    const out: SubscriptionMessage[] = []
    for (const { held, vfts: list } of groups.values()) {
      for (let i = 0; i < list.length; i += MAX_PROVED_VFTS) {
        const chunk = list.slice(i, i + MAX_PROVED_VFTS)
        out.push({
          ttl,
          entries: chunk.map((vft) => ({ vft, flags })),
          proof: this.#prove(held, chunk),
        })
      }
    }
    for (let i = 0; i < unproved.length; i += 1024) {
      out.push({ ttl, entries: unproved.slice(i, i + 1024).map((vft) => ({ vft, flags })) })
    }
    return out
  }

  /**
   * A relay's SUB passes on another member's subscriptions with that
   * member's proof. If the proof's key is one of this node's VLAN epochs and
   * the proof verifies for the member it names, returns the SUB that
   * declares, under this node's own proof for the same window, that it sends
   * to those VFTs (receive entries only, and not the VFTs it holds itself,
   * whose own SUB already carries both flags), at most MAX_DECLARED_VFTS
   * live per `neighbour`. Otherwise returns nothing. The caller asks only
   * for relays its config names (a peer that merely claims the role gets
   * nothing signed).
   */
  sendDeclaration(
    sub: { readonly entries: readonly SubscriptionEntry[]; readonly proof?: Uint8Array },
    ttl: number,
    now: number,
    neighbour = '',
  ): SubscriptionMessage[] {
    if (sub.proof === undefined) return []
    const decoded = decodeMembershipProof(sub.proof)
    if (!decoded.ok || !usable(decoded.proof.window, now)) return []
    const authSeed = this.#seedFor(decoded.proof.publicKey)
    if (authSeed === undefined) return []
    // Only for a member whose proof verifies: no signature of ours for a forged one.
    const verdict = this.#verify({
      proof: sub.proof,
      peerId: decoded.proof.peerId,
      now: Math.floor(now),
    })
    if (!verdict.ok) {
      this.declarations.refusedProofs++
      return []
    }
    const vfts = this.#withinCap(
      neighbour,
      sub.entries
        .filter((e) => (e.flags & FLAG_RECEIVE) !== 0 && !this.#init.holds(e.vft))
        .map((e) => e.vft),
      now + ttl,
      now,
    )
    const out: SubscriptionMessage[] = []
    const held = { authSeed, window: decoded.proof.window }
    for (let i = 0; i < vfts.length; i += MAX_PROVED_VFTS) {
      const chunk = vfts.slice(i, i + MAX_PROVED_VFTS)
      out.push({
        ttl,
        entries: chunk.map((vft) => ({ vft, flags: FLAG_SEND })),
        proof: this.#prove(held, chunk),
      })
    }
    return out
  }

  /**
   * The VLAN key (hex public key of the authSeed, spec 07 §1) of a VFT this
   * node holds, or undefined if it cannot describe it.
   */
  keyOf(vft: Uint8Array): string | undefined {
    const held = this.#init.describe(vft)
    return held === undefined ? undefined : this.#keyOfSeed(held.authSeed)
  }

  /** Whether `key` (hex) is the key of one of this node's VLAN epochs now. */
  ownsKey(key: string): boolean {
    for (const seed of this.#init.authSeeds()) if (this.#keyOfSeed(seed) === key) return true
    return false
  }

  /** Forgets what was declared to a neighbour (its link went down). */
  forgetNeighbour(neighbour: string): void {
    this.#declared.delete(neighbour)
  }

  /** The VFTs of `vfts` that may be declared to `neighbour`: renewals, then new ones up to the cap. */
  #withinCap(neighbour: string, vfts: Uint8Array[], until: number, now: number): Uint8Array[] {
    let declared = this.#declared.get(neighbour)
    if (declared === undefined) {
      declared = new Map()
      this.#declared.set(neighbour, declared)
    }
    const out: Uint8Array[] = []
    let pruned = false
    for (const vft of vfts) {
      const key = hex(vft)
      if (!declared.has(key) && declared.size >= MAX_DECLARED_VFTS) {
        if (!pruned) {
          for (const [k, t] of declared) if (t <= now) declared.delete(k)
          pruned = true
        }
        if (declared.size >= MAX_DECLARED_VFTS) {
          this.declarations.overCap++
          continue
        }
      }
      declared.set(key, until)
      out.push(vft)
    }
    return out
  }

  /**
   * The authSeed of ours whose key is `publicKey`, among the epochs this
   * node holds now: an epoch it dropped (a removal, 11) no longer counts,
   * so a removed member's proof of it admits nobody and draws no declaration.
   */
  #seedFor(publicKey: Uint8Array): Uint8Array | undefined {
    const key = hex(publicKey)
    for (const seed of this.#init.authSeeds()) if (this.#keyOfSeed(seed) === key) return seed
    return undefined
  }

  /** The hex public key of an authSeed, cached (a derivation costs a scalar multiplication). */
  #keyOfSeed(authSeed: Uint8Array): string {
    const seed = hex(authSeed)
    let key = this.#keyBySeed.get(seed)
    if (key === undefined) {
      key = hex(membershipProofPublicKey(authSeed))
      if (this.#keyBySeed.size >= MAX_CACHED_PROOFS) this.#keyBySeed.clear()
      this.#keyBySeed.set(seed, key)
    }
    return key
  }

  #prove(held: HeldVft, vfts: readonly Uint8Array[]): Uint8Array {
    const key = `${hex(held.authSeed)}/${held.window}/${vfts.map(hex).sort().join('')}`
    let proof = this.#cache.get(key)
    if (proof === undefined) {
      // Proofs expire with their window, at the latest moment spec 07 §4 allows.
      const expiry = PROOF_WINDOW_SECONDS * (held.window + 1) + SKEW_SECONDS
      proof = createMembershipProof({
        authSeed: held.authSeed,
        peerId: this.#init.peerId,
        expiry,
        window: held.window,
        vfts,
      })
      this.signed++
      if (this.#cache.size >= MAX_CACHED_PROOFS) this.#cache.clear()
      this.#cache.set(key, proof)
    }
    return proof
  }
}

/** Whether a proof for `window` is accepted at `now` (spec 07 §4 checks 3 and 5). */
function usable(window: number, now: number): boolean {
  const t = Math.floor(now)
  return (
    t >= PROOF_WINDOW_SECONDS * (window - 1) - SKEW_SECONDS &&
    t < PROOF_WINDOW_SECONDS * (window + 1) + SKEW_SECONDS
  )
}
