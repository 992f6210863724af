// Wire constants of invitations, each beside the section of
// docs/spec/15-invitations.md that defines it (docs/style.md §7).

/** §15.2: the text form starts with this, compared case-insensitively. */
export const CODE_PREFIX = 'peertap-invite:'
/** §15.2: the version byte of the binary payload this package writes and reads. */
export const CODE_VERSION = 1
/** §15.2: checksum = the first 5 bytes of derive_key(this, payload). */
export const CONTEXT_CODE_CHECKSUM = 'PeerTap v1 invitation code checksum'
/** §15.2: bytes of checksum; a damaged code passes with probability 2^-40. */
export const CODE_CHECKSUM_LENGTH = 5
/** §15.2: a text longer than this (in UTF-16 code units) is refused before any work. */
export const CODE_MAX_TEXT_LENGTH = 32_768
/** §15.1: the invitation's one-time secret. */
export const SECRET_LENGTH = 16
/** §15.1: a VLAN-ID. */
export const VLAN_ID_LENGTH = 32
/** §15.1: the owner's X25519 public key (06-hpke.md §2). */
export const HPKE_KEY_LENGTH = 32
/** §15.1: addresses in a code. */
export const MAX_ADDRESSES = 8
/** §15.1: UTF-8 bytes of one address. */
export const MAX_ADDRESS_BYTES = 255
/** §15.1: bytes of the relay ticket. */
export const MAX_TICKET_BYTES = 1024
/** §15.1: the largest expiresAt a code carries (u32 seconds, until 2106-02-07). */
export const MAX_EXPIRES_AT = 0xffff_ffff

/** §15.4: the first byte of a join request on CONTROL channel 9. */
export const JOIN_REQUEST_TYPE = 0x01
/** §15.5: the first byte of a verdict on CONTROL channel 9. */
export const JOIN_VERDICT_TYPE = 0x02
/** §15.4: HPKE info of a join request. */
export const JOIN_REQUEST_INFO = 'PeerTap v1 join-request'
/** §15.4: the largest key package a join request carries. */
export const MAX_KEY_PACKAGE_BYTES = 16_384
/** §15.4: 06-hpke.md §4: enc (32) and tag (16). */
export const HPKE_OVERHEAD = 48
/** §15.4: type, vlanId, HPKE overhead, secret and a one-byte key package. */
export const MIN_JOIN_REQUEST_LENGTH = 1 + VLAN_ID_LENGTH + HPKE_OVERHEAD + SECRET_LENGTH + 1
/** §15.4 */
export const MAX_JOIN_REQUEST_LENGTH =
  1 + VLAN_ID_LENGTH + HPKE_OVERHEAD + SECRET_LENGTH + MAX_KEY_PACKAGE_BYTES

/** §15.6: hash = derive_key(this, secret); the id is its first 8 bytes in hex. */
export const CONTEXT_INVITATION_SECRET = 'PeerTap v1 invitation secret'
/** §15.6: bytes of the hash that make the id. */
export const INVITATION_ID_BYTES = 8
/** §15.6 defaults: one use, 24 hours. */
export const DEFAULT_USES = 1
export const MAX_USES = 1000
export const DEFAULT_LIFETIME_SECONDS = 86_400
/** §15.6: the longest an invitation may live. */
export const MAX_LIFETIME_SECONDS = 365 * 86_400
/** §15.6: live invitations a book holds; ended ones are kept a day on top, up to MAX_BOOK_ENTRIES. */
export const MAX_LIVE_INVITATIONS = 4096
export const MAX_BOOK_ENTRIES = 8192
/** §15.6: how long an ended invitation is remembered, so that its redeemer hears why. */
export const ENDED_RETENTION_SECONDS = 86_400
/** §15.6: the record's format version. */
export const BOOK_RECORD_VERSION = 1

/** §15.7 */
export const CONTEXT_ULA_PREFIX = 'PeerTap v1 ULA prefix'
export const CONTEXT_ULA_INTERFACE = 'PeerTap v1 ULA interface'
/** §15.7: pools are /8 to /30. */
export const MIN_POOL_PREFIX = 8
export const MAX_POOL_PREFIX = 30
/** §15.7: the pool record's format version. */
export const POOL_RECORD_VERSION = 1

/** §15.8 door defaults. */
export const DEFAULT_SOURCE_RATE = 2
export const DEFAULT_SOURCE_BURST = 5
export const DEFAULT_GLOBAL_RATE = 50
export const DEFAULT_GLOBAL_BURST = 50
export const DEFAULT_MAX_SOURCES = 4096

/** §15.9: the owner's desk drops ended invitations from its book at most this often (seconds). */
export const DESK_PRUNE_INTERVAL_SECONDS = 60
