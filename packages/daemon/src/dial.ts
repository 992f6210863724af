import { setTimeout as sleep } from 'node:timers/promises'
import type { Trunk } from '@peertap/trunk'
import type { Logger } from 'pino'

/**
 * Keeps neighbours dialled: each address (a multiaddr ending in
 * /p2p/<PeerId>) is dialled at once and again every `intervalMs` while its
 * link is down, until it is removed or the dialler stopped. Addresses come
 * and go at run time (a VLAN joined names its owner's), each one loop.
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
    while (!stopped.aborted) {
      if (this.#trunk.getLink(peer)?.status !== 'up') {
        try {
          await this.#trunk.dial(address, {
            signal: AbortSignal.any([stopped, AbortSignal.timeout(10_000)]),
          })
        } catch (error) {
          if (!stopped.aborted)
            this.#log.debug({ address, err: (error as Error).message }, 'dial failed; retrying')
        }
      }
      await sleep(this.#intervalMs, undefined, { signal: stopped }).catch(() => undefined)
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
