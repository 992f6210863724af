/**
 * MLS VLANs on a running node (docs/spec/11-mls.md §11): wiring only. The
 * protocol (the CONTROL and in-VLAN layouts, the epoch-change timing,
 * catch-up, proposal allowances and resends) is @peertap/mls's
 * `MlsVlanNode`; this file lends it the node's switch, trunk links
 * (CONTROL messages on the trunk registry's channels, 08-trunk.md §4.6.1,
 * in fragments when large, §4.6.2), log and clock, opens the state
 * directory's file storage, and turns the config into VLAN specs.
 */
import { join } from 'node:path'
import {
  decodeMlsControl,
  encodeMlsControl,
  type MlsControlChannel,
  type MlsControlMessage,
  MlsVlanNode,
  type MlsVlanPorts,
  mlsControlChannelOf,
  nodeIdentityFromEd25519PrivateKey,
} from '@peertap/mls'
import { FileStorage } from '@peertap/mls/file-storage'
import type { Switch } from '@peertap/switch'
import {
  CONTROL_COMMIT_CATCH_UP,
  CONTROL_FRAGMENT,
  CONTROL_KEY_PACKAGE,
  CONTROL_LEASE,
  CONTROL_PROPOSAL,
  CONTROL_WELCOME,
  type Control,
  ControlFragments,
  type Link,
} from '@peertap/trunk'
import { deriveVlanId } from '@peertap/vft'
import type { Logger } from 'pino'
import type { VlanConfig } from './config.ts'
import { peerIdBytes, peerIdText } from './peer-ids.ts'

/** The trunk registry's channel for each MLS message role (08-trunk.md §4.6.1). */
const CHANNEL_OF: Record<MlsControlChannel, number> = {
  'key-package': CONTROL_KEY_PACKAGE,
  welcome: CONTROL_WELCOME,
  'catch-up': CONTROL_COMMIT_CATCH_UP,
  proposal: CONTROL_PROPOSAL,
  lease: CONTROL_LEASE,
}
const ROLE_OF = new Map(
  Object.entries(CHANNEL_OF).map(([role, channel]) => [channel, role as MlsControlChannel]),
)

/** What the node lends the MLS layer. */
export interface MlsHost {
  readonly sw: Switch
  readonly log: Logger
  getLink(peer: string): Link | undefined
  links(): Link[]
  /** Seals a kind-2 plaintext for every member of a VLAN and sends it. */
  sendInVlan(vlan: string, body: Uint8Array): void
  /** Recomputes subscriptions now and sends the SUB/UNSUB changes. */
  refresh(): Promise<void>
}

/** Wall-clock milliseconds at the process's start plus the monotonic time since. */
function monotonicMs(): number {
  return performance.timeOrigin + performance.now()
}

export class MlsVlans {
  readonly #host: MlsHost
  readonly #node: MlsVlanNode
  /** MLS messages larger than one trunk message, both ways. */
  readonly #fragments: ControlFragments
  /** Milliseconds since the epoch, never stepping back; a parameter so tests control it. */
  readonly #clock: () => number
  /** Wakes the protocol when its next epoch change or retry is due. */
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  readonly #selfPeerId: string

  private constructor(
    host: MlsHost,
    node: MlsVlanNode,
    fragments: ControlFragments,
    clock: () => number,
    selfPeerId: string,
  ) {
    this.#host = host
    this.#node = node
    this.#fragments = fragments
    this.#clock = clock
    this.#selfPeerId = selfPeerId
  }

  /**
   * Opens the node's MLS state (`<stateDir>/mls`); its VLANs are opened
   * with {@link openVlan}.
   */
  static async open(params: {
    readonly host: MlsHost
    readonly stateDir: string
    /** The node's libp2p Ed25519 private key, raw (64 bytes). */
    readonly privateKey: Uint8Array
    readonly selfPeerId: string
    /**
     * Milliseconds since the epoch; default the monotonic clock from the
     * process's start (`monotonicMs`), so that a wall clock set back does not
     * hold an epoch change or a retry.
     */
    readonly clock?: () => number
  }): Promise<MlsVlans> {
    const { host } = params
    const clock = params.clock ?? monotonicMs
    const identity = await nodeIdentityFromEd25519PrivateKey(params.privateKey)
    const storage = await FileStorage.open(join(params.stateDir, 'mls'))
    const fragments = new ControlFragments()
    let self: MlsVlans | undefined
    const ports: MlsVlanPorts = {
      sw: host.sw,
      send: (peer, message) => {
        const link = host.getLink(peer)
        return link !== undefined && MlsVlans.#send(fragments, link, message)
      },
      isUp: (peer) => host.getLink(peer)?.status === 'up',
      hasLink: (peer) => host.getLink(peer) !== undefined,
      anyPeer: () => host.links()[0]?.id,
      sendInVlan: (vlan, body) => host.sendInVlan(vlan, body),
      refresh: () => host.refresh(),
      peerIdBytes,
      peerIdText,
      log: (level, fields, message) => host.log[level](fields, message),
      wakeAt: (at) => {
        if (self !== undefined) self.#wakeAt(at)
      },
    }
    const node = new MlsVlanNode({ ports, identity, storage, now: clock() })
    self = new MlsVlans(host, node, fragments, clock, params.selfPeerId)
    return self
  }

