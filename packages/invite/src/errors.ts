import { PeerTapError } from '@peertap/errors'

/**
 * The one error class of this package, thrown only at API boundaries for
 * the caller's own mistakes (a field out of range when encoding, a full book
 * or pool); input from a peer or a code someone typed is never thrown on but
 * refused with a reason (docs/style.md §5).
 */
export class InviteError extends PeerTapError<InviteErrorCode> {
  constructor(code: InviteErrorCode, message: string) {
    super(code, message)
    this.name = 'InviteError'
  }
}

export type InviteErrorCode =
  /** A value of the wrong type, size or range. */
  | 'invalid-argument'
  /** The book holds MAX_LIVE_INVITATIONS live invitations. */
  | 'book-full'
  /** `random` gave a secret the book already holds: a broken random source. */
  | 'random-repeated'
  /** The IPv4 pool has no free host address. */
  | 'pool-full'
  /** An address asked for is another member's. */
  | 'address-taken'
