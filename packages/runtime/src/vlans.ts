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
import type { Dialler } from '@peertap/daemon'
import type { Invitation } from '@peertap/invite'
import { deriveVlanId } from '@peertap/vft'
import type { Logger } from 'pino'
import { describeInvitation } from './codes.ts'
import type { VlanConfig } from './config.ts'
import type { Invitations } from './invitations.ts'
import type { JoinHandle } from './joining.ts'
import type { MlsVlans } from './mls-vlans.ts'
import { peerIdBytes } from './peer-ids.ts'
import type { PortInterface, Ports } from './ports.ts'
import {
  checkDevice,
  checkNewName,
  defaultDevice,
  founderVlanId,
  isFounder,
  newPort,
  type PortChoice,
  parseVlan,
  relaysOf,
  summarize,
  ulaCidr,
  type VlanSummary,
} from './vlan-entries.ts'
import { VlanOwner } from './vlan-owner.ts'
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
  /** Stops trusting a relay that no VLAN names any more (one the config names stays trusted). */
  untrustRelay(peerId: string): void
}

/** How long after a join by invitation began its owner's fabric grant is taken. */
const JOIN_GRANT_WINDOW_MS = 10 * 60_000

export class Vlans {
  readonly #host: VlansHost
  /** The config file's VLANs (changed only by editing the file). */
  readonly #configured: readonly VlanConfig[]
  /** One change at a time: each waits for the one before. */
  #queue: Promise<unknown> = Promise.resolve()
  /** The joins under way, by VLAN name (joining.ts). */
  readonly #joins = new Map<string, JoinHandle>()
  /** Owners whose fabric grant is taken (`fabric join`, 16-fabric.md §16.8), until when (ms). */
  readonly #joinedFrom = new Map<string, number>()

  /** The owner's commands (vlan-owner.ts): members, invite, revoke, remove, transfer, delete. */
  readonly owner: VlanOwner

