/**
 * Debian's fastd beside PeerTap (tools/bench `--compare fastd`), in the same
 * topologies: `direct`, members a and b on one bridge, b dialling a; `relay`,
 * a and b on isolated bridge ports that reach only r, each dialling a fastd
 * hub in r. fastd is installed by tools/toolchain/system-tools.sh (Debian
 * package `fastd`, v22 on Debian 12); each run makes fresh keys.
 *
 * The configuration is fastd's defaults apart from what a setup must name:
 * - `method "salsa2012+umac"`: fastd has no default method, and its manual
 *   recommends this one for authenticated encryption. PeerTap encrypts
 *   every frame (AES-256-GCM), so the authenticated-only
 *   `null+salsa2012+umac` (recommended for authentication alone) would
 *   compare an overlay that encrypts with one that does not.
 * - `mode tap` (the default): one TAP device per daemon, Ethernet frames as
 *   PeerTap carries them.
 * - `mtu`: the overlay MTU PeerTap runs with (`--mtu`, default the node's, 1377), so
 *   that both carry the same inner packets (the same TCP MSS). fastd's
 *   default of 1500 would have its UDP packets fragmented by the underlay:
 *   its manual puts the overhead of TAP mode over IPv4 at 52 + 14 bytes, so
 *   on this 1500-byte underlay 1434 is the most that fits, and a larger
 *   `--mtu` is held to that.
 * - The hub in r: `mode tap` with `forward yes`, fastd's own forwarding.
 *   fastd learns which peer sends from which MAC address and sends a
 *   unicast frame for a known address straight to that peer (broadcasts
 *   and unknown addresses to every peer), decrypting and encrypting it
 *   again in userspace (PeerTap's relay, also in userspace, opens and
 *   seals only each hop's 17-byte header, the payload authenticated
 *   beside it and sealed end to end: docs/spec/13-datagram-link.md §2.1).
 *   In fastd v22 (src/receive.c) every received frame is also written to
 *   the hub's own TAP (up, no address; the kernel drops what is not for
 *   it): that write is part of fastd's cost as it ships. The alternative,
 *   `mode multitap` with the per-peer TAPs in a kernel bridge, makes the
 *   same TAP write and then a trip through the bridge and a TAP read per
 *   frame, and puts a Linux bridge, not fastd, in the forwarding decision.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sh, Topology } from '@peertap/tool-netns'

export const FASTD_METHOD = 'salsa2012+umac'
/** fastd's packet overhead in TAP mode over IPv4 with an encrypting method (fastd manual, MTU). */
const FASTD_OVERHEAD = 52 + 14
const UNDERLAY_MTU = 1500
const PORT = 10000
const IFACE = 'fastd0'
const SYSTEM_TOOLS = new URL('../../toolchain/system-tools.sh', import.meta.url)

export interface FastdParams {
  readonly scenario: 'direct' | 'relay'
  /** The overlay MTU to match (PeerTap's); held to what fits the underlay unfragmented. */
  readonly mtu: number
  /** Called with the underlay before fastd starts (the bench's delay line). */
  readonly underlay?: (topo: Topology) => Promise<void>
}

export interface FastdOverlay {
  readonly topo: Topology
  /** The TAP MTU fastd runs with. */
  readonly mtu: number
  /** A member's overlay IPv4 address (a or b). */
  address(host: 'a' | 'b'): string
  /** PIDs of every fastd process on the path (a, b and, through a relay, r). */
  readonly pids: number[]
  /** The hub's fastd (relay scenario). */
  readonly relayPid: number | undefined
  /** Ends every fastd process (by PID) and removes the namespaces and the key files. */
  stop(): Promise<void>
}

/**
 * Makes sure fastd is installed: when it is not on PATH, runs the project's
 * idempotent installer (tools/toolchain/system-tools.sh, which `npm run
 * bench` also runs through the bootstrap), so that the bench run directly
 * with node installs it too; fails saying so when it is still missing (not
 * root, or no apt-get).
 */
export async function ensureFastd(): Promise<void> {
  const found = () =>
    sh(['fastd', '--version']).then(
      () => true,
      () => false,
    )
  if (await found()) return
  await sh(['bash', fileURLToPath(SYSTEM_TOOLS)], 300_000)
  if (!(await found()))
    throw new Error('--compare fastd: fastd is not installed (tools/toolchain/system-tools.sh)')
}

/** The most a fastd TAP MTU can be on this underlay without IP fragments. */
export function fastdMtu(mtu: number): number {
  return Math.min(mtu, UNDERLAY_MTU - FASTD_OVERHEAD)
}

const MEMBERS = ['a', 'b'] as const
const overlayAddress = (host: 'a' | 'b') => `198.19.0.${MEMBERS.indexOf(host) + 1}`

