import type { Trunk } from '@peertap/trunk'
import type { Logger } from 'pino'

/**
 * Keeps the configured neighbours dialled: each address (a multiaddr ending
 * in /p2p/<PeerId>) is dialled at once and again every `intervalMs` while
 * its link is down, until `stop()`.
 */
export function keepNeighboursDialled(
  trunk: Trunk,
  addresses: readonly string[],
  log: Logger,
  intervalMs = 2_000,
): { stop(): void } {
  let stopped = false
  const loop = async (address: string) => {
    const peer = address.slice(address.lastIndexOf('/p2p/') + 5)
    while (!stopped) {
      if (trunk.getLink(peer)?.status !== 'up') {
        try {
          await trunk.dial(address, { signal: AbortSignal.timeout(10_000) })
        } catch (error) {
          log.debug({ address, err: (error as Error).message }, 'dial failed; retrying')
        }
      }
      await new Promise((r) => setTimeout(r, intervalMs))
    }
  }
  for (const address of addresses) void loop(address)
  return {
    stop() {
      stopped = true
    },
  }
}
