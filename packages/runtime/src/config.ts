import { isIP } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  aesField,
  ConfigError,
  datagramFields,
  logSection,
  parseWithSchema,
  readJsonConfig,
  statusSection,
} from '@peertap/daemon'
import { portMtuFitting } from '@peertap/switch'
import { DGRAM_PROBED_MTU } from '@peertap/trunk'
import { parseCidr, parseIp } from '@peertap/tun-l2'
import * as v from 'valibot'

export { ConfigError }

/**
 * The node's JSON config (`peertap up --config FILE`). Unknown fields are
 * errors, so a typo never silently falls back to a default; every error
 * names the field.
 */
const Multiaddr = v.pipe(
  v.string(),
  v.regex(/^\/(ip4|ip6|dns|dns4|dns6)\//, 'a multiaddr such as /ip4/0.0.0.0/tcp/7400'),
)
export const Hex32 = v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{64}$/, '32 bytes as 64 hex digits'))
const Mac = v.pipe(
  v.string(),
  v.regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'a MAC such as 02:00:00:00:00:01'),
  v.check(
    (mac) => (Number.parseInt(mac.slice(0, 2), 16) & 1) === 0,
    'a unicast MAC (first byte even)',
  ),
)
const DeviceName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_.-]{1,15}$/, 'a Linux interface name of 1 to 15 characters'),
)

/**
 * The TAP MTU when the config gives none: 1377, the largest whose frames
 * seal whole within a probed datagram path (1430 bytes), so that on it no
 * full-sized packet is fragmented and the TAP's TCP segments keep their
 * boundaries (docs/spec/10-switch.md §10.7 has the measurements that chose
 * it over 1400).
 */
export const DEFAULT_PORT_MTU = portMtuFitting(DGRAM_PROBED_MTU)

const IpAddress = v.pipe(
  v.string(),
  v.maxLength(64),
  v.check((text) => isIP(text) !== 0, 'an IPv4 or IPv6 address'),
)

/** Whether `parse` takes the text (the TUN port's parsers, @peertap/tun-l2). */
const parsesAs =
  (parse: (text: string) => unknown) =>
  (text: string): boolean => {
    try {
      parse(text)
      return true
    } catch {
      return false
    }
  }

const Port = v.pipe(
  v.strictObject({
    /**
     * `tap`: a TAP device, real layer 2 from the kernel. `tun`: a TUN device
     * with layer 2 emulated by @peertap/tun-l2 (docs/spec/17-tun-l2.md), for
     * hosts without TAP. `auto`: TAP, or TUN where the kernel refuses TAP
     * (one log line says so).
     */
    type: v.picklist(['tap', 'tun', 'auto'], 'tap, tun or auto'),
    device: DeviceName,
    /** TAP: the device's MAC. TUN: the port's MAC instead of the derived one (tunMac). */
    mac: v.optional(Mac),
    mtu: v.optional(
      v.pipe(v.number(), v.integer(), v.minValue(576), v.maxValue(65_535)),
      DEFAULT_PORT_MTU,
    ),
    /** Addresses to put on the device, as `ip addr add` takes them (for tests and the demo). */
    addresses: v.optional(v.array(v.pipe(v.string(), v.maxLength(64))), []),
    /**
     * Offloads (default true): the kernel hands over TCP segments of up to
     * 64 KiB with a partial checksum, and they cross the overlay whole (kind 3,
     * docs/spec/10-switch.md). Off: plain frames of at most the MTU.
     */
    offload: v.optional(v.boolean(), true),
    /** TUN: a DHCPv4 client on the VLAN puts its leased address on the device (default false). */
    dhcp: v.optional(v.boolean(), false),
    /** TUN: addresses from router advertisements' prefixes (SLAAC; default true). */
    slaac: v.optional(v.boolean(), true),
    /**
     * TUN: the routers for off-link destinations, at most one IPv4 and one
     * IPv6 address; without, DHCP's router and router advertisements'.
     */
    gateway: v.optional(v.pipe(v.array(IpAddress), v.maxLength(2)), []),
  }),
  v.forward(
    v.check(
      (port) => port.type !== 'tap' || (!port.dhcp && port.gateway.length === 0),
      "dhcp and gateway are for TUN ports (type tun or auto); a TAP device is the host's own to configure",
    ),
    ['dhcp'],
  ),
  v.forward(
    v.check(
      (port) => port.type === 'tap' || port.addresses.every(parsesAs(parseCidr)),
      "a TUN port's addresses are ADDRESS/PREFIX-LENGTH, such as 10.99.0.7/24 or fd00::7/64",
    ),
    ['addresses'],
  ),
  v.forward(
    v.check(
      (port) => port.gateway.every(parsesAs(parseIp)),
      'a gateway is a plain IPv4 or IPv6 address, without a zone (%device) or prefix length',
    ),
    ['gateway'],
  ),
  v.forward(
    v.check(
      (port) =>
        port.gateway.filter((g) => g.includes(':')).length <= 1 &&
        port.gateway.filter((g) => !g.includes(':')).length <= 1,
      'at most one IPv4 and one IPv6 gateway',
    ),
    ['gateway'],
  ),
)

