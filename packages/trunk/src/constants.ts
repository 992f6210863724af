/**
 * Wire constants of the trunk protocol. Each one cites the section of
 * docs/spec/08-trunk.md that defines it.
 */

/** The libp2p protocol id of the stream link (spec 08-trunk.md §1). */
export const TRUNK_PROTOCOL = '/peertap/trunk/1.0.0'

/** The trunk protocol versions this implementation speaks (spec 08-trunk.md §4.1). */
export const PROTOCOL_VERSION_MIN = 1
export const PROTOCOL_VERSION_MAX = 1

/**
 * Hard maximum of a message's length field, type byte and body together
 * (spec 08-trunk.md §2): 64 KiB, so that a whole GSO frame of up to 65 535
 * bytes crosses a stream link, plus 1024 bytes for the sealed header, tag,
 * plaintext kind, virtio-net header, VFT and hop limit. Below 2^21, so a
 * length varint never needs more than 3 bytes.
 */
export const MESSAGE_LENGTH_LIMIT = 65_536 + 1024
/** Longest varint a length field may take: 3 bytes cover MESSAGE_LENGTH_LIMIT (spec 08-trunk.md §2). */
export const LENGTH_VARINT_MAX_BYTES = 3
/** Smallest max message size a peer may advertise in HELLO (spec 08-trunk.md §4.1). */
export const MIN_ADVERTISED_MESSAGE_SIZE = 2048

/** Message types (spec 08-trunk.md §3). */
export const MSG_HELLO = 0x01
export const MSG_FRAME = 0x02
export const MSG_SUB = 0x03
export const MSG_UNSUB = 0x04
export const MSG_BATCH = 0x05
export const MSG_PING = 0x06
export const MSG_PONG = 0x07
export const MSG_CONTROL = 0x08

/** Length of a VFT (spec 02-vft.md §2; 08-trunk.md §4.2). */
export const VFT_LENGTH = 16
/** Bytes of a FRAME body before the sealed payload: hop limit u8 ‖ VFT (spec 08-trunk.md §4.2). */
export const FRAME_HEADER_LENGTH = 1 + VFT_LENGTH
/**
 * Shortest sealed payload: config u8 ‖ KID 8 ‖ CTR 1 ‖ one byte of
 * ciphertext ‖ 16-byte tag (spec 04-sealed-payload.md; 08-trunk.md §4.2).
 */
export const SEALED_MIN_LENGTH = 1 + 8 + 1 + 1 + 16
/** Hop limit a node puts on frames it originates (spec 08-trunk.md §4.2). */
export const DEFAULT_HOP_LIMIT = 8

/** HELLO: fixed part before the extension bytes (spec 08-trunk.md §4.1). */
export const HELLO_FIXED_LENGTH = 2 + 2 + 1 + 4 + 4 + 2 + 8 + 2
/** HELLO: longest extension area (spec 08-trunk.md §4.1). */
export const HELLO_MAX_EXTENSION_LENGTH = 1024
/** HELLO roles (spec 08-trunk.md §4.1). */
export const ROLE_NODE = 0
export const ROLE_RELAY = 1
/** HELLO capability bits (spec 08-trunk.md §4.1). */
export const CAP_GSO_FRAMES = 1 << 0
export const CAP_DATAGRAM_LINK = 1 << 1

/** SUB/UNSUB: most VFT entries in one message (spec 08-trunk.md §4.3). */
export const MAX_SUB_ENTRIES = 1024
/** SUB/UNSUB: longest membership proof (spec 08-trunk.md §4.3). */
export const MAX_PROOF_LENGTH = 4096
/** SUB/UNSUB entry flags (spec 08-trunk.md §4.3). */
export const SUB_FLAG_RECEIVE = 1 << 0
export const SUB_FLAG_SEND = 1 << 1
export const SUB_FLAGS_KNOWN = SUB_FLAG_RECEIVE | SUB_FLAG_SEND

/** BATCH: most messages in one BATCH (spec 08-trunk.md §4.4). */
export const MAX_BATCH_COUNT = 1024

/** PING/PONG: most PeerIds in a hop record, and longest PeerId (spec 08-trunk.md §4.5). */
export const MAX_HOPS = 16
export const MAX_PEER_ID_LENGTH = 64

// CONTROL channels: the one registry of their numbers (spec 08-trunk.md §4.6.1).
// Whoever sends or handles a channel imports its number from here.

