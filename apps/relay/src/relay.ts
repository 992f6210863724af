/**
 * The `peertap-relay up` daemon: wiring and lifecycle around the forwarding
 * table and its rules (@peertap/relay: Forwarder, RelayAdmission) and the
 * trunk (@peertap/trunk), role 'relay' in HELLO. No TAP device, no switch,
 * no MLS: a relay holds no VLAN key and forwards by VFT alone
 * (docs/spec/09-forwarding.md, 12-relay.md).
 *
 *   link frames batch -> table.route(neighbour) (admission, size, hop limit,
 *     rate, lookup, proof binding, duplicates, bytes) -> link.sendFrames per
 *     neighbour of the fan-out
 *   SUB with a proof -> admitSubscription (rate limit, then the signature)
 *   SUB without   -> table.subscribe (refused with `sub-no-proof` when
 *     proofs are required)
 *   accepted SUB, UNSUB, neighbour down, expiry -> Propagation -> SUB/UNSUB
 *     to every other admitted neighbour (split horizon, proofs verbatim)
 *   CONTROL 8 from a neighbour relay -> SpanningTree (spec 12 §7): frames,
 *     SUBs and UNSUBs cross a relay-relay link only while it is in the
 *     tree; links to nodes are edge links and always forward
 *   CONTROL 10 from any peer, strangers too -> TicketGrants (spec 12
 *     §12.8.2): a grant of a circuit to the ticket's owner (an owner this
 *     relay admits, else refused before the signature check), or a
 *     counted refusal; no answer either way
 *   HOP CONNECT (libp2p's circuit server) -> both ends admitted, or the
 *     source holds a grant to the (admitted, reserved) destination
 *   CONTROL 11 and 12, the relay's own presence, POST /fabric/reload ->
 *     the fabric (fabric-wiring.ts, spec 12 §12.4, §12.9): epoch statements
 *     that change the credential keys that admit, stored and passed on to
 *     the configured relays; presence records to and from them
 *
 * A one-second tick expires subscriptions in the table and in the
 * propagation state (sending the UNSUBs that follow) and lapsed presence
 * records; a 100 ms tick lets the tree's neighbour vectors lapse and sends
 * its hellos; a ten-second tick signs the relay's presence again when its
 * addresses changed or it is 300 s old. The status API (GET /status,
 * /metrics, POST /ping, /fabric/reload) and its control file: status.ts.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { ProofVerifier } from '@peertap/crypto'
import {
  aesPrimitives,
  datagramOption,
  datagramSocketFactory,
  fastDatagramOptions,
  keepNeighboursDialled,
  RefusalLog,
  ScavengePacer,
} from '@peertap/daemon'
import {
  CAP_SPANNING_TREE,
  DEFAULT_TREE_LINK_COST,
  Forwarder,
  type PropagatedMessage,
  RelayAdmission,
  SpanningTree,
  TicketGrants,
} from '@peertap/relay'
import {
  CONTROL_RELAY_TICKET,
  CONTROL_SPANNING_TREE,
  createTrunk,
  loadOrCreateIdentity,
  type Trunk,
} from '@peertap/trunk'
import type { Logger } from 'pino'
import type { RelayConfig } from './config.ts'
import { loadFabric, wireFabric } from './fabric-wiring.ts'
import { frameRouter, startRelayFastPath } from './fast-path.ts'
import { type RelayParts, startStatusApi } from './status.ts'
import { relayTable } from './table.ts'

const TICK_MS = 1000
const TREE_TICK_MS = 100
const REDIAL_MS = 2000
/** How often the relay looks whether its presence must be signed again (addresses, age). */
const PRESENCE_TICK_MS = 10_000

export interface RunningRelay {
  readonly peerId: string
  stop(): Promise<void>
}

