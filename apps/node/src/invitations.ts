/**
 * Invitations on a running node (docs/spec/15-invitations.md), wiring only:
 * the codes, join requests, verdicts, the invitation book, address pools
 * and the join door's limits are @peertap/invite's; relay tickets are
 * @peertap/relay's. This file keeps their state in the state directory,
 * answers join requests on CONTROL channel 9 as the owner, and as a joiner
 * seals its key package into a join request, presents the code's ticket to
 * its relays, and waits for the verdict and the Welcome.
 *
 * Its state files are invitation-files.ts's.
 */
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import {
  decodeInvitationCode,
  type Invitation,
  type InvitationBook,
  Ipv4Pool,
  isExpired,
  issueInvitation,
  JoinAttempt,
  JoinDesk,
  type JoinDeskPorts,
  JoinDoor,
} from '@peertap/invite'
import { verifyKeyPackage } from '@peertap/mls'
import { signRelayTicket } from '@peertap/relay'
import { CONTROL_JOIN, type Control, type Link, sendRelayTicket, type Trunk } from '@peertap/trunk'
import * as Digest from 'multiformats/hashes/digest'
import type { Logger } from 'pino'
import type { VlanConfig } from './config.ts'
import { InvitationFiles } from './invitation-files.ts'
import { decodeCode } from './invite-cli.ts'
import type { MlsVlans } from './mls-vlans.ts'

/** A relay honours a ticket for at most this long (12-relay.md §12.8.2): a longer code's ticket is cut to it. */
const MAX_TICKET_SECONDS = 7 * 86_400
/** How often a joiner presents its ticket to the code's relays while it waits. */
const TICKET_EVERY_MS = 3_000
/** How long after presenting a ticket the joiner dials the owner through the relay. */
const TICKET_SETTLE_MS = 100
/** How often a waiting `join` looks at its VLAN's state. */
const JOIN_POLL_MS = 50

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const peerBytes = (text: string) => peerIdFromString(text).toMultihash().bytes
const peerText = (bytes: Uint8Array) => peerIdFromMultihash(Digest.decode(bytes)).toString()
const nowSeconds = () => Math.floor(Date.now() / 1000)

/** A join this node is making: its code, and what the owner has said. */
interface Joining {
  readonly attempt: JoinAttempt
  /** The owner's PeerId text. */
  readonly owner: string
  ticketTimer?: NodeJS.Timeout
}

export class Invitations {
  readonly #params: InvitationsParams
  readonly #hpke: { publicKey: Uint8Array; privateKey: Uint8Array }
  readonly #book: InvitationBook
  readonly #files: InvitationFiles
  readonly #door = new JoinDoor()
  readonly #desk: JoinDesk
  readonly #joining = new Map<string, Joining>()
  readonly #self: Uint8Array
  /** Owner work, one request at a time (the book and pools are written after each). */
  #queue: Promise<unknown> = Promise.resolve()
  readonly counters = { requests: 0, verdictsSent: 0, verdictsReceived: 0, malformed: 0 }

