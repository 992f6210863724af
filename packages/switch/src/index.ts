/**
 * @packageDocumentation
 *
 * The CryptoVLAN switch of a PeerTap node: VLANs with their epoch keys,
 * local ports (TAP devices, TUN-L2, 802.1Q trunks), MAC learning with aging,
 * the subscriptions the node must hold (docs/spec/02-vft.md §4), the send
 * path (learn, VFT choice, seal; src/send.ts) and the receive path (VFT
 * lookup, replay check, open, local delivery; src/receive.ts). Pure:
 * devices, the forwarding table and the clock come in as arguments, so it
 * runs the same over real TAP devices and libp2p links or in a test.
 * Frames led by a virtio-net header (kind 3: partial checksums, GSO) are
 * checked and, for a port without the header, finished in software
 * (src/vnet.ts: `checkVnetFrame`, `toPlainFrames`).
 *
 * @example
 * ```ts
 * import { derivePskEpochSecrets } from '@peertap/crypto'
 * import { Switch } from '@peertap/switch'
 *
 * const sw = new Switch({ hasRemoteSubscriber: (vft) => table.hasSubscriber(vft) })
 * sw.addVlan('lab', { kind: 'psk', epoch: 0, secrets: derivePskEpochSecrets(secret) })
 * sw.addPort('lab', 'tap0', { mac: tapMac, writeFrames: (frames) => tap.writeBatch(frames) })
 * const change = sw.refresh(Date.now() / 1000)          // VFTs to SUB/UNSUB
 * const sealed = sw.fromPort('lab', 'tap0', framesFromTap, Date.now() / 1000)
 * sw.receive(framesRoutedHere, now)                        // opened, replay-checked, written to the TAP
 * ```
 */

export { type CoalesceCounters, coalesceTcp, MAX_COALESCED_SEGMENTS } from './coalesce.ts'
export {
  DEFAULT_HOP_LIMIT,
  ETHERNET_HEADER_LENGTH,
  KIND_CONTROL,
  KIND_ETHERNET,
  KIND_FRAGMENT,
  KIND_GSO,
  type LargeGso,
  MAC_AGING_SECONDS,
  MAX_LEARNED_MACS,
  portMtuFitting,
  SEAL_OVERHEAD_MAX,
} from './constants.ts'
export { SwitchError, type SwitchErrorCode } from './errors.ts'
export {
  type LocalSubscription,
  type ReceivedFrame,
  type SealedFrame,
  type SubscriptionChange,
  Switch,
  type SwitchCounters,
  type SwitchInit,
  type VlanCountersOut,
} from './switch.ts'
export { VftMap } from './vft-map.ts'
export type { Epoch, EpochKeys, PortDevice, Vlan, VlanCounters } from './vlan.ts'
export {
  checkVnetFrame,
  readVnetHeader,
  segmentTcpToFit,
  toPlainFrames,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_GSO_UDP,
  VNET_GSO_UDP_L4,
  VNET_HEADER_LENGTH,
  type VnetDropReason,
  type VnetHeader,
  withZeroVnetHeader,
  writeVnetHeader,
} from './vnet.ts'
