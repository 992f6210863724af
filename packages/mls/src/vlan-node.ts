/**
 * A node's MLS VLANs (docs/spec/11-mls.md §11): each VLAN's group, the
 * messages that carry it between nodes and the moments its switch keys
 * change. The node wires it to its switch, its trunk links and its log
 * through {@link MlsVlanPorts}; the protocol is here:
 *
 * - the wire layouts are `vlan-wire.ts` (§11.2, §11.3, §11.6);
 * - when a new epoch takes effect is `epoch-change.ts` (§11.7): an add or
 *   update held for receiving, acknowledged, promoted after every ack or
 *   2 s, the previous epoch settled 2 s later; a removal at once;
 * - catch-up is `catch-up.ts` (§6, §11.8): answers at most once a second
 *   per member, retries with a doubling wait;
 * - proposal allowances, held key packages and resends are
 *   `allowances.ts` (§11.5).
 *
 * This class holds each VLAN's state and dispatches to the parts that
 * carry the protocol out, each a set of functions over the shared
 * {@link VlanContext} (`vlan-context.ts`; the ports and counters are
 * `vlan-ports.ts`):
 *
 * - `vlan-joining.ts`: key packages sent and resent, Welcomes;
 * - `vlan-commits.ts`: adds and removals committed, commits sent in the
 *   VLAN or point to point, commits, acks and `switch` received;
 * - `vlan-proposals.ts`: proposals sent and committed, leases accepted;
 * - `vlan-operations.ts`: the commands (`vlan add / remove / update /
 *   lease`) and the periodic self-update;
 * - `vlan-epochs.ts`: the switch's keys following the group;
 * - `vlan-catch-up.ts`: catch-up requests, answers and their application;
 * - `vlan-records.ts`: the `kp-` and `admitted-` records (§11.6).
 *
 * Who commits: the owner, or an admin while it holds a lease the owner
 * issued; every node processes the other's commits (the group checks the
 * lease) and the committer collects the acks. Members propose: their own
 * update, leaving, and, if the owner's config lists them as proposers,
 * adds and removals of others; the committer commits at once.
 *
 * VLANs come and go while the node runs (§11.5): {@link MlsVlanNode.open}
 * and {@link MlsVlanNode.close} (with `forget`, its records deleted) one
 * VLAN without touching the others; a member leaves by
 * {@link MlsVlanNode.leave}, and a joiner admitted by invitation is
 * added by {@link MlsVlanNode.admitJoiner} on the owner, its key package
 * going through the config's `sendKeyPackage` hook.
 *
 * No timers and no I/O: time comes in with every call (`now`, wall-clock
 * milliseconds), the caller calls {@link MlsVlanNode.tick} by
 * {@link MlsVlanNode.nextDeadline}, and the group records go through the
 * storage port. Group operations are asynchronous (MLS and the storage
 * port); each VLAN's run one after another.
 */
import { due, KEY_PACKAGE_RESEND_MS, UPDATE_RESEND_MS } from './allowances.ts'
import { MlsError } from './errors.ts'
import { createVlanGroup, loadVlanGroup } from './group.ts'
import type { NodeIdentity } from './identity.ts'
import type { StateStorage } from './storage.ts'
import { onCatchUpAnswer, onCatchUpRequest, requestCatchUp } from './vlan-catch-up.ts'
import { act, onInVlan, onLargeCommit } from './vlan-commits.ts'
import { newVlan, noKeys, toHex, VlanContext } from './vlan-context.ts'
import {
  type AdmitOutcome,
  admitJoiner,
  onKeyPackage,
  onWelcome,
  sendKeyPackage,
} from './vlan-joining.ts'
import {
  add,
  type LeaveResult,
  lease,
  leave,
  periodicUpdate,
  remove,
  type TransferResult,
  transfer,
  update,
} from './vlan-operations.ts'
import type { MlsVlanPorts, MlsVlanSpec, Reply, VlanMember } from './vlan-ports.ts'
import { onLease, onProposal, proposeUpdate } from './vlan-proposals.ts'
import {
  admissionRecordName,
  admitMembers,
  adoptMembership,
  deleteRecords,
  loadAdmission,
  newKeyPackage,
  storeChanges,
} from './vlan-records.ts'
import type { MlsControlMessage } from './vlan-wire.ts'

