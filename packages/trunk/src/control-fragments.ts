/**
 * CONTROL messages larger than one trunk message (spec 08-trunk.md §4.6.2):
 * a 1000-member MLS Welcome is about 429 KB, a trunk message at most
 * 64 KiB + 1 KiB. Such a message (channel u16 ‖ payload, the CONTROL body
 * it would have been) is split with @peertap/frag (05-fragmentation.md)
 * into CONTROL messages on channel 7 (`CONTROL_FRAGMENT`), each carrying one
 * fragment, and reassembled by the neighbour, which then handles it as if
 * it had come whole on its channel. Messages that fit go whole.
 *
 * Receiving is bounded whatever a neighbour sends (spec 08-trunk.md
 * §4.6.2): at most CONTROL_FRAGMENT_MAX_MESSAGE_BYTES per message, per
 * neighbour at most two reassemblies and twice that in buffers, at most
 * CONTROL_FRAGMENT_MAX_PEERS neighbours reassembling at once (a new one
 * evicts the neighbour that started reassembling longest ago: a stale or
 * slow one never locks the others out), and a reassembly not complete after
 * CONTROL_FRAGMENT_TIMEOUT_MS is dropped. The trunk authenticates each
 * neighbour, so reassemblies are keyed by its PeerId; the caller admits
 * only neighbours that may send such messages (the node: an MLS owner,
 * admin or member, spec 11-mls.md §11) and counts the others here.
 */
import { randomInt } from 'node:crypto'
import { Fragmenter, Outcome, Reassembler } from '@peertap/frag'
import type { Control } from './codec.ts'
import {
  CONTROL_FRAGMENT,
  CONTROL_FRAGMENT_BYTES,
  CONTROL_FRAGMENT_MAX_MESSAGE_BYTES,
  CONTROL_FRAGMENT_MAX_PEERS,
  CONTROL_FRAGMENT_TIMEOUT_MS,
} from './constants.ts'

/** What this module needs of a link: a `Link` is one. */
export interface ControlSender {
  sendControl(control: Control): boolean
}

/** The fragmented message: channel u16 ‖ payload (spec 08-trunk.md §4.6.2). */
const MAX_DATAGRAM_BYTES = CONTROL_FRAGMENT_MAX_MESSAGE_BYTES + 2
/** Fragments of the largest message: 05-fragmentation.md's header is 10 bytes. */
const MAX_FRAGMENTS = Math.ceil(MAX_DATAGRAM_BYTES / (CONTROL_FRAGMENT_BYTES - 10))

export interface ControlFragmentsCounters {
  /** Messages sent in fragments, and the fragments. */
  messagesSplit: number
  fragmentsSent: number
  /** Messages not sent: over CONTROL_FRAGMENT_MAX_MESSAGE_BYTES, or the link refused a fragment (queue full). */
  sendsFailed: number
  /** Fragments received; messages reassembled. */
  fragmentsReceived: number
  messagesReassembled: number
  /** Fragments dropped: refused by the reassembler's bounds, or a reassembly evicted or timed out. */
  fragmentsDropped: number
  /** Fragments from neighbours not allowed to send fragmented messages (counted by the caller). */
  fragmentsRefused: number
  /** Neighbours' reassemblies dropped to make room for a new neighbour's. */
  peersEvicted: number
}