/** CONTROL 1: an MLS key package, member to owner (spec 11-mls.md §11). */
export const CONTROL_KEY_PACKAGE = 1
/** CONTROL 2: an MLS Welcome, owner to joiner (spec 11-mls.md §11). */
export const CONTROL_WELCOME = 2
/** CONTROL 3: commit catch-up requests and answers, and commits too large for one frame (spec 11-mls.md §6, §11). */
export const CONTROL_COMMIT_CATCH_UP = 3
/** CONTROL 4: a datagram-link offer (spec 13-datagram-link.md §4). */
export const CONTROL_DATAGRAM_OFFER = 4
/** CONTROL 5: an MLS proposal, member to owner and admins (spec 11-mls.md §11). */
export const CONTROL_PROPOSAL = 5
/** CONTROL 6: an admin lease, owner to admin (spec 11-mls.md §5, §11). */
export const CONTROL_LEASE = 6
/** CONTROL 7: one fragment of a CONTROL message too large for one trunk message (spec 08-trunk.md §4.6.2). */
export const CONTROL_FRAGMENT = 7
/** CONTROL 8: the spanning-tree message between neighbour relays (spec 12-relay.md §12.7.2). */
export const CONTROL_SPANNING_TREE = 8
/** CONTROL 9: an invitation's join request, joiner to VLAN owner, and the owner's verdict (spec 15-invitations.md). */
export const CONTROL_JOIN = 9
/** CONTROL 10: an owner-signed relay ticket, invitee to relay (spec 12-relay.md §12.8.2). */
export const CONTROL_RELAY_TICKET = 10
/** CONTROL 11: a root-signed fabric epoch statement, node to relay and relay to relay (spec 12-relay.md §12.4, 16-fabric.md). */
export const CONTROL_FABRIC_EPOCH = 11
/** CONTROL 12: a batch of signed presence records: relay to node, relay to relay, node to node (spec 12-relay.md §12.9, 16-fabric.md). */
export const CONTROL_PRESENCE = 12
/** CONTROL 13: a fabric's secret and state, admin to member over an authenticated trunk link (spec 16-fabric.md). */
export const CONTROL_FABRIC_GRANT = 13

/**
 * Fragmented CONTROL messages (spec 08-trunk.md §4.6.2): the largest
 * payload sent in fragments (1 MiB: a Welcome for about 2400 MLS members),
 * the largest payload sent whole and the size of each fragment (header
 * included), the neighbours with reassemblies open at once, and the time
 * after which an incomplete message is dropped.
 */
export const CONTROL_FRAGMENT_MAX_MESSAGE_BYTES = 1024 * 1024
export const CONTROL_FRAGMENT_BYTES = 60_000
export const CONTROL_FRAGMENT_MAX_PEERS = 8
export const CONTROL_FRAGMENT_TIMEOUT_MS = 10_000

/** A peer must send HELLO within this long after the stream opens (spec 08-trunk.md §5). */
export const HELLO_TIMEOUT_MS = 10_000
/** Clock skew past which a node warns (spec 02-vft.md; 08-trunk.md §5). */
export const SKEW_WARN_MS = 60_000
/** Keepalive PING interval and idle timeout of a stream link (spec 08-trunk.md §5). */
export const KEEPALIVE_INTERVAL_MS = 15_000
export const IDLE_TIMEOUT_MS = 45_000

/** Default per-link send queue bounds (an implementation choice, spec 08-trunk.md §6). */
export const DEFAULT_MAX_QUEUED_FRAMES = 4096
export const DEFAULT_MAX_QUEUED_BYTES = 4 * 1024 * 1024
export const DEFAULT_MAX_QUEUED_CONTROL_BYTES = 1024 * 1024
/**
 * Default send budget of a trunk, all its links together (spec 08-trunk.md
 * §6.1): 300 neighbours that read slowly would otherwise hold 300 times a
 * link's bounds, about 1.5 GiB.
 */
export const DEFAULT_QUEUE_BUDGET_BYTES = 256 * 1024 * 1024
/**
 * Default reserve of each link in the budget (spec 08-trunk.md §6.1): the
 * budget over DEFAULT_MAX_CONNECTIONS (1024), so that the reserves of all
 * links never exceed it.
 */
export const DEFAULT_QUEUE_RESERVE_BYTES = DEFAULT_QUEUE_BUDGET_BYTES / 1024
/**
 * Inbound connection limits of a trunk node (spec 08-trunk.md §9).
 * libp2p's own defaults are 300 connections, 10 handshakes at once and 5
 * connections per second from one IP. 300 is below what a relay must hold
 * (issue 14: 500 identities against one relay), and past it libp2p prunes
 * open connections; 10 handshakes let one address that opens 10 sockets
 * and stays silent shut every inbound connection out for libp2p's 10 s
 * upgrade timeout. The per-address cap: a NAT puts honest peers behind one
 * address (a home a few, an office or a carrier-grade NAT a few dozen),
 * each holding one connection to a given neighbour (spec §5.3), briefly
 * two; 32 lets them in while one address holds at most 1/32 of the
 * connections, and a handshake limit of 128 leaves room for 4 such
 * addresses at their cap.
 */
