/**
 * How long joining by invitation takes (docs/spec/15-invitations.md): the
 * time from `peertap join CODE` to the first ping answered across the VLAN
 * joined, on namespaces, direct and through a relay (the joiner and the
 * owner each behind a NAT, the joiner unknown to the relay, with the
 * code's ticket). Each run: the owner makes a code, the joiner joins, pings
 * the owner's pool address until one answers, and leaves: direct, through a
 * relay that admits the joiner, and (the join alone) with the code's ticket
 * through a relay that does not. Prints each run
 * (the `join` command's own time, and to the first answer) and the median.
 * A benchmark, not a test: it asserts nothing.
 *
 *   node --conditions=peertap:source tools/bench/src/join.ts [--runs N]
 */
import { NODE_ARGV, Overlay, RelayHost } from '@peertap/tool-overlay'

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 5)

interface Times {
  joinMs: number
  firstAnswerMs: number
}

/** A owns the MLS VLAN `lab`, with a pool whose first host (A's) is 10.77.0.1. */
async function createLab(overlay: Overlay): Promise<void> {
  const stateDir = overlay.node('a').stateDir
  await overlay.topo.exec('a', [
    ...NODE_ARGV,
    'vlan',
    'create',
    'lab',
    '--subnet',
    '10.77.0.0/24',
    '-s',
    stateDir,
  ])
}

/** Joins `runs` times from `joiner` to the owner `a`'s VLAN `lab`, leaving after each. */
async function measure(
  overlay: Overlay,
  joiner: string,
  ownerIp: string,
  ping: boolean,
): Promise<Times[]> {
  const cli = (host: string, args: readonly string[]) =>
    overlay.topo.exec(host, [...NODE_ARGV, ...args, '-s', overlay.node(host).stateDir], 60_000)
  const times: Times[] = []
  for (let i = 0; i < runs; i++) {
    const code = (await cli('a', ['vlan', 'invite', 'lab'])).trim().split('\n').at(-1) as string
    const start = performance.now()
    await cli(joiner, ['join', code]).catch((error: Error) => {
      const tail = (host: string) => overlay.node(host).log.slice(-25).join('\n')
      throw new Error(
        `${error.message}\nowner's log:\n${tail('a')}\n${joiner}'s log:\n${tail(joiner)}`,
      )
    })
    const joinMs = performance.now() - start
    for (; ping; ) {
      const answered = await overlay.topo
        .exec(joiner, ['ping', '-c', '1', '-W', '0.2', ownerIp])
        .then(
          () => true,
          () => false,
        )
      if (answered) break
      if (performance.now() - start > 30_000) {
        const [at, owner] = [await overlay.status(joiner), await overlay.status('a')]
        const brief = (s: typeof at) =>
          JSON.stringify(
            s.neighbours.map((n) => ({
              id: n.id.slice(-6),
              status: n.status,
              kind: n.kind,
              relayed: n.relayed,
              path: n.path,
            })),
          )
        throw new Error(
          `${ownerIp} never answered ${joiner}: ${joiner} ${brief(at)}; a ${brief(owner)}; ${joiner}'s log: ${overlay.node(joiner).log.slice(-15).join('\n')}`,
        )
      }
    }
    const firstAnswerMs = ping ? performance.now() - start : Number.NaN
    times.push({ joinMs, firstAnswerMs })
    console.log(
      `  run ${i + 1}: join ${joinMs.toFixed(0)} ms${ping ? `, first answer ${firstAnswerMs.toFixed(0)} ms` : ''}`,
    )
    await cli(joiner, ['vlan', 'leave', 'lab'])
    // Let the owner commit the leaving before the next join.
    await new Promise((r) => setTimeout(r, 1_000))
  }
  return times
}

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.floor(sorted.length / 2)] as number
}
const summary = (what: string, times: Times[]) => {
  const answer = median(times.map((t) => t.firstAnswerMs))
  console.log(
    `${what}: median join ${median(times.map((t) => t.joinMs)).toFixed(0)} ms${Number.isNaN(answer) ? '' : `, median to first answer ${answer.toFixed(0)} ms`} (${times.length} runs)`,
  )
}

const results: Array<[string, Times[]]> = []
{
  console.log('direct: A owns lab, B joins over the underlay')
  const overlay = await Overlay.start({ transport: 'tcp', hosts: ['a', 'b'], datagram: true })
  try {
    await createLab(overlay)
    results.push(['direct', await measure(overlay, 'b', '10.77.0.1', true)])
  } finally {
    await overlay.stop()
  }
}
{
  console.log(
    'through a relay: A and B each behind a NAT, B admitted by R (its allow list), B reaches A only through R',
  )
  const relay = new RelayHost()
  const overlay = await Overlay.start({ transport: 'tcp', relay, nat: true, datagram: true })
  try {
    await createLab(overlay)
    results.push(['relay', await measure(overlay, 'b', '10.77.0.1', true)])
  } finally {
    await overlay.stop()
  }
}
{
  console.log(
    'with the code’s ticket: C behind a NAT, unknown to R (join only: R carries no frame for C)',
  )
  const relay = new RelayHost()
  const overlay = await Overlay.start({
    transport: 'tcp',
    relay,
    nat: true,
    hosts: ['a'],
    extraHosts: ['c'],
    extraBehindNat: true,
    datagram: true,
  })
  try {
    await overlay.startBare('c')
    await createLab(overlay)
    results.push(['ticket', await measure(overlay, 'c', '10.77.0.1', false)])
  } finally {
    await overlay.stop()
  }
}
for (const [what, times] of results) summary(what, times)
