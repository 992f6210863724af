/**
 * What both daemons wire the same way for their fast path
 * (docs/spec/18-fast-path.md): the datagram link's options that share its
 * counters and windows and report changes, and the fast path's figures per
 * link added into the link's own counters for the status.
 */
import type { SharedCells } from '@peertap/crypto'
import type { DatagramLink, DatagramSocketFactory } from '@peertap/trunk'

/**
 * A daemon's fast path made by `make`, or undefined when it is off: by
 * config (`fastPath: false`), without the datagram link or its batched
 * socket, under `--trace` (which logs every frame, so frames go through
 * JavaScript), or without the addon (`make` throws). The log says which,
 * and what `carries` when it is on.
 */
export function startFastPath<F>(
  config: { readonly fastPath: boolean; readonly datagram: { enabled: boolean; socket: string } },
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void },
  trace: boolean,
  carries: string,
  make: () => F,
): F | undefined {
  const off = (why: string) => {
    log.info({ why }, 'fast path off')
    return undefined
  }
  if (!config.fastPath) return off('config fastPath: false')
  if (!config.datagram.enabled) return off('the datagram link is off')
  if (config.datagram.socket === 'dgram')
    return off('datagram.socket is dgram, not the batched socket')
  if (trace) return off('--trace logs every frame: they go through JavaScript')
  try {
    const fast = make()
    log.info({}, `fast path on: ${carries} (docs/spec/18-fast-path.md)`)
    return fast
  } catch (error) {
    log.warn({ err: (error as Error).message }, 'fast path off: the tap addon is not usable')
    return undefined
  }
}

/** The part of a daemon's fast path the datagram link options need. */
export interface FastPathPort {
  readonly cells: SharedCells
  /** The datagram socket, once open: the fast path reads and sends on it. */
  attachSocket(socket: unknown): void
  /** Drops every entry. */
  clear(): void
  /** DATA carried on a link so far, each way. */
  activity(linkId: string): { sent: number; received: number } | undefined
}

/**
 * The datagram link options for a fast path (none without one): the socket
 * handed to it once open, the shared cells, a clear on every change of a
 * link's path, and its activity for the links' liveness checks.
 */
export function fastDatagramOptions(
  fast: FastPathPort | undefined,
  socket: DatagramSocketFactory,
): {
  socket: DatagramSocketFactory
  cells?: SharedCells
  onFlowChange?: (link: DatagramLink) => void
  fastActivity?: (link: DatagramLink) => { sent: number; received: number } | undefined
} {
  if (fast === undefined) return { socket }
  return {
    socket: (bind) => {
      const s = socket(bind)
      fast.attachSocket(s)
      return s
    },
    cells: fast.cells,
    onFlowChange: () => fast.clear(),
    fastActivity: (link) => fast.activity(link.id),
  }
}

/** The part of the addon's FlowCells the stats blocks need. */
interface BlockCells {
  block(): number
  readBlock(index: number): [number, number, number, number]
}

/**
 * A stats block per key (a link's id, a VLAN's name) in a fast path's
 * cells, made on first use: what the cache counts, read back for the
 * status and for the links' liveness checks.
 */
export class StatsBlocks {
  readonly #cells: BlockCells
  readonly #blocks = new Map<string, number>()

  constructor(cells: BlockCells) {
    this.#cells = cells
  }

  /** The key's block (-1 when the arena is full: FlowCells.block). */
  block(key: string): number {
    let b = this.#blocks.get(key)
    if (b === undefined) {
      b = this.#cells.block()
      this.#blocks.set(key, b)
    }
    return b
  }

  /** Frames or datagrams sent and received under the key so far (undefined before its block). */
  activity(key: string): { sent: number; received: number } | undefined {
    const b = this.#blocks.get(key)
    if (b === undefined) return undefined
    const [sent, , received] = this.#cells.readBlock(b)
    return { sent, received }
  }

  /** Every key's four figures: sent, bytes sent, received, bytes received. */
  read(): Map<string, [number, number, number, number]> {
    const out = new Map<string, [number, number, number, number]>()
    for (const [key, b] of this.#blocks) out.set(key, this.#cells.readBlock(b))
    return out
  }
}

/** Each link's block read as FastLinkCounters. */
export function linkCounters(blocks: StatsBlocks): Record<string, FastLinkCounters> {
  const links: Record<string, FastLinkCounters> = {}
  for (const [id, [datagramsSent, bytesSent, datagramsReceived, bytesReceived]] of blocks.read())
    links[id] = { datagramsSent, bytesSent, datagramsReceived, bytesReceived }
  return links
}

/** DATA datagrams and bytes the fast path carried on one link, each way. */
export interface FastLinkCounters {
  datagramsSent: number
  bytesSent: number
  datagramsReceived: number
  bytesReceived: number
}

/**
 * A link's counters with what the fast path carried on it added in: frames
 * and datagrams (one frame per DATA datagram) and bytes, each way.
 */
export function withFastLink<C extends object>(counters: C, fast: FastLinkCounters | undefined): C {
  if (fast === undefined) return counters
  const c = { ...counters } as Record<string, unknown>
  const add = (name: string, v: number) => {
    if (typeof c[name] === 'number') c[name] = (c[name] as number) + v
  }
  add('framesSent', fast.datagramsSent)
  add('datagramsSent', fast.datagramsSent)
  add('bytesSent', fast.bytesSent)
  add('framesReceived', fast.datagramsReceived)
  add('datagramsReceived', fast.datagramsReceived)
  add('bytesReceived', fast.bytesReceived)
  return c as C
}