/** A node's fragmented CONTROL messages, both ways, over all its links (spec 08-trunk.md §4.6.2). */
export class ControlFragments {
  readonly counters: ControlFragmentsCounters = {
    messagesSplit: 0,
    fragmentsSent: 0,
    sendsFailed: 0,
    fragmentsReceived: 0,
    messagesReassembled: 0,
    fragmentsDropped: 0,
    fragmentsRefused: 0,
    peersEvicted: 0,
  }
  readonly #fragmenter = new Fragmenter({
    maxFragmentBytes: CONTROL_FRAGMENT_BYTES,
    maxDatagramBytes: MAX_DATAGRAM_BYTES,
    maxFragmentsPerDatagram: MAX_FRAGMENTS,
    // 05-fragmentation.md §5.3: a random first id, so a restarted sender does not reuse ids.
    firstId: randomInt(2 ** 32 - 1),
  })
  readonly #peers = new Map<string, Reassembler<string>>()

  /**
   * Sends `payload` on `channel` to the neighbour: whole if it fits
   * CONTROL_FRAGMENT_BYTES, else in fragments on CONTROL_FRAGMENT. False if
   * it was not (all) sent.
   */
  send(link: ControlSender, channel: number, payload: Uint8Array): boolean {
    if (payload.length <= CONTROL_FRAGMENT_BYTES) return link.sendControl({ channel, payload })
    const message = new Uint8Array(2 + payload.length)
    new DataView(message.buffer).setUint16(0, channel)
    message.set(payload, 2)
    const f = this.#fragmenter
    const count = f.fragmentCount(message.length)
    if (count === 0) {
      this.counters.sendsFailed++
      return false
    }
    const scratch = new Uint8Array(count * f.maxFragmentBytes)
    f.split(message, scratch)
    this.counters.messagesSplit++
    for (let i = 0; i < count; i++) {
      const at = i * f.maxFragmentBytes
      const fragment = scratch.subarray(at, at + f.fragmentBytes(message.length, i))
      if (!link.sendControl({ channel: CONTROL_FRAGMENT, payload: fragment })) {
        this.counters.sendsFailed++
        return false
      }
      this.counters.fragmentsSent++
    }
    return true
  }

  /**
   * A fragment from neighbour `peer`: the whole message (its channel and
   * payload) when this fragment completes it, else undefined (also when the
   * message is shorter than its channel or names channel 7). Never throws.
   */
  receive(peer: string, fragment: Uint8Array, now: number): Control | undefined {
    this.counters.fragmentsReceived++
    let reassembler = this.#peers.get(peer)
    if (reassembler === undefined) {
      this.#expire(now)
      if (this.#peers.size >= CONTROL_FRAGMENT_MAX_PEERS) {
        // The Map keeps insertion order: the first is the longest-reassembling neighbour.
        const [oldest] = this.#peers.keys()
        this.#peers.delete(oldest!)
        this.counters.peersEvicted++
      }
      reassembler = new Reassembler<string>({
        maxDatagramBytes: MAX_DATAGRAM_BYTES,
        maxFragmentsPerDatagram: MAX_FRAGMENTS,
        maxReassemblies: 2,
        maxBytes: 2 * MAX_DATAGRAM_BYTES,
        timeoutMs: CONTROL_FRAGMENT_TIMEOUT_MS,
      })
      this.#peers.set(peer, reassembler)
    }
    const outcome = reassembler.push(peer, fragment, now)
    if (outcome === Outcome.Pending) return undefined
    if (reassembler.reassemblies === 0) this.#peers.delete(peer)
    if (outcome !== Outcome.Complete) {
      this.counters.fragmentsDropped++
      return undefined
    }
    const message = reassembler.datagram!
    const channel = message.length < 3 ? undefined : (message[0]! << 8) | message[1]!
    // A message naming channel 7 is dropped: no fragments within fragments (§4.6.2).
    if (channel === undefined || channel === CONTROL_FRAGMENT) {
      this.counters.fragmentsDropped++
      return undefined
    }
    this.counters.messagesReassembled++
    return { channel, payload: message.slice(2) }
  }

  /** Neighbours with reassemblies open now (for status and tests). */
  get peers(): number {
    return this.#peers.size
  }

  /** Drops expired reassemblies, and the neighbours left with none. */
  #expire(now: number): void {
    for (const [peer, r] of this.#peers) {
      r.expire(now)
      if (r.reassemblies === 0) this.#peers.delete(peer)
    }
  }
}
