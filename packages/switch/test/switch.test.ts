import { derivePskEpochSecrets, FrameSender } from '@peertap/crypto'
import { Fragmenter } from '@peertap/frag'
import { parseMac, WINDOW_SECONDS } from '@peertap/vft'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  KIND_FRAGMENT,
  type LargeGso,
  portMtuFitting,
  type ReceivedFrame,
  SEAL_OVERHEAD_MAX,
  type SealedFrame,
  Switch,
  toPlainFrames,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
  VNET_HEADER_LENGTH,
  writeVnetHeader,
} from '../src/index.ts'

const secret = new Uint8Array(32).fill(0x42)
const macA = parseMac('02:00:00:00:00:0a')
const macB = parseMac('02:00:00:00:00:0b')
const T0 = 2_963_231 * WINDOW_SECONDS + 300 // mid-window

/** A frame: dst ‖ src ‖ ethertype ‖ payload. */
function frame(
  dst: Uint8Array,
  src: Uint8Array,
  payload = 'hello',
  ethertype = 0x88b5,
): Uint8Array {
  const body = new TextEncoder().encode(payload)
  const out = new Uint8Array(14 + body.length)
  out.set(dst, 0)
  out.set(src, 6)
  out[12] = ethertype >> 8
  out[13] = ethertype & 0xff
  out.set(body, 14)
  return out
}

interface Node {
  sw: Switch
  written: Uint8Array[]
  peers: Node[]
  controls: Uint8Array[]
}

/** A node with one VLAN and one port whose device records what it is given. */
function node(
  mac: Uint8Array,
  key = secret,
  now = T0,
  vnetHeader = false,
  largeGso: LargeGso = 'segment',
  coalesce = true,
): Node {
  const n: Node = { sw: undefined as unknown as Switch, written: [], peers: [], controls: [] }
  n.sw = new Switch({
    largeGso,
    coalesce,
    // What the forwarding table would answer: does any peer hold the VFT?
    hasRemoteSubscriber: (vft) => n.peers.some((p) => p.sw.holds(vft)),
    onControl: (_vlan, body) => n.controls.push(new Uint8Array(body)),
  })
  n.sw.addVlan('lab', { kind: 'psk', epoch: 0, secrets: derivePskEpochSecrets(key) })
  n.sw.addPort('lab', 'tap', {
    mac,
    vnetHeader,
    writeFrames: (frames) => n.written.push(...frames.map((f) => new Uint8Array(f))),
  })
  n.sw.refresh(now)
  return n
}

function pair(): [Node, Node] {
  const a = node(macA)
  const b = node(macB)
  a.peers.push(b)
  b.peers.push(a)
  return [a, b]
}

/** Routes sealed frames to every node that holds their VFT, as the forwarding table does. */
function route(from: Node, sealed: SealedFrame[], now = T0): void {
  for (const peer of from.peers) {
    const mine: ReceivedFrame[] = sealed.filter((f) => peer.sw.holds(f.vft))
    if (mine.length > 0) peer.sw.receive(mine, now)
  }
}

