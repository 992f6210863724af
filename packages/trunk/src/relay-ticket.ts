/**
 * The invitee's side of relay tickets (spec 12-relay.md §12.8.2): it sends
 * the ticket from the owner's invitation to the relay on CONTROL 10, then
 * dials the owner through that relay (`…/p2p/R/p2p-circuit/p2p/owner`).
 * The relay answers nothing: a circuit refused because the ticket had not
 * yet been taken (it travels on the link, the circuit on a stream of its
 * own) is dialled again, as the node's `peers` loop does.
 */
import { CONTROL_RELAY_TICKET } from './constants.ts'
import type { Link } from './link.ts'

/** Queues `ticket` on the link to a relay (CONTROL 10); false if the link refused it. */
export function sendRelayTicket(link: Pick<Link, 'sendControl'>, ticket: Uint8Array): boolean {
  return link.sendControl({ channel: CONTROL_RELAY_TICKET, payload: ticket })
}
