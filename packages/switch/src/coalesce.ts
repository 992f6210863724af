/**
 * Receive-side coalescing for a port with offloads (spec 10 §10.8, issue
 * 15), as the kernel's GRO does: consecutive TCP segments of one flow,
 * received in one batch as plain Ethernet frames (kind 0) or as kind-3
 * frames whose header asks only for the TCP checksum (what a sender's
 * largeGso 'segment' makes), become one TCP GSO frame (header ‖ Ethernet
 * frame, kind 3) for a single TAP write. The inverse of
 * {@link toPlainFrames}'s segmentation: splitting a coalesced frame gives
 * back its segments byte for byte (checksums finished).
 *
 * A segment joins its flow's run only if it continues it exactly: the next
 * sequence number, the run's segment size (a shorter one ends the run), the
 * same Ethernet, IP and TCP headers but for lengths, IPv4 ID (one more than
 * the last) and checksums, ACK alone or with PSH (PSH ends the run), no
 * IPv4 options or fragments, no IPv6 extension headers, no Ethernet padding,
 * and, for a plain frame, a TCP checksum that verifies (so a forged
 * checksum is never laundered into a partial one the kernel completes; a
 * partial checksum claims nothing). A frame that is not such a segment goes
 * on as it came and leaves open runs alone; a segment that does not
 * continue its flow's run (a gap, a duplicate, a reordering) ends that run
 * and starts one of its own; a segment under 48 bytes (TCP_MIN_GSO_SIZE)
 * may end a run but never starts one, so that a merged frame's gso_size
 * passes checkVnetFrame. Runs
 * are bounded (MAX_COALESCED_SEGMENTS, an IP packet of 64 KiB) and never
 * wait: the batch is all there is. A flow's segments keep their order; a
 * run takes the place of its first segment among other frames (a frame of
 * the same flow that is not a segment, a pure ACK, may so end up after
 * segments sent after it: 10-switch.md §10.8). Pure: no I/O;
 * the input frames are never written to.
 */
import {
  ETHERNET_HEADER,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  fold,
  IPPROTO_TCP,
  putU16be,
  sum16,
  TCP_CSUM_OFFSET,
  TCP_MIN_GSO_SIZE,
  TCP_PSH,
  u32be,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_HEADER_LENGTH,
  withZeroVnetHeader,
  writeVnetHeader,
} from './vnet.ts'

/** Segments in one coalesced frame at most (Linux's GRO takes 64 KiB, about 45 at MTU 1500). */
export const MAX_COALESCED_SEGMENTS = 64

const TCP_ACK = 0x10
/** IPv4 total length and IPv6 payload length are 16-bit. */
const MAX_IP_LENGTH = 0xffff

/** What the coalescer made of a batch, for counters. */
export interface CoalesceCounters {
  /** Segments that went into coalesced frames. */
  segmentsCoalesced: number
  /** Coalesced frames made. */
  framesCoalesced: number
}

interface Segment {
  /** The frame as it came: plain, or header ‖ Ethernet frame when `partial`. */
  readonly input: Uint8Array
  /** Its Ethernet frame. */
  readonly frame: Uint8Array
  /** Came as kind 3 with its TCP checksum partial (NEEDS_CSUM, GSO none). */
  readonly partial: boolean
  readonly v4: boolean
  readonly l3: number
  readonly l4: number
  /** End of the TCP header. */
  readonly header: number
  readonly seq: number
  readonly payload: number
  readonly id: number
  readonly psh: boolean
}

interface Run {
  /** Where its output goes in the batch's output. */
  readonly slot: number
  readonly segments: Segment[]
  readonly mss: number
  nextSeq: number
  bytes: number
}

/**
 * The batch `frames` (in arrival order) for a port with offloads: plain
 * Ethernet frames, or header ‖ Ethernet frame where `hasHeader[i]` is true
 * (kind 3; by default none). Each output is header ‖ Ethernet frame: a
 * frame as it came (a plain one behind a zero header), or a TCP GSO frame
 * of a run of two or more segments. `counters`, when given, is added to.
 */
