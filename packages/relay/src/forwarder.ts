/**
 * The forward loop both daemons run (spec 09-forwarding.md §5; 12-relay.md
 * §7.4, §8.1): per received batch, the table's fan-out (`route`), then one
 * send per neighbour of it, skipping neighbours whose link has gone, links
 * the spanning tree blocks, and frames a punched path carries instead
 * (DirectPaths). And the subscriber cache a node's switch asks once per
 * unicast frame (10-switch.md: a unicast VFT nobody receives is flooded
 * under the group VFT instead), forgotten whenever the table changes.
 *
 * Pure: no I/O, no timers (`now` in seconds is an argument). Links are
 * reached through a narrow port (`ForwardLinks`, `ForwardLink`) that
 * @peertap/trunk's `Trunk` and `Link` satisfy, so this package does not
 * depend on the trunk. Table changes that may change what `hasReceiver`
 * answers go through the forwarder (`subscribe`, `unsubscribe`,
 * `removeNeighbour`, `setAccess`, `expire`), or are announced with
 * `invalidate()`.
 */
import { FLAG_RECEIVE } from './constants.ts'
import { RouteBatch } from './route-batch.ts'
import type { Access, ForwardingTable, Frame, SubscribeResult, SubscriptionEntry } from './table.ts'

/** What the forward loop needs of a link; the trunk's `Link` is one. */
export interface ForwardLink {
  /** The neighbour's PeerId: the table's neighbour id. */
  readonly id: string
  /** Queues frames for the neighbour; returns how many were taken. */
  sendFrames(frames: readonly Frame[]): number
}

/** The links by neighbour; the trunk's `Trunk` is one. */
export interface ForwardLinks<L extends ForwardLink = ForwardLink> {
  /** The preferred link to the neighbour, if any. */
  getLink(id: string): L | undefined
}

export interface ForwarderOptions<L extends ForwardLink = ForwardLink> {
  readonly table: ForwardingTable
  readonly links: ForwardLinks<L>
  /**
   * Whether frames may cross the link to or from this neighbour: the
   * spanning tree's verdict on relay-relay links (spec 12 §7.4). Default:
   * every link forwards.
   */
  readonly forwards?: (id: string) => boolean
  /**
   * The frames routed to `neighbour` that go on `link` (DirectPaths.select,
   * spec 12 §8.1). Default: all of them.
   */
  readonly select?: (neighbour: string, link: L, frames: Frame[], now: number) => Frame[]
}

/** This node's own VFTs, as its switch holds them: where frames under them are opened. */
export interface LocalDelivery<F extends Frame = Frame> {
  /** Whether this node holds the VFT. */
  holds(vft: Uint8Array): boolean
  /** Opens frames under VFTs this node holds (replay check, reassembly, the TAP). */
  receive(frames: F[], now: number): void
}

/** What `deliver` did with a batch. */
export interface Delivered {
  /** Frames under VFTs this node holds, opened here. */
  readonly held: number
  /** Sealed bytes in the batch. */
  readonly bytes: number
}

export interface ForwarderCounters {
  /** Copies the table routed to a neighbour whose link had gone by the time of sending. */
  dropNoLink: number
  /** Frames received on a link that does not forward (a blocked relay-relay link), dropped. */
  framesBlocked: number
  /** Copies the table routed to a link that does not forward, not sent (0 unless a race). */
  copiesBlocked: number
}

/** The forward loop and the subscriber cache over a table and the links. */
export class Forwarder<L extends ForwardLink = ForwardLink> {
  readonly counters: ForwarderCounters = { dropNoLink: 0, framesBlocked: 0, copiesBlocked: 0 }
  /** The fan-out of the last batch `forward` routed (for tracing); reused. */
  readonly batch = new RouteBatch()
  readonly table: ForwardingTable
  readonly #links: ForwardLinks<L>
  readonly #forwards: ((id: string) => boolean) | undefined
  readonly #select:
    | ((neighbour: string, link: L, frames: Frame[], now: number) => Frame[])
    | undefined
  #generation = 0
  // Per VFT object (a switch hands out one object per MAC and window).
  readonly #cache = new WeakMap<Uint8Array, { generation: number; has: boolean }>()

  constructor(options: ForwarderOptions<L>) {
    this.table = options.table
    this.#links = options.links
    this.#forwards = options.forwards
    this.#select = options.select
  }

  /** Whether frames may cross the link to or from this neighbour. */
  forwards(id: string): boolean {
    return this.#forwards === undefined || this.#forwards(id)
  }

