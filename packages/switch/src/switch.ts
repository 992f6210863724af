import type { CryptoBackend, ReceiveCounters, SealedFrame, SharedCells } from '@peertap/crypto'
import type { ReassemblerCounters } from '@peertap/frag'
import { BROADCAST_MAC, heldWindows, type Mac, vftKey } from '@peertap/vft'
import { DEFAULT_HOP_LIMIT, type LargeGso, MAX_FRAME_LENGTH } from './constants.ts'
import { SwitchError } from './errors.ts'
import { isGroupAt, macNumber } from './mac-key.ts'
import { newReceiveContext, type ReceiveContext, receiveFrames } from './receive.ts'
import { newSendContext, type SendContext, sendFromPort } from './send.ts'
import { VftMap } from './vft-map.ts'
import { Epoch, type EpochKeys, Port, type PortDevice, Vlan, type VlanCounters } from './vlan.ts'

/**
 * A frame sealed for the trunk: @peertap/crypto's `SealedFrame`, the FRAME
 * message's fields (spec 08-trunk.md §4.2), the one type that
 * @peertap/trunk's and @peertap/relay's `Frame` are too, so sealed frames go
 * to the forwarding table without a cast; the table writes the outgoing hop
 * limit into `hopLimit`.
 */
export type { SealedFrame }

/** A frame from the trunk that the forwarding table routed to this node. */
export interface ReceivedFrame {
  readonly vft: Uint8Array
  readonly sealed: Uint8Array
}

/** What a VFT this node holds stands for. */
export interface LocalSubscription {
  readonly vlan: Vlan
  readonly epoch: Epoch
  readonly window: number
  readonly mac: Mac
  /** True for the VFT of a group MAC (broadcast or multicast). */
  readonly groupVft: boolean
}

/** Node-wide counters, besides each VLAN's own. */
export interface SwitchCounters {
  /** Frames routed here under a VFT this node does not hold. */
  dropNotHeld: number
}

export interface SwitchInit {
  /**
   * Whether any neighbour other than this node subscribes to `vft` (the
   * forwarding table answers). Unicast nobody subscribes to is flooded
   * under the broadcast VFT.
   */
  readonly hasRemoteSubscriber: (vft: Uint8Array) => boolean
  /** Called with the body of kind-2 (control) plaintexts, MLS messages later. */
  readonly onControl?: (vlan: string, body: Uint8Array) => void
  /** Default: node:crypto. */
  readonly backend?: CryptoBackend
  /** Hop limit of frames this node originates. Default 8. */
  readonly hopLimit?: number
  /** Largest Ethernet frame taken from a port (without a virtio-net header). Default MAX_FRAME_LENGTH. */
  readonly maxFrameLength?: number
  /**
   * A TCP GSO frame (kind 3) too large for the path ({@link Switch.fromPort}'s
   * `maxSealed`): 'stream' sends it whole (a datagram link hands it to its
   * stream link, which carries it in one write), 'segment' cuts it into TCP
   * segments that each fit (lost one by one on a lossy path), 'fragment'
   * splits it into kind-1 fragments like any other plaintext (the receiver
   * writes one large frame to its TAP). Default 'segment': with the
   * segments' checksums partial and the receiver coalescing them, bulk TCP
   * on a clean datagram path comes within about 11 % of the stream link's
   * rate, and under loss runs several times faster (10-switch.md §10.7 has
   * the figures).
   */
  readonly largeGso?: LargeGso
  /**
   * Whether the receive path coalesces the consecutive TCP segments of a
   * flow in one batch into one GSO frame for a port with offloads, as the
   * kernel's GRO does (coalesce.ts; 10-switch.md §10.8): one port write
   * and one pass through the receiving TCP stack instead of one per
   * segment. Default true.
   */
  readonly coalesce?: boolean
  /**
   * A native fast path's shared cells (docs/spec/18-fast-path.md): every
   * epoch's sender keeps its counters, and its receiver its KIDs' replay
   * windows, there.
   */
  readonly cells?: SharedCells
  /**
   * Told of each whole frame (kind 0, or kind 3 before its checks) opened
   * under a unicast VFT of a port's own MAC, with the KID it came under and
   * the Ethernet frame (a view, valid during the call): where a fast path
   * may take that flow's next frames itself (docs/spec/18-fast-path.md).
   */
  readonly onOpened?: (
    sub: LocalSubscription,
    vft: Uint8Array,
    kidHi: number,
    kidLo: number,
    ethernet: Uint8Array,
  ) => void
  /**
   * Called at once, synchronously, after a VLAN, a port or an epoch is
   * added, removed or replaced: a fast path drops its flows then, not at
   * the next refresh.
   */
  readonly onKeysChange?: () => void
}

