/**
 * The relay's status (`peertap-relay status`, GET /status) and its
 * Prometheus metrics (GET /metrics), read from the parts the daemon wires;
 * and the status API that serves them (with PING and the daemon's
 * actions) on 127.0.0.1, and the control file that tells the CLI the
 * API's port and token.
 */

import { join } from 'node:path'
import type { ProofVerifier } from '@peertap/crypto'
import {
  type MetricsSection,
  metricsText,
  type RefusalLog,
  type ScavengePacer,
  SOCKET_FILE,
  type StatusProvider,
  serveDaemonApi,
  withFastLink,
} from '@peertap/daemon'
import type {
  FabricEpochs,
  Forwarder,
  ForwardingTable,
  RelayAdmission,
  RelayAdmissionCounters,
  RelayPresence,
  SpanningTree,
  TicketGrants,
} from '@peertap/relay'
import type { Link, Trunk } from '@peertap/trunk'
import type { Logger } from 'pino'
import type { RelayConfig } from './config.ts'
import type { RelayFastPath } from './fast-path.ts'
import { tableLimits } from './table.ts'

/** Relay-level counters, besides the table's, the trunk's and each link's. */
export interface RelayCounters extends RelayAdmissionCounters {
  /** Frames received on a relay-relay link that is not in the spanning tree, dropped. */
  framesBlocked: number
  /** Copies the table routed to a link that is not in the tree, not sent (0 unless a race). */
  copiesBlocked: number
  /** Copies the table routed to a neighbour whose link had gone by the time of sending. */
  dropNoLink: number
}

/** What the status reads. */
export interface RelayParts {
  readonly config: RelayConfig
  readonly peerId: string
  readonly trunk: Trunk
  readonly table: ForwardingTable
  readonly rules: RelayAdmission<Link>
  readonly forwarder: Forwarder<Link>
  readonly verifier: ProofVerifier
  readonly refusals: RefusalLog
  readonly tree: SpanningTree | undefined
  readonly scavenges: ScavengePacer
  /** The fast path, when on. */
  readonly fast?: RelayFastPath | undefined
  /** Circuit reservations refused (the peer is not admitted). */
  readonly circuitRefusals: () => number
  /** Relay tickets taken and refused, and the grants they made (spec 12 §12.8.2). */
  readonly tickets: TicketGrants
  /** The config's fabric roots (lower-case hex); the others were added at run time. */
  readonly configRoots: readonly string[]
  /** Fabric roots and their newest epoch statements (spec 12 §12.4). */
  readonly epochs: FabricEpochs
  readonly fabricCounters: {
    /** Statements passed on to configured relays, and those their link refused. */
    readonly passedOn: number
    readonly passOnDropped: number
    /** Writes of fabric-epochs.json that failed (logged). */
    readonly storeFailures: number
  }
  /** The relay's own presence and its neighbour relays' (spec 12 §12.9). */
  readonly presence: RelayPresence
  readonly presenceCounters: {
    /** CONTROL 12 batches sent, and those the link refused. */
    readonly batchesSent: number
    readonly batchesDropped: number
  }
}

/** Each fabric root with its current epoch and credential key (null before any statement). */
export function fabricRoots(epochs: FabricEpochs, configRoots: readonly string[]) {
  return epochs.roots().map((rootKey) => {
    const held = epochs.held(rootKey)
    return {
      rootKey,
      source: configRoots.includes(rootKey) ? 'config' : 'state',
      epoch: held?.epoch ?? null,
      credentialKey: held?.credentialKey ?? null,
      issuedAt: held?.issuedAt ?? null,
    }
  })
}

function fabricStatus(parts: RelayParts, now: number) {
  const { epochs, rules, presence } = parts
  return {
    roots: fabricRoots(epochs, parts.configRoots),
    credentialAdmissions: rules.credentialed().length,
    epochs: {
      ...epochs.counters,
      refused: { ...epochs.counters.refused },
      ...parts.fabricCounters,
    },
    presence: {
      relays: presence.directory.relays(Math.floor(now)).map((e) => e.peerId),
      signed: presence.counters.signed,
      batchesReceived: presence.counters.batchesReceived,
      batchesMalformed: presence.counters.batchesMalformed,
      batchesNotFromRelay: presence.counters.batchesNotFromRelay,
      recordsAccepted: presence.counters.records.accepted,
      recordsRefused: { ...presence.counters.records.refused },
      ...parts.presenceCounters,
    },
  }
}

