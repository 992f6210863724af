import { peerIdFromString } from '@libp2p/peer-id'
import {
  aesField,
  ConfigError,
  datagramSection,
  logSection,
  parseWithSchema,
  readJsonConfig,
  statusSection,
} from '@peertap/daemon'
import * as v from 'valibot'

/**
 * The relay's JSON config (`peertap-relay up --config FILE`). Unknown fields
 * are errors, so a typo never silently falls back to a default; every error
 * names the field (ConfigError from @peertap/daemon). The admission and
 * limit fields map onto the forwarding table of docs/spec/09-forwarding.md
 * (§3, §7); the rules are in docs/spec/12-relay.md.
 */
const Multiaddr = v.pipe(
  v.string(),
  v.regex(/^\/(ip4|ip6|dns|dns4|dns6)\//, 'a multiaddr such as /ip4/0.0.0.0/tcp/7400'),
)
const PeerId = v.pipe(
  v.string(),
  v.check((text) => {
    try {
      return peerIdFromString(text).type === 'Ed25519'
    } catch {
      return false
    }
  }, 'an Ed25519 PeerId such as 12D3KooW…'),
)
const Rate = v.pipe(v.number(), v.minValue(0.001), v.maxValue(1e12))
const Count = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(2 ** 31 - 1))

/** Per-peer limits (spec 09 §7); a rate left out is unlimited, a burst left out is one second of its rate. */
const PeerLimits = v.strictObject({
  maxSubscriptions: v.optional(Count),
  framesPerSecond: v.optional(Rate),
  frameBurst: v.optional(Rate),
  bytesPerSecond: v.optional(Rate),
  byteBurst: v.optional(Rate),
  proofChecksPerSecond: v.optional(Rate),
  proofCheckBurst: v.optional(Rate),
  subscriptionEntriesPerSecond: v.optional(Rate),
  subscriptionEntryBurst: v.optional(Rate),
})

