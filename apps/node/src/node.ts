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
 */
import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import {
  aesBackend,
  derivePskEpochSecrets,
  nodeAes,
  nodeBackend,
  ProofVerifier,
} from '@peertap/crypto'
import {
  aesPrimitives,
  createLogger,
  datagramOption,
  datagramSocketFactory,
  keepNeighboursDialled,
  RefusalLog,
  runUntilSignal,
  ScavengePacer,
} from '@peertap/daemon'
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
import { openTap, type TapDevice } from '@peertap/tap'
import {
  CONTROL_KEY_PACKAGE,
  createTrunk,
  type Link,
  loadOrCreateIdentity,
  type Trunk,
} from '@peertap/trunk'
import { parseMac } from '@peertap/vft'
import * as Digest from 'multiformats/hashes/digest'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { collectMetrics } from './metrics.ts'
import { MlsVlans } from './mls-vlans.ts'
import { CONTROL_FILE, writeStateFile } from './state.ts'
import { startStatusServer } from './status-server.ts'

const run = promisify(execFile)

/** The table's name for this node as the source of its own frames: not a PeerId (base58 has no '@'). */
export const LOCAL = '@local'
/** How often we renew our SUBs at neighbours (their TTL: DEFAULT_ANNOUNCE_TTL_SECONDS, 180 s). */
const SUB_RENEW_MS = 60_000
const TICK_MS = 250
const REDIAL_MS = 2_000
/** Verified proofs remembered (members' proofs relays pass on, renewed every minute). */
const PROOF_CACHE_SIZE = 4096

export interface RunningNode {
  readonly peerId: string
  stop(): Promise<void>
}

export async function runNode(config: Config, options: { trace: boolean }): Promise<void> {
  const log = createLogger(options.trace ? 'trace' : config.log.level)
  await runUntilSignal(log, () => startNode(config, log))
}

