/**
 * The relay's fast path (docs/spec/18-fast-path.md §18.5.4): DATA under a VFT
 * that arrives on one neighbour's datagram path and goes to exactly one
 * other neighbour over its datagram path is forwarded by the tap addon's
 * UDP reader thread (open the hop, check the window, seal the next hop,
 * send) without waking JavaScript. The forwarding table stays the
 * reference: an entry is installed only for what it just routed that way.
 * A change to a VFT's subscriptions drops that VFT's entries (the table
 * tells of the VFTs watched here), and any other change that could alter
 * a route (a link, the tree, a neighbour gone, an access or limit) clears
 * them all: so another neighbour's subscriptions coming and going, as many
 * identities at their limits make them, leave the members' routes in the
 * cache.
 *
 * Not installed (their frames stay with the table): a source with a frame
 * or byte rate limit (the table's token buckets count every frame), a VFT
 * with more than one receiver, a neighbour without a datagram path up. In
 * the cache, hop limits of 1 or less and payloads over the next path's size
 * or the table's `maxSealedLength` go up; a frame it forwarded before is
 * dropped and counted (its own duplicate cache).
 */

import {
  FlowCache,
  type FlowCacheStats,
  FlowCells,
  linkCounters,
  STATS_WORDS,
  StatsBlocks,
  startFastPath,
  UdpSocket,
  WINDOW_WORDS,
} from '@peertap/daemon'
import type { Forwarder, ForwardingTable, Frame } from '@peertap/relay'
import { DatagramLink, DGRAM_DATA_OVERHEAD, type Link } from '@peertap/trunk'
import type { Logger } from 'pino'
import type { RelayConfig } from './config.ts'

export interface RelayFastPathCounters extends FlowCacheStats {
  clears: number
  /** VFTs whose forward entries went because their subscriptions changed. */
  routeChanges: number
  links: Record<
    string,
    { datagramsSent: number; bytesSent: number; datagramsReceived: number; bytesReceived: number }
  >
}

export class RelayFastPath {
  readonly cells: FlowCells
  readonly #cache: FlowCache
  /** The neighbours each VFT (hex) was tried from since it last changed, installed or not. */
  readonly #tried = new Map<string, Set<string>>()
  readonly #hops = new Set<number>()
  readonly #links: StatsBlocks
  #clears = 0
  #routeChanges = 0
  /** The links the spanning tree blocked when last looked at (watchTree). */
  #blocked = ''

  constructor() {
    this.cells = new FlowCells()
    this.#cache = new FlowCache(this.cells)
    this.#links = new StatsBlocks(this.cells)
  }

  /** The datagram socket: the cache reads it and forwards on it. */
  attachSocket(socket: unknown): void {
    if (socket instanceof UdpSocket) this.#cache.attachUdp(socket)
  }

