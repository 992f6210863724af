// The owner's one call to issue an invitation: a book entry and its code
// (docs/spec/15-invitations.md §15.9, step 1).
import { randomBytes } from 'node:crypto'
import { deriveVlanId } from '@peertap/vft'
import type { InvitationBook, Random } from './book.ts'
import { encodeInvitationCode, encodeInvitationPayload, type Invitation } from './code.ts'
import { DEFAULT_LIFETIME_SECONDS, SECRET_LENGTH } from './constants.ts'
import { InviteError } from './errors.ts'

export interface IssueInvitationParams {
  readonly book: InvitationBook
  /** The owner's PeerId (this node's), multihash bytes. */
  readonly owner: Uint8Array
  /**
   * The VLAN's founder, multihash bytes, when this node owns it by a
   * transfer (11-mls.md §12): the VLAN-ID derives from it. Absent, or equal
   * to `owner`: this node founded it, and the code names no founder.
   */
  readonly founder?: Uint8Array
  /** The VLAN's name. */
  readonly name: string
  /** This node's static X25519 public key. */
  readonly ownerHpkeKey: Uint8Array
  /** Where joiners reach this node, at most 8 multiaddrs. */
  readonly addresses?: readonly string[]
  /** A relay ticket for a circuit to this node; default none. */
  readonly ticket?: Uint8Array
  /** Default 1. */
  readonly uses?: number
  /** Default now + 24 h. */
  readonly expiresAt?: number
  /** Unix seconds. */
  readonly now: number
  /** Default node:crypto's randomBytes. */
  readonly random?: Random
}

/**
 * Creates an invitation in `book` and returns its code. Every field is
 * checked before the book changes, so a refused call leaves no entry.
 * Throws {@link InviteError} (or the book's errors).
 */
export function issueInvitation(params: IssueInvitationParams): {
  code: string
  id: string
  invitation: Invitation
} {
  const { book, owner, name, ownerHpkeKey, now } = params
  const founder =
    params.founder === undefined ||
    (params.founder.length === owner.length && params.founder.every((b, i) => b === owner[i]))
      ? undefined
      : params.founder
  let vlanId: Uint8Array
  try {
    vlanId = deriveVlanId(founder ?? owner, name)
  } catch (error) {
    throw new InviteError('invalid-argument', (error as Error).message)
  }
  const random = params.random ?? ((n: number) => new Uint8Array(randomBytes(n)))
  const draft: Invitation = {
    vlanId,
    name: name.normalize('NFC'),
    owner,
    ...(founder === undefined ? {} : { founder }),
    ownerHpkeKey,
    addresses: params.addresses ?? [],
    secret: new Uint8Array(SECRET_LENGTH),
    expiresAt: params.expiresAt ?? now + DEFAULT_LIFETIME_SECONDS,
    ticket: params.ticket ?? new Uint8Array(0),
  }
  encodeInvitationPayload(draft) // throws before the book changes
  const { secret, id } = book.create({
    vlanId,
    now,
    random,
    expiresAt: draft.expiresAt,
    ...(params.uses === undefined ? {} : { uses: params.uses }),
  })
  const invitation = { ...draft, secret }
  return { code: encodeInvitationCode(invitation), id, invitation }
}
