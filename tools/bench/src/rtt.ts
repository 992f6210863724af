/**
 * The paced round trip beside fastd, with less noise than `index.ts`
 * gives it (issue 21's first goal): `node --conditions=peertap:source
 * tools/bench/src/rtt.ts [--rounds N] [--count N] [--scenarios
 * direct,relay] [--variant NAME=VALUE] [--json]`.
 *
 * `index.ts` measures each system once per run, minutes apart, so a
 * machine that is busier in one system's minute than in the other's moves
 * their ratio by 20 % and more (docs/latency.md). Here PeerTap (the
 * project's defaults on the datagram link, as `index.ts` starts it) and
 * fastd (fastd.ts) run side by side in namespaces of their own, both
 * warmed up, and each of `--rounds` rounds (default 10) pings one, then
 * the other, then (direct) the bare underlay between PeerTap's a and b, `--count`
 * echoes each (default 200) every 10 ms, the order turned round every
 * round. Per system it prints the median over the rounds of each round's
 * average and p99, and how many rounds PeerTap's average was at or below
 * fastd's. `--variant NAME=VALUE` adds a second PeerTap overlay whose
 * daemons run with that environment variable (e.g. `PEERTAP_AES=evp`),
 * pinged in turn with the others: a change measured before and after in
 * one run, beside fastd (docs/latency.md). Namespaces and processes are
 * this script's own, removed and ended by PID, on failure and on SIGINT
 * too.
 */
import { rootAndTun } from '@peertap/tool-netns'
import type { Overlay } from '@peertap/tool-overlay'
import { ensureFastd, type FastdOverlay, startFastd } from './fastd.ts'
import type { Hosts } from './peertap-path.ts'
import { datagramOptions, startPeertap, warmUp } from './peertap-path.ts'

const args = process.argv.slice(2)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const rounds = Number(option('--rounds') ?? 10)
const count = Number(option('--count') ?? 200)
const json = args.includes('--json')
type Scenario = 'direct' | 'relay'
const scenarios = (option('--scenarios') ?? 'direct,relay').split(',') as Scenario[]
for (const s of scenarios)
  if (s !== 'direct' && s !== 'relay') throw new Error(`--scenarios ${s}: direct or relay`)
if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds: a whole number from 1')
if (!Number.isInteger(count) || count < 10) throw new Error('--count: a whole number from 10')
/** `--variant NAME=VALUE`: a second PeerTap overlay whose daemons get that environment variable. */
const variantName = option('--variant')
const variantMatch = variantName === undefined ? null : /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(variantName)
if (variantName !== undefined && variantMatch === null)
  throw new Error(`--variant ${variantName}: NAME=VALUE, an environment variable for the daemons`)
const variantEnv = variantMatch === null ? undefined : { [variantMatch[1]!]: variantMatch[2]! }

interface Round {
  avg: number
  p99: number
}

async function ping(hosts: Hosts, address: string): Promise<Round> {
  const out = await hosts.exec(
    'a',
    ['ping', '-c', String(count), '-i', '0.01', '-W', '2', address],
    120_000,
  )
  const times = [...out.matchAll(/time=([\d.]+) ms/g)]
    .map((m) => Number(m[1]))
    .sort((x, y) => x - y)
  if (times.length === 0) throw new Error(`no ping replies from ${address}`)
  return {
    avg: times.reduce((s, t) => s + t, 0) / times.length,
    p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))]!,
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** One system pinged each round: a name, its hosts and the address a pings. */
interface Target {
  name: string
  hosts: Hosts
  address: string
}

/**
 * Starts a PeerTap overlay whose daemons get `env` on top of this process's
 * (they inherit the environment they are spawned with).
 */
