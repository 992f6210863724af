import { bytesToHex } from '@noble/hashes/utils.js'
import { BROADCAST_MAC } from './constants.ts'
import { assertMac, type Mac } from './mac.ts'
import type { Vft, VftDeriver } from './vft.ts'
import { heldWindows, type Window } from './window.ts'

/** The VFT deriver of one epoch of a VLAN, labelled the way the caller likes. */
export interface EpochVfts<E = number> {
  /** The caller's name for the epoch (an MLS epoch number, say); returned with each subscription. */
  readonly epoch: E
  readonly deriver: VftDeriver
}

/** What a port of a VLAN must receive at a moment (spec 02-vft.md §3). */
export interface PortSubscriptionInput<E = number> {
  readonly unixSeconds: number
  /** The current epoch first; then the previous one while an epoch change settles. */
  readonly epochs: readonly EpochVfts<E>[]
  /** The port's own MAC(s) and every MAC learned behind a bridged TAP. */
  readonly unicastMacs: readonly Mac[]
  /** The multicast MACs the interface has joined (its device multicast list). */
  readonly multicastMacs?: readonly Mac[]
}

/** One VFT a port subscribes to, and what it stands for (which only the node knows). */
export interface Subscription<E = number> {
  readonly vft: Vft
  readonly mac: Mac
  readonly window: Window
  readonly epoch: E
}

/**
 * The subscription set of a port (spec 02-vft.md §3): for each held epoch,
 * each held window, and each of the port's MACs, the broadcast MAC and its
 * multicast MACs (each MAC once), the VFT. Ordered by epoch as given, then
 * window, then MAC, so the result is deterministic.
 */
export function subscriptionSet<E>(input: PortSubscriptionInput<E>): Subscription<E>[] {
  const macs: Mac[] = []
  const seen = new Set<string>()
  for (const mac of [...input.unicastMacs, BROADCAST_MAC, ...(input.multicastMacs ?? [])]) {
    assertMac(mac)
    const key = macKey(mac)
    if (seen.has(key)) continue
    seen.add(key)
    macs.push(mac)
  }
  const windows = heldWindows(input.unixSeconds)
  const out: Subscription<E>[] = []
  for (const { epoch, deriver } of input.epochs) {
    for (const window of windows) {
      for (const mac of macs) out.push({ vft: deriver.derive(mac, window), mac, window, epoch })
    }
  }
  return out
}

/** What changes between two subscription sets: the VFTs to SUB and to UNSUB. */
export interface SubscriptionDiff<E = number> {
  readonly added: Subscription<E>[]
  readonly removed: Subscription<E>[]
}

/** Compares two subscription sets by VFT. */
export function diffSubscriptions<E>(
  before: readonly Subscription<E>[],
  after: readonly Subscription<E>[],
): SubscriptionDiff<E> {
  const beforeKeys = new Set(before.map((s) => vftKey(s.vft)))
  const afterKeys = new Set(after.map((s) => vftKey(s.vft)))
  return {
    added: after.filter((s) => !beforeKeys.has(vftKey(s.vft))),
    removed: before.filter((s) => !afterKeys.has(vftKey(s.vft))),
  }
}

/** A VFT as a lowercase hex string: a Map key for tables of VFTs. */
export function vftKey(vft: Vft): string {
  return bytesToHex(vft)
}

function macKey(mac: Mac): string {
  return bytesToHex(mac)
}