/** What {@link Switch.vlanCounters} tells of one VLAN. */
export type VlanCountersOut = VlanCounters & {
  receive: ReceiveCounters
  learned: number
  /** Fragment reassembly: one outcome per fragment, expiries and evictions, and what it holds now. */
  reassembly: ReassemblerCounters & { held: number; bytesHeld: number }
}

/** The changes to this node's own subscriptions since the last refresh. */
export interface SubscriptionChange {
  readonly added: Uint8Array[]
  readonly removed: Uint8Array[]
}

/**
 * The CryptoVLAN switch of one node: VLANs with their epochs and local
 * ports, MAC learning, the subscriptions the node must hold, the send path
 * (port -> sealed frames, send.ts) and the receive path (sealed frames ->
 * ports, receive.ts). Pure: devices come in as {@link PortDevice}s, the
 * forwarding table as a predicate, and the time as an argument.
 */
export class Switch {
  readonly counters: SwitchCounters = { dropNotHeld: 0 }
  readonly #vlans = new Map<string, Vlan>()
  readonly #local = new VftMap<LocalSubscription>()
  /**
   * VFTs of removed VLANs, dropped from {@link #local} at once (so their
   * frames are not held) and reported as removed by the next refresh.
   */
  #unheld: Uint8Array[] = []
  readonly #send: SendContext
  readonly #receive: ReceiveContext
  readonly #backend: CryptoBackend | undefined
  readonly #onControl: ((vlan: string, body: Uint8Array) => void) | undefined
  readonly #cells: SharedCells | undefined
  readonly #onKeysChange: (() => void) | undefined
  #windowsKey = ''