export { MAX_IN_VLAN_COMMIT_BYTES } from './vlan-commits.ts'
export type { AdmitOutcome } from './vlan-joining.ts'
export type { LeaveResult, TransferResult } from './vlan-operations.ts'
export type {
  LogLevel,
  MlsVlanCounters,
  MlsVlanPorts,
  MlsVlanSpec,
  Reply,
  SwitchPort,
  VlanEpochKeys,
  VlanMember,
} from './vlan-ports.ts'

export class MlsVlanNode {
  readonly #ctx: VlanContext

  constructor(params: {
    readonly ports: MlsVlanPorts
    readonly identity: NodeIdentity
    readonly storage: StateStorage
    readonly now: number
  }) {
    this.#ctx = new VlanContext(params)
  }

  /**
   * Opens one MLS VLAN: loads its group (the owner creates it), or makes a
   * key package to join with, and adds the VLAN to the switch with its
   * current keys.
   */
  async open(spec: MlsVlanSpec, now: number): Promise<void> {
    const ctx = this.#ctx
    ctx.now = now
    const { name, vlanId } = spec
    const vlan = newVlan(spec, now)
    const options = { vlanId, identity: ctx.identity, storage: ctx.storage }
    let group = await loadVlanGroup(options)
    if (group === undefined && spec.isOwner) group = await createVlanGroup(options)
    if (group !== undefined) {
      // The stored group knows its current owner (11-mls.md §12.2): a
      // transfer made or processed before a restart wins over the config
      // (a removed member's too: it joins again through that owner).
      const owner = ctx.peerText(group.ownerPeerId)
      if (owner !== vlan.ownerPeerId || group.isOwner !== vlan.isOwner) {
        vlan.ownerPeerId = owner
        vlan.isOwner = group.isOwner
        if (!vlan.isOwner) vlan.admitted.clear()
        ctx.log('info', { vlan: name, config: spec.owner, owner }, 'the group names another owner')
      }
    }
    /** The group's members (hex PeerIds) at `epoch`, as the owner's record last saw them. */
    let recorded: { epoch: number; members: readonly string[] } | undefined
    // Owner by a transfer, with no admission record yet (a crash right
    // after the transfer commit): it admits the members, as after one.
    const admitAll =
      vlan.isOwner &&
      !spec.isOwner &&
      (await ctx.storage.read(admissionRecordName(vlan))) === undefined
    if (vlan.isOwner) recorded = await loadAdmission(ctx, vlan)
    if (group !== undefined && !group.removed) {
      vlan.group = group
      vlan.state = 'member'
      ctx.ports.sw.addVlan(name, group.epochKeys())
      if (admitAll) await admitMembers(ctx, vlan)
      // The group record and the admission record are two writes: a crash
      // between an admin's commit and the owner adopting it (or the
      // owner's own commit and its record) leaves the group ahead. Adopt
      // what changed since the record's epoch, so a member an admin
      // removed is not admitted again by its next key package.
      if (recorded !== undefined && recorded.epoch !== Number(group.epoch)) {
        const current = new Set(group.members().map((m) => toHex(m.peerId)))
        await adoptMembership(ctx, vlan, [...recorded.members], current)
        await storeChanges(ctx, vlan)
        ctx.log(
          'info',
          { vlan: name, from: recorded.epoch, to: Number(group.epoch) },
          'admission record brought up to the group',
        )
      }
    } else {
      ctx.ports.sw.addVlan(name, noKeys())
      await newKeyPackage(ctx, vlan)
    }
    ctx.vlans.set(name, vlan)
    ctx.byId.set(vlan.vlanIdHex, vlan)
    ctx.log(
      'info',
      {
        vlan: name,
        owner: vlan.ownerPeerId,
        isOwner: vlan.isOwner,
        state: vlan.state,
        epoch: group?.epoch.toString(),
      },
      'MLS VLAN',
    )
  }