export async function startRelay(config: RelayConfig, log: Logger): Promise<RunningRelay> {
  const now = () => Date.now() / 1000
  // Frees the Buffers of the frames carried with cheap young-generation
  // collections, before V8 answers their memory with full ones (packages/daemon/README.md, "Scavenges").
  const scavenges = new ScavengePacer()
  if (!scavenges.available)
    log.warn('V8 gc function not available: no paced scavenges, full collections will cost CPU')
  const trace = log.isLevelEnabled('trace')
  const { admission, limits } = config
  // Circuit relay v2 (spec 12 §8): only for peers the relay admits anyway,
  // and for a ticket's holder to its owner (§12.8.2).
  const circuitCounters = { refusals: 0 }
  const refused = (ok: boolean): boolean => {
    if (!ok) circuitCounters.refusals++
    return ok
  }
  let admits: (id: string) => boolean = () => false
  let denied: (id: string) => boolean = () => true
  // A ticket for an owner this relay does not admit is refused before any
  // signature check: its grant would open nothing (the gate below).
  const tickets = new TicketGrants({ admits: (owner) => admits(owner), denied: (id) => denied(id) })
  // The identity signs the relay's presence too (spec 12 §12.9).
  const identity = await loadOrCreateIdentity(config.stateDir)
  // Fabric roots: the config's and those added at run time; the newest
  // statement per root from the last run, each verified again (spec 12 §12.4).
  const { configRoots, epochs } = await loadFabric(config, log)
  // The fast path (fast-path.ts): routes the table made to one neighbour, forwarded by the addon.
  const fast = startRelayFastPath(config, log, trace)
  const trunk: Trunk = await createTrunk({
    stateDir: config.stateDir,
    privateKey: identity,
    listen: config.listen,
    role: 'relay',
    // The relay role of a neighbour counts only for the relays the config names.
    trustedRelays: (id) => admission.relays.includes(id),
    // Our UDP port only for peers we admit; one admitted later by credential gets it then.
    datagramFor: (id) => admits(id),
    maxConnections: limits.maxConnections,
    maxConnectionsPerAddress: limits.maxConnectionsPerAddress,
    inboundConnectionThreshold: limits.inboundConnectionsPerSecond,
    queueBudgetBytes: limits.queueBudgetBytes,
    capabilities: config.tree.enabled ? CAP_SPANNING_TREE : 0,
    // The batched socket (a reader thread draining UDP with recvmmsg) keeps
    // the datagram link fed while the event loop works through many
    // neighbours' messages. node:dgram reads a few datagrams per loop turn
    // (libuv's UDP read stops after 32): with 500 identities at their limits
    // (tools/overlay/test/identities.e2e.test.ts) members got 9 Mbit/s
    // through node:dgram, 427 with the datagram link off.
    datagram: config.datagram.enabled && {
      ...datagramOption(config.datagram),
      ...fastDatagramOptions(
        fast,
        datagramSocketFactory(
          config.datagram.socket,
          log,
          config.datagram.gso,
          config.datagram.gro,
        ),
      ),
      // Every forwarded datagram is opened and sealed again (hop protection):
      // on node:crypto that was a cipher object per datagram, several times
      // the cost of the rest of the forwarding.
      aes: aesPrimitives(config.aes, log),
    },
    ...(config.circuit.enabled
      ? {
          circuitRelayServer: {
            admits: (id: string) => refused(admits(id)),
            // The owner still holds its own reservation, made as an admitted peer.
            allowsCircuit: (source: string, target: string) =>
              refused(admits(target) && (admits(source) || tickets.allows(source, target, now()))),
            maxReservations: config.circuit.maxReservations,
            reservationTtlMs: config.circuit.reservationSeconds * 1000,
            durationLimitMs: config.circuit.durationSeconds * 1000,
            dataLimitBytes: config.circuit.dataBytes,
          },
        }
      : {}),
  })
  const peerId = trunk.peerId.toString()
  const table = relayTable(config)
  // A change that may change a route: the fast path's entries for it go.
  fast?.watchTable(table)
  // Refused SUB entries: counted always, logged once per peer per minute (14-roles.md §14.4).
  const refusals = new RefusalLog(log, 'subscription entries refused')
  const ticketRefusals = new RefusalLog(log, 'relay tickets refused')
  denied = (id) => table.access(id) === 'deny'
  // Verified proofs, remembered: a renewal is not verified again (spec 07 §4, 09 §3).
  const verifier = new ProofVerifier()
  const peerIdBytes = new Map<string, Uint8Array>()
  const bytesOf = (id: string): Uint8Array => {
    let bytes = peerIdBytes.get(id)
    if (bytes === undefined) {
      bytes = peerIdFromString(id).toMultihash().bytes
      peerIdBytes.set(id, bytes)
    }
    return bytes
  }
  // Admission (allow, deny, open, fabric credentials), whose PeerId a proof speaks for,
  // propagation to the admitted neighbours, the spanning tree (spec 12 §7) and its ordering
  // (RelayAdmission, @peertap/relay).
  const tree = config.tree.enabled
    ? new SpanningTree({
        self: peerId,
        helloSeconds: config.tree.helloSeconds,
        holdSeconds: config.tree.holdSeconds,
      })
    : undefined
  const rules = new RelayAdmission({
    table,
    links: trunk,
    verifier,
    open: admission.open,
    relays: admission.relays,
    allowed: [...admission.allow, ...admission.relays],
    fabricKeys: epochs.credentialKeys(),
    ...(limits.proofChecksPerSecond === undefined
      ? {}
      : { proofChecksPerSecond: limits.proofChecksPerSecond }),
    ...(limits.proofCheckBurst === undefined ? {} : { proofCheckBurst: limits.proofCheckBurst }),
    peerIdOf: bytesOf,
    ...(tree === undefined ? {} : { tree }),
    treeChannel: CONTROL_SPANNING_TREE,
    treeCost: (id) => config.tree.costs[id] ?? DEFAULT_TREE_LINK_COST,
    events: {
      credentialAdmitted: (id, until) => {
        log.info({ peer: id, until }, 'admitted by fabric credential')
        trunk.protocol.startDatagram(id)
        fabric.sendPresence(id)
      },
      credentialRefused: (id, reason) =>
        log.debug({ peer: id, reason }, 'fabric credential refused'),
      credentialEnded: (id) => log.info({ peer: id }, 'admission by fabric credential ended'),
      entriesRefused: (id, reason, n) => refusals.note(id, reason, n),
      treeChanged: (change) =>
        log.info(
          {
            entered: change.entered,
            left: change.left,
            root: tree?.root,
            cost: tree?.cost,
            parent: tree?.parent ?? null,
          },
          'spanning tree changed',
        ),
      treeLeftOut: (id, error) =>
        log.warn({ peer: id, err: String(error) }, 'relay link left out of the spanning tree'),
      ...(trace
        ? {
            propagated: (m: PropagatedMessage) =>
              log.trace(
                {
                  to: m.neighbour,
                  unsub: m.unsubscribe,
                  entries: m.entries.length,
                  proof: m.proof !== undefined,
                },
                'propagate',
              ),
          }
        : {}),
    },
  })
  const admitted = (id: string): boolean => rules.admitted(id)
  admits = admitted

  // Fabric epochs and presence (spec 12 §12.4, §12.9): CONTROL 11 and 12.
  const fabric = wireFabric({
    config,
    log,
    now,
    trunk,
    rules,
    configRoots,
    epochs,
    seed: identity.raw.subarray(0, 32),
  })
  // Frames: route per batch, one sendFrames per neighbour of the fan-out; a blocked
  // relay-relay link neither sends nor takes frames (Forwarder, @peertap/relay).
  const forwarder = new Forwarder({ table, links: trunk, forwards: (id) => rules.forwards(id) })
  const onFrames = frameRouter({ forwarder, trunk, fast, scavenges, log, trace, now })

  trunk.setReceiver({
    onFrames,
    onSubscription: (sub, unsubscribe, link) => rules.onSubscription(sub, unsubscribe, link, now()),
    onControl: (control, link) => {
      if (control.channel === CONTROL_SPANNING_TREE && tree !== undefined) {
        rules.onTreeMessage(link.id, control.payload, now())
        fast?.watchTree(trunk.links(), rules)
        return
      }
      if (fabric.onControl(control, link)) return
      if (control.channel === CONTROL_RELAY_TICKET) {
        const offer = tickets.offer(link.id, control.payload, now())
        // Taken and renewed at debug (an invitee presents its ticket every few
        // seconds); refused at most once per peer per minute.
        if (offer.ok)
          log.debug({ peer: link.id, owner: offer.owner, until: offer.until }, 'relay ticket taken')
        else ticketRefusals.note(link.id, offer.reason, 1)
        return
      }
      // CONTROL is point to point and never forwarded (spec 08 §4.6).
      log.debug({ peer: link.id, channel: control.channel }, 'control message ignored')
    },
  })
  trunk.addEventListener('link:up', (event) => {
    const link = event.detail
    log.info(
      {
        peer: link.id,
        role: link.hello.remoteRole,
        kind: link.kind,
        access: table.access(link.id),
        admitted: admitted(link.id),
        skewMs: link.hello.clockSkewMs,
      },
      'link up',
    )
    if (link.hello.skewWarning)
      log.warn({ peer: link.id, skewMs: link.hello.clockSkewMs }, 'clock skew over 60 s')
    rules.linkUp(link, now())
    fabric.linkUp(link)
  })
  trunk.addEventListener('link:down', (event) => {
    const { link, reason } = event.detail
    log.info({ peer: link.id, reason }, 'link down')
    rules.linkDown(link.id, now())
    peerIdBytes.delete(link.id)
    refusals.forget(link.id)
    tickets.forget(link.id)
    fabric.linkDown(link.id)
  })

  await trunk.start()
  log.info(
    {
      peerId,
      listen: trunk.getMultiaddrs().map(String),
      requireProofs: admission.requireProofs,
      open: admission.open,
      allow: admission.allow.length,
      deny: admission.deny.length,
    },
    'relay up',
  )
  if (admission.open)
    log.warn(
      'admission is open: any peer not on admission.deny may subscribe and send through this relay',
    )

  // Neighbours from the config: dialled, and redialled while down.
  const dialling = keepNeighboursDialled(trunk, config.peers, log, REDIAL_MS)

  fabric.refreshPresence()
  const tick = setInterval(() => {
    rules.expire(now())
    tickets.expire(now())
    fabric.presence.expire(now())
  }, TICK_MS)
  const presenceTick = setInterval(fabric.refreshPresence, PRESENCE_TICK_MS)
  const treeTick =
    tree === undefined
      ? undefined
      : setInterval(() => {
          rules.treeTick(now())
          fast?.watchTree(trunk.links(), rules)
        }, TREE_TICK_MS)

  const parts: RelayParts = {
    fast,
    config,
    peerId,
    trunk,
    table,
    rules,
    forwarder,
    verifier,
    refusals,
    tree,
    scavenges,
    circuitRefusals: () => circuitCounters.refusals,
    tickets,
    configRoots,
    epochs,
    fabricCounters: fabric.fabricCounters,
    presence: fabric.presence,
    presenceCounters: fabric.presenceCounters,
  }
  // `peertap-relay fabric add|remove` wrote fabric-roots.json: POST /fabric/reload takes its roots now.
  const api = await startStatusApi(parts, log, now, { 'fabric/reload': fabric.reloadRoots })

  return {
    peerId,
    async stop() {
      dialling.stop()
      clearInterval(tick)
      clearInterval(presenceTick)
      if (treeTick !== undefined) clearInterval(treeTick)
      await api.close()
      await trunk.stop()
      await fabric.stored()
    },
  }
}
