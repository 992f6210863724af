// Wire constants and default bounds of docs/spec/05-fragmentation.md.

/** Fragment header length in bytes (spec §5.2): id u32 ‖ total u24 ‖ offset u24. */
export const FRAGMENT_HEADER_BYTES = 10

/** Byte offsets of the header fields (spec §5.2); all big-endian. */
export const ID_OFFSET = 0
export const TOTAL_OFFSET = 4
export const FRAGMENT_OFFSET_OFFSET = 7

/** The smallest valid fragment: a header and one payload byte (spec §5.2). */
export const MIN_FRAGMENT_BYTES = FRAGMENT_HEADER_BYTES + 1

/** The largest datagram the 24-bit total field can describe (spec §5.2). */
export const MAX_WIRE_DATAGRAM_BYTES = 0xff_ff_ff

/** Ids are 32-bit and wrap (spec §5.3). */
export const ID_MODULUS = 0x1_00_00_00_00

// Default bounds (spec §5.5).

/** 64 KiB plus 1 KiB of headroom, so a 65 535-byte GSO frame and a small header fit. */
export const DEFAULT_MAX_DATAGRAM_BYTES = 66_560
export const DEFAULT_MAX_FRAGMENTS_PER_DATAGRAM = 128
export const DEFAULT_MAX_REASSEMBLIES = 256
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024
export const DEFAULT_TIMEOUT_MS = 1_000
