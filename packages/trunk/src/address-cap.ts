/**
 * A cap on inbound connections per source address (spec 08-trunk.md §9),
 * asked by libp2p's connection gater (`denyInboundConnection`) as soon as a
 * transport accepts a socket: for TCP and WebSocket before the Noise
 * handshake, so a refused connection costs no handshake; for QUIC after
 * the TLS handshake its transport does natively.
 *
 * A connection counts from the moment it is admitted until it closes, its
 * handshake included: counting only upgraded connections would let any
 * number of handshakes from one address run at once.
 *
 * What counts as one address: an IPv4 address; for IPv6 its /64, the
 * smallest prefix a network hands to one subscriber (RFC 6177), so one
 * host cannot count as 2^64 addresses. An IPv4-mapped IPv6 address is its
 * IPv4 address. Connections through a relay's circuit are not counted:
 * they show the relay's address, and counting them against it would lock
 * every node behind that relay out; the relay itself caps what reaches it
 * per address, and admits whom it relays for.
 */
import type { Multiaddr } from '@multiformats/multiaddr'

export interface InboundCounters {
  /** Inbound connections refused because their source address held the most allowed. */
  refused: number
  /** Inbound connections counted now, from admission (handshake included) until they close. */
  open: number
  /** Source addresses (IPv6: /64s) with a counted connection now. */
  addresses: number
}

export function newInboundCounters(): InboundCounters {
  return { refused: 0, open: 0, addresses: 0 }
}

/** What the gater sees of a connection: its remote address, its state, its 'close' event. */
export interface InboundConnection {
  remoteAddr: Multiaddr
  status: string
  addEventListener(type: 'close', listener: () => void, options?: { once?: boolean }): void
}

export class AddressCap {
  readonly counters: InboundCounters
  readonly #max: number
  readonly #open = new Map<string, number>()

  /** `max` 0 or Infinity: no cap (nothing is counted). */
  constructor(max: number, counters: InboundCounters = newInboundCounters()) {
    this.#max = max === 0 ? Number.POSITIVE_INFINITY : max
    this.counters = counters
  }

  /** True to admit the connection (and count it until it closes), false to refuse it (counted). */
  admit(conn: InboundConnection): boolean {
    if (this.#max === Number.POSITIVE_INFINITY) return true
    const key = addressKey(conn.remoteAddr.toString())
    // Not an IP (a circuit, a Unix socket): not ours to count. Already closed: nothing to hold.
    if (key === undefined || conn.status !== 'open') return true
    const n = this.#open.get(key) ?? 0
    if (n >= this.#max) {
      this.counters.refused++
      return false
    }
    this.#open.set(key, n + 1)
    this.counters.open++
    if (n === 0) this.counters.addresses++
    let released = false
    conn.addEventListener(
      'close',
      () => {
        if (released) return
        released = true
        this.#release(key)
      },
      { once: true },
    )
    return true
  }

  #release(key: string): void {
    const n = this.#open.get(key) ?? 0
    this.counters.open--
    if (n <= 1) {
      this.#open.delete(key)
      this.counters.addresses--
    } else {
      this.#open.set(key, n - 1)
    }
  }
}

/**
 * The address a connection counts under: `4:a.b.c.d`, `6:` and the first
 * four groups of an IPv6 address (its /64), or undefined for anything not
 * dialled over IP directly (a circuit, DNS, a Unix socket).
 */
export function addressKey(multiaddr: string): string | undefined {
  if (multiaddr.includes('/p2p-circuit')) return undefined
  const m = /^\/ip([46])\/([^/]+)/.exec(multiaddr)
  if (m === null) return undefined
  if (m[1] === '4') return `4:${m[2]}`
  const groups = ipv6Groups(m[2]!)
  if (groups === undefined) return undefined
  // IPv4-mapped (::ffff:a.b.c.d): the IPv4 address itself.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `4:${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`
  }
  return `6:${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address (zone dropped, `::` and a dotted IPv4 tail expanded). */
function ipv6Groups(text: string): number[] | undefined {
  let s = text.split('%')[0]!.toLowerCase()
  const tail: number[] = []
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s)
  if (dotted !== null) {
    const b = dotted.slice(1).map(Number)
    if (b.some((x) => x > 255)) return undefined
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!)
    s = s.slice(0, dotted.index)
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1)
  }
  const halves = s.split('::')
  if (halves.length > 2) return undefined
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part
          .split(':')
          .map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? Number.parseInt(g, 16) : Number.NaN))
  const head = parse(halves[0]!)
  const rest = halves.length === 2 ? parse(halves[1]!) : []
  const known = head.length + rest.length + tail.length
  if (halves.length === 1 ? known !== 8 : known > 7) return undefined
  const groups = [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail]
  return groups.some(Number.isNaN) ? undefined : groups
}
