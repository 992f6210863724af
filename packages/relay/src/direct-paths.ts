/**
 * Relayed traffic moves to a direct path when one opens (issue 6; spec
 * 12-relay.md §8.1). A neighbour B reached by a control link through a
 * relay's circuit (08-trunk.md §5.5) may get a datagram path punched
 * through both NATs (13-datagram-link.md §4.1). While that path is up:
 *
 * - B subscribes its own unicast VFTs at A over that link (never its group
 *   VFTs: a relay carries those for every member behind it);
 * - A sends frames under those VFTs that fit the path to B directly, and
 *   not to a relay (no copy both ways); frames over the path MTU keep going
 *   through the relay, as does everything while the path is down.
 *
 * The choice is made per frame at send time from the path's state, so the
 * switch to the direct path and back loses nothing the paths deliver and
 * sends no frame twice. Pure selection: no I/O, nothing stored per frame.
 * It reads the node's links through a narrow port (`DirectPathLinks`),
 * which @peertap/trunk's `Trunk` and `Link` satisfy, so this package does
 * not depend on the trunk.
 */
import { FLAG_RECEIVE } from './constants.ts'
import type { ForwardingTable, Frame } from './table.ts'

/** What DirectPaths reads of a link; the trunk's `Link` is one (spec 08-trunk.md §5.5). */
export interface DirectPathLink {
  /** The neighbour's PeerId: the table's neighbour id. */
  readonly id: string
  /** A control link through a relay's circuit (spec 08-trunk.md §5.5). */
  readonly relayed: boolean
  /** A datagram link is a punched path when `relayed` (spec 13-datagram-link.md §4.1). */
  readonly kind: 'stream' | 'datagram'
  readonly status: 'up' | 'down'
  /** Largest sealed payload the link carries in one frame. */
  readonly mtu: number
  /** The neighbour's role from its HELLO (spec 08-trunk.md §4.1). */
  readonly hello: { readonly remoteRole: 'node' | 'relay' }
}

/** The node's links by neighbour; the trunk's `Trunk` is one. */
export interface DirectPathLinks<L extends DirectPathLink = DirectPathLink> {
  /** The preferred link to the neighbour, if any. */
  getLink(id: string): L | undefined
  /** Every link, one per neighbour. */
  links(): Iterable<L>
}

export interface DirectPathCounters {
  /** Frames sent to a neighbour on its punched path instead of through a relay. */
  framesDirect: number
  /** Copies not sent to a relay because a direct path carried the frame. */
  relayCopiesSaved: number
  /** Frames for a direct neighbour whose path was down: left to the relay. */
  framesViaRelayPathDown: number
  /** Frames over the punched path's MTU: left to the relay. */
  framesViaRelayTooLarge: number
  /** Direct SUBs refused: for a VFT this node holds (a group VFT). */
  subscriptionsRefused: number
  /** Times a punched path came up or went down, as seen when sending. */
  pathUps: number
  pathDowns: number
}

export class DirectPaths<L extends DirectPathLink = DirectPathLink> {
  readonly counters: DirectPathCounters = {
    framesDirect: 0,
    relayCopiesSaved: 0,
    framesViaRelayPathDown: 0,
    framesViaRelayTooLarge: 0,
    subscriptionsRefused: 0,
    pathUps: 0,
    pathDowns: 0,
  }
  readonly #links: DirectPathLinks<L>
  readonly #table: ForwardingTable
  readonly #up = new Set<string>()

  constructor(links: DirectPathLinks<L>, table: ForwardingTable) {
    this.#links = links
    this.#table = table
  }

  /** The neighbour's punched path, if it is a control-link neighbour whose datagram path is up. */
  path(id: string): L | undefined {
    const link = this.#links.getLink(id)
    return link?.relayed && link.kind === 'datagram' && link.status === 'up' ? link : undefined
  }

  /** The links whose punched path came up since the last call (to subscribe on); counts ups and downs. */
  refresh(): L[] {
    const now = new Map<string, L>()
    for (const link of this.#links.links())
      if (this.path(link.id) !== undefined) now.set(link.id, link)
    const risen = [...now.values()].filter((link) => !this.#up.has(link.id))
    this.counters.pathUps += risen.length
    for (const id of this.#up) if (!now.has(id)) this.counters.pathDowns++
    this.#up.clear()
    for (const id of now.keys()) this.#up.add(id)
    return risen
  }

  /**
   * Whether a SUB from a control link may enter the table: never for a VFT
   * we hold (a group VFT, which relays carry for every member). Its path
   * need not be up yet (the other side may validate first): `select` sends
   * only while it is.
   */
  accepts(vfts: readonly Uint8Array[], holds: (vft: Uint8Array) => boolean): boolean {
    if (vfts.some(holds)) {
      this.counters.subscriptionsRefused++
      return false
    }
    return true
  }

  /**
   * The frames the table routed to `neighbour` that go on `link`: for a
   * control-link neighbour, those that fit its up path (none while it is
   * down); for any other neighbour, all but those a direct path carries.
   */
  select(neighbour: string, link: DirectPathLink, frames: Frame[], now: number): Frame[] {
    if (link.relayed) {
      const path = this.path(neighbour)
      if (path === undefined) {
        this.counters.framesViaRelayPathDown += frames.length
        return []
      }
      const fit = frames.filter((f) => f.sealed.length <= path.mtu)
      this.counters.framesViaRelayTooLarge += frames.length - fit.length
      this.counters.framesDirect += fit.length
      return fit
    }
    if (link.hello.remoteRole !== 'relay' || !this.#anyUp()) return frames
    const kept = frames.filter((f) => !this.#carriedDirectly(f, now))
    this.counters.relayCopiesSaved += frames.length - kept.length
    return kept
  }

  #anyUp(): boolean {
    for (const link of this.#links.links()) if (this.path(link.id) !== undefined) return true
    return false
  }

  /** Whether a direct path takes this frame (the same test `select` makes for that neighbour). */
  #carriedDirectly(frame: Frame, now: number): boolean {
    for (const sub of this.#table.lookup(frame.vft, now)) {
      if ((sub.flags & FLAG_RECEIVE) === 0) continue
      const path = this.#links.getLink(sub.neighbour)
      if (path?.relayed !== true) continue
      const up = this.path(sub.neighbour)
      if (up !== undefined && frame.sealed.length <= up.mtu) return true
    }
    return false
  }
}
