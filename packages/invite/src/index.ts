/**
 * Invitations to a PeerTap MLS VLAN: joining by one code
 * (docs/spec/15-invitations.md). The code's binary and text form, with a
 * checksum that catches typos before any traffic; the joiner's request,
 * sealed with HPKE to the owner and bound to both PeerIds, and the owner's
 * verdict, both on trunk CONTROL channel 9; the owner's invitation book,
 * which keeps only hashes of the secrets; each member's IPv6 ULA and IPv4
 * address; and the join door's rate limits. Pure: no I/O, time and
 * randomness are arguments (only {@link issueInvitation} defaults to
 * node:crypto's randomBytes).
 *
 * @example
 * ```ts
 * import { deriveHpkeKeyPair } from '@peertap/crypto'
 * import {
 *   decodeInvitationCode, decodeJoinVerdict, encodeJoinVerdict, InvitationBook,
 *   issueInvitation, openJoinRequest, sealJoinRequest,
 * } from '@peertap/invite'
 *
 * const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'))
 * const owner = hex(`002408011220${'11'.repeat(32)}`) // Ed25519 PeerIds
 * const joiner = hex(`002408011220${'22'.repeat(32)}`)
 * const keys = await deriveHpkeKeyPair(new Uint8Array(32).fill(7))
 * const now = 1_800_000_000
 *
 * // Owner: issue a code (one use, 24 hours).
 * const book = new InvitationBook()
 * const { code } = issueInvitation({ book, owner, name: 'lab', ownerHpkeKey: keys.publicKey, now,
 *   addresses: ['/ip4/192.0.2.7/tcp/7400'] })
 *
 * // Joiner: read it, seal a request (channel 9) with its MLS KeyPackage.
 * const read = decodeInvitationCode(code)
 * if (!read.ok) throw new Error(`${read.reason}: ${read.detail}`)
 * const { invitation } = read
 * const request = await sealJoinRequest({ ...invitation, joiner, keyPackage: new Uint8Array([1, 2, 3]) })
 *
 * // Owner: open it with the link's PeerId, redeem the secret, answer.
 * const opened = await openJoinRequest({ payload: request, owner, ownerHpkePrivateKey: keys.privateKey, from: joiner })
 * if (!opened.ok) throw new Error(opened.reason)
 * const answer = book.redeem({ vlanId: opened.vlanId, secret: opened.secret, joiner, now: now + 5 })
 * const verdict = encodeJoinVerdict({ vlanId: opened.vlanId, verdict: answer === 'again' ? 'accepted' : answer,
 *   ipv4: { address: '10.77.0.2', prefixLength: 24 } })
 * console.log(decodeJoinVerdict(verdict)) // { ok: true, verdict: { verdict: 'accepted', ipv4: … } }
 * ```
 *
 * @packageDocumentation
 */

export {
  formatIpv6,
  formatUlaPrefix,
  isReservedInterfaceId,
  ulaAddress,
  ulaPrefix,
} from './addresses.ts'
export { type AttemptState, JoinAttempt } from './attempt.ts'
export {
  type CreateInvitationParams,
  InvitationBook,
  type InvitationBookDecoding,
  type InvitationState,
  type InvitationSummary,
  invitationHash,
  invitationId,
  type Random,
  type RedeemParams,
  type Redemption,
} from './book.ts'
export {
  codeChecksum,
  decodeInvitationCode,
  decodeInvitationPayload,
  encodeInvitationCode,
  encodeInvitationPayload,
  type Invitation,
  type InvitationDecoding,
  type InvitationRefusal,
  isExpired,
} from './code.ts'
export {
  CODE_CHECKSUM_LENGTH,
  CODE_MAX_TEXT_LENGTH,
  CODE_PREFIX,
  CODE_VERSION,
  CONTEXT_CODE_CHECKSUM,
  CONTEXT_INVITATION_SECRET,
  CONTEXT_ULA_INTERFACE,
  CONTEXT_ULA_PREFIX,
  DEFAULT_LIFETIME_SECONDS,
  DEFAULT_USES,
  JOIN_REQUEST_INFO,
  JOIN_REQUEST_TYPE,
  JOIN_VERDICT_TYPE,
  MAX_ADDRESSES,
  MAX_KEY_PACKAGE_BYTES,
  MAX_LIFETIME_SECONDS,
  MAX_LIVE_INVITATIONS,
  MAX_TICKET_BYTES,
  MAX_USES,
  SECRET_LENGTH,
} from './constants.ts'
export {
  type JoinAnswer,
  JoinDesk,
  type JoinDeskInit,
  type JoinDeskPorts,
  type JoinRequestIn,
} from './desk.ts'
export {
  doorSourceKey,
  JoinDoor,
  type JoinDoorCounters,
  type JoinDoorInit,
  type JoinOutcome,
} from './door.ts'
export { InviteError, type InviteErrorCode } from './errors.ts'
export {
  formatIpv4,
  type Ipv4Assignment,
  Ipv4Pool,
  type Ipv4PoolDecoding,
  isPrivateIpv4Assignment,
  parseIpv4,
} from './ipv4.ts'
export { type IssueInvitationParams, issueInvitation } from './issue.ts'
export {
  decodeJoinVerdict,
  encodeJoinVerdict,
  JOIN_VERDICTS,
  type JoinRequestOpening,
  type JoinRequestRefusal,
  type JoinVerdict,
  type JoinVerdictDecoding,
  type JoinVerdictName,
  type JoinVerdictRefusal,
  joinRequestAad,
  type OpenJoinRequestParams,
  openJoinRequest,
  type SealJoinRequestParams,
  sealJoinRequest,
  verdictMessage,
} from './join.ts'
export type { RecordRefusal } from './record.ts'
