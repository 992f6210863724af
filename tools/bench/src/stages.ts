/**
 * Where the time of a paced round trip goes (issue 21, step 1):
 * `node --conditions=peertap:source tools/bench/src/stages.ts [--runs N]
 * [--count N] [--scenarios direct,relay] [--json]`, or `--from
 * a.json,b.json,...` to print the medians of earlier invocations' --json
 * output (docs/latency.md: medians of 3 invocations).
 *
 * In namespaces it creates and removes (peertap-path.ts, the bench's own
 * setup): nodes a and b with the project's defaults on the datagram link
 * (transport `udp` of index.ts: the batched UDP socket, TAP MTU 1377,
 * offloads on), direct on one bridge or, in the `relay` scenario, each
 * reaching only a `peertap-relay` in R. After the bench's warm-up, a ping
 * from A to B paced every 10 ms (`--count` echoes, default 300) runs
 * without perf, under `perf record -a`, and without perf again (ping's own
 * RTTs before and after bracket the traced run: perf's cost). perf records
 * the system calls the stages need (raw_syscalls, filtered in the kernel
 * by thread id and call) and sched_wakeup/sched_switch of the daemons'
 * threads and of ping. All timestamps are perf's (one clock). Each echo request is then followed
 * through both daemons, stage by stage:
 *
 *   ping sendmsg → A's reader thread read(2) of the TAP returns → A's main
 *   thread's epoll_wait returns → A main's sendmmsg → [R's reader recvmmsg
 *   returns → R main's epoll returns → R main's sendmmsg →] B's reader
 *   recvmmsg returns → B main's epoll returns → B main's write(2) to the
 *   TAP → B's reader read of the reply → B main's epoll returns → B main's
 *   sendmmsg → [R as before →] A's reader recvmmsg returns → A main's epoll
 *   returns → A main's write(2) to the TAP → ping's recvmsg returns.
 *
 * A daemon's share splits into the reader-thread hand-off (reader system
 * call returns → main thread's epoll_wait returns: the reader's next,
 * empty read, the thread-safe function's post, the main thread's wake-up
 * and getting a CPU) and JavaScript work (epoll returns → its sendmmsg or
 * write(2) is entered: libuv, the N-API callback, the switch, sealing or
 * opening). A stage that ends in a thread's system call returning is split
 * again by the scheduler events: until the thread is woken (sched_wakeup),
 * until it runs (sched_switch), until the call returns.
 *
 * On the fast path (the tap addon's flow cache, issue 21 step 2: config
 * `fastPath`, `--fast-path on|off`, default the node's) a reader thread
 * itself seals and sends, or opens and writes, without the main thread:
 * an echo whose daemon output came from a reader thread has that event's
 * hand-off 0 and its work stage is native (column `fast`, and `native` in
 * the sums). The relay's forwarding is followed the same way.
 *
 * The floor: in two namespaces on a bridge, a UDP echo of 64 bytes, paced
 * every 10 ms and back to back, answered by a C process (compiled with cc
 * at run time) and by a Node node:dgram process, timed by a C client
 * (CLOCK_MONOTONIC). The Node process's extra time over the C one, paced, is
 * what waking a Node main thread costs per hop; issue 21 estimates a path
 * waking the main thread once per hop at 0.25 + 4 × 0.12 ms.
 *
 * With several runs each figure is the median over the runs of its per-run
 * median (and p90). perf's lost events are counted and printed, and so are
 * the echoes it could not follow through (and where). Prints a table, or
 * with --json one JSON object. One run of both scenarios and the floor
 * takes about 50 s here; namespaces, perf and ping are this script's own
 * and are ended by PID, on failure too.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rootAndTun, Topology } from '@peertap/tool-netns'
import type { Overlay, RelayHost } from '@peertap/tool-overlay'
import { datagramOptions, startPeertap, warmUp } from './peertap-path.ts'

const args = process.argv.slice(2)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const json = args.includes('--json')
const runs = Number(option('--runs') ?? 1)
const count = Number(option('--count') ?? 300)
type Scenario = 'direct' | 'relay'
const scenarios = (option('--scenarios') ?? 'direct,relay').split(',') as Scenario[]
for (const s of scenarios)
  if (s !== 'direct' && s !== 'relay') throw new Error(`--scenarios ${s}: direct or relay`)
/** The nodes' config `fastPath` (the addon's flow cache); default the node's. */
const fastPathOption = option('--fast-path')
if (fastPathOption !== undefined && fastPathOption !== 'on' && fastPathOption !== 'off')
  throw new Error(`--fast-path ${fastPathOption}: on or off`)

/**
 * What an interrupted run must still end or remove: the namespaces (and
 * with them the daemons), perf and ping it started, its temporary
 * directory. On SIGINT or SIGTERM they are ended by PID and removed, then
 * the script exits.
 */
const cleanups = new Set<() => Promise<unknown>>()
let interrupted: Promise<unknown> | undefined
/** Aborts an overlay's start, which then removes what it built. */
const abort = new AbortController()
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    abort.abort()
    interrupted ??= Promise.allSettled([...cleanups].map((c) => c())).finally(() =>
      process.exit(130),
    )
  })

/** x86_64 system call numbers. */
const NR = {
  read: 0,
  write: 1,
  sendto: 44,
  recvfrom: 45,
  sendmsg: 46,
  recvmsg: 47,
  epollWait: 232,
  epollPwait: 281,
  recvmmsg: 299,
  sendmmsg: 307,
  epollPwait2: 441,
} as const
const EPOLL = new Set<number>([NR.epollWait, NR.epollPwait, NR.epollPwait2])

// ---------------------------------------------------------------- helpers

