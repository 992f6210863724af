/**
 * Limits and defaults of the device I/O layer, each beside its source.
 */

/** Interface names: at most IFNAMSIZ - 1 bytes (linux/if.h). */
export const NAME_MAX_BYTES = 15

/** tun.c: min_mtu = MIN_MTU (68), max_mtu = MAX_MTU (65535). */
export const MIN_MTU = 68
export const MAX_MTU = 65_535

/** An Ethernet header (14) plus the 802.1Q tag tun re-inserts on read (4). */
export const ETH_HLEN = 14
export const VLAN_HLEN = 4

/**
 * The default read size: the largest frame a TAP device can hand over at the
 * largest MTU, so no frame is ever cut short whatever MTU is set later.
 */
export const FRAME_MAX = MAX_MTU + ETH_HLEN + VLAN_HLEN

/**
 * Frames per batch: the reader returns earlier when the device has nothing
 * more to read (EAGAIN), so small bursts are not delayed. 64, as
 * wireguard-go's IdealBatchSize.
 */
export const BATCH_FRAMES = 64

/** Slots in a reader's pool: batches JavaScript may hold at once. */
export const SLOTS = 4

/** Bounds the addon accepts (it re-checks them). */
export const MAX_SLOTS = 1024
export const MAX_BATCH_FRAMES = 4096
export const MAX_ROOM = 4096
export const MAX_SLOT_BYTES = 64 * 1024 * 1024

/** The tun clone device (Documentation/networking/tuntap.rst). */
export const CLONE_DEVICE = '/dev/net/tun'

/** Interface flags, linux/if.h. */
export const IFF_UP = 0x1
export const IFF_RUNNING = 0x40

/** ARPHRD_ETHER, linux/if_arp.h: the hardware type of a TAP device. */
export const ARPHRD_ETHER = 1
