// The owner's answer to a join request (docs/spec/15-invitations.md §15.9,
// steps 2 to 8): the door's limits first, then HPKE, the book (taking
// nothing), the VLAN, the key package, the use and the address (given back
// if they cannot be stored or the admission fails), the verdict, and only
// then the admission. What it needs of the
// node (which VLANs it owns, their pools, storage, MLS) comes through ports.
import { type InvitationBook, invitationId } from './book.ts'
import { toHex } from './bytes.ts'
import { DESK_PRUNE_INTERVAL_SECONDS, VLAN_ID_LENGTH } from './constants.ts'
import type { JoinDoor, JoinOutcome } from './door.ts'
import { InviteError } from './errors.ts'
import type { Ipv4Assignment, Ipv4Pool } from './ipv4.ts'
import { encodeJoinVerdict, type JoinVerdict, openJoinRequest } from './join.ts'

/** What the desk asks of the owner's node. */
interface JoinDeskPortsBase {
  /**
   * Whether the node deals with `from` already (a member, a configured
   * peer): when the book holds no invitation, only such a peer's requests
   * are answered; a stranger's are dropped unanswered (§15.5).
   */
  dealsWith(from: Uint8Array): boolean
  /** The name of the VLAN with this VLAN-ID that this node owns (and may commit in), if any. */
  ownedVlan(vlanId: Uint8Array): string | undefined
  /** The VLAN's IPv4 pool, if it hands out addresses. */
  pool(vlanId: Uint8Array): Promise<Ipv4Pool | undefined>
  /**
   * Whether `keyPackage` is one the VLAN's group would add for the joiner:
   * it parses, its suite is the group's, its credential names `from`
   * (11-mls.md §2). Checked before the book's use is taken, so a request
   * whose key package is not its sender's uses nothing.
   */
  checkKeyPackage(keyPackage: Uint8Array, from: Uint8Array): Promise<boolean>
  /**
   * Stores the book (and the pool, when given) durably: called before any
   * verdict after which the book or the pool changed. If it rejects, the
   * desk gives back what it took (the use, the address), answers `busy`
   * and rejects with its error.
   */
  save(vlanId: Uint8Array, pool: Ipv4Pool | undefined): Promise<void>
  /**
   * Admits the joiner to the VLAN and adds its key package (MLS: the Add
   * commit and the Welcome). If it rejects, it must have admitted nothing
   * (a key package that is not the joiner's, say): the desk gives back the
   * use and the address it took, saves, and rejects with its error.
   */
  admit(vlanName: string, keyPackage: Uint8Array): Promise<unknown>
  /** Sends a verdict (the channel-9 payload) back on the request's link. */
  reply(payload: Uint8Array): void
}

/**
 * What the desk asks of the owner's node (§15.9). For a joiner redeeming
 * again (`again`: the book lists it among the invitation's joiners, and
 * this desk is not still admitting it), the node says whether the owner
 * removed it since: `removed`, from the owner's own record of whom it
 * removed (11-mls.md §11.6), is the explicit fact. `stillAdmits` (whether
 * the owner's admitted set holds it) is the older question, kept so that
 * a node written for it still works: it cannot tell a member removed from
 * a joiner whose admission never happened (the owner stopped between
 * writing the book and admitting it), and answers both `revoked`.
 */
export type JoinDeskPorts = JoinDeskPortsBase &
  (
    | {
        /** Whether the owner removed `from` from the VLAN since it was admitted: a removed member's old code does not bring it back. A joiner never admitted is not removed. */
        removed(vlanName: string, from: Uint8Array): boolean
        stillAdmits?: undefined
      }
    | {
        /** @deprecated Use `removed`. Whether the owner still admits `from` (its admitted set). */
        stillAdmits(vlanName: string, from: Uint8Array): boolean
        removed?: undefined
      }
  )

