/**
 * The receive path of the CryptoVLAN switch: sealed frames the forwarding
 * table routed to this node become frames on local ports. Stages, in order:
 *
 *   1. VFT lookup: a frame under a VFT this node does not hold is dropped and
 *      counted; the VFT names the VLAN, the epoch, the window and the MAC
 *   2. open: header unprotection, KID and counter checks, replay window
 *      before the AEAD, AES-256-GCM (each epoch's receiver counts its drops)
 *   3. kind: 0 is an Ethernet frame; 2 goes to the control handler; others
 *      are dropped and counted (fragments and GSO frames come with the
 *      datagram link)
 *   4. delivery: to the port that owns the destination MAC, or, for group
 *      destinations and unicast flooded under the broadcast VFT to a MAC no
 *      port owns, to every port of the VLAN; one write per port per batch
 */
import { ETHERNET_HEADER_LENGTH, KIND_CONTROL, KIND_ETHERNET } from './constants.ts'
import { isGroupAt, macNumber } from './mac-key.ts'
import type { LocalSubscription, ReceivedFrame, SwitchCounters } from './switch.ts'
import type { VftMap } from './vft-map.ts'
import type { Port, Vlan } from './vlan.ts'

export function receiveFrames(
  local: VftMap<LocalSubscription>,
  frames: readonly ReceivedFrame[],
  counters: SwitchCounters,
  onControl: ((vlan: string, body: Uint8Array) => void) | undefined,
): void {
  const writes = new Map<Port, Uint8Array[]>()
  for (const { vft, sealed } of frames) {
    // 1. VFT lookup
    const sub = local.get(vft)
    if (sub === undefined) {
      counters.dropNotHeld++
      continue
    }
    const vlan = sub.vlan
    // 2. open
    const plaintext = sub.epoch.receiver.open(sealed, vft, sub.window)
    if (typeof plaintext === 'string') continue
    // 3. kind
    const kind = plaintext[0]
    if (kind === KIND_CONTROL) {
      onControl?.(vlan.name, plaintext.subarray(1))
      continue
    }
    if (kind !== KIND_ETHERNET) {
      vlan.counters.dropUnsupportedKind++
      continue
    }
    const frame = plaintext.subarray(1)
    if (frame.length < ETHERNET_HEADER_LENGTH) {
      vlan.counters.dropNotEthernet++
      continue
    }
    // 4. delivery
    deliver(vlan, sub.groupVft, frame, writes)
  }
  for (const [port, list] of writes) port.device.writeFrames(list)
}

function deliver(
  vlan: Vlan,
  groupVft: boolean,
  frame: Uint8Array,
  writes: Map<Port, Uint8Array[]>,
): void {
  const group = isGroupAt(frame, 0)
  const dst = group ? -1 : macNumber(frame, 0)
  let target: Port | undefined
  if (!group) for (const port of vlan.ports.values()) if (port.owns(dst)) target = port
  if (target === undefined && !group && !groupVft) {
    // Under a unicast VFT for a MAC no port owns any more (aged out): nowhere to go.
    vlan.counters.dropNoPort++
    return
  }
  for (const port of vlan.ports.values()) {
    if (target !== undefined && port !== target) continue
    let list = writes.get(port)
    if (list === undefined) {
      list = []
      writes.set(port, list)
    }
    list.push(frame)
    vlan.counters.delivered++
    vlan.counters.deliveredBytes += frame.length
  }
}
