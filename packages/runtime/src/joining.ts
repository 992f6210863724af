/**
 * The joiner's side of invitations on a running node
 * (docs/spec/15-invitations.md §15.9), wiring only: `JoinAttempt`
 * (@peertap/invite) holds the code and the owner's verdict; this file
 * seals the key package the MLS VLAN would send on channel 1 into a join
 * request instead, presents the code's relay ticket to its relays, and
 * tells whoever waits (the `join` command, or the node finishing a join a
 * restart interrupted) when the node is a member, or why not.
 */
import { decodeInvitationCode, isExpired, JoinAttempt } from '@peertap/invite'
import { CONTROL_JOIN, type Link, sendRelayTicket, type Trunk } from '@peertap/trunk'
import type { Logger } from 'pino'
import type { MlsVlans } from './mls-vlans.ts'
import { hex, peerIdBytes, peerIdText } from './peer-ids.ts'

/** How often a joiner presents its ticket to the code's relays while it waits. */
const TICKET_EVERY_MS = 3_000
/** How long after presenting a ticket the joiner dials the owner through the relay. */
const TICKET_SETTLE_MS = 100
/** How often a wait looks at the VLAN's state. */
const POLL_MS = 50

/** One join this node is making. */
export interface JoinHandle {
  /** The VLAN's name, as the code gives it. */
  readonly name: string
  /** For the MLS VLAN: sends the key package to the owner, sealed in a join request. */
  readonly sendKeyPackage: (peer: string, vlanId: Uint8Array, keyPackage: Uint8Array) => boolean
  /**
   * Resolves once the owner accepted and this node is a member (its
   * Welcome processed), with the IPv4 address assigned, if any; rejects with
   * the owner's verdict, after `timeoutMs` (if given), when the code has
   * expired with no verdict, or when the join is cancelled.
   */
  wait(timeoutMs?: number): Promise<{ ipv4?: string }>
  /** Stops the join: no more requests or tickets; a wait rejects. */
  cancel(): void
}

interface Joining {
  readonly attempt: JoinAttempt
  /** The owner's PeerId text. */
  readonly owner: string
  ticketTimer?: NodeJS.Timeout
  cancelled: boolean
}

export class Joins {
  readonly #params: { log: Logger; trunk: Trunk; mls: MlsVlans; selfPeerId: string }
  readonly #self: Uint8Array
  /** By VLAN-ID (hex): at most one join per VLAN. */
  readonly #joining = new Map<string, Joining>()
  readonly counters = { verdictsReceived: 0, malformed: 0 }

  constructor(params: { log: Logger; trunk: Trunk; mls: MlsVlans; selfPeerId: string }) {
    this.#params = params
    this.#self = peerIdBytes(params.selfPeerId)
  }