export const PeerAddress = v.pipe(
  v.string(),
  v.regex(/\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/, 'a multiaddr ending in /p2p/<PeerId>'),
)

/** A libp2p Ed25519 PeerId as text (base58btc, `12D3KooW...`). */
export const PeerIdText = v.pipe(
  v.string(),
  v.check((text) => {
    try {
      return peerIdFromString(text).type === 'Ed25519'
    } catch {
      return false
    }
  }, 'an Ed25519 PeerId such as 12D3KooW...'),
)

/**
 * An MLS VLAN (docs/spec/11-mls.md): one MLS group whose VLAN-ID is
 * deriveVlanId(founder ?? owner, name). A member names the owner; the owner names
 * itself ("self" or its own PeerId) and lists the members it admits (more
 * can be admitted at run time with `peertap vlan add`), the members whose
 * proposals it commits, and the admins it may lease.
 */
const Mls = v.strictObject({
  owner: v.union([v.literal('self'), PeerIdText], '"self" or the owner\'s PeerId'),
  /**
   * The founder, when it is not `owner`: a VLAN joined through the code of
   * an owner it was handed to (11-mls.md §12, 15-invitations.md §15.1). The
   * VLAN-ID derives from the founder; `owner` is the owner that admitted
   * this node. Absent: the VLAN-ID derives from `owner`.
   */
  founder: v.optional(PeerIdText),
  /**
   * On the owner: the PeerIds whose key packages it adds. A member that
   * lists members is refused at start, when the node knows its own PeerId.
   */
  members: v.optional(v.pipe(v.array(PeerIdText), v.maxLength(1024))),
  /**
   * On the owner: the members whose proposals to add or remove other
   * members it commits. Default none: then only the owner (and an admin
   * under a lease) changes membership. Every member may always propose its
   * own update (`peertap vlan update`) and leaving (`vlan remove SELF`).
   */
  proposers: v.optional(v.pipe(v.array(PeerIdText), v.maxLength(1024))),
  /**
   * Members that may commit in the owner's place under a lease. On the
   * owner: whom `peertap vlan lease` may grant one. On a joining member:
   * it also sends its key package to them and accepts their Welcome.
   */
  admins: v.optional(v.pipe(v.array(PeerIdText), v.maxLength(16))),
  /**
   * A self-update this often (seconds, 60 to 604800): a commit on the
   * owner, an MLS Update proposal on a member. Default: only when asked
   * (`peertap vlan update`).
   */
  updateSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(60), v.maxValue(604_800))),
  /**
   * On the owner: the IPv4 pool (a CIDR such as 10.77.0.0/24) from which it
   * assigns each member joining by invitation an address, handed over with
   * its Welcome (docs/spec/15-invitations.md). The owner takes the first
   * host address. Default: no IPv4 addresses are handed out.
   */
  subnet: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'an IPv4 CIDR such as 10.77.0.0/24'),
    ),
  ),
})

