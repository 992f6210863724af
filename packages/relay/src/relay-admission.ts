/**
 * A relay's rules for whom it deals with and what it passes on (spec
 * 12-relay.md §2, §3, §7.4, §12.4; 14-roles.md §14.3):
 *
 * - admission: the table's allow and deny lists, `open` for the rest; and
 *   fabric credentials: a SUB whose proof is under a current fabric
 *   credential key admits the peer at the other end of the link until the
 *   proof's expiry, checked at the peer's proof-check rate (never a proof a
 *   relay passes on, and never from a peer calling itself a relay); the
 *   keys follow the fabrics' epochs (`setFabricKeys`), and a key retired
 *   ends the admissions it made at once;
 * - whose PeerId a SUB's proof speaks for: from a configured neighbour
 *   relay, the original subscriber named in it; from anyone else, whatever
 *   role its HELLO claims, the peer at the other end of the link;
 * - propagation of what the table accepted to the admitted neighbours
 *   (`Propagation`), and the UNSUBs that follow UNSUB, departure, expiry
 *   and the end of a credential;
 * - the spanning tree (`SpanningTree`): SUBs and frames cross a relay-relay
 *   link only while it is in the tree; its messages go out before anything
 *   that follows from a change (one ordered control queue per link), what
 *   came over links that left is withdrawn before the snapshots for links
 *   that entered go out.
 *
 * Pure: no I/O, no timers (`now` in seconds is an argument). Links are
 * reached through a narrow port (`RelayLinks`, `RelayLink`) that
 * @peertap/trunk's `Trunk` and `Link` satisfy; logs go to `events`.
 */
import {
  decodeMembershipProof,
  type MembershipProofRejection,
  type ProofVerifier,
} from '@peertap/crypto'
import { admitSubscription } from './admit.ts'
import { CAP_SPANNING_TREE, DEFAULT_TREE_LINK_COST } from './constants.ts'
import { hex } from './hash.ts'
import { originBudget, type PropagatedMessage, Propagation } from './propagation.ts'
import type { SpanningTree, TreeChange } from './spanning-tree.ts'
import type { SubscriptionMessage } from './subscription-proofs.ts'
import type { ForwardingTable, SubscribeResult, SubscriptionEntry } from './table.ts'
import { TokenBucket } from './token-bucket.ts'

/** What the relay's rules need of a link; the trunk's `Link` is one. */
export interface RelayLink {
  readonly id: string
  /** The neighbour's role and capabilities from its HELLO (spec 08-trunk.md §4.1). */
  readonly hello: { readonly remoteRole: 'node' | 'relay'; readonly remoteCapabilities: number }
  /** Queues a SUB (or, with `unsubscribe`, an UNSUB) on the link's control queue; false if refused. */
  sendSubscription(sub: SubscriptionMessage, unsubscribe?: boolean): boolean
  /** Queues a CONTROL message (spec 08-trunk.md §4.6); false if refused. */
  sendControl(control: { channel: number; payload: Uint8Array }): boolean
}

/** The relay's links by neighbour; the trunk's `Trunk` is one. */
export interface RelayLinks<L extends RelayLink = RelayLink> {
  getLink(id: string): L | undefined
  links(): Iterable<L>
}

/** What happened, for the caller's logs and side effects. All optional. */
export interface RelayAdmissionEvents {
  /** A peer newly admitted by fabric credential (the caller may start its datagram path). */
  credentialAdmitted?(id: string, until: number): void
  credentialRefused?(id: string, reason: string): void
  credentialEnded?(id: string): void
  /** SUB entries the table refused. */
  entriesRefused?(id: string, reason: string, count: number): void
  /** The tree changed which links it takes (entered or left non-empty). */
  treeChanged?(change: TreeChange): void
  /** A relay link the tree cannot carry (its id is not base58btc text): an edge link then. */
  treeLeftOut?(id: string, error: unknown): void
  /** A propagated SUB or UNSUB the link took. */
  propagated?(message: PropagatedMessage): void
}