export async function startNode(config: Config, log: Logger): Promise<RunningNode> {
  const now = () => Date.now() / 1000
  // Frees the Buffers of the frames carried with cheap young-generation
  // collections, before V8 answers their memory with full ones (packages/daemon/README.md, "Scavenges").
  const scavenges = new ScavengePacer()
  if (!scavenges.available)
    log.warn('V8 gc function not available: no paced scavenges, full collections will cost CPU')
  const trace = log.isLevelEnabled('trace')
  const aes = aesPrimitives(config.aes, log)
  // The peers the config names: `peers` (dialled), and each MLS VLAN's owner and admins. Its
  // members count through MlsVlans.knows, which follows removals made since (the config's list
  // is only where the owner's admission record started).
  const dialled = new Set(config.peers.map(peerOfAddress))
  const configuredPeers = new Set(dialled)
  for (const vlan of config.vlans) {
    const m = vlan.mls
    if (m === undefined) continue
    if (m.owner !== 'self') configuredPeers.add(m.owner)
    for (const id of m.admins ?? []) configuredPeers.add(id)
  }
  const trunk: Trunk = await createTrunk({
    stateDir: config.stateDir,
    listen: config.listen,
    role: 'node',
    // The relay role counts only for relays we dial (spec 13 §4.1: reflexive addresses).
    trustedRelays: (id) => dialled.has(id),
    // Our UDP port and addresses only for peers we deal with; one admitted later gets them when greeted.
    datagramFor: (id) => admission.admits(id, now()),
    // Large (GSO) frames come with the fast path.
    capabilities: 0,
    datagram: config.datagram.enabled && {
      ...datagramOption(config.datagram),
      socket: datagramSocketFactory(
        config.datagram.socket,
        log,
        config.datagram.gso,
        config.datagram.gro,
      ),
      aes,
    },
  })
  const peerId = trunk.peerId.toString()
  // Strangers have no place in the table: only LOCAL and the peers we deal with (admitted when greeted).
  const table = new ForwardingTable({ admitByDefault: false })
  table.setAccess(LOCAL, 'allow')
  const direct = new DirectPaths(trunk, table)
  // The forward loop (a punched path to a neighbour behind a relay takes its frames, once), and
  // whether a neighbour receives a VFT, asked once per unicast frame (Forwarder, @peertap/relay).
  const forwarder = new Forwarder({ table, links: trunk, select: direct.select.bind(direct) })
  const hasRemoteSubscriber = (vft: Uint8Array): boolean =>
    forwarder.knownReceiver(vft) ?? forwarder.hasReceiver(vft, now())

  let mls: MlsVlans | undefined
  const sw = new Switch({
    backend: aes === nodeAes ? nodeBackend : aesBackend(aes),
    hasRemoteSubscriber,
    largeGso: config.datagram.largeGso,
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
    configured: (id) => configuredPeers.has(id) || (mls?.knows(id) ?? false),
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
      },
      greeted: (link) => mls?.onLinkUp(link),
    },
  })
  const dealsWith = (link: Link): boolean => neighbours.dealsWith(link, now())

  /**
   * The largest sealed payload our frames may have: the smallest MTU of the
   * links up (docs/spec/10-switch.md §10.7), asked once per TAP batch: a
   * datagram path's (1190, probed up to 1430), or, while every neighbour is
   * on its stream link, a stream link's (64 KiB + 1 KiB: every frame fits
   * whole). One bound
   * for every frame: a frame may go to several neighbours, and relays never
   * re-fragment. Frames to a neighbour on its stream link fragment too
   * while some other neighbour has a datagram path (the stream link takes
   * kind 1 like any plaintext).
   */
  const maxSealed = (): number => {
    let mtu = Number.POSITIVE_INFINITY
    for (const link of trunk.links()) if (link.status === 'up' && link.mtu < mtu) mtu = link.mtu
    return mtu
  }

  /** Frames and control messages from peers we do not deal with (the forwarder counts the rest). */
  const refused = { dropNotAdmitted: 0, controlNotAdmitted: 0 }
  /** Routes a batch from `from` (a neighbour, or LOCAL for our own frames) to the neighbours' links. */
  const forward = (from: string, frames: Frame[]): void => {
    forwarder.forward(from, frames, now())
    if (!trace) return
    const batch = forwarder.batch
    const to = batch.outputs.slice(0, batch.length).map((o) => `${o.neighbour}:${o.count}`)
    log.trace({ from, frames: frames.length, to, dropped: batch.dropped }, 'route')
  }
  /** A batch from a neighbour: frames under VFTs we hold are opened here; the rest may go on. */
  const fromNeighbour = (link: Link, frames: Frame[]): void => {
    if (!dealsWith(link)) {
      refused.dropNotAdmitted += frames.length
      refusals.note(link.id, 'frames', frames.length)
      return
    }
    // Split horizon: with one neighbour there is nobody to forward to.
    const { held, bytes } = forwarder.deliver(link.id, frames, now(), sw, trunk.links().length > 1)
    if (trace) log.trace({ from: link.id, frames: frames.length, held }, 'link batch')
    scavenges.note(bytes)
  }

  // MLS VLANs (mls-vlans.ts): their groups from the state dir, their keys into the switch.
  if (config.vlans.some((vlan) => vlan.mls !== undefined)) {
    const key = await loadOrCreateIdentity(config.stateDir)
    mls = await MlsVlans.open({
      host: {
        sw,
        log,
        // Only peers we deal with: MLS never talks to a stranger (a catch-up falls back to any
        // link). A member just removed is still greeted until the next tick, so the commit that
        // removes it reaches it.
        getLink: (peer) =>
          greeted.has(peer) || admission.admits(peer, now()) ? trunk.getLink(peer) : undefined,
        links: () => trunk.links().filter((l) => greeted.has(l.id)),
        sendInVlan: (vlan, body) => forward(LOCAL, [sw.sealControl(vlan, body, now()) as Frame]),
        refresh: () => refresh(),
      },
      stateDir: config.stateDir,
      privateKey: key.raw,
      selfPeerId: peerId,
      vlans: config.vlans,
    })
  }

  // Ports.
  const taps: TapDevice[] = []
  const multicastPolls: Array<() => Promise<void>> = []
  try {
    for (const vlan of config.vlans) {
      if (vlan.secret !== undefined) {
        sw.addVlan(vlan.name, {
          kind: 'psk',
          epoch: 0,
          secrets: derivePskEpochSecrets(Buffer.from(vlan.secret, 'hex')),
        })
      }
      const port = vlan.port
      const tap = openTap({
        name: port.device,
        mtu: port.mtu,
        ...(port.mac === undefined ? {} : { mac: port.mac }),
        up: true,
        vnetHeader: port.offload,
      })
      taps.push(tap)
      const macText = port.mac ?? tap.link().mac
      if (macText === undefined) throw new Error(`TAP ${port.device} has no MAC address`)
      const mac = parseMac(macText)
      for (const address of port.addresses) {
        await run('ip', ['addr', 'add', address, 'dev', port.device])
      }
      sw.addPort(vlan.name, port.device, {
        mac,
        vnetHeader: tap.vnetHeader,
        writeFrames: (frames) => tap.writeBatch(frames),
      })
      tap.onBatch(
        (batch) => {
          const frames: Uint8Array[] = new Array(batch.count)
          for (let i = 0; i < batch.count; i++) frames[i] = batch.frame(i)
          const sealed = sw.fromPort(vlan.name, port.device, frames, now(), maxSealed())
          if (trace)
            log.trace({ vlan: vlan.name, read: batch.count, sealed: sealed.length }, 'port batch')
          if (sealed.length === 0) return
          const bytesBefore = table.counters.bytesIn
          forward(LOCAL, sealed)
          scavenges.note(table.counters.bytesIn - bytesBefore)
        },
        { onError: (error) => log.error({ err: error, device: port.device }, 'TAP read failed') },
      )
      multicastPolls.push(async () => {
        const macs = await tap.multicastMacs()
        sw.setMulticast(vlan.name, port.device, macs.map(parseMac))
      })
      log.info(
        {
          vlan: vlan.name,
          device: port.device,
          mac: macText,
          mtu: port.mtu,
          offload: port.offload,
        },
        'port up',
      )
    }
  } catch (error) {
    for (const tap of taps) tap.close()
    throw error
  }

  // Subscriptions: ours out to neighbours (announcer), theirs into the table.
  const refresh = async () => {
    for (const poll of multicastPolls) await poll()
    const t = now()
    const change = sw.refresh(t)
    forwarder.expire(t)
    if (change === undefined) return
    announcer.apply(change, t)
    log.debug(
      { added: change.added.length, removed: change.removed.length, held: announcer.held },
      'subscriptions',
    )
  }

  trunk.setReceiver({
    onFrames: (frames, link) => fromNeighbour(link, frames),
    onSubscription: (sub, unsubscribe, link) => {
      // A proof of one of our VLAN epochs admits its sender (verified before we send it anything).
      const result = neighbours.onSubscription(sub, unsubscribe, link, now())
      if (result === 'not-admitted')
        refusals.note(link.id, sub.proof === undefined ? 'sub-no-proof' : 'sub-not-admitted')
      else if (result !== undefined && result.rejected > 0)
        subscriptionRefusals.note(link.id, result.reason ?? 'refused', result.rejected)
    },
    onControl: (control, link) => {
      // A stranger may send an MLS owner its key package (held, bounded, for `peertap vlan add`); nothing else.
      if (!dealsWith(link) && control.channel !== CONTROL_KEY_PACKAGE) {
        refused.controlNotAdmitted++
        refusals.note(link.id, 'control')
        return
      }
      if (mls?.onControl(control, link) !== true)
        log.debug({ peer: link.id, channel: control.channel }, 'control message')
    },
  })
  trunk.addEventListener('link:up', (event) => {
    const link = event.detail
    log.info({ peer: link.id, kind: link.kind, skewMs: link.hello.clockSkewMs }, 'link up')
    if (link.hello.skewWarning)
      log.warn({ peer: link.id, skewMs: link.hello.clockSkewMs }, 'clock skew over 60 s')
    // A stranger's link stays up, but it gets nothing until it proves membership of one of our VLANs.
    if (!dealsWith(link))
      log.info({ peer: link.id }, 'link from a peer we do not deal with: sending it nothing')
  })
  trunk.addEventListener('link:down', (event) => {
    const { link, reason } = event.detail
    log.info({ peer: link.id, reason }, 'link down')
    neighbours.linkDown(link.id)
    refusals.forget(link.id)
    subscriptionRefusals.forget(link.id)
  })

  await trunk.start()
  log.info({ peerId, listen: trunk.getMultiaddrs().map(String) }, 'trunk up')
  await refresh()

  // Neighbours from the config: dialled, and redialled while down.
  const dialling = keepNeighboursDialled(trunk, config.peers, log, REDIAL_MS)

  let ticking = false
  const tick = setInterval(() => {
    if (ticking) return
    ticking = true
    mls?.tick()
    // A lapsed proof, or an MLS VLAN that no longer names the peer (a member removed, by us or by
    // the committer whose commit we processed): it stops hearing from us.
    for (const { id, reason } of neighbours.expire(now()))
      log.info(
        { peer: id },
        reason === 'proof-lapsed'
          ? 'membership proof lapsed: no longer dealing with peer'
          : 'no longer dealing with peer: its admission ended',
      )
    announcer.refreshPaths(now())
    refresh()
      .catch((error: unknown) => log.error({ err: error }, 'refresh failed'))
      .finally(() => {
        ticking = false
      })
  }, TICK_MS)
  const renew = setInterval(() => announcer.renew(now()), SUB_RENEW_MS)

  const status = () => ({
    peerId,
    listen: trunk.getMultiaddrs().map(String),
    reservations: trunk.reservations(),
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
      mtu: link.mtu,
      cost: link.cost,
      clockSkewMs: link.hello.clockSkewMs,
      counters: link.counters,
    })),
    vlans: sw.vlanCounters(),
    mls: mls?.status() ?? {},
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
  })
  const mlsOrThrow = (): MlsVlans => {
    if (mls === undefined) throw new Error('this node has no MLS VLAN')
    return mls
  }
  const { randomBytes } = await import('node:crypto')
  const token = randomBytes(24).toString('hex')
  const server = await startStatusServer(config.status.port, token, {
    title: 'PeerTap node',
    status,
    metrics: () => collectMetrics(status()),
    ping: async (peer) => {
      const link = trunk.getLink(peer)
      if (link === undefined) throw new Error(`no link to ${peer}`)
      const result = await link.ping({ timeoutMs: 5000 })
      return { rttMs: result.rttMs, hops: result.hops.map(peerIdText) }
    },
    // `peertap vlan add|remove|update|lease` (MLS VLAN membership: the owner or an admin commits, members propose).
    actions: {
      'vlan/add': (params) =>
        mlsOrThrow().add(params.get('vlan') ?? undefined, required(params, 'peer')),
      'vlan/remove': (params) =>
        mlsOrThrow().remove(params.get('vlan') ?? undefined, required(params, 'peer')),
      'vlan/update': (params) => mlsOrThrow().update(params.get('vlan') ?? undefined),
      'vlan/lease': (params) =>
        mlsOrThrow().lease(
          params.get('vlan') ?? undefined,
          required(params, 'peer'),
          Number(required(params, 'seconds')),
        ),
    },
  })
  const controlPath = join(config.stateDir, CONTROL_FILE)
  await writeStateFile(controlPath, JSON.stringify({ pid: process.pid, port: server.port, token }))
  log.info({ port: server.port }, 'status API on 127.0.0.1')

  return {
    peerId,
    async stop() {
      dialling.stop()
      mls?.stop()
      clearInterval(tick)
      clearInterval(renew)
      server.server.close()
      await rm(controlPath, { force: true })
      for (const tap of taps) tap.close()
      await trunk.stop()
    },
  }
}

/** The PeerId at the end of a multiaddr (`…/p2p/<PeerId>`, as the config schema requires). */
function peerOfAddress(address: string): string {
  return address.slice(address.lastIndexOf('/p2p/') + 5)
}

/** A required query parameter of a status API action. */
function required(params: URLSearchParams, name: string): string {
  const value = params.get(name)
  if (value === null || value === '') throw new Error(`${name} is required`)
  return value
}

/** A hop of a PING's hop record (PeerId multihash bytes) as a PeerId string, or hex if it is not one. */
function peerIdText(bytes: Uint8Array): string {
  try {
    return peerIdFromMultihash(Digest.decode(bytes)).toString()
  } catch {
    return Buffer.from(bytes).toString('hex')
  }
}
