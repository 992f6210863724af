/**
 * Wire constants and defaults of the VFT forwarding table. Each cites the
 * section of docs/spec/ that defines it.
 */

/** Length of a VFT in bytes (spec 02-vft.md §2). */
export const VFT_LENGTH = 16
/** Length of the AEAD tag that ends every sealed payload (spec 04; 09-forwarding.md §6). */
export const TAG_LENGTH = 16
/**
 * Shortest legal sealed payload: a 10-byte header (config, KID 8, CTR 1),
 * one plaintext byte (the kind) and the tag (spec 04 §5). A
 * shorter one cannot open anywhere, so a relay drops it as `malformed`.
 */
export const MIN_SEALED_LENGTH = 1 + 8 + 1 + 1 + TAG_LENGTH
/**
 * Default largest sealed payload a table forwards (spec 09-forwarding.md §5):
 * a 64 KiB GSO frame, its kind byte and 12-byte virtio-net header, a 16-byte
 * header and the tag, rounded up. The max message size of the trunk is at
 * least 64 KiB plus overhead (spec 08 §4.1).
 */
export const DEFAULT_MAX_SEALED_LENGTH = 65_536 + 64
/**
 * Bytes a FRAME message adds around the sealed payload: hop limit u8 and the
 * VFT (spec 08 §4.2). Byte limits charge `copies × (FRAME_OVERHEAD + sealed)`.
 */
export const FRAME_OVERHEAD = 1 + VFT_LENGTH
/** Largest hop limit: it is a u8 on the wire (spec 08 §4.2). */
export const MAX_HOP_LIMIT = 255
/** Length of a membership proof's Ed25519 public key (spec 07; 09-forwarding.md §4). */
export const PROVING_KEY_LENGTH = 32

/** Subscription flag: deliver frames under this VFT to me (spec 09-forwarding.md §2). */
export const FLAG_RECEIVE = 0x01
/**
 * Subscription flag: I send frames under this VFT. With proofs required it is
 * what lets a neighbour send on a VFT (spec 09-forwarding.md §2, §4).
 */
export const FLAG_SEND = 0x02
/** Every defined flag bit; a subscription with any other bit set is malformed. */
export const FLAGS_MASK = FLAG_RECEIVE | FLAG_SEND

/** Default longest subscription TTL in seconds: three VFT windows (spec 09-forwarding.md §2). */
export const DEFAULT_MAX_TTL_SECONDS = 1800
/** Default subscriptions one neighbour may hold (spec 09-forwarding.md §7). */
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_NEIGHBOUR = 4096
/** Default subscriptions the whole table may hold. */
export const DEFAULT_MAX_SUBSCRIPTIONS = 1 << 20
/** Default neighbours the table keeps state for. */
export const DEFAULT_MAX_NEIGHBOURS = 1 << 16
/**
 * Each neighbour's quiet allowance of proof checks outside the table-wide
 * budget (spec 09-forwarding.md §7): 8 at once, one more every 10 s. A
 * member needs a few checks per window turn or epoch change; a flood of
 * identities gets at most this many each past the budget.
 */
export const QUIET_PROOF_CHECKS_PER_SECOND = 0.1
export const QUIET_PROOF_CHECK_BURST = 8
/** Default number of tags the duplicate cache remembers (spec 09-forwarding.md §6); 0 turns it off. */
export const DEFAULT_DUPLICATE_CACHE_SIZE = 1 << 17

// Spanning tree over relay identities (spec 12-relay.md §7; docs/design.md §6).

/**
 * HELLO capability bit: the sender runs the relay spanning tree (spec
 * 08-trunk.md §4.1, 12-relay.md §7.1). Only relay neighbours that set it
 * take part in the tree; every other link is an edge link.
 */
export const CAP_SPANNING_TREE = 1 << 2
/** Version byte of the spanning-tree message (spec 12-relay.md §7.2). */
export const TREE_VERSION = 1
/** Tree message flag: the receiver is the sender's parent (spec 12-relay.md §7.2). */
export const TREE_FLAG_PARENT = 0x01
/**
 * Tree message flag: the sender has just taken this link into the tree and
 * asks for the receiver's subscription snapshot (spec 12-relay.md §7.2, §7.4).
 */
