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
 * one plaintext byte (the kind) and the tag (DESIGN.md 5; spec 04). A
 * shorter one cannot open anywhere, so a relay drops it as `malformed`.
 */
export const MIN_SEALED_LENGTH = 1 + 8 + 1 + 1 + TAG_LENGTH
/**
 * Default largest sealed payload a table forwards (spec 09-forwarding.md §5):
 * a 64 KiB GSO frame, its kind byte and 12-byte virtio-net header, a 16-byte
 * header and the tag, rounded up. The max message size of the trunk is at
 * least 64 KiB plus overhead (DESIGN.md 5).
 */
export const DEFAULT_MAX_SEALED_LENGTH = 65_536 + 64
/**
 * Bytes a FRAME message adds around the sealed payload: hop limit u8 and the
 * VFT (DESIGN.md 5). Byte limits charge `copies × (FRAME_OVERHEAD + sealed)`.
 */
export const FRAME_OVERHEAD = 1 + VFT_LENGTH
/** Largest hop limit: it is a u8 on the wire (DESIGN.md 5). */
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
/** Default number of tags the duplicate cache remembers (spec 09-forwarding.md §6); 0 turns it off. */
export const DEFAULT_DUPLICATE_CACHE_SIZE = 1 << 17
