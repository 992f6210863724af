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
 *      handler; 1 is a fragment (10-switch.md §10.7): it goes to the VLAN's
 *      bounded reassembler under its sender's KID, and a completed datagram
 *      is taken as a plaintext of kind 0, 2 or 3 (a fragment inside a
 *      fragment is dropped and counted); other kinds are dropped and counted
 *   4. delivery: to the port that owns the destination MAC, or, for group
 *      destinations and unicast flooded under the broadcast VFT to a MAC no
 *      port owns, to every port of the VLAN; one write per port per batch;
 *      in the form each port takes (port-frames.ts): a port with offloads
 *      takes kind 3 whole and kind 0 behind a zero header, a port without
 *      takes kind 3 finished in software (checksum, segmentation); a port
 *      with offloads takes the consecutive TCP segments of one flow that
 *      arrive in one batch (as kind 0, or as kind 3 with only the TCP
 *      checksum partial) coalesced into one GSO frame
 *      (coalesce.ts, unless SwitchInit.coalesce is false)
 */
import type { DropReason, FrameReceiver } from '@peertap/crypto'
import { Outcome } from '@peertap/frag'
import {
  ETHERNET_HEADER_LENGTH,
  KIND_CONTROL,
  KIND_ETHERNET,
  KIND_FRAGMENT,
  KIND_GSO,
} from './constants.ts'
import { isGroupAt, macNumber } from './mac-key.ts'
import { BatchWrites } from './port-frames.ts'
import type { LocalSubscription, ReceivedFrame, SwitchCounters, SwitchInit } from './switch.ts'
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
  /** Each opened frame's KID, high and low 32 bits (FrameReceiver.openBatch). */
  readonly kids: number[]
  /** The batch's time in ms, for reassembly. */
  nowMs: number
  /** Whether plain TCP segments for a port with offloads are coalesced (SwitchInit.coalesce). */
  readonly coalesce: boolean
  /** SwitchInit.onOpened. */
  readonly onOpened: SwitchInit['onOpened']
}

export function newReceiveContext(
  coalesce: boolean,
  onOpened?: ReceiveContext['onOpened'],
): ReceiveContext {
  return {
    onOpened,
    sealed: [],
    vfts: [],
    windows: [],
    subs: [],
    results: [],
    kids: [],
    nowMs: 0,
    coalesce,
  }
}

export function receiveFrames(
  local: VftMap<LocalSubscription>,
  frames: readonly ReceivedFrame[],
  counters: SwitchCounters,
  onControl: ((vlan: string, body: Uint8Array) => void) | undefined,
  ctx: ReceiveContext,
  now: number,
): void {
  ctx.nowMs = now * 1000
  const writes = new BatchWrites(ctx.coalesce)
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
  writes.write()
}

/** Stages 2 to 4 for the run gathered in `ctx`, all under `receiver`. */
function openRun(
  ctx: ReceiveContext,
  receiver: FrameReceiver,
  onControl: ((vlan: string, body: Uint8Array) => void) | undefined,
  writes: BatchWrites,
): void {
  const { subs, results, kids } = ctx
  const n = subs.length
  // 2. open
  results.length = n
  receiver.openBatch(ctx.sealed, ctx.vfts, ctx.windows, results, kids)
  // Every frame of the run is under one receiver, so one epoch: its own-KID test serves all.
  const own = n > 0 ? subs[0]!.epoch.ownKidTest() : undefined
  for (let i = 0; i < n; i++) {
    const plaintext = results[i]!
    if (typeof plaintext === 'string') continue
    const sub = subs[i]!
    // Our own frame, back through a neighbour that forwarded a flood to us: never delivered.
    if (own?.(kids[2 * i]!, kids[2 * i + 1]!)) {
      sub.vlan.counters.dropOwnFrame++
      continue
    }
    // A whole frame (kind 0, or 3: virtio-net header ‖ frame) to a port's own MAC: a flow
    // a fast path may take over. It is told the Ethernet frame, for what it carries.
    if (ctx.onOpened !== undefined && !sub.groupVft) {
      const eth = plaintext[0] === KIND_GSO ? 1 + VNET_HEADER_LENGTH : 1
      if (
        (plaintext[0] === KIND_ETHERNET || plaintext[0] === KIND_GSO) &&
        plaintext.length >= eth + ETHERNET_HEADER_LENGTH &&
        macNumber(plaintext, eth) === macNumber(sub.mac, 0)
      ) {
        ctx.onOpened(sub, ctx.vfts[i]!, kids[2 * i]!, kids[2 * i + 1]!, plaintext.subarray(eth))
      }
    }
    // 3. kind
    if (plaintext[0] !== KIND_FRAGMENT) {
      handlePlaintext(sub, plaintext, onControl, writes)
      continue
    }
    const vlan = sub.vlan
    vlan.counters.fragmentsReceived++
    // The sender: its KID's high 32 bits (an MLS leaf and epoch byte) and the top 21 of
    // the low ones, a safe integer; a PSK KID is 64 random bits.
    const source = kids[2 * i]! * 0x20_0000 + (kids[2 * i + 1]! >>> 11)
    if (ctx.nowMs > vlan.reassemblyClock) vlan.reassemblyClock = ctx.nowMs
    const reassembler = vlan.reassembler
    if (reassembler.push(source, plaintext.subarray(1), vlan.reassemblyClock) !== Outcome.Complete)
      continue
    const datagram = reassembler.datagram!
    if (datagram[0] === KIND_FRAGMENT) {
      vlan.counters.dropUnsupportedKind++
      continue
    }
    handlePlaintext(sub, datagram, onControl, writes)
  }
  clearRun(ctx)
}

/** Stages 3 and 4 for a whole plaintext (not a fragment). */
function handlePlaintext(
  sub: LocalSubscription,
  plaintext: Uint8Array,
  onControl: ((vlan: string, body: Uint8Array) => void) | undefined,
  writes: BatchWrites,
): void {
  const vlan = sub.vlan
  const kind = plaintext[0]
  if (kind === KIND_CONTROL) {
    onControl?.(vlan.name, plaintext.subarray(1))
    return
  }
  const frame = plaintext.subarray(1)
  if (kind === KIND_GSO) {
    if (checkVnetFrame(frame) !== undefined) {
      vlan.counters.dropBadOffload++
      return
    }
    // 4. delivery
    deliver(vlan, sub.groupVft, frame, VNET_HEADER_LENGTH, writes)
    return
  }
  if (kind !== KIND_ETHERNET) {
    vlan.counters.dropUnsupportedKind++
    return
  }
  if (frame.length < ETHERNET_HEADER_LENGTH) {
    vlan.counters.dropNotEthernet++
    return
  }
  // 4. delivery
  deliver(vlan, sub.groupVft, frame, 0, writes)
}

function clearRun(ctx: ReceiveContext): void {
  ctx.sealed.length = 0
  ctx.vfts.length = 0
  ctx.windows.length = 0
  ctx.subs.length = 0
  ctx.results.length = 0
  ctx.kids.length = 0
}

/** `eth`: where the Ethernet frame starts in `frame` (after a virtio-net header, or 0). */
function deliver(
  vlan: Vlan,
  groupVft: boolean,
  frame: Uint8Array,
  eth: number,
  writes: BatchWrites,
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
    if (writes.of(port).push(frame, eth > 0, vlan.counters) === 0) continue
    vlan.counters.delivered++
    vlan.counters.deliveredBytes += frame.length - eth
  }
}
