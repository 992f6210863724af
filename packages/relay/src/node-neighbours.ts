/**
 * Whom a node deals with, over time (docs/spec/14-roles.md §14.2): a peer
 * its config names, or one that proved membership of one of its VLAN
 * epochs in a SUB (`NeighbourAdmission` decides). The first time a link's
 * peer is admitted the node greets it (the table takes its SUBs, it gets
 * the node's, `SubscriptionAnnouncer.greet`); a stranger is asked again at
 * most once a second (an MLS add may admit it), and gets nothing
 * meanwhile, and every tick (`greetAdmitted`) for links whose peer became
 * admitted without sending anything (an MLS add, a fabric record). What a
 * peer sent while not admitted was dropped, so the first SUB a link brings
 * after we greeted it makes us send all ours again (`onSubscription`): the
 * peer, greeted by us in turn, answers our SUBs likewise only once, and
 * each side holds the other's SUBs without waiting for a renewal.
 * A peer whose last proof lapsed, or whose admission ended (an
 * MLS VLAN no longer names it), or that left, is shunned: the table forgets
 * what it sent, it hears nothing more.
 *
 * Pure: no I/O, no timers (`now` in seconds is an argument); side effects
 * of a greeting (logs, the datagram path, MLS) go to `events`.
 */
import type { AnnounceLink, SubscriptionAnnouncer } from './announcer.ts'
import type { NeighbourAdmission } from './neighbour-admission.ts'
import type { SubscriptionMessage } from './subscription-proofs.ts'
import type { SubscribeResult } from './table.ts'

/** How often a link we do not deal with is asked again whether it is admitted (seconds). */
export const DEFAULT_RECHECK_SECONDS = 1

/** Why a node stopped dealing with a peer (its link may stay up). */
export type ShunReason = 'proof-lapsed' | 'admission-ended'

export interface NodeNeighbourEvents<L extends AnnounceLink = AnnounceLink> {
  /** The node starts dealing with the link's peer; it gets the node's SUBs right after. */
  greeting?(link: L): void
  /** The node greeted the link's peer (its SUBs are on their way). */
  greeted?(link: L): void
}

export interface NodeNeighboursInit<L extends AnnounceLink = AnnounceLink> {
  readonly admission: NeighbourAdmission
  readonly announcer: SubscriptionAnnouncer<L>
  /** A neighbour's PeerId as multihash bytes (what its proofs must speak for). */
  readonly peerIdOf: (id: string) => Uint8Array
  readonly recheckSeconds?: number
  readonly events?: NodeNeighbourEvents<L>
}

export class NodeNeighbours<L extends AnnounceLink = AnnounceLink> {
  readonly #init: NodeNeighboursInit<L>
  readonly #recheck: number
  /** When a link we do not deal with was last asked. */
  readonly #checkedAt = new Map<string, number>()
  /** Links whose SUBs we took since we greeted them. */
  readonly #heard = new Set<string>()

  constructor(init: NodeNeighboursInit<L>) {
    this.#init = init
    this.#recheck = init.recheckSeconds ?? DEFAULT_RECHECK_SECONDS
  }

  /** Whether the node deals with the link's peer; greets it the first time it is admitted. */
  dealsWith(link: L, now: number): boolean {
    const { admission, announcer } = this.#init
    if (announcer.greeted(link.id)) return true
    if (now - (this.#checkedAt.get(link.id) ?? Number.NEGATIVE_INFINITY) < this.#recheck)
      return false
    this.#checkedAt.set(link.id, now)
    if (!admission.admits(link.id, now)) return false
    this.#checkedAt.delete(link.id)
    this.#init.events?.greeting?.(link)
    announcer.greet(link, now)
    this.#init.events?.greeted?.(link)
    return true
  }

  /**
   * A SUB or UNSUB from a link. A proof of one of our VLAN epochs admits
   * its sender (verified before it hears anything); an admitted peer's new
   * proofs (a new window, another VLAN) widen what it hears. From a peer we
   * do not deal with: 'not-admitted', nothing taken. Else what the table
   * did with a SUB (`SubscriptionAnnouncer.receive`).
   */
  onSubscription(
    sub: SubscriptionMessage,
    unsubscribe: boolean,
    link: L,
    now: number,
  ): SubscribeResult | 'not-admitted' | undefined {
    const { admission, announcer } = this.#init
    if (!unsubscribe && sub.proof !== undefined && !admission.configured(link.id)) {
      const outcome = admission.prove(link.id, this.#init.peerIdOf(link.id), sub.proof, now)
      if (outcome === 'admitted') this.#checkedAt.delete(link.id)
    }
    const greetedBefore = announcer.greeted(link.id)
    if (!this.dealsWith(link, now)) return 'not-admitted'
    // The first SUB since we greeted it: the peer deals with us now, and may have dropped
    // what we sent before it did (docs/spec/14-roles.md §14.2): all ours again, once (not
    // when this SUB is what made us greet it: that greeting just sent them).
    if (!unsubscribe && !this.#heard.has(link.id)) {
      this.#heard.add(link.id)
      if (greetedBefore) announcer.announceAll(link, now)
    }
    return announcer.receive(sub, unsubscribe, link, now)
  }

  /**
   * Sends the link's peer all our SUBs now (it became trusted with more:
   * a fabric member); one not greeted yet is greeted, if we deal with it.
   */
  announceAll(link: L, now: number): void {
    if (this.#init.announcer.greeted(link.id)) this.#init.announcer.announceAll(link, now)
    else this.dealsWith(link, now)
  }

  /**
   * Greets the links whose peer became admitted without sending anything
   * since (an MLS add, a fabric record): called every tick, asking each
   * stranger at most once per recheck interval.
   */
  greetAdmitted(links: Iterable<L>, now: number): void {
    for (const link of links) {
      if (!this.#init.announcer.greeted(link.id)) this.dealsWith(link, now)
    }
  }

  /** The peers whose admission ended by `now`, shunned; with why, for the logs. */
  expire(now: number): Array<{ id: string; reason: ShunReason }> {
    const { admission, announcer } = this.#init
    const ended: Array<{ id: string; reason: ShunReason }> = []
    for (const id of admission.expire(now)) {
      announcer.shun(id)
      this.#heard.delete(id)
      ended.push({ id, reason: 'proof-lapsed' })
    }
    // A peer admitted by an MLS VLAN that no longer names it (a member removed) stops hearing from us.
    for (const id of [...announcer.greetedIds])
      if (!admission.admits(id, now)) {
        announcer.shun(id)
        this.#heard.delete(id)
        ended.push({ id, reason: 'admission-ended' })
      }
    return ended
  }

  /** The link to a peer went down: shunned, its proofs forgotten. */
  linkDown(id: string): void {
    this.#init.announcer.shun(id)
    this.#init.admission.remove(id)
    this.#checkedAt.delete(id)
    this.#heard.delete(id)
  }

  /** How the node deals with the peer: 'config' (named by the config or an MLS VLAN), 'proof', or 'stranger'. */
  standing(id: string): 'config' | 'proof' | 'stranger' {
    if (!this.#init.announcer.greeted(id)) return 'stranger'
    return this.#init.admission.configured(id) ? 'config' : 'proof'
  }
}