export interface RelayAdmissionInit<L extends RelayLink = RelayLink> {
  readonly table: ForwardingTable
  readonly links: RelayLinks<L>
  /** Verified proofs, remembered: a renewal is not verified again (spec 07 §4, 09 §3). */
  readonly verifier: ProofVerifier
  /** Admit any peer not denied (docs/spec/14-roles.md §14.3: closed unless configured open). */
  readonly open: boolean
  /** The relays the config names: trusted to pass subscriptions on. */
  readonly relays: Iterable<string>
  /** Peers the config allows (allow list and relays): a credential's end does not close them. */
  readonly allowed: Iterable<string>
  /**
   * Fabric credential keys (hex of an Ed25519 public key) whose proofs admit
   * their peer, at start; `setFabricKeys` changes them (spec 12 §12.4).
   */
  readonly fabricKeys?: Iterable<string>
  /** Proof checks per second and burst for credentials, per peer; default unlimited. */
  readonly proofChecksPerSecond?: number
  readonly proofCheckBurst?: number
  /** A neighbour's PeerId as multihash bytes (what its own proofs speak for). */
  readonly peerIdOf: (id: string) => Uint8Array
  /** The spanning tree over relay identities, if enabled. */
  readonly tree?: SpanningTree
  /** The CONTROL channel the tree's messages go on (spec 08 §4.6.1). */
  readonly treeChannel: number
  /** The tree's link cost to a neighbour relay (default DEFAULT_TREE_LINK_COST). */
  readonly treeCost?: (id: string) => number
  readonly events?: RelayAdmissionEvents
}

/** Relay-level counters of subscriptions, credentials and the tree (spec 09 §9.8). */
export interface RelayAdmissionCounters {
  subsReceived: number
  unsubsReceived: number
  /** SUB entries accepted into the table (new or renewed). */
  subEntriesAccepted: number
  /** SUB entries refused (the table's subscriptionDrops say why). */
  subEntriesRefused: number
  /** Why membership proofs were refused (spec 07 §4). */
  proofRejections: Record<MembershipProofRejection, number>
  /** Propagated SUB and UNSUB messages sent, and their entries. */
  subsPropagated: number
  unsubsPropagated: number
  entriesPropagated: number
  /** Propagated messages the link refused (control queue full or link down). */
  propagationDropped: number
  /** Fabric credentials (proofs under a configured MVLAN key) that admitted a peer. */
  credentialsAccepted: number
  /** Fabric credentials refused: invalid, or over the peer's proof-check rate. */
  credentialsRefused: number
  /** Admissions by credential that ended (credential expired, its key retired, or the peer left). */
  credentialsEnded: number
  /** Of those, admissions ended because their fabric credential key was retired (a rotation, a root removed). */
  credentialsRetired: number
  /** SUBs and UNSUBs received on a link that is not in the tree, ignored. */
  subsBlocked: number
  /** Tree messages the link refused (control queue full or link down). */
  treeSendDropped: number
}

export class RelayAdmission<L extends RelayLink = RelayLink> {
  readonly counters: RelayAdmissionCounters = {
    subsReceived: 0,
    unsubsReceived: 0,
    subEntriesAccepted: 0,
    subEntriesRefused: 0,
    proofRejections: {
      malformed: 0,
      'wrong-peer': 0,
      'wrong-window': 0,
      'bad-expiry': 0,
      expired: 0,
      'bad-key': 0,
      'bad-signature': 0,
    },
    subsPropagated: 0,
    unsubsPropagated: 0,
    entriesPropagated: 0,
    propagationDropped: 0,
    credentialsAccepted: 0,
    credentialsRefused: 0,
    credentialsEnded: 0,
    credentialsRetired: 0,
    subsBlocked: 0,
    treeSendDropped: 0,
  }
  /** What this relay passes on to each neighbour (spec 12 §3). */
  readonly propagation: Propagation
  readonly #init: RelayAdmissionInit<L>
  readonly #table: ForwardingTable
  readonly #relays: ReadonlySet<string>
  readonly #allowed: ReadonlySet<string>
  #fabricKeys: ReadonlySet<string>
  /** Peers admitted by a fabric credential: until when, per credential key (hex). */
  readonly #credentialed = new Map<string, Map<string, number>>()
  readonly #credentialChecks = new Map<string, TokenBucket>()
  #neighbours: ReadonlySet<string> | undefined

