// The joiner's side of one join (docs/spec/15-invitations.md §15.9): the
// requests it sends, the verdict it takes (the owner's only), and where the
// code says the owner and its relays are.
import type { Invitation } from './code.ts'
import { decodeJoinVerdict, type JoinVerdict, sealJoinRequest, verdictMessage } from './join.ts'

export type AttemptState = 'waiting' | 'accepted' | 'refused'

export class JoinAttempt {
  readonly invitation: Invitation
  readonly #joiner: Uint8Array
  #verdict: JoinVerdict | undefined

  /** `joiner`: this node's PeerId (multihash bytes), the one its links authenticate. */
  constructor(invitation: Invitation, joiner: Uint8Array) {
    this.invitation = invitation
    this.#joiner = joiner
  }

  /** A join request carrying `keyPackage` (a fresh HPKE seal each time: resends are not linkable). */
  request(keyPackage: Uint8Array): Promise<Uint8Array> {
    const { vlanId, ownerHpkeKey, owner, secret } = this.invitation
    return sealJoinRequest({
      vlanId,
      ownerHpkeKey,
      owner,
      joiner: this.#joiner,
      secret,
      keyPackage,
    })
  }

  /**
   * A channel-9 payload from `from` (the link's PeerId): a verdict for this
   * VLAN from its owner is taken, the last one counting, except `busy`,
   * which only says the request will be resent later. Anything else is
   * ignored.
   */
  onVerdict(payload: Uint8Array, from: Uint8Array): 'taken' | 'busy' | 'ignored' | 'malformed' {
    const decoded = decodeJoinVerdict(payload)
    if (!decoded.ok) return 'malformed'
    const { verdict } = decoded
    if (
      !sameBytes(from, this.invitation.owner) ||
      !sameBytes(verdict.vlanId, this.invitation.vlanId)
    )
      return 'ignored'
    if (verdict.verdict === 'busy') return 'busy'
    this.#verdict = verdict
    return 'taken'
  }

  get state(): AttemptState {
    return this.#verdict === undefined
      ? 'waiting'
      : this.#verdict.verdict === 'accepted'
        ? 'accepted'
        : 'refused'
  }

  /** The owner's last verdict, if any. */
  get verdict(): JoinVerdict | undefined {
    return this.#verdict
  }

  /** For a person: what the owner said and what to do next. */
  message(): string {
    return this.#verdict === undefined
      ? 'the owner has not answered yet'
      : verdictMessage(this.#verdict)
  }

  /**
   * For a person, when the join took too long: `reached` says whether a
   * link to the owner is up.
   */
  timeoutMessage(reached: boolean): string {
    if (this.state === 'accepted')
      return 'the owner accepted, but its Welcome did not arrive in time: try again (a retry from this node uses nothing more of the code)'
    if (!reached)
      return `the owner was not reachable at the code's addresses (${this.invitation.addresses.join(', ') || 'none'}): check that it is running and reachable from here, or ask for a code made while it holds a relay reservation`
    return 'the owner is reachable but did not answer the join request: it may not run this VLAN any more; ask it for a new code'
  }

  /** The code's addresses through a relay's circuit (`…/p2p/R/p2p-circuit/p2p/OWNER`). */
  circuits(): string[] {
    return this.invitation.addresses.filter((a) => a.includes('/p2p-circuit/'))
  }

  /** The relays of those circuits (`…/p2p/R`): where the code's ticket goes. */
  relays(): string[] {
    return [...new Set(this.circuits().map((a) => a.slice(0, a.indexOf('/p2p-circuit'))))]
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
