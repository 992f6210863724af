/**
 * @packageDocumentation
 *
 * VLAN Forwarding Tokens for PeerTap, and for anyone who wants opaque,
 * rotating forwarding labels: VLAN-IDs and the MVLAN-ID, VFT time windows,
 * VFT derivation, and the set of VFTs a port must subscribe to. Pure: no
 * I/O, no clock (callers pass the time), two small dependencies
 * (@noble/hashes; @peertap/errors, the base of `VftError`).
 * Normative definitions: docs/spec/01-identifiers.md and docs/spec/02-vft.md.
 *
 * @example
 * ```ts
 * import { deriveVlanId, formatVlanId, parseMac, VftDeriver, windowOf, subscriptionSet } from '@peertap/vft'
 *
 * const owner = Uint8Array.from(Buffer.from('00240801122036d1c40c1b4b6e3a5f2c7a5c1cfb3b2e3c0f4b4c0e86a1f0b7d0c8e4d2a5f6b7c8', 'hex'))
 * const vlanId = deriveVlanId(owner, 'lab')
 * console.log(formatVlanId(vlanId)) // 52 lowercase base32 characters
 *
 * const vfts = new VftDeriver(new Uint8Array(32).fill(1)) // the epoch's vftKey
 * const vft = vfts.derive(parseMac('02:00:00:00:00:01'), windowOf(Date.now() / 1000))
 *
 * const subs = subscriptionSet({
 *   unixSeconds: Date.now() / 1000,
 *   epochs: [{ epoch: 0, deriver: vfts }],
 *   unicastMacs: [parseMac('02:00:00:00:00:01')],
 *   multicastMacs: [parseMac('33:33:00:00:00:01')],
 * })
 * ```
 */

export {
  BROADCAST_MAC,
  MAC_LENGTH,
  MAX_WINDOW,
  MVLAN_ID_CONTEXT,
  PREVIOUS_WINDOW_GRACE_SECONDS,
  PSK_VLAN_ID_CONTEXT,
  SKEW_WARN_SECONDS,
  VFT_KEY_LENGTH,
  VFT_LABEL,
  VFT_LENGTH,
  VLAN_ID_CONTEXT,
  VLAN_ID_LENGTH,
  VLAN_NAME_MAX_BYTES,
  VLAN_NAME_MIN_BYTES,
  WINDOW_SECONDS,
} from './constants.ts'
export { VftError, type VftErrorCode } from './errors.ts'
export { formatMac, isBroadcastMac, isGroupMac, type Mac, parseMac } from './mac.ts'
export {
  diffSubscriptions,
  type EpochVfts,
  type PortSubscriptionInput,
  type Subscription,
  type SubscriptionDiff,
  subscriptionSet,
  vftKey,
} from './subscription.ts'
export { deriveVft, type Vft, VftDeriver } from './vft.ts'
export {
  assertPeerIdBytes,
  deriveMvlanId,
  deriveVlanId,
  formatVlanId,
  normaliseVlanName,
  parseVlanId,
  pskVlanId,
  type VlanId,
} from './vlan-id.ts'
export {
  heldWindows,
  secondsUntilHeldWindowsChange,
  type Window,
  windowOf,
  windowStart,
} from './window.ts'
