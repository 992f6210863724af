import {
  type CryptoBackend,
  type EpochSecrets,
  FrameReceiver,
  FrameSender,
  type SharedCells,
} from '@peertap/crypto'
import { Reassembler } from '@peertap/frag'
import {
  heldWindows,
  type Subscription as PortSubscription,
  subscriptionSet,
  VftDeriver,
  windowOf,
} from '@peertap/vft'
import { MAC_AGING_SECONDS, MAX_LEARNED_MACS } from './constants.ts'
import { macFromNumber, macNumber } from './mac-key.ts'

/** Where a switch delivers frames for a local port: a TAP device, TUN-L2, an 802.1Q trunk. */
export interface PortDevice {
  /** The port's own MAC address. */
  readonly mac: Uint8Array
  /** Writes a batch of Ethernet frames (destination MAC first, no FCS) to the port. */
  writeFrames(frames: readonly Uint8Array[]): void
  /**
   * Every frame read from and written to this port is led by a 10-byte
   * virtio-net header (a TAP opened with offloads: partial checksums and
   * TCP segments of up to 64 KiB). Default false: plain Ethernet frames.
   */
  readonly vnetHeader?: boolean
}

/** An epoch of a VLAN's keys: the four secrets and how KIDs are made (PSK or MLS). */
export type EpochKeys =
  | { readonly kind: 'psk'; readonly epoch: number; readonly secrets: EpochSecrets }
  | {
      readonly kind: 'mls'
      readonly epoch: number
      readonly secrets: EpochSecrets
      readonly leafIndex: number
      readonly acceptLeaf?: (leafIndex: number) => boolean
    }

/** One epoch's prepared state: VFT deriver, sender and receiver. */
export class Epoch {
  readonly epoch: number
  /** The epoch's relay-auth seed: SUBs under this epoch's VFTs carry proofs signed with it. */
  readonly authSeed: Uint8Array
  readonly deriver: VftDeriver
  readonly sender: FrameSender
  readonly receiver: FrameReceiver
  /** An MLS epoch's KIDs of ours all have these high 32 bits (our leaf and the epoch byte); PSK: -1. */
  readonly #ownMlsHigh: number
  /** VFT per destination MAC in the current window, so a frame costs a lookup, not a derivation. */
  readonly #vftCache = new Map<number, Uint8Array>()
  #vftCacheWindow = -1

  constructor(keys: EpochKeys, backend: CryptoBackend | undefined, cells?: SharedCells) {
    this.epoch = keys.epoch
    this.authSeed = keys.secrets.authSeed
    this.deriver = new VftDeriver(keys.secrets.vftKey)
    const common = {
      secrets: keys.secrets,
      ...(backend === undefined ? {} : { backend }),
      ...(cells === undefined ? {} : { cells }),
    }
    this.#ownMlsHigh =
      keys.kind === 'mls' ? ((keys.leafIndex << 8) | (keys.epoch & 0xff)) >>> 0 : -1
    if (keys.kind === 'psk') {
      this.sender = new FrameSender({ ...common, kind: 'psk' })
      this.receiver = new FrameReceiver({ ...common, kind: 'psk' })
    } else {
      this.sender = new FrameSender({
        ...common,
        kind: 'mls',
        leafIndex: keys.leafIndex,
        epoch: keys.epoch,
      })
      this.receiver = new FrameReceiver(
        keys.acceptLeaf === undefined
          ? { ...common, kind: 'mls', epoch: keys.epoch }
          : { ...common, kind: 'mls', epoch: keys.epoch, acceptLeaf: keys.acceptLeaf },
      )
    }
  }

  /** Gives the epoch's shared cells back (the switch dropped it); it is not used after this. */
  dispose(): void {
    this.sender.dispose()
    this.receiver.dispose()
  }

  /**
   * A test for frames sealed by this node itself (their KID, as high and low
   * 32 bits), which come back when another node forwards a flooded frame to
   * us: an MLS KID with our leaf (any generation), or our PSK sender's KID.
   * Asked once per receive run (docs/spec/10-switch.md §10.4, step 3).
   */
  ownKidTest(): (high: number, low: number) => boolean {
    const high = this.#ownMlsHigh
    if (high !== -1) return (h) => h === high
    const kid = this.sender.kid
    const kidHigh = Number(kid >> 32n)
    const kidLow = Number(kid & 0xffff_ffffn)
    return (h, l) => h === kidHigh && l === kidLow
  }

