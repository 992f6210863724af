import { PeerTapError } from '@peertap/errors'

/**
 * The one error class of this package, thrown only at API boundaries for
 * the caller's own mistakes (a field out of range when signing, a batch
 * too large, a clock that is not unix seconds); bytes from a peer are never
 * thrown on but refused with a reason (docs/style.md §5).
 */
export class MvlanError extends PeerTapError<MvlanErrorCode> {
  constructor(code: MvlanErrorCode, message: string) {
    super(code, message)
    this.name = 'MvlanError'
  }
}

export type MvlanErrorCode =
  /** A value of the wrong type, size or range. */
  | 'invalid-argument'
  /** A record or batch would be larger than the format allows. */
  | 'too-large'
  /** The seed given does not make the key the PeerId or statement names. */
  | 'wrong-seed'