  constructor(init: SwitchInit) {
    this.#send = newSendContext(
      init.hopLimit ?? DEFAULT_HOP_LIMIT,
      init.maxFrameLength ?? MAX_FRAME_LENGTH,
      init.hasRemoteSubscriber,
      init.largeGso ?? 'segment',
    )
    this.#receive = newReceiveContext(init.coalesce ?? true, init.onOpened)
    this.#backend = init.backend
    this.#onControl = init.onControl
    this.#cells = init.cells
    this.#onKeysChange = init.onKeysChange
  }

  addVlan(name: string, keys: EpochKeys): void {
    if (this.#vlans.has(name)) throw new SwitchError('vlan-exists', `VLAN ${name} exists`)
    this.#vlans.set(name, new Vlan(name, keys, this.#backend, this.#cells))
    this.#onKeysChange?.()
  }

  addPort(vlan: string, portId: string, device: PortDevice): void {
    const v = this.#vlan(vlan)
    if (v.ports.has(portId))
      throw new SwitchError('port-exists', `port ${portId} exists on VLAN ${vlan}`)
    v.ports.set(portId, new Port(portId, device))
    v.dirty = true
    this.#onKeysChange?.()
  }

  /**
   * Removes a local port with the MACs learned behind it and its multicast
   * list; the next {@link refresh} reports the VFTs only it stood for as
   * removed. Frames for its MACs arriving before then find no port and are
   * dropped and counted (`dropNoPort`).
   */
  removePort(vlan: string, portId: string): void {
    const v = this.#vlan(vlan)
    if (!v.ports.delete(portId))
      throw new SwitchError('no-port', `no port ${portId} on VLAN ${vlan}`)
    v.dirty = true
    this.#onKeysChange?.()
  }

  /**
   * Removes a VLAN and everything it holds: its epochs' keys, ports,
   * learned MACs, multicast lists, reassembler and counters. Its VFTs stop
   * being held at once (a frame under one is dropped and counted as any
   * frame under a VFT this node does not hold, `dropNotHeld`) and the next
   * {@link refresh} reports them as removed, for UNSUBs. Other VLANs are
   * untouched; a VLAN of the same name may be added again.
   */
  removeVlan(name: string): void {
    const v = this.#vlan(name)
    this.#vlans.delete(name)
    for (const e of [v.current, v.previous, v.next]) e?.dispose()
    for (const [vft, sub] of [...this.#local.entries()]) {
      if (sub.vlan !== v) continue
      this.#local.delete(vft)
      this.#unheld.push(vft)
    }
    this.#onKeysChange?.()
  }

  /** Sets the multicast MACs a port's interface has joined (its device multicast list). */
  setMulticast(vlan: string, portId: string, macs: readonly Mac[]): void {
    const port = this.#port(vlan, portId)
    const before = port.multicast.map(vftKey).sort().join()
    const after = macs.map(vftKey).sort().join()
    if (before === after) return
    port.multicast = macs
    this.#vlan(vlan).dirty = true
  }

  /**
   * Moves a VLAN to a new epoch. The old one is kept for receiving while
   * the change settles, until {@link dropPreviousEpoch}. If the epoch was
   * prepared ({@link prepareEpoch}), its receive state (replay windows) is
   * kept; any other prepared epoch is forgotten.
   */
  setEpoch(vlan: string, keys: EpochKeys): void {
    const v = this.#vlan(vlan)
    const prepared = v.next !== undefined && v.next.epoch === keys.epoch ? v.next : undefined
    // Epochs let go of give their shared cells back (reused after the fast path's clear below).
    v.previous?.dispose()
    if (prepared === undefined) v.next?.dispose()
    v.previous = v.current
    v.current = prepared ?? new Epoch(keys, this.#backend, this.#cells)
    v.next = undefined
    v.dirty = true
    this.#onKeysChange?.()
  }

  /**
   * Holds a VLAN's next epoch for receiving only (its VFTs join the
   * subscriptions at the next refresh) while the node still seals under
   * the current one; {@link setEpoch} with the same epoch then makes it
   * current.
   */
  prepareEpoch(vlan: string, keys: EpochKeys): void {
    const v = this.#vlan(vlan)
    v.next?.dispose()
    v.next = new Epoch(keys, this.#backend, this.#cells)
    v.dirty = true
    this.#onKeysChange?.()
  }

  /** The epoch numbers a VLAN holds: current, and previous and next if held. */
  epochsOf(vlan: string): { current: number; previous?: number; next?: number } {
    const v = this.#vlan(vlan)
    return {
      current: v.current.epoch,
      ...(v.previous === undefined ? {} : { previous: v.previous.epoch }),
      ...(v.next === undefined ? {} : { next: v.next.epoch }),
    }
  }

  /** The relay-auth seeds of every epoch the node holds, for membership proofs. */
  authSeeds(): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const v of this.#vlans.values()) {
      for (const e of [v.current, v.previous, v.next]) if (e !== undefined) out.push(e.authSeed)
    }
    return out
  }

  dropPreviousEpoch(vlan: string): void {
    const v = this.#vlan(vlan)
    v.previous?.dispose()
    v.previous = undefined
    v.dirty = true
    this.#onKeysChange?.()
  }

  /**
   * The send path (send.ts): frames read from a local port, sealed for the
   * trunk. `maxSealed` is the largest sealed payload the frames' path
   * carries in one datagram (the smallest MTU of the datagram links they
   * may take); a plaintext that would seal larger is split into kind-1
   * fragments that fit, or cut into TCP segments (SwitchInit.largeGso).
   * Default: no bound (the stream link carries whole frames).
   */
  fromPort(
    vlan: string,
    portId: string,
    frames: readonly Uint8Array[],
    now: number,
    maxSealed = Number.POSITIVE_INFINITY,
  ): SealedFrame[] {
    const v = this.#vlan(vlan)
    const out: SealedFrame[] = []
    sendFromPort(
      this.#send,
      v,
      this.#port(vlan, portId),
      frames,
      now,
      Vlan.windows(now).send,
      out,
      maxSealed,
    )
    return out
  }

  /**
   * For a fast path (docs/spec/18-fast-path.md): the flow a frame from the
   * port's own MAC to a unicast MAC is, now: its VFT in the current epoch and
   * send window, and that epoch, when a remote neighbour receives under it
   * and the VLAN has no other local port (so the frame is neither switched
   * locally nor flooded); else undefined. `eth` is where the Ethernet frame
   * starts (after a virtio-net header).
   */
  flowOf(
    vlan: string,
    portId: string,
    frame: Uint8Array,
    eth: number,
    now: number,
  ): { vft: Uint8Array; hopLimit: number; epoch: Epoch } | undefined {
    const v = this.#vlans.get(vlan)
    const port = v?.ports.get(portId)
    if (v === undefined || port === undefined || v.ports.size !== 1) return undefined
    if (frame.length < eth + 14 || isGroupAt(frame, eth)) return undefined
    if (macNumber(frame, eth + 6) !== port.ownMac || macNumber(frame, eth) === port.ownMac)
      return undefined
    const vft = v.current.vftFor(frame, eth, Vlan.windows(now).send)
    if (!this.#send.hasRemoteSubscriber(vft)) return undefined
    return { vft, hopLimit: this.#send.hopLimit, epoch: v.current }
  }

  /** Seals a control plaintext (kind 2) for every member of a VLAN, under the broadcast VFT. */
  sealControl(vlan: string, body: Uint8Array, now: number): SealedFrame {
    const v = this.#vlan(vlan)
    const vft = v.current.vftFor(BROADCAST_MAC, 0, Vlan.windows(now).send)
    const plaintext = new Uint8Array(body.length + 1)
    plaintext[0] = 2
    plaintext.set(body, 1)
    return { hopLimit: this.#send.hopLimit, vft, sealed: v.current.sender.seal(vft, plaintext) }
  }

  /**
   * The receive path (receive.ts): frames routed to this node, at `now`
   * (unix seconds; the clock of fragment reassembly).
   */
  receive(frames: readonly ReceivedFrame[], now: number): void {
    receiveFrames(this.#local, frames, this.counters, this.#onControl, this.#receive, now)
  }

  /** Whether this node holds `vft` (so the forwarding table routes it here). */
  holds(vft: Uint8Array): boolean {
    return this.#local.get(vft) !== undefined
  }

  /**
   * Ages learned MACs, follows window turns, and recomputes the node's
   * subscriptions where something changed; returns what changed, for
   * SUB/UNSUB, or undefined when nothing did. Call it every second or so,
   * and after a batch that learned a MAC.
   */
  refresh(now: number): SubscriptionChange | undefined {
    const held = heldWindows(now)
    const windowsKey = held.join()
    const turned = windowsKey !== this.#windowsKey
    this.#windowsKey = windowsKey
    let changed = this.#unheld.length > 0
    for (const v of this.#vlans.values()) {
      v.age(now)
      // Frees reassemblies that can no longer complete when no fragments come to do it.
      if (now * 1000 > v.reassemblyClock) v.reassemblyClock = now * 1000
      v.reassembler.expire(v.reassemblyClock)
      if (turned || v.dirty) changed = true
      v.current.receiver.setOldestHeldWindow(held[0]!)
      v.previous?.receiver.setOldestHeldWindow(held[0]!)
      v.next?.receiver.setOldestHeldWindow(held[0]!)
    }
    if (!changed) return undefined
    const next = new VftMap<LocalSubscription>()
    for (const v of this.#vlans.values()) {
      v.dirty = false
      for (const sub of v.subscriptions(now)) {
        next.set(sub.vft, {
          vlan: v,
          epoch: sub.epoch,
          window: sub.window,
          mac: sub.mac,
          groupVft: (sub.mac[0]! & 1) === 1,
        })
      }
    }
    const added: Uint8Array[] = []
    const removed: Uint8Array[] = []
    // A removed VLAN's VFTs: unsubscribed, unless a VLAN added since holds them again.
    const unheld = new VftMap<true>()
    for (const vft of this.#unheld) unheld.set(vft, true)
    this.#unheld = []
    for (const [vft] of next.entries())
      if (this.#local.get(vft) === undefined && unheld.get(vft) === undefined) added.push(vft)
    for (const [vft] of this.#local.entries()) if (next.get(vft) === undefined) removed.push(vft)
    for (const [vft] of unheld.entries()) if (next.get(vft) === undefined) removed.push(vft)
    this.#local.clear()
    for (const [vft, sub] of next.entries()) this.#local.set(vft, sub)
    return added.length === 0 && removed.length === 0 ? undefined : { added, removed }
  }

  /**
   * What a VFT this node holds stands for (VLAN, epoch, window, MAC), or
   * undefined: the node groups its SUBs by VLAN and window so that each
   * carries the membership proof for its own VFTs (spec 07, 12-relay.md).
   */
  subscriptionOf(vft: Uint8Array): LocalSubscription | undefined {
    return this.#local.get(vft)
  }

  /** Every VFT this node holds now. */
  heldVfts(): Uint8Array[] {
    return [...this.#local.entries()].map(([vft]) => vft)
  }

  /** Counters of every VLAN, with its epochs' receive counters and its reassembler's. */
  vlanCounters(): Record<string, VlanCountersOut> {
    const out: Record<string, VlanCountersOut> = {}
    for (const v of this.#vlans.values()) {
      let learned = 0
      for (const port of v.ports.values()) learned += port.learned.size
      const receive = { ...v.current.receiver.counters }
      for (const e of [v.previous, v.next]) {
        if (e === undefined) continue
        for (const [reason, n] of Object.entries(e.receiver.counters)) {
          receive[reason as keyof ReceiveCounters] += n
        }
      }
      out[v.name] = {
        ...v.counters,
        receive,
        learned,
        reassembly: {
          ...v.reassembler.counters,
          held: v.reassembler.reassemblies,
          bytesHeld: v.reassembler.bytesHeld,
        },
      }
    }
    return out
  }

  vlanNames(): string[] {
    return [...this.#vlans.keys()]
  }

  #vlan(name: string): Vlan {
    const v = this.#vlans.get(name)
    if (v === undefined) throw new SwitchError('no-vlan', `no VLAN ${name}`)
    return v
  }

  #port(vlan: string, portId: string): Port {
    const port = this.#vlan(vlan).ports.get(portId)
    if (port === undefined) throw new SwitchError('no-port', `no port ${portId} on VLAN ${vlan}`)
    return port
  }
}
