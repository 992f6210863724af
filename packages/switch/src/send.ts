/**
 * The send path of the CryptoVLAN switch: frames read from a local port
 * become sealed frames for the trunk. Stages, in order:
 *
 *   1. size check: runts (< 14 bytes) and frames over the maximum are dropped and counted
 *   2. learning: the source MAC is learned behind the port (unicast sources only)
 *   3. local switching: a unicast frame for a MAC behind another local port
 *      goes there and stops; a group frame also goes to every other local port
 *   4. VFT choice: the destination MAC's VFT in the current epoch and window
 *      (cached per MAC and window); unicast nobody subscribes to is flooded
 *      under the broadcast VFT, as a switch floods unknown unicast
 *   5. seal, once per batch: kind 0 ‖ frame for every frame that goes on
 *      (kind 3 ‖ virtio-net header ‖ frame for a frame from a port with
 *      offloads whose header asks for a checksum or segmentation; a zero
 *      header is dropped and the frame goes as kind 0),
 *      laid out in one reused buffer, sealed by FrameSender.sealBatch into
 *      one new buffer (AES-256-GCM per frame, one AES-ECB call for every
 *      header's protection); each sealed frame is a view into it
 *
 * Nothing here throws on a frame's content; the batch's sealed frames go to
 * the forwarding table, which picks neighbours.
 */
import { BROADCAST_MAC } from '@peertap/vft'
import { ETHERNET_HEADER_LENGTH, KIND_ETHERNET, KIND_GSO } from './constants.ts'
import { isGroupAt, macNumber } from './mac-key.ts'
import { pushForPort } from './port-frames.ts'
import type { SealedFrame } from './switch.ts'
import type { Port, Vlan } from './vlan.ts'
import { VNET_HEADER_LENGTH } from './vnet.ts'

export interface SendContext {
  readonly hopLimit: number
  readonly maxFrameLength: number
  readonly hasRemoteSubscriber: (vft: Uint8Array) => boolean
  /** Reused buffer for a batch's plaintexts (kind byte ‖ frame), back to back; grows to the largest batch. */
  plaintext: Uint8Array
  /** Reused per-batch arrays for sealBatch: the frames going on, their VFTs, plaintext views, lengths, offsets. */
  readonly frames: Uint8Array[]
  /** Each frame's plaintext kind: 0 (Ethernet) or 3 (virtio-net header ‖ frame). */
  readonly kinds: number[]
  readonly vfts: Uint8Array[]
  readonly plaintexts: Uint8Array[]
  readonly lengths: number[]
  readonly offsets: number[]
}

/** A fresh send context; `sendFromPort` reuses its buffers and arrays from batch to batch. */
export function newSendContext(
  hopLimit: number,
  maxFrameLength: number,
  hasRemoteSubscriber: (vft: Uint8Array) => boolean,
): SendContext {
  return {
    hopLimit,
    maxFrameLength,
    hasRemoteSubscriber,
    plaintext: new Uint8Array(64 * 1024),
    frames: [],
    kinds: [],
    vfts: [],
    plaintexts: [],
    lengths: [],
    offsets: [],
  }
}

export function sendFromPort(
  ctx: SendContext,
  vlan: Vlan,
  port: Port,
  frames: readonly Uint8Array[],
  now: number,
  window: number,
  out: SealedFrame[],
): void {
  const counters = vlan.counters
  const epoch = vlan.current
  const local = vlan.ports.size > 1 ? new Map<Port, Uint8Array[]>() : undefined
  // Where the Ethernet frame starts: after the virtio-net header, if the port has one.
  const eth = port.vnet ? VNET_HEADER_LENGTH : 0
  for (const frame of frames) {
    counters.portFrames++
    // 1. size
    if (frame.length - eth < ETHERNET_HEADER_LENGTH) {
      counters.dropRunt++
      continue
    }
    if (frame.length - eth > ctx.maxFrameLength) {
      counters.dropTooLarge++
      continue
    }
    // 2. learning
    if (!isGroupAt(frame, eth + 6)) vlan.learn(port, macNumber(frame, eth + 6), now)
    // 3. local switching
    const group = isGroupAt(frame, eth)
    if (local !== undefined) {
      const dst = macNumber(frame, eth)
      let stop = false
      for (const other of vlan.ports.values()) {
        if (other === port || !(group || other.owns(dst))) continue
        let list = local.get(other)
        if (list === undefined) {
          list = []
          local.set(other, list)
        }
        counters.localSwitched += pushForPort(list, other, frame, port.vnet, counters)
        stop = !group
      }
      if (stop) continue
    }
    // 4. VFT choice
    let vft = epoch.vftFor(frame, eth, window)
    if (!group && !ctx.hasRemoteSubscriber(vft)) {
      vft = epoch.vftFor(BROADCAST_MAC, 0, window)
      counters.floodedUnknown++
    }
    // A header that asks for nothing (flags 0, GSO none) is not sent: kind 0.
    if (eth > 0 && (frame[0] !== 0 || frame[1] !== 0)) {
      ctx.frames.push(frame)
      ctx.kinds.push(KIND_GSO)
    } else {
      ctx.frames.push(eth > 0 ? frame.subarray(eth) : frame)
      ctx.kinds.push(KIND_ETHERNET)
    }
    ctx.vfts.push(vft)
  }
  if (local !== undefined) for (const [other, list] of local) other.device.writeFrames(list)
  sealBatch(ctx, vlan, out)
}

/** Stage 5: seals the frames gathered in `ctx` under the VLAN's current epoch. */
function sealBatch(ctx: SendContext, vlan: Vlan, out: SealedFrame[]): void {
  const { frames, kinds, vfts, plaintexts, lengths, offsets } = ctx
  const n = frames.length
  if (n === 0) return
  let plainBytes = 0
  for (let i = 0; i < n; i++) plainBytes += frames[i]!.length + 1
  if (ctx.plaintext.length < plainBytes) ctx.plaintext = new Uint8Array(plainBytes * 2)
  const plain = ctx.plaintext
  let p = 0
  let offload = 0
  for (let i = 0; i < n; i++) {
    const frame = frames[i]!
    const kind = kinds[i]!
    if (kind === KIND_GSO) offload++
    plain[p] = kind
    plain.set(frame, p + 1)
    plaintexts.push(plain.subarray(p, p + 1 + frame.length))
    lengths.push(1 + frame.length)
    p += 1 + frame.length
  }
  const sender = vlan.current.sender
  try {
    // Sealed lengths in place of plaintext lengths, then their offsets in one buffer.
    sender.sealedLengths(lengths, lengths)
    let total = 0
    for (let i = 0; i < n; i++) {
      offsets.push(total)
      total += lengths[i]!
    }
    // One allocation per batch: the sealed frames outlive the call (the trunk
    // queues them), so they cannot live in a reused buffer.
    const sealed = new Uint8Array(total)
    sender.sealBatch(vfts, plaintexts, sealed, offsets)
    const counters = vlan.counters
    counters.sealed += n
    counters.sealedBytes += total
    counters.sealedOffload += offload
    for (let i = 0; i < n; i++) {
      const o = offsets[i]!
      out.push({
        hopLimit: ctx.hopLimit,
        vft: vfts[i]!,
        sealed: sealed.subarray(o, o + lengths[i]!),
      })
    }
  } finally {
    frames.length = 0
    kinds.length = 0
    vfts.length = 0
    plaintexts.length = 0
    lengths.length = 0
    offsets.length = 0
  }
}
