/**
 * The demo (`npm start`, which runs demo-main.ts): a small PeerTap fabric
 * in network namespaces this process creates, shown working, then removed,
 * a line per step with the time since the start.
 *
 * A relay r and three nodes: a and b each behind a NAT of its own, c
 * public. The nodes' configs name only r (and, through r's circuit, the
 * nodes before them) and give them a PSK VLAN `demo` on pt0, left as it is;
 * r admits the three. At run time, with the `peertap` CLI, a creates an
 * MLS VLAN `lab` with an IPv4 pool (`vlan create`) and invites b (`vlan
 * invite`), which joins with the code (`join`) and gets an address. Across
 * `lab`, a to b: ARP, IPv4, IPv6, the datagram path punched through both
 * NATs by the addresses r observed, and a throughput figure beside the bare
 * underlay's, with what r forwarded meanwhile. Then c joins by code too,
 * IPv4 crosses every pair, and a removes c (`vlan remove`): c is cut off,
 * a and b still talk. Everything is removed at the end, also on failure
 * and on Ctrl-C.
 *
 * Node a's page (its status server, on 127.0.0.1 in a's namespace) is
 * reachable from this machine's browser through a forwarder (forward.ts)
 * on the same port of the host's loopback; the demo prints a one-use URL
 * from `peertap ui` at the start and, with `keep` (`npm start -- --keep`),
 * a fresh one at the end, and then stays up until Ctrl-C.
 */
import { rootAndTun } from '@peertap/tool-netns'
import { iperf, peertap, ping, Steps, say, until, waitForIpv6 } from './demo-helpers.ts'
import { Forward } from './forward.ts'
import { NODE_ARGV, Overlay } from './harness.ts'
import { RelayHost } from './relay-harness.ts'

const SUBNET = '10.77.0.0/24'

interface VlanSummary {
  name: string
  kind: string
  role?: string
  state?: string
  device: string
  addresses: string[]
  members?: number
}

interface MlsView {
  state: string
  epoch?: number
  members: string[]
}

export interface DemoOptions {
  /** Stay up at the end, a's page reachable, until Ctrl-C (`npm start -- --keep`). */
  readonly keep?: boolean
}