function circuitStatus({ config, trunk, circuitRefusals, tickets }: RelayParts) {
  const server = (trunk.libp2p.services as { circuitRelay?: { reservations: { size: number } } })
    .circuitRelay
  return {
    enabled: config.circuit.enabled,
    reservations: server?.reservations.size ?? 0,
    maxReservations: config.circuit.maxReservations,
    durationSeconds: config.circuit.durationSeconds,
    dataBytes: config.circuit.dataBytes,
    refusals: circuitRefusals(),
    tickets: {
      ...tickets.counters,
      refused: { ...tickets.counters.refused },
      grants: tickets.size,
    },
  }
}

/** The relay's status now. */
export function relayStatus(parts: RelayParts, now: number) {
  const { config, peerId, trunk, table, rules, forwarder, verifier, refusals, tree, scavenges } =
    parts
  const fast = parts.fast?.counters()
  return {
    peerId,
    role: 'relay',
    listen: trunk.getMultiaddrs().map(String),
    admission: {
      requireProofs: config.admission.requireProofs,
      open: config.admission.open,
      allow: config.admission.allow,
      deny: config.admission.deny,
      relays: config.admission.relays,
      fabricKeys: config.admission.fabricKeys.map((k) => k.toLowerCase()),
    },
    fabric: fabricStatus(parts, now),
    limits: {
      ...tableLimits(config.limits),
      maxTtlSeconds: table.maxTtlSeconds,
      maxSealedLength: table.maxSealedLength,
      maxTableSubscriptions: table.maxSubscriptions,
      maxNeighbours: table.maxNeighbours,
    },
    peerLimits: Object.fromEntries(
      Object.entries(config.peerLimits).map(([id, l]) => [id, tableLimits(l)]),
    ),
    neighbours: trunk.links().map((link) => ({
      id: link.id,
      status: link.status,
      role: link.hello.remoteRole,
      kind: link.kind,
      access: table.access(link.id),
      admitted: rules.admitted(link.id),
      tree: tree?.role(link.id) ?? 'edge',
      credentialUntil: rules.credentialUntil(link.id) ?? null,
      mtu: link.mtu,
      clockSkewMs: link.hello.clockSkewMs,
      table: table.neighbourStats(link.id) ?? null,
      propagation: rules.propagation.originStats(link.id) ?? null,
      counters: withFastLink(link.counters, fast?.links[link.id]),
    })),
    subscriptions: {
      table: table.subscriptionCount,
      vfts: table.vftCount,
      neighbours: table.neighbourCount,
      propagated: rules.propagation.size,
      propagationOrigins: rules.propagation.origins,
      propagationOverBudget: rules.propagation.counters.overBudget,
    },
    relay: {
      ...rules.counters,
      framesBlocked: forwarder.counters.framesBlocked,
      copiesBlocked: forwarder.counters.copiesBlocked,
      dropNoLink: forwarder.counters.dropNoLink,
    } satisfies RelayCounters,
    proofVerifier: { ...verifier.counters, size: verifier.size },
    refusals: refusals.counters,
    tree: tree === undefined ? null : tree.status(now),
    circuit: circuitStatus(parts),
    // What the fast path forwarded counts as the table's forwarding too.
    table:
      fast === undefined
        ? table.counters
        : {
            ...table.counters,
            framesIn: table.counters.framesIn + fast.forwarded + fast.forwardDuplicate,
            framesForwarded: table.counters.framesForwarded + fast.forwarded,
            copiesOut: table.counters.copiesOut + fast.forwarded,
            frameDrops: {
              ...table.counters.frameDrops,
              duplicate: table.counters.frameDrops.duplicate + fast.forwardDuplicate,
            },
          },
    // What the fast path forwarded (docs/spec/18-fast-path.md), also counted above; null when off.
    fastPath: fast ?? null,
    trunk: trunk.protocol.counters,
    scavenges: scavenges.counters,
  }
}