  /**
   * Routes a batch from `from` (a neighbour, or the table's name for the
   * node itself) and sends each neighbour of the fan-out its frames in one
   * call. Frames from a neighbour whose link does not forward are dropped.
   */
  forward(from: string, frames: Frame[], now: number): void {
    if (!this.forwards(from)) {
      this.counters.framesBlocked += frames.length
      this.batch.begin()
      return
    }
    const batch = this.batch
    this.table.route(from, frames, now, batch)
    for (let o = 0; o < batch.length; o++) {
      const output = batch.outputs[o]!
      const link = this.#links.getLink(output.neighbour)
      if (link === undefined) {
        this.counters.dropNoLink += output.count
        continue
      }
      if (!this.forwards(output.neighbour)) {
        this.counters.copiesBlocked += output.count
        continue
      }
      let list: Frame[] = new Array(output.count)
      for (let i = 0; i < output.count; i++) list[i] = frames[output.frames[i]!]!
      if (this.#select !== undefined) list = this.#select(output.neighbour, link, list, now)
      if (list.length > 0) link.sendFrames(list)
    }
  }

  /**
   * A batch from a neighbour at a node (spec 09-forwarding.md §5): frames
   * under VFTs this node holds are opened here whatever their hop limit
   * (local delivery is not forwarding), and every frame goes on to the
   * other neighbours that receive it, unless `forwardOn` is false (split
   * horizon: with one neighbour there is nobody to forward to).
   */
  deliver(
    from: string,
    frames: Frame[],
    now: number,
    local: LocalDelivery,
    forwardOn: boolean,
  ): Delivered {
    let mine: Frame[] | undefined
    let bytes = 0
    for (const frame of frames) {
      bytes += frame.sealed.length
      if (local.holds(frame.vft)) {
        mine ??= []
        mine.push(frame)
      }
    }
    if (mine !== undefined) local.receive(mine, now)
    if (forwardOn) this.forward(from, frames, now)
    else this.batch.begin()
    return { held: mine?.length ?? 0, bytes }
  }

  /**
   * Whether some neighbour receives under `vft` (asked once per unicast
   * frame): cached per VFT object until the table changes.
   */
  hasReceiver(vft: Uint8Array, now: number): boolean {
    const known = this.knownReceiver(vft)
    if (known !== undefined) return known
    const has = this.table.lookup(vft, now).some((s) => (s.flags & FLAG_RECEIVE) !== 0)
    this.#cache.set(vft, { generation: this.#generation, has })
    return has
  }

  /**
   * `hasReceiver`'s cached answer if it is still good, else undefined: the
   * per-frame fast path, which needs no clock (`hasReceiver` then looks up).
   */
  knownReceiver(vft: Uint8Array): boolean | undefined {
    const cached = this.#cache.get(vft)
    return cached !== undefined && cached.generation === this.#generation ? cached.has : undefined
  }

  /** Forgets every cached answer of `hasReceiver`. */
  invalidate(): void {
    this.#generation++
  }

  /** `table.subscribe`, and the cache forgotten. */
  subscribe(
    neighbour: string,
    entries: readonly SubscriptionEntry[],
    ttlSeconds: number,
    now: number,
  ): SubscribeResult {
    this.invalidate()
    return this.table.subscribe(neighbour, entries, ttlSeconds, now)
  }

  /** `table.unsubscribe`, and the cache forgotten. */
  unsubscribe(neighbour: string, entries: readonly SubscriptionEntry[]): void {
    this.invalidate()
    this.table.unsubscribe(neighbour, entries)
  }

  /** `table.removeNeighbour`, and the cache forgotten. */
  removeNeighbour(neighbour: string): void {
    this.invalidate()
    this.table.removeNeighbour(neighbour)
  }

  /** `table.setAccess` (which may remove the neighbour's subscriptions), and the cache forgotten. */
  setAccess(neighbour: string, access: Access): void {
    this.invalidate()
    this.table.setAccess(neighbour, access)
  }

  /**
   * `table.expire`: the number of subscriptions reaped, and the cache
   * forgotten if any were, so the switch floods under the group VFT again
   * once the last receiver of a unicast VFT has lapsed (issue 16: the cache
   * outlived a neighbour's SUB until this node's own subscriptions changed).
   */
  expire(now: number): number {
    const reaped = this.table.expire(now)
    if (reaped > 0) this.invalidate()
    return reaped
  }
}
