/**
 * @packageDocumentation
 *
 * The VFT forwarding table that PeerTap relays and nodes forward with: soft-
 * state subscriptions from neighbours (TTL, receive/send flags, optional
 * membership-proof keys), per batch of received frames the neighbours each
 * frame goes to (split horizon, hop limit, duplicate suppression by tag),
 * PeerId allow and deny lists, per-neighbour limits on subscriptions,
 * frames/s and bytes/s, and a counter for every limit and drop reason;
 * and what a relay passes on to each neighbour (`Propagation`: only to
 * members of the same VLAN epoch and configured relays, split horizon,
 * TTLs, proofs verbatim); and the subscriber's side of membership
 * proofs (`SubscriptionProofs`: one proof per VLAN epoch and window);
 * whom a node deals with (`NeighbourAdmission`: configured peers, and
 * peers that proved membership of one of its VLAN epochs);
 * and the spanning tree over relay identities (`SpanningTree`: which
 * relay-relay links frames and subscriptions may cross, so a relay mesh
 * with loops forwards along a loop-free tree);
 * and which frames a node sends on a direct path punched to a neighbour
 * behind a relay rather than through the relay (`DirectPaths`, spec
 * 12-relay.md §8.1);
 * and the fabrics a relay admits the members of (`FabricEpochs`: per
 * fabric root, the newest root-signed epoch statement, whose credential
 * key admits) and the relay's own presence (`RelayPresence`), spec
 * 12-relay.md §12.4, §12.9;
 * and relay tickets (`signRelayTicket`, `verifyRelayTicket`,
 * `TicketGrants`: an owner-signed, expiring word that lets an invitee
 * open a circuit through a relay to the owner alone, spec 12-relay.md
 * §12.8.2);
 * and the daemons' forwarding as one code over narrow link ports that
 * @peertap/trunk's links satisfy: the forward loop and the subscriber
 * cache (`Forwarder`), a node's subscriptions both ways
 * (`SubscriptionAnnouncer`), and a relay's admission, propagation and
 * tree gating (`RelayAdmission`).
 * Pure: no I/O, no timers (callers pass the time in seconds); two
 * dependencies, @peertap/crypto, for `admitSubscription`'s proof check,
 * and @peertap/mvlan, for the fabric's statements and presence records;
 * never depends on the switch, TAP devices or MLS.
 * Normative definition: docs/spec/09-forwarding.md.
 *
 * @example
 * ```ts
 * import { FLAG_RECEIVE, FLAG_SEND, ForwardingTable, RouteBatch } from '@peertap/relay'
 *
 * const table = new ForwardingTable({ limits: { framesPerSecond: 50_000, frameBurst: 5_000 } })
 * const vft = new Uint8Array(16).fill(7)
 * const now = 1_000
 * table.subscribe('peer-b', [{ vft, flags: FLAG_RECEIVE }], 600, now)
 * table.subscribe('peer-c', [{ vft, flags: FLAG_RECEIVE | FLAG_SEND }], 600, now)
 *
 * // Per received batch: frames are views into the trunk's receive buffer.
 * const out = new RouteBatch() // reuse it for every batch
 * const frames = [{ hopLimit: 8, vft, sealed: new Uint8Array(100) }]
 * table.route('peer-a', frames, now, out)
 * for (let d = 0; d < out.length; d++) {
 *   const { neighbour, count, frames: picked } = out.outputs[d]!
 *   for (let i = 0; i < count; i++) {
 *     const frame = frames[picked[i]!]! // send with frame.hopLimit (now 7)
 *     console.log(neighbour, frame.hopLimit)
 *   }
 * }
 * console.log(table.counters.copiesOut) // 2: peer-b and peer-c
 * table.expire(now + 601) // soft state: both subscriptions lapse
 * ```
 */

