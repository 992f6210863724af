/**
 * The node's VLANs as a person manages them (docs/spec/15-invitations.md
 * §15.8): those of the config, and those made or joined at run time
 * (`peertap vlan create`, `peertap join`), which live in the state
 * directory (vlan-store.ts) so that a restart comes back with them. Each
 * change opens or closes one VLAN's MLS group and port and touches no
 * other VLAN; changes run one at a time. The protocol (codes, join
 * requests, addresses) is @peertap/invite's and @peertap/mls's; this file
 * sequences them.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Dialler } from '@peertap/daemon'
import { formatIpv6, type Invitation, ulaAddress } from '@peertap/invite'
import { deriveVlanId } from '@peertap/vft'
import type { Logger } from 'pino'
import type { VlanConfig } from './config.ts'
import type { Invitations } from './invitations.ts'
import { describeInvitation } from './invite-cli.ts'
import type { MlsVlans } from './mls-vlans.ts'
import type { Ports } from './ports.ts'
import {
  checkDevice,
  checkNewName,
  defaultDevice,
  parseVlan,
  randomMac,
  summarize,
  type VlanSummary,
} from './vlan-entries.ts'
import type { VlanStore } from './vlan-store.ts'

/** What the VLANs use of the node. */
export interface VlansHost {
  readonly selfPeerId: string
  readonly log: Logger
  readonly ports: Ports
  readonly mls: MlsVlans
  readonly dialler: Dialler
  readonly invitations: Invitations
  readonly store: VlanStore
  /**
   * Trusts a relay's role as a dialled relay's (reflexive addresses, send
   * declarations: docs/spec/14-roles.md §14.2): a VLAN joined by invitation
   * names its owner's relay in a circuit address the owner put in its code.
   */
  trustRelay(peerId: string): void
}

export class Vlans {
  readonly #host: VlansHost
  /** The config file's VLANs (changed only by editing the file). */
  readonly #configured: readonly VlanConfig[]
  /** One change at a time: each waits for the one before. */
  #queue: Promise<unknown> = Promise.resolve()

  constructor(host: VlansHost, configured: readonly VlanConfig[]) {
    this.#host = host
    this.#configured = configured
  }

