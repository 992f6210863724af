/**
 * What a relay remembers of the tickets it honoured (spec 12-relay.md
 * §12.8.2): a grant `invitee → owner, until`, recorded when a ticket
 * verifies on a link from the invitee, lets the invitee open a circuit to
 * that owner alone while `now ≤ until`.
 *
 *   CONTROL 10 from a link -> offer: denied peer, layout and time
 *     (`checkRelayTicket`), an owner the relay admits (`admits`), the
 *     invitee's and the global signature budget, the owner's signature ->
 *     a grant (renewed if held), or a counted refusal; the invitee gets no
 *     answer either way
 *   HOP CONNECT (the circuit gate) -> allows(invitee, owner, now)
 *   link down -> forget(invitee); the one-second tick -> expire(now)
 *
 * Bounded: a few owners per invitee and a few thousand grants in all, the
 * oldest evicted first; signature checks per invitee and over all peers.
 * A ticket for an owner the relay does not admit is refused before both
 * budgets and the signature: its grant would open nothing (the circuit
 * gate wants the owner admitted), and anyone can sign a ticket naming
 * itself, so it must cost no budget, no grant and no signature check.
 * Pure: no I/O, no timers (`now` in seconds is an argument).
 */
import {
  DEFAULT_MAX_TICKET_GRANTS,
  DEFAULT_TICKET_CHECK_BURST,
  DEFAULT_TICKET_CHECKS_PER_SECOND,
  DEFAULT_TICKET_GLOBAL_CHECK_BURST,
  DEFAULT_TICKET_GLOBAL_CHECKS_PER_SECOND,
  DEFAULT_TICKET_OWNERS_PER_INVITEE,
} from './constants.ts'
import { RelayError } from './errors.ts'
import {
  checkRelayTicket,
  RELAY_TICKET_REJECTIONS,
  type RelayTicketRejection,
  verifyRelayTicketSignature,
} from './ticket.ts'
import { TokenBucket } from './token-bucket.ts'

/**
 * Why an offered ticket granted nothing: the ticket's own rejections,
 * `denied`, `owner-not-admitted`, `rate`.
 */
export type TicketRefusal = RelayTicketRejection | 'rate' | 'denied' | 'owner-not-admitted'

/** The relay's own refusals in check order: `denied` first, the others after layout and time. */
const RELAY_REFUSALS = ['denied', 'owner-not-admitted', 'rate'] as const

export interface TicketGrantsInit {
  /**
   * Whether the relay admits `owner` (its PeerId text) now: a ticket for
   * any other owner is refused as `owner-not-admitted` before the budgets
   * and the signature. Called once per ticket past the layout and time
   * checks, so it must be cheap (a lookup). No default: a relay that
   * admits everyone says so.
   */
  readonly admits: (owner: string) => boolean
  /** Owners one invitee may hold grants to at once (default 4); one more evicts its oldest. */
  readonly maxOwnersPerInvitee?: number
  /** Grants held at once over all invitees (default 4096); one more evicts the oldest. */
  readonly maxGrants?: number
  /** Signature checks per second per invitee, and burst (default 2, 4). */
  readonly checksPerSecond?: number
  readonly checkBurst?: number
  /** Signature checks per second over all peers, and burst (default 200, 200). */
  readonly globalChecksPerSecond?: number
  readonly globalCheckBurst?: number
  /** Peers whose tickets count for nothing (the relay's deny list). */
  readonly denied?: (peer: string) => boolean
}

export interface TicketGrantsCounters {
  /** Tickets that verified and granted (or renewed) a circuit to their owner. */
  accepted: number
  /** Owners' signatures verified (tickets past every cheap refusal and both budgets). */
  signatureChecks: number
  /** Tickets refused, by reason. */
  refused: Record<TicketRefusal, number>
  /** Grants dropped for room (the invitee's or the relay's bound). */
  evicted: number
  /** Grants that lapsed at their ticket's notAfter. */
  expired: number
  /** Circuits the gate let through on a grant. */
  circuits: number
}

export type TicketOffer =
  | { readonly ok: true; readonly owner: string; readonly until: number }
  | { readonly ok: false; readonly reason: TicketRefusal }