export function coalesceTcp(
  frames: readonly Uint8Array[],
  counters?: CoalesceCounters,
  hasHeader?: readonly boolean[],
): Uint8Array[] {
  const out: (Uint8Array | Run)[] = []
  /** Open runs by flow: the segment's headers but for the fields that change. */
  const open = new Map<string, Run>()
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i]!
    const headered = hasHeader?.[i] === true
    const s = headered ? partialSegmentOf(frame) : segmentOf(frame, frame, false)
    if (s === undefined) {
      out.push(headered ? frame : withZeroVnetHeader(frame))
      continue
    }
    const key = flowKey(s)
    const run = open.get(key)
    if (run !== undefined && continues(run, s)) {
      run.segments.push(s)
      run.nextSeq = (run.nextSeq + s.payload) >>> 0
      run.bytes += s.payload
      // PSH, a short segment or the bound ends it: nothing joins it again.
      if (s.psh || s.payload < run.mss || run.segments.length >= MAX_COALESCED_SEGMENTS) {
        open.delete(key)
      }
      continue
    }
    if (run !== undefined) open.delete(key)
    // A merged frame's gso_size is its first segment's payload: a segment
    // under checkVnetFrame's minimum may end a run, never start one.
    if (s.payload < TCP_MIN_GSO_SIZE) {
      out.push(asItCame(s))
      continue
    }
    const fresh: Run = {
      slot: out.length,
      segments: [s],
      mss: s.payload,
      nextSeq: (s.seq + s.payload) >>> 0,
      bytes: s.payload,
    }
    out.push(fresh)
    if (!s.psh) open.set(key, fresh)
  }
  const result: Uint8Array[] = new Array(out.length)
  for (let i = 0; i < out.length; i++) {
    const o = out[i]!
    if (o instanceof Uint8Array) result[i] = o
    else if (o.segments.length === 1) result[i] = asItCame(o.segments[0]!)
    else {
      result[i] = merge(o)
      if (counters !== undefined) {
        counters.framesCoalesced++
        counters.segmentsCoalesced += o.segments.length
      }
    }
  }
  return result
}

/** A segment not merged, in the port's form: as it came, a plain one behind a zero header. */
function asItCame(s: Segment): Uint8Array {
  return s.partial ? s.input : withZeroVnetHeader(s.frame)
}

function continues(run: Run, s: Segment): boolean {
  const last = run.segments[run.segments.length - 1]!
  // IPv4 total length, or IPv6 payload length, of the merged packet.
  const ipLength = s.header - s.l3 - (s.v4 ? 0 : 40) + run.bytes + s.payload
  return (
    s.seq === run.nextSeq &&
    s.payload <= run.mss &&
    ipLength <= MAX_IP_LENGTH &&
    (!s.v4 || s.id === ((last.id + 1) & 0xffff))
  )
}

/**
 * A kind-3 frame's TCP segment if it may be coalesced: a virtio-net header
 * that asks for nothing but the TCP checksum (NEEDS_CSUM alone, GSO none,
 * `csum_start` at the TCP header, `csum_offset` 16), as the sender's
 * 'segment' makes them (10-switch.md §10.7), and a segment as
 * {@link segmentOf} takes it but for the checksum, which is partial: there
 * is nothing to verify, the receiving kernel completes it. Coalescing such
 * segments gives a member nothing it could not send as one kind-3 frame.
 */
function partialSegmentOf(input: Uint8Array): Segment | undefined {
  if (input.length < VNET_HEADER_LENGTH) return undefined
  if (input[0] !== VNET_F_NEEDS_CSUM || input[1] !== 0) return undefined // flags, GSO type
  const csumStart = input[6]! | (input[7]! << 8)
  const csumOffset = input[8]! | (input[9]! << 8)
  if (csumOffset !== TCP_CSUM_OFFSET) return undefined
  const s = segmentOf(input, input.subarray(VNET_HEADER_LENGTH), true)
  return s !== undefined && s.l4 === csumStart ? s : undefined
}

/**
 * `frame`'s TCP segment if it may be coalesced at all (see the header), or
 * undefined; `input` is the frame as it came (`frame` itself, or led by a
 * virtio-net header when `partial`, whose TCP checksum is not checked).
 */