  /**
   * Opens the config's VLANs and the state directory's. A name in both is
   * refused: the node does not guess which one the person meant.
   */
  async start(): Promise<void> {
    const { store } = this.#host
    for (const vlan of store.list()) {
      if (this.#configured.some((c) => c.name === vlan.name))
        throw new Error(
          `VLAN ${JSON.stringify(vlan.name)} is both in the config and in the state directory's vlans.json: remove one`,
        )
    }
    for (const vlan of [...this.#configured, ...store.list()]) await this.#open(vlan)
  }

  /** Every VLAN of the node. */
  list(): VlanSummary[] {
    const stored = new Set(this.#host.store.list().map((x) => x.name))
    return summarize(this.#all(), stored, this.#host.mls.status())
  }

  /** The members of an MLS VLAN, with the addresses each has in it. */
  members(name: string) {
    const vlan = this.#mlsVlan(name)
    const vlanId = this.#vlanIdOf(vlan)
    const { invitations } = this.#host
    return this.#host.mls.members(name).map((m) => {
      const ipv4 = invitations.addressOf(vlanId, m.peerId)
      return {
        ...m,
        ipv6: formatIpv6(ulaAddress(vlanId, peerIdFromString(m.peerId).toMultihash().bytes)),
        ...(ipv4 === undefined ? {} : { ipv4 }),
      }
    })
  }

  /**
   * Creates an MLS VLAN this node owns, with a TAP port: its addresses are
   * `addresses`, the VLAN's stable ULA address of this node, and with
   * `subnet` the pool's first host address.
   */
  create(
    name: string,
    options: { addresses: readonly string[]; subnet?: string; device?: string },
  ): Promise<VlanSummary> {
    return this.#serial(async () => {
      checkNewName(this.#all(), name)
      const device = checkDevice(this.#all(), options.device ?? defaultDevice(name))
      const vlanId = deriveVlanId(peerIdFromString(this.#host.selfPeerId).toMultihash().bytes, name)
      const addresses = [...options.addresses, this.#ownUla(vlanId)]
      if (options.subnet !== undefined)
        addresses.push(
          await this.#host.invitations.openPool(vlanId, options.subnet, this.#host.selfPeerId),
        )
      const vlan = parseVlan({
        name,
        mls: { owner: 'self', ...(options.subnet === undefined ? {} : { subnet: options.subnet }) },
        port: { type: 'tap', device, mac: randomMac(), addresses },
      })
      await this.#add(vlan)
      return this.#summary(name)
    })
  }

  /**
   * Joins the VLAN of an invitation code: a VLAN entry that names its owner
   * (and its addresses), a port, and the join request; resolves once this
   * node is a member with its port up and the addresses it was given, and
   * rejects, having left no trace, with what went wrong otherwise.
   */
  join(
    invitation: Invitation,
    code: string,
    options: { addresses: readonly string[]; device?: string; timeoutMs: number },
  ): Promise<VlanSummary> {
    return this.#serial(async () => {
      const { invitations, selfPeerId } = this.#host
      const owner = describeInvitation(invitation).owner
      if (owner === selfPeerId)
        throw new Error(
          'this is an invitation to a VLAN this node owns: give the code to another node',
        )
      checkNewName(this.#all(), invitation.name)
      const device = checkDevice(this.#all(), options.device ?? defaultDevice(invitation.name))
      const vlan = parseVlan({
        name: invitation.name,
        mls: { owner },
        port: { type: 'tap', device, mac: randomMac(), addresses: [...options.addresses] },
        peers: invitation.addresses.filter((a) => a.endsWith(`/p2p/${owner}`)),
        invitation: code,
      })
      const joined = invitations.expectJoin(invitation, options.timeoutMs)
      try {
        await this.#add(vlan)
        const verdict = await joined
        await this.#joined(vlan.name, verdict.ipv4)
      } catch (error) {
        joined.catch(() => undefined)
        await this.#drop(vlan.name, true).catch(() => undefined)
        throw error
      }
      return this.#summary(vlan.name)
    })
  }

  /**
   * A member leaves an MLS VLAN (its Remove proposal goes to the owner) and
   * forgets it; a PSK VLAN of the state directory is closed and forgotten.
   */
  leave(name: string): Promise<{ left: string }> {
    return this.#serial(async () => {
      const vlan = this.#storedOrThrow(name, 'leave')
      if (vlan.mls !== undefined) {
        if (this.#isOwner(vlan))
          throw new Error(
            `this node owns ${name}: delete it (peertap vlan delete ${name}) or transfer it first`,
          )
        // The proposal goes out before the group is forgotten; a member that cannot reach the owner
        // now is removed by the owner later (it can no longer send: its keys are gone).
        await this.#host.mls
          .leave(name)
          .catch((error: unknown) =>
            this.#host.log.warn(
              { vlan: name, err: (error as Error).message },
              'leave proposal not sent',
            ),
          )
      }
      await this.#drop(name, true)
      return { left: name }
    })
  }

  /**
   * The owner deletes its MLS VLAN: every other member is removed (new
   * keys they do not get, so each is cut off at once), its invitations
   * revoked, its group and port gone.
   */
  delete(name: string): Promise<{ deleted: string; removed: string[] }> {
    return this.#serial(async () => {
      const vlan = this.#storedOrThrow(name, 'delete')
      const removed: string[] = []
      if (vlan.mls !== undefined) {
        if (!this.#isOwner(vlan))
          throw new Error(`this node does not own ${name}: leave it (peertap vlan leave ${name})`)
        for (const member of this.#host.mls.members(name)) {
          if (member.self) continue
          await this.#host.mls.remove(name, member.peerId)
          removed.push(member.peerId)
        }
        await this.#host.invitations.forget(this.#vlanIdOf(vlan))
      }
      await this.#drop(name, true)
      return { deleted: name, removed }
    })
  }

  /** An invitation code to the owner's MLS VLAN `name`. */
  invite(name: string, options: { uses: number; expiresSeconds: number }) {
    const vlan = this.#mlsVlan(name)
    if (!this.#isOwner(vlan))
      throw new Error(`only the owner of ${name} invites (${this.#host.mls.ownerOf(name)} owns it)`)
    // A code names the owner its VLAN-ID derives from (spec 15 §15.3): a VLAN handed over
    // cannot say both yet.
    if (!this.#isFounder(vlan))
      throw new Error(
        `${name} was handed to this node by transfer, and codes to such a VLAN are not built yet: admit members with peertap vlan add PEER --vlan ${name}`,
      )
    return this.#host.invitations.create(name, options)
  }

  /** The owner hands its MLS VLAN `name` to the member `peer`, which commits from then on. */
  transfer(name: string, peer: string): Promise<unknown> {
    return this.#serial(async () => {
      const vlan = this.#mlsVlan(name)
      if (!this.#isOwner(vlan)) throw new Error(`only the owner of ${name} hands it over`)
      return this.#host.mls.transfer(name, peer)
    })
  }

  /** Revokes one invitation of the owner's VLAN `name` (by id), or all of them. */
  revoke(name: string, id: string | undefined) {
    const vlan = this.#mlsVlan(name)
    if (!this.#isOwner(vlan)) throw new Error(`only the owner of ${name} revokes its invitations`)
    return this.#host.invitations.revoke(this.#vlanIdOf(vlan), id)
  }

  /** The owner's invitations to `name`, live and spent. */
  invitationsOf(name: string) {
    return this.#host.invitations.list(this.#vlanIdOf(this.#mlsVlan(name)))
  }

  /** The IP addresses on every VLAN port of this node (without their prefix lengths). */
  portAddresses(): Set<string> {
    return new Set(
      this.#all().flatMap((vlan) => vlan.port.addresses.map((a) => a.split('/')[0] as string)),
    )
  }

  /** The VLAN an incoming join request names, if this node owns it. */
  ownedByVlanId(vlanIdHex: string): VlanConfig | undefined {
    return this.#all().find(
      (vlan) =>
        vlan.mls !== undefined &&
        this.#isOwner(vlan) &&
        Buffer.from(this.#vlanIdOf(vlan)).toString('hex') === vlanIdHex,
    )
  }

  // -- internals ----------------------------------------------------------

  #serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(run, run)
    this.#queue = next.catch(() => undefined)
    return next
  }

  #all(): VlanConfig[] {
    return [...this.#configured, ...this.#host.store.list()]
  }

  #summary(name: string): VlanSummary {
    const summary = this.list().find((x) => x.name === name)
    if (summary === undefined) throw new Error(`no VLAN named ${name}`)
    return summary
  }

  #mlsVlan(name: string): VlanConfig {
    const vlan = this.#all().find((x) => x.name === name)
    if (vlan === undefined)
      throw new Error(`no VLAN named ${JSON.stringify(name)} here (see peertap vlan list)`)
    if (vlan.mls === undefined)
      throw new Error(`${name} is a PSK VLAN: it has no members or invitations`)
    return vlan
  }

  #storedOrThrow(name: string, what: string): VlanConfig {
    const vlan = this.#host.store.get(name)
    if (vlan !== undefined) return vlan
    if (this.#configured.some((x) => x.name === name))
      throw new Error(`${name} is in the config file: to ${what} it, remove it there and restart`)
    throw new Error(`no VLAN named ${JSON.stringify(name)} here (see peertap vlan list)`)
  }

  /** Whether this node owns the VLAN now: its group says (after a transfer), else its entry. */
  #isOwner(vlan: VlanConfig): boolean {
    if (vlan.mls !== undefined && this.#host.mls.isMls(vlan.name))
      return this.#host.mls.ownerOf(vlan.name) === this.#host.selfPeerId
    return this.#isFounder(vlan)
  }

  /** Whether the VLAN's ID was derived from this node's PeerId (its entry names it as owner). */
  #isFounder(vlan: VlanConfig): boolean {
    const owner = vlan.mls?.owner
    return owner === 'self' || owner === this.#host.selfPeerId
  }

  #vlanIdOf(vlan: VlanConfig): Uint8Array {
    const founder = this.#isFounder(vlan) ? this.#host.selfPeerId : (vlan.mls?.owner as string)
    return deriveVlanId(peerIdFromString(founder).toMultihash().bytes, vlan.name)
  }

