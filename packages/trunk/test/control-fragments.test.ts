// CONTROL messages larger than one trunk message, split with @peertap/frag
// over CONTROL channel 7 and reassembled under bounds (spec 08-trunk.md §4.6.2).
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  CONTROL_FRAGMENT,
  ControlFragments,
  type ControlSender,
  CONTROL_FRAGMENT_BYTES as MAX_FRAGMENT_BYTES,
  CONTROL_FRAGMENT_MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES,
  CONTROL_FRAGMENT_MAX_PEERS as MAX_PEERS,
  CONTROL_FRAGMENT_TIMEOUT_MS as TIMEOUT_MS,
} from '../src/index.ts'

/** A link that records what was sent, as the trunk would carry it (copies). */
function recordingLink(id: string, accept = Number.POSITIVE_INFINITY) {
  const sent: { channel: number; payload: Uint8Array }[] = []
  const link: ControlSender & { id: string } = {
    id,
    sendControl: (c) => {
      if (sent.length >= accept) return false
      sent.push({ channel: c.channel, payload: c.payload.slice() })
      return true
    },
  }
  return { link, sent }
}

describe('CONTROL fragments', () => {
  it('sends a message that fits whole, on its own channel', () => {
    const f = new ControlFragments()
    const { link, sent } = recordingLink('a')
    const payload = randomBytes(MAX_FRAGMENT_BYTES)
    expect(f.send(link, 2, payload)).toBe(true)
    expect(sent).toHaveLength(1)
    expect(sent[0]!.channel).toBe(2)
    expect(Buffer.from(sent[0]!.payload).equals(payload)).toBe(true)
    expect(f.counters.messagesSplit).toBe(0)
  })

  it('splits a 429 KB Welcome (a 1000-member group) and reassembles it in any order', () => {
    const sender = new ControlFragments()
    const receiver = new ControlFragments()
    const { link, sent } = recordingLink('owner')
    const welcome = randomBytes(429 * 1024)
    expect(sender.send(link, 2, welcome)).toBe(true)
    expect(sent.length).toBe(Math.ceil((welcome.length + 2) / (MAX_FRAGMENT_BYTES - 10)))
    for (const s of sent) {
      expect(s.channel).toBe(CONTROL_FRAGMENT)
      // each fits one trunk message (64 KiB + 1 KiB, less type and channel)
      expect(s.payload.length).toBeLessThanOrEqual(MAX_FRAGMENT_BYTES)
    }
    const order = sent.map((_, i) => i).reverse()
    let whole: ReturnType<ControlFragments['receive']>
    for (const [k, i] of order.entries()) {
      whole = receiver.receive('owner', sent[i]!.payload, 1000 + k)
      if (k < order.length - 1) expect(whole).toBeUndefined()
    }
    expect(whole!.channel).toBe(2)
    expect(Buffer.from(whole!.payload).equals(welcome)).toBe(true)
    expect(receiver.counters.messagesReassembled).toBe(1)
    expect(receiver.peers).toBe(0) // nothing held once complete
  })

  it('drops a reassembled message that names channel 7: no fragments within fragments', () => {
    const sender = new ControlFragments()
    const receiver = new ControlFragments()
    const { link, sent } = recordingLink('liar')
    expect(sender.send(link, CONTROL_FRAGMENT, randomBytes(3 * MAX_FRAGMENT_BYTES))).toBe(true)
    expect(sent.length).toBeGreaterThan(1)
    const outs = sent.map((s, i) => receiver.receive('liar', s.payload, 1000 + i))
    expect(outs.every((o) => o === undefined)).toBe(true)
    expect(receiver.counters.messagesReassembled).toBe(0)
    expect(receiver.counters.fragmentsDropped).toBe(1)
    expect(receiver.peers).toBe(0)
  })

  it('keeps neighbours apart: the same fragments from another peer do not complete a message', () => {
    const sender = new ControlFragments()
    const receiver = new ControlFragments()
    const { link, sent } = recordingLink('b')
    sender.send(link, 3, randomBytes(150_000))
    expect(sent.length).toBe(3)
    expect(receiver.receive('b', sent[0]!.payload, 0)).toBeUndefined()
    expect(receiver.receive('c', sent[1]!.payload, 1)).toBeUndefined()
    expect(receiver.receive('c', sent[2]!.payload, 2)).toBeUndefined()
    expect(receiver.counters.messagesReassembled).toBe(0)
    expect(receiver.receive('b', sent[1]!.payload, 3)).toBeUndefined()
    expect(receiver.receive('b', sent[2]!.payload, 4)?.channel).toBe(3)
  })

  it('refuses to send a message over the bound, and says so when the link refuses a fragment', () => {
    const f = new ControlFragments()
    const { link, sent } = recordingLink('a')
    expect(f.send(link, 2, new Uint8Array(MAX_MESSAGE_BYTES + 1))).toBe(false)
    expect(sent).toHaveLength(0)
    const full = recordingLink('a', 2)
    expect(f.send(full.link, 2, new Uint8Array(200_000))).toBe(false)
    expect(f.counters.sendsFailed).toBe(2)
  })

  it('bounds what neighbours can make it hold: peers, time, size, and lies in headers', () => {
    const receiver = new ControlFragments()
    const sender = new ControlFragments()
    const { link, sent } = recordingLink('x')
    sender.send(link, 2, randomBytes(100_000))
    const first = sent[0]!.payload
    // MAX_PEERS neighbours each hold an incomplete message; the next evicts
    // the one that started first (eight stale senders cannot lock out the
    // owner's Welcome), and the peer count stays at the bound.
    for (let p = 0; p < MAX_PEERS; p++) expect(receiver.receive(`p${p}`, first, p)).toBeUndefined()
    expect(receiver.peers).toBe(MAX_PEERS)
    expect(receiver.receive('owner', first, 10)).toBeUndefined()
    expect(receiver.peers).toBe(MAX_PEERS)
    expect(receiver.counters.peersEvicted).toBe(1)
    // p0 was evicted: its second fragment alone completes nothing.
    expect(receiver.receive('p0', sent[1]!.payload, 11)).toBeUndefined()
    expect(receiver.counters.peersEvicted).toBe(2) // p0 came back and evicted p1
    expect(receiver.receive('owner', sent[1]!.payload, 12)?.payload.length).toBe(100_000)
    // A flood of neighbours, each sending one fragment: the owner's message,
    // sent at once, still completes among them.
    const flood = new ControlFragments()
    for (let round = 0; round < 3; round++) {
      for (let p = 0; p < 4 * MAX_PEERS; p++) flood.receive(`x${round}-${p}`, first, 20 + round)
      expect(flood.receive('owner', first, 20 + round)).toBeUndefined()
      expect(flood.receive('owner', sent[1]!.payload, 20 + round)?.payload.length).toBe(100_000)
    }
    expect(flood.peers).toBeLessThanOrEqual(MAX_PEERS)
    // After the timeout, their reassemblies go and a new neighbour is served.
    expect(receiver.receive('late', first, TIMEOUT_MS + 20)).toBeUndefined()
    expect(receiver.peers).toBeLessThanOrEqual(1)
    expect(receiver.receive('late', sent[1]!.payload, TIMEOUT_MS + 21)?.payload.length).toBe(
      100_000,
    )

    // A header claiming a message over the bound is dropped, nothing allocated.
    const huge = first.slice()
    huge[4] = 0x20 // total = 2 MiB + ...
    expect(receiver.receive('liar', huge, TIMEOUT_MS + 23)).toBeUndefined()
    // An overlapping fragment abandons the message: it never completes.
    const other = new ControlFragments()
    const o = recordingLink('y')
    other.send(o.link, 2, randomBytes(100_000))
    const shifted = o.sent[1]!.payload.slice()
    shifted[9] = (shifted[9]! - 1) & 0xff // offset one byte earlier: overlaps fragment 0
    expect(receiver.receive('y', o.sent[0]!.payload, TIMEOUT_MS + 24)).toBeUndefined()
    expect(receiver.receive('y', shifted, TIMEOUT_MS + 25)).toBeUndefined()
    expect(receiver.receive('y', o.sent[1]!.payload, TIMEOUT_MS + 26)).toBeUndefined()
    expect(receiver.counters.messagesReassembled).toBe(2)
    // Garbage (shorter than a header) is dropped and counted.
    expect(receiver.receive('z', new Uint8Array(5), TIMEOUT_MS + 27)).toBeUndefined()
  })
})
