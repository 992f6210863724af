// The owner's answer to a join request (docs/spec/15-invitations.md §15.9,
// steps 2 to 6): the door's limits first, then HPKE, the VLAN, the book,
// the pool, the verdict, and only then the admission. What it needs of the
// node (which VLANs it owns, their pools, storage, MLS) comes through ports.
import type { InvitationBook } from './book.ts'
import { toHex } from './bytes.ts'
import { VLAN_ID_LENGTH } from './constants.ts'
import type { JoinDoor, JoinOutcome } from './door.ts'
import type { Ipv4Assignment, Ipv4Pool } from './ipv4.ts'
import { encodeJoinVerdict, type JoinVerdict, openJoinRequest } from './join.ts'

/** What the desk asks of the owner's node. */
export interface JoinDeskPorts {
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
   * (11-mls.md §2). Checked before the book is asked, so a request whose
   * key package is not its sender's uses nothing.
   */
  checkKeyPackage(keyPackage: Uint8Array, from: Uint8Array): Promise<boolean>
  /**
   * For a joiner redeeming again (`again`: its use was taken by it
   * before): whether the owner still admits it. False once the owner
   * removed it: a removed member's old code does not bring it back.
   */
  stillAdmits(vlanName: string, from: Uint8Array): boolean
  /** Stores the book (and the pool, when given) durably: called before any verdict that used an invitation. */
  save(vlanId: Uint8Array, pool: Ipv4Pool | undefined): Promise<void>
  /**
   * Admits the joiner to the VLAN and adds its key package (MLS: the Add
   * commit and the Welcome). Rejects if the key package is not the
   * joiner's, in which case it was admitted to nothing.
   */
  admit(vlanName: string, keyPackage: Uint8Array): Promise<unknown>
  /** Sends a verdict (the channel-9 payload) back on the request's link. */
  reply(payload: Uint8Array): void
}

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
  /** Where the link comes from (its IP address), for the door's per-source limit. */
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
}

export class JoinDesk {
  readonly #init: JoinDeskInit

  constructor(init: JoinDeskInit) {
    this.#init = init
  }

  /**
   * Answers one join request. The joiner hears only a verdict: `busy` when
   * the door turns it away (before any work), `refused` when it does not
   * open or names no live invitation, the invitation's state when the
   * secret is right, and `accepted` (with the IPv4 address) just before
   * the Welcome. Never throws on what a peer sent; a port's failure
   * rejects, having sent no `accepted`.
   */
  async answer(request: JoinRequestIn, ports: JoinDeskPorts): Promise<JoinAnswer> {
    const { book, door, owner, hpkePrivateKey } = this.#init
    const send = (verdict: JoinVerdict) => ports.reply(encodeJoinVerdict(verdict))
    // Open to strangers while the book holds invitations, live or ended within the day (whose
    // holders hear why): a node that has issued none lately drops a stranger's request unanswered.
    book.prune(request.nowSeconds)
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
    const outcome = book.redeem({ vlanId, secret, joiner: request.from, now: request.nowSeconds })
    door.record(outcome)
    if (outcome !== 'accepted' && outcome !== 'again') {
      send({ vlanId, verdict: outcome })
      return { outcome, vlan }
    }
    if (outcome === 'again' && !ports.stillAdmits(vlan, request.from)) {
      // Removed since it joined with this code: as for a revoked one.
      send({ vlanId, verdict: 'revoked' })
      return { outcome: 'revoked', vlan }
    }
    const pool = await ports.pool(vlanId)
    const joiner = toHex(request.from)
    const ipv4 = pool === undefined ? undefined : (pool.addressOf(joiner) ?? pool.assign(joiner))
    await ports.save(vlanId, pool)
    send({ vlanId, verdict: 'accepted', ...(ipv4 === undefined ? {} : { ipv4 }) })
    await ports.admit(vlan, keyPackage)
    return { outcome, vlan, ...(ipv4 === undefined ? {} : { ipv4 }) }
  }
}