  /**
   * Opens one MLS VLAN: loads its group (the owner creates it) or makes a
   * key package to join with, and adds the VLAN to the switch with its
   * current keys. `sendKeyPackage`, for a VLAN joined by invitation, sends
   * the key package to the owner sealed in a join request instead of on
   * channel 1 (docs/spec/15-invitations.md).
   */
  async openVlan(
    config: VlanConfig,
    sendKeyPackage?: (peer: string, vlanId: Uint8Array, keyPackage: Uint8Array) => boolean,
  ): Promise<void> {
    if (config.mls === undefined) throw new Error(`VLAN ${config.name} is not an MLS VLAN`)
    const owner = config.mls.owner === 'self' ? this.#selfPeerId : config.mls.owner
    const isOwner = owner === this.#selfPeerId
    // The VLAN-ID derives from the founder (11-mls.md §12): the entry's own
    // when it joined through a code of an owner the VLAN was handed to.
    const founder = config.mls.founder ?? owner
    if (!isOwner && config.mls.members !== undefined) {
      throw new Error(`VLAN ${config.name}: mls.members: only the owner lists members`)
    }
    if (!isOwner && config.mls.proposers !== undefined) {
      throw new Error(`VLAN ${config.name}: mls.proposers: only the owner lists proposers`)
    }
    await this.#node.open(
      {
        name: config.name,
        vlanId: deriveVlanId(peerIdBytes(founder), config.name),
        owner,
        isOwner,
        members: config.mls.members ?? [],
        proposers: config.mls.proposers ?? [],
        admins: config.mls.admins ?? [],
        updateSeconds: config.mls.updateSeconds,
        ...(sendKeyPackage === undefined ? {} : { sendKeyPackage }),
      },
      this.#clock(),
    )
  }

  /**
   * Stops handling the VLAN and removes it from the switch; with `forget`,
   * deletes its group and records too (it was left or deleted).
   */
  closeVlan(name: string, forget: boolean): Promise<void> {
    return this.#node.close(name, { forget })
  }

  /** Sends a CONTROL message on its channel (spec 11-mls.md §11.2), in fragments when large. */
  static #send(fragments: ControlFragments, link: Link, message: MlsControlMessage): boolean {
    const channel = CHANNEL_OF[mlsControlChannelOf(message)]
    return fragments.send(link, channel, encodeMlsControl(message))
  }

  /** Replies on `link` itself (the link a message came in on, or came up). */
  #replyOn(link: Link) {
    return (message: MlsControlMessage) => MlsVlans.#send(this.#fragments, link, message)
  }

  /** One timer for the protocol's next deadline (it keeps no timers itself). */
  #wakeAt(at: number | undefined): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (at === undefined || this.#stopped) return
    this.#timer = setTimeout(() => this.#node.tick(this.#clock()), Math.max(0, at - this.#clock()))
    this.#timer.unref()
  }

  // -- operations (status API: vlan add / remove / update / lease) ---------

  /** Owner: admits and adds `peer`; admin under a lease: adds it; others: propose it (spec §11.5). */
  add(vlan: string | undefined, peer: string): Promise<unknown> {
    return this.#node.add(vlan, peer, this.#clock())
  }

  /** Owner: removes `peer` and stops admitting it; admin under a lease: removes it; others: propose it. */
  remove(vlan: string | undefined, peer: string): Promise<unknown> {
    return this.#node.remove(vlan, peer, this.#clock())
  }

  /** The committer's self-update commit, or a member's Update proposal (resent until applied). */
  update(vlan: string | undefined): Promise<unknown> {
    return this.#node.update(vlan, this.#clock())
  }

  /** Owner: lets admin `peer` commit for `seconds` (the lease goes to it on CONTROL 6). */
  lease(vlan: string | undefined, peer: string, seconds: number): Promise<unknown> {
    return this.#node.lease(vlan, peer, seconds, this.#clock())
  }

  /** A member leaves: its Remove proposal of itself goes to the owner (then the VLAN is closed). */
  leave(vlan: string): Promise<unknown> {
    return this.#node.leave(vlan, this.#clock())
  }

  /** The owner hands the VLAN to a member (11-mls.md §12): a signed transfer in an update commit. */
  transfer(vlan: string, newOwner: string): Promise<unknown> {
    return this.#node.transfer(vlan, newOwner, this.#clock())
  }

  /** The VLAN's owner now (after a transfer, not the one its VLAN-ID was derived from). */
  ownerOf(vlan: string): string {
    return this.#node.ownerOf(vlan)
  }

  /** Owner: whether it removed `peer` (and has not admitted it since): its old code must not bring it back. */
  removed(vlan: string, peer: string): boolean {
    const status = this.#node.status()[vlan] as { removed?: string[] } | undefined
    return status?.removed?.includes(peer) ?? false
  }

  /** The group's members now. */
  members(vlan: string): Array<{ peerId: string; leafIndex: number; self: boolean }> {
    return this.#node.members(vlan)
  }

  /**
   * Owner: admits `peer`, whose invitation's join request opened and was
   * redeemed, and adds its key package: the Welcome goes back on `link`.
   */
  admitJoiner(vlan: string, peer: string, keyPackage: Uint8Array, link: Link): Promise<unknown> {
    return this.#node.admitJoiner(vlan, peer, keyPackage, this.#clock(), this.#replyOn(link))
  }

  // -- messages -----------------------------------------------------------

  /** A trunk CONTROL message on an MLS channel or the fragment channel; others are not ours (returns false). */
  onControl(control: Control, link: Link): boolean {
    if (control.channel === CONTROL_FRAGMENT) {
      // Only an owner, an admin or a member sends MLS messages this large
      // (a joiner's key package is small): nobody else may hold reassembly
      // buffers here, or crowd out the owner's Welcome.
      if (!this.#node.maySendLarge(link.id)) {
        this.#fragments.counters.fragmentsRefused++
        return true
      }
      const whole = this.#fragments.receive(link.id, control.payload, performance.now())
      if (whole !== undefined) {
        this.#host.log.debug(
          { peer: link.id, channel: whole.channel, bytes: whole.payload.length },
          'MLS message reassembled',
        )
        this.onControl(whole, link)
      }
      return true
    }
    const { channel, payload } = control
    const role = ROLE_OF.get(channel)
    if (role === undefined) return false
    const decoded = decodeMlsControl(role, payload)
    if (!decoded.ok) {
      this.#host.log.debug({ peer: link.id, channel, err: decoded.error.detail }, 'MLS malformed')
      return true
    }
    this.#node
      .receive(link.id, decoded.message, this.#clock(), this.#replyOn(link))
      .catch((error: unknown) =>
        this.#host.log.warn(
          { peer: link.id, channel, err: (error as Error).message },
          'MLS control refused',
        ),
      )
    return true
  }

  /** A kind-2 plaintext of an MLS VLAN (from the switch). */
  onVlanControl(vlan: string, body: Uint8Array): void {
    this.#node.receiveInVlan(vlan, body, this.#clock())
  }

  /** A link came up: a joining member sends its key package to the owner; a member asks for missed commits. */
  onLinkUp(link: Link): void {
    this.#node.linkUp(link.id, this.#clock(), this.#replyOn(link))
  }

  /**
   * Whether an MLS VLAN here names `peer`: its owner, an admin, a member
   * the owner's config or a run-time add admits, or a member of its group
   * now (docs/spec/14-roles.md §14.2).
   */
  knows(peer: string): boolean {
    return this.#node.knows(peer)
  }

  /** Called every tick: resends, periodic self-updates, and whatever else is due. */
  tick(): void {
    this.#node.tick(this.#clock())
  }

  /** Per MLS VLAN: role, state, epoch, members, held epochs, fragments, counters. */
  status(): Record<string, unknown> {
    return this.#node.status({ fragments: this.#fragments.counters })
  }

  isMls(vlan: string): boolean {
    return this.#node.isMls(vlan)
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#node.stop()
  }
}