describe('Switch between two nodes', () => {
  it('never delivers its own frames that come back through a neighbour (a forwarded flood)', () => {
    const [a, b] = pair()
    const broadcast = frame(parseMac('ff:ff:ff:ff:ff:ff'), macA, 'who-has')
    const sealed = a.sw.fromPort('lab', 'tap', [broadcast], T0)
    route(a, sealed)
    expect(b.written).toHaveLength(1)
    // b forwards the flood on, and a copy reaches a again.
    a.sw.receive(sealed, T0)
    expect(a.written).toHaveLength(0)
    expect(a.sw.vlanCounters().lab?.dropOwnFrame).toBe(1)
    // b's own frames still reach a.
    route(b, b.sw.fromPort('lab', 'tap', [frame(macA, macB, 'is-at')], T0))
    expect(a.written).toHaveLength(1)
  })

  it('carries broadcast, unicast and multicast frames, sealed', () => {
    const [a, b] = pair()
    const broadcast = frame(parseMac('ff:ff:ff:ff:ff:ff'), macA, 'who-has')
    const unicast = frame(macB, macA, 'to b')
    const sealed = a.sw.fromPort('lab', 'tap', [broadcast, unicast], T0)
    expect(sealed).toHaveLength(2)
    // Sealed: no plaintext bytes, no MAC in what the trunk carries.
    for (const s of sealed) {
      const hex = Buffer.from(s.sealed).toString('hex')
      expect(hex).not.toContain(Buffer.from(macA).toString('hex'))
      expect(Buffer.from(s.sealed).toString()).not.toContain('who-has')
    }
    route(a, sealed)
    expect(b.written).toEqual([broadcast, unicast])
    expect(a.sw.vlanCounters().lab!.floodedUnknown).toBe(0)

    // Multicast: B joins 33:33:00:00:00:fb; A's frame to it arrives.
    const mdns = parseMac('33:33:00:00:00:fb')
    const toGroup = frame(mdns, macA, 'mdns')
    route(a, a.sw.fromPort('lab', 'tap', [toGroup], T0))
    expect(b.written).toHaveLength(2) // not yet subscribed
    b.sw.setMulticast('lab', 'tap', [mdns])
    expect(b.sw.refresh(T0)?.added).toHaveLength(2) // current and next window
    route(a, a.sw.fromPort('lab', 'tap', [toGroup], T0))
    expect(b.written.at(-1)).toEqual(toGroup)
  })

  it('floods unknown unicast under the broadcast VFT and learns MACs behind a port', () => {
    const [a, b] = pair()
    const hidden = parseMac('52:54:00:00:00:01') // a silent host behind B's bridged TAP
    const toHidden = frame(hidden, macA, 'anyone?')
    route(a, a.sw.fromPort('lab', 'tap', [toHidden], T0))
    expect(a.sw.vlanCounters().lab!.floodedUnknown).toBe(1)
    expect(b.written).toEqual([toHidden])

    // The hidden host answers; B learns it and subscribes to its VFT.
    b.sw.fromPort('lab', 'tap', [frame(macA, hidden, 'here')], T0)
    expect(b.sw.vlanCounters().lab!.learned).toBe(1)
    expect(b.sw.refresh(T0)?.added).toHaveLength(2) // current and next window (past the grace)
    route(a, a.sw.fromPort('lab', 'tap', [toHidden], T0 + 1))
    expect(a.sw.vlanCounters().lab!.floodedUnknown).toBe(1) // unicast now
    expect(b.written).toHaveLength(2)

    // It ages out after 300 s unheard.
    expect(b.sw.refresh(T0 + 301)?.removed).toHaveLength(2)
    expect(b.sw.vlanCounters().lab!.learned).toBe(0)
  })

  it('drops a replayed frame and counts it', () => {
    const [a, b] = pair()
    const sealed = a.sw.fromPort('lab', 'tap', [frame(macB, macA)], T0)
    route(a, sealed)
    route(a, sealed)
    expect(b.written).toHaveLength(1)
    expect(b.sw.vlanCounters().lab!.receive.replay).toBe(1)
  })

  it('a node with the wrong secret receives nothing, and its frames are dropped and counted', () => {
    const [a, b] = pair()
    const c = node(parseMac('02:00:00:00:00:0c'), new Uint8Array(32).fill(0x43))
    a.peers.push(c)
    c.peers.push(a, b)
    route(a, a.sw.fromPort('lab', 'tap', [frame(parseMac('ff:ff:ff:ff:ff:ff'), macA)], T0))
    expect(c.written).toHaveLength(0)
    // C's own frames carry VFTs nobody holds.
    const fromC = c.sw.fromPort(
      'lab',
      'tap',
      [frame(parseMac('ff:ff:ff:ff:ff:ff'), parseMac('02:00:00:00:00:0c'))],
      T0,
    )
    b.sw.receive(
      fromC.map((f) => ({ vft: f.vft, sealed: f.sealed })),
      T0,
    )
    expect(b.sw.counters.dropNotHeld).toBe(1)
    // Even under a VFT it stole from B's subscriptions, C's frames fail authentication.
    const stolen = b.sw.heldVfts()[0]!
    b.sw.receive(
      fromC.map((f) => ({ vft: stolen, sealed: f.sealed })),
      T0,
    )
    const { opened, ...drops } = b.sw.vlanCounters().lab!.receive
    expect(opened).toBe(1) // A's broadcast only
    // Header protection under the wrong key garbles the header, so one of the
    // header or AEAD checks drops it, never an open.
    expect(Object.values(drops).reduce((x, y) => x + y, 0)).toBe(1)
    expect(b.written).toHaveLength(1)
  })

  it('accepts frames from a sender whose clock is two minutes off, across a window turn', () => {
    const [a, b] = pair()
    const turn = 2_963_232 * WINDOW_SECONDS
    // B is 100 s past the turn and refreshes; A is 110 s behind (previous window).
    b.sw.refresh(turn + 100)
    const late = a.sw.fromPort('lab', 'tap', [frame(macB, macA)], turn - 10)
    route(a, late)
    expect(b.written).toHaveLength(1)
    // Past the 120 s grace, B no longer holds the previous window.
    b.sw.refresh(turn + 121)
    route(a, a.sw.fromPort('lab', 'tap', [frame(macB, macA, 'again')], turn - 10))
    expect(b.written).toHaveLength(1)
  })

  it('keeps the previous epoch for receiving until it is dropped', () => {
    const [a, b] = pair()
    const next = {
      kind: 'psk' as const,
      epoch: 1,
      secrets: derivePskEpochSecrets(new Uint8Array(32).fill(9)),
    }
    b.sw.setEpoch('lab', next)
    b.sw.refresh(T0)
    // A still sends under epoch 0: B holds it while the change settles.
    route(a, a.sw.fromPort('lab', 'tap', [frame(macB, macA, 'old epoch')], T0))
    expect(b.written).toHaveLength(1)
    a.sw.setEpoch('lab', next)
    a.sw.refresh(T0)
    route(a, a.sw.fromPort('lab', 'tap', [frame(macB, macA, 'new epoch')], T0))
    expect(b.written).toHaveLength(2)
    b.sw.dropPreviousEpoch('lab')
    b.sw.refresh(T0)
    const old = node(macA) // a sender still on epoch 0
    old.peers.push(b)
    const sealed = old.sw.fromPort('lab', 'tap', [frame(parseMac('ff:ff:ff:ff:ff:ff'), macA)], T0)
    b.sw.receive(sealed, T0)
    expect(b.sw.counters.dropNotHeld).toBe(1)
    expect(b.written).toHaveLength(2)
  })

  it('holds a prepared next epoch for receiving while it still sends under the current one', () => {
    const [a, b] = pair()
    const next = {
      kind: 'psk' as const,
      epoch: 1,
      secrets: derivePskEpochSecrets(new Uint8Array(32).fill(7)),
    }
    b.sw.prepareEpoch('lab', next)
    b.sw.refresh(T0)
    expect(b.sw.epochsOf('lab')).toEqual({ current: 0, next: 1 })
    expect(b.sw.authSeeds()).toHaveLength(2)
    // A already sends under epoch 1: B receives it through the prepared epoch.
    a.sw.setEpoch('lab', next)
    a.sw.refresh(T0)
    route(a, a.sw.fromPort('lab', 'tap', [frame(macB, macA, 'new epoch')], T0))
    expect(b.written).toHaveLength(1)
    // B still seals under epoch 0, which A holds as its previous epoch.
    route(b, b.sw.fromPort('lab', 'tap', [frame(macA, macB, 'old epoch')], T0))
    expect(a.written).toHaveLength(1)
    // Promoting keeps the prepared receiver: a replay of the first frame is still caught.
    const sealed = a.sw.fromPort('lab', 'tap', [frame(macB, macA, 'again')], T0)
    b.sw.setEpoch('lab', next)
    b.sw.refresh(T0)
    expect(b.sw.epochsOf('lab')).toEqual({ current: 1, previous: 0 })
    route(a, sealed)
    route(a, sealed)
    expect(b.written).toHaveLength(2)
    expect(b.sw.vlanCounters().lab!.receive.replay).toBe(1)
  })

  it('drops runts and delivers control plaintexts to the handler', () => {
    const [a, b] = pair()
    expect(a.sw.fromPort('lab', 'tap', [new Uint8Array(13)], T0)).toHaveLength(0)
    expect(a.sw.vlanCounters().lab!.dropRunt).toBe(1)
    const control = a.sw.sealControl('lab', Uint8Array.of(1, 2, 3), T0)
    route(a, [control])
    expect(b.controls).toEqual([Uint8Array.of(1, 2, 3)])
    expect(b.written).toHaveLength(0)
  })
})

