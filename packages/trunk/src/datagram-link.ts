/**
 * The datagram link (docs/spec/13-datagram-link.md): UDP to
 * one neighbour beside its stream link, behind the same `Link` interface.
 *
 * Life of a path:
 *   1. offered   both ends send an offer on CONTROL channel 4 (index, fresh
 *                path key, UDP port, candidate addresses)
 *   2. probing   with both offers, keys per direction; PING every candidate
 *                (bounded by 3x what the stream link received) until a PONG
 *   3. up        frames that fit the path MTU go as DATA datagrams, the rest
 *                on the stream link; padded PINGs probe the MTU up; PINGs
 *                while sending, keepalives while idle
 *   4. lost      5 PINGs in a row unanswered over 500 ms, and no DATA came
 *                for 250 ms: frames go on the stream link,
 *                PINGs every second until a PONG makes the path up again
 *
 * Send: frame -> fits? -> DatagramSealer.sealData -> transport.send, else
 * the stream link (the endpoint sends a task's datagrams in one batch).
 * Receive: endpoint demux by receiver index -> open (replay check, GCM) ->
 * replay update -> DATA up to the receiver once per socket batch (per
 * event-loop turn on node:dgram), PING answered, PONG validates. A datagram that fails any check
 * is dropped and counted and changes nothing.
 *
 * SUB/UNSUB, CONTROL and PING (`ping()`) always use the stream link.
 */
import type { Logger } from '@libp2p/interface'
import {
  type AesPrimitives,
  ReplayWindow,
  type SharedCells,
  SharedReplayWindow,
} from '@peertap/crypto'
import type { Control, Frame, SubscriptionMessage } from './codec.ts'
import {
  CONTROL_DATAGRAM_OFFER,
  DGRAM_AMPLIFICATION_FACTOR,
  DGRAM_BUSY_PING_MS,
  DGRAM_DATA,
  DGRAM_DATA_OVERHEAD,
  DGRAM_DEAD_MS,
  DGRAM_DEAD_PINGS,
  DGRAM_KEEPALIVE_MS,
  DGRAM_PING,
  DGRAM_PING_MIN_LENGTH,
  DGRAM_PROBE_INTERVAL_MS,
  DGRAM_PROBE_PAYLOAD,
  DGRAM_QUIET_MS,
  DGRAM_REPROBE_INTERVAL_MS,
  DGRAM_SAFE_PAYLOAD,
  DGRAM_TICK_MS,
  OFFER_PATH_KEY_LENGTH,
  SEALED_MIN_LENGTH,
  VFT_LENGTH,
} from './constants.ts'
import {
  type DatagramOffer,
  DatagramOpener,
  DatagramSealer,
  derivePathKey,
  encodeOffer,
} from './datagram-codec.ts'
import type { CloseReason } from './errors.ts'
import {
  type HelloResult,
  type Link,
  type LinkCounters,
  type LinkReceiver,
  type LinkStatus,
  newLinkCounters,
  type PingResult,
} from './link.ts'

/** Sends one datagram; never throws (the endpoint counts errors). */
export interface DatagramTransport {
  send(buf: Uint8Array, port: number, address: string): void
}

export type PathState = 'offered' | 'probing' | 'up' | 'lost' | 'closed'

/** Counters of the datagram path, beside the Link counters. */
export interface DatagramCounters {
  datagramsSent: number
  datagramsReceived: number
  /** Dropped: too short, bad length for its type, counter out of range. */
  dropMalformed: number
  dropUnknownType: number
  /** Dropped: the GCM tag did not verify (forged, corrupted, or under an old key). */
  dropAuth: number
  /** Dropped by the replay window. */
  dropReplay: number
  dropTooOld: number
  /** Dropped: arrived before both offers were known. */
  dropNoKeys: number
  pathPingsSent: number
  pathPingsReceived: number
  pathPongsReceived: number
  /** PONGs for no PING we remember. */
  stalePongs: number
  /** Probes not sent: unvalidated candidates over the 3x budget. */
  probeBudgetRefusals: number
  /** Times the path became usable, and times it was lost. */
  pathUps: number
  pathLosses: number
  /** Frames sent on the stream link because the path was not up. */
  framesOnStreamPathDown: number
  /** Frames sent on the stream link because they exceed the path MTU. */
  framesOnStreamTooLarge: number
  offersSent: number
  offersReceived: number
  badOffers: number
  /** Offers refused: a path key this link took before and has since replaced (spec 13 §4). */
  staleOffers: number
}

