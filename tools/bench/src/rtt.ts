/**
 * The paced round trip beside fastd, with less noise than `index.ts`
 * gives it (issue 21's first goal): `node --conditions=peertap:source
 * tools/bench/src/rtt.ts [--rounds N] [--count N] [--scenarios
 * direct,relay] [--json]`.
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
 * fastd's. Namespaces and processes are this script's own, removed and
 * ended by PID, on failure and on SIGINT too.
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

async function compare(scenario: Scenario): Promise<Record<string, unknown>> {
  let overlay: Overlay | undefined
  let fastd: FastdOverlay | undefined
  const stop = async () => {
    await Promise.allSettled([overlay?.stop(), fastd?.stop()])
  }
  const onSignal = () => {
    void stop().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    overlay = (await startPeertap(scenario, datagramOptions('udp'), true)).overlay
    fastd = await startFastd({ scenario, mtu: 1377 })
    const peertapB = overlay.node('b').ip
    const fastdB = fastd.address('b')
    await warmUp(overlay.topo, peertapB)
    await warmUp(fastd.topo, fastdB)
    // The underlay between PeerTap's a and b; through R they do not reach
    // each other on it (index.ts's bare/routed has a topology of its own).
    const bare = scenario === 'direct' ? overlay.topo.address('b') : undefined
    const series: Record<'peertap' | 'fastd' | 'bare', Round[]> = {
      peertap: [],
      fastd: [],
      bare: [],
    }
    for (let i = 0; i < rounds; i++) {
      const order =
        i % 2 === 0
          ? (['peertap', 'fastd', 'bare'] as const)
          : (['fastd', 'peertap', 'bare'] as const)
      for (const system of order) {
        if (system === 'bare' && bare === undefined) continue
        const r =
          system === 'peertap'
            ? await ping(overlay.topo, peertapB)
            : system === 'fastd'
              ? await ping(fastd.topo, fastdB)
              : await ping(overlay.topo, bare!)
        series[system].push(r)
      }
      if (!json) {
        const f = (r: Round | undefined) =>
          r === undefined ? '-' : `${r.avg.toFixed(3)}/${r.p99.toFixed(3)}`
        console.log(
          `${scenario} round ${i + 1}: avg/p99 ms peertap ${f(series.peertap[i])}  fastd ${f(series.fastd[i])}  bare ${f(series.bare[i])}`,
        )
      }
    }
    const summary = (rs: Round[]) =>
      rs.length === 0
        ? null
        : { avg: median(rs.map((r) => r.avg)), p99: median(rs.map((r) => r.p99)) }
    const wins = series.peertap.filter((r, i) => r.avg <= series.fastd[i]!.avg).length
    return {
      scenario,
      rounds,
      count,
      peertap: summary(series.peertap),
      fastd: summary(series.fastd),
      bare: summary(series.bare),
      peertapAtOrBelowFastd: wins,
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
    console.log(
      `${r.scenario}: medians of ${r.rounds} rounds of ${r.count} echoes every 10 ms, avg / p99 ms: peertap ${s('peertap')}, fastd ${s('fastd')}, bare ${s('bare')}; peertap at or below fastd in ${r.peertapAtOrBelowFastd} of ${r.rounds} rounds`,
    )
  }
}