export {
  type AdmitSubscriptionParams,
  type AdmitSubscriptionResult,
  admitSubscription,
} from './admit.ts'
export {
  type AnnounceLink,
  type AnnounceLinks,
  DEFAULT_ANNOUNCE_TTL_SECONDS,
  DEFAULT_MAX_UNDECLARED,
  type LocalVfts,
  SubscriptionAnnouncer,
  type SubscriptionAnnouncerInit,
  type VftChange,
} from './announcer.ts'
export {
  CAP_SPANNING_TREE,
  DEFAULT_DUPLICATE_CACHE_SIZE,
  DEFAULT_FABRIC_EPOCH_CHECK_BURST,
  DEFAULT_FABRIC_EPOCH_CHECKS_PER_SECOND,
  DEFAULT_FABRIC_EPOCH_GLOBAL_CHECK_BURST,
  DEFAULT_FABRIC_EPOCH_GLOBAL_CHECKS_PER_SECOND,
  DEFAULT_MAX_NEIGHBOURS,
  DEFAULT_MAX_RELAY_PRESENCE,
  DEFAULT_MAX_SEALED_LENGTH,
  DEFAULT_MAX_SUBSCRIPTIONS,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_NEIGHBOUR,
  DEFAULT_MAX_TICKET_GRANTS,
  DEFAULT_MAX_TTL_SECONDS,
  DEFAULT_TICKET_OWNERS_PER_INVITEE,
  DEFAULT_TREE_HELLO_SECONDS,
  DEFAULT_TREE_HOLD_SECONDS,
  DEFAULT_TREE_LINK_COST,
  DEFAULT_TREE_MAX_AGE,
  DEFAULT_TREE_MAX_COST,
  DEFAULT_TREE_MESSAGES_PER_SECOND,
  FLAG_RECEIVE,
  FLAG_SEND,
  FLAGS_MASK,
  FRAME_OVERHEAD,
  MAX_HOP_LIMIT,
  MAX_TREE_ID_LENGTH,
  MAX_TREE_LINK_COST,
  MIN_SEALED_LENGTH,
  PROVING_KEY_LENGTH,
  QUIET_PROOF_CHECK_BURST,
  QUIET_PROOF_CHECKS_PER_SECOND,
  RELAY_PRESENCE_LIFETIME_SECONDS,
  RELAY_PRESENCE_RESIGN_SECONDS,
  RELAY_TICKET_ID_LENGTH,
  RELAY_TICKET_MAX_LIFETIME_SECONDS,
  RELAY_TICKET_VERSION,
  TAG_LENGTH,
  TREE_FLAG_PARENT,
  TREE_FLAG_SYNC,
  TREE_SEND_BURST,
  TREE_SENDS_PER_SECOND,
  TREE_VERSION,
  VFT_LENGTH,
} from './constants.ts'
export {
  createCounters,
  FRAME_DROP_REASONS,
  type FrameDropReason,
  SUBSCRIPTION_DROP_REASONS,
  type SubscriptionDropReason,
  type TableCounters,
} from './counters.ts'
export {
  type DirectPathCounters,
  type DirectPathLink,
  type DirectPathLinks,
  DirectPaths,
} from './direct-paths.ts'
export { DuplicateCache } from './duplicate-cache.ts'
export { RelayError, type RelayErrorCode } from './errors.ts'
export {
  FABRIC_EPOCH_REFUSALS,
  type FabricEpochOffer,
  type FabricEpochRefusal,
  FabricEpochs,
  type FabricEpochsCounters,
  type FabricEpochsInit,
  type HeldFabricEpoch,
} from './fabric-epochs.ts'
export {
  type Delivered,
  Forwarder,
  type ForwarderCounters,
  type ForwarderOptions,
  type ForwardLink,
  type ForwardLinks,
  type LocalDelivery,
} from './forwarder.ts'
export {
  DEFAULT_MAX_PROVEN_PEERS,
  DEFAULT_PROOF_CHECK_BURST,
  DEFAULT_PROOF_CHECKS_PER_SECOND,
  type MembershipOutcome,
  NeighbourAdmission,
  type NeighbourAdmissionCounters,
  type NeighbourAdmissionInit,
} from './neighbour-admission.ts'
export {
  DEFAULT_RECHECK_SECONDS,
  type NodeNeighbourEvents,
  NodeNeighbours,
  type NodeNeighboursInit,
  type ShunReason,
} from './node-neighbours.ts'
export {
  type Neighbours,
  type OriginBudget,
  originBudget,
  PROOF_BYTES_PER_SUBSCRIPTION,
  type PropagatedMessage,
  Propagation,
  type PropagationCounters,
  type PropagationOptions,
  type VerifiedProof,
} from './propagation.ts'
export {
  RelayAdmission,
  type RelayAdmissionCounters,
  type RelayAdmissionEvents,
  type RelayAdmissionInit,
  type RelayLink,
  type RelayLinks,
} from './relay-admission.ts'
export {
  RelayPresence,
  type RelayPresenceCounters,
  type RelayPresenceInit,
} from './relay-presence.ts'
export { NeighbourOutput, RouteBatch } from './route-batch.ts'
export {
  type DecodedTreeMessage,
  decodeTreeMessage,
  encodeTreeMessage,
  SpanningTree,
  type SpanningTreeOptions,
  TREE_DROP_REASONS,
  type TreeChange,
  type TreeCounters,
  type TreeDropReason,
  type TreeLinkRole,
  type TreeLinkStatus,
  type TreeMessage,
  type TreeOutgoing,
  type TreeStatus,
} from './spanning-tree.ts'
export {
  type DeclarationCounters,
  type HeldVft,
  MAX_DECLARED_VFTS,
  MAX_PROVED_VFTS,
  type MembershipRefusal,
  type MembershipVerdict,
  type SubscriptionMessage,
  SubscriptionProofs,
  type SubscriptionProofsInit,
} from './subscription-proofs.ts'
export {
  type Access,
  ForwardingTable,
  type ForwardingTableOptions,
  type Frame,
  type NeighbourLimits,
  type NeighbourStats,
  type NeighbourSubscription,
  type SubscribeResult,
  type SubscriptionEntry,
} from './table.ts'
export {
  isEd25519PeerId,
  RELAY_TICKET_REJECTIONS,
  type RelayTicketRejection,
  type RelayTicketVerdict,
  type SignRelayTicketParams,
  signRelayTicket,
  verifyRelayTicket,
} from './ticket.ts'
export {
  base58btc,
  TicketGrants,
  type TicketGrantsCounters,
  type TicketGrantsInit,
  type TicketOffer,
  type TicketRefusal,
} from './ticket-grants.ts'
export { TokenBucket } from './token-bucket.ts'
