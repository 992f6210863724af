/**
 * The `peertap up` daemon: wiring and lifecycle, no protocol logic. The
 * data path it wires, in order:
 *
 *   TAP read batch -> switch.fromPort (learn, VFT, fit to the datagram
 *     paths up: fragments or TCP segments, seal)
 *     -> Forwarder (table.route(LOCAL), link.sendFrames per neighbour)
 *   link frames batch -> frames under VFTs this node holds: switch.receive
 *     (VFT lookup, replay check, open, reassembly) -> TAP write batch;
 *     with other neighbours: Forwarder (table.route(neighbour)) -> forwarded
 *
 * Whom it deals with (docs/spec/14-roles.md §14.2): the peers its config
 * names (`peers`, and the owners, admins and members of its MLS VLANs) and
 * peers that proved membership of one of its VLAN epochs in a SUB
 * (NeighbourAdmission, @peertap/relay). It sends a stranger nothing, drops
 * what a stranger sends but its proofs (and key packages, for an MLS
 * owner), and trusts the relay role only of relays its config names.
 *
 * Local delivery is not forwarding (docs/spec/09-forwarding.md §5): a frame
 * under a VFT this node holds is opened whatever its hop limit, and the
 * table holds only neighbours' subscriptions. Control: the switch's
 * subscription changes go out to every neighbour as SUB/UNSUB; neighbours'
 * SUBs go into the table under their PeerId (SubscriptionAnnouncer,
 * @peertap/relay, the rules for relayed links and proven peers included).
 * A 250 ms tick refreshes subscriptions (learning, aging, window turns),
 * the device multicast lists and TTLs.
 *
 * This file builds the parts and runs their lifecycle; the wiring of each
 * seam is beside it: the TAP and TUN ports (ports.ts), what the links bring
 * in (receivers.ts), the MLS VLANs (mls-vlans.ts), the status snapshot
 * (status.ts; the daemon serves it, an embedded node calls it, embed.ts).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { aesBackend, nodeAes, nodeBackend, ProofVerifier } from '@peertap/crypto'
import { aesPrimitives, Dialler, RefusalLog, ScavengePacer } from '@peertap/daemon'
import {
  DirectPaths,
  Forwarder,
  ForwardingTable,
  type Frame,
  NeighbourAdmission,
  NodeNeighbours,
  SubscriptionAnnouncer,
  SubscriptionProofs,
} from '@peertap/relay'
import { Switch } from '@peertap/switch'
import { loadOrCreateIdentity } from '@peertap/trunk'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { Fabric } from './fabric.ts'
import { startNodeFastPath } from './fast-path.ts'
import { Invitations } from './invitations.ts'
import { MlsVlans } from './mls-vlans.ts'
import { createNodeTrunk, namedPeers, peerOfAddress } from './node-trunk.ts'
import type { PortSources } from './packet-device.ts'
import { maxSealed, Ports } from './ports.ts'
import { receiveFromLinks } from './receivers.ts'
import { type NodeParts, type NodeStatus, nodeStatus } from './status.ts'
import type { TunPortHost } from './tun-port.ts'
import { VlanStore } from './vlan-store.ts'
import { Vlans } from './vlans.ts'

/** The table's name for this node as the source of its own frames: not a PeerId (base58 has no '@'). */
export const LOCAL = '@local'
/** How often at most we renew our SUBs at neighbours (a third of their TTL, config subscriptionTtlSeconds). */
const SUB_RENEW_MAX_MS = 60_000
const TICK_MS = 250
const REDIAL_MS = 2_000
/** Verified proofs remembered (members' proofs relays pass on, renewed every minute). */
const PROOF_CACHE_SIZE = 4096

export interface RunningNode {
  readonly peerId: string
  /** The status snapshot, as `peertap status` shows it. */
  status(): NodeStatus
  /** Packets a shell read from its tunnel, for the VLAN's callback port (packet-device.ts). */
  input(vlan: string, packets: readonly Uint8Array[]): void
  stop(): Promise<void>
}

/** How a node is started beyond its config. */
export interface StartOptions {
  /**
   * Serves the status and control API (the daemon's: HTTP on loopback and
   * a Unix socket, apps/node); absent, the node serves nothing, and its
   * status is an in-process call (an embedded node, embed.ts).
   */
  readonly serve?: (
    config: Config,
    log: Logger,
    parts: NodeParts,
  ) => Promise<{ close(): Promise<void> }>
  /** Where TUN ports get their packets instead of a device they open by name (packet-device.ts). */
  readonly sources?: PortSources
  /** With `sources`: addresses tun-l2 checked or gave up, for the shell to apply (tun-port.ts). */
  readonly onAddress?: TunPortHost['onAddress']
}

