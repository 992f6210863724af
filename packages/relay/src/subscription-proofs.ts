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
  membershipProofPublicKey,
  PROOF_WINDOW_SECONDS,
} from '@peertap/crypto'
import { FLAG_RECEIVE, FLAG_SEND } from './constants.ts'
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

/** A SUB to send: as the trunk's Subscription. */
export interface ProvedSubscription {
  ttl: number
  entries: SubscriptionEntry[]
  proof?: Uint8Array
}

/** What a VFT this node holds stands for, as far as proofs care. */
export interface HeldVft {
  /** The authSeed of the VFT's VLAN epoch (DESIGN.md 4). */
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
}

export class SubscriptionProofs {
  readonly #init: SubscriptionProofsInit
  readonly #cache = new Map<string, Uint8Array>()
  readonly #seedByKey = new Map<string, Uint8Array>()
  /** Proofs signed (cache misses), for status pages. */
  signed = 0

  constructor(init: SubscriptionProofsInit) {
    this.#init = init
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
  ): ProvedSubscription[] {
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
    const out: ProvedSubscription[] = []
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
   * member's proof. If the proof's key is one of this node's VLAN epochs,
   * returns the SUB that declares, under this node's own proof for the same
   * window, that it sends to those VFTs (receive entries only, and not the
   * VFTs it holds itself, whose own SUB already carries both flags).
   * Otherwise returns nothing.
   */
  sendDeclaration(
    sub: { readonly entries: readonly SubscriptionEntry[]; readonly proof?: Uint8Array },
    ttl: number,
    now: number,
  ): ProvedSubscription[] {
    if (sub.proof === undefined) return []
    const decoded = decodeMembershipProof(sub.proof)
    if (!decoded.ok || !usable(decoded.proof.window, now)) return []
    const authSeed = this.#seedFor(decoded.proof.publicKey)
    if (authSeed === undefined) return []
    const vfts = sub.entries
      .filter((e) => (e.flags & FLAG_RECEIVE) !== 0 && !this.#init.holds(e.vft))
      .map((e) => e.vft)
    const out: ProvedSubscription[] = []
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

  #seedFor(publicKey: Uint8Array): Uint8Array | undefined {
    const key = hex(publicKey)
    const known = this.#seedByKey.get(key)
    if (known !== undefined) return known
    for (const seed of this.#init.authSeeds()) {
      const pk = hex(membershipProofPublicKey(seed))
      this.#seedByKey.set(pk, seed)
      if (pk === key) return seed
    }
    return undefined
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

function hex(bytes: Uint8Array): string {
  let out = ''
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0')
  return out
}