  #ownUla(vlanId: Uint8Array): string {
    return `${formatIpv6(ulaAddress(vlanId, peerIdFromString(this.#host.selfPeerId).toMultihash().bytes))}/64`
  }

  /** Stores a new VLAN, then opens it; a VLAN that does not open is not kept. */
  async #add(vlan: VlanConfig): Promise<void> {
    await this.#host.store.put(vlan)
    try {
      await this.#open(vlan)
    } catch (error) {
      await this.#drop(vlan.name, true).catch(() => undefined)
      throw error
    }
  }

  /** Opens a VLAN's group (MLS) and port, and dials its peers. */
  async #open(vlan: VlanConfig): Promise<void> {
    const { mls, ports, dialler, invitations, log } = this.#host
    if (vlan.mls !== undefined) {
      const joining =
        vlan.invitation === undefined ? undefined : invitations.resume(vlan.invitation)
      await mls.openVlan(vlan, joining?.sendKeyPackage)
    }
    try {
      await ports.open(vlan)
    } catch (error) {
      if (vlan.mls !== undefined) await mls.closeVlan(vlan.name, false)
      throw error
    }
    for (const address of vlan.peers) {
      dialler.add(address)
      const relay = /\/p2p\/([^/]+)\/p2p-circuit\//.exec(address)?.[1]
      if (relay !== undefined) this.#host.trustRelay(relay)
    }
    log.info({ vlan: vlan.name, kind: vlan.mls === undefined ? 'psk' : 'mls' }, 'VLAN open')
  }

  /** Closes a VLAN (its port, group and dialled peers) and, with `forget`, removes it and its group. */
  async #drop(name: string, forget: boolean): Promise<void> {
    const { mls, ports, dialler, store, log } = this.#host
    const vlan = store.get(name)
    ports.close(name)
    if (mls.isMls(name)) await mls.closeVlan(name, forget)
    const stillDialled = new Set(
      this.#all()
        .filter((x) => x.name !== name)
        .flatMap((x) => x.peers),
    )
    for (const address of vlan?.peers ?? []) if (!stillDialled.has(address)) dialler.remove(address)
    if (forget) await store.remove(name)
    log.info({ vlan: name }, forget ? 'VLAN removed' : 'VLAN closed')
  }

  /** A joiner became a member: its assigned IPv4 address and its ULA address go on the port and into the store. */
  async #joined(name: string, ipv4: string | undefined): Promise<void> {
    const { store, ports } = this.#host
    const vlan = store.get(name)
    if (vlan === undefined) return
    const owner = vlan.mls?.owner as string
    const vlanId = deriveVlanId(peerIdFromString(owner).toMultihash().bytes, name)
    const added = [this.#ownUla(vlanId), ...(ipv4 === undefined ? [] : [ipv4])].filter(
      (a) => !vlan.port.addresses.includes(a),
    )
    for (const address of added) await ports.addAddress(name, address)
    const { invitation: _done, ...rest } = vlan
    await store.put({
      ...rest,
      port: { ...vlan.port, addresses: [...vlan.port.addresses, ...added] },
    })
  }
}
