/**
 * The spanning tree over relay identities (docs/design.md §6, the seed's CRST;
 * normative: spec 12-relay.md §7). Relays that link to each other in loops
 * agree on one loop-free tree of relay-relay links; frames and propagated
 * subscriptions cross only tree links (and every link to a node, which is
 * always an edge link). The duplicate cache (spec 09 §6) stays as the
 * safety net while the tree converges.
 *
 * A distance-vector tree in the manner of 802.1D/802.1w, on point-to-point
 * links only:
 *
 *   1. Every relay sends each tree neighbour its vector (root, cost, age)
 *      and whether that neighbour is its parent, every `helloSeconds` and at
 *      once when the vector or the parent changes.
 *   2. The root is the lowest relay identity heard (byte order of the
 *      PeerId's text); the parent is the neighbour offering the best path to
 *      it: lowest (root, cost + link cost, neighbour id). A neighbour whose
 *      parent is this relay offers nothing (poisoned reverse).
 *   3. A neighbour's vector counts for `holdSeconds` after it arrives; a
 *      path longer than `maxAge` hops or dearer than `maxCost` is no path.
 *      Together they end a ghost root (one that has gone, or never existed)
 *      however the vectors circle.
 *   4. A relay-relay link is in the tree iff one end is the other's parent.
 *      Both ends learn that from the same two messages, so they agree.
 *
 * Pure: no I/O and no timers; the caller passes the time in seconds, hands
 * received payloads to `receive`, sends what `outgoing` returns, and calls
 * `tick` a few times a second. Every call that can change the tree returns
 * the links that entered and left it.
 */
import {
  DEFAULT_TREE_HELLO_SECONDS,
  DEFAULT_TREE_HOLD_SECONDS,
  DEFAULT_TREE_MAX_AGE,
  DEFAULT_TREE_MAX_COST,
  DEFAULT_TREE_MESSAGES_PER_SECOND,
  MAX_TREE_ID_LENGTH,
  MAX_TREE_LINK_COST,
  TREE_FLAG_PARENT,
  TREE_FLAG_SYNC,
  TREE_HEADER_LENGTH,
  TREE_SEND_BURST,
  TREE_SENDS_PER_SECOND,
  TREE_VERSION,
} from './constants.ts'
import { RelayError } from './errors.ts'
import { TokenBucket } from './token-bucket.ts'

/** The body of a tree message (spec 12-relay.md §7.2). */
export interface TreeMessage {
  /** The root the sender uses: the lowest relay identity it has heard. */
  readonly root: string
  /** The sender's path cost to the root (0 at the root). */
  readonly cost: number
  /** Hops from the root to the sender (0 at the root). */
  readonly age: number
  /** The receiver is the sender's parent. */
  readonly parent: boolean
  /**
   * The sender has just taken the link into the tree; its subscription
   * snapshot follows this message, and it asks for the receiver's (§7.4).
   * Absent means false.
   */
  readonly sync?: boolean
}

/** Why a received tree message was dropped (spec 12-relay.md §7.2). */
export const TREE_DROP_REASONS = [
  'malformed',
  'version',
  'rate',
  'not-tree-neighbour',
  'false-root',
] as const
export type TreeDropReason = (typeof TREE_DROP_REASONS)[number]

export type DecodedTreeMessage =
  | { readonly ok: true; readonly message: TreeMessage }
  | { readonly ok: false; readonly reason: 'malformed' | 'version' }

// base58btc, the alphabet of PeerIds' text form.
const ID_CHAR = /^[1-9A-HJ-NP-Za-km-z]+$/

function validId(id: string): boolean {
  return id.length >= 1 && id.length <= MAX_TREE_ID_LENGTH && ID_CHAR.test(id)
}

/**
 * `version u8 ‖ flags u8 ‖ age u8 ‖ cost u32 ‖ rootLength u8 ‖ root`
 * (spec 12-relay.md §7.2). Throws RelayError for a message that cannot be
 * encoded (the caller's own state, never a peer's).
 */
