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
 *   5. path fit (10-switch.md §10.7): a plaintext that would seal to more
 *      than the path carries (`maxSealed`, the smallest MTU of the datagram
 *      paths up; unbounded without one) is split with @peertap/frag into
 *      kind-1 fragments that each fit, or, a TCP GSO frame with
 *      largeGso 'segment', cut into TCP segments that each fit
 *   6. seal, once per batch: kind 0 ‖ frame for every frame that goes on
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
import { Fragmenter } from '@peertap/frag'
import { BROADCAST_MAC } from '@peertap/vft'
import {
  ETHERNET_HEADER_LENGTH,
  KIND_ETHERNET,
  KIND_FRAGMENT,
  KIND_GSO,
  type LargeGso,
  SEAL_OVERHEAD_MAX,
} from './constants.ts'
import { isGroupAt, macNumber } from './mac-key.ts'
import { pushForPort } from './port-frames.ts'
import type { SealedFrame } from './switch.ts'
import type { Port, Vlan } from './vlan.ts'
import { segmentTcpToFit, VNET_HEADER_LENGTH } from './vnet.ts'

export interface SendContext {
  readonly hopLimit: number
  readonly maxFrameLength: number
  readonly hasRemoteSubscriber: (vft: Uint8Array) => boolean
  readonly largeGso: LargeGso
  /** Per VLAN: the fragment id counter (ids per sender, 05-fragmentation.md §5.3), remade when the fragment size changes. */
  readonly fragmenters: WeakMap<Vlan, Fragmenter>
  /** Datagrams and their fragments of the batch being built; views into it live until the batch is sealed. */
  fragScratch: Uint8Array
  fragUsed: number
  /** Reused buffer for a batch's plaintexts (kind byte ‖ frame), back to back; grows to the largest batch. */
  plaintext: Uint8Array
  /** Reused per-batch arrays for sealBatch: the frames going on, their VFTs, plaintext views, lengths, offsets. */
  readonly frames: Uint8Array[]
  /** Each frame's plaintext kind: 0 (Ethernet), 1 (fragment) or 3 (virtio-net header ‖ frame). */
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
  largeGso: LargeGso,
): SendContext {
  return {
    hopLimit,
    maxFrameLength,
    hasRemoteSubscriber,
    largeGso,
    fragmenters: new WeakMap(),
    fragScratch: new Uint8Array(0),
    fragUsed: 0,
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
  maxSealed = Number.POSITIVE_INFINITY,
): void {
  const counters = vlan.counters
  // The largest plaintext (kind byte included) that seals within maxSealed.
  const maxPlain = maxSealed - SEAL_OVERHEAD_MAX
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
    const gso = eth > 0 && (frame[0] !== 0 || frame[1] !== 0)
    const kind = gso ? KIND_GSO : KIND_ETHERNET
    const body = gso || eth === 0 ? frame : frame.subarray(eth)
    // 5. path fit
    if (1 + body.length <= maxPlain) {
      queue(ctx, body, kind, vft)
    } else fitPath(ctx, vlan, kind, body, vft, maxPlain)
  }
  if (local !== undefined) for (const [other, list] of local) other.device.writeFrames(list)
  sealBatch(ctx, vlan, out)
}

/**
 * Stage 5 for a plaintext `kind ‖ body` larger than `maxPlain`: a TCP GSO
 * frame under largeGso 'segment' becomes TCP segments that fit, and under
 * 'stream' goes whole (its link sends it on the stream link); anything
 * else (and segments that still do not fit) becomes kind-1 fragments. What
 * cannot be split within @peertap/frag's bounds goes whole (its link takes
 * it another way: the stream link), counted as fragmentUnsplit.
 */
