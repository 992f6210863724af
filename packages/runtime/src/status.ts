/**
 * The node's status snapshot (`peertap status`, GET /status, and an
 * embedded node's `status()`), read from the parts the node wires.
 */
import { createRequire } from 'node:module'
import type { ProofVerifier } from '@peertap/crypto'
import type { RefusalLog, ScavengePacer } from '@peertap/daemon'
import { withFastLink } from '@peertap/daemon'
import type {
  DirectPaths,
  Forwarder,
  ForwardingTable,
  NeighbourAdmission,
  NodeNeighbours,
  SubscriptionAnnouncer,
  SubscriptionProofs,
} from '@peertap/relay'
import type { Switch } from '@peertap/switch'
import type { Link, RelayReservationState, Trunk } from '@peertap/trunk'
import type { Fabric } from './fabric.ts'
import type { FastPath, FastPathCounters } from './fast-path.ts'
import type { Invitations } from './invitations.ts'
import type { MlsVlans } from './mls-vlans.ts'
import type { RefusedCounters } from './receivers.ts'
import type { Vlans } from './vlans.ts'

const { version } = createRequire(import.meta.url)('../package.json') as { version: string }

/** What the status reads. */
export interface NodeParts {
  readonly peerId: string
  readonly trunk: Trunk
  readonly sw: Switch
  readonly table: ForwardingTable
  readonly forwarder: Forwarder<Link>
  readonly direct: DirectPaths<Link>
  readonly announcer: SubscriptionAnnouncer<Link>
  readonly admission: NeighbourAdmission
  readonly proofs: SubscriptionProofs
  readonly verifier: ProofVerifier
  readonly neighbours: NodeNeighbours<Link>
  readonly refused: RefusedCounters
  readonly refusals: RefusalLog
  readonly subscriptionRefusals: RefusalLog
  readonly scavenges: ScavengePacer
  readonly mls: MlsVlans | undefined
  readonly vlans: Vlans
  readonly invitations: Invitations
  readonly fabric: Fabric
  /** The fast path, when on: what it carried counts in the links' and VLANs' counters too. */
  readonly fast?: FastPath | undefined
}

/** The node's status snapshot, as `peertap status --json` prints it. */
export type NodeStatus = ReturnType<typeof nodeStatus>

/** The node's status now. */
export function nodeStatus(parts: NodeParts) {
  const { peerId, trunk, sw, table, forwarder, direct, announcer, admission, proofs } = parts
  const { verifier, neighbours, refused, refusals, subscriptionRefusals, scavenges, mls } = parts
  const { invitations, fabric, vlans: nodeVlans } = parts
  const fast = parts.fast?.counters()
  return {
    peerId,
    version,
    listen: trunk.getMultiaddrs().map(String),
    reservations: trunk.reservations() as readonly RelayReservationState[],
    reflexive: trunk.protocol.reflexiveAddresses(),
    neighbours: trunk.links().map((link) => ({
      id: link.id,
      status: link.status,
      kind: link.kind,
      relayed: link.relayed,
      // Whom we deal with: 'config' (named by the config or an MLS VLAN), 'proof', or 'stranger'.
      admitted: neighbours.standing(link.id),
      // A datagram link's validated path (ip:port), e.g. the hole punched through a NAT.
      ...('pathAddress' in link ? { path: link.pathAddress } : {}),
      // A datagram path's last PING/PONG round trip (ms); a stream link measures one only on POST /ping.
      ...('rttMs' in link && typeof link.rttMs === 'number' ? { rttMs: link.rttMs } : {}),
      // The relay whose circuit the stream link runs over, if it does.
      ...relayOf(trunk.protocol.sourceOf(link.id)),
      mtu: link.mtu,
      cost: link.cost,
      clockSkewMs: link.hello.clockSkewMs,
      counters: withFastLink(link.counters, fast?.links[link.id]),
    })),
    vlans: withFastVlans(sw.vlanCounters(), fast?.vlans),
    // What the fast path carried (docs/spec/18-fast-path.md), also counted above; null when off.
    fastPath: fast ?? null,
    // The VLANs as `vlan/list` gives them (kind, role, state, members, device, addresses).
    vlanList: nodeVlans.list(),
    // Each VLAN's port: device, attached, up/running, MTU, MAC, addresses, device counters.
    interfaces: nodeVlans.interfaces(),
    mls: mls?.status() ?? {},
    invitations: invitations.status(),
    fabric: fabric.joined ? fabric.show() : null,
    subscriptions: { held: announcer.held, table: table.subscriptionCount },
    switch: sw.counters,
    table: table.counters,
    forwarding: { dropNoLink: forwarder.counters.dropNoLink, ...refused },
    admission: {
      ...admission.counters,
      provenPeers: admission.provenPeers,
      declarations: proofs.declarations,
      proofVerifier: verifier.counters,
      refusals: refusals.counters,
      subscriptionRefusals: subscriptionRefusals.counters,
    },
    direct: direct.counters,
    trunk: trunk.protocol.counters,
    scavenges: scavenges.counters,
  }
}

/**
 * Each VLAN's counters with the frames the fast path sealed (sealed,
 * portFrames) and delivered (delivered, receive.opened) added in.
 */
function withFastVlans<V extends Record<string, object>>(
  vlans: V,
  fast: FastPathCounters['vlans'] | undefined,
): V {
  if (fast === undefined) return vlans
  const out: Record<string, object> = { ...vlans }
  for (const [name, f] of Object.entries(fast)) {
    const v = out[name] as Record<string, unknown> | undefined
    if (v === undefined) continue
    const c = { ...v }
    const add = (field: string, n: number) => {
      if (typeof c[field] === 'number') c[field] = (c[field] as number) + n
    }
    add('portFrames', f.framesSent)
    add('sealed', f.framesSent)
    add('sealedBytes', f.bytesSent)
    add('delivered', f.framesReceived)
    add('deliveredBytes', f.bytesReceived)
    // Every frame the cache delivered opened under one of the VLAN's KIDs.
    const receive = c.receive as Record<string, unknown> | undefined
    if (receive !== undefined && typeof receive.opened === 'number')
      c.receive = { ...receive, opened: receive.opened + f.framesReceived }
    out[name] = c
  }
  return out as V
}

/** `trunk.sourceOf`'s `via <relay>` as `{ via: relay }`; nothing for a direct link. */
function relayOf(source: string | undefined): { via?: string } {
  return source?.startsWith('via ') ? { via: source.slice(4) } : {}
}
