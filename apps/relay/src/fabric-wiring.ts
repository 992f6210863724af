/**
 * The relay's fabric (docs/spec/12-relay.md §12.4, §12.9), wiring only,
 * split out of the daemon (relay.ts): the statements, their checks and
 * budgets, and the presence records and their directory are
 * @peertap/relay's (FabricEpochs, RelayPresence). This file
 *
 * - takes the fabric roots (the config's and those of fabric-roots.json)
 *   and the newest statement per root from the last run
 *   (fabric-epochs.json, each verified again) before the relay's admission
 *   is built on their credential keys;
 * - takes CONTROL 11 from any peer, strangers too -> FabricEpochs (spec 12
 *   §12.4): a newer epoch statement of a configured fabric root (cheap
 *   refusals first, then the per-peer and global signature budgets, then
 *   the root's signature) replaces the held one; its credential key admits
 *   from then on and the previous key's admissions end at once
 *   (RelayAdmission.setFabricKeys); the statement is stored
 *   (fabric-epochs.json) and passed on to the configured relays, which
 *   also hear the statements held when their link comes up;
 * - takes CONTROL 12 from a configured relay -> RelayPresence (spec 12
 *   §12.9): its relays' records into a bounded directory; from anyone
 *   else, dropped;
 * - sends the relay's own presence (RelayPresence) on CONTROL 12 to each
 *   peer when it is admitted (by credential, or at link up when allowed),
 *   to each configured relay when its link comes up, and to all of them
 *   whenever it is signed again;
 * - on POST /fabric/reload (`peertap-relay fabric add|remove`), takes the
 *   roots of fabric-roots.json again, besides the config's.
 *
 * The daemon keeps the lifecycle: when presence records lapse and when
 * the presence is signed again (its ticks), and waiting for the last
 * store at stop.
 */
import { hostAddresses, RefusalLog } from '@peertap/daemon'
import { FabricEpochs, type RelayAdmission, RelayPresence } from '@peertap/relay'
import {
  CONTROL_FABRIC_EPOCH,
  CONTROL_PRESENCE,
  type Control,
  type Link,
  type Trunk,
} from '@peertap/trunk'
import type { Logger } from 'pino'
import type { RelayConfig } from './config.ts'
import { readFabricEpochs, readFabricRoots, writeFabricEpochs } from './fabric.ts'
import { fabricRoots } from './status.ts'

/** The fabric roots and their statements, as the relay starts. */
export interface FabricStart {
  /** The config's fabric roots (lower-case hex); the others were added at run time. */
  readonly configRoots: readonly string[]
  readonly epochs: FabricEpochs
}

/**
 * The fabric roots (the config's and fabric-roots.json's) and the newest
 * statement per root from the last run, each verified again (spec 12 §12.4).
 */
export async function loadFabric(config: RelayConfig, log: Logger): Promise<FabricStart> {
  const configRoots = config.admission.fabricKeys.map((k) => k.toLowerCase())
  const epochs = new FabricEpochs({
    roots: [...configRoots, ...(await readFabricRoots(config.stateDir))],
  })
  for (const statement of await readFabricEpochs(config.stateDir)) {
    const restored = epochs.restore(statement)
    if (!restored.ok && restored.reason !== 'stale')
      log.warn({ reason: restored.reason }, 'stored fabric epoch statement refused')
  }
  return { configRoots, epochs }
}

/** What the fabric wiring needs of the daemon. */
export interface FabricParts extends FabricStart {
  readonly config: RelayConfig
  readonly log: Logger
  /** Seconds (wall clock). */
  readonly now: () => number
  readonly trunk: Trunk
  /** Whom the relay admits, and the credential keys that admit (setFabricKeys). */
  readonly rules: RelayAdmission<Link>
  /** The seed of the relay's identity, which signs its presence. */
  readonly seed: Uint8Array
}

/** Epoch statements passed on and stored (besides FabricEpochs' own counters). */
export interface FabricCounters {
  /** Statements passed on to configured relays, and those their link refused. */
  passedOn: number
  passOnDropped: number
  /** Writes of fabric-epochs.json that failed (logged). */
  storeFailures: number
}

/** The relay's presence batches sent (besides RelayPresence's own counters). */
export interface PresenceCounters {
  /** CONTROL 12 batches sent, and those the link refused. */
  batchesSent: number
  batchesDropped: number
}

/** The answer to POST /fabric/reload. */
export interface RootsReloaded {
  readonly added: string[]
  readonly removed: string[]
  readonly roots: ReturnType<typeof fabricRoots>
}

