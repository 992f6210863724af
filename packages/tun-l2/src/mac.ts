/**
 * The TUN port's MAC address and the group MACs an IP destination maps to
 * (docs/spec/17-tun-l2.md §17.2, §17.5).
 */
import { blake3 } from '@noble/hashes/blake3.js'
import { TunL2Error } from './errors.ts'

/** The BLAKE3 derive_key context of a TUN port's MAC. */
export const TUN_MAC_CONTEXT = 'PeerTap v1 TUN MAC'

const encoder = new TextEncoder()
const contextBytes = encoder.encode(TUN_MAC_CONTEXT)

/**
 * A TUN port's MAC: the first 6 bytes of `derive_key("PeerTap v1 TUN MAC",
 * peerId ‖ vlanId)`, with the locally-administered bit (0x02 of the first
 * byte) set and the group bit (0x01) clear. `peerId` is the node's PeerId as
 * multihash bytes, `vlanId` the VLAN's 32-byte ID. Stable: the same node in
 * the same VLAN has the same MAC across restarts, so peers' ARP caches and
 * DHCP leases stay right; different in each VLAN, so no MAC links a node's
 * VLANs.
 */
export function tunMac(peerId: Uint8Array, vlanId: Uint8Array): Uint8Array {
  if (peerId.length === 0) throw new TunL2Error('tun-l2-invalid-options', 'peerId is empty')
  if (vlanId.length !== 32)
    throw new TunL2Error('tun-l2-invalid-options', `a VLAN-ID is 32 bytes, got ${vlanId.length}`)
  const material = new Uint8Array(peerId.length + 32)
  material.set(peerId)
  material.set(vlanId, peerId.length)
  const mac = blake3(material, { context: contextBytes, dkLen: 32 }).slice(0, 6)
  mac[0] = (mac[0]! | 0x02) & 0xfe
  return mac
}

export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])

/** The MAC an IPv4 multicast group maps to: 01:00:5e and the group's low 23 bits (RFC 1112 §6.4). */
export function ipv4MulticastMac(group: Uint8Array, offset = 0): Uint8Array {
  return new Uint8Array([
    0x01,
    0x00,
    0x5e,
    group[offset + 1]! & 0x7f,
    group[offset + 2]!,
    group[offset + 3]!,
  ])
}

/** The MAC an IPv6 multicast group maps to: 33:33 and the group's last 32 bits (RFC 2464 §7). */
export function ipv6MulticastMac(group: Uint8Array, offset = 0): Uint8Array {
  return new Uint8Array([
    0x33,
    0x33,
    group[offset + 12]!,
    group[offset + 13]!,
    group[offset + 14]!,
    group[offset + 15]!,
  ])
}

/** The solicited-node multicast group of an IPv6 address: ff02::1:ff00:0/104 and its last 24 bits (RFC 4291 §2.7.1). */
export function solicitedNode(address: Uint8Array): Uint8Array {
  const group = new Uint8Array(16)
  group[0] = 0xff
  group[1] = 0x02
  group[11] = 0x01
  group[12] = 0xff
  group[13] = address[13]!
  group[14] = address[14]!
  group[15] = address[15]!
  return group
}

/** The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A): 8 bytes. */
export function eui64(mac: Uint8Array): Uint8Array {
  return new Uint8Array([mac[0]! ^ 0x02, mac[1]!, mac[2]!, 0xff, 0xfe, mac[3]!, mac[4]!, mac[5]!])
}

/** The link-local address fe80::/64 with the MAC's modified EUI-64 (RFC 4862 §5.3). */
export function linkLocalOf(mac: Uint8Array): Uint8Array {
  const address = new Uint8Array(16)
  address[0] = 0xfe
  address[1] = 0x80
  address.set(eui64(mac), 8)
  return address
}