describe('Switch with two local ports on one VLAN', () => {
  it('switches between them locally, without sealing', () => {
    const sw = new Switch({ hasRemoteSubscriber: () => false })
    sw.addVlan('lab', { kind: 'psk', epoch: 0, secrets: derivePskEpochSecrets(secret) })
    const got: Record<string, Uint8Array[]> = { p1: [], p2: [] }
    sw.addPort('lab', 'p1', { mac: macA, writeFrames: (f) => got.p1!.push(...f) })
    sw.addPort('lab', 'p2', { mac: macB, writeFrames: (f) => got.p2!.push(...f) })
    sw.refresh(T0)
    const unicast = frame(macB, macA)
    expect(sw.fromPort('lab', 'p1', [unicast], T0)).toHaveLength(0)
    expect(got.p2).toEqual([unicast])
    const broadcast = frame(parseMac('ff:ff:ff:ff:ff:ff'), macA)
    expect(sw.fromPort('lab', 'p1', [broadcast], T0)).toHaveLength(1) // and to the trunk
    expect(got.p2).toEqual([unicast, broadcast])
    expect(got.p1).toEqual([])
  })
})

describe('Switch VLANs and ports removed at run time (10-switch.md §10.1)', () => {
  const keyOps = new Uint8Array(32).fill(0x17)
  const hex = (vft: Uint8Array) => Buffer.from(vft).toString('hex')
  /** The VFTs `n` holds for `vlan`, as hex, sorted. */
  const heldFor = (n: Node, vlan: string) =>
    n.sw
      .heldVfts()
      .filter((vft) => n.sw.subscriptionOf(vft)?.vlan.name === vlan)
      .map(hex)
      .sort()
  /** Two nodes each with VLANs 'lab' (from node()) and 'ops', one port on each. */
  function twoVlans(): { a: Node; b: Node; opsWritten: Uint8Array[] } {
    const [a, b] = pair()
    const opsWritten: Uint8Array[] = []
    for (const [n, mac] of [
      [a, macA],
      [b, macB],
    ] as const) {
      n.sw.addVlan('ops', { kind: 'psk', epoch: 0, secrets: derivePskEpochSecrets(keyOps) })
      n.sw.addPort('ops', 'tap-ops', {
        mac,
        writeFrames: (frames) => {
          if (n === b) opsWritten.push(...frames.map((f) => new Uint8Array(f)))
        },
      })
      n.sw.refresh(T0)
    }
    return { a, b, opsWritten }
  }

  it("removeVlan: the VLAN's VFTs reported removed by the next refresh, its frames dropped as not held; the other VLAN untouched", () => {
    const { a, b, opsWritten } = twoVlans()
    b.sw.setMulticast('lab', 'tap', [parseMac('33:33:00:00:00:fb')])
    b.sw.refresh(T0)
    const labBefore = heldFor(b, 'lab')
    const opsBefore = heldFor(b, 'ops')
    expect(labBefore.length).toBeGreaterThan(0)
    expect(opsBefore.length).toBeGreaterThan(0)
    // Sealed by A under lab before B removes it.
    const lab = a.sw.fromPort('lab', 'tap', [frame(macB, macA, 'to lab')], T0)

    b.sw.removeVlan('lab')
    expect(b.sw.vlanNames()).toEqual(['ops'])
    expect(Object.keys(b.sw.vlanCounters())).toEqual(['ops'])
    expect(heldFor(b, 'lab')).toEqual([])
    for (const vft of labBefore) expect(b.sw.holds(Buffer.from(vft, 'hex'))).toBe(false)
    expect(() => b.sw.fromPort('lab', 'tap', [frame(macA, macB)], T0)).toThrow(/no VLAN lab/)

    // A frame for it arriving now is dropped and counted as any frame under an unknown VFT.
    const dropped = b.sw.counters.dropNotHeld
    b.sw.receive(lab, T0)
    expect(b.sw.counters.dropNotHeld).toBe(dropped + lab.length)
    expect(b.written).toEqual([])

    // The next refresh reports exactly lab's VFTs as removed, nothing added; then nothing.
    const change = b.sw.refresh(T0)
    expect(change?.added).toEqual([])
    expect(change?.removed.map(hex).sort()).toEqual(labBefore)
    expect(b.sw.refresh(T0)).toBeUndefined()

    // ops: the same subscriptions, and its traffic still flows.
    expect(heldFor(b, 'ops')).toEqual(opsBefore)
    const toOps = frame(macB, macA, 'to ops')
    route(a, a.sw.fromPort('ops', 'tap-ops', [toOps], T0))
    expect(opsWritten).toEqual([toOps])
    expect(b.sw.vlanCounters().ops!.delivered).toBe(1)
  })

  it('a VLAN removed can be added again under the same name, and works', () => {
    const { a, b } = twoVlans()
    const labBefore = heldFor(b, 'lab')
    b.sw.removeVlan('lab')
    b.sw.refresh(T0)
    b.sw.addVlan('lab', { kind: 'psk', epoch: 0, secrets: derivePskEpochSecrets(secret) })
    b.sw.addPort('lab', 'tap', {
      mac: macB,
      writeFrames: (frames) => b.written.push(...frames.map((f) => new Uint8Array(f))),
    })
    const change = b.sw.refresh(T0)
    expect(change?.added.map(hex).sort()).toEqual(labBefore)
    expect(change?.removed).toEqual([])
    expect(b.sw.vlanCounters().lab!.delivered).toBe(0) // fresh counters
    const unicast = frame(macB, macA, 'again')
    route(a, a.sw.fromPort('lab', 'tap', [unicast], T0))
    expect(b.written).toEqual([unicast])
  })

  it('removed and added again before a refresh: its VFTs are neither added nor removed', () => {
    const { b } = twoVlans()
    const labBefore = heldFor(b, 'lab')
    b.sw.removeVlan('lab')
    b.sw.addVlan('lab', { kind: 'psk', epoch: 0, secrets: derivePskEpochSecrets(secret) })
    b.sw.addPort('lab', 'tap', { mac: macB, writeFrames: () => {} })
    expect(b.sw.refresh(T0)).toBeUndefined()
    expect(heldFor(b, 'lab')).toEqual(labBefore)
  })

  it("removePort: the port's learned MACs and multicast go, the next refresh unsubscribes them; the other port and VLAN stay", () => {
    const sw = new Switch({ hasRemoteSubscriber: () => false })
    sw.addVlan('lab', { kind: 'psk', epoch: 0, secrets: derivePskEpochSecrets(secret) })
    sw.addVlan('ops', { kind: 'psk', epoch: 0, secrets: derivePskEpochSecrets(keyOps) })
    sw.addPort('lab', 'p1', { mac: macA, writeFrames: () => {} })
    sw.addPort('lab', 'p2', { mac: macB, writeFrames: () => {} })
    sw.addPort('ops', 'p1', { mac: macA, writeFrames: () => {} })
    const behind = parseMac('02:00:00:00:00:0c')
    sw.fromPort('lab', 'p2', [frame(parseMac('ff:ff:ff:ff:ff:ff'), behind)], T0) // learned behind p2
    sw.setMulticast('lab', 'p2', [parseMac('33:33:00:00:00:fb')])
    sw.refresh(T0)
    const before = new Set(sw.heldVfts().map(hex))
    sw.removePort('lab', 'p2')
    expect(() => sw.fromPort('lab', 'p2', [frame(macA, macB)], T0)).toThrow(/no port p2/)
    expect(() => sw.removePort('lab', 'p2')).toThrow(/no port p2/)
    const change = sw.refresh(T0)!
    expect(change.added).toEqual([])
    // macB, the learned MAC and the multicast group, in the current and next window.
    expect(change.removed).toHaveLength(6)
    const after = new Set(sw.heldVfts().map(hex))
    for (const vft of change.removed)
      expect(before.has(hex(vft)) && !after.has(hex(vft))).toBe(true)
    expect(sw.vlanCounters().lab!.learned).toBe(0)
    expect(sw.vlanNames()).toEqual(['lab', 'ops'])
  })
})

