/**
 * A DHCPv4 client (RFC 2131, options RFC 2132) as a pure state machine, so
 * that a node with only a TUN device can take its address from a DHCP server
 * on the virtual LAN. No I/O and no timers: every method takes the time in
 * milliseconds and returns the Ethernet frames to send and the events that
 * happened; the caller calls `tick` at `nextWakeMs()`.
 *
 * The states, in the order a lease is won and kept (RFC 2131 §4.4, figure 5):
 *
 *  1. INIT: nothing sent; `start` (or the 10 s wait after a DECLINE) sends a
 *     DISCOVER with a new xid and moves to SELECTING.
 *  2. SELECTING: DISCOVER broadcast and retransmitted (2, 4, 8 … 64 s, ±0.5 s);
 *     the first valid OFFER is requested.
 *  3. REQUESTING: REQUEST broadcast with options 50 and 54, retransmitted on
 *     the same schedule; ACK binds, NAK (or five unanswered REQUESTs) goes
 *     back to INIT.
 *  4. BOUND: nothing sent until T1.
 *  5. RENEWING (T1): REQUEST with ciaddr unicast to the server, retransmitted
 *     at half the time left to T2, at least 60 s (§4.4.5).
 *  6. REBINDING (T2): the same REQUEST broadcast, at half the time left to
 *     expiry, at least 60 s. ACK in 5 or 6 renews; NAK or expiry loses the
 *     lease and starts again at 1.
 *
 * Frames from the LAN are dropped and counted, never thrown on (docs/style.md §5).
 */
import { TunL2Error } from './errors.ts'
import { BROADCAST_MAC } from './mac.ts'
import { bytesEqual, ETH_HEADER, ETHERTYPE_IPV4, udp4Frame } from './packet.ts'

/** A lease the client holds: the address and what the server said with it. */
export interface DhcpLease {
  /** Our address (yiaddr), 4 bytes. */
  readonly address: Uint8Array
  /** Prefix length from option 1 (a contiguous subnet mask); 24 when absent or not contiguous. */
  readonly prefix: number
  /** The first router of option 3. */
  readonly router: Uint8Array | undefined
  /** The DNS servers of option 6. */
  readonly dns: readonly Uint8Array[]
  /** The server identifier (option 54). */
  readonly server: Uint8Array
  /** The Ethernet source MAC of the ACK: where unicast renewals go. */
  readonly serverMac: Uint8Array
  /** The lease time (option 51); 0xffffffff is infinite. */
  readonly leaseSeconds: number
  /** T1, when RENEWING starts: option 58, or half the lease. */
  readonly renewAtMs: number
  /** T2, when REBINDING starts: option 59, or 7/8 of the lease. */
  readonly rebindAtMs: number
  /** When the lease ends; Infinity for an infinite lease. */
  readonly expiresAtMs: number
}

/** What happened to the lease during one call. */
export type DhcpEvent =
  | { readonly type: 'bound'; readonly lease: DhcpLease }
  | { readonly type: 'renewed'; readonly lease: DhcpLease }
  | {
      readonly type: 'lost'
      readonly lease: DhcpLease
      readonly reason: 'expired' | 'nak' | 'released' | 'declined'
    }

/** The result of every call: whole Ethernet frames to send, and events. */
export interface DhcpOutput {
  readonly frames: Uint8Array[]
  readonly events: DhcpEvent[]
}

/** What a client needs to know about its port. */
export interface DhcpClientOptions {
  /** Our MAC, 6 bytes: chaddr, the client identifier and the Ethernet source. */
  readonly mac: Uint8Array
  /** Sent as option 12 when given: printable ASCII without spaces, 1 to 63 bytes. */
  readonly hostname?: string
  /** Random bytes, for xids and retransmission jitter. */
  readonly random: (bytes: number) => Uint8Array
}

/** RFC 2131 §4.4 client states (INIT-REBOOT and REBOOTING are not used). */
export type DhcpState =
  | 'init'
  | 'selecting'
  | 'requesting'
  | 'bound'
  | 'renewing'
  | 'rebinding'
  | 'stopped'

