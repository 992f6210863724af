/**
 * The receive path of the CryptoVLAN switch: sealed frames the forwarding
 * table routed to this node become frames on local ports. Stages, in order:
 *
 *   1. VFT lookup: a frame under a VFT this node does not hold is dropped and
 *      counted; the VFT names the VLAN, the epoch, the window and the MAC
 *   2. open, per run of consecutive frames under one epoch (in practice the
 *      whole batch): FrameReceiver.openBatch, one AES-ECB call unmasking
 *      every header, then per frame KID and counter checks, the replay
 *      window before the AEAD, AES-256-GCM (each epoch's receiver counts
 *      its drops); runs keep the frames' order
 *   3. kind: 0 is an Ethernet frame; 3 is a virtio-net header ‖ frame
 *      (partial checksum or GSO), checked (vnet.ts checkVnetFrame) and
 *      dropped and counted if it does not hold up; 2 goes to the control
 *      handler; others (fragments, with the datagram link's fragmentation)
 *      are dropped and counted
 *   4. delivery: to the port that owns the destination MAC, or, for group
 *      destinations and unicast flooded under the broadcast VFT to a MAC no
 *      port owns, to every port of the VLAN; one write per port per batch;
 *      in the form each port takes (port-frames.ts): a port with offloads
 *      takes kind 3 whole and kind 0 behind a zero header, a port without
 *      takes kind 3 finished in software (checksum, segmentation)
 */
import type { DropReason, FrameReceiver } from '@peertap/crypto'
import { ETHERNET_HEADER_LENGTH, KIND_CONTROL, KIND_ETHERNET, KIND_GSO } from './constants.ts'
import { isGroupAt, macNumber } from './mac-key.ts'
import { pushForPort } from './port-frames.ts'
import type { LocalSubscription, ReceivedFrame, SwitchCounters } from './switch.ts'
import type { VftMap } from './vft-map.ts'
import type { Port, Vlan } from './vlan.ts'
import { checkVnetFrame, VNET_HEADER_LENGTH } from './vnet.ts'

/** Reused per-batch arrays of the receive path: one run of frames under one epoch. */
export interface ReceiveContext {
  readonly sealed: Uint8Array[]
  readonly vfts: Uint8Array[]
  readonly windows: number[]
  readonly subs: LocalSubscription[]
  readonly results: (Uint8Array | DropReason)[]
}

export function newReceiveContext(): ReceiveContext {
  return { sealed: [], vfts: [], windows: [], subs: [], results: [] }
}

export function receiveFrames(
  local: VftMap<LocalSubscription>,
  frames: readonly ReceivedFrame[],
  counters: SwitchCounters,
  onControl: ((vlan: string, body: Uint8Array) => void) | undefined,
  ctx: ReceiveContext,
): void {
  const writes = new Map<Port, Uint8Array[]>()
  let receiver: FrameReceiver | undefined
  try {
    for (const { vft, sealed } of frames) {
      // 1. VFT lookup
      const sub = local.get(vft)
      if (sub === undefined) {
        counters.dropNotHeld++
        continue
      }
      if (sub.epoch.receiver !== receiver) {
        if (receiver !== undefined) openRun(ctx, receiver, onControl, writes)
        receiver = sub.epoch.receiver
      }
      ctx.sealed.push(sealed)
      ctx.vfts.push(vft)
      ctx.windows.push(sub.window)
      ctx.subs.push(sub)
    }
    if (receiver !== undefined) openRun(ctx, receiver, onControl, writes)
  } finally {
    clearRun(ctx)
  }
  for (const [port, list] of writes) port.device.writeFrames(list)
}

/** Stages 2 to 4 for the run gathered in `ctx`, all under `receiver`. */
function openRun(
  ctx: ReceiveContext,
  receiver: FrameReceiver,
  onControl: ((vlan: string, body: Uint8Array) => void) | undefined,
  writes: Map<Port, Uint8Array[]>,
): void {
  const { subs, results } = ctx
  const n = subs.length
  // 2. open
  results.length = n
  receiver.openBatch(ctx.sealed, ctx.vfts, ctx.windows, results)
  for (let i = 0; i < n; i++) {
    const plaintext = results[i]!
    if (typeof plaintext === 'string') continue
    const sub = subs[i]!
    const vlan = sub.vlan
    // 3. kind
    const kind = plaintext[0]
    if (kind === KIND_CONTROL) {
      onControl?.(vlan.name, plaintext.subarray(1))
      continue
    }
    const frame = plaintext.subarray(1)
    if (kind === KIND_GSO) {
      if (checkVnetFrame(frame) !== undefined) {
        vlan.counters.dropBadOffload++
        continue
      }
      // 4. delivery
      deliver(vlan, sub.groupVft, frame, VNET_HEADER_LENGTH, writes)
      continue
    }
    if (kind !== KIND_ETHERNET) {
      vlan.counters.dropUnsupportedKind++
      continue
    }
    if (frame.length < ETHERNET_HEADER_LENGTH) {
      vlan.counters.dropNotEthernet++
      continue
    }
    // 4. delivery
    deliver(vlan, sub.groupVft, frame, 0, writes)
  }
  clearRun(ctx)
}

function clearRun(ctx: ReceiveContext): void {
  ctx.sealed.length = 0
  ctx.vfts.length = 0
  ctx.windows.length = 0
  ctx.subs.length = 0
  ctx.results.length = 0
}

/** `eth`: where the Ethernet frame starts in `frame` (after a virtio-net header, or 0). */
function deliver(
  vlan: Vlan,
  groupVft: boolean,
  frame: Uint8Array,
  eth: number,
  writes: Map<Port, Uint8Array[]>,
): void {
  const group = isGroupAt(frame, eth)
  const dst = group ? -1 : macNumber(frame, eth)
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
    if (pushForPort(list, port, frame, eth > 0, vlan.counters) === 0) continue
    vlan.counters.delivered++
    vlan.counters.deliveredBytes += frame.length - eth
  }
}
