/**
 * A node's subscriptions, both ways (spec 09-forwarding.md §3; 12-relay.md
 * §2, §8.1; 14-roles.md §14.2):
 *
 * - out: the VFTs this node holds go to every neighbour it deals with as
 *   SUBs under their membership proofs (`SubscriptionProofs`), renewed
 *   before their TTL runs out; what it stops holding goes as UNSUBs, at
 *   most 1024 entries each (08-trunk.md §4.3). A peer admitted by proof
 *   hears only of the VLAN epochs it proved. A link through a relay's
 *   circuit carries none, unless a path was punched to that neighbour: then
 *   this node's unicast VFTs (DirectPaths).
 * - in: a neighbour's SUB or UNSUB enters the table (through the
 *   `Forwarder`, so its subscriber cache follows); a relayed link's SUB only
 *   for VFTs this node does not hold. A SUB a relay this node dials passes
 *   on gets this node's send declaration (its proof for those VFTs), or is
 *   kept, bounded, until this node joins that VLAN epoch.
 *
 * Which neighbours it deals with stays with the caller (`NeighbourAdmission`
 * decides; `greet` and `shun` tell this). Pure: no I/O, no timers (`now` in
 * seconds is an argument). Links are reached through a narrow port that
 * @peertap/trunk's `Trunk` and `Link` satisfy.
 */
import { FLAG_RECEIVE, FLAG_SEND } from './constants.ts'
import type { DirectPathLink, DirectPaths } from './direct-paths.ts'
import type { Forwarder, ForwardLink } from './forwarder.ts'
import { hex } from './hash.ts'
import type { NeighbourAdmission } from './neighbour-admission.ts'
import type { SubscriptionMessage, SubscriptionProofs } from './subscription-proofs.ts'
import type { SubscribeResult } from './table.ts'

/** TTL of a node's SUBs at its neighbours (seconds); renewed every minute. */
export const DEFAULT_ANNOUNCE_TTL_SECONDS = 180
/** SUBs per relay kept to declare for later (a VLAN this node joins after they came). */
export const DEFAULT_MAX_UNDECLARED = 256
/** Entries per UNSUB message (spec 08-trunk.md §4.3). */
const MAX_ENTRIES = 1024

/** What the announcer needs of a link; the trunk's `Link` is one. */
export interface AnnounceLink extends DirectPathLink, ForwardLink {
  /** Queues a SUB (or, with `unsubscribe`, an UNSUB) on the link's control queue; false if refused. */
  sendSubscription(sub: SubscriptionMessage, unsubscribe?: boolean): boolean
}

/** The links by neighbour; the trunk's `Trunk` is one. */
export interface AnnounceLinks<L extends AnnounceLink = AnnounceLink> {
  getLink(id: string): L | undefined
  links(): Iterable<L>
}

/** The VFTs this node holds, as its switch knows them. */
export interface LocalVfts {
  /** Whether this node holds the VFT (opens frames under it). */
  holds(vft: Uint8Array): boolean
  /** Whether a VFT this node holds is a unicast VFT (not a VLAN's group VFT). */
  isUnicast(vft: Uint8Array): boolean
}

/** The switch's subscription changes (`Switch.refresh`): VFTs to SUB and to UNSUB. */
export interface VftChange {
  readonly added: readonly Uint8Array[]
  readonly removed: readonly Uint8Array[]
}

export interface SubscriptionAnnouncerInit<L extends AnnounceLink = AnnounceLink> {
  readonly links: AnnounceLinks<L>
  readonly local: LocalVfts
  readonly proofs: SubscriptionProofs
  readonly admission: NeighbourAdmission
  readonly forwarder: Forwarder<L>
  readonly direct: DirectPaths<L>
  /** Relays this node dials: the only ones whose passed-on SUBs get a declaration (spec 14 §14.2). */
  readonly dialled: (id: string) => boolean
  readonly ttlSeconds?: number
  readonly maxUndeclared?: number
}

export class SubscriptionAnnouncer<L extends AnnounceLink = AnnounceLink> {
  readonly #init: SubscriptionAnnouncerInit<L>
  readonly #ttl: number
  readonly #maxUndeclared: number
  /** The VFTs this node holds, by hex. */
  readonly #held = new Map<string, Uint8Array>()
  /** The neighbours this node deals with and has announced to. */
  readonly #greeted = new Set<string>()
  /** SUBs a relay passed on under a key none of our epochs had yet, per relay. */
  readonly #undeclared = new Map<string, Array<{ sub: SubscriptionMessage; at: number }>>()

  constructor(init: SubscriptionAnnouncerInit<L>) {
    this.#init = init
    this.#ttl = init.ttlSeconds ?? DEFAULT_ANNOUNCE_TTL_SECONDS
    this.#maxUndeclared = init.maxUndeclared ?? DEFAULT_MAX_UNDECLARED
  }

  /** VFTs this node holds and announces. */
  get held(): number {
    return this.#held.size
  }

  /** Whether this node deals with the neighbour (greeted and not shunned since). */
  greeted(id: string): boolean {
    return this.#greeted.has(id)
  }

  /** The neighbours this node deals with. */
  get greetedIds(): ReadonlySet<string> {
    return this.#greeted
  }

  /** Starts dealing with a link's peer: the table takes its SUBs, it gets ours. */
  greet(link: L, now: number): void {
    this.#greeted.add(link.id)
    this.#init.forwarder.setAccess(link.id, 'allow')
    this.announceAll(link, now)
  }