const Vlan = v.pipe(
  v.strictObject({
    name: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
    /** The pre-shared VLAN secret (spec 03-keys.md §2, PSK VLANs). */
    secret: v.optional(Hex32),
    /** Or an MLS group. */
    mls: v.optional(Mls),
    port: Port,
    /**
     * Addresses to keep dialled for this VLAN (multiaddrs ending in
     * /p2p/<PeerId>), beside the node's `peers`: a VLAN joined by
     * invitation keeps its owner's here, so a restart dials it again.
     */
    peers: v.optional(v.pipe(v.array(PeerAddress), v.maxLength(16)), []),
    /**
     * The invitation code this node is joining the VLAN with
     * (`peertap join`), kept until it is a member (the join request is sent
     * again after a restart), then removed.
     */
    invitation: v.optional(v.pipe(v.string(), v.maxLength(4096))),
  }),
  v.forward(
    v.check(
      (vlan) => vlan.secret !== undefined || vlan.mls !== undefined,
      'required field is missing (or give mls, for an MLS VLAN)',
    ),
    ['secret'],
  ),
  v.forward(
    v.check(
      (vlan) => vlan.secret === undefined || vlan.mls === undefined,
      'a VLAN has a secret (PSK) or mls, not both',
    ),
    ['mls'],
  ),
)

/** At most 64 VLANs, names unique. */
export const VlanList = v.pipe(
  v.array(Vlan),
  v.maxLength(64),
  v.check(
    (vlans) => new Set(vlans.map((x) => x.name)).size === vlans.length,
    'VLAN names must be unique',
  ),
)

export const ConfigSchema = v.strictObject({
  stateDir: v.pipe(v.string(), v.minLength(1)),
  listen: v.optional(v.array(Multiaddr), ['/ip4/0.0.0.0/tcp/7400']),
  /** Neighbours to dial: multiaddrs ending in /p2p/<PeerId>. */
  peers: v.optional(v.array(PeerAddress), []),
  /**
   * The VLANs of the config (none is fine: `peertap vlan create` and
   * `peertap join` add VLANs at run time, kept in the state directory).
   */
  vlans: v.optional(VlanList, []),
  /**
   * The datagram link, on by default, and its UDP socket (`datagramFields`
   * in @peertap/daemon), and how the node's switch uses it.
   */
  datagram: v.optional(
    v.strictObject({
      ...datagramFields,
      /**
       * What a TCP GSO frame too large for a datagram path becomes
       * (docs/spec/10-switch.md §10.7): 'segment' (default), TCP segments
       * that each fit the path, lost one by one like the datagrams they
       * travel in; 'stream', whole, on the stream link (TCP over TCP);
       * 'fragment', kind-1 fragments of the whole frame.
       */
      largeGso: v.optional(v.picklist(['stream', 'segment', 'fragment']), 'segment'),
    }),
    {},
  ),
  /**
   * The AES implementation of the data path (frames sealed end to end, the
   * datagram link's hop protection): `aesField` in @peertap/daemon.
   */
  aes: aesField,
  /**
   * The fast path (docs/spec/18-fast-path.md): established unicast flows
   * between a TAP port and a datagram path are carried by the tap addon's
   * reader threads, without waking JavaScript. On by default; it needs the
   * addon and the batched datagram socket, and `--trace` off (otherwise it is
   * off, and the log says why). `false` turns it off.
   */
  fastPath: v.optional(v.boolean(), true),
  /**
   * How long our subscriptions live at a neighbour unless renewed (the TTL
   * of our SUBs, spec 09-forwarding.md §9.2); we renew them every third of
   * it, at most every 60 s. A shorter one makes neighbours forget a node
   * that stopped (hung, or cut off behind a relay that keeps its link) sooner,
   * at the cost of more renewals. At most 1800: a neighbour refuses more by
   * default.
   */
  subscriptionTtlSeconds: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(3), v.maxValue(1800)),
    180,
  ),
  status: statusSection(7480),
  log: logSection,
})

export type Config = v.InferOutput<typeof ConfigSchema>
export type VlanConfig = Config['vlans'][number]

/** Validates a parsed config; throws a {@link ConfigError} naming the first bad field. */
export function parseConfig(input: unknown): Config {
  return parseWithSchema(ConfigSchema, input)
}

/**
 * Reads and validates a config file; with `stateDir`, that state directory
 * replaces the file's (`peertap up -c FILE -s DIR`). With no file, the
 * defaults with `stateDir` (`peertap up -s DIR`).
 */
export async function loadConfig(path: string | undefined, stateDir?: string): Promise<Config> {
  const input = path === undefined ? {} : await readJsonConfig(path)
  if (stateDir !== undefined && typeof input === 'object' && input !== null)
    (input as Record<string, unknown>).stateDir = stateDir
  return parseConfig(input)
}
