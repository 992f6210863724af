/**
 * One MLS VLAN's state on a node ({@link Vlan}) and what every part of the
 * protocol shares ({@link VlanContext}): the ports, the identity and
 * storage, the time of the call being handled, the per-VLAN queue that
 * runs group operations one after another, and the wake-up request.
 */
import { derivePskEpochSecrets } from '@peertap/crypto'
import { ProposalAllowances } from './allowances.ts'
import { CatchUp } from './catch-up.ts'
import { EpochChange } from './epoch-change.ts'
import { MlsError } from './errors.ts'
import type { VlanGroup } from './group.ts'
import type { NodeIdentity } from './identity.ts'
import type { StateStorage } from './storage.ts'
import {
  emptyCounters,
  type LogLevel,
  type MlsVlanCounters,
  type MlsVlanPorts,
  type MlsVlanSpec,
  type VlanEpochKeys,
} from './vlan-ports.ts'

export type State = 'joining' | 'member' | 'removed'

export interface Vlan {
  readonly name: string
  readonly vlanId: Uint8Array
  readonly vlanIdHex: string
  /**
   * The current owner: the config's until the group says otherwise (a
   * stored group, or a transfer processed, 11-mls.md §12).
   */
  ownerPeerId: string
  /** Whether this node is the current owner. */
  isOwner: boolean
  state: State
  group: VlanGroup | undefined
  /** Owner: PeerIds whose key packages it adds. */
  readonly admitted: Set<string>
  /** Owner: members whose proposals to add or remove others it commits (config `proposers`). */
  readonly proposers: Set<string>
  /** Config `admins`: the owner may lease them; a joiner also sends them its key package and takes their Welcome. */
  readonly admins: Set<string>
  /** Member: it asked for its own update, not yet applied (the proposal is resent until it is). */
  wantUpdate: boolean
  lastUpdateSentAt: number
  /** Config `updateSeconds` in ms: a self-update this often (undefined: only when asked). */
  readonly updateEveryMs: number | undefined
  /** When this node last started a self-update (or opened). */
  lastSelfUpdateAt: number
  /** Owner: `vlan add` / `vlan remove` over the config's list, stored so a restart keeps them. */
  readonly changes: { added: Set<string>; removed: Set<string> }
  /** The latest key package from each peer that sent one (owner; admin for `vlan add` under a lease). */
  readonly heldKeyPackages: Map<string, Uint8Array>
  /** Owner: the Welcome sent to each member it added, by the key package it answered (sent again if that key package comes again). */
  readonly welcomes: Map<string, { keyPackage: Uint8Array; welcome: Uint8Array }>
  /** Member while joining: the key package it sends and its secret. */
  keyPackage: { keyPackage: Uint8Array; secret: Uint8Array } | undefined
  lastKeyPackageAt: number
  readonly epochs: EpochChange
  readonly catchUp: CatchUp
  readonly allowances: ProposalAllowances
  /** Serialises this VLAN's group operations with the switch changes that follow them. */
  queue: Promise<unknown>
  readonly counters: MlsVlanCounters
  /** The config's hook for a joiner's key package (joining by invitation), if any. */
  readonly sendKeyPackage: MlsVlanSpec['sendKeyPackage']
  /** Closed (`MlsVlanNode.close`): operations still queued are refused, records no longer written. */
  closed: boolean
}

export const toHex = (b: Uint8Array) =>
  Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
export const fromHex = (h: string) =>
  Uint8Array.from(h.match(/../g) ?? [], (x) => Number.parseInt(x, 16))
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Keys nobody holds: a VLAN waiting for its Welcome, or whose member was removed, seals and opens nothing anyone else can. */
export function noKeys(): VlanEpochKeys {
  const secret = crypto.getRandomValues(new Uint8Array(32))
  return { kind: 'psk', epoch: 0, secrets: derivePskEpochSecrets(secret) }
}

/** A VLAN as `MlsVlanNode.open` starts it: joining, no group yet, the config's sets. */
export function newVlan(spec: MlsVlanSpec, now: number): Vlan {
  return {
    name: spec.name,
    vlanId: spec.vlanId,
    vlanIdHex: toHex(spec.vlanId),
    ownerPeerId: spec.owner,
    isOwner: spec.isOwner,
    state: 'joining',
    group: undefined,
    admitted: new Set(spec.members),
    proposers: new Set(spec.proposers),
    admins: new Set(spec.admins),
    wantUpdate: false,
    lastUpdateSentAt: 0,
    updateEveryMs: spec.updateSeconds === undefined ? undefined : spec.updateSeconds * 1000,
    lastSelfUpdateAt: now,
    changes: { added: new Set(), removed: new Set() },
    heldKeyPackages: new Map(),
    welcomes: new Map(),
    keyPackage: undefined,
    lastKeyPackageAt: 0,
    epochs: new EpochChange(),
    catchUp: new CatchUp(),
    allowances: new ProposalAllowances(),
    queue: Promise.resolve(),
    counters: emptyCounters(),
    sendKeyPackage: spec.sendKeyPackage,
    closed: false,
  }
}

