/**
 * A VLAN's IPv6 unique local addresses (docs/spec/15-invitations.md §15.7):
 * one RFC 4193 /64 per VLAN and one stable interface ID per member, both
 * derived, so every member computes every other member's address and no
 * one assigns or stores them.
 */
import { concat, deriveBytes, isBytes, isPeerIdBytes } from './bytes.ts'
import { CONTEXT_ULA_INTERFACE, CONTEXT_ULA_PREFIX, VLAN_ID_LENGTH } from './constants.ts'
import { InviteError } from './errors.ts'

/** §15.7: `fd` ‖ 40-bit global ID ‖ subnet 0x0000: the VLAN's /64, 8 bytes. */
export function ulaPrefix(vlanId: Uint8Array): Uint8Array {
  if (!isBytes(vlanId, VLAN_ID_LENGTH))
    throw new InviteError('invalid-argument', 'vlanId must be 32 bytes')
  const prefix = new Uint8Array(8)
  prefix[0] = 0xfd
  prefix.set(deriveBytes(CONTEXT_ULA_PREFIX, vlanId, 5), 1)
  return prefix
}

/**
 * RFC 5453's reserved interface IDs, and all-zero (the subnet-router
 * anycast): RFC 2526's subnet anycast block and the IANA Ethernet block
 * 0200:5EFF:FE00:0000 to 0200:5EFF:FEFF:FFFF (which holds RFC 6543's
 * Proxy Mobile IPv6 ID).
 */
export function isReservedInterfaceId(iid: Uint8Array): boolean {
  const high = ((iid[0]! << 24) | (iid[1]! << 16) | (iid[2]! << 8) | iid[3]!) >>> 0
  const low = ((iid[4]! << 24) | (iid[5]! << 16) | (iid[6]! << 8) | iid[7]!) >>> 0
  if (high === 0 && low === 0) return true
  if (high === 0xfdff_ffff && low >= 0xffff_ff80) return true
  if (high === 0x0200_5eff && low >>> 24 === 0xfe) return true
  return false
}

/**
 * The member's address: the VLAN's /64 ‖ the first 8-byte group of
 * derive_key("PeerTap v1 ULA interface", vlanId ‖ peerId)'s output that is
 * not a reserved interface ID (§15.7). Stable: the same inputs give the same
 * 16 bytes on every node.
 */
export function ulaAddress(vlanId: Uint8Array, peerId: Uint8Array): Uint8Array {
  if (!isBytes(peerId) || !isPeerIdBytes(peerId))
    throw new InviteError('invalid-argument', 'peerId must be PeerId multihash bytes')
  const prefix = ulaPrefix(vlanId)
  const material = concat(vlanId, peerId)
  // Each group is reserved with probability below 2^-23; read on as far as needed.
  for (let groups = 4; ; groups *= 4) {
    const stream = deriveBytes(CONTEXT_ULA_INTERFACE, material, 8 * groups)
    for (let g = 0; g < groups; g++) {
      const iid = stream.subarray(8 * g, 8 * g + 8)
      if (!isReservedInterfaceId(iid)) return concat(prefix, iid)
    }
  }
}

/** RFC 5952 text of a 16-byte IPv6 address: lower case, the longest run of zero groups (two or more, the first if tied) as `::`. */
export function formatIpv6(address: Uint8Array): string {
  if (!isBytes(address, 16))
    throw new InviteError('invalid-argument', 'an IPv6 address is 16 bytes')
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((address[i]! << 8) | address[i + 1]!)
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':')
  if (bestStart < 0) return hex(0, 8)
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`
}

/** The VLAN's /64 as CIDR text, `fdxx:xxxx:xxxx::/64`. */
export function formatUlaPrefix(vlanId: Uint8Array): string {
  return `${formatIpv6(concat(ulaPrefix(vlanId), new Uint8Array(8)))}/64`
}