/** The fabric as the daemon wires it in: its CONTROL channels, link events, ticks and status. */
export interface RelayFabric extends FabricStart {
  readonly fabricCounters: FabricCounters
  /** The relay's own presence and its neighbour relays' (spec 12 §12.9). */
  readonly presence: RelayPresence
  readonly presenceCounters: PresenceCounters
  /** Takes a CONTROL 11 or 12 message; false for any other channel. */
  onControl(control: Control, link: Link): boolean
  /** A configured relay hears the statements held (it drops those it has) and the presence. */
  linkUp(link: Link): void
  linkDown(id: string): void
  /** Sends the relay's presence to `id` if it hears it (admitted or a configured relay). */
  sendPresence(id: string): void
  /** Signs the presence again if its addresses changed or it is old, and sends it to all. */
  refreshPresence(): void
  /** Takes the roots of fabric-roots.json again, besides the config's. */
  reloadRoots(): Promise<RootsReloaded>
  /** Settles when the fabric-epochs.json writes begun so far are done. */
  stored(): Promise<void>
}

export function wireFabric(parts: FabricParts): RelayFabric {
  const { config, log, now, trunk, rules, configRoots, epochs } = parts
  const { admission } = config

  // Fabric epochs (spec 12 §12.4): what changes the keys that admit.
  const epochRefusals = new RefusalLog(log, 'fabric epoch statements refused')
  const fabricCounters: FabricCounters = { passedOn: 0, passOnDropped: 0, storeFailures: 0 }
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
  const reloadRoots = async (): Promise<RootsReloaded> => {
    const change = epochs.setRoots([...configRoots, ...(await readFabricRoots(config.stateDir))])
    fabricChanged()
    if (change.added.length + change.removed.length > 0) log.info(change, 'fabric roots changed')
    return { ...change, roots: fabricRoots(epochs, configRoots) }
  }

  // Presence (spec 12 §12.9): signed with the relay's PeerId, over the trunk.
  const presence = new RelayPresence({
    seed: parts.seed,
    peerId: trunk.peerId.toMultihash().bytes,
  })
  const presenceCounters: PresenceCounters = { batchesSent: 0, batchesDropped: 0 }
  // Admitted peers and configured relays hear it; a stranger never does.
  const hearsPresence = (id: string): boolean => isRelay(id) || rules.admitted(id)
  const sendPresence = (id: string): void => {
    const link = trunk.getLink(id)
    if (link === undefined || presence.record === undefined || !hearsPresence(id)) return
    for (const payload of presence.batches(now(), id))
      if (link.sendControl({ channel: CONTROL_PRESENCE, payload })) presenceCounters.batchesSent++
      else presenceCounters.batchesDropped++
  }
  const refreshPresence = (): void => {
    // On a timer: a record that cannot be made is logged, never thrown out of the tick.
    try {
      if (!presence.refresh(ownAddresses(trunk), trunk.links().length, now())) return
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'presence record not made')
      return
    }
    log.debug({ addresses: ownAddresses(trunk) }, 'presence signed')
    for (const link of trunk.links()) sendPresence(link.id)
  }

  return {
    configRoots,
    epochs,
    fabricCounters,
    presence,
    presenceCounters,
    onControl: (control, link) => {
      if (control.channel === CONTROL_FABRIC_EPOCH) {
        onEpoch(link, control.payload)
        return true
      }
      if (control.channel === CONTROL_PRESENCE) {
        // Only a configured relay's batch is read (its records verified); anyone else's is counted and dropped.
        presence.offer(
          isRelay(link.id) && link.hello.remoteRole === 'relay',
          control.payload,
          now(),
        )
        return true
      }
      return false
    },
    linkUp: (link) => {
      if (isRelay(link.id)) for (const held of epochs.current()) sendEpoch(link.id, held.bytes)
      sendPresence(link.id)
    },
    linkDown: (id) => {
      epochs.forget(id)
      epochRefusals.forget(id)
    },
    sendPresence,
    refreshPresence,
    reloadRoots,
    stored: () => storing,
  }
}

/**
 * The addresses the relay's presence names: what the trunk listens on or
 * announces, circuit addresses left out, and loopback ones too unless they
 * are all it has.
 */
/** The relay's own addresses for its presence: the host's, never a circuit (12 §12.9). */
function ownAddresses(trunk: Trunk): string[] {
  return hostAddresses(trunk).filter((a) => !a.includes('/p2p-circuit'))
}
