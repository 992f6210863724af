/**
 * What the node's links bring in, and their events: frames (opened here
 * when under a VFT this node holds, the rest forwarded on), neighbours'
 * SUB/UNSUB (whose proofs may admit their sender), CONTROL messages (MLS's,
 * a stranger's key package for an MLS owner, and join requests), and links
 * up and down. From a peer the node does not deal with
 * (docs/spec/14-roles.md §14.2) only proofs, key packages and join
 * requests are taken; the rest is counted and dropped.
 */
import type { RefusalLog, ScavengePacer } from '@peertap/daemon'
import type { Forwarder, NodeNeighbours } from '@peertap/relay'
import type { Switch } from '@peertap/switch'
import { CONTROL_JOIN, CONTROL_KEY_PACKAGE, type Link, type Trunk } from '@peertap/trunk'
import type { Logger } from 'pino'
import type { Fabric } from './fabric.ts'
import type { FastPath } from './fast-path.ts'
import type { Invitations } from './invitations.ts'
import type { MlsVlans } from './mls-vlans.ts'

/** Frames and control messages from peers we do not deal with (the forwarder counts the rest). */
export interface RefusedCounters {
  dropNotAdmitted: number
  controlNotAdmitted: number
}

/** The parts the receivers hand what comes in to. */
export interface ReceiverParts {
  /** The fast path, when on: told which link the frames being opened came over. */
  readonly fast?: FastPath | undefined
  readonly trunk: Trunk
  readonly log: Logger
  /** Whether the log takes trace lines (one per link batch). */
  readonly trace: boolean
  /** Seconds (wall clock). */
  readonly now: () => number
  readonly sw: Switch
  readonly forwarder: Forwarder<Link>
  readonly neighbours: NodeNeighbours<Link>
  /** Strangers' frames, SUBs and control messages, logged per peer. */
  readonly refusals: RefusalLog
  /** Subscription entries the announcer refused, logged per peer. */
  readonly subscriptionRefusals: RefusalLog
  readonly scavenges: ScavengePacer
  readonly mls: MlsVlans | undefined
  readonly invitations: Invitations
  readonly fabric: Fabric
}

/**
 * Sets the trunk's receiver and listens to its link events; returns the
 * counters of what was refused, which the status shows.
 */
export function receiveFromLinks(parts: ReceiverParts): RefusedCounters {
  const { trunk, log, trace, now, sw, forwarder, neighbours, refusals, subscriptionRefusals } =
    parts
  const { scavenges, mls, invitations, fabric } = parts
  const refused: RefusedCounters = { dropNotAdmitted: 0, controlNotAdmitted: 0 }
  const dealsWith = (link: Link): boolean => neighbours.dealsWith(link, now())

  trunk.setReceiver({
    // A batch from a neighbour: frames under VFTs we hold are opened here; the rest may go on.
    onFrames: (frames, link) => {
      if (!dealsWith(link)) {
        refused.dropNotAdmitted += frames.length
        refusals.note(link.id, 'frames', frames.length)
        return
      }
      // Split horizon: with one neighbour there is nobody to forward to. The fast path learns
      // which link the frames the switch opens came over.
      if (parts.fast !== undefined) parts.fast.from = link
      const { held, bytes } = forwarder.deliver(
        link.id,
        frames,
        now(),
        sw,
        trunk.links().length > 1,
      )
      if (parts.fast !== undefined) parts.fast.from = undefined
      if (trace) log.trace({ from: link.id, frames: frames.length, held }, 'link batch')
      scavenges.note(bytes)
    },
    onSubscription: (sub, unsubscribe, link) => {
      // A proof of one of our VLAN epochs admits its sender (verified before we send it anything).
      const result = neighbours.onSubscription(sub, unsubscribe, link, now())
      if (result === 'not-admitted')
        refusals.note(link.id, sub.proof === undefined ? 'sub-no-proof' : 'sub-not-admitted')
      else if (result !== undefined && result.rejected > 0)
        subscriptionRefusals.note(link.id, result.reason ?? 'refused', result.rejected)
      // A proof under the fabric's credential key, from a peer we deal with: a fabric member.
      if (sub.proof !== undefined && result !== 'not-admitted' && dealsWith(link))
        fabric.onProof(link, sub.proof)
    },
    onControl: (control, link) => {
      // Join requests and verdicts (docs/spec/15-invitations.md): the door a stranger may knock
      // on, rate-limited per source before any work, answered with a verdict only.
      if (control.channel === CONTROL_JOIN) {
        invitations.onControl(control, link)
        return
      }
      // The fabric's channels (11, 12, 13): presence batches only from peers we deal with; a
      // grant by its own rules (an admin of our fabric, or the owner of a VLAN we join).
      if (fabric.onControl(control, link, dealsWith(link))) return
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
    fabric.linkDown(link.id)
    refusals.forget(link.id)
    subscriptionRefusals.forget(link.id)
  })
  return refused
}
