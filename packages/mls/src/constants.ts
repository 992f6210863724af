/**
 * Constants of PeerTap's MLS layer, each beside the section of
 * docs/spec/11-mls.md that defines it. The exporter labels themselves live
 * in @peertap/crypto (03-keys.md §3) and are imported from there.
 */

/** 11-mls.md §1: the one MLS ciphersuite of protocol v1 (RFC 9420 §17.1, suite 0x0001). */
export const CIPHERSUITE_NAME = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'
/** 11-mls.md §1: its IANA number. */
export const CIPHERSUITE_ID = 1

/** 11-mls.md §2: the VLAN-ID is the MLS group ID, 32 bytes. */
export const VLAN_ID_LENGTH = 32

/** 11-mls.md §2: label of the identity key's signature over the MLS signature key. */
export const CREDENTIAL_BINDING_LABEL = 'PeerTap v1 mls-credential'
/** 11-mls.md §5: label of the owner's signature over an admin lease. */
export const LEASE_LABEL = 'PeerTap v1 mls-lease'

/** 11-mls.md §2: an Ed25519 PeerId is the identity multihash of its protobuf public key. */
export const ED25519_PEER_ID_PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20)
/** 11-mls.md §2: 6-byte prefix and the 32-byte key. */
export const ED25519_PEER_ID_LENGTH = 38
/** 11-mls.md §2: longest PeerId a credential or lease may name. */
export const MAX_PEER_ID_LENGTH = 64
/** Ed25519 public keys and seeds. */
export const ED25519_KEY_LENGTH = 32
/** Ed25519 signatures. */
export const ED25519_SIGNATURE_LENGTH = 64

/** 11-mls.md §5: clock skew allowed between an admin's commit time and a receiver's clock. */
export const LEASE_CLOCK_SKEW_SECONDS = 120
/** 11-mls.md §5: longest lease an owner issues (one day); shorter is better. */
export const MAX_LEASE_SECONDS = 86_400
/** 11-mls.md §5: first byte of a commit's authenticated data when it carries a lease. */
export const AAD_LEASE = 0x01
/** 11-mls.md §12.1: label of the owner's signature over a transfer of ownership. */
export const TRANSFER_LABEL = 'PeerTap v1 mls-transfer'
/** 11-mls.md §12.1: first byte of a commit's authenticated data when it carries a transfer. */
export const AAD_TRANSFER = 0x02

/** 11-mls.md §6: version byte of a commit bundle. */
export const BUNDLE_VERSION = 1
/** 11-mls.md §6: most proposals one bundle may carry. */
export const MAX_BUNDLE_PROPOSALS = 1024
/** 11-mls.md §6: commits a member keeps in its log for others to catch up from. */
export const DEFAULT_LOG_LIMIT = 64

/** 11-mls.md §7: magic and version of the persisted record. */
export const RECORD_MAGIC = Uint8Array.of(0x50, 0x54, 0x4d, 0x4c, 0x53, 0x02) // "PTMLS" 2
/** 11-mls.md §7: the earlier record version (no pendingUpdate), still loaded. */
export const RECORD_VERSION_1 = 0x01
/** 11-mls.md §7: SHA-256 checksum at the end of the record. */
export const RECORD_CHECKSUM_LENGTH = 32
