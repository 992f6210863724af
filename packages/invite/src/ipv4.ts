/**
 * A VLAN's IPv4 pool (docs/spec/15-invitations.md §15.7): the owner assigns
 * each member a stable host address from one private CIDR, the first free
 * one in order, and persists the assignments as a strict record.
 */
import { fromHex, isPeerIdBytes } from './bytes.ts'
import { MAX_POOL_PREFIX, MIN_POOL_PREFIX, POOL_RECORD_VERSION } from './constants.ts'
import { InviteError } from './errors.ts'
import {
  array,
  decodeRecord,
  encodeJson,
  object,
  type RecordFailure,
  RecordProblem,
  string,
} from './record.ts'

/** §15.7: the ranges a pool may come from: RFC 1918 and RFC 6598 shared space. */
const PRIVATE_RANGES: ReadonlyArray<readonly [network: number, prefix: number]> = [
  [0x0a00_0000, 8], // 10.0.0.0/8
  [0xac10_0000, 12], // 172.16.0.0/12
  [0xc0a8_0000, 16], // 192.168.0.0/16
  [0x6440_0000, 10], // 100.64.0.0/10
]

const mask = (prefix: number): number => (prefix === 0 ? 0 : (0xffff_ffff << (32 - prefix)) >>> 0)

/** Dotted-quad text to a u32: four decimal octets 0 to 255 without leading zeros, else undefined. */
export function parseIpv4(text: string): number | undefined {
  if (typeof text !== 'string') return undefined
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined
    value = value * 256 + Number(part)
  }
  return value
}

export function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => (address >>> shift) & 0xff).join('.')
}

/** True when `network/prefix` lies inside one of the private ranges of §15.7. */
export function isPrivateIpv4Range(network: number, prefix: number): boolean {
  return PRIVATE_RANGES.some(
    ([base, size]) => prefix >= size && (network & mask(size)) >>> 0 === base,
  )
}

/**
 * True when `address/prefix` is what a pool may assign (§15.7): prefix 8 to
 * 30, inside a private range, neither the network nor the broadcast address.
 */
export function isPrivateIpv4Assignment(address: number, prefix: number): boolean {
  if (!Number.isInteger(prefix) || prefix < MIN_POOL_PREFIX || prefix > MAX_POOL_PREFIX)
    return false
  const network = (address & mask(prefix)) >>> 0
  const broadcast = (network | ~mask(prefix)) >>> 0
  return isPrivateIpv4Range(network, prefix) && address !== network && address !== broadcast
}

/** An IPv4 address assigned to a member, as dotted text and prefix length. */
export interface Ipv4Assignment {
  readonly address: string
  readonly prefixLength: number
}

export type Ipv4PoolDecoding = { readonly ok: true; readonly pool: Ipv4Pool } | RecordFailure

/** A VLAN's IPv4 addresses, one per member PeerId (hex of its multihash bytes). */
export class Ipv4Pool {
  /** `network/prefix`, e.g. `10.77.0.0/24`. */
  readonly cidr: string
  readonly network: number
  readonly prefixLength: number
  readonly #byPeer = new Map<string, number>()
  readonly #byAddress = new Map<number, string>()

  private constructor(network: number, prefixLength: number) {
    this.network = network
    this.prefixLength = prefixLength
    this.cidr = `${formatIpv4(network)}/${prefixLength}`
  }

  /**
   * A pool from CIDR text. Throws {@link InviteError} (`invalid-argument`)
   * unless the prefix is 8 to 30, no host bit is set and the range is private.
   */
  static parse(cidr: string): Ipv4Pool {
    const problem = cidrProblem(cidr)
    if (typeof problem === 'string')
      throw new InviteError('invalid-argument', `IPv4 pool ${JSON.stringify(cidr)}: ${problem}`)
    return new Ipv4Pool(problem.network, problem.prefix)
  }

  /** Host addresses in the pool (network and broadcast excluded). */
  get size(): number {
    return 2 ** (32 - this.prefixLength) - 2
  }

  get used(): number {
    return this.#byPeer.size
  }

  addressOf(peerHex: string): Ipv4Assignment | undefined {
    const address = this.#byPeer.get(peerHex)
    return address === undefined ? undefined : this.#assignment(address)
  }

