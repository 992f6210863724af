/**
 * The `peertap-relay up` daemon: wiring and lifecycle around the forwarding
 * table (@peertap/relay) and the trunk (@peertap/trunk), role 'relay' in
 * HELLO. No TAP device, no switch, no MLS: a relay holds no VLAN key and
 * forwards by VFT alone (docs/spec/09-forwarding.md, 12-relay.md).
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
 *
 * A one-second tick expires subscriptions in the table and in the
 * propagation state (sending the UNSUBs that follow); a 100 ms tick lets
 * the tree's neighbour vectors lapse and sends its hellos.
 */
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  decodeMembershipProof,
  type MembershipProofRejection,
  ProofVerifier,
} from '@peertap/crypto'
import {
  aesPrimitives,
  CONTROL_FILE,
  datagramOption,
  datagramSocketFactory,
  keepNeighboursDialled,
  type MetricsSection,
  metricsText,
  RefusalLog,
  ScavengePacer,
  startStatusServer,
  writeStateFile,
} from '@peertap/daemon'
import {
  admitSubscription,
  CAP_SPANNING_TREE,
  DEFAULT_TREE_LINK_COST,
  ForwardingTable,
  type Frame,
  type NeighbourLimits,
  originBudget,
  type PropagatedMessage,
  Propagation,
  RouteBatch,
  SpanningTree,
  type SubscribeResult,
  type SubscriptionEntry,
  TokenBucket,
  type TreeChange,
} from '@peertap/relay'
import {
  CONTROL_SPANNING_TREE,
  createTrunk,
  type Link,
  type Subscription,
  type Trunk,
} from '@peertap/trunk'
import type { Logger } from 'pino'
import type { PeerLimitsConfig, RelayConfig } from './config.ts'

const TICK_MS = 1000
const TREE_TICK_MS = 100
const REDIAL_MS = 2000

export interface RunningRelay {
  readonly peerId: string
  stop(): Promise<void>
}

/** Relay-level counters, besides the table's, the trunk's and each link's. */
export interface RelayCounters {
  subsReceived: number
  unsubsReceived: number
  /** SUB entries accepted into the table (new or renewed). */
  subEntriesAccepted: number
  /** SUB entries refused (the table's subscriptionDrops say why). */
  subEntriesRefused: number
  /** Why membership proofs were refused (spec 07 §4). */
  proofRejections: Record<MembershipProofRejection, number>
  /** Propagated SUB and UNSUB messages sent, and their entries. */
  subsPropagated: number
  unsubsPropagated: number
  entriesPropagated: number
  /** Propagated messages the link refused (control queue full or link down). */
  propagationDropped: number
  /** Fabric credentials (proofs under a configured MVLAN key) that admitted a peer. */
  credentialsAccepted: number
  /** Fabric credentials refused: invalid, or over the peer's proof-check rate. */
  credentialsRefused: number
  /** Admissions by credential that ended (credential expired, or the peer left). */
  credentialsEnded: number
  /** Frames received on a relay-relay link that is not in the spanning tree, dropped. */
  framesBlocked: number
  /** Copies the table routed to a link that is not in the tree, not sent (0 unless a race). */
  copiesBlocked: number
  /** SUBs and UNSUBs received on a link that is not in the tree, ignored. */
  subsBlocked: number
  /** Tree messages the link refused (control queue full or link down). */
  treeSendDropped: number
}

