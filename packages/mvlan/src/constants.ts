// Wire constants of the fabric, each beside the section of
// docs/spec/16-fabric.md that defines it (docs/style.md §7).

/** §16.1: the fabric secret deployments SHOULD use (any non-empty length is accepted). */
export const FABRIC_SECRET_LENGTH = 32
/** §16.1: a port's MAC = the first 6 bytes of derive_key(this, peerId), locally administered unicast. */
export const CONTEXT_MVLAN_MAC = 'PeerTap v1 MVLAN MAC'
/** §16.1 */
export const MAC_LENGTH = 6
/** §16.1: 32-byte Ed25519 keys (RFC 8032). */
export const KEY_LENGTH = 32
/** RFC 8032: a signature. */
export const SIGNATURE_LENGTH = 64

/** §16.2: the version byte of a fabric epoch statement. */
export const STATEMENT_VERSION = 0x01
/** §16.2: the root signs this ASCII label followed by the statement's first 77 bytes. */
export const STATEMENT_LABEL = 'PeerTap v1 fabric epoch'
/** §16.2: version, rootKey, epoch, credentialKey, issuedAt. */
export const STATEMENT_BODY_LENGTH = 1 + KEY_LENGTH + 4 + KEY_LENGTH + 8
/** §16.2: the body and the signature, exactly. */
export const STATEMENT_LENGTH = STATEMENT_BODY_LENGTH + SIGNATURE_LENGTH
/** §16.2: the largest epoch number (u32). */
export const MAX_EPOCH = 0xffff_ffff

/** §16.3: the version byte of a presence record. */
export const PRESENCE_VERSION = 0x01
/** §16.3: the record's signature covers this ASCII label followed by the record without its signature. */
export const PRESENCE_LABEL = 'PeerTap v1 presence'
/** §16.3: the largest record, signature included. */
export const MAX_RECORD_BYTES = 1200
/** §16.3: role byte values. */
export const ROLE_NODE = 0
export const ROLE_RELAY = 1
/** §16.3: addresses in a record, and UTF-8 bytes of one. */
export const MAX_ADDRESSES = 8
export const MAX_ADDRESS_BYTES = 255
/** §16.3: VLANs in a record, and UTF-8 bytes of one's name. */
export const MAX_VLANS = 32
export const MAX_VLAN_NAME_BYTES = 64
/** §16.3: a VLAN-ID. */
export const VLAN_ID_LENGTH = 32
/** §16.3: the largest issuedAt and expiresAt (u32 unix seconds, until 2106). */
export const MAX_TIME = 0xffff_ffff
/** §16.3: the largest load (u16). */
export const MAX_LOAD = 0xffff
/** §16.3: the largest seq (u64). */
export const MAX_SEQ = 0xffff_ffff_ffff_ffffn
/** §16.3: version, role, peerIdLength, seq, issuedAt, expiresAt, addressCount, vlanCount, load, signature. */
export const RECORD_FIXED_LENGTH = 1 + 1 + 1 + 8 + 4 + 4 + 1 + 1 + 2 + SIGNATURE_LENGTH
/** §16.1 of 01-identifiers.md: an Ed25519 PeerId is this prefix and the 32-byte key. */
export const ED25519_PEER_ID_PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20)
export const ED25519_PEER_ID_LENGTH = ED25519_PEER_ID_PREFIX.length + KEY_LENGTH

/** §16.5: the default longest lifetime (expiresAt − issuedAt) a directory accepts. */
export const PRESENCE_MAX_LIFETIME_SECONDS = 3600

/** §16.4: the ethertype of a presence frame on the MVLAN. */
export const PRESENCE_ETHERTYPE = 0x88b5
/** §16.4: the type byte after the ethertype, and the version byte of a batch. */
export const PRESENCE_FRAME_TYPE = 0x01
export const PRESENCE_BATCH_VERSION = 0x01
/** §16.4: the Ethernet header: dst, src, ethertype. */
export const ETHERNET_HEADER_LENGTH = 14
/** §16.4: the trunk CONTROL channel of presence batches. */
export const PRESENCE_CONTROL_CHANNEL = 12
/** §16.4: the largest batch, framing included (1 MiB). */
export const MAX_BATCH_BYTES = 1_048_576
/** §16.4: records in one batch. */
export const MAX_BATCH_RECORDS = 4096
/**
 * What a sender keeps each batch to: one trunk message (08-trunk.md §4.6;
 * channel 12 is not fragmented), with room for the CONTROL header. A
 * larger directory goes in several batches (`encodePresenceBatches`).
 */
export const BATCH_SEND_BYTES = 60_000
/** §16.4: version and count. */
export const BATCH_HEADER_LENGTH = 3
/** §16.4: each record's u16 length. */
export const BATCH_RECORD_OVERHEAD = 2

/** §16.5 directory defaults. */
export const DEFAULT_MAX_PEERS = 4096
export const DEFAULT_MAX_RELAYS = 64
export const DEFAULT_RECORDS_PER_PEER_PER_MINUTE = 6
export const DEFAULT_CLOCK_SKEW_SECONDS = 300
/** §16.5: the rate limit's window. */
export const RATE_WINDOW_SECONDS = 60