/**
 * A TCP/IPv4 GSO frame as a TAP with offloads reads it: virtio-net header
 * (NEEDS_CSUM, TCPV4, MSS `mss`) ‖ Ethernet ‖ IPv4 ‖ TCP ‖ `payload` bytes.
 */
function gsoFrame(dst: Uint8Array, src: Uint8Array, payload: number, mss: number): Uint8Array {
  const ipLength = 20 + 20 + payload
  const f = new Uint8Array(VNET_HEADER_LENGTH + 14 + ipLength)
  writeVnetHeader(f, 0, {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: VNET_GSO_TCPV4,
    hdrLen: 14 + 40,
    gsoSize: mss,
    csumStart: 14 + 20,
    csumOffset: 16,
  })
  const e = VNET_HEADER_LENGTH
  f.set(dst, e)
  f.set(src, e + 6)
  f[e + 12] = 0x08 // IPv4
  const ip = e + 14
  f[ip] = 0x45
  f[ip + 2] = ipLength >> 8
  f[ip + 3] = ipLength & 0xff
  f[ip + 8] = 64 // TTL
  f[ip + 9] = 6 // TCP
  f.set([198, 19, 0, 1], ip + 12)
  f.set([198, 19, 0, 2], ip + 16)
  let sum = 0 // IPv4 header checksum, so that the frame is a well-formed packet
  for (let i = 0; i < 20; i += 2) sum += (f[ip + i]! << 8) | f[ip + i + 1]!
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  f[ip + 10] = ~sum >> 8
  f[ip + 11] = ~sum & 0xff
  const tcp = ip + 20
  f[tcp + 12] = 5 << 4 // data offset
  f[tcp + 13] = 0x18 // PSH, ACK
  for (let i = 0; i < payload; i++) f[tcp + 20 + i] = i & 0xff
  return f
}