  constructor(init: RelayAdmissionInit<L>) {
    this.#init = init
    this.#table = init.table
    this.#relays = new Set(init.relays)
    this.#allowed = new Set(init.allowed)
    this.#fabricKeys = lowerCase(init.fabricKeys ?? [])
    this.propagation = new Propagation({
      relays: (id) => this.#relays.has(id) && init.links.getLink(id)?.hello.remoteRole === 'relay',
      // What one origin may make the relay hold for propagation: its table
      // limit (spec 12 §12.3.1); configured relays carry many origins' SUBs.
      budget: (id) =>
        this.#relays.has(id)
          ? { subscriptions: Number.POSITIVE_INFINITY, proofBytes: Number.POSITIVE_INFINITY }
          : originBudget(this.#table.limitsOf(id).maxSubscriptions),
    })
  }

  /** Whether the table admits this peer (allow list, deny list, open): only those hear propagated SUBs. */
  admitted(id: string): boolean {
    const access = this.#table.access(id)
    return access === 'allow' || (access === 'default' && this.#init.open)
  }

  /** Until when a fabric credential admits the peer, if one does. */
  credentialUntil(id: string): number | undefined {
    const keys = this.#credentialed.get(id)
    return keys === undefined ? undefined : Math.max(...keys.values())
  }

  /** The credential keys (hex) that admit the peer now. */
  credentialKeysOf(id: string): string[] {
    return [...(this.#credentialed.get(id)?.keys() ?? [])]
  }

  /** Peers admitted by a fabric credential now. */
  credentialed(): string[] {
    return [...this.#credentialed.keys()]
  }

  /** The fabric credential keys (lower-case hex) that admit now. */
  get fabricKeys(): ReadonlySet<string> {
    return this.#fabricKeys
  }

  /**
   * The fabric credential keys from now on (spec 12 §12.4: the current
   * epochs' keys of the configured roots). A peer admitted only under keys
   * no longer among them is no longer admitted, at once, as when its
   * credential expires: what it subscribed to is withdrawn from the others
   * (counted as `credentialsRetired`). Returns the peers whose admission ended.
   */
  setFabricKeys(keys: Iterable<string>, now: number): string[] {
    this.#fabricKeys = lowerCase(keys)
    const ended: string[] = []
    for (const [id, held] of [...this.#credentialed]) {
      for (const key of [...held.keys()]) if (!this.#fabricKeys.has(key)) held.delete(key)
      if (held.size > 0) continue
      this.counters.credentialsRetired++
      this.#endCredential(id, now)
      ended.push(id)
    }
    return ended
  }

  /** Whether frames and SUBs may cross the link: always, but for a relay-relay link out of the tree. */
  forwards(id: string): boolean {
    const tree = this.#init.tree
    return tree === undefined || tree.forwards(id)
  }

  /**
   * Whether the link is a tree link candidate: HELLO role relay, the tree
   * capability, and a relay the config names (trusted to pass SUBs on). Any
   * other link is an edge link, which always forwards.
   */
  inTree(link: L): boolean {
    return (
      link.hello.remoteRole === 'relay' &&
      (link.hello.remoteCapabilities & CAP_SPANNING_TREE) !== 0 &&
      this.#relays.has(link.id)
    )
  }

  /**
   * Neighbours that hear propagated SUBs: admitted, and not a blocked
   * relay-relay link. One Set while they stay the same (Propagation derives
   * what it needs from it once), made again after anything that changes
   * them: a link up or down, an admission by credential begun or ended, a
   * change of the tree.
   */
  neighbours(): ReadonlySet<string> {
    this.#neighbours ??= new Set(
      [...this.#init.links.links()]
        .map((l) => l.id)
        .filter((id) => this.admitted(id) && this.forwards(id)),
    )
    return this.#neighbours
  }

  /** A SUB or UNSUB from a neighbour: admission, the table, propagation of what it accepted. */
  onSubscription(sub: SubscriptionMessage, unsubscribe: boolean, link: L, now: number): void {
    const table = this.#table
    if (!this.forwards(link.id)) {
      this.counters.subsBlocked++
      return
    }
    if (unsubscribe) {
      this.counters.unsubsReceived++
      table.unsubscribe(link.id, sub.entries)
      this.#send(this.propagation.forget(link.id, sub.entries, this.neighbours(), now))
      return
    }
    this.#checkCredential(sub, link, now)
    this.counters.subsReceived++
    let result: SubscribeResult
    let key: Uint8Array | undefined
    let expiresAt = now + Math.min(sub.ttl, table.maxTtlSeconds)
    if (sub.proof !== undefined) {
      const decoded = decodeMembershipProof(sub.proof)
      const admitted = admitSubscription(table, {
        neighbour: link.id,
        peerId: this.#subscriber(link, decoded),
        entries: sub.entries,
        ttlSeconds: sub.ttl,
        now,
        proof: sub.proof,
        verifier: this.#init.verifier,
      })
      if (admitted.proofRejection !== undefined)
        this.counters.proofRejections[admitted.proofRejection]++
      result = admitted
      if (decoded.ok) {
        key = decoded.proof.publicKey
        expiresAt = Math.min(expiresAt, decoded.proof.expiry)
      }
    } else {
      result = table.subscribe(link.id, sub.entries, sub.ttl, now)
    }
    this.counters.subEntriesAccepted += result.added + result.refreshed
    this.counters.subEntriesRefused += result.rejected
    if (result.rejected > 0)
      this.#init.events?.entriesRefused?.(link.id, result.reason ?? 'refused', result.rejected)
    if (result.added + result.refreshed === 0) return
    const accepted = this.#acceptedEntries(link.id, sub.entries, result, now, key)
    const verified =
      sub.proof !== undefined && key !== undefined
        ? { proof: sub.proof, provingKey: key }
        : undefined
    this.#send(
      this.propagation.learn(link.id, accepted, verified, expiresAt, this.neighbours(), now),
    )
  }

  /** A link came up: into the tree if it is a tree link (blocked until it joins), else its snapshot. */
  linkUp(link: L, now: number): void {
    this.#neighbours = undefined
    const tree = this.#init.tree
    if (tree !== undefined && this.inTree(link)) {
      // A relay-relay link starts blocked; it gets the snapshot when it joins the tree.
      let change: TreeChange | undefined
      try {
        change = tree.addNeighbour(
          link.id,
          this.#init.treeCost?.(link.id) ?? DEFAULT_TREE_LINK_COST,
          now,
        )
      } catch (error) {
        this.#init.events?.treeLeftOut?.(link.id, error)
      }
      if (change !== undefined) {
        this.#applyTree(change, now)
        return
      }
    }
    if (this.admitted(link.id)) this.#send(this.propagation.snapshotFor(link.id, now))
  }

  /** A link went down: its subscriptions withdrawn, its credential ended, the tree told. */
  linkDown(id: string, now: number): void {
    this.#neighbours = undefined
    this.#table.removeNeighbour(id)
    this.#credentialChecks.delete(id)
    this.#endCredential(id, now)
    this.#send(this.propagation.removeNeighbour(id, this.neighbours(), now))
    const tree = this.#init.tree
    if (tree?.has(id)) this.#applyTree(tree.removeNeighbour(id, now), now)
  }

  /** A spanning-tree message from a neighbour (CONTROL on the tree channel). */
  onTreeMessage(from: string, payload: Uint8Array, now: number): void {
    const tree = this.#init.tree
    if (tree !== undefined) this.#applyTree(tree.receive(from, payload, now), now)
  }

  /** The once-a-second tick: credentials, table and propagation expiry, and the UNSUBs that follow. */
  expire(now: number): void {
    for (const [id, held] of [...this.#credentialed]) {
      for (const [key, until] of [...held]) if (until <= now) held.delete(key)
      if (held.size === 0) this.#endCredential(id, now)
    }
    this.#table.expire(now)
    this.#send(this.propagation.expire(this.neighbours(), now))
  }

  /** The tree's tick (every 100 ms): neighbour vectors lapse, hellos go out. */
  treeTick(now: number): void {
    const tree = this.#init.tree
    if (tree !== undefined) this.#applyTree(tree.tick(now), now)
  }

  /**
   * Whose PeerId a SUB's proof speaks for: from a configured neighbour
   * relay, the original subscriber, named in it; from anyone else (whatever
   * role its HELLO claims), the peer at the other end of the link, so nobody
   * can replay a member's proof by calling itself a relay.
   */
  #subscriber(link: L, decoded: ReturnType<typeof decodeMembershipProof>): Uint8Array {
    const passedOn = link.hello.remoteRole === 'relay' && this.#relays.has(link.id) && decoded.ok
    return passedOn && decoded.ok ? decoded.proof.peerId : this.#init.peerIdOf(link.id)
  }

  /** The entries of a SUB that the table now holds for `from` (under `key` if given). */
  #acceptedEntries(
    from: string,
    entries: readonly SubscriptionEntry[],
    result: SubscribeResult,
    now: number,
    key: Uint8Array | undefined,
  ): SubscriptionEntry[] {
    if (result.rejected === 0) return [...entries]
    return entries.filter((e) =>
      this.#table
        .lookup(e.vft, now)
        .some(
          (s) =>
            s.neighbour === from &&
            s.flags === e.flags &&
            (key === undefined || (s.provingKey !== undefined && equal(s.provingKey, key))),
        ),
    )
  }

  /**
   * A SUB whose proof is under a fabric key is the peer's fabric credential
   * (12-relay.md §12.4): checked at the peer's proof-check rate, then
   * verified for the peer itself (never for a proof a relay passes on), it
   * admits the peer until the proof's expiry.
   */
  #checkCredential(sub: SubscriptionMessage, link: L, now: number): void {
    const table = this.#table
    if (this.#fabricKeys.size === 0 || sub.proof === undefined || link.hello.remoteRole === 'relay')
      return
    if (table.access(link.id) === 'deny') return
    const decoded = decodeMembershipProof(sub.proof)
    if (!decoded.ok) return
    const key = hex(decoded.proof.publicKey)
    if (!this.#fabricKeys.has(key)) return
    let bucket = this.#credentialChecks.get(link.id)
    if (bucket === undefined) {
      const rate = this.#init.proofChecksPerSecond ?? Number.POSITIVE_INFINITY
      bucket = new TokenBucket(rate, this.#init.proofCheckBurst ?? rate, now)
      this.#credentialChecks.set(link.id, bucket)
    }
    const checks = bucket
    // A renewal under a credential verified before costs no token and no signature.
    const verdict = this.#init.verifier.verify({
      proof: sub.proof,
      peerId: this.#init.peerIdOf(link.id),
      now: Math.floor(now),
      beforeSignature: () => {
        checks.refill(now)
        return checks.take(1)
      },
    })
    if (!verdict.ok) {
      this.counters.credentialsRefused++
      this.#init.events?.credentialRefused?.(link.id, verdict.reason)
      return
    }
    const wasAdmitted = this.admitted(link.id)
    let held = this.#credentialed.get(link.id)
    if (held === undefined) {
      held = new Map()
      this.#credentialed.set(link.id, held)
    }
    held.set(key, Math.max(held.get(key) ?? 0, verdict.proof.expiry))
    if (table.access(link.id) === 'default') table.setAccess(link.id, 'allow')
    this.#neighbours = undefined
    this.counters.credentialsAccepted++
    if (!wasAdmitted) {
      this.#init.events?.credentialAdmitted?.(link.id, verdict.proof.expiry)
      this.#send(this.propagation.snapshotFor(link.id, now))
    }
  }

  /** Ends an admission by credential: the table then drops the peer's state unless it is admitted otherwise. */
  #endCredential(id: string, now: number): void {
    if (!this.#credentialed.delete(id)) return
    this.counters.credentialsEnded++
    if (!this.#allowed.has(id) && this.#table.access(id) === 'allow')
      this.#table.setAccess(id, 'default')
    this.#neighbours = undefined
    // No longer admitted: what it subscribed to is withdrawn from the others now, not at expiry.
    if (!this.admitted(id)) this.#send(this.propagation.removeNeighbour(id, this.neighbours(), now))
    this.#init.events?.credentialEnded?.(id)
  }

  /**
   * A change of the tree: its messages go out before anything that follows
   * from it, so a neighbour learns that a link joined the tree before the
   * SUBs that cross it arrive (one ordered control queue per link). The
   * tree says which neighbours get this relay's snapshot after its message
   * (a link that entered, or a neighbour that took one in and asked, §7.4).
   */
  #applyTree(change: TreeChange, now: number): void {
    const tree = this.#init.tree
    if (tree === undefined) return
    // Links enter or leave the tree only with a change: only then may `forwards` differ.
    if (change.entered.length > 0 || change.left.length > 0) this.#neighbours = undefined
    const snapshots: string[] = []
    for (const o of tree.outgoing(now)) {
      const link = this.#init.links.getLink(o.neighbour)
      if (
        link === undefined ||
        !link.sendControl({ channel: this.#init.treeChannel, payload: o.payload })
      ) {
        // Not sent: the tree sends it again later, with its sync request;
        // no snapshot before it, which the neighbour might drop.
        this.counters.treeSendDropped++
        tree.unsent(o)
        continue
      }
      if (o.snapshot) snapshots.push(o.neighbour)
    }
    // Links that left first: what came over them is withdrawn before the
    // snapshots go out.
    for (const id of change.left) {
      this.#table.removeNeighbour(id)
      this.#send(this.propagation.removeNeighbour(id, this.neighbours(), now))
    }
    for (const id of snapshots)
      if (this.admitted(id)) this.#send(this.propagation.snapshotFor(id, now))
    if (change.left.length > 0 || change.entered.length > 0)
      this.#init.events?.treeChanged?.(change)
  }

  #send(messages: PropagatedMessage[]): void {
    for (const m of messages) {
      const link = this.#init.links.getLink(m.neighbour)
      const sub: SubscriptionMessage =
        m.proof === undefined
          ? { ttl: m.ttl, entries: m.entries }
          : { ttl: m.ttl, entries: m.entries, proof: m.proof }
      if (link === undefined || !link.sendSubscription(sub, m.unsubscribe)) {
        this.counters.propagationDropped++
        continue
      }
      if (m.unsubscribe) this.counters.unsubsPropagated++
      else this.counters.subsPropagated++
      this.counters.entriesPropagated += m.entries.length
      this.#init.events?.propagated?.(m)
    }
  }
}

function lowerCase(keys: Iterable<string>): ReadonlySet<string> {
  return new Set([...keys].map((k) => k.toLowerCase()))
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