  /**
   * Starts (or after a restart resumes) a join with `code`, replacing any
   * join of the same VLAN. The code was checked when it was given; an
   * expired one is taken here too (a wait then says so), so that a node
   * restarted after its code ran out still starts.
   */
  resume(code: string): JoinHandle {
    const decoded = decodeInvitationCode(code)
    if (!decoded.ok) throw new Error(`the stored invitation code is damaged: ${decoded.detail}`)
    const attempt = new JoinAttempt(decoded.invitation, this.#self)
    const key = hex(attempt.invitation.vlanId)
    this.#stop(key)
    const joining: Joining = {
      attempt,
      owner: peerIdText(attempt.invitation.owner),
      cancelled: false,
    }
    this.#joining.set(key, joining)
    this.#presentTicket(joining)
    return {
      name: attempt.invitation.name,
      sendKeyPackage: (peer, _vlanId, keyPackage) => this.#send(joining, peer, keyPackage),
      wait: (timeoutMs) => this.#wait(joining, timeoutMs),
      cancel: () => {
        if (this.#joining.get(key) === joining) this.#stop(key)
        else joining.cancelled = true
      },
    }
  }

  /** A verdict on channel 9: for the join whose owner sent it, for its VLAN. */
  onVerdict(payload: Uint8Array, link: Link): void {
    this.counters.verdictsReceived++
    for (const { attempt } of this.#joining.values()) {
      const taken = attempt.onVerdict(payload, peerIdBytes(link.id))
      if (taken === 'malformed') this.counters.malformed++
      if (taken === 'taken')
        this.#params.log.info({ owner: link.id, verdict: attempt.verdict?.verdict }, 'join verdict')
      if (taken !== 'ignored') return
    }
  }

  status() {
    return { ...this.counters, joining: this.#joining.size }
  }

  stop(): void {
    for (const key of [...this.#joining.keys()]) this.#stop(key)
  }

  #send(joining: Joining, peer: string, keyPackage: Uint8Array): boolean {
    const { trunk, log } = this.#params
    // Only while this join runs: a member removed later makes a fresh key package, which
    // must not go out under the code it joined with.
    if (joining.cancelled || peer !== joining.owner || trunk.getLink(peer) === undefined)
      return false
    // Looked up again once sealed: a second link to the owner (both dialled at once) may
    // have replaced the first meanwhile, and a request on a closed one is lost.
    joining.attempt
      .request(keyPackage)
      .then((payload) => trunk.getLink(peer)?.sendControl({ channel: CONTROL_JOIN, payload }))
      .catch((error: unknown) =>
        log.warn({ err: (error as Error).message }, 'join request not sealed'),
      )
    return true
  }

  async #wait(joining: Joining, timeoutMs: number | undefined): Promise<{ ipv4?: string }> {
    const { attempt } = joining
    const { name } = attempt.invitation
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs
    for (;;) {
      if (joining.cancelled) throw new Error(`the join of ${name} was cancelled`)
      if (attempt.state === 'refused') throw new Error(attempt.message())
      const state = (this.#params.mls.status()[name] as { state?: string } | undefined)?.state
      const ipv4 = attempt.verdict?.ipv4
      if (attempt.state === 'accepted' && state === 'member') {
        this.#stopIfCurrent(joining)
        return ipv4 === undefined ? {} : { ipv4: `${ipv4.address}/${ipv4.prefixLength}` }
      }
      const expired =
        attempt.state === 'waiting' && isExpired(attempt.invitation, Math.floor(Date.now() / 1000))
      if (Date.now() > deadline || expired) {
        const reached = this.#params.trunk.getLink(joining.owner) !== undefined
        throw new Error(
          expired
            ? 'the invitation expired before the owner answered: ask the owner for a new one (peertap vlan invite)'
            : attempt.timeoutMessage(reached),
        )
      }
      await new Promise((r) => setTimeout(r, POLL_MS))
    }
  }

  #stopIfCurrent(joining: Joining): void {
    const key = hex(joining.attempt.invitation.vlanId)
    if (this.#joining.get(key) === joining) this.#stop(key)
  }

  #stop(key: string): void {
    const joining = this.#joining.get(key)
    if (joining === undefined) return
    joining.cancelled = true
    clearInterval(joining.ticketTimer)
    this.#joining.delete(key)
  }

  /** Sends the code's ticket to each relay of its circuit addresses, now and every few seconds while joining. */
  #presentTicket(joining: Joining): void {
    const { trunk, log } = this.#params
    const { attempt } = joining
    const { ticket } = attempt.invitation
    const relays = attempt.relays()
    if (ticket.length === 0 || relays.length === 0) return
    const present = () => {
      for (const address of relays) {
        trunk
          .dial(address, { signal: AbortSignal.timeout(5_000) })
          .then((link) => {
            if (joining.cancelled) return
            sendRelayTicket(link, ticket)
            // The relay answers nothing; a moment later its grant is there, and the owner is
            // dialled at once rather than at the dialler's next round (up to 2 s later).
            setTimeout(() => {
              for (const circuit of attempt.circuits())
                if (!joining.cancelled && trunk.getLink(joining.owner) === undefined)
                  trunk.dial(circuit, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined)
            }, TICKET_SETTLE_MS)
          })
          .catch((error: unknown) =>
            log.debug(
              { address, err: (error as Error).message },
              'relay not reached for the ticket',
            ),
          )
      }
    }
    present()
    joining.ticketTimer = setInterval(present, TICKET_EVERY_MS)
    joining.ticketTimer.unref()
  }
}