  /** The peer's address: the one it has, else the first free host address (throws `pool-full`). */
  assign(peerHex: string): Ipv4Assignment {
    checkPeerHex(peerHex)
    const held = this.#byPeer.get(peerHex)
    if (held !== undefined) return this.#assignment(held)
    for (let address = this.network + 1; address < this.network + 1 + this.size; address++) {
      if (!this.#byAddress.has(address)) return this.#take(peerHex, address)
    }
    throw new InviteError('pool-full', `IPv4 pool ${this.cidr} has no free address`)
  }

  /** Gives `peerHex` exactly `address` (the owner's own, say); throws `address-taken` if another has it. */
  reserve(peerHex: string, address: string): Ipv4Assignment {
    checkPeerHex(peerHex)
    const value = parseIpv4(address)
    if (value === undefined || !this.#isHost(value))
      throw new InviteError('invalid-argument', `${address} is not a host address of ${this.cidr}`)
    const holder = this.#byAddress.get(value)
    if (holder !== undefined && holder !== peerHex)
      throw new InviteError('address-taken', `${address} is another member's`)
    this.release(peerHex)
    return this.#take(peerHex, value)
  }

  /** Frees the peer's address; false if it had none. */
  release(peerHex: string): boolean {
    const address = this.#byPeer.get(peerHex)
    if (address === undefined) return false
    this.#byPeer.delete(peerHex)
    this.#byAddress.delete(address)
    return true
  }

  /** The record of §15.7: members sorted by address. */
  encode(): Uint8Array {
    const members = [...this.#byAddress.entries()]
      .sort(([a], [b]) => a - b)
      .map(([address, peer]) => ({ peer, address: formatIpv4(address) }))
    return encodeJson({ version: POOL_RECORD_VERSION, cidr: this.cidr, members })
  }

  /** Reads a record {@link encode} wrote; anything else is refused whole, with a reason. */
  static decode(bytes: Uint8Array): Ipv4PoolDecoding {
    const result = decodeRecord(bytes, POOL_RECORD_VERSION, (record) => {
      object(record, 'the pool record', ['version', 'cidr', 'members'])
      const cidr = string(record.cidr, 'cidr')
      const parsed = cidrProblem(cidr)
      if (typeof parsed === 'string' || cidr !== `${formatIpv4(parsed.network)}/${parsed.prefix}`)
        throw new RecordProblem(
          'bad-field',
          `cidr ${JSON.stringify(cidr)}: ${typeof parsed === 'string' ? parsed : 'not canonical'}`,
        )
      const pool = new Ipv4Pool(parsed.network, parsed.prefix)
      let previous = -1
      array(record.members, 'members').forEach((entry, i) => {
        const member = object(entry, `member ${i}`, ['peer', 'address'])
        const peer = string(member.peer, `member ${i} peer`)
        const address = parseIpv4(string(member.address, `member ${i} address`))
        if (!isPeerHex(peer))
          throw new RecordProblem('bad-field', `member ${i}: peer is not a PeerId in hex`)
        if (address === undefined || !pool.#isHost(address))
          throw new RecordProblem('bad-field', `member ${i}: not a host address of ${cidr}`)
        if (address <= previous)
          throw new RecordProblem('bad-field', `member ${i}: addresses must ascend`)
        if (pool.#byPeer.has(peer))
          throw new RecordProblem('duplicate', `member ${i}: peer listed twice`)
        previous = address
        pool.#take(peer, address)
      })
      return pool
    })
    return result.ok ? { ok: true, pool: result.value } : result
  }

  #isHost(address: number): boolean {
    return address > this.network && address < this.network + 1 + this.size
  }

  #take(peerHex: string, address: number): Ipv4Assignment {
    this.#byPeer.set(peerHex, address)
    this.#byAddress.set(address, peerHex)
    return this.#assignment(address)
  }

  #assignment(address: number): Ipv4Assignment {
    return { address: formatIpv4(address), prefixLength: this.prefixLength }
  }
}

function cidrProblem(cidr: string): string | { network: number; prefix: number } {
  if (typeof cidr !== 'string') return 'not text'
  const slash = cidr.indexOf('/')
  const network = parseIpv4(cidr.slice(0, slash))
  const prefixText = cidr.slice(slash + 1)
  if (slash < 0 || network === undefined || !/^\d{1,2}$/.test(prefixText)) return 'not a.b.c.d/n'
  const prefix = Number(prefixText)
  if (prefix < MIN_POOL_PREFIX || prefix > MAX_POOL_PREFIX)
    return `the prefix must be ${MIN_POOL_PREFIX} to ${MAX_POOL_PREFIX}`
  if ((network & mask(prefix)) >>> 0 !== network) return 'host bits are set'
  if (!isPrivateIpv4Range(network, prefix))
    return 'not inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10'
  return { network, prefix }
}

export function isPeerHex(peerHex: unknown): peerHex is string {
  if (typeof peerHex !== 'string') return false
  const bytes = fromHex(peerHex)
  return bytes !== undefined && bytes.length <= 255 && isPeerIdBytes(bytes)
}

function checkPeerHex(peerHex: string): void {
  if (!isPeerHex(peerHex))
    throw new InviteError(
      'invalid-argument',
      'a member is named by its PeerId bytes in lower-case hex',
    )
}
