/**
 * What a node lends its MLS VLANs and what it configures them with
 * (docs/spec/11-mls.md §11): the switch's epoch operations, the links,
 * the log and the clock's wake-up ({@link MlsVlanPorts}); one VLAN's
 * config ({@link MlsVlanSpec}); and the counters `status` reports.
 */
import type { EpochSecrets } from '@peertap/crypto'
import type { MlsEpochKeys } from './group.ts'
import type { MlsControlMessage } from './vlan-wire.ts'

/** The keys a VLAN holds: its group's, or keys nobody holds (joining, removed). */
export type VlanEpochKeys =
  | MlsEpochKeys
  | { readonly kind: 'psk'; readonly epoch: number; readonly secrets: EpochSecrets }

/** The switch's epoch operations (structurally @peertap/switch's `Switch`). */
export interface SwitchPort {
  addVlan(name: string, keys: VlanEpochKeys): void
  prepareEpoch(name: string, keys: VlanEpochKeys): void
  setEpoch(name: string, keys: VlanEpochKeys): void
  dropPreviousEpoch(name: string): void
  epochsOf(name: string): { current: number; previous?: number; next?: number }
  /** Removes the VLAN with everything it holds; the next refresh unsubscribes its VFTs. */
  removeVlan(name: string): void
}

export type LogLevel = 'debug' | 'info' | 'warn'

/** What the node lends its MLS VLANs. */
export interface MlsVlanPorts {
  readonly sw: SwitchPort
  /** Sends a CONTROL message to the neighbour `peer` if a link to it exists (in fragments when large); false if not sent. */
  send(peer: string, message: MlsControlMessage): boolean
  /** Whether the link to `peer` is up. */
  isUp(peer: string): boolean
  /** Whether there is a link to `peer`, up or not. */
  hasLink(peer: string): boolean
  /** Some neighbour (to ask for a catch-up when the owner has no link). */
  anyPeer(): string | undefined
  /** Seals a kind-2 plaintext for every member of a VLAN and sends it. */
  sendInVlan(vlan: string, body: Uint8Array): void
  /** Recomputes subscriptions now and sends the SUB/UNSUB changes. */
  refresh(): Promise<void>
  /** A PeerId's bytes from its text; throws if it is none. */
  peerIdBytes(text: string): Uint8Array
  /** A PeerId's text from its bytes. */
  peerIdText(bytes: Uint8Array): string
  /** What happened, for the node's log. */
  log(level: LogLevel, fields: Record<string, unknown>, message: string): void
  /** Call `tick` at `at` (replacing the previous request); undefined: nothing due. */
  wakeAt?(at: number | undefined): void
  /**
   * A VLAN's owner changed (11-mls.md §12): a transfer this node made or
   * processed, so the node can store the new owner with its VLAN config.
   */
  ownerChanged?(vlan: string, owner: string): void
}

/** One MLS VLAN of the node's config. */
export interface MlsVlanSpec {
  readonly name: string
  /** deriveVlanId(ownerPeerId, name), 01-identifiers.md §1.2. */
  readonly vlanId: Uint8Array
  /**
   * The owner the config names. The founder's (the VLAN-ID's) or, after a
   * transfer (11-mls.md §12), the new one's; a stored group's own record
   * of its owner takes precedence on open.
   */
  readonly owner: string
  readonly isOwner: boolean
  readonly members: readonly string[]
  readonly proposers: readonly string[]
  readonly admins: readonly string[]
  readonly updateSeconds: number | undefined
  /**
   * Joining by invitation (docs/spec/15-invitations.md): when set, a
   * joining member hands its key package to this hook, for the owner only,
   * instead of sending it on channel 1 to the owner and the admins (on
   * link up and every 3 s until it is a member); the node seals it into a
   * join request. Returns whether it was sent.
   */
  readonly sendKeyPackage?: (
    peer: string,
    vlanId: Uint8Array,
    keyPackage: Uint8Array,
  ) => boolean | Promise<boolean>
}

/** A member of a VLAN's group, as `MlsVlanNode.members` lists it. */
export interface VlanMember {
  /** Its PeerId, as text. */
  readonly peerId: string
  readonly leafIndex: number
  /** Whether it is this node. */
  readonly self: boolean
}

export interface MlsVlanCounters {
  keyPackagesSent: number
  keyPackagesReceived: number
  keyPackagesRefused: number
  welcomesSent: number
  /** Owner: Welcomes sent again to members still sending the key package they were added with. */
  welcomesResent: number
  welcomesReceived: number
  commitsSent: number
  commitsApplied: number
  commitsRefused: number
  /** Committer: commits sent again to members that did not acknowledge them. */
  commitsResent: number
  acksSent: number
  acksReceived: number
  catchUpRequests: number
  catchUpApplied: number
  /** Catch-up requests not answered: not from a member, or sooner than a second after the last. */
  catchUpRefused: number
  /** Catch-up requests from before this node's log begins: the asker must be added again. */
  catchUpTooOld: number
  /** Times this member was removed by the owner. */
  removed: number
  /** Milliseconds from the last add or update commit to sending under its epoch. */
  lastSwitchMs: number
  /** Member: proposals sent to the owner (its update, leaving, adds and removals). */
  proposalsSent: number
  /** Committer: proposals recorded and committed. */
  proposalsCommitted: number
  /** Committer: proposals refused (policy, malformed, not a committer now, over the rate). */
  proposalsRefused: number
  /** Committer: proposals refused unread because their sender was over its allowance. */
  proposalsRateLimited: number
  /** Member: commits that applied its own update (fresh leaf keys). */
  updatesApplied: number
  /** Owner: leases issued; admin: leases accepted. */
  leasesIssued: number
  leasesAccepted: number
  /** Self-updates started by the config's `updateSeconds` timer. */
  periodicUpdates: number
}

export function emptyCounters(): MlsVlanCounters {
  return {
    keyPackagesSent: 0,
    keyPackagesReceived: 0,
    keyPackagesRefused: 0,
    welcomesSent: 0,
    welcomesResent: 0,
    welcomesReceived: 0,
    commitsSent: 0,
    commitsApplied: 0,
    commitsRefused: 0,
    commitsResent: 0,
    acksSent: 0,
    acksReceived: 0,
    catchUpRequests: 0,
    catchUpApplied: 0,
    catchUpRefused: 0,
    catchUpTooOld: 0,
    removed: 0,
    lastSwitchMs: 0,
    proposalsSent: 0,
    proposalsCommitted: 0,
    proposalsRefused: 0,
    proposalsRateLimited: 0,
    updatesApplied: 0,
    leasesIssued: 0,
    leasesAccepted: 0,
    periodicUpdates: 0,
  }
}

/** Sends a CONTROL message back on the link a message came in on (or came up); false if not sent. */
export type Reply = (message: MlsControlMessage) => boolean