/** Limits as the table takes them: omitted rates unlimited, omitted bursts one second of the rate. */
function tableLimits(limits: PeerLimitsConfig): Partial<NeighbourLimits> {
  const out: Partial<NeighbourLimits> = {}
  if (limits.maxSubscriptions !== undefined) out.maxSubscriptions = limits.maxSubscriptions
  const rate = (
    perSecond: number | undefined,
    burst: number | undefined,
    rateKey:
      | 'framesPerSecond'
      | 'bytesPerSecond'
      | 'proofChecksPerSecond'
      | 'subscriptionEntriesPerSecond',
    burstKey: 'frameBurst' | 'byteBurst' | 'proofCheckBurst' | 'subscriptionEntryBurst',
  ) => {
    if (perSecond === undefined) return
    out[rateKey] = perSecond
    out[burstKey] = burst ?? perSecond
  }
  rate(limits.framesPerSecond, limits.frameBurst, 'framesPerSecond', 'frameBurst')
  rate(limits.bytesPerSecond, limits.byteBurst, 'bytesPerSecond', 'byteBurst')
  rate(
    limits.proofChecksPerSecond,
    limits.proofCheckBurst,
    'proofChecksPerSecond',
    'proofCheckBurst',
  )
  rate(
    limits.subscriptionEntriesPerSecond,
    limits.subscriptionEntryBurst,
    'subscriptionEntriesPerSecond',
    'subscriptionEntryBurst',
  )
  return out
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
  // Circuit relay v2 (spec 12 §8): only for peers the relay admits anyway.
  const circuitCounters = { refusals: 0 }
  let admits: (id: string) => boolean = () => false
  const trunk: Trunk = await createTrunk({
    stateDir: config.stateDir,
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
            admits: (id: string) => {
              const ok = admits(id)
              if (!ok) circuitCounters.refusals++
              return ok
            },
            maxReservations: config.circuit.maxReservations,
            reservationTtlMs: config.circuit.reservationSeconds * 1000,
            durationLimitMs: config.circuit.durationSeconds * 1000,
            dataLimitBytes: config.circuit.dataBytes,
          },
        }
      : {}),
  })
  const peerId = trunk.peerId.toString()
  const defaults = tableLimits(limits)
  const table = new ForwardingTable({
    requireProofs: admission.requireProofs,
    // Closed unless the config says open (docs/spec/14-roles.md §14.3).
    admitByDefault: admission.open,
    limits: defaults,
    ...(limits.maxTableSubscriptions === undefined
      ? {}
      : { maxSubscriptions: limits.maxTableSubscriptions }),
    ...(limits.maxNeighbours === undefined ? {} : { maxNeighbours: limits.maxNeighbours }),
    ...(limits.maxSealedLength === undefined ? {} : { maxSealedLength: limits.maxSealedLength }),
    ...(limits.maxTtlSeconds === undefined ? {} : { maxTtlSeconds: limits.maxTtlSeconds }),
    // What many identities together may make the relay verify (spec 09 §9.7).
    ...(limits.proofCheckBudgetPerSecond === 0
      ? {}
      : {
          proofCheckBudget: {
            perSecond: limits.proofCheckBudgetPerSecond,
            burst: limits.proofCheckBudgetPerSecond,
          },
        }),
  })
  for (const id of [...admission.allow, ...admission.relays]) table.setAccess(id, 'allow')
  for (const id of admission.deny) table.setAccess(id, 'deny')
  // Configured relays pass on their side's SUBs: no entry rate unless their peerLimits set one.
  const unlimitedEntries = {
    subscriptionEntriesPerSecond: Number.POSITIVE_INFINITY,
    subscriptionEntryBurst: Number.POSITIVE_INFINITY,
  }
  for (const id of admission.relays) {
    table.setLimits(id, { ...unlimitedEntries, ...tableLimits(config.peerLimits[id] ?? {}) })
  }
  for (const [id, peerLimits] of Object.entries(config.peerLimits)) {
    if (admission.relays.includes(id)) continue
    table.setLimits(id, tableLimits(peerLimits))
  }
  // A SUB with its proof goes only to neighbours that proved the same key, and to the
  // relays the config names (spec 12 §12.3; 14-roles.md §14.3).
  // Refused SUB entries: counted always, logged once per peer per minute (14-roles.md §14.4).
  const refusals = new RefusalLog(log, 'subscription entries refused')
  // Verified proofs, remembered: a renewal is not verified again (spec 07 §4, 09 §3).
  const verifier = new ProofVerifier()
  const propagation = new Propagation({
    relays: (id) =>
      admission.relays.includes(id) && trunk.getLink(id)?.hello.remoteRole === 'relay',
    // What one origin may make the relay hold for propagation: its table
    // limit (spec 12 §12.3.1); configured relays carry many origins' SUBs.
    budget: (id) =>
      trustedRelays.has(id)
        ? { subscriptions: Number.POSITIVE_INFINITY, proofBytes: Number.POSITIVE_INFINITY }
        : originBudget(table.limitsOf(id).maxSubscriptions),
  })
  const routeBatch = new RouteBatch()
  const counters: RelayCounters = {
    subsReceived: 0,
    unsubsReceived: 0,
    subEntriesAccepted: 0,
    subEntriesRefused: 0,
    proofRejections: {
      malformed: 0,
      'wrong-peer': 0,
      'wrong-window': 0,
      'bad-expiry': 0,
      expired: 0,
      'bad-key': 0,
      'bad-signature': 0,
    },
    subsPropagated: 0,
    unsubsPropagated: 0,
    entriesPropagated: 0,
    propagationDropped: 0,
    credentialsAccepted: 0,
    credentialsRefused: 0,
    credentialsEnded: 0,
    framesBlocked: 0,
    copiesBlocked: 0,
    subsBlocked: 0,
    treeSendDropped: 0,
  }
  const fabricKeys = new Set(admission.fabricKeys.map((k) => k.toLowerCase()))
  const trustedRelays = new Set(admission.relays)
  const configAllowed = new Set([...admission.allow, ...admission.relays])
  /** Peers admitted by a fabric credential, until the credential's expiry. */
  const credentialed = new Map<string, number>()
  const credentialChecks = new Map<string, TokenBucket>()

  /** Whether the table admits this peer (allow list, deny list): only those hear propagated SUBs. */
  const admitted = (id: string): boolean => {
    const access = table.access(id)
    return access === 'allow' || (access === 'default' && admission.open)
  }
  admits = admitted
  const circuitStatus = () => {
    const server = (trunk.libp2p.services as { circuitRelay?: { reservations: { size: number } } })
      .circuitRelay
    return {
      enabled: config.circuit.enabled,
      reservations: server?.reservations.size ?? 0,
      maxReservations: config.circuit.maxReservations,
      durationSeconds: config.circuit.durationSeconds,
      dataBytes: config.circuit.dataBytes,
      refusals: circuitCounters.refusals,
    }
  }
  /**
   * The spanning tree over relay identities (spec 12 §7). Its neighbours are
   * the relay-relay links: HELLO role relay, the tree capability, and listed
   * in admission.relays (trusted to pass subscriptions on); any other link
   * is an edge link, which always forwards.
   */
  const tree = config.tree.enabled
    ? new SpanningTree({
        self: peerId,
        helloSeconds: config.tree.helloSeconds,
        holdSeconds: config.tree.holdSeconds,
      })
    : undefined
  const inTree = (link: Link): boolean =>
    link.hello.remoteRole === 'relay' &&
    (link.hello.remoteCapabilities & CAP_SPANNING_TREE) !== 0 &&
    trustedRelays.has(link.id)
  const forwards = (id: string): boolean => tree === undefined || tree.forwards(id)
  /**
   * Neighbours that hear propagated SUBs: admitted, and not a blocked
   * relay-relay link. One Set while they stay the same (Propagation derives
   * what it needs from it once), made again after anything that changes
   * them: a link up or down, an admission by credential begun or ended, a
   * change of the tree.
   */
  let neighbourSet: ReadonlySet<string> | undefined
  const neighboursChanged = (): void => {
    neighbourSet = undefined
  }
  const admittedNeighbours = (): ReadonlySet<string> => {
    neighbourSet ??= new Set(
      trunk
        .links()
        .map((l) => l.id)
        .filter((id) => admitted(id) && forwards(id)),
    )
    return neighbourSet
  }
  const send = (messages: PropagatedMessage[]): void => {
    for (const m of messages) {
      const link = trunk.getLink(m.neighbour)
      const sub: Subscription =
        m.proof === undefined
          ? { ttl: m.ttl, entries: m.entries }
          : { ttl: m.ttl, entries: m.entries, proof: m.proof }
      if (link === undefined || !link.sendSubscription(sub, m.unsubscribe)) {
        counters.propagationDropped++
        continue
      }
      if (m.unsubscribe) counters.unsubsPropagated++
      else counters.subsPropagated++
      counters.entriesPropagated += m.entries.length
      if (trace)
        log.trace(
          {
            to: m.neighbour,
            unsub: m.unsubscribe,
            entries: m.entries.length,
            proof: m.proof !== undefined,
          },
          'propagate',
        )
    }
  }

  // Frames: route per batch, one sendFrames per neighbour of the fan-out.
  const dropsBefore: Record<string, number> = {}
  const onFrames = (frames: Frame[], link: Link): void => {
    if (!forwards(link.id)) {
      // A blocked relay-relay link: the other end sends here only while the
      // two ends still disagree (spec 12 §7.4).
      counters.framesBlocked += frames.length
      return
    }
    if (trace) Object.assign(dropsBefore, table.counters.frameDrops)
    const bytesBefore = table.counters.bytesIn
    table.route(link.id, frames, now(), routeBatch)
    scavenges.note(table.counters.bytesIn - bytesBefore)
    for (let o = 0; o < routeBatch.length; o++) {
      const output = routeBatch.outputs[o]!
      const out = trunk.getLink(output.neighbour)
      if (out === undefined) continue
      if (!forwards(output.neighbour)) {
        counters.copiesBlocked += output.count
        continue
      }
      const list: Frame[] = new Array(output.count)
      for (let i = 0; i < output.count; i++) list[i] = frames[output.frames[i]!]!
      out.sendFrames(list)
    }
    if (trace) {
      const drops: Record<string, number> = {}
      for (const [reason, n] of Object.entries(table.counters.frameDrops)) {
        const d = n - (dropsBefore[reason] ?? 0)
        if (d > 0) drops[reason] = d
      }
      log.trace(
        {
          from: link.id,
          frames: frames.length,
          to: routeBatch.outputs
            .slice(0, routeBatch.length)
            .map((o) => `${o.neighbour}:${o.count}`),
          drops,
        },
        'route',
      )
    }
  }

  // Subscriptions: admission, then propagation of what the table accepted.
  const peerIdBytes = new Map<string, Uint8Array>()
  const bytesOf = (id: string): Uint8Array => {
    let bytes = peerIdBytes.get(id)
    if (bytes === undefined) {
      bytes = peerIdFromString(id).toMultihash().bytes
      peerIdBytes.set(id, bytes)
    }
    return bytes
  }
  /** The entries of a SUB that the table now holds for `from` (under `key` if given). */
  const acceptedEntries = (
    from: string,
    entries: readonly SubscriptionEntry[],
    result: SubscribeResult,
    t: number,
    key: Uint8Array | undefined,
  ): SubscriptionEntry[] => {
    if (result.rejected === 0) return [...entries]
    return entries.filter((e) =>
      table
        .lookup(e.vft, t)
        .some(
          (s) =>
            s.neighbour === from &&
            s.flags === e.flags &&
            (key === undefined || (s.provingKey !== undefined && equal(s.provingKey, key))),
        ),
    )
  }
  /** Ends an admission by credential: the table then drops the peer's state unless it is admitted otherwise. */
  const endCredential = (id: string): void => {
    if (!credentialed.delete(id)) return
    counters.credentialsEnded++
    if (!configAllowed.has(id) && table.access(id) === 'allow') table.setAccess(id, 'default')
    neighboursChanged()
    // No longer admitted: what it subscribed to is withdrawn from the others now, not at expiry.
    if (!admitted(id)) send(propagation.removeNeighbour(id, admittedNeighbours(), now()))
    log.info({ peer: id }, 'admission by fabric credential ended')
  }
  /**
   * A SUB whose proof is under a fabric key is the peer's fabric credential
   * (12-relay.md §12.4): checked at the peer's proof-check rate,
   * then verified for the peer itself (never for a proof a relay passes on),
   * it admits the peer until the proof's expiry.
   */
  const checkCredential = (sub: Subscription, link: Link, t: number): void => {
    if (fabricKeys.size === 0 || sub.proof === undefined || link.hello.remoteRole === 'relay')
      return
    if (table.access(link.id) === 'deny') return
    const decoded = decodeMembershipProof(sub.proof)
    if (!decoded.ok || !fabricKeys.has(Buffer.from(decoded.proof.publicKey).toString('hex'))) return
    let bucket = credentialChecks.get(link.id)
    if (bucket === undefined) {
      const rate = limits.proofChecksPerSecond ?? Number.POSITIVE_INFINITY
      bucket = new TokenBucket(rate, limits.proofCheckBurst ?? rate, t)
      credentialChecks.set(link.id, bucket)
    }
    // A renewal under a credential verified before costs no token and no signature.
    const verdict = verifier.verify({
      proof: sub.proof,
      peerId: bytesOf(link.id),
      now: Math.floor(t),
      beforeSignature: () => {
        bucket.refill(t)
        return bucket.take(1)
      },
    })
    if (!verdict.ok) {
      counters.credentialsRefused++
      log.debug({ peer: link.id, reason: verdict.reason }, 'fabric credential refused')
      return
    }
    const wasAdmitted = admitted(link.id)
    credentialed.set(link.id, Math.max(credentialed.get(link.id) ?? 0, verdict.proof.expiry))
    if (table.access(link.id) === 'default') table.setAccess(link.id, 'allow')
    neighboursChanged()
    counters.credentialsAccepted++
    if (!wasAdmitted) {
      log.info({ peer: link.id, until: verdict.proof.expiry }, 'admitted by fabric credential')
      trunk.protocol.startDatagram(link.id)
      send(propagation.snapshotFor(link.id, t))
    }
  }
  const onSubscription = (sub: Subscription, unsubscribe: boolean, link: Link): void => {
    const t = now()
    if (!forwards(link.id)) {
      counters.subsBlocked++
      return
    }
    if (!unsubscribe) checkCredential(sub, link, t)
    if (unsubscribe) {
      counters.unsubsReceived++
      table.unsubscribe(link.id, sub.entries)
      send(propagation.forget(link.id, sub.entries, admittedNeighbours(), t))
      return
    }
    counters.subsReceived++
    let result: SubscribeResult
    let key: Uint8Array | undefined
    let expiresAt = t + Math.min(sub.ttl, table.maxTtlSeconds)
    if (sub.proof !== undefined) {
      // From a configured neighbour relay the proof speaks for the original
      // subscriber, named in it; from anyone else (whatever role its HELLO
      // claims), for the peer at the other end of the link, so nobody can
      // replay a member's proof by calling itself a relay.
      const decoded = decodeMembershipProof(sub.proof)
      const passedOn = link.hello.remoteRole === 'relay' && trustedRelays.has(link.id) && decoded.ok
      const subscriber = passedOn ? decoded.proof.peerId : bytesOf(link.id)
      const admitted = admitSubscription(table, {
        neighbour: link.id,
        peerId: subscriber,
        entries: sub.entries,
        ttlSeconds: sub.ttl,
        now: t,
        proof: sub.proof,
        verifier,
      })
      if (admitted.proofRejection !== undefined) counters.proofRejections[admitted.proofRejection]++
      result = admitted
      if (decoded.ok) {
        key = decoded.proof.publicKey
        expiresAt = Math.min(expiresAt, decoded.proof.expiry)
      }
    } else {
      result = table.subscribe(link.id, sub.entries, sub.ttl, t)
    }
    counters.subEntriesAccepted += result.added + result.refreshed
    counters.subEntriesRefused += result.rejected
    if (result.rejected > 0) refusals.note(link.id, result.reason ?? 'refused', result.rejected)
    if (result.added + result.refreshed === 0) return
    const accepted = acceptedEntries(link.id, sub.entries, result, t, key)
    const verified =
      sub.proof !== undefined && key !== undefined
        ? { proof: sub.proof, provingKey: key }
        : undefined
    send(propagation.learn(link.id, accepted, verified, expiresAt, admittedNeighbours(), t))
  }

  // The tree: its messages go out before anything that follows from a
  // change, so a neighbour learns that a link joined the tree before the
  // SUBs that cross it arrive (one ordered control queue per link). The
  // tree says which neighbours get this relay's snapshot after its message
  // (a link that entered, or a neighbour that took one in and asked, §7.4).
  const applyTree = (change: TreeChange, t: number): void => {
    if (tree === undefined) return
    // Links enter or leave the tree only with a change: only then may `forwards` differ.
    if (change.entered.length > 0 || change.left.length > 0) neighboursChanged()
    const snapshots: string[] = []
    for (const o of tree.outgoing(t)) {
      const link = trunk.getLink(o.neighbour)
      if (
        link === undefined ||
        !link.sendControl({ channel: CONTROL_SPANNING_TREE, payload: o.payload })
      ) {
        // Not sent: the tree sends it again later, with its sync request;
        // no snapshot before it, which the neighbour might drop.
        counters.treeSendDropped++
        tree.unsent(o)
        continue
      }
      if (o.snapshot) snapshots.push(o.neighbour)
    }
    // Links that left first: what came over them is withdrawn before the
    // snapshots go out.
    for (const id of change.left) {
      table.removeNeighbour(id)
      send(propagation.removeNeighbour(id, admittedNeighbours(), t))
    }
    for (const id of snapshots) if (admitted(id)) send(propagation.snapshotFor(id, t))
    if (change.left.length === 0 && change.entered.length === 0) return
    log.info(
      {
        entered: change.entered,
        left: change.left,
        root: tree?.root,
        cost: tree?.cost,
        parent: tree?.parent ?? null,
      },
      'spanning tree changed',
    )
  }

  trunk.setReceiver({
    onFrames,
    onSubscription,
    onControl: (control, link) => {
      if (control.channel === CONTROL_SPANNING_TREE && tree !== undefined) {
        const t = now()
        applyTree(tree.receive(link.id, control.payload, t), t)
        return
      }
      // CONTROL is point to point and never forwarded (spec 08 §4.6).
      log.debug({ peer: link.id, channel: control.channel }, 'control message ignored')
    },
  })
  trunk.addEventListener('link:up', (event) => {
    const link = event.detail
    neighboursChanged()
    const access = table.access(link.id)
    log.info(
      {
        peer: link.id,
        role: link.hello.remoteRole,
        kind: link.kind,
        access,
        admitted: admitted(link.id),
        skewMs: link.hello.clockSkewMs,
      },
      'link up',
    )
    if (link.hello.skewWarning)
      log.warn({ peer: link.id, skewMs: link.hello.clockSkewMs }, 'clock skew over 60 s')
    if (tree !== undefined && inTree(link)) {
      // A relay-relay link starts blocked; it gets the snapshot when it joins the tree.
      const t = now()
      let change: TreeChange | undefined
      try {
        change = tree.addNeighbour(link.id, config.tree.costs[link.id] ?? DEFAULT_TREE_LINK_COST, t)
      } catch (error) {
        // Only an id the tree cannot carry (not base58btc text): an edge link then.
        log.warn({ peer: link.id, err: String(error) }, 'relay link left out of the spanning tree')
      }
      if (change !== undefined) {
        applyTree(change, t)
        return
      }
    }
    if (admitted(link.id)) send(propagation.snapshotFor(link.id, now()))
  })
  trunk.addEventListener('link:down', (event) => {
    const { link, reason } = event.detail
    neighboursChanged()
    log.info({ peer: link.id, reason }, 'link down')
    table.removeNeighbour(link.id)
    peerIdBytes.delete(link.id)
    credentialChecks.delete(link.id)
    refusals.forget(link.id)
    endCredential(link.id)
    send(propagation.removeNeighbour(link.id, admittedNeighbours(), now()))
    if (tree?.has(link.id)) {
      const t = now()
      applyTree(tree.removeNeighbour(link.id, t), t)
    }
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

  const tick = setInterval(() => {
    const t = now()
    for (const [id, until] of credentialed) if (until <= t) endCredential(id)
    table.expire(t)
    send(propagation.expire(admittedNeighbours(), t))
  }, TICK_MS)
  const treeTick =
    tree === undefined
      ? undefined
      : setInterval(() => {
          const t = now()
          applyTree(tree.tick(t), t)
        }, TREE_TICK_MS)

  const status = () => ({
    peerId,
    role: 'relay',
    listen: trunk.getMultiaddrs().map(String),
    admission: {
      requireProofs: admission.requireProofs,
      open: admission.open,
      allow: admission.allow,
      deny: admission.deny,
      relays: admission.relays,
      fabricKeys: [...fabricKeys],
    },
    limits: {
      ...defaults,
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
      admitted: admitted(link.id),
      tree: tree?.role(link.id) ?? 'edge',
      credentialUntil: credentialed.get(link.id) ?? null,
      mtu: link.mtu,
      clockSkewMs: link.hello.clockSkewMs,
      table: table.neighbourStats(link.id) ?? null,
      propagation: propagation.originStats(link.id) ?? null,
      counters: link.counters,
    })),
    subscriptions: {
      table: table.subscriptionCount,
      vfts: table.vftCount,
      neighbours: table.neighbourCount,
      propagated: propagation.size,
      propagationOrigins: propagation.origins,
      propagationOverBudget: propagation.counters.overBudget,
    },
    relay: counters,
    proofVerifier: { ...verifier.counters, size: verifier.size },
    refusals: refusals.counters,
    tree: tree === undefined ? null : tree.status(now()),
    circuit: circuitStatus(),
    table: table.counters,
    trunk: trunk.protocol.counters,
    scavenges: scavenges.counters,
  })
  const metrics = () => {
    const s = status()
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
  const token = randomBytes(24).toString('hex')
  const server = await startStatusServer(config.status.port, token, {
    title: 'PeerTap relay',
    status,
    metrics,
    ping: async (peer) => {
      const link = trunk.getLink(peer)
      if (link === undefined) throw new Error(`no link to ${peer}`)
      const result = await link.ping({ timeoutMs: 5000 })
      return { rttMs: result.rttMs, hops: result.hops.map((h) => Buffer.from(h).toString('hex')) }
    },
  })
  const controlPath = join(config.stateDir, CONTROL_FILE)
  await writeStateFile(controlPath, JSON.stringify({ pid: process.pid, port: server.port, token }))
  log.info({ port: server.port }, 'status API on 127.0.0.1')

  return {
    peerId,
    async stop() {
      dialling.stop()
      clearInterval(tick)
      if (treeTick !== undefined) clearInterval(treeTick)
      server.server.close()
      await rm(controlPath, { force: true })
      await trunk.stop()
    },
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