export function encodeTreeMessage(message: TreeMessage): Uint8Array {
  const { root, cost, age } = message
  if (!validId(root)) throw new RelayError('invalid-argument', 'tree root: a PeerId text')
  if (!(Number.isInteger(cost) && cost >= 0 && cost <= 0xffff_ffff))
    throw new RelayError('invalid-argument', 'tree cost: a u32')
  if (!(Number.isInteger(age) && age >= 0 && age <= 0xff))
    throw new RelayError('invalid-argument', 'tree age: a u8')
  const out = new Uint8Array(TREE_HEADER_LENGTH + root.length)
  const view = new DataView(out.buffer)
  out[0] = TREE_VERSION
  out[1] = (message.parent ? TREE_FLAG_PARENT : 0) | (message.sync === true ? TREE_FLAG_SYNC : 0)
  out[2] = age
  view.setUint32(3, cost)
  out[7] = root.length
  for (let i = 0; i < root.length; i++) out[TREE_HEADER_LENGTH + i] = root.charCodeAt(i)
  return out
}

/**
 * Decodes a tree message; never throws and never reads out of bounds. A
 * version other than 1 is `version`; a short body, trailing bytes, an empty
 * or over-long root, or a root that is not base58btc text is `malformed`.
 * Unknown flag bits are ignored (room for later versions).
 */
export function decodeTreeMessage(bytes: Uint8Array): DecodedTreeMessage {
  if (bytes.length < 1) return { ok: false, reason: 'malformed' }
  if (bytes[0] !== TREE_VERSION) return { ok: false, reason: 'version' }
  if (bytes.length < TREE_HEADER_LENGTH) return { ok: false, reason: 'malformed' }
  const length = bytes[7]!
  if (length === 0 || length > MAX_TREE_ID_LENGTH || bytes.length !== TREE_HEADER_LENGTH + length)
    return { ok: false, reason: 'malformed' }
  let root = ''
  for (let i = 0; i < length; i++) root += String.fromCharCode(bytes[TREE_HEADER_LENGTH + i]!)
  if (!ID_CHAR.test(root)) return { ok: false, reason: 'malformed' }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    ok: true,
    message: {
      root,
      cost: view.getUint32(3),
      age: bytes[2]!,
      parent: (bytes[1]! & TREE_FLAG_PARENT) !== 0,
      sync: (bytes[1]! & TREE_FLAG_SYNC) !== 0,
    },
  }
}

export interface SpanningTreeOptions {
  /** This relay's identity (its PeerId text). */
  readonly self: string
  /** Seconds between periodic messages to each tree neighbour. Default 1. */
  readonly helloSeconds?: number
  /** Seconds a neighbour's message counts after it arrives. Default 3. */
  readonly holdSeconds?: number
  /** Largest hop count from the root that is still a path. Default 16. */
  readonly maxAge?: number
  /** Largest root path cost that is still a path. Default 10 000. */
  readonly maxCost?: number
  /**
   * Tree messages per second (and burst) taken from one neighbour. Default
   * 40; keep it at 40 or more, as neighbours send up to TREE_SENDS_PER_SECOND
   * (20) a second in bursts of TREE_SEND_BURST (40).
   */
  readonly messagesPerSecond?: number
}

/** Links that entered and left the tree in one call. */
export interface TreeChange {
  readonly entered: readonly string[]
  readonly left: readonly string[]
}

/**
 * A tree neighbour's link: `parent` (toward the root), `child` (the
 * neighbour's parent is this relay), or `blocked` (no frame and no
 * subscription crosses it).
 */
export type TreeLinkRole = 'parent' | 'child' | 'blocked'

export interface TreeCounters {
  /** Tree messages received from tree neighbours, dropped or not. */
  messagesIn: number
  /** Tree messages handed to the caller to send. */
  messagesOut: number
  /** Received messages dropped, per reason. */
  drops: Record<TreeDropReason, number>
  /** Messages whose path was no path: over `maxCost` with the link's cost, or over `maxAge` hops. */
  overCost: number
  overAge: number
  /** Neighbour vectors that lapsed (no message for `holdSeconds`). */
  infoExpired: number
  /** Times the set of tree links changed. */
  topologyChanges: number
  rootChanges: number
  parentChanges: number
  /** Messages that were due but waited for the next `outgoing`: over this relay's send pace. */
  sendsHeld: number
  /** Subscription snapshots asked for (`outgoing` entries with `snapshot` set). */
  snapshots: number
  /** Messages the caller could not send and handed back (`unsent`), to go again. */
  unsent: number
}

export interface TreeLinkStatus {
  readonly id: string
  readonly cost: number
  readonly role: TreeLinkRole
  /** The neighbour's last vector while it counts, else null. */
  readonly heard: {
    readonly root: string
    readonly cost: number
    readonly age: number
    readonly parent: boolean
    readonly secondsAgo: number
  } | null
}