  constructor(host: VlansHost, configured: readonly VlanConfig[]) {
    this.#host = host
    this.#configured = configured
    this.owner = new VlanOwner({
      host,
      serial: (run) => this.#serial(run),
      mlsVlan: (name) => this.#mlsVlan(name),
      storedOrThrow: (name, what) => this.#storedOrThrow(name, what),
      isOwner: (vlan) => this.#isOwner(vlan),
      all: () => this.#all(),
      drop: (name, forget) => this.#drop(name, forget),
    })
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
    // Joins a restart interrupted: finished (or undone) in the background, as `join` would.
    for (const [name, handle] of this.#joins) void this.#finish(name, handle.wait())
  }

  /** Every VLAN of the node. */
  list(): VlanSummary[] {
    const stored = new Set(this.#host.store.list().map((x) => x.name))
    return summarize(this.#all(), stored, this.#host.mls.status())
  }

  /**
   * Creates an MLS VLAN this node owns, with a TAP port: its addresses are
   * `addresses`, the VLAN's stable ULA address of this node, and with
   * `subnet` the pool's first host address.
   */
  create(name: string, options: PortChoice & { subnet?: string }): Promise<VlanSummary> {
    return this.#serial(async () => {
      checkNewName(this.#all(), name)
      const device = checkDevice(this.#all(), options.device ?? defaultDevice(name))
      const { invitations, selfPeerId } = this.#host
      const vlanId = deriveVlanId(peerIdBytes(selfPeerId), name)
      const subnet = options.subnet === undefined ? {} : { subnet: options.subnet }
      const entry = {
        name,
        mls: { owner: 'self', ...subnet },
        port: newPort(device, options),
      }
      parseVlan(entry) // every field checked before anything is written
      // A pool left by an earlier VLAN of this name (a failed create, a deletion) is not reused.
      await invitations.forget(vlanId)
      try {
        const pool =
          options.subnet === undefined
            ? []
            : [await invitations.openPool(vlanId, options.subnet, selfPeerId)]
        const vlan = parseVlan({
          ...entry,
          port: {
            ...entry.port,
            addresses: [...options.addresses, ulaCidr(vlanId, this.#host.selfPeerId), ...pool],
          },
        })
        await this.#add(vlan)
      } catch (error) {
        await invitations.forget(vlanId).catch(() => undefined)
        throw error
      }
      return this.#summary(name)
    })
  }

  /**
   * Joins the VLAN of an invitation code: a VLAN entry that names its owner
   * (and its addresses), a port, and the join request; resolves once this
   * node is a member with its port up and the addresses it was given, and
   * rejects, having left no trace, with what went wrong otherwise.
   */
  async join(
    invitation: Invitation,
    code: string,
    options: PortChoice & { timeoutMs: number; fabric?: boolean },
  ): Promise<VlanSummary> {
    // Recorded and opened in the queue; waited for outside it, so other changes go on meanwhile.
    const handle = await this.#serial(async () => {
      const { owner, founder } = describeInvitation(invitation)
      if (owner === this.#host.selfPeerId)
        throw new Error(
          'this is an invitation to a VLAN this node owns: give the code to another node',
        )
      checkNewName(this.#all(), invitation.name)
      const device = checkDevice(this.#all(), options.device ?? defaultDevice(invitation.name))
      const vlan = parseVlan({
        name: invitation.name,
        // A code of an owner the VLAN was handed to names its founder too: the VLAN-ID's.
        mls: { owner, ...(founder === undefined ? {} : { founder }) },
        port: newPort(device, options),
        peers: invitation.addresses.filter((a) => a.endsWith(`/p2p/${owner}`)),
        invitation: code,
      })
      // `peertap fabric join`: the owner's grant of its fabric is taken (16-fabric.md §16.8); a
      // plain join takes none, so a code does not pull a node into a fabric unasked.
      if (options.fabric === true) this.#joinedFrom.set(owner, Date.now() + JOIN_GRANT_WINDOW_MS)
      await this.#add(vlan)
      return this.#joins.get(vlan.name) as JoinHandle
    })
    await this.#finish(handle.name, handle.wait(options.timeoutMs), true)
    return this.#summary(handle.name)
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

  /** Each VLAN's port as the kernel has it (ports.ts); `vlan/attach|detach` set it up or down. */
  interfaces(): PortInterface[] {
    return this.#host.ports.interfaces()
  }

  async setAttached(name: string, attached: boolean): Promise<{ vlan: string; attached: boolean }> {
    if (!this.#all().some((vlan) => vlan.name === name))
      throw new Error(`no VLAN named ${JSON.stringify(name)} here (see peertap vlan list)`)
    await this.#host.ports.setAttached(name, attached)
    return { vlan: name, attached }
  }

  /** The IP addresses on every VLAN port of this node (without their prefix lengths). */
  portAddresses(): Set<string> {
    return new Set(
      this.#all().flatMap((vlan) => vlan.port.addresses.map((a) => a.split('/')[0] as string)),
    )
  }

  /** Whether this node began `peertap fabric join`, in the last 10 minutes, with a code whose owner is `peer`. */
  joiningFrom(peer: string): boolean {
    const until = this.#joinedFrom.get(peer)
    return until !== undefined && until > Date.now()
  }

  /** The MLS VLANs this node holds, by VLAN-ID and name: what its fabric presence lists (16 §16.7). */
  presenceVlans(): Array<{ vlanId: Uint8Array; name: string }> {
    return this.#all()
      .filter((vlan) => vlan.mls !== undefined)
      .map((vlan) => ({ vlanId: founderVlanId(vlan, this.#host.selfPeerId), name: vlan.name }))
  }

  /** The VLAN an incoming join request names, if this node owns it. */
  ownedByVlanId(vlanIdHex: string): VlanConfig | undefined {
    return this.#all().find(
      (vlan) =>
        vlan.mls !== undefined &&
        this.#isOwner(vlan) &&
        Buffer.from(founderVlanId(vlan, this.#host.selfPeerId)).toString('hex') === vlanIdHex,
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
    return isFounder(vlan, this.#host.selfPeerId)
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

  /** Opens a VLAN's group (MLS) and port, and dials its peers; a join a code started goes on. */
  async #open(vlan: VlanConfig): Promise<void> {
    const { mls, ports, dialler, invitations, log } = this.#host
    if (vlan.mls?.subnet !== undefined && isFounder(vlan, this.#host.selfPeerId))
      await invitations.openPool(
        founderVlanId(vlan, this.#host.selfPeerId),
        vlan.mls.subnet,
        this.#host.selfPeerId,
      )
    let join: JoinHandle | undefined
    if (vlan.mls !== undefined) {
      join = vlan.invitation === undefined ? undefined : invitations.joins.resume(vlan.invitation)
      await mls.openVlan(vlan, join?.sendKeyPackage)
    }
    try {
      await ports.open(vlan)
    } catch (error) {
      join?.cancel()
      if (vlan.mls !== undefined) await mls.closeVlan(vlan.name, false)
      throw error
    }
    if (join !== undefined) this.#joins.set(vlan.name, join)
    for (const address of vlan.peers) dialler.add(address)
    // The relays of its owner's circuit addresses count as dialled relays once this node is a member.
    if (join === undefined) for (const relay of relaysOf(vlan)) this.#host.trustRelay(relay)
    log.info({ vlan: vlan.name, kind: vlan.mls === undefined ? 'psk' : 'mls' }, 'VLAN open')
  }

  /**
   * Waits for a join to end: a member gets its addresses and its entry loses
   * the code; a refused or failed join is undone (VLAN, port, group). With
   * `rethrow` (the `join` command) the failure goes on to the caller.
   */
  async #finish(name: string, joined: Promise<{ ipv4?: string }>, rethrow = false): Promise<void> {
    try {
      const { ipv4 } = await joined
      await this.#serial(() => this.#joined(name, ipv4))
    } catch (error) {
      this.#host.log.warn(
        { vlan: name, err: (error as Error).message },
        'join failed: VLAN removed',
      )
      await this.#serial(() => this.#drop(name, true)).catch(() => undefined)
      if (rethrow) throw error
    }
  }

  /** Closes a VLAN (its port, group, join and dialled peers) and, with `forget`, removes it and its group. */
  async #drop(name: string, forget: boolean): Promise<void> {
    const { mls, ports, dialler, store, log } = this.#host
    const vlan = store.get(name)
    this.#joins.get(name)?.cancel()
    this.#joins.delete(name)
    ports.close(name)
    if (mls.isMls(name)) await mls.closeVlan(name, forget)
    const others = this.#all().filter((x) => x.name !== name)
    const stillDialled = new Set(others.flatMap((x) => x.peers))
    for (const address of vlan?.peers ?? []) if (!stillDialled.has(address)) dialler.remove(address)
    const stillTrusted = new Set(others.flatMap(relaysOf))
    for (const relay of vlan === undefined ? [] : relaysOf(vlan))
      if (!stillTrusted.has(relay)) this.#host.untrustRelay(relay)
    if (forget) await store.remove(name)
    log.info({ vlan: name }, forget ? 'VLAN removed' : 'VLAN closed')
  }

  /** A joiner became a member: its assigned IPv4 address and its ULA address go on the port and into the store. */
  async #joined(name: string, ipv4: string | undefined): Promise<void> {
    const { store, ports } = this.#host
    const vlan = store.get(name)
    if (vlan === undefined) return
    const vlanId = founderVlanId(vlan, this.#host.selfPeerId)
    const added = [
      ulaCidr(vlanId, this.#host.selfPeerId),
      ...(ipv4 === undefined ? [] : [ipv4]),
    ].filter((a) => !vlan.port.addresses.includes(a))
    for (const address of added) await ports.addAddress(name, address)
    this.#joins.delete(name)
    for (const relay of relaysOf(vlan)) this.#host.trustRelay(relay)
    const { invitation: _done, ...rest } = vlan
    await store.put({
      ...rest,
      port: { ...vlan.port, addresses: [...vlan.port.addresses, ...added] },
    })
  }
}