function run(file: string, argv: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      argv,
      { timeout: timeoutMs, maxBuffer: 512 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${file} ${argv.join(' ')}: ${error.message}\n${stderr}`))
        else resolve(`${stdout}${stderr === '' ? '' : `\n${stderr}`}`)
      },
    )
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function exited(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${child.pid} still running`)), timeoutMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** Ends a process this script started, by its PID (SIGTERM, then SIGKILL). */
async function stop(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM') {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  child.kill(signal)
  await exited(child, 5000).catch(async () => {
    child.kill('SIGKILL')
    await exited(child, 5000).catch(() => {})
  })
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!
}
const sortNum = (values: readonly number[]) => [...values].sort((x, y) => x - y)
const median = (values: readonly number[]) => quantile(sortNum(values), 0.5)
const p90 = (values: readonly number[]) => quantile(sortNum(values), 0.9)

/** RTTs in ms from ping's output. */
const pingTimes = (out: string) => [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]))

// ---------------------------------------------------------------- perf

/** One system call of one thread, perf's timestamps in ns. */
interface Call {
  nr: number
  args: number[]
  enter: number
  exit: number
  ret: number
}

interface Trace {
  /** Completed system calls per thread id, in order. */
  calls: Map<number, Call[]>
  /** sched_wakeup times per woken thread id. */
  wakeups: Map<number, number[]>
  /** sched_switch times per thread id switched in. */
  switchIns: Map<number, number[]>
  events: number
}

function toNs(time: string): number {
  const [s, f = '0'] = time.split('.')
  return Number(s) * 1e9 + Number(f.padEnd(9, '0').slice(0, 9))
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

/** Parses `perf script --ns -F tid,time,event,trace`. */
function parseTrace(text: string): Trace {
  const trace: Trace = { calls: new Map(), wakeups: new Map(), switchIns: new Map(), events: 0 }
  const open = new Map<number, { nr: number; args: number[]; enter: number }>()
  const line = /^\s*(\d+)\s+(\d+\.\d+):\s+(\S+):\s+(.*)$/
  for (const raw of text.split('\n')) {
    const m = line.exec(raw)
    if (m === null) continue
    trace.events++
    const tid = Number(m[1])
    const t = toNs(m[2]!)
    const event = m[3]!
    const body = m[4]!
    if (event === 'raw_syscalls:sys_enter') {
      const e = /NR (-?\d+) \(([^)]*)\)/.exec(body)
      if (e === null) continue
      const o = open.get(tid)
      if (o !== undefined) push(trace.calls, tid, { ...o, exit: Number.NaN, ret: Number.NaN })
      const argv = e[2]!.split(',').map((a) => Number.parseInt(a.trim(), 16))
      open.set(tid, { nr: Number(e[1]), args: argv, enter: t })
    } else if (event === 'raw_syscalls:sys_exit') {
      const e = /NR (-?\d+) = (-?\d+)/.exec(body)
      if (e === null) continue
      const nr = Number(e[1])
      const o = open.get(tid)
      open.delete(tid)
      // The filter keeps some calls' entries without their returns and
      // others' returns without their entries.
      if (o !== undefined && o.nr !== nr)
        push(trace.calls, tid, { ...o, exit: Number.NaN, ret: Number.NaN })
      const entered = o !== undefined && o.nr === nr ? o : { nr, args: [], enter: Number.NaN }
      push(trace.calls, tid, { ...entered, exit: t, ret: Number(e[2]) })
    } else if (event === 'sched:sched_wakeup') {
      const e = /pid=(\d+)/.exec(body)
      if (e !== null) push(trace.wakeups, Number(e[1]), t)
    } else if (event === 'sched:sched_switch') {
      const e = /next_pid=(\d+)/.exec(body)
      if (e !== null) push(trace.switchIns, Number(e[1]), t)
    }
  }
  for (const [tid, o] of open) push(trace.calls, tid, { ...o, exit: Number.NaN, ret: Number.NaN })
  return trace
}

/** A daemon's threads and TAP descriptors, read from /proc before tracing. */
interface Daemon {
  name: string
  pid: number
  tids: number[]
  tapFds: Set<number>
}

async function daemon(name: string, pid: number): Promise<Daemon> {
  const tids = (await readdir(`/proc/${pid}/task`)).map(Number)
  const tapFds = new Set<number>()
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    if (target === '/dev/net/tun') tapFds.add(Number(fd))
  }
  return { name, pid, tids, tapFds }
}

/** A point of an echo's way: a thread's system call entered or returned. */
interface Point {
  /** Short label, e.g. 'A.tapRead'. */
  label: string
  /** 'any': a daemon event's output, by the main thread (the switch) or a reader (the fast path). */
  tid: 'main' | 'other' | 'any' | number
  daemon: Daemon | undefined
  match: (c: Call) => boolean
  at: 'enter' | 'exit'
  /**
   * The main thread's wake-up: absent when the main thread takes the
   * reader's batch without returning to epoll_wait (it was still running,
   * and the thread-safe function's queue is drained in one go); the point
   * is then the reader's return itself, a hand-off of 0, and whatever the
   * main thread still had to finish counts as its JavaScript.
   */
  optional?: true
}

/** The stage between two consecutive points: its name and what it contains. */
interface StageDef {
  name: string
  kind: 'kernel' | 'handoff' | 'js'
  /** The daemon whose hand-off or JavaScript it is. */
  daemon?: string
  contains: string
}