describe('Switch with offloads (virtio-net header ports)', () => {
  function offloadPair(bHeader: boolean): [Node, Node] {
    const a = node(macA, secret, T0, true)
    const b = node(macB, secret, T0, bHeader)
    a.peers.push(b)
    b.peers.push(a)
    return [a, b]
  }

  it('carries a GSO frame whole to a port with offloads (kind 3)', () => {
    const [a, b] = offloadPair(true)
    const big = gsoFrame(macB, macA, 8000, 1000)
    const sealed = a.sw.fromPort('lab', 'tap', [big], T0)
    expect(sealed).toHaveLength(1)
    expect(a.sw.vlanCounters().lab!.sealedOffload).toBe(1)
    route(a, sealed)
    expect(b.written).toEqual([big])
    expect(b.sw.vlanCounters().lab!.softwareOffload).toBe(0)
  })

  it('segments a GSO frame in software for a port without offloads', () => {
    const [a, b] = offloadPair(false)
    route(a, a.sw.fromPort('lab', 'tap', [gsoFrame(macB, macA, 8000, 1000)], T0))
    expect(b.written).toHaveLength(8)
    for (const seg of b.written) {
      expect(seg.length).toBe(14 + 40 + 1000)
      expect(Buffer.from(seg.subarray(0, 6))).toEqual(Buffer.from(macB))
    }
    const counters = b.sw.vlanCounters().lab!
    expect(counters.softwareOffload).toBe(1)
    expect(counters.delivered).toBe(1)
  })

  it('sends a header that asks for nothing as kind 0; a port with offloads gets a zero header', () => {
    const [a, b] = offloadPair(false)
    const plain = frame(macB, macA, 'plain')
    const withHeader = new Uint8Array(VNET_HEADER_LENGTH + plain.length)
    withHeader.set(plain, VNET_HEADER_LENGTH)
    route(a, a.sw.fromPort('lab', 'tap', [withHeader], T0))
    expect(a.sw.vlanCounters().lab!.sealedOffload).toBe(0)
    expect(b.written).toEqual([plain])
    // And back: from B (no offloads) to A's port with offloads.
    route(b, b.sw.fromPort('lab', 'tap', [frame(macA, macB, 'back')], T0))
    expect(a.written).toEqual([withZero(frame(macA, macB, 'back'))])
  })

  it('drops a kind-3 frame whose header does not hold up, and counts it', () => {
    const [a, b] = offloadPair(true)
    const bad = gsoFrame(macB, macA, 8000, 1000)
    bad[1] = 0x42 // no such GSO type
    route(a, a.sw.fromPort('lab', 'tap', [bad], T0))
    expect(b.written).toEqual([])
    expect(b.sw.vlanCounters().lab!.dropBadOffload).toBe(1)
  })
})

function withZero(f: Uint8Array): Uint8Array {
  const out = new Uint8Array(VNET_HEADER_LENGTH + f.length)
  out.set(f, VNET_HEADER_LENGTH)
  return out
}