export const RelayConfigSchema = v.strictObject({
  stateDir: v.pipe(v.string(), v.minLength(1)),
  listen: v.optional(v.pipe(v.array(Multiaddr), v.minLength(1)), ['/ip4/0.0.0.0/tcp/7400']),
  /** Neighbours to dial and keep dialled (other relays, or nodes): multiaddrs ending in /p2p/<PeerId>. */
  peers: v.optional(
    v.array(
      v.pipe(
        v.string(),
        v.regex(/\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/, 'a multiaddr ending in /p2p/<PeerId>'),
      ),
    ),
    [],
  ),
  admission: v.optional(
    v.strictObject({
      /** SUBs must carry a valid membership proof; frames only from peers that proved the VFT's key. */
      requireProofs: v.optional(v.boolean(), true),
      /**
       * Admit every peer not on `deny` (an open relay). Default false: a relay
       * admits only the peers on `allow`, the relays on `relays`, and holders
       * of a fabric credential (docs/spec/14-roles.md §14.3); it logs a
       * warning at start when open.
       */
      open: v.optional(v.boolean(), false),
      /** Peers admitted by PeerId. */
      allow: v.optional(v.array(PeerId), []),
      deny: v.optional(v.array(PeerId), []),
      /**
       * Neighbour relays, admitted, whose propagated subscriptions are taken with
       * proofs that name other PeerIds (the original subscribers), and which hear
       * every subscription passed on. Anyone else's proofs must name the neighbour
       * itself, whatever role its HELLO claims.
       */
      relays: v.optional(v.array(PeerId), []),
      /**
       * Fabric roots (spec 12-relay.md §12.4, 16-fabric.md): each fabric's root
       * public key (64 hex digits, as `peertap fabric show` prints it), not a
       * credential key. A member presents the root-signed statement of the
       * fabric's current epoch (CONTROL 11); a membership proof under that
       * epoch's credential key then admits it, as if it were on `allow`, and
       * a newer epoch retires the older key at once. Roots added with
       * `peertap-relay fabric add` live in the state directory besides these.
       */
      fabricKeys: v.optional(
        v.array(
          v.pipe(
            v.string(),
            v.regex(
              /^[0-9a-fA-F]{64}$/,
              'a fabric key is 64 hex digits, as `peertap fabric show` prints it',
            ),
          ),
        ),
        [],
      ),
    }),
    {},
  ),
  /** Defaults for every peer. */
  limits: v.optional(
    v.strictObject({
      ...PeerLimits.entries,
      proofChecksPerSecond: v.optional(Rate, 20),
      proofCheckBurst: v.optional(Rate, 40),
      /**
       * SUB entries per second from one peer, renewals included (spec 09 §7):
       * a node renews each subscription once a minute, so 128/s carries
       * 4096 (maxSubscriptions) twice over; the burst, a node's whole set
       * twice, at once. Configured relays (admission.relays) are not
       * limited unless their peerLimits say so: they pass on others' SUBs.
       */
      subscriptionEntriesPerSecond: v.optional(Rate, 128),
      subscriptionEntryBurst: v.optional(Rate, 8192),
      /**
       * Membership-proof signatures verified per second over all peers together
       * (docs/spec/09-forwarding.md §9.7); 0: no budget, only the per-peer rate.
       */
      proofCheckBudgetPerSecond: v.optional(
        v.pipe(v.number(), v.minValue(0), v.maxValue(1e6)),
        500,
      ),
      /** Subscriptions in the whole table. */
      maxTableSubscriptions: v.optional(Count),
      /** Peers the table keeps state for. */
      maxNeighbours: v.optional(Count),
      /** Largest sealed payload forwarded, bytes. */
      maxSealedLength: v.optional(v.pipe(v.number(), v.integer(), v.minValue(27))),
      /** Longest TTL a SUB may ask for, seconds. */
      maxTtlSeconds: v.optional(Count),
      /** Connections held at once (docs/spec/08-trunk.md §9). */
      maxConnections: v.optional(Count, 1024),
      /** Inbound connections from one IPv4 address or IPv6 /64 at once; 0: no cap (08 §9). */
      maxConnectionsPerAddress: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2 ** 31 - 1)),
        32,
      ),
      /** Inbound connections accepted per second from one address (08 §9). */
      inboundConnectionsPerSecond: v.optional(Count, 5),
      /** Bytes queued for sending over all links together, shared fairly (08 §6.1); 0: no budget. */
      queueBudgetBytes: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2 ** 40)),
        256 * 1024 * 1024,
      ),
    }),
    {},
  ),
  /**
   * The spanning tree over relay identities (docs/spec/12-relay.md §7): with
   * neighbour relays listed in `admission.relays` that also run it, frames and
   * subscriptions cross only the tree's relay-relay links.
   */
  tree: v.optional(
    v.strictObject({
      enabled: v.optional(v.boolean(), true),
      /** Seconds between tree messages on each relay-relay link. */
      helloSeconds: v.optional(v.pipe(v.number(), v.minValue(0.1), v.maxValue(60)), 1),
      /** Seconds a neighbour's tree message counts; more than helloSeconds (3 hellos by default). */
      holdSeconds: v.optional(v.pipe(v.number(), v.minValue(0.3), v.maxValue(600)), 3),
      /** Cost of the link to a neighbour relay (default 10); the cheapest path to the root wins. */
      costs: v.optional(
        v.record(PeerId, v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000))),
        {},
      ),
    }),
    {},
  ),
  /**
   * The datagram link to neighbours that have it too, on by default
   * (`datagramSection` in @peertap/daemon): frames forwarded over UDP, each
   * datagram authenticated hop by hop, with the stream link as fallback.
   */
  datagram: datagramSection,
  /** Overrides per PeerId (a neighbour relay carries many peers' traffic). */
  /**
   * The libp2p circuit-relay-v2 server (docs/spec/12-relay.md §8): nodes
   * that reach each other only through this relay open their trunk control
   * link over a circuit. Only admitted peers reserve and connect; frames
   * still go by VFT, not through circuits.
   */
  circuit: v.optional(
    v.strictObject({
      enabled: v.optional(v.boolean(), true),
      /** Reservations held at once. */
      maxReservations: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65536)),
        64,
      ),
      /** How long a reservation lasts before the node renews it. */
      reservationSeconds: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(60), v.maxValue(86400)),
        3600,
      ),
      /** How long one circuit may stay open. */
      durationSeconds: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(86400)),
        3600,
      ),
      /** Bytes one circuit may carry. */
      dataBytes: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(65536), v.maxValue(2 ** 32)),
        1 << 20,
      ),
    }),
    {},
  ),
  peerLimits: v.optional(v.record(PeerId, PeerLimits), {}),
  /**
   * The AES-256-GCM of the datagram link's hop protection, which the relay
   * opens and seals for every datagram it forwards: `aesField` in
   * @peertap/daemon (`auto`: the tap addon's OpenSSL contexts when built).
   */
  aes: aesField,
  /**
   * The fast path (docs/spec/18-fast-path.md): DATA the table routes from
   * one neighbour's datagram path to exactly one other's is forwarded by
   * the tap addon's reader thread, without waking JavaScript. On by
   * default; it needs the addon and the batched datagram socket, and stays
   * off for sources with a frame or byte rate limit. `false` turns it off.
   */
  fastPath: v.optional(v.boolean(), true),
  status: statusSection(7481),
  log: logSection,
})

export type RelayConfig = v.InferOutput<typeof RelayConfigSchema>
export type PeerLimitsConfig = v.InferOutput<typeof PeerLimits>

/** Validates a parsed config; throws a ConfigError naming the first bad field. */
export function parseRelayConfig(input: unknown): RelayConfig {
  const admission = (input as { admission?: Record<string, unknown> } | null)?.admission
  if (typeof admission === 'object' && admission !== null && 'allowListOnly' in admission)
    throw new ConfigError(
      'admission.allowListOnly',
      'no longer a setting: a relay admits only `allow`, `relays` and fabric credentials by default; write "open": true to admit everyone not on `deny`',
    )
  const config = parseWithSchema(RelayConfigSchema, input)
  const denied = new Set(config.admission.deny)
  const both = config.admission.allow.findIndex((id) => denied.has(id))
  if (both >= 0) throw new ConfigError(`admission.allow.${both}`, 'also on admission.deny')
  if (config.tree.holdSeconds <= config.tree.helloSeconds)
    throw new ConfigError('tree.holdSeconds', 'must be more than tree.helloSeconds')
  return config
}

/** Reads and validates a config file. */
export async function loadRelayConfig(path: string): Promise<RelayConfig> {
  return parseRelayConfig(await readJsonConfig(path))
}
