/**
 * What the demo (demo.ts) uses besides the harness: its progress lines,
 * waiting, pings summed up in a line, iperf3 between two hosts, and the
 * IPv6 helpers the end-to-end tests share (exported by index.ts).
 */
import { NODE_ARGV, type Overlay, TAP } from './harness.ts'

export const say = (line = '') => process.stdout.write(`${line}\n`)

/** Prints a line per step with the time since the demo started: `[ 12.3 s] what`. */
export class Steps {
  readonly #started = Date.now()

  get seconds(): number {
    return (Date.now() - this.#started) / 1000
  }

  step(what: string): void {
    say(`[${this.seconds.toFixed(1).padStart(5)} s] ${what}`)
  }
}

/** Runs `peertap ARGS -s <host's state dir>` in the host's namespace; its stdout. */
export function peertap(
  overlay: Overlay,
  host: string,
  args: readonly string[],
  timeoutMs = 40_000,
): Promise<string> {
  const argv = [...NODE_ARGV, ...args, '-s', overlay.node(host).stateDir]
  return overlay.topo.exec(host, argv, timeoutMs)
}

/** Resolves with what `probe` gives once it gives something, polling every 200 ms. */
export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/**
 * `ping` from a host, summed up: '3/3 answered, rtt 1.2 ms avg'; with
 * `-6`-style options in `extra`. Never throws for lost pings.
 */
export async function ping(
  overlay: Overlay,
  host: string,
  address: string,
  count = 3,
  extra: readonly string[] = [],
): Promise<{ received: number; line: string }> {
  const args = [...extra, '-c', String(count), '-i', '0.2', '-W', '1', address]
  const out = await overlay.topo
    .exec(host, ['sh', '-c', `ping ${args.join(' ')} || true`], 30_000)
    .catch((e: Error) => e.message)
  const received = Number(/(\d+) received/.exec(out)?.[1] ?? 0)
  const avg = /= [\d.]+\/([\d.]+)\//.exec(out)?.[1]
  const rtt = avg === undefined ? '' : `, rtt ${avg} ms avg`
  return { received, line: `${received}/${count} answered${rtt}` }
}

/** The IPv6 link-local address the kernel derives from a MAC (EUI-64, RFC 4291 appendix A). */
export function linkLocal(mac: string): string {
  const b = mac.split(':').map((x) => Number.parseInt(x, 16))
  const eui = [b[0]! ^ 2, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!]
  const groups = [0, 2, 4, 6].map((i) => ((eui[i]! << 8) | eui[i + 1]!).toString(16))
  return `fe80::${groups.join(':')}`
}

/**
 * Waits until no IPv6 address on `device` (default the config's TAP) of
 * the `hosts` (default every node) is still tentative (DAD runs over the
 * overlay).
 */
export async function waitForIpv6(
  overlay: Overlay,
  timeoutMs = 10_000,
  device = TAP,
  hosts: readonly string[] = overlay.nodes.map((n) => n.host),
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (const host of hosts) {
    while (
      (
        await overlay.topo.exec(host, ['ip', '-6', 'addr', 'show', 'dev', device, 'tentative'])
      ).trim() !== ''
    ) {
      if (Date.now() > deadline) throw new Error(`IPv6 addresses on ${host} still tentative`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/** iperf3 TCP from a to `address` (`serverHost`, b by default, runs the server); Mbit/s received. */
export async function iperf(
  overlay: Overlay,
  address: string,
  seconds = 5,
  streams = 1,
  serverHost = 'b',
): Promise<number> {
  const server = overlay.topo.spawn(serverHost, ['iperf3', '-s', '-1', '-B', address])
  try {
    await new Promise((r) => setTimeout(r, 300))
    const out = await overlay.topo.exec(
      'a',
      ['iperf3', '-c', address, '-t', String(seconds), '-P', String(streams), '-J'],
      (seconds + 15) * 1000,
    )
    const result = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }
    return result.end.sum_received.bits_per_second / 1e6
  } finally {
    if (server.exitCode === null) server.kill('SIGTERM')
  }
}