/**
 * What the parts of the protocol share: the node's ports, identity and
 * storage, its VLANs, the time of the call being handled (`now`, read
 * when used: a group operation that awaits sees the time of the call that
 * resumed it, as one object would) and whether it was stopped.
 */
export class VlanContext {
  readonly ports: MlsVlanPorts
  readonly identity: NodeIdentity
  readonly storage: StateStorage
  readonly vlans = new Map<string, Vlan>()
  readonly byId = new Map<string, Vlan>()
  now: number
  stopped = false
  #wokeAt: number | undefined

  constructor(params: {
    readonly ports: MlsVlanPorts
    readonly identity: NodeIdentity
    readonly storage: StateStorage
    readonly now: number
  }) {
    this.ports = params.ports
    this.identity = params.identity
    this.storage = params.storage
    this.now = params.now
  }

  log(level: LogLevel, fields: Record<string, unknown>, message: string): void {
    this.ports.log(level, fields, message)
  }

  /** Tells the caller when `tick` next has something to do, if that changed. */
  wake(): void {
    const at = this.stopped ? undefined : this.nextDeadline()
    if (at === this.#wokeAt) return
    this.#wokeAt = at
    this.ports.wakeAt?.(at)
  }

  /** After a tick: the caller's request was used, so the next `wake` tells it again. */
  woke(): void {
    this.#wokeAt = undefined
  }

  /** When `tick` next has an epoch change or a catch-up retry to carry out (undefined: none). */
  nextDeadline(): number | undefined {
    let next: number | undefined
    for (const vlan of this.vlans.values())
      for (const t of [vlan.epochs.nextDeadline(), vlan.catchUp.nextDeadline()])
        if (t !== undefined && (next === undefined || t < next)) next = t
    return next
  }

  /**
   * Runs `job` after the VLAN's earlier group operations (a failure does
   * not stop the queue); refused (`mls-unknown-vlan`) once the VLAN is
   * closed, so nothing queued acts for it afterwards.
   */
  run<T>(vlan: Vlan, job: () => Promise<T>): Promise<T> {
    const next = vlan.queue.then(() => {
      if (vlan.closed) throw new MlsError('mls-unknown-vlan', `VLAN ${vlan.name} was closed`)
      return job()
    })
    vlan.queue = next.catch(() => undefined)
    return next
  }

  /** The VLAN a command names; without a name, the one this node owns (or its only one). */
  vlan(name: string | undefined): Vlan {
    if (name === undefined) {
      const owned = [...this.vlans.values()].filter((v) => v.isOwner)
      if (owned.length === 1) return owned[0]!
      if (owned.length === 0 && this.vlans.size === 1) return [...this.vlans.values()][0]!
      throw new Error('name the VLAN (this node owns several, or has several MLS VLANs)')
    }
    const vlan = this.vlans.get(name)
    if (vlan === undefined) throw new MlsError('mls-unknown-vlan', `no MLS VLAN ${name}`)
    return vlan
  }

  peerText(bytes: Uint8Array): string {
    return this.ports.peerIdText(bytes)
  }

  selfPeerId(): string {
    return this.peerText(this.identity.peerId)
  }

  /** Whether `peer` is a member of the VLAN's group now. */
  isMember(vlan: Vlan, peer: string): boolean {
    const group = vlan.group
    if (group === undefined || group.removed) return false
    let bytes: Uint8Array
    try {
      bytes = this.ports.peerIdBytes(peer)
    } catch {
      return false
    }
    return group.members().some((m) => equal(m.peerId, bytes))
  }

  /** A member's group, or an error saying why it has none. */
  memberGroup(vlan: Vlan): VlanGroup {
    const group = vlan.group
    if (group === undefined || group.removed || vlan.state !== 'member') {
      throw new Error(`this node is not a member of VLAN ${vlan.name} (${vlan.state})`)
    }
    return group
  }

  /** The VLAN's epoch and members (PeerId text), for answers and status. */
  summary(vlan: Vlan) {
    const group = vlan.group
    return {
      epoch: group === undefined || group.removed ? undefined : Number(group.epoch),
      members:
        group === undefined || group.removed
          ? []
          : group.members().map((m) => this.peerText(m.peerId)),
    }
  }
}