function fitPath(
  ctx: SendContext,
  vlan: Vlan,
  kind: number,
  body: Uint8Array,
  vft: Uint8Array,
  maxPlain: number,
): void {
  const counters = vlan.counters
  if (kind === KIND_GSO && ctx.largeGso === 'stream') {
    counters.largeGsoWhole++
    queue(ctx, body, kind, vft)
    return
  }
  if (kind === KIND_GSO && ctx.largeGso === 'segment') {
    // Kind-3 segments with their checksums left partial: each is a
    // virtio-net header and an Ethernet frame, so 10 bytes less of frame fit.
    const segments = segmentTcpToFit(body, maxPlain - 1 - VNET_HEADER_LENGTH, true)
    if (typeof segments === 'string') {
      counters.dropBadOffload++
      return
    }
    if (segments !== undefined) {
      counters.segmentedForPath++
      for (const segment of segments) {
        if (1 + segment.length <= maxPlain) {
          queue(ctx, segment, KIND_GSO, vft)
        } else fragment(ctx, vlan, KIND_GSO, segment, vft, maxPlain)
      }
      return
    }
  }
  fragment(ctx, vlan, kind, body, vft, maxPlain)
}

/** Adds one plaintext body, its kind and its VFT to the batch `ctx` seals next. */
function queue(ctx: SendContext, body: Uint8Array, kind: number, vft: Uint8Array): void {
  ctx.frames.push(body)
  ctx.kinds.push(kind)
  ctx.vfts.push(vft)
}

/** Splits `kind ‖ body` into kind-1 plaintexts of at most `maxPlain` bytes (05-fragmentation.md §5.3). */
function fragment(
  ctx: SendContext,
  vlan: Vlan,
  kind: number,
  body: Uint8Array,
  vft: Uint8Array,
  maxPlain: number,
): void {
  const counters = vlan.counters
  const maxFragmentBytes = maxPlain - 1
  let fragmenter = ctx.fragmenters.get(vlan)
  if (fragmenter?.maxFragmentBytes !== maxFragmentBytes && maxFragmentBytes >= MIN_FRAGMENT) {
    fragmenter = new Fragmenter({
      maxFragmentBytes,
      // A random first id per sender start (§5.3); then the ids go on across size changes.
      firstId: fragmenter?.nextId ?? crypto.getRandomValues(new Uint32Array(1))[0]!,
    })
    ctx.fragmenters.set(vlan, fragmenter)
  }
  const total = 1 + body.length
  const count =
    fragmenter === undefined || maxFragmentBytes < MIN_FRAGMENT
      ? 0
      : fragmenter.fragmentCount(total)
  if (fragmenter === undefined || count === 0) {
    counters.fragmentUnsplit++
    queue(ctx, body, kind, vft)
    return
  }
  // The datagram (kind ‖ body) and then its fragments, in the batch's scratch.
  const need = total + count * maxFragmentBytes
  if (ctx.fragUsed + need > ctx.fragScratch.length) {
    // Views into the old buffer stay valid: they keep it alive until the batch is sealed.
    ctx.fragScratch = new Uint8Array(Math.max(need, 2 * ctx.fragScratch.length, 128 * 1024))
    ctx.fragUsed = 0
  }
  const buf = ctx.fragScratch
  const at = ctx.fragUsed
  buf[at] = kind
  buf.set(body, at + 1)
  fragmenter.split(buf.subarray(at, at + total), buf, at + total)
  for (let i = 0; i < count; i++) {
    const start = at + total + i * maxFragmentBytes
    queue(ctx, buf.subarray(start, start + fragmenter.fragmentBytes(total, i)), KIND_FRAGMENT, vft)
  }
  ctx.fragUsed = at + need
  counters.fragmented++
}

/** The smallest fragment @peertap/frag makes: its 10-byte header and one byte. */
const MIN_FRAGMENT = 11

/** Stage 6: seals the frames gathered in `ctx` under the VLAN's current epoch. */
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
  let fragments = 0
  for (let i = 0; i < n; i++) {
    const frame = frames[i]!
    const kind = kinds[i]!
    if (kind === KIND_GSO) offload++
    else if (kind === KIND_FRAGMENT) fragments++
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
    // Every byte is written by the seal: no need for zeroed memory.
    const sealed = new Uint8Array(Buffer.allocUnsafeSlow(total).buffer, 0, total)
    sender.sealBatch(vfts, plaintexts, sealed, offsets)
    const counters = vlan.counters
    counters.sealed += n
    counters.sealedBytes += total
    counters.sealedOffload += offload
    counters.sealedFragments += fragments
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
    ctx.fragUsed = 0
  }
}