function newDatagramCounters(): DatagramCounters {
  return {
    datagramsSent: 0,
    datagramsReceived: 0,
    dropMalformed: 0,
    dropUnknownType: 0,
    dropAuth: 0,
    dropReplay: 0,
    dropTooOld: 0,
    dropNoKeys: 0,
    pathPingsSent: 0,
    pathPingsReceived: 0,
    pathPongsReceived: 0,
    stalePongs: 0,
    probeBudgetRefusals: 0,
    pathUps: 0,
    pathLosses: 0,
    framesOnStreamPathDown: 0,
    framesOnStreamTooLarge: 0,
    offersSent: 0,
    offersReceived: 0,
    badOffers: 0,
    staleOffers: 0,
  }
}

export interface DatagramLinkInit {
  /** The stream link to the same neighbour: control traffic, and frames the path cannot carry. */
  stream: Link
  /** Our receiver index (unique in our endpoint). */
  receiverIndex: number
  /** Our UDP port, offered. */
  port: number
  /** Extra addresses to offer beside the one the neighbour sees on the stream link. */
  announce?: string[]
  /** The neighbour's IP as the stream link's connection shows it, tried first. */
  observedAddress?: string
  transport: DatagramTransport
  receiver: LinkReceiver
  cost: number
  /** AES-256-GCM for hop protection (default node:crypto). */
  aes?: AesPrimitives
  log: Logger
  /** Called when the path goes up or is lost. */
  onStateChange?: (link: DatagramLink) => void
  /**
   * Keep the sending counter and the receive window in cells a native fast
   * path shares (docs/spec/18-fast-path.md), so that it can seal and open
   * this path's DATA too. Default: this object's own.
   */
  cells?: SharedCells
  /**
   * Called whenever what `flowPath` says changes (keys, counter cell,
   * address, size, state): a fast path drops its entries for this link.
   */
  onFlowChange?: (link: DatagramLink) => void
  /**
   * How many DATA datagrams the fast path has sent and received on this
   * link so far (cumulative): frames it carries keep the path's liveness
   * checks going as frames sent here do (a path that stops answering is
   * still found lost within a second).
   */
  fastActivity?: (link: DatagramLink) => { sent: number; received: number } | undefined
  now?: () => number
}

/** What a fast path needs to carry DATA on this path itself (DatagramLink.flowPath). */
export interface DatagramFlowPath {
  readonly address: string
  readonly port: number
  /** The largest UDP payload the path carries. */
  readonly payloadMax: number
  /** Sending: the key, the neighbour's receiver index, the shared counter cell. */
  readonly sendKey: Uint8Array
  readonly remoteIndex: number
  readonly counterCell: number
  /** Receiving: our receiver index, the key, the shared window cell. */
  readonly localIndex: number
  readonly receiveKey: Uint8Array
  readonly windowCell: number
}

interface PendingPing {
  sentAt: number
  size: number
  address: string
  port: number
}

interface Candidate {
  address: string
  port: number
}

/** LinkCounters a datagram link takes from its stream link (the messages that travel there). */
const STREAM_COUNTERS = [
  'subsSent',
  'subsReceived',
  'controlSent',
  'controlReceived',
  'controlDropped',
] as const

const MAX_PENDING_PINGS = 64
/** Remote path keys a link remembers to refuse going back to (spec 13 §4). */
const MAX_SEEN_PATH_KEYS = 64
const MTU_PROBE_TRIES = 3
const MTU_PROBE_INTERVAL_MS = 1000

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1'
}

export class DatagramLink implements Link {
  readonly kind = 'datagram' as const
  readonly id: string
  readonly stream: Link
  readonly counters: LinkCounters & DatagramCounters = {
    ...newLinkCounters(),
    ...newDatagramCounters(),
  }
  cost: number

