/**
 * Wire constants of the data path, each beside the spec section that defines
 * it. docs/spec/03-keys.md (keys, KIDs) and docs/spec/04-sealed-payload.md
 * (sealed payload, replay window, KID cache) are normative; docs/design.md §1, §4, §5 say why.
 */

// ---------------------------------------------------------------------------
// BLAKE3 derive_key contexts (03-keys.md §2). Every string starts with
// "PeerTap v1" so a v2 never collides with v1 (spec README, Conventions).
// ---------------------------------------------------------------------------

/** 03-keys.md §2: frameBase of a PSK VLAN or the MVLAN. */
export const CONTEXT_PSK_FRAME = 'PeerTap v1 PSK frame'
/** 03-keys.md §2: vftKey of a PSK VLAN or the MVLAN. */
export const CONTEXT_PSK_VFT = 'PeerTap v1 PSK vft'
/** 03-keys.md §2: hpKey (header protection) of a PSK VLAN or the MVLAN. */
export const CONTEXT_PSK_HEADER = 'PeerTap v1 PSK header'
/** 03-keys.md §2: authSeed (relay-auth Ed25519 seed) of a PSK VLAN or the MVLAN. */
export const CONTEXT_PSK_RELAY_AUTH = 'PeerTap v1 PSK relay-auth'

// MLS exporter labels (03-keys.md §3): the same four secrets on an MLS VLAN,
// exported by @peertap/mls with the VLAN-ID as context.

/** 03-keys.md §3: MLS-Exporter label for frameBase. */
export const EXPORTER_LABEL_FRAME = 'PeerTap v1 frame'
/** 03-keys.md §3: MLS-Exporter label for vftKey. */
export const EXPORTER_LABEL_VFT = 'PeerTap v1 vft'
/** 03-keys.md §3: MLS-Exporter label for hpKey. */
export const EXPORTER_LABEL_HEADER = 'PeerTap v1 header'
/** 03-keys.md §3: MLS-Exporter label for authSeed. */
export const EXPORTER_LABEL_RELAY_AUTH = 'PeerTap v1 relay-auth'

/** 03-keys.md §2, §3: every epoch secret is 32 bytes. */
export const EPOCH_SECRET_LENGTH = 32

// ---------------------------------------------------------------------------
// Per-sender keys (03-keys.md §5): HKDF-Expand-SHA256 info labels. The info
// is the ASCII label directly followed by the binary field, no separator.
// ---------------------------------------------------------------------------

/** 03-keys.md §5: info label of the sender secret, followed by the 8-byte KID. */
export const LABEL_SENDER = 'PeerTap v1 sender'
/** 03-keys.md §5: info label of the AES-256-GCM key. */
export const LABEL_KEY = 'PeerTap v1 key'
/** 03-keys.md §5: info label of the 12-byte nonce salt. */
export const LABEL_SALT = 'PeerTap v1 salt'

/** 03-keys.md §5: sender secret and AES-256 key length. */
export const SENDER_SECRET_LENGTH = 32
/** 03-keys.md §5: AES-256-GCM key length. */
export const AEAD_KEY_LENGTH = 32
/** 03-keys.md §6: AES-GCM nonce (and salt) length. */
export const NONCE_LENGTH = 12
/** 03-keys.md §6: the counter occupies the nonce's last 7 bytes. */
export const NONCE_COUNTER_BYTES = 7

// ---------------------------------------------------------------------------
// KIDs and generations (03-keys.md §4)
// ---------------------------------------------------------------------------

/** 03-keys.md §4: a KID is a u64, 8 bytes big-endian on the wire. */
export const KID_LENGTH = 8
/** 03-keys.md §4: MLS KID leaf index is a u24. */
export const MAX_LEAF_INDEX = 0xff_ffff
/**
 * 03-keys.md §4, 04-sealed-payload.md §5 rule 6: a sender moves to a new key
 * when its counter reaches 2^23 (the AES-GCM usage limit of RFC 9001 §6.6);
 * receivers drop counters at or above it.
 */
export const COUNTER_LIMIT = 0x80_0000

// ---------------------------------------------------------------------------
// Sealed payload (04-sealed-payload.md)
// ---------------------------------------------------------------------------