/**
 * Counters. Every frame given to `receive` counts in `received` and then in
 * exactly one of: accepted (not counted apart), `ignored` (not DHCP, not for
 * us, or not wanted in this state) or `malformed` (claims to be a DHCP reply
 * but breaks a bound, the cookie or the options).
 */
export interface DhcpStats {
  sent: number
  received: number
  ignored: number
  malformed: number
  naks: number
}

// RFC 2131 §4.1: servers listen on 67, clients on 68.
const SERVER_PORT = 67
const CLIENT_PORT = 68

// RFC 2131 §2, figure 1: the BOOTP message's fixed fields.
const OP = 0
const HTYPE = 1
const HLEN = 2
const XID = 4
const SECS = 8
const CIADDR = 12
const YIADDR = 16
const CHADDR = 28
const COOKIE = 236
const OPTIONS = 240
const BOOTREQUEST = 1
const BOOTREPLY = 2
const HTYPE_ETHERNET = 1
const MAGIC_COOKIE = 0x63825363
/** RFC 1542 §3.4: some relays drop BOOTP messages shorter than 300 bytes. */
const MIN_MESSAGE = 300

// RFC 2132 option codes.
const OPT_PAD = 0
const OPT_SUBNET_MASK = 1
const OPT_ROUTER = 3
const OPT_DNS = 6
const OPT_HOSTNAME = 12
const OPT_REQUESTED_IP = 50
const OPT_LEASE_TIME = 51
const OPT_MESSAGE_TYPE = 53
const OPT_SERVER_ID = 54
const OPT_PARAMETERS = 55
const OPT_MAX_SIZE = 57
const OPT_T1 = 58
const OPT_T2 = 59
const OPT_CLIENT_ID = 61
const OPT_END = 255

// RFC 2132 §9.6 message types.
const DISCOVER = 1
const OFFER = 2
const REQUEST = 3
const DECLINE = 4
const ACK = 5
const NAK = 6
const RELEASE = 7

/** Option 55: mask, router, DNS, domain name, MTU, lease time, server id, T1, T2. */
const PARAMETERS = new Uint8Array([1, 3, 6, 15, 26, 51, 54, 58, 59])
/** Option 57: the largest message we take, an Ethernet MTU. */
const MAX_SIZE = new Uint8Array([1500 >> 8, 1500 & 0xff])
const INFINITE_LEASE = 0xffffffff
const DEFAULT_PREFIX = 24
const ZERO_IP = new Uint8Array(4)
const BROADCAST_IP = new Uint8Array([255, 255, 255, 255])

/** RFC 2131 §4.1: the first retransmission after 4 s there, 2 s here, doubling to 64 s. */
const FIRST_RETRANSMIT_MS = 2_000
const MAX_RETRANSMIT_MS = 64_000
const JITTER_MS = 500
/** RFC 2131 §4.4.5: renewal retransmissions no closer than 60 s. */
const MIN_RENEW_RETRANSMIT_MS = 60_000
/** RFC 2131 §3.1 step 5: wait at least 10 s after a DECLINE. */
const DECLINE_WAIT_MS = 10_000
/** REQUESTs sent in REQUESTING before going back to INIT (RFC 2131 §4.4.1). */
const MAX_REQUESTS = 5

/** A reply that passed every check: its type, fixed fields and options. */
interface Reply {
  readonly type: number
  readonly yiaddr: Uint8Array
  readonly options: Map<number, Uint8Array>
  readonly serverMac: Uint8Array
}

/** The OFFER being requested in REQUESTING. */
interface Offer {
  readonly address: Uint8Array
  readonly server: Uint8Array
}