export const TREE_FLAG_SYNC = 0x02
/** Longest root id on the wire: a PeerId's base58btc text (spec 12-relay.md §7.2). */
export const MAX_TREE_ID_LENGTH = 128
/** Bytes of a tree message before the root id: version, flags, age, cost u32, id length. */
export const TREE_HEADER_LENGTH = 8
/** Seconds between periodic tree messages on each tree neighbour (spec 12-relay.md §7.3). */
export const DEFAULT_TREE_HELLO_SECONDS = 1
/** A neighbour's tree message counts for this long after it arrives (3 hellos, as RSTP). */
export const DEFAULT_TREE_HOLD_SECONDS = 3
/** Largest message age (hops from the root) a relay accepts; ends count-to-infinity. */
export const DEFAULT_TREE_MAX_AGE = 16
/** Default cost of one relay-relay link. */
export const DEFAULT_TREE_LINK_COST = 10
/** Largest cost one link may be given. */
export const MAX_TREE_LINK_COST = 1000
/** Largest root path cost a relay accepts: a path that costs more is no path. */
export const DEFAULT_TREE_MAX_COST = 10_000
/** Tree messages a neighbour may send per second (and burst) before the excess is dropped. */
export const DEFAULT_TREE_MESSAGES_PER_SECOND = 40
/**
 * Tree messages a relay sends one neighbour per second at most, half the
 * rate a neighbour takes by default, in bursts up to its default burst: a
 * relay never has its own messages dropped as `rate`, however fast the tree
 * changes (802.1D's TxHoldCount). A message held back goes at a later
 * `outgoing` with the state of that moment (spec 12-relay.md §7.3).
 */
export const TREE_SENDS_PER_SECOND = 20
/** Burst of TREE_SENDS_PER_SECOND: the count-to-infinity of a ring runs at link speed. */
export const TREE_SEND_BURST = 40

// Relay tickets: a circuit for an invitee (spec 12-relay.md §12.8.2).

/** Version byte of a relay ticket (spec 12-relay.md §12.8.2). */
export const RELAY_TICKET_VERSION = 1
/** What an owner's signature over a ticket is prefixed with (spec 12-relay.md §12.8.2). */
export const RELAY_TICKET_LABEL = 'PeerTap v1 relay ticket'
/** Bytes of a ticket's random id. */
export const RELAY_TICKET_ID_LENGTH = 16
/** Bytes of a ticket's Ed25519 signature. */
export const RELAY_TICKET_SIGNATURE_LENGTH = 64
/**
 * The multihash prefix of an Ed25519 PeerId (identity multihash of length
 * 36 over the protobuf `PublicKey{Type: Ed25519, Data: 32 bytes}`), which a
 * ticket's owner must be: the relay reads the key from it (spec 12 §12.8.2).
 */
export const ED25519_PEER_ID_PREFIX: readonly number[] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20]
/** Bytes of an Ed25519 PeerId: the prefix and the 32-byte public key. */
export const ED25519_PEER_ID_LENGTH = 38
/**
 * A relay honours a ticket only if it expires within this many seconds (7
 * days): a code shared once should not open a door for months, and an owner
 * has no way to revoke a ticket but its expiry (spec 12-relay.md §12.8.2).
 */
export const RELAY_TICKET_MAX_LIFETIME_SECONDS = 7 * 86_400
/** Owners one invitee may hold grants to at once; a fifth evicts its oldest (spec 12 §12.8.2). */
export const DEFAULT_TICKET_OWNERS_PER_INVITEE = 4
/** Grants held at once over all invitees; one more evicts the oldest. */
export const DEFAULT_MAX_TICKET_GRANTS = 4096
/** Ticket signatures checked per second per invitee, and burst. */
export const DEFAULT_TICKET_CHECKS_PER_SECOND = 2
export const DEFAULT_TICKET_CHECK_BURST = 4
/** Ticket signatures checked per second over all peers, and burst (about 1 % of a core). */
export const DEFAULT_TICKET_GLOBAL_CHECKS_PER_SECOND = 200
export const DEFAULT_TICKET_GLOBAL_CHECK_BURST = 200

// Fabric roots and relay presence (spec 12-relay.md §12.4, §12.9; 16-fabric.md).

/** Fabric epoch statements' signatures checked per second per peer, and burst (spec 12 §12.4). */
export const DEFAULT_FABRIC_EPOCH_CHECKS_PER_SECOND = 2
export const DEFAULT_FABRIC_EPOCH_CHECK_BURST = 4
/** Fabric epoch statements' signatures checked per second over all peers, and burst. */
export const DEFAULT_FABRIC_EPOCH_GLOBAL_CHECKS_PER_SECOND = 50
export const DEFAULT_FABRIC_EPOCH_GLOBAL_CHECK_BURST = 50
/** Peers whose statement budgets are kept at once; one more evicts the oldest. */
export const DEFAULT_FABRIC_EPOCH_MAX_PEERS = 4096
/** Statements of roots no longer configured kept (so a root added again never goes back an epoch). */
export const DEFAULT_FABRIC_EPOCH_MAX_RETIRED = 64
/** How long a relay's own presence record lasts, seconds (spec 12 §12.9). */
export const RELAY_PRESENCE_LIFETIME_SECONDS = 900
/** A relay signs its presence again this often, seconds, and whenever its addresses change. */
export const RELAY_PRESENCE_RESIGN_SECONDS = 300
/** Neighbour relays' presence records a relay keeps and passes on (the directory's default, 16-fabric.md §16.5). */
export const DEFAULT_MAX_RELAY_PRESENCE = 64