function segmentOf(input: Uint8Array, frame: Uint8Array, partial: boolean): Segment | undefined {
  if (frame.length < ETHERNET_HEADER + 40) return undefined
  const type = (frame[12]! << 8) | frame[13]!
  const l3 = ETHERNET_HEADER
  let l4: number
  let ipEnd: number
  let id = 0
  let v4: boolean
  if (type === ETHERTYPE_IPV4) {
    v4 = true
    if (frame[l3] !== 0x45) return undefined // version 4, no options
    if (frame[l3 + 9] !== IPPROTO_TCP) return undefined
    // No fragments: MF clear and offset 0 (DF may be either).
    if ((((frame[l3 + 6]! << 8) | frame[l3 + 7]!) & 0x3fff) !== 0) return undefined
    ipEnd = l3 + ((frame[l3 + 2]! << 8) | frame[l3 + 3]!)
    id = (frame[l3 + 4]! << 8) | frame[l3 + 5]!
    l4 = l3 + 20
    // The IPv4 header checksum must hold: the merged frame's is computed afresh.
    if (fold(sum16(frame, l3, l4, 0)) !== 0xffff) return undefined
  } else if (type === ETHERTYPE_IPV6) {
    v4 = false
    if (frame[l3]! >> 4 !== 6) return undefined
    if (frame[l3 + 6] !== IPPROTO_TCP) return undefined
    ipEnd = l3 + 40 + ((frame[l3 + 4]! << 8) | frame[l3 + 5]!)
    l4 = l3 + 40
  } else return undefined
  if (ipEnd !== frame.length) return undefined // padding or a short frame
  if (l4 + 20 > ipEnd) return undefined
  const header = l4 + (frame[l4 + 12]! >> 4) * 4
  if (header < l4 + 20 || header >= ipEnd) return undefined // no payload, nothing to coalesce
  const flags = frame[l4 + 13]!
  if ((flags & ~TCP_PSH) !== TCP_ACK || frame[l4 + 12]! & 0x0f) return undefined
  if (!partial) {
    // The TCP checksum verifies: pseudo-header, then the segment.
    const tcpLength = ipEnd - l4
    const pseudo = v4
      ? sum16(frame, l3 + 12, l3 + 20, IPPROTO_TCP + tcpLength)
      : sum16(frame, l3 + 8, l3 + 40, IPPROTO_TCP + tcpLength)
    if (fold(sum16(frame, l4, ipEnd, pseudo)) !== 0xffff) return undefined
  }
  const seq = u32be(frame, l4 + 4)
  return {
    input,
    frame,
    partial,
    v4,
    l3,
    l4,
    header,
    seq,
    payload: ipEnd - header,
    id,
    psh: (flags & TCP_PSH) !== 0,
  }
}

/**
 * The bytes two segments of one run must share, as a string: Ethernet
 * header, the IP header but for its lengths, ID and checksum, and the TCP
 * header but for sequence number, PSH and checksum.
 */
function flowKey(s: Segment): string {
  const f = s.frame
  const parts: number[] = []
  const take = (from: number, to: number) => {
    for (let i = from; i < to; i++) parts.push(f[i]!)
  }
  if (s.v4) {
    take(0, s.l3 + 2) // Ethernet, version, IHL, TOS
    take(s.l3 + 6, s.l3 + 10) // flags and fragment offset, TTL, protocol
    take(s.l3 + 12, s.l4) // addresses
  } else {
    take(0, s.l3 + 4) // Ethernet, version, traffic class, flow label
    take(s.l3 + 6, s.l4) // next header, hop limit, addresses
  }
  take(s.l4, s.l4 + 4) // ports
  take(s.l4 + 8, s.l4 + 13) // acknowledgement, data offset
  parts.push(f[s.l4 + 13]! & ~TCP_PSH)
  take(s.l4 + 14, s.l4 + 16) // window
  take(s.l4 + 18, s.header) // urgent pointer, options
  return String.fromCharCode(...parts)
}

/** A run of two or more segments as one TCP GSO frame, its TCP checksum left partial. */
function merge(run: Run): Uint8Array {
  const first = run.segments[0]!
  const { l3, l4, header, v4 } = first
  const end = header + run.bytes
  // Every byte is written below: no need for zeroed memory.
  const buf = new Uint8Array(Buffer.allocUnsafeSlow(VNET_HEADER_LENGTH + end).buffer)
  writeVnetHeader(buf, 0, {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: v4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6,
    hdrLen: header,
    gsoSize: run.mss,
    csumStart: l4,
    csumOffset: TCP_CSUM_OFFSET,
  })
  const eth = buf.subarray(VNET_HEADER_LENGTH)
  eth.set(first.frame.subarray(0, header), 0)
  let at = header
  for (const s of run.segments) {
    eth.set(s.frame.subarray(s.header), at)
    at += s.payload
  }
  const last = run.segments[run.segments.length - 1]!
  if (last.psh) eth[l4 + 13] = eth[l4 + 13]! | TCP_PSH
  if (v4) {
    putU16be(eth, l3 + 2, end - l3)
    eth[l3 + 10] = 0
    eth[l3 + 11] = 0
    putU16be(eth, l3 + 10, ~fold(sum16(eth, l3, l4, 0)) & 0xffff)
  } else putU16be(eth, l3 + 4, end - l3 - 40)
  // The partial checksum's seed: the pseudo-header sum for the whole length,
  // folded, not complemented (Linux's CHECKSUM_PARTIAL convention).
  const tcpLength = end - l4
  const pseudo = v4
    ? sum16(eth, l3 + 12, l3 + 20, IPPROTO_TCP + tcpLength)
    : sum16(eth, l3 + 8, l3 + 40, IPPROTO_TCP + tcpLength)
  putU16be(eth, l4 + TCP_CSUM_OFFSET, fold(pseudo))
  return buf
}
