/**
 * Wire and derivation constants of the VLAN Forwarding Token layer. Each one
 * cites the section of docs/spec/ that defines it.
 */

/** BLAKE3 derive_key context for VLAN-IDs (spec 01-identifiers.md §2). */
export const VLAN_ID_CONTEXT = 'PeerTap v1 VLAN-ID'
/** BLAKE3 derive_key context for the MVLAN-ID (spec 01-identifiers.md §3). */
export const MVLAN_ID_CONTEXT = 'PeerTap v1 MVLAN-ID'
export const PSK_VLAN_ID_CONTEXT = 'PeerTap v1 PSK VLAN-ID'
/** Prefix of the keyed-BLAKE3 input of a VFT (spec 02-vft.md §2). */
export const VFT_LABEL = 'PeerTap v1 vft'

/** Length of a VLAN-ID and an MVLAN-ID in bytes (spec 01-identifiers.md §2). */
export const VLAN_ID_LENGTH = 32
/** Length of a VFT in bytes (spec 02-vft.md §2). */
export const VFT_LENGTH = 16
/** Length of a vftKey in bytes: a BLAKE3 key (spec 02-vft.md §2). */
export const VFT_KEY_LENGTH = 32
/** Length of an Ethernet MAC address in bytes. */
export const MAC_LENGTH = 6

/** Shortest and longest VLAN name, in UTF-8 bytes after NFC (spec 01-identifiers.md §1). */
export const VLAN_NAME_MIN_BYTES = 1
export const VLAN_NAME_MAX_BYTES = 64

/** Length of a VFT window in seconds (spec 02-vft.md §1). */
export const WINDOW_SECONDS = 600
/**
 * For this long after a window starts, a node still holds the previous
 * window's VFTs, so clocks may differ by this much either way (spec 02-vft.md §3).
 */
export const PREVIOUS_WINDOW_GRACE_SECONDS = 120
/** Clock skew against a peer beyond which a node warns (spec 02-vft.md §3). */
export const SKEW_WARN_SECONDS = 60
/** Windows are carried as u32 on the wire (spec 02-vft.md §2). */
export const MAX_WINDOW = 0xffff_ffff

/** ff:ff:ff:ff:ff:ff, subscribed on every port (spec 02-vft.md §3). */
export const BROADCAST_MAC: Uint8Array = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
