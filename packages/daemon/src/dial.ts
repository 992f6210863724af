import { setTimeout as sleep } from 'node:timers/promises'
import type { Trunk } from '@peertap/trunk'
import type { Logger } from 'pino'

/**
 * Keeps neighbours dialled: each address (a multiaddr ending in
 * /p2p/<PeerId>) is dialled at once and again while its link is down,
 * until it is removed or the dialler stopped. The waits after a dial
 * start at an eighth of `intervalMs` and double up to it (0.25, 0.5, 1,
 * then every 2 s by default), and start small again once the link has
 * been up: a neighbour that is starting or restarting, whose first dial
 * is refused, is reached within a fraction of a second rather than after
 * a whole interval, and one that is away costs a dial per interval.
 * Addresses come and go at run time (a VLAN joined names its owner's),
 * each one loop.
 */
export class Dialler {
  readonly #trunk: Trunk
  readonly #log: Logger
  readonly #intervalMs: number
  /** The addresses dialled now, each with the controller that ends its loop. */
  readonly #loops = new Map<string, AbortController>()

  constructor(trunk: Trunk, log: Logger, intervalMs = 2_000) {
    this.#trunk = trunk
    this.#log = log
    this.#intervalMs = intervalMs
  }

  /** Starts keeping `address` dialled; an address already kept is left as it is. */
  add(address: string): void {
    if (this.#loops.has(address)) return
    const stop = new AbortController()
    this.#loops.set(address, stop)
    void this.#loop(address, stop.signal)
  }

  /** Stops dialling `address` (a link it made stays up). */
  remove(address: string): void {
    this.#loops.get(address)?.abort()
    this.#loops.delete(address)
  }

  /** The addresses kept dialled now. */
  addresses(): string[] {
    return [...this.#loops.keys()]
  }

  stop(): void {
    for (const address of [...this.#loops.keys()]) this.remove(address)
  }

  async #loop(address: string, stopped: AbortSignal): Promise<void> {
    const peer = address.slice(address.lastIndexOf('/p2p/') + 5)
    const up = () => this.#trunk.getLink(peer)?.status === 'up'
    const first = Math.max(1, Math.floor(this.#intervalMs / 8))
    let wait = first
    while (!stopped.aborted) {
      if (!up()) {
        try {
          await this.#trunk.dial(address, {
            signal: AbortSignal.any([stopped, AbortSignal.timeout(10_000)]),
          })
        } catch (error) {
          if (!stopped.aborted)
            this.#log.debug({ address, err: (error as Error).message }, 'dial failed; retrying')
        }
      }
      let pause = this.#intervalMs
      if (up()) wait = first
      else {
        pause = wait
        wait = Math.min(wait * 2, this.#intervalMs)
      }
      await sleep(pause, undefined, { signal: stopped }).catch(() => undefined)
    }
  }
}

/**
 * Keeps the configured neighbours dialled (a {@link Dialler} of a fixed
 * list), until `stop()`.
 */
export function keepNeighboursDialled(
  trunk: Trunk,
  addresses: readonly string[],
  log: Logger,
  intervalMs = 2_000,
): { stop(): void } {
  const dialler = new Dialler(trunk, log, intervalMs)
  for (const address of addresses) dialler.add(address)
  return dialler
}