/** A DHCPv4 client for one Ethernet port; see the file comment for the states. */
export class DhcpClient {
  readonly #mac: Uint8Array
  readonly #hostname: Uint8Array | undefined
  readonly #random: (bytes: number) => Uint8Array
  readonly #clientId: Uint8Array
  readonly #stats: DhcpStats = { sent: 0, received: 0, ignored: 0, malformed: 0, naks: 0 }
  #state: DhcpState = 'init'
  #lease: DhcpLease | undefined
  #offer: Offer | undefined
  #xid = 0
  /** When the current exchange began: the `secs` field counts from here. */
  #exchangeStartMs = 0
  /** When the first REQUEST of this exchange went out: lease times count from here (§4.4.1). */
  #requestStartMs = 0
  #attempts = 0
  #retransmitAtMs: number | undefined
  /** In INIT after a DECLINE: when to DISCOVER again. */
  #restartAtMs: number | undefined

  constructor(options: DhcpClientOptions) {
    if (!(options.mac instanceof Uint8Array) || options.mac.length !== 6)
      throw new TunL2Error('tun-l2-invalid-options', 'a MAC is 6 bytes')
    if (typeof options.random !== 'function')
      throw new TunL2Error('tun-l2-invalid-options', 'random is not a function')
    this.#mac = options.mac.slice()
    this.#random = options.random
    this.#hostname = options.hostname === undefined ? undefined : hostnameBytes(options.hostname)
    this.#clientId = new Uint8Array(7)
    this.#clientId[0] = HTYPE_ETHERNET
    this.#clientId.set(this.#mac, 1)
  }

  /** The current RFC 2131 state. */
  get state(): DhcpState {
    return this.#state
  }

  /** The lease held (BOUND, RENEWING, REBINDING), if any. */
  get lease(): DhcpLease | undefined {
    return this.#lease
  }