export interface JoinDeskInit {
  readonly book: InvitationBook
  readonly door: JoinDoor
  /** This node's PeerId, multihash bytes. */
  readonly owner: Uint8Array
  /** This node's static X25519 private key. */
  readonly hpkePrivateKey: Uint8Array
}

export interface JoinRequestIn {
  /** The channel-9 payload. */
  readonly payload: Uint8Array
  /** The PeerId the trunk link authenticated, multihash bytes. */
  readonly from: Uint8Array
  /**
   * Where the link comes from, for the door's per-source limit: its IP
   * address, or `via <relay PeerId>` through a relay's circuit; never the
   * joiner's PeerId (the door keys it by `doorSourceKey`).
   */
  readonly source: string
  /** Milliseconds (any monotonic origin) for the door; unix seconds for the book. */
  readonly nowMs: number
  readonly nowSeconds: number
}

/** What the desk did with one request, for the node's log. */
export interface JoinAnswer {
  readonly outcome: JoinOutcome | 'busy' | 'dropped' | 'closed'
  readonly vlan?: string
  readonly ipv4?: Ipv4Assignment
  /** The invitation redeemed (its id, §15.6), when the joiner was admitted: what the owner gave with it may follow (a fabric grant, 16-fabric.md §16.8). */
  readonly invitation?: string
}

export class JoinDesk {
  readonly #init: JoinDeskInit
  /** When the book was last pruned (unix seconds). */
  #prunedAt = Number.NEGATIVE_INFINITY
  /** VLAN-ID and joiner (hex) of each redemption taken and not yet admitted. */
  readonly #admitting = new Set<string>()

  constructor(init: JoinDeskInit) {
    this.#init = init
  }