  /**
   * Closes one MLS VLAN, leaving the others as they are: nothing more is
   * handled or sent for it (pending epoch changes, resends, catch-up and
   * group operations still queued are dropped; one already running
   * finishes first), {@link knows} no longer counts its members, and it is
   * removed from the switch (its VFTs unsubscribed). With `forget`, its
   * records are deleted too (group record, `kp-`, `admitted-`): opening it
   * again makes a fresh group (owner) or key package (member); without,
   * opening it again loads the stored group. Throws `mls-unknown-vlan` for
   * a VLAN not open.
   */
  async close(vlanName: string, options: { readonly forget: boolean }): Promise<void> {
    const ctx = this.#ctx
    const vlan = ctx.vlans.get(vlanName)
    if (vlan === undefined) throw new MlsError('mls-unknown-vlan', `no MLS VLAN ${vlanName}`)
    vlan.closed = true
    ctx.vlans.delete(vlanName)
    ctx.byId.delete(vlan.vlanIdHex)
    vlan.epochs.stop()
    vlan.catchUp.stop()
    ctx.wake()
    // The operation running now finishes; those queued behind it are refused (VlanContext.run).
    await vlan.queue
    ctx.ports.sw.removeVlan(vlanName)
    if (options.forget) await deleteRecords(ctx, vlan)
    await ctx.ports.refresh()
    ctx.log('info', { vlan: vlanName, forget: options.forget }, 'MLS VLAN closed')
  }