export async function startNode(
  config: Config,
  log: Logger,
  options: StartOptions = {},
): Promise<RunningNode> {
  const now = () => Date.now() / 1000
  // Frees the Buffers of the frames carried with cheap young-generation
  // collections, before V8 answers their memory with full ones (packages/daemon/README.md, "Scavenges").
  const scavenges = new ScavengePacer()
  if (!scavenges.available)
    log.warn('V8 gc function not available: no paced scavenges, full collections will cost CPU')
  const trace = log.isLevelEnabled('trace')
  const aes = aesPrimitives(config.aes, log)
  const { dialled, configuredPeers } = namedPeers(config)
  // The fast path (fast-path.ts): its host's parts are made below, and used only once frames flow.
  const fast = startNodeFastPath(config, log, trace, {
    sw: () => sw,
    table: () => table,
    getLink: (id) => trunk.getLink(id),
    now,
  })
  const trunk = await createNodeTrunk(
    config,
    log,
    aes,
    {
      // The relay role counts only for relays we dial (spec 13 §4.1: reflexive addresses).
      trustedRelays: (id) => dialled.has(id),
      // Our UDP port and addresses only for peers we deal with; one admitted later gets them when greeted.
      datagramFor: (id) => admission.admits(id, now()),
    },
    fast,
  )
  const peerId = trunk.peerId.toString()
  // Strangers have no place in the table: only LOCAL and the peers we deal with (admitted when greeted).
  const table = new ForwardingTable({ admitByDefault: false })
  table.setAccess(LOCAL, 'allow')
  const direct = new DirectPaths(trunk, table)
  // The forward loop (a punched path to a neighbour behind a relay takes its frames, once), and
  // whether a neighbour receives a VFT, asked once per unicast frame (Forwarder, @peertap/relay).
  const forwarder = new Forwarder({ table, links: trunk, select: direct.select.bind(direct) })
  // A route that may have changed (not a plain SUB renewal): the fast path's flows go.
  if (fast !== undefined) table.onChange = () => fast.clear()
  const hasRemoteSubscriber = (vft: Uint8Array): boolean =>
    forwarder.knownReceiver(vft) ?? forwarder.hasReceiver(vft, now())

  let mls: MlsVlans | undefined
  // The fabric (fabric.ts): opened once the VLANs are; its members count as configured peers.
  let fabric: Fabric | undefined
  const sw = new Switch({
    backend: aes === nodeAes ? nodeBackend : aesBackend(aes),
    hasRemoteSubscriber,
    largeGso: config.datagram.largeGso,
    ...(fast === undefined
      ? {}
      : { cells: fast.cells, onOpened: fast.onOpened, onKeysChange: () => fast.clear() }),
    onControl: (vlan, body) => {
      if (mls?.isMls(vlan)) mls.onVlanControl(vlan, body)
      else log.debug({ vlan, bytes: body.length }, 'control plaintext (no handler)')
    },
  })

  const verifier = new ProofVerifier({ cacheSize: PROOF_CACHE_SIZE })
  // Each SUB carries the membership proof of its VLAN epoch and window, signed
  // with the epoch's authSeed, so relays that require proofs admit it
  // (spec 07; 12-relay.md §2). UNSUBs need none. The seed is the VFT's own
  // epoch's, so proofs follow MLS epoch changes.
  const proofs = new SubscriptionProofs({
    peerId: trunk.peerId.toMultihash().bytes,
    describe: (vft) => {
      const sub = sw.subscriptionOf(vft)
      return sub === undefined ? undefined : { authSeed: sub.epoch.authSeed, window: sub.window }
    },
    authSeeds: () => sw.authSeeds(),
    holds: (vft) => sw.holds(vft),
    // A relay passes the same members' proofs on with every renewal: each verified once.
    verify: (params) => {
      const verdict = verifier.verify(params)
      if (verdict.ok) return { ok: true, proof: verdict.proof }
      // 'not-checked' comes only from a beforeSignature hook, which we do not pass.
      return {
        ok: false,
        reason: verdict.reason === 'not-checked' ? 'bad-signature' : verdict.reason,
      }
    },
  })
  // Whom we deal with (docs/spec/14-roles.md §14.2): configured peers, and
  // peers that proved membership of one of our VLAN epochs. `greeted` holds
  // the links we deal with and have sent our SUBs to.
  const admission = new NeighbourAdmission({
    configured: (id) =>
      configuredPeers.has(id) || (mls?.knows(id) ?? false) || (fabric?.knows(id) ?? false),
    proofs,
  })
  // Our subscriptions out (SUB under proofs, renewal, UNSUB, send declarations), neighbours'
  // in, and the relayed-link rules both ways (SubscriptionAnnouncer, @peertap/relay).
  const announcer = new SubscriptionAnnouncer({
    links: trunk,
    local: {
      holds: (vft) => sw.holds(vft),
      isUnicast: (vft) => sw.subscriptionOf(vft)?.groupVft === false,
    },
    proofs,
    admission,
    forwarder,
    direct,
    dialled: (id) => dialled.has(id),
    ttlSeconds: config.subscriptionTtlSeconds,
  })
  const greeted = announcer.greetedIds
  const refusals = new RefusalLog(log, 'refused a peer we do not deal with')
  const subscriptionRefusals = new RefusalLog(log, 'subscriptions refused')
  // Greets a peer the first time it is admitted (the table takes it, it gets our SUBs, MLS may
  // talk to it), asks a stranger again at most once a second, shuns a peer whose admission ended.
  const neighbours = new NodeNeighbours({
    admission,
    announcer,
    peerIdOf: (id) => peerIdFromString(id).toMultihash().bytes,
    events: {
      greeting: (link) => {
        refusals.forget(link.id)
        const by = admission.configured(link.id) ? 'config' : 'proof'
        log.info({ peer: link.id, by }, 'dealing with peer')
        trunk.protocol.startDatagram(link.id)
        // A relay takes our fabric's epoch statement before the SUBs that carry our credential.
        fabric?.greeting(link)
      },
      greeted: (link) => {
        mls?.onLinkUp(link)
        fabric?.greeted(link)
      },
    },
  })

  /** Routes a batch from `from` (a neighbour, or LOCAL for our own frames) to the neighbours' links. */
  const forward = (from: string, frames: Frame[]): void => {
    forwarder.forward(from, frames, now())
    if (!trace) return
    const batch = forwarder.batch
    const to = batch.outputs.slice(0, batch.length).map((o) => `${o.neighbour}:${o.count}`)
    log.trace({ from, frames: frames.length, to, dropped: batch.dropped }, 'route')
  }

  // MLS VLANs (mls-vlans.ts): their groups from the state dir, their keys into the switch.
  const key = await loadOrCreateIdentity(config.stateDir)
  const mlsVlans = await MlsVlans.open({
    host: {
      sw,
      log,
      // Only peers we deal with: MLS never talks to a stranger (a catch-up falls back to any
      // link). A member just removed is still greeted until the next tick, so the commit that
      // removes it reaches it.
      getLink: (peer) =>
        greeted.has(peer) || admission.admits(peer, now()) ? trunk.getLink(peer) : undefined,
      links: () => trunk.links().filter((l) => greeted.has(l.id)),
      sendInVlan: (vlan, body) => forward(LOCAL, [sw.sealControl(vlan, body, now())]),
      refresh: () => refresh(),
    },
    stateDir: config.stateDir,
    privateKey: key.raw,
    selfPeerId: peerId,
  })
  mls = mlsVlans

  // Ports: a TAP or TUN device per VLAN (ports.ts); their frames go on to the neighbours.
  const ports = new Ports({
    sw,
    log,
    fast,
    selfPeerId: peerId,
    sources: options.sources,
    onAddress: options.onAddress,
    trace,
    now,
    links: () => trunk.links(),
    sendLocal: (sealed) => {
      const bytesBefore = table.counters.bytesIn
      forward(LOCAL, sealed)
      scavenges.note(table.counters.bytesIn - bytesBefore)
    },
  })

  // Neighbours from the config, and each VLAN's (its owner's, for one joined by invitation):
  // dialled, and redialled while down.
  const dialler = new Dialler(trunk, log, REDIAL_MS)
  // Invitations (invitations.ts): the owner's codes and join door, the joiner's requests.
  const invitations = await Invitations.open({
    stateDir: config.stateDir,
    log,
    trunk,
    mls: mlsVlans,
    privateKey: key.raw,
    selfPeerId: peerId,
    ownedByVlanId: (vlanIdHex) => vlans.ownedByVlanId(vlanIdHex),
    portAddresses: () => vlans.portAddresses(),
    dealsWith: (id) => admission.admits(id, now()),
    // A joiner whose invitation carried the fabric gets the fabric's grant (16-fabric.md §16.8).
    admitted: (peer, invitation) => fabric?.admitted(peer, invitation),
  })
  // The VLANs (vlans.ts): the config's and the state directory's, opened now; made, joined,
  // left and deleted at run time through the status API.
  const vlans = new Vlans(
    {
      selfPeerId: peerId,
      log,
      ports,
      mls: mlsVlans,
      dialler,
      invitations,
      store: await VlanStore.open(config.stateDir),
      trustRelay: (id) => dialled.add(id),
      untrustRelay: (id) => {
        if (!config.peers.some((address) => peerOfAddress(address) === id)) dialled.delete(id)
      },
    },
    config.vlans,
  )
  try {
    await vlans.start()
  } catch (error) {
    ports.closeAll()
    throw error
  }
  fabric = await Fabric.open({
    selfPeerId: peerId,
    // libp2p's raw Ed25519 private key is the seed and the public key: the seed signs presence.
    seed: key.raw.subarray(0, 32),
    stateDir: config.stateDir,
    log,
    sw,
    trunk,
    dialler,
    verifier,
    now,
    sendLocal: (sealed) => forward(LOCAL, sealed),
    maxSealed: () => maxSealed(trunk.links()),
    refresh: () => refresh(),
    announceAll: (link) => neighbours.announceAll(link, now()),
    trustedRelays: dialled,
    vlans,
  })

  // Subscriptions: ours out to neighbours (announcer), theirs into the table.
  const refresh = async () => {
    await ports.pollMulticast()
    const t = now()
    const change = sw.refresh(t)
    forwarder.expire(t)
    if (change === undefined) return
    // New VFT windows, ports or epochs: the fast path's flows are made again.
    fast?.clear()
    announcer.apply(change, t)
    log.debug(
      { added: change.added.length, removed: change.removed.length, held: announcer.held },
      'subscriptions',
    )
  }

  // What the links bring in: frames, SUBs, control messages, link events (receivers.ts).
  const refused = receiveFromLinks({
    fast,
    trunk,
    log,
    trace,
    now,
    sw,
    forwarder,
    neighbours,
    refusals,
    subscriptionRefusals,
    scavenges,
    mls,
    invitations,
    fabric,
  })

  await trunk.start()
  log.info({ peerId, listen: trunk.getMultiaddrs().map(String) }, 'trunk up')
  await refresh()

  for (const address of config.peers) dialler.add(address)

  let ticking = false
  const tick = setInterval(() => {
    if (ticking) return
    ticking = true
    mls?.tick()
    fabric?.tick()
    // A lapsed proof, or an MLS VLAN that no longer names the peer (a member removed, by us or by
    // the committer whose commit we processed): it stops hearing from us.
    for (const { id, reason } of neighbours.expire(now())) {
      // The fast path delivered what came from it without asking whom we deal with: no more.
      fast?.clear()
      log.info(
        { peer: id },
        reason === 'proof-lapsed'
          ? 'membership proof lapsed: no longer dealing with peer'
          : 'no longer dealing with peer: its admission ended',
      )
    }
    // A peer admitted since it last sent anything (an MLS add, a fabric record) is greeted now.
    neighbours.greetAdmitted(trunk.links(), now())
    announcer.refreshPaths(now())
    refresh()
      .catch((error: unknown) => log.error({ err: error }, 'refresh failed'))
      .finally(() => {
        ticking = false
      })
  }, TICK_MS)
  const renew = setInterval(
    () => announcer.renew(now()),
    Math.min(SUB_RENEW_MAX_MS, (config.subscriptionTtlSeconds * 1000) / 3),
  )

  // What the status reads; served (GET /status, /metrics, PING, the VLAN actions) by the daemon.
  const parts: NodeParts = {
    fast,
    peerId,
    trunk,
    sw,
    table,
    forwarder,
    direct,
    announcer,
    admission,
    proofs,
    verifier,
    neighbours,
    refused,
    refusals,
    subscriptionRefusals,
    scavenges,
    mls,
    vlans,
    invitations,
    fabric,
  }
  const served = await options.serve?.(config, log, parts)

  return {
    peerId,
    status: () => nodeStatus(parts),
    input: (vlan, packets) => ports.input(vlan, packets),
    async stop() {
      dialler.stop()
      invitations.stop()
      mls?.stop()
      clearInterval(tick)
      clearInterval(renew)
      await served?.close()
      ports.closeAll()
      await trunk.stop()
    },
  }
}