  /** Stops dealing with a peer: the table forgets what it sent (all of it, unless configured). */
  shun(id: string): void {
    this.#greeted.delete(id)
    this.#undeclared.delete(id)
    this.#init.proofs.forgetNeighbour(id)
    if (this.#init.admission.configured(id)) this.#init.forwarder.removeNeighbour(id)
    else this.#init.forwarder.setAccess(id, 'default')
  }

  /** Sends the link a SUB for every VFT this node holds (greeting, renewal, a punched path up). */
  announceAll(link: L, now: number): void {
    this.announce(link, [...this.#held.values()], false, now)
  }

  /** Renews our SUBs at every neighbour we deal with. */
  renew(now: number): void {
    for (const link of this.#init.links.links())
      if (this.#greeted.has(link.id)) this.announceAll(link, now)
  }

  /** Subscribes our unicast VFTs on the punched paths that came up since the last call. */
  refreshPaths(now: number): void {
    for (const link of this.#init.direct.refresh())
      if (this.#greeted.has(link.id)) this.announceAll(link, now)
  }

  /** The switch's subscription change: held VFTs updated, SUBs and UNSUBs to every greeted link. */
  apply(change: VftChange, now: number): void {
    if (change.added.length > 0) this.#declareLate(now)
    this.#init.forwarder.invalidate()
    for (const vft of change.removed) this.#held.delete(hex(vft))
    for (const vft of change.added) this.#held.set(hex(vft), vft)
    for (const link of this.#init.links.links()) {
      if (!this.#greeted.has(link.id)) continue
      if (change.added.length > 0) this.announce(link, [...change.added], false, now)
      if (change.removed.length > 0) this.announce(link, [...change.removed], true, now)
    }
  }

  /**
   * Sends `vfts` to the link as a SUB under their proofs, or as UNSUBs:
   * only what the relayed-link and proven-peer rules let the peer hear.
   */
  announce(link: L, vfts: Uint8Array[], unsubscribe: boolean, now: number): void {
    const { admission, direct, local, proofs } = this.#init
    // A link through a relay's circuit carries no SUB, so no frame, unless a path was punched
    // to that neighbour: then our unicast VFTs, whose frames then come direct (DirectPaths).
    if (link.relayed) {
      if (direct.path(link.id) === undefined) return
      const unicast = vfts.filter((vft) => local.isUnicast(vft))
      if (!unsubscribe && unicast.length === 0) return
      if (!unsubscribe) vfts = unicast
    }
    // A peer admitted by proof hears only of the VLAN epochs it proved (even an UNSUB names a VFT).
    if (!admission.configured(link.id)) {
      vfts = vfts.filter((vft) => admission.mayHear(link.id, proofs.keyOf(vft), now))
      if (vfts.length === 0) return
    }
    if (unsubscribe) {
      for (let i = 0; i < vfts.length; i += MAX_ENTRIES) {
        const entries = vfts
          .slice(i, i + MAX_ENTRIES)
          .map((vft) => ({ vft, flags: FLAG_RECEIVE | FLAG_SEND }))
        link.sendSubscription({ ttl: 0, entries }, true)
      }
      return
    }
    for (const sub of proofs.subscriptions(vfts, FLAG_RECEIVE | FLAG_SEND, this.#ttl, now))
      link.sendSubscription(sub)
  }

  /**
   * A SUB or UNSUB from a neighbour this node deals with: into the table,
   * and, from a relay we dial, our send declaration for it. Returns what
   * the table did with a SUB, or undefined if it did not get there (an
   * UNSUB, or a relayed link's SUB for a VFT we hold).
   */
  receive(
    sub: SubscriptionMessage,
    unsubscribe: boolean,
    link: L,
    now: number,
  ): SubscribeResult | undefined {
    const { direct, forwarder, local } = this.#init
    if (unsubscribe) {
      forwarder.unsubscribe(link.id, sub.entries)
      return undefined
    }
    if (
      link.relayed &&
      !direct.accepts(
        sub.entries.map((e) => e.vft),
        (vft) => local.holds(vft),
      )
    )
      return undefined
    const result = forwarder.subscribe(link.id, sub.entries, sub.ttl, now)
    // A relay we dial passing on a member's SUB: declare that we send to those VFTs, under our
    // proof. A peer that only claims the relay role gets no declaration (spec 14 §14.2).
    if (
      link.hello.remoteRole === 'relay' &&
      this.#init.dialled(link.id) &&
      !this.#declare(link, sub, now) &&
      sub.proof !== undefined
    ) {
      const list = this.#undeclared.get(link.id) ?? []
      list.push({ sub, at: now })
      if (list.length > this.#maxUndeclared) list.shift()
      this.#undeclared.set(link.id, list)
    }
    return result
  }

  #declare(link: L, sub: SubscriptionMessage, now: number): boolean {
    const declarations = this.#init.proofs.sendDeclaration(sub, this.#ttl, now, link.id)
    for (const declaration of declarations) link.sendSubscription(declaration)
    return declarations.length > 0
  }

  /** Our VFTs changed (a new epoch): the SUBs kept for later may be declared for now. */
  #declareLate(now: number): void {
    for (const [id, list] of this.#undeclared) {
      const link = this.#init.links.getLink(id)
      if (link === undefined) {
        this.#undeclared.delete(id)
        continue
      }
      const left = list.filter(
        ({ sub, at }) => at + sub.ttl > now && !this.#declare(link, sub, now),
      )
      if (left.length > 0) this.#undeclared.set(id, left)
      else this.#undeclared.delete(id)
    }
  }
}