export interface TreeStatus {
  readonly self: string
  readonly root: string
  readonly isRoot: boolean
  readonly cost: number
  readonly age: number
  readonly parent: string | null
  readonly treeLinks: readonly string[]
  readonly blockedLinks: readonly string[]
  readonly links: readonly TreeLinkStatus[]
  readonly counters: TreeCounters
}

/** A message for the caller to send on CONTROL channel 8 to `neighbour`. */
export interface TreeOutgoing {
  readonly neighbour: string
  readonly payload: Uint8Array
  /**
   * Send the neighbour this relay's subscription snapshot right after the
   * message, on the same ordered queue (spec 12-relay.md §7.4): the link
   * has entered the tree here, or the neighbour took it in and asked.
   */
  readonly snapshot: boolean
  /** The message asks for the neighbour's snapshot (the sync flag). */
  readonly sync: boolean
}

interface Heard {
  readonly root: string
  readonly cost: number
  readonly age: number
  readonly parent: boolean
  readonly at: number
}

interface TreeNeighbour {
  readonly id: string
  cost: number
  heard: Heard | undefined
  readonly bucket: TokenBucket
  /** This relay's send pace toward it. */
  readonly pace: TokenBucket
  /** When the last message went to it, and what it said. */
  sentAt: number
  sent: string
  /** The link entered the tree here: the next message asks for the neighbour's snapshot. */
  sync: boolean
  /** The next message is followed by this relay's snapshot. */
  snapshot: boolean
}

export class SpanningTree {
  readonly self: string
  readonly helloSeconds: number
  readonly holdSeconds: number
  readonly maxAge: number
  readonly maxCost: number
  readonly counters: TreeCounters
  readonly #rate: number
  readonly #neighbours = new Map<string, TreeNeighbour>()
  #root: string
  #cost = 0
  #age = 0
  #parent: string | undefined = undefined
  #tree = new Set<string>()