  /** The VFT of the MAC at `bytes[offset..offset+6]` in `window`, cached per window. */
  vftFor(bytes: Uint8Array, offset: number, window: number): Uint8Array {
    if (window !== this.#vftCacheWindow) {
      this.#vftCache.clear()
      this.#vftCacheWindow = window
    }
    const key = macNumber(bytes, offset)
    let vft = this.#vftCache.get(key)
    if (vft === undefined) {
      // A sender floods unknown MACs, so bound the cache like the MAC table.
      if (this.#vftCache.size >= 4 * MAX_LEARNED_MACS) this.#vftCache.clear()
      vft = this.deriver.derive(bytes.subarray(offset, offset + 6), window)
      this.#vftCache.set(key, vft)
    }
    return vft
  }
}

/** A local port of a VLAN, with the MACs learned behind it. */
export class Port {
  readonly id: string
  readonly device: PortDevice
  /** The port's frames are led by a virtio-net header (PortDevice.vnetHeader). */
  readonly vnet: boolean
  readonly ownMac: number
  /** Learned source MAC -> last seen (unix seconds). */
  readonly learned = new Map<number, number>()
  multicast: readonly Uint8Array[] = []

  constructor(id: string, device: PortDevice) {
    this.id = id
    this.device = device
    this.vnet = device.vnetHeader === true
    this.ownMac = macNumber(device.mac, 0)
  }

  owns(mac: number): boolean {
    return mac === this.ownMac || this.learned.has(mac)
  }
}

/** Counters of one VLAN; every drop has a reason. */
export interface VlanCounters {
  /** Frames read from local ports. */
  portFrames: number
  /** Frames sealed for the trunk. */
  sealed: number
  sealedBytes: number
  /** Of those, frames sealed as kind 3 (virtio-net header: partial checksum or GSO). */
  sealedOffload: number
  /** Of those, kind-1 fragments (10-switch.md §10.7). */
  sealedFragments: number
  /** Plaintexts too large for the path, split into kind-1 fragments. */
  fragmented: number
  /** TCP GSO frames too large for the path, cut into TCP segments (largeGso 'segment'). */
  segmentedForPath: number
  /** Plaintexts too large for the path that @peertap/frag's bounds cannot split: sent whole. */
  fragmentUnsplit: number
  /** Kind-3 frames too large for the path sent whole under largeGso 'stream'. */
  largeGsoWhole: number
  /** Unicast frames to a MAC nobody subscribes to, sent under the broadcast VFT. */
  floodedUnknown: number
  /** Frames switched between two local ports without the trunk. */
  localSwitched: number
  /** Frames opened and delivered to a local port. */
  delivered: number
  deliveredBytes: number
  /** Drops on the send side. */
  dropRunt: number
  dropTooLarge: number
  /** Source MACs not learned because the port's table was full. */
  learnFull: number
  /** Drops on the receive side (besides the crypto drops counted by each epoch's receiver). */
  dropNotEthernet: number
  dropUnsupportedKind: number
  dropNoPort: number
  /** Kind-3 frames whose virtio-net header or packet headers do not hold up (vnet.ts). */
  dropBadOffload: number
  /** Our own frames, come back through a neighbour that forwarded a flood (receive.ts). */
  dropOwnFrame: number
  /** Kind-3 frames finished in software (checksum, segmentation) for a port without the header. */
  softwareOffload: number
  /** Kind-1 fragments opened; each has one outcome in the VLAN's reassembler counters. */
  fragmentsReceived: number
  /** TCP segments a port with offloads took coalesced into GSO frames (coalesce.ts). */
  segmentsCoalesced: number
  /** The GSO frames they made: one port write each. */
  framesCoalesced: number
}

export function emptyVlanCounters(): VlanCounters {
  return {
    portFrames: 0,
    sealed: 0,
    sealedBytes: 0,
    sealedOffload: 0,
    sealedFragments: 0,
    fragmented: 0,
    segmentedForPath: 0,
    fragmentUnsplit: 0,
    largeGsoWhole: 0,
    floodedUnknown: 0,
    localSwitched: 0,
    delivered: 0,
    deliveredBytes: 0,
    dropRunt: 0,
    dropTooLarge: 0,
    learnFull: 0,
    dropNotEthernet: 0,
    dropUnsupportedKind: 0,
    dropNoPort: 0,
    dropBadOffload: 0,
    dropOwnFrame: 0,
    softwareOffload: 0,
    fragmentsReceived: 0,
    segmentsCoalesced: 0,
    framesCoalesced: 0,
  }
}

/** A CryptoVLAN on this node: its epochs, local ports and learned MACs. */
export class Vlan {
  readonly name: string
  readonly ports = new Map<string, Port>()
  readonly counters = emptyVlanCounters()
  readonly backend: CryptoBackend | undefined
  current: Epoch
  /** The previous epoch, held while an epoch change settles (spec 11-mls.md §11). */
  previous: Epoch | undefined
  /**
   * The next epoch, held for receiving only before it takes effect for
   * sending (an MLS add or update: members subscribe to it before they
   * acknowledge the commit, spec 11-mls.md §11).
   */
  next: Epoch | undefined
  /** Set when learned MACs or multicast lists change, so subscriptions are recomputed. */
  dirty = true
  /**
   * Kind-1 fragments under reassembly, keyed by sender (the KID, so ids of
   * different senders never meet; 10-switch.md §10.7), with @peertap/frag's
   * default bounds: 256 datagrams, 4 MiB, 1 s.
   */
  readonly reassembler = new Reassembler<number>()
  /** The reassembler's clock (ms): kept from going back when the wall clock does. */
  reassemblyClock = 0
  /** Shared cells of a fast path, for every epoch's sender and receiver (SwitchInit.cells). */
  readonly cells: SharedCells | undefined