/** 04-sealed-payload.md §2: VFT length, the first part of the AAD. */
export const VFT_LENGTH = 16
/** 04-sealed-payload.md §2: config = CONFIG_BASE | (ctrLen - 1) (RFC 9605 §4.3 |X|K|Y|C|, K = 7). */
export const CONFIG_BASE = 0xf8
/** 04-sealed-payload.md §2: the smallest CTR field. */
export const MIN_CTR_LENGTH = 1
/** 04-sealed-payload.md §2: the largest CTR field. */
export const MAX_CTR_LENGTH = 7
/** 04-sealed-payload.md §2: config u8 ‖ KID 8: the header without its CTR. */
export const HEADER_FIXED_LENGTH = 1 + KID_LENGTH
/** 04-sealed-payload.md §2: the longest header (16 bytes, the size of the mask). */
export const MAX_HEADER_LENGTH = HEADER_FIXED_LENGTH + MAX_CTR_LENGTH
/** 04-sealed-payload.md §3: AES-256-GCM tag length (also the header-protection sample). */
export const TAG_LENGTH = 16
/** 04-sealed-payload.md §2: plaintext carries at least its kind byte. */
export const MIN_PLAINTEXT_LENGTH = 1
/** 04-sealed-payload.md §5 rule 1: header (ctrLen 1) + 1 + tag. */
export const MIN_SEALED_LENGTH =
  HEADER_FIXED_LENGTH + MIN_CTR_LENGTH + MIN_PLAINTEXT_LENGTH + TAG_LENGTH

// ---------------------------------------------------------------------------
// Receiver state (04-sealed-payload.md §6, §7)
// ---------------------------------------------------------------------------

/** 04-sealed-payload.md §6: frames per KID the sliding replay window tracks. */
export const REPLAY_WINDOW_SIZE = 2048
/** 04-sealed-payload.md §7: default bound of a receiver's KID cache. */
export const DEFAULT_MAX_KIDS = 1024

// ---------------------------------------------------------------------------
// Control path: HPKE and membership proofs (06-hpke.md, 07-membership-proof.md).
// Appended by the control-path half; VFT_LENGTH above is shared.
// ---------------------------------------------------------------------------

/** 06-hpke.md §3: every HPKE info starts with this, as every v1 string does. */
export const HPKE_INFO_PREFIX = 'PeerTap v1'
/** 06-hpke.md §1, RFC 9180 §7.1: DHKEM(X25519, HKDF-SHA256). */
export const HPKE_KEM_ID = 0x0020
/** 06-hpke.md §1, RFC 9180 §7.2: HKDF-SHA256. */
export const HPKE_KDF_ID = 0x0001
/** 06-hpke.md §1, RFC 9180 §7.3: AES-256-GCM. */
export const HPKE_AEAD_ID = 0x0002
/** 06-hpke.md §2: Nenc, Npk and Nsk of DHKEM(X25519): raw 32-byte X25519 keys. */
export const HPKE_ENC_LENGTH = 32
export const HPKE_PUBLIC_KEY_LENGTH = 32
export const HPKE_PRIVATE_KEY_LENGTH = 32
/** 06-hpke.md §4: Nt of AES-256-GCM. */
export const HPKE_TAG_LENGTH = 16
/** 06-hpke.md §4: the shortest sealed message, enc ‖ tag of an empty plaintext. */
export const HPKE_MIN_SEALED_LENGTH = HPKE_ENC_LENGTH + HPKE_TAG_LENGTH
/** 06-hpke.md §2, §3: longest info and ikm (@hpke/core's INPUT_LENGTH_LIMIT). */
export const HPKE_MAX_INPUT_LENGTH = 8192
/** 06-hpke.md §2: shortest ikm for DeriveKeyPair (RFC 9180 §7.1.3: at least Nsk bytes of entropy). */
export const HPKE_MIN_IKM_LENGTH = 32

/** 07-membership-proof.md §3: prefix of the signed message, 16 ASCII bytes, never on the wire. */
export const PROOF_LABEL = 'PeerTap v1 proof'
/** 07-membership-proof.md §1: an epoch's authSeed is an RFC 8032 Ed25519 private key. */
export const PROOF_SEED_LENGTH = 32
/** 07-membership-proof.md §2: Ed25519 public key and signature. */
export const PROOF_PUBLIC_KEY_LENGTH = 32
export const PROOF_SIGNATURE_LENGTH = 64
/** 07-membership-proof.md §2: pk ‖ sig, before the body. */
export const PROOF_HEADER_LENGTH = PROOF_PUBLIC_KEY_LENGTH + PROOF_SIGNATURE_LENGTH
/** 07-membership-proof.md §2: u8 PeerId length, u64 expiry, u32 window, u16 VFT count. */
export const PROOF_BODY_FIXED_LENGTH = 1 + 8 + 4 + 2
/**
 * 07-membership-proof.md §2: longest PeerId. libp2p inlines a public key only
 * when its encoding is at most 42 bytes, so a PeerId multihash is at most 44.
 */
export const PROOF_PEER_ID_MAX_LENGTH = 64
/** 07-membership-proof.md §2: at most 1024 VFTs (16 KiB) per proof, a quarter of a 64 KiB message. */
export const PROOF_MAX_VFTS = 1024
/** 07-membership-proof.md §4: a VFT window, the same 600 s as @peertap/vft (02-vft.md §2.1). */
export const PROOF_WINDOW_SECONDS = 600
/** 07-membership-proof.md §4: clock skew a verifier allows either way (02-vft.md §2.3). */
export const PROOF_CLOCK_SKEW_SECONDS = 120
