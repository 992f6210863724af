/**
 * Invitation codes as the node and its CLI read them: a code is checked
 * before any network traffic, so a typo or an expired code is caught with
 * what to do (docs/spec/15-invitations.md), and an invitation is described
 * in PeerId text.
 */
import { decodeInvitationCode, type Invitation, isExpired } from '@peertap/invite'
import { peerIdText } from './peer-ids.ts'

/** A code's invitation; throws with what is wrong with the code (damaged, expired) and what to do. */
export function decodeCode(code: string): Invitation {
  const decoded = decodeInvitationCode(code)
  if (!decoded.ok)
    throw new Error(
      `that is not a valid invitation code: ${decoded.detail}. Copy the whole code again (it is the last line \`peertap vlan invite\` printed)`,
    )
  const { invitation } = decoded
  if (isExpired(invitation, Math.floor(Date.now() / 1000)))
    throw new Error(
      `this invitation expired at ${new Date(invitation.expiresAt * 1000).toISOString()}: ask the owner for a new one (peertap vlan invite)`,
    )
  return invitation
}

/** The VLAN name and owner a code names; throws with what is wrong with the code and what to do. */
export function describeCode(code: string): {
  name: string
  owner: string
  founder?: string
  expiresAt: number
} {
  return describeInvitation(decodeCode(code))
}

/**
 * An invitation's VLAN name, owner (PeerId text), founder (PeerId text,
 * when the code names one: the VLAN was handed to its owner) and expiry.
 */
export function describeInvitation(invitation: Invitation): {
  name: string
  owner: string
  founder?: string
  expiresAt: number
} {
  return {
    name: invitation.name,
    owner: peerIdText(invitation.owner),
    ...(invitation.founder === undefined ? {} : { founder: peerIdText(invitation.founder) }),
    expiresAt: invitation.expiresAt,
  }
}