/** The status as Prometheus text. */
export function relayMetrics(s: ReturnType<typeof relayStatus>): Promise<string> {
  const sections: MetricsSection[] = [
    { prefix: 'peertap_relay', value: s.relay },
    { prefix: 'peertap_relay_proof_verifier', value: s.proofVerifier },
    { prefix: 'peertap_relay_refusals', value: s.refusals },
    { prefix: 'peertap_relay_table', value: s.table },
    { prefix: 'peertap_relay_limit', value: s.limits },
    { prefix: 'peertap_relay_subscriptions', value: s.subscriptions },
    { prefix: 'peertap_relay_trunk', value: s.trunk },
    { prefix: 'peertap_relay_circuit', value: s.circuit },
    { prefix: 'peertap_relay_scavenges', value: s.scavenges },
    // The fast path's own counters (docs/spec/18-fast-path.md §18.6); what it forwarded is in
    // the table and link counters too.
    ...(s.fastPath === null
      ? []
      : [{ prefix: 'peertap_relay_fast_path', value: { ...s.fastPath, links: undefined } }]),
    {
      prefix: 'peertap_relay_fabric',
      value: {
        roots: s.fabric.roots.length,
        credentialAdmissions: s.fabric.credentialAdmissions,
        epochs: s.fabric.epochs,
      },
    },
    {
      prefix: 'peertap_relay_presence',
      value: { ...s.fabric.presence, relays: s.fabric.presence.relays.length },
    },
  ]
  if (s.tree !== null) {
    const { counters: treeCounters, isRoot, cost, age, treeLinks, blockedLinks } = s.tree
    sections.push({
      prefix: 'peertap_relay_tree',
      value: {
        ...treeCounters,
        isRoot: isRoot ? 1 : 0,
        cost,
        age,
        treeLinks: treeLinks.length,
        blockedLinks: blockedLinks.length,
      },
    })
    // The root and parent as labels of an info gauge (PeerIds are not numbers).
    sections.push({
      prefix: 'peertap_relay_tree_root',
      labels: { root: s.tree.root, parent: s.tree.parent ?? '' },
      value: 1,
    })
    for (const l of s.tree.links)
      sections.push({
        prefix: 'peertap_relay_tree_link',
        labels: { peer: l.id },
        value: { blocked: l.role === 'blocked' ? 1 : 0, cost: l.cost },
      })
  }
  for (const [peer, value] of Object.entries(s.peerLimits))
    sections.push({ prefix: 'peertap_relay_peer_limit', labels: { peer }, value })
  for (const n of s.neighbours) {
    sections.push({ prefix: 'peertap_relay_link', labels: { peer: n.id }, value: n.counters })
    if (n.table !== null)
      sections.push({ prefix: 'peertap_relay_neighbour', labels: { peer: n.id }, value: n.table })
  }
  return metricsText(sections)
}

/** The running status API. */
export interface StatusApi {
  /** Stops serving and removes the control file. */
  close(): Promise<void>
}

/**
 * Serves the relay's status, metrics, PING and `actions` on 127.0.0.1
 * behind a fresh token, and writes the control file with its port and token.
 */
export async function startStatusApi(
  parts: RelayParts,
  log: Logger,
  now: () => number,
  actions: NonNullable<StatusProvider['actions']>,
): Promise<StatusApi> {
  const { config, trunk } = parts
  const status = () => relayStatus(parts, now())
  // Also on <stateDir>/api.sock, for the CLI without root (the peertap group).
  const socketPath = join(config.stateDir, SOCKET_FILE)
  return serveDaemonApi({
    stateDir: config.stateDir,
    port: config.status.port,
    // The relay has no `ui` command: a sign-in link straight from its socket.
    signIn: `curl -s -X POST --unix-socket ${socketPath} http://localhost/ui/nonce`,
    log,
    provider: {
      title: 'PeerTap relay',
      status,
      metrics: () => relayMetrics(status()),
      ping: async (peer) => {
        const link = trunk.getLink(peer)
        if (link === undefined) throw new Error(`no link to ${peer}`)
        const result = await link.ping({ timeoutMs: 5000 })
        return { rttMs: result.rttMs, hops: result.hops.map((h) => Buffer.from(h).toString('hex')) }
      },
      actions,
    },
  })
}