  #state: PathState = 'offered'
  #localOffer: DatagramOffer
  #remoteOffer: DatagramOffer | undefined
  /** Lives as long as our offer: its counter restarts only with a fresh path key of ours (spec 13 §3). */
  #sealer: DatagramSealer | undefined
  /** The neighbour's path keys this link took, as hex, oldest first (spec 13 §4). */
  readonly #seenPathKeys = new Set<string>()
  #opener: DatagramOpener | undefined
  #receiveKey: Uint8Array | undefined
  #replay: ReplayWindow | SharedReplayWindow = new ReplayWindow()
  #candidates: Candidate[] = []
  #path: Candidate | undefined
  #payloadMax = DGRAM_SAFE_PAYLOAD
  #receiver: LinkReceiver
  #paused = false
  readonly #init: DatagramLinkInit
  readonly #now: () => number
  readonly #pings = new Map<bigint, PendingPing>()
  #pending: Frame[] = []
  #deliverScheduled = false
  #timer: ReturnType<typeof setInterval> | undefined
  #lastProbe = Number.NEGATIVE_INFINITY
  #lastPing = Number.NEGATIVE_INFINITY
  #lastPong = Number.NEGATIVE_INFINITY
  #lastDataSend = Number.NEGATIVE_INFINITY
  /** When DATA last went up to the receiver (once per batch). */
  #lastDataReceive = Number.NEGATIVE_INFINITY
  #outstandingSince: number | undefined
  /** PINGs sent since the last PONG (MTU probes and candidate probes not counted). */
  #unanswered = 0
  #mtuProbes = 0
  #lastMtuProbe = Number.NEGATIVE_INFINITY
  #validatedOnce = false
  #unvalidatedBytes = 0
  #rttMs: number | undefined
  #announce: string[]
  /** The fast path's DATA counts at the last tick (DatagramLinkInit.fastActivity). */
  #fastSent = 0
  #fastReceived = 0

  constructor(init: DatagramLinkInit) {
    this.#init = init
    this.#announce = init.announce ?? []
    this.stream = init.stream
    // SUBs, UNSUBs and CONTROL travel on the stream link: its counters are this link's too, so
    // that a status showing the preferred link (this one) shows them.
    for (const name of STREAM_COUNTERS) {
      Object.defineProperty(this.counters, name, {
        get: () => init.stream.counters[name],
        enumerable: true,
      })
    }
    this.id = init.stream.id
    this.cost = init.cost
    this.#receiver = init.receiver
    this.#now = init.now ?? (() => performance.now())
    this.#localOffer = this.#freshOffer()
  }

  // ------------------------------------------------------------ state

  get state(): PathState {
    return this.#state
  }

  get status(): LinkStatus {
    return this.#state === 'up' && this.stream.status === 'up' ? 'up' : 'down'
  }

  /** Largest sealed payload one DATA datagram carries on this path. */
  get mtu(): number {
    return this.#payloadMax - DGRAM_DATA_OVERHEAD
  }

  /** The UDP payload size the path carries (starts at 1232, probed up to 1472). */
  get payloadMax(): number {
    return this.#payloadMax
  }

  /** The address the path uses, once a PONG validated it. */
  get pathAddress(): string | undefined {
    return this.#path === undefined ? undefined : `${this.#path.address}:${this.#path.port}`
  }

  /** The last round trip a PING/PONG measured on the path. */
  get rttMs(): number | undefined {
    return this.#rttMs
  }

  get hello(): HelloResult {
    return this.stream.hello
  }

  /** Whether its stream link (control, frames over the path MTU) runs over a relay's circuit. */
  get relayed(): boolean {
    return this.stream.relayed
  }

  get closeReason(): CloseReason | undefined {
    return this.#state === 'closed' ? (this.stream.closeReason ?? 'local-close') : undefined
  }

  get receiverIndex(): number {
    return this.#localOffer.receiverIndex
  }