  constructor(options: SpanningTreeOptions) {
    if (!validId(options.self))
      throw new RelayError('invalid-option', 'self: a PeerId text (base58btc, 1 to 128 chars)')
    this.self = options.self
    this.#root = options.self
    this.helloSeconds = positive(options.helloSeconds ?? DEFAULT_TREE_HELLO_SECONDS, 'helloSeconds')
    this.holdSeconds = positive(options.holdSeconds ?? DEFAULT_TREE_HOLD_SECONDS, 'holdSeconds')
    if (this.holdSeconds <= this.helloSeconds)
      throw new RelayError('invalid-option', 'holdSeconds must exceed helloSeconds')
    this.maxAge = integer(options.maxAge ?? DEFAULT_TREE_MAX_AGE, 'maxAge', 1, 255)
    this.maxCost = integer(options.maxCost ?? DEFAULT_TREE_MAX_COST, 'maxCost', 1, 0xffff_ffff)
    this.#rate = positive(
      options.messagesPerSecond ?? DEFAULT_TREE_MESSAGES_PER_SECOND,
      'messagesPerSecond',
    )
    this.counters = {
      messagesIn: 0,
      messagesOut: 0,
      drops: { malformed: 0, version: 0, rate: 0, 'not-tree-neighbour': 0, 'false-root': 0 },
      overCost: 0,
      overAge: 0,
      infoExpired: 0,
      topologyChanges: 0,
      rootChanges: 0,
      parentChanges: 0,
      sendsHeld: 0,
      snapshots: 0,
      unsent: 0,
    }
  }

  get root(): string {
    return this.#root
  }
  /** Path cost to the root (0 at the root). */
  get cost(): number {
    return this.#cost
  }
  /** The tree neighbour toward the root, or undefined at the root. */
  get parent(): string | undefined {
    return this.#parent
  }

  /** Whether `id` is a tree neighbour (a relay-relay link that takes part). */
  has(id: string): boolean {
    return this.#neighbours.has(id)
  }

  /** Whether frames and subscriptions may cross the link to `id`: any edge link, or a tree link. */
  forwards(id: string): boolean {
    return !this.#neighbours.has(id) || this.#tree.has(id)
  }

  /** Whether the link to `id` is a tree neighbour's link that is not in the tree. */
  blocked(id: string): boolean {
    return this.#neighbours.has(id) && !this.#tree.has(id)
  }

  /**
   * A relay-relay link came up (or its cost changed). It starts blocked
   * and joins the tree once the two ends have exchanged messages; a
   * message goes to it at the next `outgoing`.
   */
  addNeighbour(id: string, cost: number, now: number): TreeChange {
    if (!validId(id)) throw new RelayError('invalid-argument', 'neighbour: a PeerId text')
    integer(cost, 'cost', 1, MAX_TREE_LINK_COST)
    if (id === this.self) throw new RelayError('invalid-argument', 'neighbour: not self')
    const known = this.#neighbours.get(id)
    if (known !== undefined) known.cost = cost
    else
      this.#neighbours.set(id, {
        id,
        cost,
        heard: undefined,
        bucket: new TokenBucket(this.#rate, this.#rate, now),
        pace: new TokenBucket(TREE_SENDS_PER_SECOND, TREE_SEND_BURST, now),
        sentAt: Number.NEGATIVE_INFINITY,
        sent: '',
        sync: false,
        snapshot: false,
      })
    return this.#recompute(now)
  }

  /** The link to `id` went down: its vector goes at once. */
  removeNeighbour(id: string, now: number): TreeChange {
    if (!this.#neighbours.delete(id)) return NO_CHANGE
    return this.#recompute(now)
  }

  /**
   * A tree message (CONTROL channel 8 payload) from `from`. Malformed ones,
   * ones over the neighbour's rate, and ones from a peer that is not a tree
   * neighbour are dropped and counted; never throws.
   */
  receive(from: string, payload: Uint8Array, now: number): TreeChange {
    this.counters.messagesIn++
    const n = this.#neighbours.get(from)
    if (n === undefined) {
      this.counters.drops['not-tree-neighbour']++
      return NO_CHANGE
    }
    n.bucket.refill(now)
    if (!n.bucket.take(1)) {
      this.counters.drops.rate++
      return NO_CHANGE
    }
    const decoded = decodeTreeMessage(payload)
    if (!decoded.ok) {
      this.counters.drops[decoded.reason]++
      return NO_CHANGE
    }
    const m = decoded.message
    // Cost or age 0 says "I am the root": only under the sender's own
    // identity. A neighbour may still claim a lower root behind itself
    // (§7.3, Ghosts), but not be one under another name.
    if ((m.cost === 0 || m.age === 0) && m.root !== from) {
      this.counters.drops['false-root']++
      return NO_CHANGE
    }
    n.heard = { root: m.root, cost: m.cost, age: m.age, parent: m.parent, at: now }
    if (!m.parent) {
      if (m.cost + n.cost > this.maxCost) this.counters.overCost++
      else if (m.age + 1 > this.maxAge) this.counters.overAge++
    }
    const change = this.#recompute(now)
    // The neighbour took the link in, and its snapshot follows. If that
    // took the link in here too, nothing more to ask for; if it was in the
    // tree here already, what this relay sent when it entered may have
    // reached the neighbour while it held the link blocked: send it again.
    // (Blocked here: both go when it enters.)
    if (m.sync === true && this.#tree.has(from)) {
      if (change.entered.includes(from)) n.sync = false
      n.snapshot = true
    }
    return change
  }

  /** Lets vectors that have not been renewed for `holdSeconds` lapse. Call a few times a second. */
  tick(now: number): TreeChange {
    return this.#recompute(now)
  }

  /**
   * The messages due now: to each tree neighbour whose last message is
   * `helloSeconds` old or no longer says what this relay would say now, or
   * that is owed a snapshot; at most TREE_SENDS_PER_SECOND (burst as many)
   * to one neighbour, the rest wait for a later call (`sendsHeld`).
   */
  outgoing(now: number): TreeOutgoing[] {
    const out: TreeOutgoing[] = []
    for (const n of this.#neighbours.values()) {
      const parent = this.#parent === n.id
      const key = `${this.#root} ${this.#cost} ${this.#age} ${parent}`
      if (
        !n.sync &&
        !n.snapshot &&
        key === n.sent &&
        now - n.sentAt < this.helloSeconds &&
        now >= n.sentAt
      )
        continue
      n.pace.refill(now)
      if (!n.pace.take(1)) {
        this.counters.sendsHeld++
        continue
      }
      const { sync, snapshot } = n
      n.sync = false
      n.snapshot = false
      n.sent = key
      n.sentAt = now
      if (snapshot) this.counters.snapshots++
      out.push({
        neighbour: n.id,
        payload: encodeTreeMessage({
          root: this.#root,
          cost: this.#cost,
          age: this.#age,
          parent,
          sync,
        }),
        snapshot,
        sync,
      })
    }
    this.counters.messagesOut += out.length
    return out
  }

  /**
   * The caller could not send `o` (the link's control queue was full, or
   * the link went): it goes again on a later `outgoing`, with the state of
   * then, still asking for the neighbour's snapshot if it asked, and still
   * owing this relay's. The caller must not send the snapshot meanwhile:
   * the neighbour may not yet take the link as in the tree.
   */
  unsent(o: TreeOutgoing): void {
    const n = this.#neighbours.get(o.neighbour)
    if (n === undefined) return
    n.sent = ''
    if (o.sync && this.#tree.has(n.id)) n.sync = true
    if (o.snapshot && this.#tree.has(n.id)) n.snapshot = true
    this.counters.unsent++
  }

  /** The role of a tree neighbour's link, or undefined for any other peer (an edge link). */
  role(id: string): TreeLinkRole | undefined {
    if (!this.#neighbours.has(id)) return undefined
    if (this.#parent === id) return 'parent'
    return this.#tree.has(id) ? 'child' : 'blocked'
  }

  status(now: number): TreeStatus {
    const links: TreeLinkStatus[] = []
    for (const n of this.#neighbours.values()) {
      const h = n.heard
      links.push({
        id: n.id,
        cost: n.cost,
        role: this.role(n.id)!,
        heard:
          h === undefined
            ? null
            : {
                root: h.root,
                cost: h.cost,
                age: h.age,
                parent: h.parent,
                secondsAgo: Math.max(0, now - h.at),
              },
      })
    }
    return {
      self: this.self,
      root: this.#root,
      isRoot: this.#root === this.self,
      cost: this.#cost,
      age: this.#age,
      parent: this.#parent ?? null,
      treeLinks: [...this.#tree].sort(),
      blockedLinks: links
        .filter((l) => l.role === 'blocked')
        .map((l) => l.id)
        .sort(),
      links,
      counters: this.counters,
    }
  }

  #recompute(now: number): TreeChange {
    // Vectors lapse after holdSeconds (a clock that went back keeps them).
    for (const n of this.#neighbours.values()) {
      if (n.heard !== undefined && now - n.heard.at >= this.holdSeconds) {
        n.heard = undefined
        this.counters.infoExpired++
      }
    }
    // Best path: lowest (root, cost, neighbour id); this relay itself is (self, 0).
    let root = this.self
    let cost = 0
    let age = 0
    let parent: string | undefined
    for (const n of this.#neighbours.values()) {
      const h = n.heard
      if (h === undefined || h.parent) continue // poisoned reverse: its path runs through us
      const c = h.cost + n.cost
      const a = h.age + 1
      if (c > this.maxCost || a > this.maxAge) continue
      if (
        h.root < root ||
        (h.root === root && (c < cost || (c === cost && parent !== undefined && n.id < parent)))
      ) {
        root = h.root
        cost = c
        age = a
        parent = n.id
      }
    }
    if (root !== this.#root) this.counters.rootChanges++
    if (parent !== this.#parent) this.counters.parentChanges++
    this.#root = root
    this.#cost = cost
    this.#age = age
    this.#parent = parent
    // Tree links: our parent, and each neighbour whose parent we are.
    const tree = new Set<string>()
    for (const n of this.#neighbours.values())
      if (n.id === parent || n.heard?.parent === true) tree.add(n.id)
    const entered: string[] = []
    const left: string[] = []
    for (const id of tree) if (!this.#tree.has(id)) entered.push(id)
    for (const id of this.#tree) if (!tree.has(id)) left.push(id)
    this.#tree = tree
    if (entered.length === 0 && left.length === 0) return NO_CHANGE
    // A link that enters: its next message asks for the neighbour's
    // snapshot and is followed by this relay's. One that leaves owes none.
    for (const id of entered) {
      const n = this.#neighbours.get(id)!
      n.sync = true
      n.snapshot = true
    }
    for (const id of left) {
      const n = this.#neighbours.get(id)
      if (n === undefined) continue
      n.sync = false
      n.snapshot = false
    }
    this.counters.topologyChanges++
    return { entered, left }
  }
}

const NO_CHANGE: TreeChange = Object.freeze({ entered: [], left: [] })

function positive(value: number, name: string): number {
  if (!(typeof value === 'number' && value > 0 && Number.isFinite(value)))
    throw new RelayError('invalid-option', `${name}: a positive number`)
  return value
}

function integer(value: number, name: string, min: number, max: number): number {
  if (!(Number.isInteger(value) && value >= min && value <= max))
    throw new RelayError('invalid-option', `${name}: an integer from ${min} to ${max}`)
  return value
}