  /**
   * Answers one join request. The joiner hears only a verdict: `busy` when
   * the door turns it away (before any work) or its redemption could not
   * be stored, `refused` when it does not open or names no invitation of
   * the VLAN, the invitation's state when the secret is right, and
   * `accepted` (with the IPv4 address) just before the Welcome. Never
   * throws on what a peer sent; a port's failure rejects, having given
   * back what the request took and sent no `accepted` unless the book and
   * pool were stored.
   */
  async answer(request: JoinRequestIn, ports: JoinDeskPorts): Promise<JoinAnswer> {
    const { book, door, owner, hpkePrivateKey } = this.#init
    const send = (verdict: JoinVerdict) => ports.reply(encodeJoinVerdict(verdict))
    const now = request.nowSeconds
    // Ended invitations go at most once a minute (the node prunes when it saves too): the closed
    // check below is the entry count alone. A clock that stepped back prunes at once.
    if (
      book.size > 0 &&
      (now >= this.#prunedAt + DESK_PRUNE_INTERVAL_SECONDS || now < this.#prunedAt)
    ) {
      book.prune(now)
      this.#prunedAt = now
    }
    // Open to strangers while the book holds invitations, live or ended within the day (whose
    // holders hear why): a node that has issued none lately drops a stranger's request unanswered.
    if (book.size === 0 && !ports.dealsWith(request.from)) return { outcome: 'closed' }
    if (!door.admit(request.source, request.nowMs)) {
      // Only a request long enough to name a VLAN-ID gets a verdict: it must name one.
      const vlanId = request.payload.slice(1, 1 + VLAN_ID_LENGTH)
      if (vlanId.length === VLAN_ID_LENGTH)
        send({
          vlanId,
          verdict: 'busy',
          retryAfterSeconds: door.retryAfterSeconds(request.source, request.nowMs),
        })
      return { outcome: 'busy' }
    }
    const opened = await openJoinRequest({
      payload: request.payload,
      owner,
      ownerHpkePrivateKey: hpkePrivateKey,
      from: request.from,
    })
    if (!opened.ok) {
      door.record(opened.reason)
      if (opened.vlanId === undefined) return { outcome: 'dropped' }
      send({ vlanId: opened.vlanId, verdict: 'refused' })
      return { outcome: opened.reason }
    }
    const { vlanId, secret, keyPackage } = opened
    const redeeming = { vlanId, secret, joiner: request.from, now }
    // The book first, taking nothing: a secret that names no invitation of this VLAN-ID learns
    // nothing of the owner's VLANs (§15.5).
    if (book.peek(redeeming) === 'refused') {
      door.record('refused')
      send({ vlanId, verdict: 'refused' })
      return { outcome: 'refused' }
    }
    const vlan = ports.ownedVlan(vlanId)
    if (vlan === undefined) {
      door.record('vlan-unknown')
      send({ vlanId, verdict: 'vlan-unknown' })
      return { outcome: 'vlan-unknown' }
    }
    if (!(await ports.checkKeyPackage(keyPackage, request.from))) {
      door.record('bad-key-package')
      send({ vlanId, verdict: 'refused' })
      return { outcome: 'bad-key-package', vlan }
    }
    const peeked = book.peek(redeeming)
    if (peeked !== 'accepted' && peeked !== 'again') {
      door.record(peeked)
      send({ vlanId, verdict: peeked })
      return { outcome: peeked, vlan }
    }
    const pool = await ports.pool(vlanId)
    const joiner = toHex(request.from)
    const key = `${toHex(vlanId)} ${joiner}`
    // From here to the first await, nothing else runs: the use, the address and the mark that
    // this joiner is being admitted are taken together.
    if (this.#admitting.has(key)) {
      // Its earlier request is still being admitted: that one answers.
      send({ vlanId, verdict: 'busy', retryAfterSeconds: 0 })
      return { outcome: 'busy', vlan }
    }
    const outcome = book.redeem(redeeming)
    if (outcome !== 'accepted' && outcome !== 'again') {
      door.record(outcome)
      send({ vlanId, verdict: outcome })
      return { outcome, vlan }
    }
    if (
      outcome === 'again' &&
      (ports.removed !== undefined
        ? ports.removed(vlan, request.from)
        : !ports.stillAdmits(vlan, request.from))
    ) {
      // Removed since it joined with this code: as for a revoked one.
      door.record('revoked')
      send({ vlanId, verdict: 'revoked' })
      return { outcome: 'revoked', vlan }
    }
    const held = pool?.addressOf(joiner)
    let ipv4 = held
    if (pool !== undefined && held === undefined) {
      try {
        ipv4 = pool.assign(joiner)
      } catch (error) {
        // A full pool gives no address (§15.7): the joiner still has its IPv6 one.
        if (!(error instanceof InviteError && error.code === 'pool-full')) {
          if (outcome === 'accepted') book.unredeem(redeeming)
          throw error
        }
      }
    }
    const assigned = held === undefined && ipv4 !== undefined
    const giveBack = () => {
      if (outcome === 'accepted') book.unredeem(redeeming)
      if (assigned) pool?.release(joiner)
    }
    this.#admitting.add(key)
    try {
      // `again` with the address it had changes nothing: nothing to store.
      if (outcome === 'accepted' || assigned) {
        try {
          await ports.save(vlanId, pool)
        } catch (error) {
          giveBack()
          send({ vlanId, verdict: 'busy', retryAfterSeconds: 0 })
          throw error
        }
      }
      door.record(outcome)
      send({ vlanId, verdict: 'accepted', ...(ipv4 === undefined ? {} : { ipv4 }) })
      try {
        await ports.admit(vlan, keyPackage)
      } catch (error) {
        // Admitted to nothing: what it took goes back, stored if the store will have it (else
        // with the next save). Its resend is answered as a first request.
        if (outcome === 'accepted' || assigned) {
          giveBack()
          await ports.save(vlanId, pool).catch(() => undefined)
        }
        throw error
      }
    } finally {
      this.#admitting.delete(key)
    }
    return {
      outcome,
      vlan,
      ...(ipv4 === undefined ? {} : { ipv4 }),
      invitation: invitationId(secret),
    }
  }
}