  /** Our offer as carried on CONTROL channel 4. */
  offerBytes(): Uint8Array {
    return encodeOffer(this.#localOffer)
  }

  /** Sends our offer on the stream link (spec 13 §4). */
  sendOffer(): boolean {
    const ok = this.stream.sendControl({
      channel: CONTROL_DATAGRAM_OFFER,
      payload: this.offerBytes(),
    })
    if (ok) this.counters.offersSent++
    return ok
  }

  /**
   * Takes the neighbour's offer (decoded; undefined if it did not decode):
   * derives both directions' keys and starts probing its candidates. The
   * offer in force sent again changes no key, counter or window; a path key
   * taken before and since replaced is refused (spec 13 §4).
   */
  acceptOffer(offer: DatagramOffer | undefined): boolean {
    if (this.#state === 'closed') return false
    if (offer === undefined) {
      this.counters.badOffers++
      return false
    }
    const pathKey = hex(offer.pathKey)
    if (pathKey === hex(this.#localOffer.pathKey)) {
      // Our own key back: both directions would seal under one key.
      this.counters.badOffers++
      return false
    }
    this.counters.offersReceived++
    const current = this.#remoteOffer
    const same = current !== undefined && hex(current.pathKey) === pathKey
    if (!same) {
      // Going back to a replaced key would bring back a receive key whose datagrams we accepted.
      if (this.#seenPathKeys.has(pathKey)) {
        this.counters.staleOffers++
        return false
      }
      if (this.#seenPathKeys.size >= MAX_SEEN_PATH_KEYS) {
        // Forgetting a key is safe only once every key derived from it is dead:
        // a fresh offer of ours makes it so.
        this.#seenPathKeys.clear()
        this.#offerAfresh()
      }
      this.#seenPathKeys.add(pathKey)
    }
    this.#remoteOffer = offer
    if (!same) {
      this.#rekey()
    } else if (offer.receiverIndex !== current!.receiverIndex) {
      this.#sealer!.rekey(
        derivePathKey(this.#localOffer.pathKey, offer.pathKey),
        offer.receiverIndex,
      )
      this.#flowChanged()
    }
    const candidates: Candidate[] = []
    const add = (address: string) => {
      // Loopback candidates only when the stream link itself runs over loopback.
      if (isLoopback(address) && !isLoopback(this.#init.observedAddress ?? '')) return
      if (!candidates.some((c) => c.address === address)) {
        candidates.push({ address, port: offer.port })
      }
    }
    if (this.#init.observedAddress !== undefined) add(this.#init.observedAddress)
    for (const a of offer.addresses) add(a)
    this.#candidates = candidates
    // Same keys on a path that answers: nothing to validate again.
    if (same && this.#state === 'up') return true
    this.#setState('probing')
    this.#lastProbe = Number.NEGATIVE_INFINITY
    this.#timer ??= setInterval(() => this.#tick(), DGRAM_TICK_MS)
    this.#timer.unref?.()
    this.#tick()
    return true
  }

  #freshOffer(): DatagramOffer {
    const pathKey = new Uint8Array(OFFER_PATH_KEY_LENGTH)
    crypto.getRandomValues(pathKey)
    return {
      receiverIndex: this.#init.receiverIndex,
      pathKey,
      port: this.#init.port,
      addresses: this.#announce,
    }
  }

  /** A fresh path key of ours, sent: the only place our sending counter starts again (spec 13 §3). */
  #offerAfresh(): void {
    this.#localOffer = this.#freshOffer()
    this.#sealer?.free()
    this.#sealer = undefined
    this.#flowChanged()
    this.sendOffer()
  }

  /**
   * What a native fast path needs to carry DATA on this path
   * (docs/spec/18-fast-path.md), while the path is up, validated and its
   * counters and window live in shared cells; else undefined. Any change is
   * announced with `onFlowChange`.
   */
  flowPath(): DatagramFlowPath | undefined {
    const sealer = this.#sealer
    const path = this.#path
    if (
      this.#init.cells === undefined ||
      this.#state !== 'up' ||
      this.stream.status !== 'up' ||
      sealer === undefined ||
      path === undefined ||
      this.#receiveKey === undefined ||
      !(this.#replay instanceof SharedReplayWindow) ||
      sealer.exhausted
    ) {
      return undefined
    }
    const send = sealer.flow
    return {
      address: path.address,
      port: path.port,
      payloadMax: this.#payloadMax,
      sendKey: send.key,
      remoteIndex: send.receiverIndex,
      counterCell: send.counterCell,
      localIndex: this.#init.receiverIndex,
      receiveKey: this.#receiveKey,
      windowCell: this.#replay.cell,
    }
  }

  #flowChanged(): void {
    this.#init.onFlowChange?.(this)
  }

  /**
   * Keys for the offers in force. The sealer is new (counter 0) only after a
   * fresh offer of ours, else it keeps its counter. The receive key is one
   * never used before (a fresh path key on one side, §4 refuses old ones),
   * so its window starts empty.
   */
  #rekey(): void {
    const remote = this.#remoteOffer!
    const local = this.#localOffer
    const sendKey = derivePathKey(local.pathKey, remote.pathKey)
    if (this.#sealer === undefined) {
      this.#sealer = new DatagramSealer(
        sendKey,
        remote.receiverIndex,
        this.#init.aes,
        this.#init.cells,
      )
    } else {
      this.#sealer.rekey(sendKey, remote.receiverIndex)
    }
    if (this.#replay instanceof SharedReplayWindow) this.#replay.free()
    const cells = this.#init.cells
    this.#replay = cells === undefined ? new ReplayWindow() : new SharedReplayWindow(cells)
    this.#receiveKey = derivePathKey(remote.pathKey, local.pathKey)
    this.#opener = new DatagramOpener(this.#receiveKey, this.#replay, this.#init.aes)
    this.#flowChanged()
    // PINGs sent under the old keys can no longer be answered.
    this.#pings.clear()
    this.#outstandingSince = undefined
    this.#unanswered = 0
  }

  /**
   * Offers again with these addresses (the trunk learned a reflexive address
   * from a relay, spec 13 §4.1): a fresh offer, so both directions get new
   * keys and both sides probe again.
   */
  reoffer(announce: string[]): void {
    if (this.#state === 'closed') return
    this.#announce = announce
    this.#offerAfresh()
    if (this.#remoteOffer === undefined) return
    this.#rekey()
    this.#setState('probing')
    this.#lastProbe = Number.NEGATIVE_INFINITY
  }

  /** Our sending counter is spent: a fresh offer gives both directions new keys (spec 13 §3). */
  #renew(): void {
    this.#offerAfresh()
    this.#rekey()
    this.#setState('probing')
  }

  #setState(state: PathState): void {
    if (this.#state === state) return
    const was = this.#state
    this.#state = state
    if (state === 'up') this.counters.pathUps++
    if (was === 'up' && state !== 'closed') this.counters.pathLosses++
    this.#init.log(
      'datagram path to %s: %s -> %s (%s)',
      this.id,
      was,
      state,
      this.pathAddress ?? '-',
    )
    if (was === 'up' || state === 'up') this.#init.onStateChange?.(this)
    this.#flowChanged()
  }

  // ------------------------------------------------------------ timers

  #tick(): void {
    const now = this.#now()
    switch (this.#state) {
      case 'probing':
        if (now - this.#lastProbe >= DGRAM_PROBE_INTERVAL_MS) this.#probeCandidates(now)
        return
      case 'lost':
        if (now - this.#lastProbe >= DGRAM_REPROBE_INTERVAL_MS) this.#probeCandidates(now)
        return
      case 'up':
        break
      default:
        return
    }
    if (this.stream.status !== 'up') return
    const path = this.#path!
    const fast = this.#init.fastActivity?.(this)
    if (fast !== undefined) {
      if (fast.sent !== this.#fastSent) this.#lastDataSend = now
      if (fast.received !== this.#fastReceived) this.#lastDataReceive = now
      this.#fastSent = fast.sent
      this.#fastReceived = fast.received
    }
    const waiting = this.#outstandingSince !== undefined
    if (
      waiting &&
      now - this.#outstandingSince! > DGRAM_DEAD_MS &&
      this.#unanswered >= DGRAM_DEAD_PINGS &&
      now - this.#lastDataReceive >= DGRAM_QUIET_MS
    ) {
      // Frames move to the stream link now; the path is probed again every second.
      this.#setState('lost')
      this.#lastProbe = now
      this.#outstandingSince = undefined
      this.#unanswered = 0
      return
    }
    // While frames go out, and while a PING waits for its PONG (so that one
    // lost keepalive is asked again, not taken for a lost path).
    const busy = waiting || now - this.#lastDataSend < DGRAM_BUSY_PING_MS
    if (
      (busy &&
        now - this.#lastPong > DGRAM_BUSY_PING_MS &&
        now - this.#lastPing > DGRAM_BUSY_PING_MS) ||
      (now - this.#lastPong > DGRAM_KEEPALIVE_MS && now - this.#lastPing > DGRAM_KEEPALIVE_MS)
    ) {
      this.#sendPing(path, DGRAM_PING_MIN_LENGTH, now)
    }
    if (
      this.#payloadMax < DGRAM_PROBE_PAYLOAD &&
      this.#mtuProbes < MTU_PROBE_TRIES &&
      now - this.#lastMtuProbe >= MTU_PROBE_INTERVAL_MS
    ) {
      this.#mtuProbes++
      this.#lastMtuProbe = now
      // A padded PING does not count as outstanding: its loss says the MTU is smaller, not that the path is lost.
      this.#sendPing(path, DGRAM_PROBE_PAYLOAD, now, false)
    }
  }

  #probeCandidates(now: number): void {
    this.#lastProbe = now
    const list =
      this.#path !== undefined && !this.#candidates.includes(this.#path)
        ? [this.#path, ...this.#candidates]
        : this.#candidates
    for (const c of list) {
      if (!this.#validatedOnce) {
        // Before any PONG, never send more than 3x what the neighbour sent us (spec 13 §5).
        const budget = DGRAM_AMPLIFICATION_FACTOR * this.stream.counters.bytesReceived
        if (this.#unvalidatedBytes + DGRAM_PING_MIN_LENGTH > budget) {
          this.counters.probeBudgetRefusals++
          continue
        }
        this.#unvalidatedBytes += DGRAM_PING_MIN_LENGTH
      }
      this.#sendPing(c, DGRAM_PING_MIN_LENGTH, now, false)
    }
  }

  #sendPing(to: Candidate, size: number, now: number, outstanding = true): void {
    const nonceBuf = new BigUint64Array(1)
    crypto.getRandomValues(nonceBuf)
    const nonce = nonceBuf[0]!
    const buf = this.#sealer?.sealPing(nonce, size)
    if (buf === undefined) {
      if (this.#sealer?.exhausted) this.#renew()
      return
    }
    if (this.#pings.size >= MAX_PENDING_PINGS) {
      this.#pings.delete(this.#pings.keys().next().value!)
    }
    this.#pings.set(nonce, { sentAt: now, size, address: to.address, port: to.port })
    this.#lastPing = now
    if (outstanding) {
      this.#outstandingSince ??= now
      this.#unanswered++
    }
    this.counters.pathPingsSent++
    this.counters.datagramsSent++
    this.#init.transport.send(buf, to.port, to.address)
  }

  // ------------------------------------------------------------ send

  sendFrames(frames: readonly Frame[]): number {
    if (this.#state !== 'up' || this.stream.status !== 'up') {
      this.counters.framesOnStreamPathDown += frames.length
      return this.stream.sendFrames(frames)
    }
    const c = this.counters
    const mtu = this.mtu
    const path = this.#path!
    const sealer = this.#sealer!
    const transport = this.#init.transport
    let large: Frame[] | undefined
    let sent = 0
    for (const frame of frames) {
      const sealedLength = frame.sealed.length
      if (frame.vft.length !== VFT_LENGTH || sealedLength < SEALED_MIN_LENGTH) {
        c.dropInvalid++
        continue
      }
      if (sealedLength > mtu) {
        large ??= []
        large.push(frame)
        continue
      }
      const buf = sealer.sealData(frame)
      if (buf === undefined) {
        large ??= []
        large.push(frame)
        continue
      }
      transport.send(buf, path.port, path.address)
      c.framesSent++
      c.bytesSent += buf.length
      c.writes++
      sent++
    }
    c.datagramsSent += sent
    if (sent > 0) this.#lastDataSend = this.#now()
    if (sealer.exhausted) this.#renew()
    if (large !== undefined) {
      c.framesOnStreamTooLarge += large.length
      sent += this.stream.sendFrames(large)
    }
    return sent
  }

  sendSubscription(sub: SubscriptionMessage, unsubscribe?: boolean): boolean {
    return this.stream.sendSubscription(sub, unsubscribe)
  }

  sendControl(control: Control): boolean {
    return this.stream.sendControl(control)
  }

  ping(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<PingResult> {
    return this.stream.ping(options)
  }

  setReceiver(receiver: LinkReceiver): void {
    this.#receiver = receiver
  }

  pauseReceive(): void {
    this.#paused = true
  }

  resumeReceive(): void {
    this.#paused = false
  }

  async close(_reason?: CloseReason): Promise<void> {
    if (this.#state === 'closed') return
    this.#setState('closed')
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#pings.clear()
    this.#pending = []
    // Its cells go back (reused once the fast path's entries are cleared).
    this.#sealer?.free()
    if (this.#replay instanceof SharedReplayWindow) this.#replay.free()
  }

  // ------------------------------------------------------------ receive

  /**
   * One datagram the endpoint demultiplexed to us; never throws. Frames go
   * up on the next loop turn with whatever else arrives in this poll phase,
   * or, with `deferDelivery`, when the endpoint calls deliverReceived() at
   * the end of its batch.
   */
  receive(buf: Uint8Array, address: string, port: number, deferDelivery = false): void {
    const c = this.counters
    if (this.#state === 'closed') return
    const opener = this.#opener
    if (opener === undefined) {
      c.dropNoKeys++
      return
    }
    const r = opener.open(buf)
    if (typeof r === 'string') {
      switch (r) {
        case 'malformed':
          c.dropMalformed++
          return
        case 'unknown-type':
          c.dropUnknownType++
          return
        case 'auth':
          c.dropAuth++
          return
        case 'replay':
          c.dropReplay++
          return
        case 'too-old':
          c.dropTooOld++
          return
      }
    }
    // Authentic and fresh: only now may it change anything. With shared
    // cells the fast path may have taken this counter meanwhile: a replay.
    if (this.#replay.accept(r.counter) !== undefined) {
      c.dropReplay++
      return
    }
    c.datagramsReceived++
    c.bytesReceived += buf.length
    if (r.type === DGRAM_DATA) {
      if (this.#paused) {
        c.dropQueueFull++
        return
      }
      this.#pending.push(r.frame)
      if (!deferDelivery && !this.#deliverScheduled) {
        this.#deliverScheduled = true
        // Everything read in this poll phase goes up as one batch.
        setImmediate(this.#deliver)
      }
      return
    }
    if (r.type === DGRAM_PING) {
      c.pathPingsReceived++
      const pong = this.#sealer!.sealPong(r.nonce, r.size)
      if (pong === undefined) return
      c.datagramsSent++
      this.#init.transport.send(pong, port, address)
      return
    }
    c.pathPongsReceived++
    const ping = this.#pings.get(r.nonce)
    if (ping === undefined) {
      c.stalePongs++
      return
    }
    this.#pings.delete(r.nonce)
    const now = this.#now()
    this.#lastPong = now
    this.#outstandingSince = undefined
    this.#unanswered = 0
    this.#rttMs = now - ping.sentAt
    if (r.size === ping.size && ping.size > this.#payloadMax) {
      this.#payloadMax = ping.size
      this.#flowChanged()
    }
    if (this.#state !== 'up') {
      const candidate = this.#candidates.find(
        (x) => x.address === ping.address && x.port === ping.port,
      )
      this.#path = candidate ?? { address: ping.address, port: ping.port }
      this.#validatedOnce = true
      this.#mtuProbes = 0
      this.#lastMtuProbe = Number.NEGATIVE_INFINITY
      this.#setState('up')
    }
  }

  /** Hands up the frames received so far (the endpoint's batch ended). */
  deliverReceived(): void {
    this.#deliver()
  }

  readonly #deliver = (): void => {
    this.#deliverScheduled = false
    const frames = this.#pending
    if (frames.length === 0) return
    this.#pending = []
    this.#lastDataReceive = this.#now()
    const c = this.counters
    c.framesReceived += frames.length
    c.batchesReceived++
    const r = this.#receiver
    if (r.onFrames === undefined) return
    try {
      r.onFrames(frames, this)
    } catch (err) {
      c.receiverErrors++
      this.#init.log.error('link receiver threw - %e', err)
    }
  }
}
