/**
 * The stream link: one `/peertap/trunk/1.0.0` stream to one neighbour
 * (spec 08-trunk.md §5-§7). Both ends send HELLO as soon as the stream
 * opens; the link is up once the neighbour's HELLO arrives and the version
 * ranges overlap. After that it carries FRAMEs and BATCHes (send.ts,
 * receive.ts), SUB/UNSUB, PING/PONG and CONTROL. Any malformed message
 * closes the stream with a counted reason; nothing a peer sends can throw
 * out of here.
 */
import type { Logger, PeerId, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import {
  decodeControlBody,
  decodeHelloBody,
  decodePingBody,
  decodePongBody,
  decodeSubscriptionBody,
  encodeMessage,
  type Frame,
  type Hello,
  type Message,
  readLength,
  type SubscriptionMessage,
} from './codec.ts'
import {
  FRAME_HEADER_LENGTH,
  HELLO_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  KEEPALIVE_INTERVAL_MS,
  MAX_BATCH_COUNT,
  MAX_HOPS,
  MESSAGE_LENGTH_LIMIT,
  MIN_ADVERTISED_MESSAGE_SIZE,
  MSG_BATCH,
  MSG_CONTROL,
  MSG_FRAME,
  MSG_HELLO,
  MSG_PING,
  MSG_PONG,
  MSG_SUB,
  MSG_UNSUB,
  SEALED_MIN_LENGTH,
  SKEW_WARN_MS,
  VFT_LENGTH,
} from './constants.ts'
import { type CloseReason, TrunkError, WireError } from './errors.ts'
import {
  type HelloResult,
  type Link,
  type LinkCounters,
  type LinkReceiver,
  type LinkStatus,
  newLinkCounters,
  type PingResult,
} from './link.ts'
import { MessageReader } from './receive.ts'
import { SendQueue, type SendQueueBounds } from './send.ts'
import type { SendBudget } from './send-budget.ts'

/** Most PINGs of one link waiting for their PONG. */
const MAX_PENDING_PINGS = 64

export interface StreamLinkInit {
  stream: Stream
  remotePeer: PeerId
  /** True on the side that opened the stream. */
  initiator: boolean
  /** Our HELLO, timestamp filled in when sent. */
  hello: Omit<Hello, 'timestamp'>
  /** Our PeerId as multihash bytes, appended to PONG hop records. */
  localPeerIdBytes: Uint8Array
  bounds: SendQueueBounds
  /** The trunk's send budget, shared with its other links (spec 08-trunk.md §6.1). */
  budget?: SendBudget
  receiver: LinkReceiver
  cost: number
  /** The stream runs over a circuit-relay-v2 connection (Link.relayed). */
  relayed?: boolean
  log: Logger
  /** Called when HELLO succeeds; false means the trunk keeps another link to this neighbour. */
  onUp: (link: StreamLink) => boolean
  /** Called once when the link goes down, whatever the reason. */
  onClose: (link: StreamLink, reason: CloseReason) => void
  now?: () => number
}

interface PendingPing {
  sentAt: number
  resolve: (r: PingResult) => void
  reject: (e: Error) => void
  timer: ReturnType<typeof setTimeout>
}

/** Negotiates a version from two ranges: the highest both speak, or undefined (spec 08-trunk.md §5). */
export function negotiateVersion(
  local: { versionMin: number; versionMax: number },
  remote: { versionMin: number; versionMax: number },
): number | undefined {
  const high = Math.min(local.versionMax, remote.versionMax)
  const low = Math.max(local.versionMin, remote.versionMin)
  return high >= low ? high : undefined
}

export class StreamLink implements Link {
  readonly kind = 'stream' as const
  readonly id: string
  readonly remotePeer: PeerId
  readonly initiator: boolean
  readonly relayed: boolean
  readonly stream: Stream
  readonly counters: LinkCounters = newLinkCounters()
  cost: number
  /** Resolves when the HELLO exchange succeeds, rejects with the close reason when it fails. */
  readonly ready: Promise<void>

  #status: LinkStatus | 'hello' = 'hello'
  #closeReason: CloseReason | undefined
  #hello: HelloResult | undefined
  #receiver: LinkReceiver
  readonly #init: StreamLinkInit
  readonly #reader: MessageReader
  readonly #queue: SendQueue
  readonly #log: Logger
  readonly #now: () => number
  readonly #pings = new Map<bigint, PendingPing>()
  #frames: Frame[] = []
  #helloTimer: ReturnType<typeof setTimeout> | undefined
  #keepalive: ReturnType<typeof setInterval> | undefined
  #lastReceive = 0
  /** When HELLO completed (ms, the link's clock); 0 before. */
  #upAt = 0
  #sentSinceKeepalive = 0
  #readyResolve!: () => void
  #readyReject!: (e: Error) => void

  constructor(init: StreamLinkInit) {
    this.#init = init
    this.stream = init.stream
    this.remotePeer = init.remotePeer
    this.id = init.remotePeer.toString()
    this.initiator = init.initiator
    this.relayed = init.relayed ?? false
    this.cost = init.cost
    this.#receiver = init.receiver
    this.#log = init.log
    this.#now = init.now ?? Date.now
    this.ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve
      this.#readyReject = reject
    })
    // The trunk awaits `ready`; avoid an unhandled rejection if nobody does.
    this.ready.catch(() => {})
    this.#reader = new MessageReader(init.hello.maxMessageSize, this.#onMessage)
    this.#queue = new SendQueue(init.stream, this.counters, init.bounds, init.budget)

    const stream = init.stream
    stream.addEventListener('message', (evt) => {
      this.#onData(evt.data)
    })
    stream.addEventListener('remoteCloseWrite', () => {
      if (this.#status === 'down') return
      this.#down(this.#reader.buffered > 0 ? 'truncated' : 'remote-closed')
      this.stream.close().catch(() => {})
    })
    stream.addEventListener('close', (evt) => {
      const reason: CloseReason =
        this.#reader.buffered > 0
          ? 'truncated'
          : evt.error != null
            ? 'stream-error'
            : 'remote-closed'
      this.#fail(reason, false)
    })

    this.#helloTimer = setTimeout(() => this.#fail('hello-timeout'), HELLO_TIMEOUT_MS)
    this.#helloTimer.unref?.()
    try {
      const hello = encodeMessage({
        type: 'hello',
        hello: { ...init.hello, timestamp: this.#now() },
      })
      stream.send(hello)
    } catch {
      this.#fail('stream-error', false)
    }
  }

  /** How long the link has been up, in ms (0 before HELLO completed). */
  upForMs(): number {
    return this.#upAt === 0 ? 0 : this.#now() - this.#upAt
  }

  get status(): LinkStatus {
    return this.#status === 'up' ? 'up' : 'down'
  }

  get closeReason(): CloseReason | undefined {
    return this.#closeReason
  }

  get hello(): HelloResult {
    if (this.#hello === undefined) throw new TrunkError('link-down', 'HELLO not yet exchanged')
    return this.#hello
  }

  get mtu(): number {
    return this.#hello === undefined
      ? 0
      : this.#hello.remoteMaxMessageSize - 1 - FRAME_HEADER_LENGTH
  }

  sendFrames(frames: readonly Frame[]): number {
    if (this.#status !== 'up') {
      this.counters.dropLinkDown += frames.length
      return 0
    }
    const n = this.#queue.enqueueFrames(frames, this.#hello!.remoteMaxMessageSize)
    this.#sentSinceKeepalive += n
    return n
  }

  sendSubscription(sub: SubscriptionMessage, unsubscribe = false): boolean {
    const ok = this.#sendControlMessage(unsubscribe ? { type: 'unsub', sub } : { type: 'sub', sub })
    if (ok) this.counters.subsSent++
    return ok
  }

  sendControl(control: { channel: number; payload: Uint8Array }): boolean {
    const ok = this.#sendControlMessage({ type: 'control', control })
    if (ok) this.counters.controlSent++
    return ok
  }

  ping(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<PingResult> {
    if (this.#status !== 'up') {
      return Promise.reject(new TrunkError('link-down', `link to ${this.id} is down`))
    }
    if (this.#pings.size >= MAX_PENDING_PINGS) {
      return Promise.reject(new TrunkError('ping-timeout', 'too many PINGs in flight'))
    }
    const nonce = randomNonce()
    const timeoutMs = options.timeoutMs ?? 10_000
    return new Promise<PingResult>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(entry.timer)
        this.#pings.delete(nonce)
        options.signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = (): void => {
        settle()
        reject(options.signal?.reason ?? new Error('aborted'))
      }
      const entry: PendingPing = {
        sentAt: performance.now(),
        resolve: (r) => {
          settle()
          resolve(r)
        },
        reject: (e) => {
          settle()
          reject(e)
        },
        timer: setTimeout(() => {
          entry.reject(new TrunkError('ping-timeout', `no PONG from ${this.id} in ${timeoutMs} ms`))
        }, timeoutMs),
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.#pings.set(nonce, entry)
      if (
        !this.#sendControlMessage({ type: 'ping', ping: { nonce, sentAt: this.#now(), hops: [] } })
      ) {
        entry.reject(new TrunkError('link-down', 'PING refused: control queue full'))
        return
      }
      this.counters.pingsSent++
    })
  }

  setReceiver(receiver: LinkReceiver): void {
    this.#receiver = receiver
  }

  pauseReceive(): void {
    if (this.stream.readStatus === 'readable') this.stream.pause()
  }

  resumeReceive(): void {
    if (this.stream.readStatus === 'paused') this.stream.resume()
  }

  async close(reason: CloseReason = 'local-close'): Promise<void> {
    if (this.#status === 'down') return
    const graceful = this.stream.status === 'open'
    this.#down(reason)
    if (!graceful) return
    try {
      await this.stream.close({ signal: AbortSignal.timeout(2000) })
    } catch (err) {
      this.stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  // ------------------------------------------------------------ receive

  #onData(data: Uint8Array | Uint8ArrayList): void {
    if (this.#status === 'down') return
    this.counters.bytesReceived += data.byteLength
    this.#lastReceive = this.#now()
    try {
      this.#reader.push(data)
    } catch (err) {
      if (err instanceof WireError) {
        this.#log('closing trunk stream to %p: %s', this.remotePeer, err.message)
        this.#fail(err.reason)
        return
      }
      // Only a receiver callback can get here; it is counted where it threw.
      this.#log.error('unexpected error on trunk receive path - %e', err)
    }
    this.#deliverFrames()
  }

  readonly #onMessage = (buf: Uint8Array, start: number, end: number): void => {
    if (this.#status === 'down') return
    const type = buf[start]!
    if (this.#status === 'hello') {
      if (type !== MSG_HELLO) throw new WireError('hello-expected')
      this.#onHello(decodeHelloBody(buf.subarray(start + 1, end)))
      return
    }
    switch (type) {
      case MSG_FRAME:
        this.#frames.push(frameAt(buf, start, end))
        return
      case MSG_BATCH:
        this.#onBatch(buf, start + 1, end)
        return
      case MSG_HELLO:
        throw new WireError('duplicate-hello')
      default:
        this.#onOther(type, buf.subarray(start + 1, end))
    }
  }

  /** Walks a BATCH in place (spec 08-trunk.md §4.4); frames become views, others are dispatched. */
  #onBatch(buf: Uint8Array, start: number, end: number): void {
    if (end - start < 2) throw new WireError('bad-body', 'short BATCH')
    const count = (buf[start]! << 8) | buf[start + 1]!
    if (count > MAX_BATCH_COUNT) throw new WireError('too-many-entries', 'BATCH count')
    if (count === 0) throw new WireError('bad-body', 'empty BATCH')
    let o = start + 2
    for (let i = 0; i < count; i++) {
      const header = readLength(buf, o, end, MESSAGE_LENGTH_LIMIT)
      if (header < 0) throw new WireError('bad-body', 'truncated BATCH')
      const s = o + (header & 3)
      const e = s + (header >>> 2)
      if (e > end) throw new WireError('bad-body', 'truncated BATCH')
      const type = buf[s]!
      if (type === MSG_FRAME) {
        this.#frames.push(frameAt(buf, s, e))
      } else if (type === MSG_BATCH) {
        throw new WireError('nested-batch')
      } else if (type === MSG_HELLO) {
        throw new WireError('bad-body', 'HELLO inside BATCH')
      } else {
        this.#onOther(type, buf.subarray(s + 1, e))
      }
      o = e
    }
    if (o !== end) throw new WireError('bad-body', 'trailing bytes after BATCH')
  }

  #onOther(type: number, body: Uint8Array): void {
    // Keep order: frames received before a control message go up first.
    this.#deliverFrames()
    const c = this.counters
    const r = this.#receiver
    switch (type) {
      case MSG_SUB:
      case MSG_UNSUB: {
        const unsub = type === MSG_UNSUB
        const sub = decodeSubscriptionBody(body, unsub)
        c.subsReceived++
        if (r.onSubscription !== undefined) this.#guard(() => r.onSubscription!(sub, unsub, this))
        return
      }
      case MSG_PING: {
        const ping = decodePingBody(body)
        c.pingsReceived++
        // Answer point to point: the hop record gains our PeerId (spec 08-trunk.md §4.5).
        const hops = [...ping.hops, this.#init.localPeerIdBytes].slice(-MAX_HOPS)
        this.#sendControlMessage({
          type: 'pong',
          pong: { nonce: ping.nonce, pingSentAt: ping.sentAt, repliedAt: this.#now(), hops },
        })
        return
      }
      case MSG_PONG: {
        const pong = decodePongBody(body)
        c.pongsReceived++
        const pending = this.#pings.get(pong.nonce)
        if (pending !== undefined) {
          pending.resolve({
            rttMs: performance.now() - pending.sentAt,
            remoteTime: pong.repliedAt,
            hops: pong.hops,
          })
        }
        return
      }
      case MSG_CONTROL: {
        const control = decodeControlBody(body)
        c.controlReceived++
        if (r.onControl !== undefined) this.#guard(() => r.onControl!(control, this))
        return
      }
      default:
        throw new WireError('unknown-type')
    }
  }

  #deliverFrames(): void {
    const frames = this.#frames
    if (frames.length === 0) return
    this.#frames = []
    const c = this.counters
    c.framesReceived += frames.length
    c.batchesReceived++
    const r = this.#receiver
    if (r.onFrames !== undefined && this.#status === 'up')
      this.#guard(() => r.onFrames!(frames, this))
  }

  #guard(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.counters.receiverErrors++
      this.#log.error('link receiver threw - %e', err)
    }
  }

  #onHello(remote: Hello): void {
    const local = this.#init.hello
    if (remote.versionMin < 1 || remote.versionMin > remote.versionMax) {
      throw new WireError('bad-hello', 'bad version range')
    }
    if (
      remote.maxMessageSize < MIN_ADVERTISED_MESSAGE_SIZE ||
      remote.maxMessageSize > MESSAGE_LENGTH_LIMIT
    ) {
      throw new WireError('bad-hello', 'max message size out of range')
    }
    const version = negotiateVersion(local, remote)
    if (version === undefined) throw new WireError('version-mismatch')
    const skew = remote.timestamp - this.#now()
    const skewWarning = Math.abs(skew) > SKEW_WARN_MS
    if (skewWarning) {
      this.#log.error(
        'clock skew of %d ms with %p (warn past %d ms)',
        skew,
        this.remotePeer,
        SKEW_WARN_MS,
      )
    }
    this.#hello = {
      version,
      remoteRole: remote.role,
      remoteCapabilities: remote.capabilities,
      remoteMaxMessageSize: remote.maxMessageSize,
      remoteDatagramMtu: remote.datagramMtu,
      clockSkewMs: skew,
      skewWarning,
    }
    clearTimeout(this.#helloTimer)
    this.#helloTimer = undefined
    this.#status = 'up'
    this.#queue.open()
    this.#lastReceive = this.#now()
    this.#upAt = this.#lastReceive
    this.#keepalive = setInterval(() => this.#onKeepalive(), KEEPALIVE_INTERVAL_MS)
    this.#keepalive.unref?.()
    this.#init.onUp(this)
    this.#readyResolve()
  }

  #onKeepalive(): void {
    if (this.#now() - this.#lastReceive > IDLE_TIMEOUT_MS) {
      this.#fail('idle-timeout')
      return
    }
    // A PING also makes the neighbour send (its PONG), so both sides see traffic.
    if (this.#sentSinceKeepalive === 0) {
      this.#sendControlMessage({
        type: 'ping',
        ping: { nonce: randomNonce(), sentAt: this.#now(), hops: [] },
      })
    }
    this.#sentSinceKeepalive = 0
  }

  // ------------------------------------------------------------ send and close

  #sendControlMessage(msg: Message): boolean {
    if (this.#status !== 'up') {
      this.counters.controlDropped++
      return false
    }
    // Encoding errors are the caller's (API boundary) and throw; limits follow the neighbour's.
    const encoded = encodeMessage(msg, this.#hello!.remoteMaxMessageSize)
    this.#sentSinceKeepalive++
    return this.#queue.enqueueControl(encoded)
  }

  /** Closes because of `reason`; `abort` resets the stream (a protocol violation or timeout). */
  #fail(reason: CloseReason, abort = true): void {
    if (this.#status === 'down') return
    this.#down(reason)
    if (abort) this.stream.abort(new TrunkError('link-down', `trunk link closed: ${reason}`))
  }

  #down(reason: CloseReason): void {
    const wasHello = this.#status === 'hello'
    this.#status = 'down'
    this.#closeReason = reason
    this.#queue.close()
    clearTimeout(this.#helloTimer)
    clearInterval(this.#keepalive)
    for (const p of [...this.#pings.values()]) {
      p.reject(new TrunkError('link-down', `link to ${this.id} closed: ${reason}`))
    }
    this.#frames = []
    if (wasHello)
      this.#readyReject(new TrunkError('link-failed', `trunk handshake failed: ${reason}`))
    this.#init.onClose(this, reason)
  }
}

function frameAt(buf: Uint8Array, start: number, end: number): Frame {
  // start is the type byte; body = hop limit ‖ VFT ‖ sealed (spec 08-trunk.md §4.2).
  if (end - start - 1 < FRAME_HEADER_LENGTH + SEALED_MIN_LENGTH) {
    throw new WireError('bad-body', 'short FRAME')
  }
  return {
    hopLimit: buf[start + 1]!,
    vft: buf.subarray(start + 2, start + 2 + VFT_LENGTH),
    sealed: buf.subarray(start + 2 + VFT_LENGTH, end),
  }
}

function randomNonce(): bigint {
  const b = new BigUint64Array(1)
  crypto.getRandomValues(b)
  return b[0]!
}