function pointsAndStages(
  a: Daemon,
  b: Daemon,
  r: Daemon | undefined,
  pingPid: number,
): { points: Point[]; stages: StageDef[] } {
  const points: Point[] = []
  const stages: StageDef[] = []
  const point = (p: Point, stage?: StageDef) => {
    if (stage !== undefined) stages.push(stage)
    points.push(p)
  }
  const tapRead = (d: Daemon): Omit<Point, 'label'> => ({
    tid: 'other',
    daemon: d,
    match: (c) => c.nr === NR.read && c.ret > 0 && d.tapFds.has(c.args[0]!),
    at: 'exit',
  })
  const tapWrite = (d: Daemon): Omit<Point, 'label'> => ({
    tid: 'any',
    daemon: d,
    match: (c) => c.nr === NR.write && d.tapFds.has(c.args[0]!),
    at: 'enter',
  })
  const udpRecv = (d: Daemon): Omit<Point, 'label'> => ({
    tid: 'other',
    daemon: d,
    match: (c) => c.nr === NR.recvmmsg && c.ret > 0,
    at: 'exit',
  })
  const udpSend = (d: Daemon): Omit<Point, 'label'> => ({
    tid: 'any',
    daemon: d,
    match: (c) => c.nr === NR.sendmmsg,
    at: 'enter',
  })
  const wake = (d: Daemon): Omit<Point, 'label'> => ({
    tid: 'main',
    daemon: d,
    match: (c) => EPOLL.has(c.nr),
    at: 'exit',
    optional: true,
  })
  /** A daemon's part: hand-off from its reader, then JavaScript up to `out`. */
  const through = (
    d: Daemon,
    what: string,
    from: string,
    out: Omit<Point, 'label'>,
    to: string,
  ) => {
    point(
      { label: `${d.name}.wake`, ...wake(d) },
      {
        name: `${d.name} hand-off (${what})`,
        kind: 'handoff',
        daemon: d.name,
        contains: `${d.name}'s reader after its ${from} returns: the next, empty call, the thread-safe function's post (eventfd), the main thread's wake-up and CPU, epoll_wait returning`,
      },
    )
    point(
      { label: `${d.name}.${to}`, ...out },
      {
        name: `${d.name} JavaScript (${what})`,
        kind: 'js',
        daemon: d.name,
        contains: `${d.name}'s main thread from epoll_wait returning to entering ${to === 'send' ? 'sendmmsg' : 'write(2) on the TAP'}: libuv, the N-API callback, the switch, ${to === 'send' ? 'sealing' : 'opening'}`,
      },
    )
  }
  /** The datagram from `d`'s sendmmsg to `to`'s reader (through R if there is one). */
  const wire = (from: Daemon, to: Daemon) => {
    const hops = r === undefined ? [to] : [r, to]
    let prev = from
    for (const hop of hops) {
      point(
        { label: `${hop.name}.udpRecv`, ...udpRecv(hop) },
        {
          name: `UDP ${prev.name}→${hop.name}`,
          kind: 'kernel',
          contains: `${prev.name}'s sendmmsg, the underlay (veth, bridge, veth), ${hop.name}'s UDP receive, ${hop.name}'s reader woken from poll(2), its recvmmsg returning`,
        },
      )
      if (hop !== to) through(hop, 'forward', 'recvmmsg', udpSend(hop), 'send')
      prev = hop
    }
  }
  point({
    label: 'ping.send',
    tid: pingPid,
    daemon: undefined,
    match: (c) => c.nr === NR.sendto || c.nr === NR.sendmsg,
    at: 'enter',
  })
  point(
    { label: 'A.tapRead', ...tapRead(a) },
    {
      name: 'ping → A reader',
      kind: 'kernel',
      contains: `ping's sendmsg, A's IP stack out through the TAP, A's reader woken from poll(2), its read(2) returning`,
    },
  )
  through(a, 'request out', 'TAP read', udpSend(a), 'send')
  wire(a, b)
  through(b, 'request in', 'recvmmsg', tapWrite(b), 'write')
  point(
    { label: 'B.tapRead', ...tapRead(b) },
    {
      name: 'B kernel echo',
      kind: 'kernel',
      contains: `B's write(2) into the TAP, B's kernel answering the echo, the reply queued on the TAP, B's reader woken, its read(2) returning`,
    },
  )
  through(b, 'reply out', 'TAP read', udpSend(b), 'send')
  wire(b, a)
  through(a, 'reply in', 'recvmmsg', tapWrite(a), 'write')
  point(
    {
      label: 'ping.recv',
      tid: pingPid,
      daemon: undefined,
      match: (c) => (c.nr === NR.recvmsg || c.nr === NR.recvfrom) && c.ret > 0,
      at: 'exit',
    },
    {
      name: 'A TAP → ping',
      kind: 'kernel',
      contains: `A's write(2) into the TAP, A's IP stack delivering the reply, ping woken, its recvmsg returning`,
    },
  )
  return { points, stages }
}

/** Per echo: each stage's duration (µs) and, for stages ending in a return, the wake-up split. */
interface EchoTiming {
  stages: number[]
  /** [start → woken, woken → on CPU, on CPU → return] per stage, or null (not asleep, or no return). */
  wakes: Array<[number, number, number] | null>
  /** Per stage: an optional point (the main thread's wake-up) that did not happen. */
  busy: boolean[]
  /** Per stage: it ends in a daemon's output by a reader thread (the fast path), not the main thread. */
  fast: boolean[]
}