export const DEFAULT_MAX_CONNECTIONS = 1024
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 32
export const DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS = 128
export const DEFAULT_INBOUND_CONNECTION_THRESHOLD = 5
/**
 * Control bytes a link may hold beyond its reserve, whatever the budget
 * (spec 08-trunk.md §6.1): room for a SUB of 1024 entries with a full
 * proof (21.5 KiB) and more, so a renewal is not lost to others' traffic.
 */
export const CONTROL_RESERVE_BYTES = 64 * 1024

// ---------------------------------------------------------------- datagram link (spec 13-datagram-link.md)

/** Datagram types (spec 13-datagram-link.md §2). */
export const DGRAM_DATA = 0x01
export const DGRAM_PING = 0x02
export const DGRAM_PONG = 0x03
/** type u8 ‖ receiverIndex u32 ‖ counter u32 (spec 13-datagram-link.md §2). */
export const DGRAM_HEADER_LENGTH = 1 + 4 + 4
/** The hop tag: AES-256-GCM's full 16-byte tag (spec 13-datagram-link.md §3). */
export const DGRAM_TAG_LENGTH = 16
/** DATA: header ‖ protected(hop ‖ VFT) ‖ tag before the sealed payload (spec 13-datagram-link.md §2.1). */
export const DGRAM_DATA_OVERHEAD = DGRAM_HEADER_LENGTH + FRAME_HEADER_LENGTH + DGRAM_TAG_LENGTH
/** PING: nonce u64, then zero padding; PONG: nonce u64 ‖ size u16 (spec 13-datagram-link.md §2.2). */
export const DGRAM_PING_MIN_LENGTH = DGRAM_HEADER_LENGTH + 8 + DGRAM_TAG_LENGTH
export const DGRAM_PONG_LENGTH = DGRAM_HEADER_LENGTH + 8 + 2 + DGRAM_TAG_LENGTH
/** Counters run from 0 to 2^31 - 1 per key; a sender re-offers before it would wrap (spec 13 §3). */
export const DGRAM_COUNTER_LIMIT = 2 ** 31 - 1
/**
 * UDP payload every path starts with: the IPv6 minimum MTU 1280 minus a
 * 40-byte IPv6 and an 8-byte UDP header (spec 13-datagram-link.md §6).
 */
export const DGRAM_SAFE_PAYLOAD = 1280 - 40 - 8
/** UDP payload of the padded MTU probe: a 1500-byte Ethernet MTU minus IPv4 and UDP headers (spec 13 §6). */
export const DGRAM_PROBE_PAYLOAD = 1500 - 20 - 8
/** Largest sealed payload on a path that has not probed: 1232 - 42 = 1190 (spec 13 §6); advertised in HELLO. */
export const DGRAM_SAFE_MTU = DGRAM_SAFE_PAYLOAD - DGRAM_DATA_OVERHEAD
/** Largest sealed payload on a path whose padded probe was answered: 1472 - 42 = 1430 (spec 13 §6). */
export const DGRAM_PROBED_MTU = DGRAM_PROBE_PAYLOAD - DGRAM_DATA_OVERHEAD
/** Offer (CONTROL channel 4) version and bounds (spec 13-datagram-link.md §4). */
export const OFFER_VERSION = 1
export const OFFER_PATH_KEY_LENGTH = 32
export const OFFER_MAX_ADDRESSES = 8
/** HKDF-SHA256 info of a direction's path key (spec 13-datagram-link.md §3). */
export const PATH_KEY_LABEL = 'PeerTap v1 datagram path key'
/** Timings (spec 13-datagram-link.md §5). */
export const DGRAM_TICK_MS = 50
export const DGRAM_PROBE_INTERVAL_MS = 250
export const DGRAM_REPROBE_INTERVAL_MS = 1000
/** While frames go out, or a PING is unanswered, a PING when no PONG came for this long... */
export const DGRAM_BUSY_PING_MS = 100
/**
 * ...and the path is lost when this many PINGs in a row are unanswered,
 * the first of them at least DGRAM_DEAD_MS ago: a run of misses, not one
 * lost datagram (at 5 % loss each way a PING's round trip fails 1 time in
 * 10; 5 in a row, about 1 in 100,000).
 */
export const DGRAM_DEAD_PINGS = 5
export const DGRAM_DEAD_MS = 500
/**
 * ...and no DATA arrived on the path for this long: frames coming in show
 * the path carries, whatever became of the PINGs (a receiver that drops
 * datagrams under load drops PINGs and PONGs with the rest). A path cut
 * one way is still left within a second: the far side, whose PINGs go
 * unanswered and which receives nothing, stops sending DATA within 500 ms.
 */
export const DGRAM_QUIET_MS = 250
/** An idle path PINGs this often (NAT bindings). */
export const DGRAM_KEEPALIVE_MS = 10_000
/** A peer sends unvalidated candidates at most this many times the bytes it received on the stream link (spec 13 §5). */
export const DGRAM_AMPLIFICATION_FACTOR = 3