  /** Starts (or restarts after `release`) from INIT: sends a DISCOVER. Does nothing while running. */
  start(nowMs: number): DhcpOutput {
    const out = emptyOutput()
    if (this.#state === 'init' || this.#state === 'stopped') this.#discover(nowMs, out)
    return out
  }

  /** Takes any Ethernet frame; acts on valid replies to us and drops and counts the rest. */
  receive(frame: Uint8Array, nowMs: number): DhcpOutput {
    const out = emptyOutput()
    this.#stats.received++
    const reply = this.#parse(frame)
    if (reply === undefined) return out
    if (!this.#handle(reply, nowMs, out)) this.#stats.ignored++
    return out
  }

  /** Retransmits, and moves to RENEWING at T1, REBINDING at T2 and INIT at expiry. */
  tick(nowMs: number): DhcpOutput {
    const out = emptyOutput()
    switch (this.#state) {
      case 'init':
        if (this.#restartAtMs !== undefined && nowMs >= this.#restartAtMs)
          this.#discover(nowMs, out)
        break
      case 'selecting':
        if (this.#due(nowMs)) this.#sendDiscover(nowMs, out)
        break
      case 'requesting':
        if (!this.#due(nowMs)) break
        if (this.#attempts >= MAX_REQUESTS) this.#discover(nowMs, out)
        else this.#sendSelectingRequest(nowMs, out)
        break
      case 'bound':
      case 'renewing':
      case 'rebinding':
        this.#tickLease(nowMs, out)
        break
      case 'stopped':
        break
    }
    return out
  }

  /**
   * The bound address is in use (ARP found another host): broadcasts a
   * DECLINE, gives the lease up with 'lost' reason 'declined', and DISCOVERs
   * again from `tick` 10 s later (RFC 2131 §3.1 step 5). Without a lease,
   * does nothing.
   */
  decline(nowMs: number): DhcpOutput {
    const out = emptyOutput()
    const lease = this.#lease
    if (lease === undefined) return out
    this.#xid = this.#newXid()
    const options: Option[] = [
      [OPT_MESSAGE_TYPE, new Uint8Array([DECLINE])],
      [OPT_CLIENT_ID, this.#clientId],
      [OPT_REQUESTED_IP, lease.address],
      [OPT_SERVER_ID, lease.server],
    ]
    const message = this.#message(ZERO_IP, 0, options)
    this.#send(
      out,
      udp4Frame(BROADCAST_MAC, this.#mac, ZERO_IP, BROADCAST_IP, CLIENT_PORT, SERVER_PORT, message),
    )
    this.#lease = undefined
    this.#offer = undefined
    this.#state = 'init'
    this.#retransmitAtMs = undefined
    this.#restartAtMs = nowMs + DECLINE_WAIT_MS
    out.events.push({ type: 'lost', lease, reason: 'declined' })
    return out
  }

  /** Unicasts a RELEASE to the server if a lease is held ('lost' reason 'released'), then stops. */
  release(_nowMs: number): DhcpOutput {
    const out = emptyOutput()
    const lease = this.#lease
    if (lease !== undefined) {
      this.#xid = this.#newXid()
      const options: Option[] = [
        [OPT_MESSAGE_TYPE, new Uint8Array([RELEASE])],
        [OPT_CLIENT_ID, this.#clientId],
        [OPT_SERVER_ID, lease.server],
      ]
      const message = this.#message(lease.address, 0, options)
      this.#send(
        out,
        udp4Frame(
          lease.serverMac,
          this.#mac,
          lease.address,
          lease.server,
          CLIENT_PORT,
          SERVER_PORT,
          message,
        ),
      )
      out.events.push({ type: 'lost', lease, reason: 'released' })
    }
    this.#lease = undefined
    this.#offer = undefined
    this.#state = 'stopped'
    this.#retransmitAtMs = undefined
    this.#restartAtMs = undefined
    return out
  }

  /** When `tick` next has work; undefined when it has none (stopped, idle, an infinite lease). */
  nextWakeMs(): number | undefined {
    let at: number | undefined
    switch (this.#state) {
      case 'init':
        at = this.#restartAtMs
        break
      case 'selecting':
      case 'requesting':
        at = this.#retransmitAtMs
        break
      case 'bound':
        at = this.#lease?.renewAtMs
        break
      case 'renewing':
        at = Math.min(this.#retransmitAtMs ?? Infinity, this.#lease?.rebindAtMs ?? Infinity)
        break
      case 'rebinding':
        at = Math.min(this.#retransmitAtMs ?? Infinity, this.#lease?.expiresAtMs ?? Infinity)
        break
      case 'stopped':
        at = undefined
        break
    }
    return at === undefined || at === Infinity ? undefined : at
  }

  /** A copy of the counters. */
  stats(): DhcpStats {
    return { ...this.#stats }
  }

  // --- Sending ---

  /** INIT -> SELECTING: a new exchange with a new xid. */
  #discover(nowMs: number, out: DhcpOutput): void {
    this.#state = 'selecting'
    this.#offer = undefined
    this.#restartAtMs = undefined
    this.#xid = this.#newXid()
    this.#exchangeStartMs = nowMs
    this.#attempts = 0
    this.#sendDiscover(nowMs, out)
  }

  #sendDiscover(nowMs: number, out: DhcpOutput): void {
    const options = this.#commonOptions(DISCOVER)
    this.#broadcast(out, this.#message(ZERO_IP, this.#secs(nowMs), options), ZERO_IP)
    this.#scheduleBackoff(nowMs)
  }

  /** The REQUEST of SELECTING/REQUESTING: broadcast, naming the offer and its server. */
  #sendSelectingRequest(nowMs: number, out: DhcpOutput): void {
    const offer = this.#offer
    if (offer === undefined) return
    const options = this.#commonOptions(REQUEST)
    options.push([OPT_REQUESTED_IP, offer.address], [OPT_SERVER_ID, offer.server])
    this.#broadcast(out, this.#message(ZERO_IP, this.#secs(nowMs), options), ZERO_IP)
    this.#scheduleBackoff(nowMs)
  }

  /** The REQUEST of RENEWING (unicast to the server) and REBINDING (broadcast), with ciaddr. */
  #sendRenewRequest(nowMs: number, out: DhcpOutput): void {
    const lease = this.#lease
    if (lease === undefined) return
    const message = this.#message(lease.address, this.#secs(nowMs), this.#commonOptions(REQUEST))
    if (this.#state === 'renewing') {
      const frame = udp4Frame(
        lease.serverMac,
        this.#mac,
        lease.address,
        lease.server,
        CLIENT_PORT,
        SERVER_PORT,
        message,
      )
      this.#send(out, frame)
    } else {
      this.#broadcast(out, message, lease.address)
    }
    // RFC 2131 §4.4.5: half the time left to T2 (renewing) or to expiry (rebinding), at least 60 s.
    const until = this.#state === 'renewing' ? lease.rebindAtMs : lease.expiresAtMs
    this.#retransmitAtMs =
      nowMs + Math.max(MIN_RENEW_RETRANSMIT_MS, Math.floor((until - nowMs) / 2))
  }

  #broadcast(out: DhcpOutput, message: Uint8Array, src: Uint8Array): void {
    this.#send(
      out,
      udp4Frame(BROADCAST_MAC, this.#mac, src, BROADCAST_IP, CLIENT_PORT, SERVER_PORT, message),
    )
  }

  #send(out: DhcpOutput, frame: Uint8Array): void {
    out.frames.push(frame)
    this.#stats.sent++
  }

  /** Retransmission after 2, 4, 8, 16, 32, 64, 64 … s, each ±0.5 s (RFC 2131 §4.1). */
  #scheduleBackoff(nowMs: number): void {
    this.#attempts++
    const base = Math.min(MAX_RETRANSMIT_MS, FIRST_RETRANSMIT_MS * 2 ** (this.#attempts - 1))
    this.#retransmitAtMs = nowMs + base + this.#jitter()
  }

  /** A uniform whole number of milliseconds in [-500, 500]. */
  #jitter(): number {
    const r = this.#random(2)
    const u = ((r[0] ?? 0) << 8) | (r[1] ?? 0)
    return Math.floor((u * (2 * JITTER_MS + 1)) / 65536) - JITTER_MS
  }

  #newXid(): number {
    const r = this.#random(4)
    return (((r[0] ?? 0) << 24) | ((r[1] ?? 0) << 16) | ((r[2] ?? 0) << 8) | (r[3] ?? 0)) >>> 0
  }

  /** Options 53, 61, 12 (if set), 55 and 57, in that order. */
  #commonOptions(type: number): Option[] {
    const options: Option[] = [
      [OPT_MESSAGE_TYPE, new Uint8Array([type])],
      [OPT_CLIENT_ID, this.#clientId],
    ]
    if (this.#hostname !== undefined) options.push([OPT_HOSTNAME, this.#hostname])
    options.push([OPT_PARAMETERS, PARAMETERS], [OPT_MAX_SIZE, MAX_SIZE])
    return options
  }

  /** Whole seconds since the exchange began, for the `secs` field. */
  #secs(nowMs: number): number {
    return Math.max(0, Math.min(0xffff, Math.floor((nowMs - this.#exchangeStartMs) / 1000)))
  }

  /** A BOOTREQUEST with our xid and chaddr, padded to 300 bytes. */
  #message(ciaddr: Uint8Array, secs: number, options: readonly Option[]): Uint8Array {
    let optionsLength = 1
    for (const [, value] of options) optionsLength += 2 + value.length
    const message = new Uint8Array(Math.max(MIN_MESSAGE, OPTIONS + optionsLength))
    const view = new DataView(message.buffer)
    message[OP] = BOOTREQUEST
    message[HTYPE] = HTYPE_ETHERNET
    message[HLEN] = 6
    view.setUint32(XID, this.#xid)
    view.setUint16(SECS, secs)
    message.set(ciaddr, CIADDR)
    message.set(this.#mac, CHADDR)
    view.setUint32(COOKIE, MAGIC_COOKIE)
    let at = OPTIONS
    for (const [code, value] of options) {
      message[at] = code
      message[at + 1] = value.length
      message.set(value, at + 2)
      at += 2 + value.length
    }
    message[at] = OPT_END
    return message
  }

  // --- Timers ---

  #due(nowMs: number): boolean {
    return this.#retransmitAtMs !== undefined && nowMs >= this.#retransmitAtMs
  }

  /** Expiry first, then T2, then T1, then a renewal retransmission: a late tick lands in the right state. */
  #tickLease(nowMs: number, out: DhcpOutput): void {
    const lease = this.#lease
    if (lease === undefined) return
    if (nowMs >= lease.expiresAtMs) {
      this.#lease = undefined
      out.events.push({ type: 'lost', lease, reason: 'expired' })
      this.#discover(nowMs, out)
    } else if (nowMs >= lease.rebindAtMs && this.#state !== 'rebinding') {
      if (this.#state === 'bound') this.#beginRenewal(nowMs)
      this.#state = 'rebinding'
      this.#sendRenewRequest(nowMs, out)
    } else if (nowMs >= lease.renewAtMs && this.#state === 'bound') {
      this.#beginRenewal(nowMs)
      this.#state = 'renewing'
      this.#sendRenewRequest(nowMs, out)
    } else if (this.#state !== 'bound' && this.#due(nowMs)) {
      this.#sendRenewRequest(nowMs, out)
    }
  }

  /** A renewal is a new exchange: a new xid, `secs` and lease times counted from now. */
  #beginRenewal(nowMs: number): void {
    this.#xid = this.#newXid()
    this.#exchangeStartMs = nowMs
    this.#requestStartMs = nowMs
  }

  // --- Receiving ---

  /** The reply in `frame` if it is a well-formed reply to our exchange; counts it otherwise. */
  #parse(frame: Uint8Array): Reply | undefined {
    if (!isDhcpReply(frame)) {
      this.#stats.ignored++
      return undefined
    }
    const bootp = bootpBounds(frame)
    if (bootp === undefined) {
      this.#stats.malformed++
      return undefined
    }
    const [start, end] = bootp
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
    if (
      frame[start + OP] !== BOOTREPLY ||
      frame[start + HTYPE] !== HTYPE_ETHERNET ||
      frame[start + HLEN] !== 6 ||
      view.getUint32(start + XID) !== this.#xid ||
      !bytesEqual(frame, start + CHADDR, this.#mac, 0, 6)
    ) {
      this.#stats.ignored++
      return undefined
    }
    const options =
      view.getUint32(start + COOKIE) === MAGIC_COOKIE
        ? parseOptions(frame, start + OPTIONS, end)
        : undefined
    const type = options?.get(OPT_MESSAGE_TYPE)
    if (options === undefined || type === undefined || type.length !== 1) {
      this.#stats.malformed++
      return undefined
    }
    return {
      type: type[0]!,
      yiaddr: frame.slice(start + YIADDR, start + YIADDR + 4),
      options,
      serverMac: frame.slice(6, 12),
    }
  }

  /** Acts on a reply; false if this state has no use for it. */
  #handle(reply: Reply, nowMs: number, out: DhcpOutput): boolean {
    const state = this.#state
    if (state === 'selecting' && reply.type === OFFER) return this.#onOffer(reply, nowMs, out)
    const waiting = state === 'requesting' || state === 'renewing' || state === 'rebinding'
    if (!waiting) return false
    if (state === 'requesting' && !this.#fromChosenServer(reply)) return false
    if (reply.type === ACK) return this.#onAck(reply, out)
    if (reply.type === NAK) {
      this.#onNak(nowMs, out)
      return true
    }
    return false
  }

  #onOffer(reply: Reply, nowMs: number, out: DhcpOutput): boolean {
    const server = reply.options.get(OPT_SERVER_ID)
    if (server === undefined || server.length !== 4 || !usableAddress(reply.yiaddr)) return false
    this.#offer = { address: reply.yiaddr, server: server.slice() }
    this.#state = 'requesting'
    this.#attempts = 0
    this.#requestStartMs = nowMs
    this.#sendSelectingRequest(nowMs, out)
    return true
  }

  /** In REQUESTING, only the server we named answers (RFC 2131 §4.4.1); others took our REQUEST as a refusal. */
  #fromChosenServer(reply: Reply): boolean {
    const server = reply.options.get(OPT_SERVER_ID)
    const offer = this.#offer
    if (server === undefined || offer === undefined) return true
    return server.length === 4 && bytesEqual(server, 0, offer.server, 0, 4)
  }

  #onAck(reply: Reply, out: DhcpOutput): boolean {
    const fallbackServer = this.#offer?.server ?? this.#lease?.server
    const lease = leaseOf(reply, this.#requestStartMs, fallbackServer)
    if (lease === undefined) return false
    const renewed = this.#state !== 'requesting'
    this.#lease = lease
    this.#offer = undefined
    this.#state = 'bound'
    this.#retransmitAtMs = undefined
    out.events.push(renewed ? { type: 'renewed', lease } : { type: 'bound', lease })
    return true
  }

  /** NAK: the lease (if any) is lost, and a new DISCOVER goes out at once (RFC 2131 §3.1 step 4). */
  #onNak(nowMs: number, out: DhcpOutput): void {
    this.#stats.naks++
    const lease = this.#lease
    this.#lease = undefined
    if (lease !== undefined) out.events.push({ type: 'lost', lease, reason: 'nak' })
    this.#discover(nowMs, out)
  }
}

/** Whether `frame` is Ethernet, IPv4 and UDP to port 68: what a DHCP client should be shown. */
export function isDhcpReply(frame: Uint8Array): boolean {
  const ip = ETH_HEADER
  if (frame.length < ip + 20 + 8) return false
  if (((frame[12]! << 8) | frame[13]!) !== ETHERTYPE_IPV4) return false
  if (frame[ip]! >> 4 !== 4 || frame[ip + 9] !== 17) return false
  const ihl = (frame[ip]! & 0x0f) * 4
  if (ihl < 20 || frame.length < ip + ihl + 8) return false
  const udp = ip + ihl
  return ((frame[udp + 2]! << 8) | frame[udp + 3]!) === CLIENT_PORT
}

/** An option to send: code and value. */
type Option = readonly [number, Uint8Array]

function emptyOutput(): DhcpOutput {
  return { frames: [], events: [] }
}

/** Option 12's bytes: printable ASCII without spaces, 1 to 63 bytes (RFC 2132 §3.14). */
function hostnameBytes(hostname: string): Uint8Array {
  if (!/^[\x21-\x7e]{1,63}$/.test(hostname))
    throw new TunL2Error(
      'tun-l2-invalid-options',
      `a DHCP hostname is 1 to 63 printable ASCII characters, got ${JSON.stringify(hostname)}`,
    )
  return new TextEncoder().encode(hostname)
}

/**
 * The BOOTP message's [start, end) in a frame `isDhcpReply` accepted, or
 * undefined if the IPv4 or UDP lengths break their bounds, the packet is a
 * fragment, or the message is too short to hold the fixed fields and cookie.
 */
function bootpBounds(frame: Uint8Array): [number, number] | undefined {
  const ip = ETH_HEADER
  const ihl = (frame[ip]! & 0x0f) * 4
  const total = (frame[ip + 2]! << 8) | frame[ip + 3]!
  if (total < ihl + 8 || ip + total > frame.length) return undefined
  const fragment = ((frame[ip + 6]! & 0x3f) << 8) | frame[ip + 7]!
  if (fragment !== 0) return undefined // MF set or an offset: we do not reassemble
  const udp = ip + ihl
  const udpLength = (frame[udp + 4]! << 8) | frame[udp + 5]!
  if (udpLength < 8 || udpLength > total - ihl) return undefined
  const start = udp + 8
  const end = udp + udpLength
  if (end - start < OPTIONS) return undefined
  return [start, end]
}

/**
 * The options in `frame[start, end)` (RFC 2132 §2): pad (0) skipped, end
 * (255) stops, every other option's length checked against `end`; a
 * repeated option is concatenated (RFC 3396). Undefined if an option runs
 * past `end`. The sname and file fields are not read (option 52 is ignored).
 */
function parseOptions(
  frame: Uint8Array,
  start: number,
  end: number,
): Map<number, Uint8Array> | undefined {
  const options = new Map<number, Uint8Array>()
  let at = start
  while (at < end) {
    const code = frame[at]!
    if (code === OPT_END) return options
    if (code === OPT_PAD) {
      at++
      continue
    }
    if (at + 2 > end) return undefined
    const length = frame[at + 1]!
    if (at + 2 + length > end) return undefined
    const value = frame.slice(at + 2, at + 2 + length)
    const earlier = options.get(code)
    if (earlier === undefined) options.set(code, value)
    else {
      const joined = new Uint8Array(earlier.length + value.length)
      joined.set(earlier)
      joined.set(value, earlier.length)
      options.set(code, joined)
    }
    at += 2 + length
  }
  return options
}

/** Not 0.0.0.0/8, loopback, multicast or class E: an address a server may hand out. */
function usableAddress(address: Uint8Array): boolean {
  const first = address[0]!
  return first !== 0 && first !== 127 && first < 224
}

function uint32(value: Uint8Array | undefined): number | undefined {
  if (value === undefined || value.length !== 4) return undefined
  return ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0
}

/** A contiguous subnet mask's prefix length, or undefined (RFC 950 allows others; we do not). */
function maskPrefix(mask: Uint8Array | undefined): number | undefined {
  const value = uint32(mask)
  if (value === undefined) return undefined
  const inverted = ~value >>> 0
  if ((inverted & (inverted + 1)) !== 0) return undefined
  return 32 - Math.log2(inverted + 1)
}

/** The whole 4-byte addresses in an option's value. */
function addresses(value: Uint8Array | undefined): Uint8Array[] {
  const list: Uint8Array[] = []
  if (value === undefined) return list
  for (let i = 0; i + 4 <= value.length; i += 4) list.push(value.slice(i, i + 4))
  return list
}

/**
 * The lease an ACK grants, timed from `baseMs`, when the REQUEST went out
 * (RFC 2131 §4.4.1); undefined without a usable yiaddr, a lease time
 * (option 51) or a server identifier (option 54 or, failing it, the one we asked).
 * T1 and T2 fall back to 1/2 and 7/8 of the lease when absent or out of
 * order (RFC 2131 §4.4.5).
 */
function leaseOf(
  reply: Reply,
  baseMs: number,
  fallbackServer: Uint8Array | undefined,
): DhcpLease | undefined {
  const leaseSeconds = uint32(reply.options.get(OPT_LEASE_TIME))
  const serverOption = reply.options.get(OPT_SERVER_ID)
  const server = serverOption?.length === 4 ? serverOption : fallbackServer
  if (leaseSeconds === undefined || server === undefined || !usableAddress(reply.yiaddr))
    return undefined
  let renewAtMs = Infinity
  let rebindAtMs = Infinity
  let expiresAtMs = Infinity
  if (leaseSeconds !== INFINITE_LEASE) {
    const t2Option = uint32(reply.options.get(OPT_T2))
    const t2 = t2Option !== undefined && t2Option <= leaseSeconds ? t2Option : leaseSeconds * 0.875
    const t1Option = uint32(reply.options.get(OPT_T1))
    const t1 =
      t1Option !== undefined && t1Option <= t2 ? t1Option : Math.min(leaseSeconds * 0.5, t2)
    renewAtMs = baseMs + Math.floor(t1 * 1000)
    rebindAtMs = baseMs + Math.floor(t2 * 1000)
    expiresAtMs = baseMs + leaseSeconds * 1000
  }
  const prefix = maskPrefix(reply.options.get(OPT_SUBNET_MASK))
  return {
    address: reply.yiaddr,
    prefix: prefix === undefined || prefix === 0 ? DEFAULT_PREFIX : prefix,
    router: addresses(reply.options.get(OPT_ROUTER))[0],
    dns: addresses(reply.options.get(OPT_DNS)),
    server: server.slice(),
    serverMac: reply.serverMac,
    leaseSeconds,
    renewAtMs,
    rebindAtMs,
    expiresAtMs,
  }
}