  /**
   * After the spanning tree moved (a message, a tick): clears the entries
   * when which links forward changed, as a link that left the tree, or an
   * edge link that became a blocked tree link, may no longer carry frames.
   */
  watchTree(
    links: readonly { readonly id: string }[],
    rules: { forwards(id: string): boolean },
  ): void {
    let signature = ''
    for (const link of links) if (!rules.forwards(link.id)) signature += `${link.id},`
    if (signature === this.#blocked) return
    this.#blocked = signature
    this.clear()
  }

  /**
   * Hears of the table's changes from now on: a VFT's drops its entries
   * (and its tries, so that its new route is tried again), any other change
   * clears them all.
   */
  watchTable(table: ForwardingTable): void {
    table.onWatchedChange = (vft) => {
      if (vft === undefined) {
        this.clear()
        return
      }
      const key = Buffer.from(vft.buffer, vft.byteOffset, vft.byteLength).toString('hex')
      if (!this.#tried.delete(key)) return
      this.#cache.removeForwards(vft)
      this.#routeChanges++
    }
  }

  /** Drops every entry (a route may have changed). */
  clear(): void {
    this.#cache.clear()
    this.cells.reclaim()
    this.#tried.clear()
    this.#hops.clear()
    this.#clears++
  }

  /**
   * After the forwarder routed a batch from `from` (its `batch` holds the
   * fan-out): installs the frames that went to exactly one neighbour, both
   * ends on datagram paths, from a source without rate limits.
   */
  afterForward(
    from: Link,
    frames: readonly Frame[],
    forwarder: Forwarder<Link>,
    links: { getLink(id: string): Link | undefined },
  ): void {
    if (!(from instanceof DatagramLink)) return
    const table = forwarder.table
    const batch = forwarder.batch
    if (batch.length === 0) return
    const limits = table.limitsOf(from.id)
    if (
      limits.framesPerSecond !== Number.POSITIVE_INFINITY ||
      limits.bytesPerSecond !== Number.POSITIVE_INFINITY
    )
      return
    // Outputs per frame: only frames with exactly one.
    const outputs = new Map<number, string | undefined>()
    for (let o = 0; o < batch.length; o++) {
      const out = batch.outputs[o]!
      for (let k = 0; k < out.count; k++) {
        const i = out.frames[k]!
        outputs.set(i, outputs.has(i) ? undefined : out.neighbour)
      }
    }
    for (const [i, neighbour] of outputs) {
      if (neighbour === undefined) continue
      const frame = frames[i]!
      const key = Buffer.from(frame.vft).toString('hex')
      let sources = this.#tried.get(key)
      if (sources?.has(from.id)) continue
      if (sources === undefined) {
        // Told once of its next change (watchTable), installed or not.
        if (!table.watch(frame.vft)) continue
        sources = new Set()
        this.#tried.set(key, sources)
      }
      sources.add(from.id)
      this.#install(from, frame.vft, neighbour, table, links)
    }
  }

  #install(
    from: DatagramLink,
    vft: Uint8Array,
    neighbour: string,
    table: ForwardingTable,
    links: { getLink(id: string): Link | undefined },
  ): void {
    const to = links.getLink(neighbour)
    if (!(to instanceof DatagramLink)) return
    const inPath = from.flowPath()
    const outPath = to.flowPath()
    if (inPath === undefined || outPath === undefined) return
    const inStats = this.#links.block(from.id)
    const outStats = this.#links.block(neighbour)
    // Cells past a full arena are the links' alone: that route stays with the table.
    const c = this.cells
    if (
      !c.shared(inPath.windowCell, WINDOW_WORDS) ||
      !c.shared(outPath.counterCell) ||
      !c.shared(inStats, STATS_WORDS) ||
      !c.shared(outStats, STATS_WORDS)
    )
      return
    if (!this.#hops.has(inPath.localIndex)) {
      this.#hops.add(inPath.localIndex)
      this.#cache.installHop({
        receiverIndex: inPath.localIndex,
        key: inPath.receiveKey,
        windowCell: inPath.windowCell,
        address: inPath.address,
        port: inPath.port,
        linkStats: inStats,
      })
    }
    this.#cache.installForward({
      inIndex: inPath.localIndex,
      vft,
      hopKey: outPath.sendKey,
      receiverIndex: outPath.remoteIndex,
      hopCounterCell: outPath.counterCell,
      address: outPath.address,
      port: outPath.port,
      payloadMax: Math.min(outPath.payloadMax, DGRAM_DATA_OVERHEAD + table.maxSealedLength),
      linkStats: outStats,
    })
  }

  /** DATA datagrams carried on a link so far, each way (its liveness checks count them). */
  activity(linkId: string): { sent: number; received: number } | undefined {
    return this.#links.activity(linkId)
  }

  counters(): RelayFastPathCounters {
    return {
      ...this.#cache.counters(),
      clears: this.#clears,
      routeChanges: this.#routeChanges,
      links: linkCounters(this.#links),
    }
  }
}

/** The relay's fast path, or undefined when it is off (@peertap/daemon's startFastPath says when). */
export function startRelayFastPath(
  config: Pick<RelayConfig, 'fastPath' | 'datagram'>,
  log: Pick<Logger, 'info' | 'warn'>,
  trace: boolean,
): RelayFastPath | undefined {
  return startFastPath(
    config,
    log,
    trace,
    'DATA routed to one neighbour is forwarded by the addon',
    () => new RelayFastPath(),
  )
}

/**
 * The relay's frame handler: a batch from a neighbour routed by the
 * forwarder (one sendFrames per neighbour of the fan-out), then offered to
 * the fast path; with `trace`, one line per batch with its fan-out and
 * drops.
 */
export function frameRouter(p: {
  forwarder: Forwarder<Link>
  trunk: { getLink(id: string): Link | undefined }
  fast: RelayFastPath | undefined
  scavenges: { note(bytes: number): void }
  log: Pick<Logger, 'trace'>
  trace: boolean
  now(): number
}): (frames: Frame[], link: Link) => void {
  const { forwarder, trunk, fast, scavenges, log, trace, now } = p
  const table = forwarder.table
  const dropsBefore: Record<string, number> = {}
  return (frames, link) => {
    if (trace) Object.assign(dropsBefore, table.counters.frameDrops)
    const bytesBefore = table.counters.bytesIn
    forwarder.forward(link.id, frames, now())
    fast?.afterForward(link, frames, forwarder, trunk)
    scavenges.note(table.counters.bytesIn - bytesBefore)
    if (trace) {
      const drops: Record<string, number> = {}
      for (const [reason, n] of Object.entries(table.counters.frameDrops)) {
        const d = n - (dropsBefore[reason] ?? 0)
        if (d > 0) drops[reason] = d
      }
      const batch = forwarder.batch
      const to = batch.outputs.slice(0, batch.length).map((o) => `${o.neighbour}:${o.count}`)
      log.trace({ from: link.id, frames: frames.length, to, drops }, 'route')
    }
  }
}
