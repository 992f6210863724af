/**
 * Typed errors of @peertap/mls (docs/spec/11-mls.md §8). Every refusal of bad
 * input (a malformed, replayed, out-of-order or forged message, a credential
 * that does not name its sender, a commit from a member that may not commit)
 * throws an {@link MlsError} with a stable `code`, and leaves the group's
 * state exactly as it was.
 */
import { PeerTapError } from '@peertap/crypto'

/** The stable codes of {@link MlsError}, 11-mls.md §8. */
export const MLS_ERROR_CODES = [
  /** The bytes do not decode as the expected MLS message, bundle, lease or key package. */
  'mls-malformed',
  /** The message belongs to another group (VLAN). */
  'mls-wrong-group',
  /** A commit for an epoch this member already left, identical to the one it applied. */
  'mls-replayed',
  /** A commit for an epoch this member already left and no longer holds in its log. */
  'mls-stale',
  /** A commit for an epoch this member already left, different from the one it applied. */
  'mls-fork',
  /** A commit for a later epoch than this member's, or a catch-up sequence with a hole. */
  'mls-gap',
  /** MLS refused the message: bad signature, tag, decryption or tree (forged or corrupt). */
  'mls-rejected',
  /** A credential that is not a PeerTap credential or whose binding signature fails. */
  'mls-credential-invalid',
  /** A credential that names another PeerId than the peer that sent it. */
  'mls-credential-mismatch',
  /** A commit from a member that is neither the owner nor holds a valid lease. */
  'mls-not-committer',
  /** A lease that is malformed, badly signed, for another VLAN or outside its validity. */
  'mls-lease-invalid',
  /**
   * A transfer of ownership that is malformed, not signed by the current
   * owner, for another VLAN or epoch, naming a non-member, or carried by a
   * commit that adds or removes anyone.
   */
  'mls-transfer-invalid',
  /** The owner holds out a lease to an admin, and may not commit until it expires. */
  'mls-lease-outstanding',
  /** The PeerId is already a member (add), or not a member (remove). */
  'mls-membership',
  /** The owner cannot be removed. */
  'mls-owner-removal',
  /** A proposal this node does not accept (e.g. a member proposing to remove another). */
  'mls-proposal-refused',
  /** A Welcome that is not meant for this key package. */
  'mls-welcome-not-for-us',
  /** This member was removed from the group: it has no keys and cannot act. */
  'mls-removed',
  /** The stored state is missing, truncated or fails its checksum. */
  'mls-state-corrupt',
  /** No MLS VLAN of that name is open on this node (never opened, or closed). */
  'mls-unknown-vlan',
] as const

/** One of {@link MLS_ERROR_CODES}. */
export type MlsErrorCode = (typeof MLS_ERROR_CODES)[number]

/** The error @peertap/mls throws for bad input and refused operations; `code` is stable. */
export class MlsError extends PeerTapError {
  declare readonly code: MlsErrorCode

  constructor(code: MlsErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.name = 'MlsError'
  }
}