  constructor(
    name: string,
    keys: EpochKeys,
    backend: CryptoBackend | undefined,
    cells?: SharedCells,
  ) {
    this.name = name
    this.backend = backend
    this.cells = cells
    this.current = new Epoch(keys, backend, cells)
  }

  /** Learns `mac` behind `port` at `now`; returns false when the table is full. */
  learn(port: Port, mac: number, now: number): void {
    if (mac === port.ownMac) return
    const seen = port.learned.get(mac)
    if (seen === undefined) {
      if (port.learned.size >= MAX_LEARNED_MACS) {
        this.counters.learnFull++
        return
      }
      // A MAC that moved from another local port is forgotten there.
      for (const other of this.ports.values()) if (other !== port) other.learned.delete(mac)
      this.dirty = true
    }
    // Refresh at most once a second: a Map write per frame is measurable.
    if (seen === undefined || now - seen >= 1) port.learned.set(mac, now)
  }

  /** Forgets MACs unheard for MAC_AGING_SECONDS. */
  age(now: number): void {
    for (const port of this.ports.values()) {
      for (const [mac, seen] of port.learned) {
        if (now - seen > MAC_AGING_SECONDS) {
          port.learned.delete(mac)
          this.dirty = true
        }
      }
    }
  }

  /** The subscription set of every port in every held epoch at `now` (docs/spec/02-vft.md §4). */
  subscriptions(now: number): PortSubscription<Epoch>[] {
    const epochs = [{ epoch: this.current, deriver: this.current.deriver }]
    if (this.previous !== undefined)
      epochs.push({ epoch: this.previous, deriver: this.previous.deriver })
    if (this.next !== undefined) epochs.push({ epoch: this.next, deriver: this.next.deriver })
    const out: PortSubscription<Epoch>[] = []
    for (const port of this.ports.values()) {
      out.push(
        ...subscriptionSet({
          unixSeconds: now,
          epochs,
          unicastMacs: [port.device.mac, ...[...port.learned.keys()].map(macFromNumber)],
          multicastMacs: port.multicast,
        }),
      )
    }
    return out
  }

  /** The window a sender uses now, and the oldest window receivers still hold. */
  static windows(now: number): { send: number; oldestHeld: number } {
    return { send: windowOf(now), oldestHeld: heldWindows(now)[0]! }
  }
}