/** Starts fastd on a (new) topology and waits until a reaches b across it. */
export async function startFastd(params: FastdParams): Promise<FastdOverlay> {
  const relay = params.scenario === 'relay'
  const topo = await Topology.create(
    relay ? { hosts: ['a', 'b', 'r'], isolated: true, hubs: ['r'] } : { hosts: ['a', 'b'] },
  )
  const dir = await mkdtemp(join(tmpdir(), 'peertap-fastd-'))
  const children = new Map<string, ChildProcess>()
  const log: string[] = []
  const mtu = fastdMtu(params.mtu)
  const stop = async () => {
    // Topology.destroy ends every process it spawned (by PID), then the namespaces.
    await topo.destroy()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await params.underlay?.(topo)
    const hosts = relay ? ['a', 'b', 'r'] : ['a', 'b']
    const keys = new Map<string, { secret: string; key: string }>()
    for (const host of hosts) {
      const secret = (await sh(['fastd', '--generate-key', '--machine-readable'])).trim()
      const key = (
        await sh(
          ['fastd', '--show-key', '--machine-readable', '--config', '-'],
          20_000,
          `secret "${secret}";\n`,
        )
      ).trim()
      keys.set(host, { secret, key })
    }
    /** Who each host knows, and whom it dials (a peer without `remote` is accepted, not dialled). */
    const peersOf = (host: string): Array<{ name: string; dial: boolean }> =>
      relay
        ? host === 'r'
          ? MEMBERS.map((name) => ({ name, dial: false }))
          : [{ name: 'r', dial: true }]
        : host === 'a'
          ? [{ name: 'b', dial: false }]
          : [{ name: 'a', dial: true }]
    // The hosts that only accept (the hub, or a) start first and listen
    // before anyone dials them: a handshake sent to a port not yet bound
    // is answered only at fastd's next handshake attempt, seconds later.
    for (const host of relay ? ['r', 'a', 'b'] : ['a', 'b']) {
      const up =
        host === 'r'
          ? 'ip link set dev $INTERFACE up'
          : `ip addr add ${overlayAddress(host as 'a' | 'b')}/24 dev $INTERFACE && ip link set dev $INTERFACE up`
      const config = [
        'log level warn;',
        `interface "${IFACE}";`,
        'mode tap;',
        `method "${FASTD_METHOD}";`,
        `bind 0.0.0.0:${PORT};`,
        `secret "${keys.get(host)!.secret}";`,
        `mtu ${mtu};`,
        ...(host === 'r' ? ['forward yes;'] : []),
        `on up "${up}";`,
        ...peersOf(host).map(
          ({ name, dial }) =>
            `peer "${name}" { key "${keys.get(name)!.key}";${dial ? ` remote ${topo.address(name)}:${PORT};` : ''} }`,
        ),
      ].join('\n')
      const path = join(dir, `${host}.conf`)
      await writeFile(path, `${config}\n`, { mode: 0o600 })
      const child = topo.spawn(host, ['fastd', '--config', path])
      child.stderr!.on('data', (d: Buffer) => log.push(`${host}: ${d.toString().trim()}`))
      children.set(host, child)
      if (peersOf(host).every((p) => !p.dial)) await listening(topo, host, child, log)
    }
    await reachable(topo, overlayAddress('b'), children, log)
  } catch (error) {
    await stop()
    throw error
  }
  const pid = (host: string) => children.get(host)!.pid!
  return {
    topo,
    mtu,
    address: overlayAddress,
    pids: [...children.keys()].map(pid),
    relayPid: relay ? pid('r') : undefined,
    stop,
  }
}

/** Waits until fastd in `host` has bound its UDP port. */
async function listening(
  topo: Topology,
  host: string,
  child: ChildProcess,
  log: readonly string[],
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await topo.exec(host, ['ss', '-Hlun', `sport = :${PORT}`])).trim() === '') {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`fastd in ${host} exited (${child.exitCode}): ${log.join('\n')}`)
    if (Date.now() > deadline) throw new Error(`fastd in ${host}: not listening in 10 s`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Waits until a's pings reach `address` across fastd (handshakes, then ARP through the hub). */
async function reachable(
  topo: Topology,
  address: string,
  children: ReadonlyMap<string, ChildProcess>,
  log: readonly string[],
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    for (const [host, child] of children)
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`fastd in ${host} exited (${child.exitCode}): ${log.join('\n')}`)
    const ok = await topo
      .exec('a', ['ping', '-c', '1', '-W', '1', address], 5_000)
      .then(() => true)
      .catch(() => false)
    if (ok) return
    if (Date.now() > deadline)
      throw new Error(`fastd: ${address} not reachable in ${timeoutMs / 1000} s: ${log.join('\n')}`)
  }
}