function firstAtOrAfter(times: readonly number[], t: number): number {
  let lo = 0
  let hi = times.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (times[mid]! < t) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The last time in `times` within [from, to], or undefined. */
function lastWithin(times: readonly number[] | undefined, from: number, to: number) {
  if (times === undefined) return undefined
  const i = firstAtOrAfter(times, to + 1) - 1
  return i >= 0 && times[i]! >= from ? times[i] : undefined
}

function correlate(
  trace: Trace,
  points: readonly Point[],
): {
  echoes: EchoTiming[]
  requests: number
  incomplete: number
  incompleteAt: Record<string, number>
} {
  /** Each point's candidate (time, tid), sorted by time. */
  const candidates = points.map((p) => {
    const tids =
      typeof p.tid === 'number'
        ? [p.tid]
        : p.tid === 'main'
          ? [p.daemon!.pid]
          : p.tid === 'any'
            ? p.daemon!.tids
            : p.daemon!.tids.filter((t) => t !== p.daemon!.pid)
    const list: Array<{ t: number; tid: number }> = []
    for (const tid of tids)
      for (const c of trace.calls.get(tid) ?? [])
        if (p.match(c)) list.push({ t: p.at === 'enter' ? c.enter : c.exit, tid })
    list.sort((x, y) => x.t - y.t)
    return { times: list.map((x) => x.t), tids: list.map((x) => x.tid) }
  })
  const sends = candidates[0]!.times
  const echoes: EchoTiming[] = []
  let incomplete = 0
  const incompleteAt: Record<string, number> = {}
  for (const [i, t0] of sends.entries()) {
    const end = sends[i + 1] ?? t0 + 50e6
    let t = t0
    const at: number[] = [t0]
    const who: number[] = [candidates[0]!.tids[i]!]
    const skipped: boolean[] = [false]
    let ok = true
    for (const [k, c] of candidates.entries()) {
      if (k === 0) continue
      const j = firstAtOrAfter(c.times, t)
      if (points[k]!.optional) {
        // Taken only if it comes before the next point's first candidate.
        const next = candidates[k + 1]!
        const n = firstAtOrAfter(next.times, t)
        const nextAt = n < next.times.length ? next.times[n]! : end
        if (j >= c.times.length || c.times[j]! >= Math.min(end, nextAt)) {
          at.push(t)
          who.push(-1)
          skipped.push(true)
          continue
        }
      }
      if (j >= c.times.length || c.times[j]! >= end) {
        const label = points[k]!.label
        incompleteAt[label] = (incompleteAt[label] ?? 0) + 1
        ok = false
        break
      }
      t = c.times[j]!
      at.push(t)
      who.push(c.tids[j]!)
      skipped.push(false)
    }
    if (!ok) {
      incomplete++
      continue
    }
    const stages: number[] = []
    const wakes: EchoTiming['wakes'] = []
    for (let k = 1; k < at.length; k++) {
      const from = at[k - 1]!
      const to = at[k]!
      stages.push((to - from) / 1000)
      if (points[k]!.at !== 'exit' || skipped[k]) {
        wakes.push(null)
        continue
      }
      const tid = who[k]!
      const woken = lastWithin(trace.wakeups.get(tid), from, to)
      const onCpu =
        woken === undefined ? undefined : lastWithin(trace.switchIns.get(tid), woken, to)
      wakes.push(
        woken === undefined || onCpu === undefined
          ? null
          : [(woken - from) / 1000, (onCpu - woken) / 1000, (to - onCpu) / 1000],
      )
    }
    const fast = points.slice(1).map((p, k) => p.tid === 'any' && who[k + 1] !== p.daemon!.pid)
    // On the fast path the wake-up is skipped because the main thread has no part.
    const busy = skipped.slice(1).map((b, k) => b && !fast[k + 1])
    echoes.push({ stages, wakes, busy, fast })
  }
  return { echoes, requests: sends.length, incomplete, incompleteAt }
}

// ---------------------------------------------------------------- one scenario

interface StageResult {
  name: string
  kind: StageDef['kind']
  daemon: string | null
  contains: string
  median_us: number
  p90_us: number
  /** Share of echoes whose thread slept and was woken within the stage. */
  woken_share: number | null
  /**
   * Hand-offs: share of echoes whose main thread took the batch without
   * returning to epoll_wait (still busy; hand-off counted 0).
   */
  busy_share: number | null
  /**
   * A daemon's work stages: share of echoes whose output came from a reader
   * thread (the fast path: the stage is native work, its hand-off 0).
   */
  fast_share?: number | null
  /** Medians over those echoes: start → sched_wakeup, → sched_switch in, → the call returns. */
  to_wakeup_us: number | null
  wakeup_to_cpu_us: number | null
  cpu_to_return_us: number | null
}

interface ScenarioResult {
  scenario: Scenario
  /** ping's own RTTs without perf, ms: the run before perf's and the run after it, pooled. */
  ping_alone_ms: { median: number; p90: number; avg: number }
  /** ping's own RTTs while perf records, ms. */
  ping_traced_ms: { median: number; p90: number; avg: number }
  /** ping sendmsg entered → recvmsg returned, from perf, µs. */
  traced_rtt_us: { median: number; p90: number }
  stages: StageResult[]
  /** Per daemon, summed per echo then the median: hand-off and JavaScript, µs. */
  daemons: Array<{ daemon: string; handoff_us: number; js_us: number; native_us?: number }>
  /** Stages in the kernel and the underlay (incl. reader wake-ups), summed per echo, median µs. */
  kernel_us: number
  echoes: number
  requests: number
  incomplete: number
  /** Where the incomplete echoes were lost track of: the point not found, and how often. */
  incomplete_at: Record<string, number>
  perf_events: number
  perf_lost: number
  threads: Record<string, number>
}

function summarize(v: ReadonlyArray<{ median: number; p90: number; avg?: number }>): {
  median: number
  p90: number
  avg: number
} {
  return {
    median: median(v.map((x) => x.median)),
    p90: median(v.map((x) => x.p90)),
    avg: median(v.map((x) => x.avg ?? Number.NaN)),
  }
}

const pingStats = (times: number[]) => ({
  median: median(times),
  p90: p90(times),
  avg: times.reduce((s, x) => s + x, 0) / Math.max(1, times.length),
})

async function measureScenario(scenario: Scenario, dir: string): Promise<ScenarioResult> {
  const starting = startPeertap(
    scenario,
    {
      ...datagramOptions('udp'),
      ...(fastPathOption === undefined ? {} : { fastPath: fastPathOption === 'on' }),
      signal: abort.signal,
    },
    true,
  )
  // Interrupted while starting: the start removes what it built, or its overlay is stopped.
  const whileStarting = () =>
    starting.then(
      (started) => started.overlay.stop(),
      () => {},
    )
  cleanups.add(whileStarting)
  const { overlay, relay } = await starting.finally(() => cleanups.delete(whileStarting))
  let perf: ChildProcess | undefined
  let pinger: ChildProcess | undefined
  const cleanup = async () => {
    await stop(perf, 'SIGINT')
    await stop(pinger)
    await overlay.stop()
  }
  cleanups.add(cleanup)
  try {
    return await traceScenario(
      scenario,
      overlay,
      relay,
      dir,
      (p) => {
        perf = p
      },
      (p) => {
        pinger = p
      },
    )
  } finally {
    cleanups.delete(cleanup)
    await cleanup()
  }
}

async function traceScenario(
  scenario: Scenario,
  overlay: Overlay,
  relay: RelayHost | undefined,
  dir: string,
  setPerf: (p: ChildProcess) => void,
  setPing: (p: ChildProcess) => void,
): Promise<ScenarioResult> {
  const target = overlay.node('b').ip
  await warmUp(overlay.topo, target)
  const pingArgv = ['ping', '-c', String(count), '-i', '0.01', '-W', '2', target]
  const alone = pingTimes(await overlay.topo.exec('a', pingArgv, count * 20 + 30_000))
  if (alone.length === 0) throw new Error(`${scenario}: no ping replies`)

  const a = await daemon('A', overlay.node('a').pid)
  const b = await daemon('B', overlay.node('b').pid)
  const r = relay === undefined ? undefined : await daemon('R', relay.pid)
  for (const d of [a, b, r]) {
    if (d !== undefined && d.tapFds.size === 0 && d !== r) throw new Error(`${d.name}: no TAP fd`)
  }
  // ping waits for a file before it starts, so that its PID is known to
  // perf's filter and perf is recording when the first echo leaves.
  const go = join(dir, `go-${scenario}`)
  const pinger = overlay.topo.spawn('a', [
    'sh',
    '-c',
    `while [ ! -e ${go} ]; do sleep 0.02; done; exec ${pingArgv.join(' ')}`,
  ])
  setPing(pinger)
  let pingOut = ''
  pinger.stdout?.on('data', (chunk: Buffer) => {
    pingOut += chunk.toString()
  })
  const pingPid = pinger.pid!
  const tids = [...a.tids, ...b.tids, ...(r?.tids ?? [])]
  // Every event on the machine is filtered (the machine is shared and
  // busy): a range test first turns most others away in two comparisons.
  const range = (field: string, list: readonly number[]) =>
    `${field} >= ${Math.min(...list)} && ${field} <= ${Math.max(...list)}`
  const byTid = (field: string) =>
    `${range(field, [...tids, pingPid])} && (${[...tids, pingPid].map((t) => `${field} == ${t}`).join(' || ')})`
  // Only the calls the stages need, to keep perf's own cost on the round
  // trip small: the main threads' sendmmsg and write(2) (its descriptor is
  // in the entry) and epoll_wait returning something; the other threads'
  // read(2) (entry for the descriptor) and recvmmsg returning something,
  // and their sendmmsg and write(2) (the fast path's output).
  // ping spins between echoes (iputils: an interval within a clock tick of
  // the next send is waited in recvmsg(MSG_DONTWAIT) and sched_yield): of
  // ping only its sends and the returns of its receives that got something.
  const anyOf = (field: string, list: readonly number[]) =>
    `(${list.map((t) => `${field} == ${t}`).join(' || ')})`
  const mains = anyOf(
    'common_pid',
    [a, b, ...(r === undefined ? [] : [r])].map((d) => d.pid),
  )
  const others = anyOf(
    'common_pid',
    [a, b, ...(r === undefined ? [] : [r])].flatMap((d) => d.tids.filter((t) => t !== d.pid)),
  )
  const ping = `common_pid == ${pingPid}`
  const all = range('common_pid', [...tids, pingPid])
  const enters = `${all} && ((${mains} && (id == ${NR.write} || id == ${NR.sendmmsg})) || (${others} && (id == ${NR.read} || id == ${NR.write} || id == ${NR.sendmmsg})) || (${ping} && (id == ${NR.sendto} || id == ${NR.sendmsg})))`
  const exits = `${all} && ((${mains} && (id == ${NR.write} || id == ${NR.sendmmsg} || ((id == ${NR.epollWait} || id == ${NR.epollPwait} || id == ${NR.epollPwait2}) && ret > 0))) || (${others} && (id == ${NR.read} || id == ${NR.recvmmsg}) && ret > 0) || (${ping} && (id == ${NR.recvmsg} || id == ${NR.recvfrom}) && ret > 0))`
  const data = join(dir, `${scenario}.data`)
  const perf = spawn(
    'perf',
    [
      'record',
      '-q',
      '-a',
      '-m',
      '1024',
      '-o',
      data,
      '-e',
      'raw_syscalls:sys_enter',
      '--filter',
      enters,
      '-e',
      'raw_syscalls:sys_exit',
      '--filter',
      exits,
      '-e',
      'sched:sched_wakeup',
      '--filter',
      byTid('pid'),
      '-e',
      'sched:sched_switch',
      '--filter',
      byTid('next_pid'),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  setPerf(perf)
  let perfErr = ''
  perf.stderr?.on('data', (chunk: Buffer) => {
    perfErr += chunk.toString()
  })
  // perf has no ready signal; it opens its events within a few hundred ms.
  await sleep(1500)
  if (perf.exitCode !== null) throw new Error(`perf record exited: ${perfErr}`)
  await writeFile(go, '')
  await exited(pinger, count * 20 + 30_000)
  await sleep(100)
  await stop(perf, 'SIGINT')
  const traced = pingTimes(pingOut)
  // The same ping again without perf: the runs before and after bracket the traced one.
  alone.push(...pingTimes(await overlay.topo.exec('a', pingArgv, count * 20 + 30_000)))
  const script = await run('perf', ['script', '-i', data, '--ns', '-F', 'tid,time,event,trace'])
  const stats = await run('perf', ['report', '-i', data, '--stats'])
  const lost = [...stats.matchAll(/LOST(?:_SAMPLES)? events:\s+(\d+)/g)].reduce(
    (s, m) => s + Number(m[1]),
    0,
  )
  const lostChunks = /lost (\d+) chunks/.exec(script)
  await rm(data, { force: true })
  const trace = parseTrace(script)
  const { points, stages } = pointsAndStages(a, b, r, pingPid)
  const { echoes, requests, incomplete, incompleteAt } = correlate(trace, points)
  if (echoes.length === 0)
    throw new Error(`${scenario}: no echo followed through (${requests} sent)`)
  const stageResults: StageResult[] = stages.map((s, k) => {
    const durations = echoes.map((e) => e.stages[k]!)
    const wakes = echoes.map((e) => e.wakes[k]).filter((w) => w != null)
    const endsInReturn = points[k + 1]!.at === 'exit'
    const optional = points[k + 1]!.optional === true
    const output = points[k + 1]!.tid === 'any'
    return {
      name: s.name,
      kind: s.kind,
      daemon: s.daemon ?? null,
      contains: s.contains,
      median_us: median(durations),
      p90_us: p90(durations),
      woken_share: endsInReturn ? wakes.length / echoes.length : null,
      busy_share: optional ? echoes.filter((e) => e.busy[k]).length / echoes.length : null,
      fast_share: output ? echoes.filter((e) => e.fast[k]).length / echoes.length : null,
      to_wakeup_us: wakes.length > 0 ? median(wakes.map((w) => w[0])) : null,
      wakeup_to_cpu_us: wakes.length > 0 ? median(wakes.map((w) => w[1])) : null,
      cpu_to_return_us: wakes.length > 0 ? median(wakes.map((w) => w[2])) : null,
    }
  })
  const perEcho = (pick: (s: StageDef, fast: boolean) => boolean) =>
    median(
      echoes.map((e) =>
        e.stages.reduce((sum, d, k) => sum + (pick(stages[k]!, e.fast[k]!) ? d : 0), 0),
      ),
    )
  const names = [a, b, ...(r === undefined ? [] : [r])].map((d) => d.name)
  return {
    scenario,
    ping_alone_ms: pingStats(alone),
    ping_traced_ms: pingStats(traced),
    traced_rtt_us: {
      median: median(echoes.map((e) => e.stages.reduce((s, d) => s + d, 0))),
      p90: p90(echoes.map((e) => e.stages.reduce((s, d) => s + d, 0))),
    },
    stages: stageResults,
    daemons: names.map((n) => ({
      daemon: n,
      handoff_us: perEcho((s) => s.kind === 'handoff' && s.daemon === n),
      js_us: perEcho((s, fast) => s.kind === 'js' && s.daemon === n && !fast),
      native_us: perEcho((s, fast) => s.kind === 'js' && s.daemon === n && fast),
    })),
    kernel_us: perEcho((s) => s.kind === 'kernel'),
    echoes: echoes.length,
    requests,
    incomplete,
    incomplete_at: incompleteAt,
    perf_events: trace.events,
    perf_lost: lost + (lostChunks === null ? 0 : Number(lostChunks[1])),
    threads: Object.fromEntries(
      [a, b, ...(r === undefined ? [] : [r])].map((d) => [d.name, d.tids.length]),
    ),
  }
}

// ---------------------------------------------------------------- the floor

/** The UDP echo (mode `echo PORT`) and its client (`client HOST PORT COUNT INTERVAL_US`). */
const ECHO_C = String.raw`#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
  char buf[2048];
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (argc == 3 && strcmp(argv[1], "echo") == 0) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return perror("bind"), 1;
    printf("ready\n");
    fflush(stdout);
    for (;;) {
      struct sockaddr_in p;
      socklen_t l = sizeof p;
      ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&p, &l);
      if (n >= 0) sendto(s, buf, n, 0, (struct sockaddr *)&p, l);
    }
  }
  if (argc != 6) return 2;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
  inet_pton(AF_INET, argv[2], &a.sin_addr);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) return perror("connect"), 1;
  struct timeval tv = {0, 200000};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int count = atoi(argv[4]);
  long interval = atol(argv[5]);
  unsigned seq = 0xffffffff;
  memset(buf, 0, 64);
  int ok = 0;
  for (int i = 0; i < 50 && !ok; i++) {
    send(s, buf, 64, 0);
    if (recv(s, buf, sizeof buf, 0) > 0) ok = 1;
  }
  if (!ok) return fprintf(stderr, "no echo\n"), 1;
  for (int i = 0; i < 3000; i++) {
    send(s, buf, 64, 0);
    recv(s, buf, sizeof buf, 0);
  }
  int lost = 0;
  for (int i = 0; i < count; i++) {
    if (interval > 0) {
      struct timespec d = {interval / 1000000, (interval % 1000000) * 1000};
      nanosleep(&d, NULL);
    }
    seq = i;
    memcpy(buf, &seq, 4);
    double t0 = now_us();
    send(s, buf, 64, 0);
    for (;;) {
      ssize_t n = recv(s, buf, sizeof buf, 0);
      if (n < 0) { lost++; break; }
      unsigned got;
      memcpy(&got, buf, 4);
      if (got == seq) { printf("%.3f\n", now_us() - t0); break; }
    }
  }
  fprintf(stderr, "lost %d\n", lost);
  return 0;
}
`

const NODE_ECHO = `const s = require('node:dgram').createSocket('udp4')
s.on('message', (m, r) => s.send(m, r.port, r.address))
s.bind(Number(process.argv[1]), () => console.log('ready'))`

interface FloorResult {
  echo: 'c' | 'node'
  paced_us: { median: number; p90: number }
  back_to_back_us: { median: number; p90: number }
}

async function measureFloor(binary: string): Promise<FloorResult[]> {
  const creating = Topology.create({ hosts: ['a', 'b'] })
  const whileCreating = () =>
    creating.then(
      (t) => t.destroy(),
      () => {},
    )
  cleanups.add(whileCreating)
  const topo = await creating.finally(() => cleanups.delete(whileCreating))
  const cleanup = () => topo.destroy()
  cleanups.add(cleanup)
  const results: FloorResult[] = []
  try {
    const port = '7799'
    for (const echo of ['c', 'node'] as const) {
      const server = topo.spawn(
        'b',
        echo === 'c' ? [binary, 'echo', port] : [process.execPath, '-e', NODE_ECHO, port],
      )
      try {
        const ready = new Promise<void>((resolve, reject) => {
          server.stdout?.on('data', (chunk: Buffer) => {
            if (chunk.toString().includes('ready')) resolve()
          })
          server.once('exit', (code) => reject(new Error(`${echo} echo exited (${code})`)))
        })
        await ready
        const client = async (intervalUs: number) => {
          const out = await topo.exec(
            'a',
            [binary, 'client', topo.address('b'), port, String(count), String(intervalUs)],
            count * 30 + 30_000,
          )
          const v = out
            .split('\n')
            .map((l) => Number(l))
            .filter((x) => Number.isFinite(x) && x > 0)
          return { median: median(v), p90: p90(v) }
        }
        results.push({
          echo,
          paced_us: await client(10_000),
          back_to_back_us: await client(0),
        })
      } finally {
        await stop(server)
      }
    }
  } finally {
    cleanups.delete(cleanup)
    await cleanup()
  }
  return results
}

// ---------------------------------------------------------------- main

/** What an invocation prints with --json. */
interface Report {
  date: string
  /** /proc/loadavg's 1-minute figure at the start of each run: how busy the shared machine was. */
  load?: number[]
  runs: number
  count: number
  seconds: number
  scenarios: ScenarioResult[]
  floor: FloorResult[]
}

/** Runs (or invocations) merged: every figure the median of theirs. */
function merge(list: readonly Report[], seconds: number): Report {
  const names = [...new Set(list.flatMap((r) => r.scenarios.map((s) => s.scenario)))]
  return {
    date: list[list.length - 1]!.date,
    load: list.flatMap((r) => r.load ?? []),
    runs: list.reduce((sum, r) => sum + r.runs, 0),
    count: list[0]!.count,
    seconds,
    scenarios: names.map((name) =>
      combine(list.flatMap((r) => r.scenarios.filter((s) => s.scenario === name))),
    ),
    floor: (['c', 'node'] as const).map((echo) => {
      const v = list.flatMap((r) => r.floor.filter((x) => x.echo === echo))
      return {
        echo,
        paced_us: summarize(v.map((x) => x.paced_us)),
        back_to_back_us: summarize(v.map((x) => x.back_to_back_us)),
      }
    }),
  }
}

async function main(): Promise<void> {
  // --from a.json,b.json,...: the medians of earlier invocations' --json output.
  const from = option('--from')
  if (from !== undefined) {
    const list: Report[] = []
    for (const file of from.split(','))
      list.push(JSON.parse(await readFile(file, 'utf8')) as Report)
    const merged = merge(
      list,
      list.reduce((sum, r) => sum + r.seconds, 0),
    )
    if (json) console.log(JSON.stringify(merged))
    else print(merged, list.length)
    return
  }
  const can = rootAndTun()
  if (!can.ok) {
    console.log(`tools/bench/stages: skipped, it ${can.reason}`)
    return
  }
  await run('perf', ['--version']).catch(() => {
    throw new Error('perf is needed (linux-perf)')
  })
  const started = Date.now()
  const dir = await mkdtemp(join(tmpdir(), 'peertap-stages-'))
  cleanups.add(() => rm(dir, { recursive: true, force: true }))
  try {
    const binary = join(dir, 'udpecho')
    await writeFile(join(dir, 'udpecho.c'), ECHO_C)
    await run('cc', ['-O2', '-o', binary, join(dir, 'udpecho.c')])
    const each: Report[] = []
    for (let i = 0; i < runs; i++) {
      const load = Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0])
      const list: ScenarioResult[] = []
      for (const s of scenarios) list.push(await measureScenario(s, dir))
      const floor = await measureFloor(binary)
      each.push({
        date: new Date().toISOString(),
        load: [load],
        runs: 1,
        count,
        seconds: 0,
        scenarios: list,
        floor,
      })
    }
    const result = merge(each, (Date.now() - started) / 1000)
    if (json) console.log(JSON.stringify(result))
    else print(result)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Several runs of a scenario: each figure the median of the runs' figures. */
function combine(list: ScenarioResult[]): ScenarioResult {
  const first = list[0]!
  const m = (pick: (r: ScenarioResult) => number | null) => {
    const v = list.map(pick).filter((x): x is number => x !== null)
    return v.length === 0 ? null : median(v)
  }
  return {
    ...first,
    ping_alone_ms: summarize(list.map((r) => r.ping_alone_ms)),
    ping_traced_ms: summarize(list.map((r) => r.ping_traced_ms)),
    traced_rtt_us: summarize(list.map((r) => r.traced_rtt_us)),
    stages: first.stages.map((s, k) => ({
      ...s,
      median_us: m((r) => r.stages[k]!.median_us)!,
      p90_us: m((r) => r.stages[k]!.p90_us)!,
      woken_share: m((r) => r.stages[k]!.woken_share),
      busy_share: m((r) => r.stages[k]!.busy_share),
      fast_share: m((r) => r.stages[k]!.fast_share ?? null),
      to_wakeup_us: m((r) => r.stages[k]!.to_wakeup_us),
      wakeup_to_cpu_us: m((r) => r.stages[k]!.wakeup_to_cpu_us),
      cpu_to_return_us: m((r) => r.stages[k]!.cpu_to_return_us),
    })),
    daemons: first.daemons.map((d, k) => ({
      daemon: d.daemon,
      handoff_us: m((r) => r.daemons[k]!.handoff_us)!,
      js_us: m((r) => r.daemons[k]!.js_us)!,
      native_us: m((r) => r.daemons[k]!.native_us ?? 0)!,
    })),
    kernel_us: m((r) => r.kernel_us)!,
    echoes: list.reduce((s, r) => s + r.echoes, 0),
    requests: list.reduce((s, r) => s + r.requests, 0),
    incomplete: list.reduce((s, r) => s + r.incomplete, 0),
    incomplete_at: list.reduce<Record<string, number>>((sum, r) => {
      for (const [k, v] of Object.entries(r.incomplete_at)) sum[k] = (sum[k] ?? 0) + v
      return sum
    }, {}),
    perf_events: list.reduce((s, r) => s + r.perf_events, 0),
    perf_lost: list.reduce((s, r) => s + r.perf_lost, 0),
  }
}

function print(result: Report, invocations = 1): void {
  const f = (n: number | null, d = 0) => (n === null || Number.isNaN(n) ? '-' : n.toFixed(d))
  console.log(
    `PeerTap round-trip stages: ${result.runs} run(s)${invocations > 1 ? ` in ${invocations} invocations` : ''} of ${result.count} pings every 10 ms, datagram link, defaults; medians of the runs' medians (p90) in µs; ${result.seconds.toFixed(0)} s; ${result.date}; load average at each run's start ${(result.load ?? []).join(', ')}`,
  )
  for (const s of result.scenarios) {
    console.log()
    console.log(
      `${s.scenario}: ping without perf (before and after) median ${f(s.ping_alone_ms.median * 1000)} µs (avg ${f(s.ping_alone_ms.avg * 1000)}); under perf ${f(s.ping_traced_ms.median * 1000)} µs; traced send→receive ${f(s.traced_rtt_us.median)} (p90 ${f(s.traced_rtt_us.p90)}); ${s.echoes}/${s.requests} echoes followed${
        s.incomplete > 0
          ? ` (lost track at ${Object.entries(s.incomplete_at)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')})`
          : ''
      }, perf events ${s.perf_events}, lost ${s.perf_lost}`,
    )
    console.log(
      'stage                          median    p90   fast  busy  woken  →wakeup  →on CPU  →return',
    )
    for (const st of s.stages) {
      console.log(
        `${((st.fast_share ?? 0) >= 0.5 ? st.name.replace('JavaScript', 'native') : st.name).padEnd(30)} ${f(st.median_us, 1).padStart(6)} ${f(st.p90_us, 1).padStart(6)}  ${(st.fast_share == null ? '-' : `${Math.round(st.fast_share * 100)}%`).padStart(4)}  ${(st.busy_share === null ? '-' : `${Math.round(st.busy_share * 100)}%`).padStart(4)}  ${(st.woken_share === null ? '-' : `${Math.round(st.woken_share * 100)}%`).padStart(5)}  ${f(st.to_wakeup_us, 1).padStart(7)}  ${f(st.wakeup_to_cpu_us, 1).padStart(7)}  ${f(st.cpu_to_return_us, 1).padStart(7)}`,
      )
    }
    console.log(
      `sums per echo (medians): kernel and underlay ${f(s.kernel_us, 1)}; ${s.daemons.map((d) => `${d.daemon} hand-off ${f(d.handoff_us, 1)} + JavaScript ${f(d.js_us, 1)}${(d.native_us ?? 0) > 0 ? ` + native ${f(d.native_us ?? 0, 1)}` : ''}`).join('; ')}`,
    )
  }
  console.log()
  console.log('floor: UDP echo of 64 bytes between two namespaces, client in C; median (p90) µs')
  for (const fl of result.floor)
    console.log(
      `  ${fl.echo.padEnd(5)} echo: paced 10 ms ${f(fl.paced_us.median, 1)} (${f(fl.paced_us.p90, 1)}), back to back ${f(fl.back_to_back_us.median, 1)} (${f(fl.back_to_back_us.p90, 1)})`,
    )
  const c = result.floor.find((x) => x.echo === 'c')!
  const n = result.floor.find((x) => x.echo === 'node')!
  const perHop = n.paced_us.median - c.paced_us.median
  console.log(
    `  a Node main thread woken from idle costs ${f(perHop, 1)} µs more than a C process, paced`,
  )
  const direct = result.scenarios.find((s) => s.scenario === 'direct')
  if (direct !== undefined) {
    const main = direct.daemons.reduce(
      (sum, d) => sum + d.handoff_us + d.js_us + (d.native_us ?? 0),
      0,
    )
    console.log(
      `  PeerTap direct: ${f(main / 4, 1)} µs of hand-off, JavaScript and native work per daemon event (4 per round trip); issue 21's floor, 0.25 ms + 4 × 0.12 ms = 730 µs, with this per-hop figure: 250 + 4 × ${f(perHop, 0)} = ${f(250 + 4 * perHop, 0)} µs; with the traced kernel stages instead of 0.25 ms: ${f(direct.kernel_us + 4 * perHop, 0)} µs`,
    )
  }
}

// A run cut short by a signal fails in its own way (its ping or perf gone):
// the cleanup the signal started finishes first, and the script exits 130.
await main().catch(async (error: unknown) => {
  if (interrupted !== undefined) await interrupted
  throw error
})