/** A frame of `length` bytes from A to B, its payload a pattern of `seed`. */
function sized(length: number, seed = 1): Uint8Array {
  const f = frame(macB, macA, '')
  const out = new Uint8Array(length)
  out.set(f, 0)
  for (let i = 14; i < length; i++) out[i] = (i * seed) & 0xff
  return out
}

/** The TCP payload of a plain Ethernet ‖ IPv4 ‖ TCP frame. */
/** Whether a plain IPv4 frame's TCP checksum verifies (pseudo-header and segment, RFC 793). */
function tcpChecksumHolds(eth: Uint8Array): boolean {
  const ihl = (eth[14]! & 0x0f) * 4
  const ipLength = (eth[16]! << 8) | eth[17]!
  const l4 = 14 + ihl
  const end = 14 + ipLength
  let sum = 6 + (end - l4)
  for (let i = 26; i < 34; i += 2) sum += (eth[i]! << 8) | eth[i + 1]!
  for (let i = l4; i < end; i += 2) sum += (eth[i]! << 8) | (i + 1 < end ? eth[i + 1]! : 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return sum === 0xffff
}

function tcpPayload(eth: Uint8Array): Uint8Array {
  const ihl = (eth[14]! & 0x0f) * 4
  const dataOffset = (eth[14 + ihl + 12]! >> 4) * 4
  const ipLength = (eth[16]! << 8) | eth[17]!
  return eth.subarray(14 + ihl + dataOffset, 14 + ipLength)
}

describe('Switch fragments for the path (10-switch.md §10.7)', () => {
  const MTU = 1190

  it('splits a frame too large for the path into kind-1 fragments that fit, and reassembles it', () => {
    const [a, b] = pair()
    const big = sized(3000)
    const small = sized(800, 3)
    const sealed = a.sw.fromPort('lab', 'tap', [small, big], T0, MTU)
    expect(sealed.length).toBe(1 + 3)
    for (const f of sealed) expect(f.sealed.length).toBeLessThanOrEqual(MTU)
    const ca = a.sw.vlanCounters().lab!
    expect(ca.fragmented).toBe(1)
    expect(ca.sealedFragments).toBe(3)
    expect(ca.sealed).toBe(4)
    route(a, sealed)
    expect(b.written).toEqual([small, big])
    const cb = b.sw.vlanCounters().lab!
    expect(cb.fragmentsReceived).toBe(3)
    expect(cb.reassembly.complete).toBe(1)
    expect(cb.reassembly.pending).toBe(2)
    expect(cb.delivered).toBe(2)
    // Without a bound, the same frame goes whole.
    expect(a.sw.fromPort('lab', 'tap', [big], T0)).toHaveLength(1)
  })

  it('fits every size to every MTU: no sealed frame over the bound, every frame back intact', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60, max: 9000 }),
        fc.integer({ min: 100, max: 1500 }),
        (length, mtu) => {
          const [a, b] = pair()
          const f = sized(length, length)
          const sealed = a.sw.fromPort('lab', 'tap', [f], T0, mtu)
          // Over 128 fragments (a small MTU, a large frame): whole, counted.
          if (a.sw.vlanCounters().lab!.fragmentUnsplit === 0)
            for (const s of sealed) expect(s.sealed.length).toBeLessThanOrEqual(mtu)
          else expect(Math.ceil((length + 1) / (mtu - SEAL_OVERHEAD_MAX - 11))).toBeGreaterThan(128)
          route(a, sealed)
          expect(b.written).toEqual([f])
        },
      ),
      { numRuns: 150 },
    )
  })

  it('delivers reordered fragments; a network duplicate is a replay, dropped and counted', () => {
    const [a, b] = pair()
    const big = sized(5000)
    const sealed = a.sw.fromPort('lab', 'tap', [big], T0, MTU)
    expect(sealed).toHaveLength(5)
    const shuffled = [sealed[3]!, sealed[0]!, sealed[3]!, sealed[4]!, sealed[1]!, sealed[2]!]
    route(a, shuffled)
    expect(b.written).toEqual([big])
    const cb = b.sw.vlanCounters().lab!
    expect(cb.receive.replay).toBe(1)
    expect(cb.fragmentsReceived).toBe(5)
  })

  it('loses a datagram with a lost fragment, frees it after the timeout, and goes on', () => {
    const [a, b] = pair()
    const first = a.sw.fromPort('lab', 'tap', [sized(4000)], T0, MTU)
    route(a, first.slice(1))
    expect(b.written).toEqual([])
    expect(b.sw.vlanCounters().lab!.reassembly.held).toBe(1)
    b.sw.refresh(T0 + 2)
    const cb = b.sw.vlanCounters().lab!
    expect(cb.reassembly.expired).toBe(1)
    expect(cb.reassembly.held).toBe(0)
    expect(cb.reassembly.bytesHeld).toBe(0)
    const next = sized(4000, 7)
    route(a, a.sw.fromPort('lab', 'tap', [next], T0 + 2, MTU), T0 + 2)
    expect(b.written).toEqual([next])
  })

  it('drops a forged fragment (bytes changed) and a replayed one, counted, and still completes', () => {
    const [a, b] = pair()
    const big = sized(3000)
    const sealed = a.sw.fromPort('lab', 'tap', [big], T0, MTU)
    const forged = sealed[1]!.sealed.slice()
    forged[forged.length - 20]! ^= 1
    route(a, [sealed[0]!, { ...sealed[1]!, sealed: forged }, sealed[0]!])
    const mid = b.sw.vlanCounters().lab!
    expect(mid.receive.auth + mid.receive.replay).toBe(2)
    expect(mid.fragmentsReceived).toBe(1)
    route(a, sealed.slice(1))
    expect(b.written).toEqual([big])
  })

  it("drops a member's lying fragments (overlap, inconsistent total, nested fragment), counted", () => {
    const [a, b] = pair()
    // A member of the VLAN sealing kind-1 plaintexts of its own making.
    const liar = new FrameSender({ kind: 'psk', secrets: derivePskEpochSecrets(secret) })
    const vft = a.sw.fromPort('lab', 'tap', [sized(100)], T0)[0]!.vft
    const seal = (body: Uint8Array) => {
      const p = new Uint8Array(1 + body.length)
      p[0] = KIND_FRAGMENT
      p.set(body, 1)
      return { vft, sealed: liar.seal(vft, p) }
    }
    const header = (id: number, total: number, offset: number, payload: number) => {
      const h = new Uint8Array(10 + payload)
      new DataView(h.buffer).setUint32(0, id)
      h[4] = total >> 16
      h[5] = total >> 8
      h[6] = total
      h[7] = offset >> 16
      h[8] = offset >> 8
      h[9] = offset
      h.fill(1, 10)
      return h
    }
    b.sw.receive(
      [
        seal(header(1, 100, 0, 50)),
        seal(header(1, 100, 40, 20)), // overlaps: abandoned
        seal(header(1, 100, 50, 50)), // of an abandoned datagram
        seal(header(2, 100, 0, 50)),
        seal(header(2, 90, 50, 40)), // inconsistent total
        seal(header(3, 5, 0, 5)), // a whole datagram of kind 1 in one fragment: nested
        seal(new Uint8Array(4)), // malformed
      ],
      T0,
    )
    const cb = b.sw.vlanCounters().lab!
    expect(cb.reassembly.overlap).toBe(1)
    expect(cb.reassembly.abandoned).toBe(1)
    expect(cb.reassembly.inconsistent).toBe(1)
    expect(cb.reassembly.malformed).toBe(1)
    expect(cb.dropUnsupportedKind).toBe(1)
    expect(b.written).toEqual([])
  })

  it('holds bounded memory under a flood of partial fragments, and still reassembles', () => {
    const [a, b] = pair()
    const liar = new FrameSender({ kind: 'psk', secrets: derivePskEpochSecrets(secret) })
    const vft = a.sw.fromPort('lab', 'tap', [sized(100)], T0)[0]!.vft
    const fragmenter = new Fragmenter({ maxFragmentBytes: 1000 })
    const datagram = new Uint8Array(60_000)
    const scratch = new Uint8Array(61 * 1000)
    const flood: ReceivedFrame[] = []
    for (let i = 0; i < 2000; i++) {
      fragmenter.split(datagram, scratch)
      const p = new Uint8Array(1001)
      p[0] = KIND_FRAGMENT
      p.set(scratch.subarray(0, 1000), 1)
      flood.push({ vft, sealed: liar.seal(vft, p) })
    }
    b.sw.receive(flood, T0)
    const cb = b.sw.vlanCounters().lab!
    expect(cb.reassembly.pending).toBe(2000)
    expect(cb.reassembly.bytesHeld).toBeLessThanOrEqual(4 * 1024 * 1024)
    expect(cb.reassembly.held).toBeLessThanOrEqual(256)
    expect(cb.reassembly.evicted).toBeGreaterThanOrEqual(2000 - 256)
    const big = sized(9000)
    route(a, a.sw.fromPort('lab', 'tap', [big], T0, MTU))
    expect(b.written).toEqual([big])
  })

  it('sends a frame @peertap/frag cannot split within its bounds whole, counted', () => {
    const [a, b] = pair()
    const big = sized(9000)
    // 40-byte plaintexts: 11 payload bytes per fragment, over 128 fragments.
    const sealed = a.sw.fromPort('lab', 'tap', [big], T0, 40 + SEAL_OVERHEAD_MAX)
    expect(sealed).toHaveLength(1)
    expect(a.sw.vlanCounters().lab!.fragmentUnsplit).toBe(1)
    route(a, sealed)
    expect(b.written).toEqual([big])
  })

  it("largeGso 'segment': a TCP GSO frame goes as TCP segments that fit, the stream intact", () => {
    const a = node(macA, secret, T0, true, 'segment')
    const b = node(macB, secret, T0, true)
    // A receiver with offloads that does not coalesce: it writes what came, segment by segment.
    const each = node(macB, secret, T0, true, 'segment', false)
    // A receiver without offloads: it finishes each segment's checksum in software.
    const bare = node(macB, secret, T0, false)
    a.peers.push(b, each, bare)
    b.peers.push(a)
    const big = gsoFrame(macB, macA, 30_000, 1448)
    const sealed = a.sw.fromPort('lab', 'tap', [big], T0, MTU)
    for (const f of sealed) expect(f.sealed.length).toBeLessThanOrEqual(MTU)
    const ca = a.sw.vlanCounters().lab!
    expect(ca.segmentedForPath).toBe(1)
    expect(ca.fragmented).toBe(0)
    // Each segment is kind 3, its TCP checksum left partial: nothing summed on the way out.
    expect(ca.sealedOffload).toBe(sealed.length)
    route(a, sealed)
    const sent = Buffer.from(tcpPayload(big.subarray(VNET_HEADER_LENGTH)))
    // Without offloads: plain segments, checksums finished, their TCP payloads the whole stream.
    expect(bare.written).toHaveLength(sealed.length)
    for (const w of bare.written) expect(tcpChecksumHolds(w)).toBe(true)
    expect(Buffer.compare(Buffer.concat(bare.written.map(tcpPayload)), sent)).toBe(0)
    // With offloads, not coalescing: each segment as it came, behind its header.
    expect(each.written).toHaveLength(sealed.length)
    const finished = each.written.flatMap((w) => {
      const plain = toPlainFrames(w)
      if (typeof plain === 'string') throw new Error(plain)
      return plain
    })
    expect(finished).toEqual(bare.written)
    // B coalesces them back into one GSO frame, one write, that segments into exactly those frames.
    expect(b.written).toHaveLength(1)
    const cb = b.sw.vlanCounters().lab!
    expect(cb.framesCoalesced).toBe(1)
    expect(cb.segmentsCoalesced).toBe(sealed.length)
    expect(cb.delivered).toBe(sealed.length)
    const again = toPlainFrames(b.written[0]!)
    if (typeof again === 'string') throw new Error(again)
    expect(again).toEqual(bare.written)
  })

  it('portMtuFitting: at that port MTU full-sized frames and TCP segments cross whole; one byte more and they are cut', () => {
    const PROBED = 1430
    const mtu = portMtuFitting(PROBED)
    expect(mtu).toBe(1377)
    for (const [portMtu, whole] of [
      [mtu, true],
      [mtu + 1, false],
    ] as const) {
      const a = node(macA, secret, T0, true, 'segment')
      const b = node(macB, secret, T0, true, 'segment', false)
      a.peers.push(b)
      b.peers.push(a)
      // The port's own TCP segments at this MTU (IPv4, no options: MSS = MTU - 40), five in a GSO frame.
      const mss = portMtu - 40
      const big = gsoFrame(macB, macA, 5 * mss, mss)
      // One full-sized segment, its checksum partial (NEEDS_CSUM, GSO none): the largest form a frame takes.
      const full = gsoFrame(macB, macA, mss, mss)
      writeVnetHeader(full, 0, {
        flags: VNET_F_NEEDS_CSUM,
        gsoType: 0,
        hdrLen: 14 + 40,
        gsoSize: 0,
        csumStart: 14 + 20,
        csumOffset: 16,
      })
      const sealed = a.sw.fromPort('lab', 'tap', [big, full], T0, PROBED)
      for (const f of sealed) expect(f.sealed.length).toBeLessThanOrEqual(PROBED)
      const c = a.sw.vlanCounters().lab!
      expect(c.segmentedForPath).toBe(1)
      expect(c.fragmented).toBe(whole ? 0 : 1)
      route(a, sealed)
      const segments = b.written
        .slice(0, -1)
        .map((w) => tcpPayload(w.subarray(VNET_HEADER_LENGTH)).length)
      // Whole: the sender's five segments of one MSS each. Cut: more, smaller ones.
      if (whole) expect(segments).toEqual([mss, mss, mss, mss, mss])
      else expect(segments.length).toBeGreaterThan(5)
      expect(b.written.at(-1)).toEqual(full)
    }
  })

  it("largeGso 'fragment': a TCP GSO frame goes in fragments and arrives whole (kind 3)", () => {
    const a = node(macA, secret, T0, true, 'fragment')
    const b = node(macB, secret, T0, true)
    a.peers.push(b)
    b.peers.push(a)
    const big = gsoFrame(macB, macA, 30_000, 1448)
    const sealed = a.sw.fromPort('lab', 'tap', [big], T0, MTU)
    for (const f of sealed) expect(f.sealed.length).toBeLessThanOrEqual(MTU)
    expect(a.sw.vlanCounters().lab!.fragmented).toBe(1)
    route(a, sealed)
    expect(b.written).toEqual([big])
  })
})

describe("Switch largeGso 'stream'", () => {
  it('sends a TCP GSO frame too large for the path whole, counted; a plain frame still fragments', () => {
    const a = node(macA, secret, T0, true, 'stream')
    const b = node(macB, secret, T0, true)
    a.peers.push(b)
    b.peers.push(a)
    const big = gsoFrame(macB, macA, 30_000, 1448)
    const plain = withZero(sized(1514))
    const sealed = a.sw.fromPort('lab', 'tap', [big, plain], T0, 1190)
    expect(sealed).toHaveLength(1 + 2)
    const ca = a.sw.vlanCounters().lab!
    expect(ca.largeGsoWhole).toBe(1)
    expect(ca.fragmented).toBe(1)
    route(a, sealed)
    expect(b.written).toEqual([big, plain])
  })
})
