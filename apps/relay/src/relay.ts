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
 *   CONTROL 11 from any peer, strangers too -> FabricEpochs (spec 12
 *     §12.4): a newer epoch statement of a configured fabric root (cheap
 *     refusals first, then the per-peer and global signature budgets, then
 *     the root's signature) replaces the held one; its credential key
 *     admits from then on and the previous key's admissions end at once
 *     (RelayAdmission.setFabricKeys); the statement is stored
 *     (fabric-epochs.json) and passed on to the configured relays
 *   CONTROL 12 from a configured relay -> RelayPresence (spec 12 §12.9): its
 *     relays' records into a bounded directory; from anyone else, dropped
 *   the relay's own presence (RelayPresence) -> CONTROL 12 to each peer
 *     when it is admitted (by credential, or at link up when allowed), to
 *     each configured relay when its link comes up, and to all of them
 *     whenever it is signed again
 *   POST /fabric/reload (`peertap-relay fabric add|remove`) -> the roots of
 *     fabric-roots.json again, besides the config's
 *
 * A one-second tick expires subscriptions in the table and in the
 * propagation state (sending the UNSUBs that follow) and lapsed presence
 * records; a 100 ms tick lets the tree's neighbour vectors lapse and sends
 * its hellos; a ten-second tick signs the relay's presence again when its
 * addresses changed or it is 300 s old.
 */
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { ProofVerifier } from '@peertap/crypto'
import {
  aesPrimitives,
  CONTROL_FILE,
  datagramOption,
  datagramSocketFactory,
  keepNeighboursDialled,
  RefusalLog,
  ScavengePacer,
  startStatusServer,
  writeStateFile,
} from '@peertap/daemon'
import {
  CAP_SPANNING_TREE,
  DEFAULT_TREE_LINK_COST,
  FabricEpochs,
  Forwarder,
  type Frame,
  type PropagatedMessage,
  RelayAdmission,
  RelayPresence,
  SpanningTree,
  TicketGrants,
} from '@peertap/relay'
import {
  CONTROL_FABRIC_EPOCH,
  CONTROL_PRESENCE,
  CONTROL_RELAY_TICKET,
  CONTROL_SPANNING_TREE,
  createTrunk,
  type Link,
  loadOrCreateIdentity,
  type Trunk,
} from '@peertap/trunk'
import type { Logger } from 'pino'
import type { RelayConfig } from './config.ts'
import { readFabricEpochs, readFabricRoots, writeFabricEpochs } from './fabric.ts'
import { fabricRoots, type RelayParts, relayMetrics, relayStatus } from './status.ts'
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
  const configRoots = admission.fabricKeys.map((k) => k.toLowerCase())
  const epochs = new FabricEpochs({
    roots: [...configRoots, ...(await readFabricRoots(config.stateDir))],
  })
  for (const statement of await readFabricEpochs(config.stateDir)) {
    const restored = epochs.restore(statement)
    if (!restored.ok && restored.reason !== 'stale')
      log.warn({ reason: restored.reason }, 'stored fabric epoch statement refused')
  }
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
      socket: datagramSocketFactory(
        config.datagram.socket,
        log,
        config.datagram.gso,
        config.datagram.gro,
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
        sendPresence(id)
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

  // Fabric epochs (spec 12 §12.4): what changes the keys that admit.
  const epochRefusals = new RefusalLog(log, 'fabric epoch statements refused')
  const fabricCounters = { passedOn: 0, passOnDropped: 0, storeFailures: 0 }
  const isRelay = (id: string): boolean => admission.relays.includes(id)
  const fabricChanged = (): void => {
    const ended = rules.setFabricKeys(epochs.credentialKeys(), now())
    if (ended.length > 0)
      log.info({ peers: ended }, 'admission by fabric credential ended: its key was retired')
  }
  // One write at a time, each of every statement held then (atomic: writeStateFile).
  let storing: Promise<void> = Promise.resolve()
  const storeEpochs = (): void => {
    storing = storing
      .then(() => writeFabricEpochs(config.stateDir, epochs.statements()))
      .catch((error: unknown) => {
        fabricCounters.storeFailures++
        log.error({ err: String(error) }, 'could not store the fabric epochs')
      })
  }
  const sendEpoch = (id: string, bytes: Uint8Array): void => {
    const link = trunk.getLink(id)
    if (link === undefined) return
    if (link.sendControl({ channel: CONTROL_FABRIC_EPOCH, payload: bytes }))
      fabricCounters.passedOn++
    else fabricCounters.passOnDropped++
  }
  const onEpoch = (link: Link, payload: Uint8Array): void => {
    const offer = epochs.offer(link.id, payload, now())
    if (!offer.ok) {
      epochRefusals.note(link.id, offer.reason, 1)
      return
    }
    const { held, replaced } = offer
    log.info(
      {
        peer: link.id,
        root: held.rootKey,
        epoch: held.epoch,
        credentialKey: held.credentialKey,
        replaced: replaced?.epoch ?? null,
      },
      'fabric epoch taken',
    )
    fabricChanged()
    storeEpochs()
    // The configured relays switch with it (they drop what they hold already, unverified).
    for (const id of admission.relays) if (id !== link.id) sendEpoch(id, held.bytes)
  }
  const reloadRoots = async () => {
    const change = epochs.setRoots([...configRoots, ...(await readFabricRoots(config.stateDir))])
    fabricChanged()
    if (change.added.length + change.removed.length > 0) log.info(change, 'fabric roots changed')
    return { ...change, roots: fabricRoots(epochs, configRoots) }
  }

  // Presence (spec 12 §12.9): signed with the relay's PeerId, over the trunk.
  const presence = new RelayPresence({
    seed: identity.raw.subarray(0, 32),
    peerId: trunk.peerId.toMultihash().bytes,
  })
  const presenceCounters = { batchesSent: 0, batchesDropped: 0 }
  // Admitted peers and configured relays hear it; a stranger never does.
  const hearsPresence = (id: string): boolean => isRelay(id) || admitted(id)
  const sendPresence = (id: string): void => {
    const link = trunk.getLink(id)
    if (link === undefined || presence.record === undefined || !hearsPresence(id)) return
    if (link.sendControl({ channel: CONTROL_PRESENCE, payload: presence.batch(now(), id) }))
      presenceCounters.batchesSent++
    else presenceCounters.batchesDropped++
  }
  const refreshPresence = (): void => {
    if (!presence.refresh(ownAddresses(trunk), trunk.links().length, now())) return
    log.debug({ addresses: ownAddresses(trunk) }, 'presence signed')
    for (const link of trunk.links()) sendPresence(link.id)
  }
  // Frames: route per batch, one sendFrames per neighbour of the fan-out; a blocked
  // relay-relay link neither sends nor takes frames (Forwarder, @peertap/relay).
  const forwarder = new Forwarder({ table, links: trunk, forwards: (id) => rules.forwards(id) })
  const dropsBefore: Record<string, number> = {}
  const onFrames = (frames: Frame[], link: Link): void => {
    if (trace) Object.assign(dropsBefore, table.counters.frameDrops)
    const bytesBefore = table.counters.bytesIn
    forwarder.forward(link.id, frames, now())
    scavenges.note(table.counters.bytesIn - bytesBefore)
    if (trace) {
      const drops: Record<string, number> = {}
      for (const [reason, n] of Object.entries(table.counters.frameDrops)) {
        const d = n - (dropsBefore[reason] ?? 0)
        if (d > 0) drops[reason] = d
      }
      const batch = forwarder.batch
      const to = batch.outputs.slice(0, batch.length).map((o) => `${o.neighbour}:${o.count}`)
      log.trace({ from: link.id, frames: frames.length, to, drops }, 'route')
    }
  }

  trunk.setReceiver({
    onFrames,
    onSubscription: (sub, unsubscribe, link) => rules.onSubscription(sub, unsubscribe, link, now()),
    onControl: (control, link) => {
      if (control.channel === CONTROL_SPANNING_TREE && tree !== undefined) {
        rules.onTreeMessage(link.id, control.payload, now())
        return
      }
      if (control.channel === CONTROL_FABRIC_EPOCH) {
        onEpoch(link, control.payload)
        return
      }
      if (control.channel === CONTROL_PRESENCE) {
        // Only a configured relay's batch is read (its records verified); anyone else's is counted and dropped.
        presence.offer(
          isRelay(link.id) && link.hello.remoteRole === 'relay',
          control.payload,
          now(),
        )
        return
      }
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
    // A configured relay hears the statements held (it drops those it has) and the presence.
    if (isRelay(link.id)) for (const held of epochs.current()) sendEpoch(link.id, held.bytes)
    sendPresence(link.id)
  })
  trunk.addEventListener('link:down', (event) => {
    const { link, reason } = event.detail
    log.info({ peer: link.id, reason }, 'link down')
    rules.linkDown(link.id, now())
    peerIdBytes.delete(link.id)
    refusals.forget(link.id)
    tickets.forget(link.id)
    epochs.forget(link.id)
    epochRefusals.forget(link.id)
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

  refreshPresence()
  const tick = setInterval(() => {
    rules.expire(now())
    tickets.expire(now())
    presence.expire(now())
  }, TICK_MS)
  const presenceTick = setInterval(refreshPresence, PRESENCE_TICK_MS)
  const treeTick =
    tree === undefined ? undefined : setInterval(() => rules.treeTick(now()), TREE_TICK_MS)

  const parts: RelayParts = {
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
    fabricCounters,
    presence,
    presenceCounters,
  }
  const status = () => relayStatus(parts, now())
  const token = randomBytes(24).toString('hex')
  const server = await startStatusServer(config.status.port, token, {
    title: 'PeerTap relay',
    status,
    metrics: () => relayMetrics(status()),
    ping: async (peer) => {
      const link = trunk.getLink(peer)
      if (link === undefined) throw new Error(`no link to ${peer}`)
      const result = await link.ping({ timeoutMs: 5000 })
      return { rttMs: result.rttMs, hops: result.hops.map((h) => Buffer.from(h).toString('hex')) }
    },
    // `peertap-relay fabric add|remove` wrote fabric-roots.json: take its roots now.
    actions: { 'fabric/reload': reloadRoots },
  })
  const controlPath = join(config.stateDir, CONTROL_FILE)
  await writeStateFile(controlPath, JSON.stringify({ pid: process.pid, port: server.port, token }))
  log.info({ port: server.port }, 'status API on 127.0.0.1')

  return {
    peerId,
    async stop() {
      dialling.stop()
      clearInterval(tick)
      clearInterval(presenceTick)
      if (treeTick !== undefined) clearInterval(treeTick)
      server.server.close()
      await rm(controlPath, { force: true })
      await trunk.stop()
      await storing
    },
  }
}

/**
 * The addresses the relay's presence names: what the trunk listens on or
 * announces, circuit addresses left out, and loopback ones too unless they
 * are all it has.
 */
function ownAddresses(trunk: Trunk): string[] {
  const all = trunk
    .getMultiaddrs()
    .map(String)
    .filter((a) => !a.includes('/p2p-circuit'))
  const reachable = all.filter(
    (a) =>
      !/^\/ip4\/127\./.test(a) && !a.startsWith('/ip6/::1/') && !a.startsWith('/dns4/localhost/'),
  )
  return reachable.length > 0 ? reachable : all
}
