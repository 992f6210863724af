/**
 * Invitations on a running node (docs/spec/15-invitations.md), wiring only:
 * the codes, join requests, verdicts, the invitation book, address pools
 * and the join door's limits are @peertap/invite's; relay tickets are
 * @peertap/relay's. This file keeps their state in the state directory,
 * and answers join requests on CONTROL channel 9 as the owner; a verdict
 * on channel 9 goes to the joiner's side (joining.ts).
 *
 * Its state files are invitation-files.ts's.
 */
import { RefusalLog } from '@peertap/daemon'
import {
  encodeJoinVerdict,
  type InvitationBook,
  Ipv4Pool,
  issueInvitation,
  JoinDesk,
  type JoinDeskPorts,
  JoinDoor,
} from '@peertap/invite'
import { verifyKeyPackage } from '@peertap/mls'
import { signRelayTicket } from '@peertap/relay'
import { CONTROL_JOIN, type Control, type Link, type Trunk } from '@peertap/trunk'
import type { Logger } from 'pino'
import type { VlanConfig } from './config.ts'
import { InvitationFiles } from './invitation-files.ts'
import { Joins } from './joining.ts'
import type { MlsVlans } from './mls-vlans.ts'
import { hex, peerIdBytes } from './peer-ids.ts'

/** Join requests that may wait to be answered; more are answered busy at once. */
const MAX_PENDING = 64
/** A relay honours a ticket for at most this long (12-relay.md §12.8.2): a longer code's ticket is cut to it. */
const MAX_TICKET_SECONDS = 7 * 86_400

const nowSeconds = () => Math.floor(Date.now() / 1000)

export class Invitations {
  readonly #params: InvitationsParams
  readonly #hpke: { publicKey: Uint8Array; privateKey: Uint8Array }
  readonly #book: InvitationBook
  readonly #files: InvitationFiles
  readonly #door = new JoinDoor()
  readonly #desk: JoinDesk
  readonly #refusals: RefusalLog
  /** The joins this node is making (joining.ts). */
  readonly joins: Joins
  readonly #self: Uint8Array
  /** Owner work, one request at a time (the book and pools are written after each). */
  #queue: Promise<unknown> = Promise.resolve()
  /** Join requests waiting in the queue. */
  #pending = 0
  readonly counters = { requests: 0, verdictsSent: 0, malformed: 0, overflow: 0 }

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
    this.#self = peerIdBytes(params.selfPeerId)
    this.joins = new Joins(params)
    this.#refusals = new RefusalLog(params.log, 'join requests refused')
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
   * keeps, `uses` joins until `expiresSeconds` from now. `founder`: the
   * PeerId the VLAN-ID derives from when this node owns the VLAN by a
   * transfer (the code names it beside this node, spec 15 §15.1).
   */
  async create(
    name: string,
    options: { uses: number; expiresSeconds: number; founder?: string },
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
        ...(options.founder === undefined ? {} : { founder: peerIdBytes(options.founder) }),
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
        {
          vlan: name,
          id,
          uses: options.uses,
          expiresAt,
          addresses: addresses.length,
          ...(options.founder === undefined ? {} : { founder: options.founder }),
        },
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
    const fresh = Ipv4Pool.parse(subnet)
    const stored = await this.#files.pool(vlanId)
    if (stored !== undefined && stored.cidr !== fresh.cidr)
      throw new Error(
        `the IPv4 pool of VLAN ${hex(vlanId).slice(0, 16)}… is ${stored.cidr} in the state directory but ${fresh.cidr} in its entry: restore one to match the other`,
      )
    const pool = stored ?? fresh
    const own = pool.addressOf(hex(peerIdBytes(owner))) ?? pool.assign(hex(peerIdBytes(owner)))
    await this.#files.savePool(vlanId, pool)
    return `${own.address}/${own.prefixLength}`
  }

  /** The owner removed `peer`: its IPv4 address goes back to the pool (a member that leaves keeps it). */
  async release(vlanId: Uint8Array, peer: string): Promise<void> {
    const pool = await this.#files.pool(vlanId)
    if (pool?.release(hex(peerIdBytes(peer))) === true) await this.#files.savePool(vlanId, pool)
  }

  /** The IPv4 address (CIDR text) the VLAN's pool assigned `peer`, if any. */
  addressOf(vlanId: Uint8Array, peer: string): string | undefined {
    const a = this.#files.cachedPool(vlanId)?.addressOf(hex(peerIdBytes(peer)))
    return a === undefined ? undefined : `${a.address}/${a.prefixLength}`
  }

  /** A CONTROL message on channel 9: a join request (owner) or a verdict (joiner). */
  onControl(control: Control, link: Link): void {
    if (control.channel !== CONTROL_JOIN) return
    const type = control.payload[0]
    if (type === 0x01) this.#onRequest(control.payload, link)
    else if (type === 0x02) this.joins.onVerdict(control.payload, link)
    else this.counters.malformed++
  }

  #onRequest(payload: Uint8Array, link: Link): void {
    this.counters.requests++
    const { log, mls, trunk } = this.#params
    const request = {
      payload,
      from: peerIdBytes(link.id),
      // Per source before any work: a flood costs a map lookup each.
      // Never a PeerId (a stranger makes new ones for nothing): a link with no known source shares one bucket.
      source: trunk.protocol.sourceOf(link.id) ?? 'unknown',
      nowMs: performance.now(),
      nowSeconds: nowSeconds(),
    }
    const ports: JoinDeskPorts = {
      dealsWith: () => this.#params.dealsWith(link.id),
      removed: (vlan) => mls.removed(vlan, link.id),
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
    // One request at a time (the book and pools), the door's limits first in each. Beyond
    // MAX_PENDING waiting, a request is answered busy at once and nothing of it is kept.
    if (this.#pending >= MAX_PENDING) {
      const vlanId = payload.slice(1, 33)
      if (vlanId.length === 32)
        ports.reply(encodeJoinVerdict({ vlanId, verdict: 'busy', retryAfterSeconds: 1 }))
      this.counters.overflow++
      return
    }
    this.#pending++
    void this.#serial(() => this.#desk.answer(request, ports))
      .finally(() => {
        this.#pending--
      })
      .then((answer) => {
        // A stranger's refused, turned-away or dropped requests are counted by the door and
        // logged at most once a minute per peer: a flood floods neither the log nor the disk.
        if (answer.outcome === 'accepted' || answer.outcome === 'again') {
          log.info({ peer: link.id, ...answer }, 'join request accepted')
          this.#params.admitted?.(link.id, answer.invitation)
        } else this.#refusals.note(link.id, answer.outcome)
      })
      .catch((error: unknown) =>
        log.warn({ peer: link.id, err: (error as Error).message }, 'join request failed'),
      )
  }

  // -- common -------------------------------------------------------------

  status() {
    return {
      ...this.counters,
      door: this.#door.counters,
      refusals: this.#refusals.counters,
      ...this.joins.status(),
    }
  }

  stop(): void {
    this.joins.stop()
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
        return !/^(127\.|169\.254\.|::1$|fe80:)/.test(ip) && !own.has(ip)
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
  /** A joiner was admitted with this invitation (its id): what came with it may follow. */
  readonly admitted?: (peer: string, invitation: string | undefined) => void
}