interface Grant {
  readonly invitee: string
  readonly owner: string
  until: number
}

export class TicketGrants {
  readonly counters: TicketGrantsCounters
  readonly #maxOwners: number
  readonly #maxGrants: number
  readonly #rate: number
  readonly #burst: number
  readonly #global: TokenBucket | undefined
  readonly #denied: (peer: string) => boolean
  readonly #admits: (owner: string) => boolean
  /** Every grant, oldest first (a renewal moves it to the end). Key: invitee, space, owner. */
  readonly #grants = new Map<string, Grant>()
  /** Each invitee's owners, oldest first. */
  readonly #byInvitee = new Map<string, Map<string, Grant>>()
  /** Each invitee's signature budget, oldest first, at most maxGrants of them. */
  readonly #checks = new Map<string, TokenBucket>()

  constructor(init: TicketGrantsInit) {
    if (typeof init?.admits !== 'function')
      throw new RelayError('invalid-option', 'admits: which owners the relay admits, a function')
    this.#admits = init.admits
    this.#maxOwners = count(
      init.maxOwnersPerInvitee ?? DEFAULT_TICKET_OWNERS_PER_INVITEE,
      'maxOwnersPerInvitee',
    )
    this.#maxGrants = count(init.maxGrants ?? DEFAULT_MAX_TICKET_GRANTS, 'maxGrants')
    this.#rate = rate(init.checksPerSecond ?? DEFAULT_TICKET_CHECKS_PER_SECOND, 'checksPerSecond')
    this.#burst = rate(init.checkBurst ?? DEFAULT_TICKET_CHECK_BURST, 'checkBurst')
    const globalRate = rate(
      init.globalChecksPerSecond ?? DEFAULT_TICKET_GLOBAL_CHECKS_PER_SECOND,
      'globalChecksPerSecond',
    )
    const globalBurst = rate(
      init.globalCheckBurst ?? DEFAULT_TICKET_GLOBAL_CHECK_BURST,
      'globalCheckBurst',
    )
    this.#global =
      globalRate === Number.POSITIVE_INFINITY
        ? undefined
        : new TokenBucket(globalRate, globalBurst, 0)
    this.#denied = init.denied ?? (() => false)
    const refused = {} as Record<TicketRefusal, number>
    for (const reason of [...RELAY_TICKET_REJECTIONS, ...RELAY_REFUSALS]) refused[reason] = 0
    this.counters = {
      accepted: 0,
      signatureChecks: 0,
      refused,
      evicted: 0,
      expired: 0,
      circuits: 0,
    }
  }

  /** Grants held now (lapsed ones until the next `expire`). */
  get size(): number {
    return this.#grants.size
  }

  /**
   * A ticket sent by `invitee` on its link (CONTROL 10): a grant to the
   * ticket's owner until its notAfter, or a counted refusal. Never throws.
   */
  offer(invitee: string, ticket: Uint8Array, now: number): TicketOffer {
    if (this.#denied(invitee)) return this.#refuse('denied')
    const checked = checkRelayTicket(ticket, now)
    if (!checked.ok) return this.#refuse(checked.reason)
    // Before the budgets: a stranger's own ticket must not spend what real invitees need.
    const owner = base58btc(checked.owner)
    if (!this.#admits(owner)) return this.#refuse('owner-not-admitted')
    if (!this.#takeCheck(invitee, now)) return this.#refuse('rate')
    this.counters.signatureChecks++
    const verified = verifyRelayTicketSignature(ticket, checked)
    if (!verified.ok) return this.#refuse(verified.reason)
    this.#grant(invitee, owner, verified.notAfter)
    this.counters.accepted++
    return { ok: true, owner, until: verified.notAfter }
  }

  /**
   * Whether `invitee` holds a live grant to `owner` (the circuit gate asks
   * this of a HOP CONNECT from invitee to owner); a yes is counted as a
   * circuit. A denied invitee holds none.
   */
  allows(invitee: string, owner: string, now: number): boolean {
    const grant = this.#byInvitee.get(invitee)?.get(owner)
    if (grant === undefined || grant.until < now || this.#denied(invitee)) return false
    this.counters.circuits++
    return true
  }

  /** Until when `invitee` may reach `owner`, if it holds a grant (lapsed ones until `expire`). */
  until(invitee: string, owner: string): number | undefined {
    return this.#byInvitee.get(invitee)?.get(owner)?.until
  }

  /** The invitee's link went down: its grants and its signature budget go with it. */
  forget(invitee: string): void {
    const owners = this.#byInvitee.get(invitee)
    if (owners !== undefined) for (const grant of owners.values()) this.#drop(grant)
    this.#checks.delete(invitee)
  }

  /** Drops the grants whose ticket expired (the once-a-second tick). */
  expire(now: number): void {
    for (const grant of this.#grants.values()) {
      if (grant.until >= now) continue
      this.#drop(grant)
      this.counters.expired++
    }
  }

  #grant(invitee: string, owner: string, until: number): void {
    const held = this.#byInvitee.get(invitee)?.get(owner)
    if (held !== undefined) {
      // A renewal: the later notAfter, and the grant becomes the newest.
      until = Math.max(held.until, until)
      this.#drop(held)
    } else if ((this.#byInvitee.get(invitee)?.size ?? 0) >= this.#maxOwners) {
      this.#evict(this.#byInvitee.get(invitee)!.values().next().value)
    } else if (this.#grants.size >= this.#maxGrants) {
      this.#evict(this.#grants.values().next().value)
    }
    let owners = this.#byInvitee.get(invitee)
    if (owners === undefined) {
      owners = new Map()
      this.#byInvitee.set(invitee, owners)
    }
    const grant: Grant = { invitee, owner, until }
    this.#grants.set(`${invitee} ${owner}`, grant)
    owners.set(owner, grant)
  }

  #evict(grant: Grant | undefined): void {
    if (grant === undefined) return
    this.#drop(grant)
    this.counters.evicted++
  }

  #drop(grant: Grant): void {
    this.#grants.delete(`${grant.invitee} ${grant.owner}`)
    const owners = this.#byInvitee.get(grant.invitee)
    if (owners === undefined) return
    owners.delete(grant.owner)
    if (owners.size === 0) this.#byInvitee.delete(grant.invitee)
  }

  /** One signature check from the invitee's budget and the global one. */
  #takeCheck(invitee: string, now: number): boolean {
    let bucket = this.#checks.get(invitee)
    if (bucket === undefined) {
      // Bounded like the grants: the oldest invitee's budget goes first.
      if (this.#checks.size >= this.#maxGrants) {
        const oldest = this.#checks.keys().next().value as string
        this.#checks.delete(oldest)
      }
      bucket = new TokenBucket(this.#rate, this.#burst, now)
      this.#checks.set(invitee, bucket)
    }
    bucket.refill(now)
    if (bucket.tokens <= 0 && this.#rate !== Number.POSITIVE_INFINITY) return false
    const global = this.#global
    if (global !== undefined) {
      global.refill(now)
      if (!global.take(1)) return false
    }
    return bucket.take(1)
  }

  #refuse(reason: TicketRefusal): TicketOffer {
    this.counters.refused[reason]++
    return { ok: false, reason }
  }
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** A PeerId's text: base58btc of its multihash bytes, as libp2p writes it (`12D3KooW…`). */
export function base58btc(bytes: Uint8Array): string {
  const digits: number[] = []
  for (const byte of bytes) {
    let carry = byte
    for (let i = 0; i < digits.length; i++) {
      carry += digits[i]! << 8
      digits[i] = carry % 58
      carry = Math.floor(carry / 58)
    }
    while (carry > 0) {
      digits.push(carry % 58)
      carry = Math.floor(carry / 58)
    }
  }
  let text = ''
  for (let i = 0; i < bytes.length && bytes[i] === 0; i++) text += '1'
  for (let i = digits.length - 1; i >= 0; i--) text += BASE58[digits[i]!]
  return text
}

function count(value: number, name: string): number {
  if (!(Number.isInteger(value) && value >= 1))
    throw new RelayError('invalid-option', `${name} must be an integer of 1 or more`)
  return value
}

function rate(value: number, name: string): number {
  if (!(value > 0)) throw new RelayError('invalid-option', `${name} must be more than 0`)
  return value
}