async function startWith(scenario: Scenario, env: Record<string, string>): Promise<Overlay> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]))
  Object.assign(process.env, env)
  try {
    return (await startPeertap(scenario, datagramOptions('udp'), true)).overlay
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

async function compare(scenario: Scenario): Promise<Record<string, unknown>> {
  let overlay: Overlay | undefined
  let variant: Overlay | undefined
  let fastd: FastdOverlay | undefined
  const stop = async () => {
    await Promise.allSettled([overlay?.stop(), variant?.stop(), fastd?.stop()])
  }
  const onSignal = () => {
    void stop().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    overlay = (await startPeertap(scenario, datagramOptions('udp'), true)).overlay
    if (variantEnv !== undefined) variant = await startWith(scenario, variantEnv)
    fastd = await startFastd({ scenario, mtu: 1377 })
    const targets: Target[] = [
      { name: 'peertap', hosts: overlay.topo, address: overlay.node('b').ip },
      ...(variant === undefined
        ? []
        : [{ name: `peertap ${variantName}`, hosts: variant.topo, address: variant.node('b').ip }]),
      { name: 'fastd', hosts: fastd.topo, address: fastd.address('b') },
    ]
    for (const t of targets) await warmUp(t.hosts, t.address)
    // The underlay between PeerTap's a and b; through R they do not reach
    // each other on it (index.ts's bare/routed has a topology of its own).
    const bare: Target | undefined =
      scenario === 'direct'
        ? { name: 'bare', hosts: overlay.topo, address: overlay.topo.address('b') }
        : undefined
    const series = new Map<string, Round[]>()
    for (let i = 0; i < rounds; i++) {
      // Each round turns the overlays' order round; the underlay last.
      const order = [...targets.slice(i % targets.length), ...targets.slice(0, i % targets.length)]
      for (const t of [...order, ...(bare === undefined ? [] : [bare])]) {
        const r = await ping(t.hosts, t.address)
        series.set(t.name, [...(series.get(t.name) ?? []), r])
      }
      if (!json) {
        const f = (r: Round | undefined) =>
          r === undefined ? '-' : `${r.avg.toFixed(3)}/${r.p99.toFixed(3)}`
        console.log(
          `${scenario} round ${i + 1}: avg/p99 ms ${[...series].map(([name, rs]) => `${name} ${f(rs[i])}`).join('  ')}`,
        )
      }
    }
    const summary = (rs: Round[] | undefined) =>
      rs === undefined || rs.length === 0
        ? null
        : { avg: median(rs.map((r) => r.avg)), p99: median(rs.map((r) => r.p99)) }
    const wins = (name: string) =>
      (series.get(name) ?? []).filter((r, i) => r.avg <= series.get('fastd')![i]!.avg).length
    return {
      scenario,
      rounds,
      count,
      peertap: summary(series.get('peertap')),
      ...(variant === undefined
        ? {}
        : {
            variant: variantName,
            peertapVariant: summary(series.get(`peertap ${variantName}`)),
            variantAtOrBelowFastd: wins(`peertap ${variantName}`),
          }),
      fastd: summary(series.get('fastd')),
      bare: summary(series.get('bare')),
      peertapAtOrBelowFastd: wins('peertap'),
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await stop()
  }
}

const can = rootAndTun()
if (!can.ok) {
  console.log(`rtt: skipped (${can.reason})`)
  process.exit(0)
}
await ensureFastd()
const results = []
for (const scenario of scenarios) results.push(await compare(scenario))
if (json) {
  console.log(JSON.stringify(results))
} else {
  for (const r of results as Array<
    Record<string, { avg: number; p99: number } | null | number | string>
  >) {
    const s = (k: string) => {
      const v = r[k] as { avg: number; p99: number } | null
      return v === null ? '-' : `${v.avg.toFixed(3)} / ${v.p99.toFixed(3)}`
    }
    const v =
      r.variant === undefined
        ? ''
        : `, peertap ${r.variant} ${s('peertapVariant')} (at or below fastd in ${r.variantAtOrBelowFastd} of ${r.rounds} rounds)`
    console.log(
      `${r.scenario}: medians of ${r.rounds} rounds of ${r.count} echoes every 10 ms, avg / p99 ms: peertap ${s('peertap')}${v}, fastd ${s('fastd')}, bare ${s('bare')}; peertap at or below fastd in ${r.peertapAtOrBelowFastd} of ${r.rounds} rounds`,
    )
  }
}