export async function runDemo(options: DemoOptions = {}): Promise<void> {
  const can = rootAndTun()
  if (!can.ok) {
    say(`The demo ${can.reason}; run it as root on Linux (e.g. sudo npm start).`)
    process.exitCode = 1
    return
  }
  const steps = new Steps()
  steps.step('Starting relay r and nodes a, b (each behind a NAT of its own) and c (public)')
  const relay = new RelayHost()
  const abort = new AbortController()
  // a's page on the host's loopback: the forwarder binds a free port before a
  // starts, and a's status server takes the same port in its namespace.
  let forward: Forward | undefined
  const starting = Overlay.start({
    signal: abort.signal,
    transport: 'tcp',
    hosts: ['a', 'b', 'c'],
    relay,
    nat: ['a', 'b'],
    datagram: true,
    underlay: async (topo) => {
      forward = await Forward.start({ namespace: topo.ns('a') })
    },
    statusPort: (host) => (host === 'a' ? forward?.port : undefined),
  })
  // Ctrl-C (or a kill): remove everything, whatever the demo was doing.
  let interrupted = false
  // With --keep, once the story is told: Ctrl-C ends the wait, not the demo.
  let keeping: (() => void) | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    if (keeping !== undefined) {
      const done = keeping
      keeping = () => {}
      say(`\n${signal}: removing the namespaces, nodes and relay...`)
      done()
      return
    }
    if (interrupted) return
    interrupted = true
    say(`\n${signal}: removing the namespaces, nodes and relay...`)
    abort.abort()
    void starting
      .then((overlay) => overlay.stop())
      .catch(() => {})
      .finally(() => forward?.stop())
      .catch(() => {})
      .finally(() => process.exit(130))
  }
  // Not once: a second Ctrl-C while removing must not leave half of it behind.
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const failed = (error: unknown) => {
    say(`\nThe demo failed: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
  }
  try {
    // Overlay.start removes whatever it built when it fails.
    const overlay = await starting.catch((error: unknown) => {
      if (!interrupted) failed(error)
      return undefined
    })
    if (overlay === undefined || interrupted) return
    try {
      await story(overlay, relay, steps, forward)
    } catch (error) {
      if (!interrupted) failed(error)
    } finally {
      if (!interrupted && options.keep === true) {
        steps.step('Staying up (--keep): Ctrl-C removes everything')
        await showPage(overlay, forward, 'a')
        await new Promise<void>((resolve) => {
          keeping = resolve
        })
      }
      if (!interrupted) {
        steps.step('Removing the namespaces, nodes and relay')
        await forward?.stop()
        await overlay.stop()
        steps.step('Done')
      }
    }
  } finally {
    if (!interrupted) await forward?.stop()
    if (!interrupted) {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}

async function story(
  overlay: Overlay,
  relay: RelayHost,
  steps: Steps,
  forward: Forward | undefined,
): Promise<void> {
  const topo = overlay.topo
  const [a, b, c] = (['a', 'b', 'c'] as const).map((h) => overlay.node(h)) as [Node, Node, Node]
  for (const n of overlay.nodes) {
    const where = n === c ? 'public' : `behind a NAT, seen as ${topo.address(n.host)}`
    say(`    node ${n.host}: ${n.peerId}  underlay ${where}`)
  }
  say(`    relay r: ${relay.peerId}  underlay ${topo.address('r')}, admits a, b and c`)
  const direct = await topo.exec('a', ['ping', '-c', '1', '-W', '1', topo.address('b')]).then(
    () => 'a reaches b on the underlay (the NATs do not isolate them)',
    () => 'a cannot reach b on the underlay (nothing unsolicited crosses a NAT)',
  )
  say(`    ${direct}; each node dials only r, and the others through r's circuit`)
  say(`    their configs share a PSK VLAN "demo" on pt0 (${a.ip}/24, ...), left as it is`)
  await showPage(overlay, forward, 'a')

  // The MLS VLAN, made and joined at run time with the CLI (every command also gets -s DIR).
  steps.step(`a creates an MLS VLAN: peertap vlan create lab --subnet ${SUBNET}`)
  say(indent(await peertap(overlay, 'a', ['vlan', 'create', 'lab', '--subnet', SUBNET])))
  await invite(overlay, steps, b)
  const lab = await addresses(overlay, steps, [a, b])

  steps.step(`ARP across lab: arping from a to b (${lab.ip4('b')}) on pt-lab`)
  const arp = await topo.exec('a', ['arping', '-c', '3', '-w', '5', '-I', 'pt-lab', lab.ip4('b')])
  const mac = /from ([0-9a-f:]{17})/i.exec(arp)?.[1] ?? '?'
  say(`    ${/(\d+) packets received/.exec(arp)?.[1] ?? 0}/3 answered, from b's port ${mac}`)
  steps.step('IPv4 and IPv6 across lab, a -> b (IPv6: neighbour discovery by multicast)')
  const v4 = await ping(overlay, 'a', lab.ip4('b'))
  say(`    ${lab.ip4('b').padEnd(38)} ${v4.line}`)
  holds(v4.received > 0, 'b does not answer a on lab over IPv4')
  await waitForIpv6(overlay, 10_000, 'pt-lab', ['a', 'b'])
  const found = await pingUntil(overlay, 'a', lab.ip6('b'), 15_000, ['-6'])
  const v6 = await ping(overlay, 'a', lab.ip6('b'), 3, ['-6'])
  say(`    ${lab.ip6('b').padEnd(38)} ${v6.line} (first answer after ${found.toFixed(1)} s)`)

  steps.step('The datagram link between a and b, punched through both NATs (addresses r observed)')
  const path = async (host: string, peer: string) =>
    (await overlay.status(host)).neighbours.find(
      (n) => n.id === peer && n.kind === 'datagram' && n.status === 'up',
    ) as { path?: string } | undefined
  const punched = await until('the direct path', 20_000, async () => {
    const [ab, ba] = [await path('a', b.peerId), await path('b', a.peerId)]
    return ab !== undefined && ba !== undefined ? { ab, ba } : undefined
  }).catch(() => undefined)
  if (punched === undefined) say('    not up within 20 s: frames keep going through r')
  else say(`    a -> b via ${punched.ab.path} (b's NAT), b -> a via ${punched.ba.path} (a's NAT)`)

  steps.step('Throughput, iperf3 TCP, 5 s, one stream')
  const bare = await iperf(overlay, topo.address('r'), 5, 1, 'r')
  say(`    bare underlay a -> r (through a's NAT): ${bare.toFixed(0).padStart(6)} Mbit/s`)
  const forwardedBefore = (await relay.status()).table.framesForwarded
  const tunnel = await iperf(overlay, lab.ip4('b'))
  const forwarded = (await relay.status()).table.framesForwarded - forwardedBefore
  say(`    PeerTap, lab a -> b:                    ${tunnel.toFixed(0).padStart(6)} Mbit/s`)
  say(`    frames r forwarded meanwhile: ${forwarded}`)

  await invite(overlay, steps, c)
  const all = await addresses(overlay, steps, [a, b, c])
  steps.step('IPv4 and IPv6 across lab, every pair')
  await waitForIpv6(overlay, 10_000, 'pt-lab', ['a', 'b', 'c'])
  for (const [from, to] of PAIRS) {
    const result = await ping(overlay, from, all.ip4(to))
    say(`    ${from} -> ${to} ${all.ip4(to).padEnd(38)} ${result.line}`)
    holds(result.received > 0, `${to} does not answer ${from} on lab`)
    await pingUntil(overlay, from, all.ip6(to), 15_000, ['-6'])
    const v6 = await ping(overlay, from, all.ip6(to), 3, ['-6'])
    say(`    ${from} -> ${to} ${all.ip6(to).padEnd(38)} ${v6.line}`)
    holds(v6.received > 0, `${to} does not answer ${from} on lab over IPv6`)
  }

  steps.step(`a removes c: peertap vlan remove ${c.peerId.slice(0, 12)}... --vlan lab`)
  const epochBefore = (await mls(overlay, 'a')).epoch ?? 0
  await peertap(overlay, 'a', ['vlan', 'remove', c.peerId, '--vlan', 'lab'])
  // The removal commit: a and b move to new keys at once, which c never gets.
  const after = await until('the removal to apply at a and b', 15_000, async () => {
    const [atA, atB] = [await mls(overlay, 'a'), await mls(overlay, 'b')]
    const done = (atA.epoch ?? 0) > epochBefore && atB.epoch === atA.epoch
    return done && !atA.members.includes(c.peerId) ? atA : undefined
  })
  say(`    a and b at epoch ${after.epoch}, ${after.members.length} members: c is not one`)
  steps.step('c is cut off; a and b still talk')
  for (const [from, to] of [
    ['c', 'a'],
    ['c', 'b'],
    ['a', 'c'],
    ['a', 'b'],
    ['b', 'a'],
  ] as const) {
    const result = await ping(overlay, from, all.ip4(to), 2)
    say(`    ${from} -> ${to} ${all.ip4(to).padEnd(10)} ${result.line}`)
    if (from === 'c' || to === 'c') holds(result.received === 0, `c still reaches ${to}`)
    else holds(result.received > 0, `${to} does not answer ${from} after c's removal`)
  }

  steps.step("a's VLANs side by side: peertap vlan list")
  const vlans = JSON.parse(await peertap(overlay, 'a', ['vlan', 'list', '--json'])) as VlanSummary[]
  for (const v of vlans) {
    const role = v.role === undefined ? '' : ` ${v.role}`
    say(`    ${v.name.padEnd(5)} ${v.kind}${role}, ${v.device}: ${v.addresses.join(' ')}`)
  }
}

type Node = Overlay['nodes'][number]

/**
 * Prints a one-use URL of `host`'s page (`peertap ui` in its namespace),
 * which the forwarder makes reachable on this machine's loopback at the
 * same port; or why there is none. Never throws: the page is a sideshow.
 */
async function showPage(overlay: Overlay, forward: Forward | undefined, host: string) {
  if (forward === undefined) return
  const out = await peertap(overlay, host, ['ui', '--no-open'], 10_000).catch(
    (e: Error) => e.message,
  )
  const url = /http:\/\/127\.0\.0\.1:\d+\/\S*/.exec(out)?.[0]
  if (url === undefined) {
    say(`    ${host}'s page: no URL from \`peertap ui\` (${lastLine(out).slice(0, 100)})`)
    return
  }
  say(`    ${host}'s page, from this machine's browser (one use, within 60 s): ${url}`)
  const again = [
    'ip',
    'netns',
    'exec',
    overlay.topo.ns(host),
    ...NODE_ARGV,
    'ui',
    '--no-open',
    '-s',
  ]
  say(`    another, while it runs: ${again.join(' ')} ${overlay.node(host).stateDir}`)
}

/**
 * The owner a invites `joiner` (the code: the last line `vlan invite`
 * prints: one use, 24 hours), which joins with it.
 */
async function invite(overlay: Overlay, steps: Steps, joiner: Node): Promise<void> {
  steps.step(`a invites ${joiner.host}: peertap vlan invite lab`)
  const code = lastLine(await peertap(overlay, 'a', ['vlan', 'invite', 'lab']))
  say(`    ${code.slice(0, 40)}... (${code.length} characters)`)
  steps.step(`${joiner.host} joins with the code: peertap join CODE`)
  say(indent(await peertap(overlay, joiner.host, ['join', code])))
}

/** `peertap vlan members lab` on a: each node's addresses on lab, printed. */
async function addresses(overlay: Overlay, steps: Steps, nodes: readonly Node[]) {
  steps.step("lab's members, as a sees them: peertap vlan members lab (IPv4 from a's pool)")
  const members = JSON.parse(
    await peertap(overlay, 'a', ['vlan', 'members', 'lab', '--json']),
  ) as Array<{ peerId: string; ipv4?: string; ipv6: string }>
  const lab = new Map<string, { ipv4: string; ipv6: string }>()
  for (const n of nodes) {
    const m = members.find((x) => x.peerId === n.peerId)
    if (m?.ipv4 === undefined) throw new Error(`${n.host} is not a member of lab with an address`)
    lab.set(n.host, { ipv4: m.ipv4.split('/')[0]!, ipv6: m.ipv6.split('/')[0]! })
    say(`    ${n.host}: ${m.ipv4.padEnd(14)} ${m.ipv6}`)
  }
  return { ip4: (host: string) => lab.get(host)!.ipv4, ip6: (host: string) => lab.get(host)!.ipv6 }
}

/** Pings once at a time until an answer comes; the seconds it took (throws after `timeoutMs`). */
async function pingUntil(
  overlay: Overlay,
  host: string,
  address: string,
  timeoutMs: number,
  extra: readonly string[] = [],
): Promise<number> {
  const started = Date.now()
  await until(`an answer from ${address}`, timeoutMs, async () => {
    return (await ping(overlay, host, address, 1, extra)).received > 0
  })
  return (Date.now() - started) / 1000
}

const PAIRS = [
  ['a', 'b'],
  ['a', 'c'],
  ['b', 'c'],
] as const

async function mls(overlay: Overlay, host: string): Promise<MlsView> {
  const status = (await overlay.status(host)) as unknown as { mls: Record<string, MlsView> }
  const view = status.mls.lab
  if (view === undefined) throw new Error(`${host} has no MLS VLAN lab`)
  return view
}

/** The story as shown must be true: a step that does not show what it says fails the demo. */
function holds(condition: boolean, otherwise: string): void {
  if (!condition) throw new Error(otherwise)
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? ''
}

function indent(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')
}
