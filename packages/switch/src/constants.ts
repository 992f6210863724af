/**
 * Constants of the CryptoVLAN switch, each beside the section that defines it.
 */

import { VNET_HEADER_LENGTH } from './vnet.ts'

/** Plaintext kinds (docs/design.md §5; docs/spec/04-sealed-payload.md §1). */
export const KIND_ETHERNET = 0
export const KIND_FRAGMENT = 1
export const KIND_CONTROL = 2
export const KIND_GSO = 3

/** Hop limit of a frame this node originates (docs/spec/10-switch.md §3). */
export const DEFAULT_HOP_LIMIT = 8

/** An Ethernet header: destination MAC, source MAC, EtherType. */
export const ETHERNET_HEADER_LENGTH = 14

/** A MAC learned behind a local port is forgotten after this long unheard (802.1D default). */
export const MAC_AGING_SECONDS = 300
/** At most this many MACs learned per port; more are not learned and are counted. */
export const MAX_LEARNED_MACS = 1024

/**
 * Largest Ethernet frame the switch takes from a port (docs/spec/10-switch.md):
 * a GSO frame, an IP packet of up to 65 535 bytes behind an Ethernet header
 * and one 802.1Q tag. Kind 1 + a 10-byte virtio-net header + this, sealed,
 * stays within the trunk's 65 536 + 1024 message limit.
 */
export const MAX_FRAME_LENGTH = 65_535 + ETHERNET_HEADER_LENGTH + 4

/**
 * Most bytes sealing adds to a plaintext (docs/spec/04-sealed-payload.md):
 * config 1 ‖ KID 8 ‖ CTR of at most 3 bytes (counters stay below 2^23,
 * §5 rule 5) before it, the 16-byte tag after. A plaintext of
 * `maxSealed - SEAL_OVERHEAD_MAX` bytes always seals to `maxSealed` or less.
 */
export const SEAL_OVERHEAD_MAX = 1 + 8 + 3 + 16

/**
 * The largest port MTU (the IP packet of an untagged Ethernet frame) whose
 * frames seal whole within `maxSealed` in the largest form the send path
 * gives them: kind 3, a virtio-net header, the frame (1 + 10 + 14 + MTU,
 * sealed). At this MTU nothing full-sized is fragmented on a path of
 * `maxSealed`, and the port's TCP segments cross it with their boundaries
 * instead of being cut again (10-switch.md §10.7). For the probed datagram
 * path (1430) it is 1377, the node's default TAP MTU.
 */
export function portMtuFitting(maxSealed: number): number {
  return maxSealed - SEAL_OVERHEAD_MAX - 1 - VNET_HEADER_LENGTH - ETHERNET_HEADER_LENGTH
}

/** What the send path does with a kind-3 TCP GSO frame too large for the path (10-switch.md §10.7). */
export type LargeGso = 'segment' | 'fragment' | 'stream'