  /**
   * A member leaves (§11.5): its Remove proposal of itself goes to the
   * owner and the config's admins, who commit it; then the node closes the
   * VLAN with `forget`. `proposed` is false for a node that is not a
   * member (joining: nothing to leave). Refused for the owner
   * (`mls-owner-removal`): it deletes the VLAN, or hands it over first.
   */
  leave(vlanName: string, now: number): Promise<LeaveResult> {
    return leave(this.#ctx, vlanName, now)
  }

  /**
   * Joining by invitation, on the owner (or an admin holding a lease):
   * admits `peer` as {@link add} does and takes `keyPackage` as one `peer`
   * sent on channel 1 (its credential must name `peer`, else an MlsError
   * and nobody is admitted): the Add is committed with the usual epoch
   * timing and the Welcome goes by `reply`; the same key package again
   * (the Welcome was lost) gets the same Welcome again (`again`).
   */
  admitJoiner(
    vlanName: string,
    peer: string,
    keyPackage: Uint8Array,
    now: number,
    reply: Reply,
  ): Promise<AdmitOutcome> {
    return admitJoiner(this.#ctx, vlanName, peer, keyPackage, now, reply)
  }

  /** The members of a VLAN's group now (none while joining); throws `mls-unknown-vlan` for a VLAN not open. */
  members(vlanName: string): VlanMember[] {
    const ctx = this.#ctx
    const vlan = ctx.vlans.get(vlanName)
    if (vlan === undefined) throw new MlsError('mls-unknown-vlan', `no MLS VLAN ${vlanName}`)
    const group = vlan.group
    if (group === undefined || group.removed) return []
    const self = group.leafIndex
    return group.members().map((m) => ({
      peerId: ctx.peerText(m.peerId),
      leafIndex: m.leafIndex,
      self: m.leafIndex === self,
    }))
  }

  // -- operations (the node's `vlan add / remove / update / lease`): vlan-operations.ts

  /**
   * Owner: admits `peer`; adds it at once if its key package is here, else
   * when it arrives. Admin under a lease: adds it from the key package it
   * sent here. Other members: propose the add to the owner (with that key
   * package), who commits it if its config lists this member as a proposer.
   */
  add(vlanName: string | undefined, peer: string, now: number): Promise<unknown> {
    return add(this.#ctx, vlanName, peer, now)
  }

  /**
   * Owner: removes `peer` and stops admitting it. Admin under a lease:
   * removes it. Other members: propose it to the owner (leaving, if `peer`
   * is this node; removing another only if the owner's config lists this
   * member as a proposer).
   */
  remove(vlanName: string | undefined, peer: string, now: number): Promise<unknown> {
    return remove(this.#ctx, vlanName, peer, now)
  }

  /**
   * The committer's self-update (owner, or admin under a lease): fresh path
   * secrets, a new epoch, taking effect like an add. A member's: an MLS
   * Update proposal (fresh leaf keys) to the owner, sent again every 2 s
   * and in each new epoch until a commit applies it (11-mls.md §4).
   */
  update(vlanName: string | undefined, now: number): Promise<unknown> {
    return update(this.#ctx, vlanName, now)
  }

  /**
   * Owner: grants `peer` (a member its config names in `admins`) the right
   * to commit for `seconds` (at most a day); the owner itself commits again
   * only once the lease has run out (11-mls.md §5).
   */
  lease(
    vlanName: string | undefined,
    peer: string,
    seconds: number,
    now: number,
  ): Promise<unknown> {
    return lease(this.#ctx, vlanName, peer, seconds, now)
  }

  /**
   * Owner only: hands the VLAN to `newOwner`, a member (11-mls.md §12):
   * an update commit carrying the transfer it signs, sent as every commit
   * is. From its epoch on `newOwner` is the owner (it commits, admits the
   * group's members, takes proposals) and this node a plain member; the
   * VLAN-ID does not change. Refused with an MlsError on a node that is
   * not the owner (`mls-not-committer`), for a non-member or this node
   * (`mls-membership`), while a lease this node issued runs
   * (`mls-lease-outstanding`).
   */
  transfer(vlanName: string, newOwner: string, now: number): Promise<TransferResult> {
    return transfer(this.#ctx, vlanName, newOwner, now)
  }

  /**
   * The VLAN's current owner (PeerId text): the config's, or whom a
   * transfer named (11-mls.md §12). Throws `mls-unknown-vlan` for a VLAN
   * not open.
   */
  ownerOf(vlanName: string): string {
    const vlan = this.#ctx.vlans.get(vlanName)
    if (vlan === undefined) throw new MlsError('mls-unknown-vlan', `no MLS VLAN ${vlanName}`)
    return vlan.ownerPeerId
  }

  // -- messages -----------------------------------------------------------

  /**
   * A decoded CONTROL message from the neighbour `peer` (its authenticated
   * PeerId). Resolves when handled; rejects with the reason it was refused
   * (for the log). A message for a VLAN this node does not have is ignored.
   */
  async receive(
    peer: string,
    message: MlsControlMessage,
    now: number,
    reply: Reply = (m) => this.#ctx.ports.send(peer, m),
  ): Promise<void> {
    const ctx = this.#ctx
    ctx.now = now
    const vlan = ctx.byId.get(toHex(message.vlanId))
    if (vlan === undefined) return
    switch (message.type) {
      case 'key-package':
        return onKeyPackage(ctx, vlan, message.keyPackage, peer, reply)
      case 'proposal':
        return onProposal(ctx, vlan, message.proposal, peer)
      case 'lease':
        return onLease(ctx, vlan, message.lease, peer)
      case 'welcome':
        return onWelcome(ctx, vlan, message.welcome, peer)
    }
    if (vlan.group === undefined) return
    switch (message.type) {
      case 'catch-up-request':
        return onCatchUpRequest(ctx, vlan, message.since, peer, reply)
      case 'catch-up-commit':
        return onLargeCommit(ctx, vlan, message.bundle, peer)
      case 'catch-up-answer':
        return onCatchUpAnswer(ctx, vlan, [...message.bundles], peer)
    }
  }

  /** A kind-2 plaintext of an MLS VLAN (from the switch). */
  receiveInVlan(vlanName: string, body: Uint8Array, now: number): void {
    this.#ctx.now = now
    const vlan = this.#ctx.vlans.get(vlanName)
    if (vlan === undefined) return
    onInVlan(this.#ctx, vlan, body)
  }

  /**
   * Whether an MLS VLAN here names `peer`: its owner, an admin, a member
   * the owner's config or a run-time add admits, or a member of its group
   * now (docs/spec/14-roles.md §14.2).
   */
  knows(peer: string): boolean {
    for (const vlan of this.#ctx.vlans.values())
      if (
        peer === vlan.ownerPeerId ||
        vlan.admins.has(peer) ||
        vlan.admitted.has(peer) ||
        this.#ctx.isMember(vlan, peer)
      )
        return true
    return false
  }

  /** Whether `peer` may send MLS messages in fragments: an owner, an admin or a member of one of this node's VLANs. */
  maySendLarge(peer: string): boolean {
    for (const vlan of this.#ctx.vlans.values())
      if (peer === vlan.ownerPeerId || vlan.admins.has(peer) || this.#ctx.isMember(vlan, peer))
        return true
    return false
  }

  /**
   * A link came up: a joining member sends its key package to the owner
   * (or an admin; with the config's `sendKeyPackage` hook, through the hook
   * and to the owner only); a member asks for missed commits.
   */
  linkUp(peer: string, now: number, reply: Reply = (m) => this.#ctx.ports.send(peer, m)): void {
    const ctx = this.#ctx
    ctx.now = now
    for (const vlan of ctx.vlans.values()) {
      if (vlan.isOwner) {
        // An admin may have committed while the owner was away.
        if (vlan.admins.has(peer)) requestCatchUp(ctx, vlan, reply)
        continue
      }
      const toOwner = peer === vlan.ownerPeerId
      if (!toOwner && !vlan.admins.has(peer)) continue
      if (vlan.state === 'joining') sendKeyPackage(ctx, vlan, peer, reply)
      else if (vlan.state === 'member' && toOwner) requestCatchUp(ctx, vlan)
    }
  }

  /**
   * What is due at `now`: epochs to promote or settle, commits to resend,
   * catch-up retries; the periodic self-update; joining members resend
   * their key package (to the owner and the config's admins; with the
   * `sendKeyPackage` hook, through it to the owner only) until a Welcome
   * comes; a member that asked for its own update resends its
   * proposal until a commit applies it.
   */
  tick(now: number): void {
    const ctx = this.#ctx
    ctx.now = now
    if (ctx.stopped) return
    for (const vlan of ctx.vlans.values()) {
      for (const action of vlan.epochs.tick(now)) act(ctx, vlan, action)
      if (vlan.catchUp.tick(now)) requestCatchUp(ctx, vlan)
      periodicUpdate(ctx, vlan)
      if (vlan.isOwner) continue
      if (vlan.state === 'member' && vlan.wantUpdate) {
        if (!due(vlan.lastUpdateSentAt, UPDATE_RESEND_MS, now)) continue
        vlan.lastUpdateSentAt = now
        ctx
          .run(vlan, () => proposeUpdate(ctx, vlan))
          .catch((error: unknown) =>
            ctx.log(
              'warn',
              { vlan: vlan.name, err: (error as Error).message },
              'update proposal not sent',
            ),
          )
        continue
      }
      if (vlan.state !== 'joining') continue
      if (!due(vlan.lastKeyPackageAt, KEY_PACKAGE_RESEND_MS, now)) continue
      for (const peer of [vlan.ownerPeerId, ...vlan.admins])
        if (ctx.ports.isUp(peer)) sendKeyPackage(ctx, vlan, peer, (m) => ctx.ports.send(peer, m))
    }
    ctx.woke()
    ctx.wake()
  }

  /** When `tick` next has an epoch change or a catch-up retry to carry out (undefined: none). */
  nextDeadline(): number | undefined {
    return this.#ctx.nextDeadline()
  }

  /** Per MLS VLAN: role, state, epoch, members, held epochs, counters (`extra` after `canCommit`). */
  status(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const vlan of this.#ctx.vlans.values()) {
      out[vlan.name] = {
        vlanId: vlan.vlanIdHex,
        owner: vlan.ownerPeerId,
        role: vlan.isOwner ? 'owner' : 'member',
        state: vlan.state,
        ...this.#ctx.summary(vlan),
        admitted: vlan.isOwner ? [...vlan.admitted] : undefined,
        // Whom the owner removed (by `vlan remove`, or a committed leaving) and has not admitted since.
        removed:
          vlan.isOwner && vlan.changes.removed.size > 0 ? [...vlan.changes.removed] : undefined,
        proposers: vlan.isOwner ? [...vlan.proposers] : undefined,
        admins: vlan.admins.size > 0 ? [...vlan.admins] : undefined,
        canCommit: vlan.group?.canCommit() ?? false,
        ...extra,
        wantUpdate: vlan.wantUpdate || undefined,
        switchEpochs: vlan.state === 'member' ? this.#ctx.ports.sw.epochsOf(vlan.name) : undefined,
        counters: vlan.counters,
      }
    }
    return out
  }

  isMls(vlan: string): boolean {
    return this.#ctx.vlans.has(vlan)
  }

  /** Nothing more is due; operations still queued finish. */
  stop(): void {
    this.#ctx.stopped = true
    for (const vlan of this.#ctx.vlans.values()) {
      vlan.epochs.stop()
      vlan.catchUp.stop()
    }
    this.#ctx.wake()
  }
}
