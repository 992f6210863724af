/**
 * Bringing up a PeerTap path to be measured, shared by the end-to-end bench
 * (index.ts) and the per-stage latency breakdown (stages.ts): a two-node
 * overlay, direct or through a relay R, on a transport, waited for until
 * it carries IPv6 (and, on the datagram link, until both nodes send on a
 * validated datagram path), and the warm-up every system gets before it is
 * measured.
 */
import type { Topology } from '@peertap/tool-netns'
import { Overlay, type OverlayOptions, RelayHost, waitForIpv6 } from '@peertap/tool-overlay'

/** What the bench runs commands with: a topology, or a system's own view of one. */
export interface Hosts {
  exec(host: string, argv: readonly string[], timeoutMs?: number): Promise<string>
  spawn: Topology['spawn']
}

/**
 * Brings the path to its steady state before anything is measured: a
 * daemon that has run for a while has its JavaScript optimised, a fresh one
 * runs it in V8's baseline tiers (the first pings across a new overlay took
 * 2 to 3 times longer here). A bounded flood ping (at most 3000 echoes, 3 s)
 * across the path under test, for every system alike, the bare underlay too.
 */
export async function warmUp(hosts: Hosts, address: string): Promise<void> {
  // ping exits 1 when a reply is missing (an impaired underlay loses some):
  // fine for a warm-up; a path that answers nothing fails the ping that follows.
  await hosts
    .exec('a', ['ping', '-f', '-q', '-c', '3000', '-w', '3', address], 30_000)
    .catch(() => '')
}

/** Waits until both nodes send on a validated datagram path (spec 13 §5). */
export async function waitForDatagram(overlay: Overlay, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (const node of overlay.nodes) {
    while ((await overlay.status(node.host)).neighbours[0]?.kind !== 'datagram') {
      if (Date.now() > deadline) throw new Error(`${node.host}: no datagram path`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

/** The overlay options of a datagram transport: `udp` on the batched socket, `udp-dgram` on node:dgram. */
export function datagramOptions(transport: 'udp' | 'udp-dgram'): OverlayOptions {
  return {
    transport: 'tcp',
    datagram: true,
    datagramSocket: transport === 'udp' ? 'batched' : 'dgram',
  }
}

/**
 * Starts nodes a and b with `options`, in the `relay` scenario each
 * reaching only a `peertap-relay` in R, and waits until the path carries
 * IPv6 and, with `datagram`, until both nodes send on the datagram link.
 * On failure whatever was started is stopped.
 */
export async function startPeertap(
  scenario: 'direct' | 'relay',
  options: OverlayOptions,
  datagram: boolean,
): Promise<{ overlay: Overlay; relay: RelayHost | undefined }> {
  // The relay takes the nodes' fastPath (docs/spec/18-fast-path.md) too.
  const relay =
    scenario === 'relay'
      ? new RelayHost(
          options.fastPath === undefined ? {} : { config: { fastPath: options.fastPath } },
        )
      : undefined
  const overlay = await Overlay.start({ ...options, ...(relay === undefined ? {} : { relay }) })
  try {
    await waitForIpv6(overlay)
    if (datagram) await waitForDatagram(overlay)
  } catch (error) {
    await overlay.stop()
    throw error
  }
  return { overlay, relay }
}