  private constructor(
    params: InvitationsParams,
    files: InvitationFiles,
    hpke: { publicKey: Uint8Array; privateKey: Uint8Array },
    book: InvitationBook,
  ) {
    this.#params = params
    this.#files = files
    this.#hpke = hpke
    this.#book = book
    this.#self = peerBytes(params.selfPeerId)
    this.#desk = new JoinDesk({
      book,
      door: this.#door,
      owner: this.#self,
      hpkePrivateKey: hpke.privateKey,
    })
  }

  static async open(params: InvitationsParams): Promise<Invitations> {
    const files = new InvitationFiles(params.stateDir)
    return new Invitations(params, files, await files.hpkeKeys(), await files.book())
  }

  // -- owner --------------------------------------------------------------

  /**
   * A code to the owner's VLAN: the node's addresses (its circuit addresses
   * with a ticket for their relays), a fresh secret whose hash the book
   * keeps, `uses` joins until `expiresSeconds` from now.
   */
  async create(
    name: string,
    options: { uses: number; expiresSeconds: number },
  ): Promise<{ code: string; id: string; uses: number; expiresAt: number }> {
    return this.#serial(async () => {
      const now = nowSeconds()
      const expiresAt = now + options.expiresSeconds
      const addresses = this.#addresses()
      const circuit = addresses.some((a) => a.includes('/p2p-circuit'))
      const ticket = circuit
        ? signRelayTicket({
            ownerPeerId: this.#self,
            privateKey: this.#params.privateKey,
            notAfter: Math.min(expiresAt, now + MAX_TICKET_SECONDS),
          })
        : new Uint8Array(0)
      const { code, id } = issueInvitation({
        book: this.#book,
        owner: this.#self,
        name,
        ownerHpkeKey: this.#hpke.publicKey,
        addresses,
        ticket,
        uses: options.uses,
        expiresAt,
        now,
      })
      await this.#files.saveBook(this.#book, nowSeconds())
      this.#params.log.info(
        { vlan: name, id, uses: options.uses, expiresAt, addresses: addresses.length },
        'invitation made',
      )
      return { code, id, uses: options.uses, expiresAt }
    })
  }

  revoke(vlanId: Uint8Array, id: string | undefined) {
    return this.#serial(async () => {
      const revoked = this.#book.revoke({
        vlanId,
        ...(id === undefined ? {} : { id }),
        now: nowSeconds(),
      })
      await this.#files.saveBook(this.#book, nowSeconds())
      return { revoked }
    })
  }

  list(vlanId: Uint8Array) {
    return this.#book.list(vlanId, nowSeconds())
  }

  /** The VLAN is deleted: its invitations and pool go. */
  forget(vlanId: Uint8Array) {
    return this.#serial(async () => {
      this.#book.forget(vlanId)
      await this.#files.saveBook(this.#book, nowSeconds())
      await this.#files.removePool(vlanId)
    })
  }

  /** Opens (or creates) the VLAN's IPv4 pool; the owner keeps its first host address. Returns it as CIDR text. */
  async openPool(vlanId: Uint8Array, subnet: string, owner: string): Promise<string> {
    const pool = (await this.#files.pool(vlanId)) ?? Ipv4Pool.parse(subnet)
    const own = pool.addressOf(hex(peerBytes(owner))) ?? pool.assign(hex(peerBytes(owner)))
    await this.#files.savePool(vlanId, pool)
    return `${own.address}/${own.prefixLength}`
  }

  /** The IPv4 address (CIDR text) the VLAN's pool assigned `peer`, if any. */
  addressOf(vlanId: Uint8Array, peer: string): string | undefined {
    const a = this.#files.cachedPool(vlanId)?.addressOf(hex(peerBytes(peer)))
    return a === undefined ? undefined : `${a.address}/${a.prefixLength}`
  }

  /** A CONTROL message on channel 9: a join request (owner) or a verdict (joiner). */
  onControl(control: Control, link: Link): void {
    if (control.channel !== CONTROL_JOIN) return
    const type = control.payload[0]
    if (type === 0x01) this.#onRequest(control.payload, link)
    else if (type === 0x02) this.#onVerdict(control.payload, link)
    else this.counters.malformed++
  }

  #onRequest(payload: Uint8Array, link: Link): void {
    this.counters.requests++
    const { log, mls, trunk } = this.#params
    const request = {
      payload,
      from: peerBytes(link.id),
      // Per source before any work: a flood costs a map lookup each.
      source: trunk.protocol.sourceOf(link.id) ?? link.id,
      nowMs: performance.now(),
      nowSeconds: nowSeconds(),
    }
    const ports: JoinDeskPorts = {
      dealsWith: () => this.#params.dealsWith(link.id),
      stillAdmits: (vlan) => mls.admits(vlan, link.id),
      ownedVlan: (vlanId) => this.#params.ownedByVlanId(hex(vlanId))?.name,
      checkKeyPackage: (keyPackage, from) =>
        verifyKeyPackage({ keyPackage, from }).then(
          () => true,
          () => false,
        ),
      pool: (vlanId) => this.#files.pool(vlanId),
      save: async (vlanId, pool) => {
        if (pool !== undefined) await this.#files.savePool(vlanId, pool)
        await this.#files.saveBook(this.#book, nowSeconds())
      },
      admit: (vlan, keyPackage) => mls.admitJoiner(vlan, link.id, keyPackage, link),
      reply: (verdict) => {
        if (link.sendControl({ channel: CONTROL_JOIN, payload: verdict }))
          this.counters.verdictsSent++
      },
    }
    // The door's limit is taken at once; the rest, one request at a time (the book and pools).
    void this.#serial(() => this.#desk.answer(request, ports))
      .then((answer) => {
        if (answer.outcome !== 'busy')
          log.info(
            { peer: link.id, ...answer },
            answer.outcome === 'accepted' || answer.outcome === 'again'
              ? 'join request accepted'
              : 'join request refused',
          )
      })
      .catch((error: unknown) =>
        log.warn({ peer: link.id, err: (error as Error).message }, 'join request failed'),
      )
  }

  // -- joiner -------------------------------------------------------------

  /**
   * Starts (or after a restart resumes) joining with a code: the key
   * package the MLS VLAN would send on channel 1 goes sealed in a join
   * request instead, and the code's ticket goes to its relays.
   */
  resume(code: string): {
    sendKeyPackage: (peer: string, vlanId: Uint8Array, keyPackage: Uint8Array) => boolean
  } {
    const attempt = new JoinAttempt(decodeCode(code), this.#self)
    const owner = peerText(attempt.invitation.owner)
    const key = hex(attempt.invitation.vlanId)
    this.#stopJoining(key)
    const joining: Joining = { attempt, owner }
    this.#joining.set(key, joining)
    this.#presentTicket(joining)
    return {
      sendKeyPackage: (peer, _vlanId, keyPackage) => {
        const { trunk } = this.#params
        // Only while this join runs: a member removed later makes a fresh key package, which
        // must not go out under the code it joined with.
        if (this.#joining.get(key)?.attempt !== attempt) return false
        if (trunk.getLink(peer) === undefined || peer !== owner) return false
        // Looked up again once sealed: a second link to the owner (both dialled at once) may
        // have replaced the first meanwhile, and a request on a closed one is lost.
        void attempt
          .request(keyPackage)
          .then((payload) => trunk.getLink(peer)?.sendControl({ channel: CONTROL_JOIN, payload }))
        return true
      },
    }
  }

  /**
   * Waits until the owner accepted and this node is a member (its
   * Welcome processed): resolves with the IPv4 address assigned, if any;
   * rejects with the owner's verdict, or when the owner did not answer
   * within `timeoutMs`.
   */
  async expectJoin(invitation: Invitation, timeoutMs: number): Promise<{ ipv4?: string }> {
    const key = hex(invitation.vlanId)
    const deadline = Date.now() + timeoutMs
    try {
      for (;;) {
        const attempt = this.#joining.get(key)?.attempt
        if (attempt?.state === 'refused') throw new Error(attempt.message())
        const state = (this.#params.mls.status()[invitation.name] as { state?: string } | undefined)
          ?.state
        const ipv4 = attempt?.verdict?.ipv4
        if (attempt?.state === 'accepted' && state === 'member')
          return ipv4 === undefined ? {} : { ipv4: `${ipv4.address}/${ipv4.prefixLength}` }
        if (Date.now() > deadline)
          throw new Error(
            (attempt ?? new JoinAttempt(invitation, this.#self)).timeoutMessage(
              this.#params.trunk.getLink(peerText(invitation.owner)) !== undefined,
            ),
          )
        await new Promise((r) => setTimeout(r, JOIN_POLL_MS))
      }
    } finally {
      this.#stopJoining(key)
    }
  }

  #onVerdict(payload: Uint8Array, link: Link): void {
    this.counters.verdictsReceived++
    for (const { attempt } of this.#joining.values()) {
      const taken = attempt.onVerdict(payload, peerBytes(link.id))
      if (taken === 'malformed') this.counters.malformed++
      if (taken === 'taken')
        this.#params.log.info({ owner: link.id, verdict: attempt.verdict?.verdict }, 'join verdict')
      if (taken !== 'ignored') return
    }
  }

  #stopJoining(key: string): void {
    clearInterval(this.#joining.get(key)?.ticketTimer)
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
            sendRelayTicket(link, ticket)
            // The relay answers nothing; a moment later its grant is there, and the owner is
            // dialled at once rather than at the dialler's next round (up to 2 s later).
            setTimeout(() => {
              for (const circuit of attempt.circuits())
                if (trunk.getLink(joining.owner) === undefined)
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

  // -- common -------------------------------------------------------------

  status() {
    return { ...this.counters, door: this.#door.counters, joining: this.#joining.size }
  }

  stop(): void {
    for (const key of [...this.#joining.keys()]) this.#stopJoining(key)
  }

  #serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(run, run)
    this.#queue = next.catch(() => undefined)
    return next
  }

  /**
   * The addresses a code names: the node's own, each ending in its PeerId,
   * but never loopback, link-local, or an address on one of its own VLAN
   * ports (a trunk link dialled through a VLAN would carry that VLAN's
   * frames over itself, and die with it); circuit addresses first (they
   * reach through NATs), at most 8.
   */
  #addresses(): string[] {
    const own = this.#params.portAddresses()
    const ipOf = (address: string) => /^\/ip[46]\/([^/]+)/.exec(address)?.[1] ?? ''
    const usable = this.#params.trunk
      .getMultiaddrs()
      .map(String)
      .filter((a) => {
        const ip = ipOf(a)
        return !/^(127\.|::1$|fe80:)/.test(ip) && !own.has(ip)
      })
    const circuits = usable.filter((a) => a.includes('/p2p-circuit'))
    return [...circuits, ...usable.filter((a) => !a.includes('/p2p-circuit'))].slice(0, 8)
  }
}

export interface InvitationsParams {
  readonly stateDir: string
  readonly log: Logger
  readonly trunk: Trunk
  readonly mls: MlsVlans
  /** The node's libp2p Ed25519 private key, raw (64 bytes): it signs relay tickets. */
  readonly privateKey: Uint8Array
  readonly selfPeerId: string
  /** Whether the node deals with the peer already (docs/spec/14-roles.md §14.2). */
  readonly dealsWith: (peer: string) => boolean
  /** The IP addresses on this node's VLAN ports (never put in a code). */
  readonly portAddresses: () => ReadonlySet<string>
  /** The VLAN with this VLAN-ID (hex) that this node owns, if any. */
  readonly ownedByVlanId: (vlanIdHex: string) => VlanConfig | undefined
}
