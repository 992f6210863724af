import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  type DatagramBatch,
  type FrameBatch,
  type OpenOptions,
  openTap,
  type TapDevice,
} from '../src/index.ts'

const ADDON = fileURLToPath(new URL('../build/Release/peertap_tap.node', import.meta.url))

/**
 * Whether tests that need only the addon (not root) can load it. In CI they
 * must run: there a missing addon fails them instead of skipping.
 */
export function canLoadAddon(): boolean {
  return process.platform === 'linux' && (existsSync(ADDON) || process.env.CI !== undefined)
}

/** Why these tests cannot run here, or undefined if they can. */
function whyNot(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`
  if (process.getuid?.() !== 0) return 'not root (TAP/TUN and network namespaces need root)'
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing'
  if (!existsSync(ADDON)) {
    return 'the addon is not built (build/Release/peertap_tap.node)'
  }
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
  } catch {
    return 'the `ip` command (iproute2) is missing'
  }
  return undefined
}

export const skipReason = whyNot()
export const canRun = skipReason === undefined
if (!canRun) console.log(`@peertap/tap device tests skipped: ${skipReason}`)

/** A device name unique to this process: `pt` + tag + pid, at most 15 bytes. */
export const devName = (tag: string): string => `pt${tag}${process.pid}`.slice(0, 15)
/** A namespace name unique to this process. */
export const nsName = (tag: string): string => `pt-tap-${tag}-${process.pid}`

/** Runs a command, returns stdout; throws with stderr on failure. */
export function run(cmd: string, args: readonly string[], timeoutMs = 10_000): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: 'pipe' })
}

export const ip = (...args: string[]): string => run('ip', args)

/** Whether `ip link show` (in a namespace, optionally) knows the device. */
export function linkExists(name: string, ns?: string): boolean {
  try {
    run('ip', [...(ns === undefined ? [] : ['-n', ns]), 'link', 'show', 'dev', name])
    return true
  } catch {
    return false
  }
}

export interface IpLink {
  ifname: string
  mtu: number
  address: string
  flags: string[]
  operstate: string
}

export function ipLink(name: string, ns?: string): IpLink {
  const out = run('ip', [
    ...(ns === undefined ? [] : ['-n', ns]),
    '-j',
    'link',
    'show',
    'dev',
    name,
  ])
  const links = JSON.parse(out) as IpLink[]
  if (links[0] === undefined) throw new Error(`no link ${name}`)
  return links[0]
}

export function addNetns(name: string): void {
  delNetns(name)
  ip('netns', 'add', name)
  ip('-n', name, 'link', 'set', 'lo', 'up')
}

/** Deletes a namespace this test created; ignores one that is not there. */
export function delNetns(name: string): void {
  try {
    ip('netns', 'del', name)
  } catch {}
}

export const fixture = (name: string): string =>
  fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

export interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

/**
 * Runs a child process with a deadline; on the deadline it kills that child
 * (by its own PID, nothing else) and resolves with what it had.
 */
export function child(
  cmd: string,
  args: readonly string[],
  timeoutMs = 15_000,
): Promise<ChildResult> {
  return new Promise((resolve) => {
    const started = Date.now()
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const timer = setTimeout(() => {
      if (p.pid !== undefined) process.kill(p.pid, 'SIGKILL')
    }, timeoutMs)
    p.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
}

/** Node running a TypeScript fixture with the source condition, as the tests do. */
export const nodeArgs = (script: string, ...args: string[]): string[] => [
  '--conditions=peertap:source',
  '--no-warnings',
  fixture(script),
  ...args,
]

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Polls `check` until it returns true or the deadline passes. */
export async function until(
  check: () => boolean,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

export interface Spawned {
  /** Resolves with the first line the child prints. */
  readonly firstLine: Promise<string>
  readonly done: Promise<ChildResult>
  /** Kills this child (by its PID) if it is still running. */
  kill(): void
}

/** Like child(), but hands over the first stdout line as soon as it comes. */
export function spawnChild(cmd: string, args: readonly string[], timeoutMs = 15_000): Spawned {
  const started = Date.now()
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let exited = false
  let onLine: (line: string) => void = () => {}
  const firstLine = new Promise<string>((resolve, reject) => {
    onLine = resolve
    p.on('close', () => reject(new Error(`child exited before printing: ${stderr}`)))
  })
  firstLine.catch(() => {})
  p.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
    const nl = stdout.indexOf('\n')
    if (nl >= 0) onLine(stdout.slice(0, nl))
  })
  p.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const kill = (): void => {
    // exitCode/signalCode are set once the child is reaped ('exit'), before its
    // pipes close ('close'): after that its PID is no longer ours to signal.
    if (exited || p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return
    process.kill(p.pid, 'SIGKILL')
  }
  const timer = setTimeout(kill, timeoutMs)
  const done = new Promise<ChildResult>((resolve) => {
    p.on('close', (code, signal) => {
      exited = true
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
  return { firstLine, done, kill }
}

/**
 * Two namespaces joined only by this process: a TAP in each (`options`
 * passed to openTap), addresses `${subnet}.1` and `${subnet}.2`/24, links up,
 * and a forwarder that writes every batch read on one TAP to the other.
 * `onBatchA` sees each batch read on A before it is forwarded.
 */
export function forwardedPair(
  tag: string,
  subnet: string,
  options: Omit<OpenOptions, 'name'> = {},
  onBatchA: (batch: FrameBatch) => void = () => {},
): { nsA: string; nsB: string; a: TapDevice; b: TapDevice; close(): void } {
  const nsA = nsName(`${tag}a`)
  const nsB = nsName(`${tag}b`)
  const devA = devName(`${tag}a`)
  const devB = devName(`${tag}b`)
  addNetns(nsA)
  addNetns(nsB)
  const a = openTap({ ...options, name: devA })
  const b = openTap({ ...options, name: devB })
  for (const [dev, ns, host] of [
    [devA, nsA, 1],
    [devB, nsB, 2],
  ] as const) {
    ip('link', 'set', dev, 'netns', ns)
    ip('-n', ns, 'addr', 'add', `${subnet}.${host}/24`, 'dev', dev)
    ip('-n', ns, 'link', 'set', dev, 'up')
  }
  a.onBatch((batch) => {
    onBatchA(batch)
    b.writeBatch(batch)
  })
  b.onBatch((batch) => {
    a.writeBatch(batch)
  })
  return {
    nsA,
    nsB,
    a,
    b,
    close() {
      a.close()
      b.close()
      delNetns(nsA)
      delNetns(nsB)
    },
  }
}

/** A datagram copied out of a batch, with its source. */
export interface Received {
  data: Uint8Array
  address: string
  port: number
}

/** Copies a batch out (it is valid only during its handler). */
export const copy = (b: DatagramBatch, into: Received[]): void => {
  for (let i = 0; i < b.count; i++) {
    const off = b.offsets[i]!
    into.push({
      data: b.data.slice(off, off + b.lengths[i]!),
      address: b.address(i),
      port: b.port(i),
    })
  }
}

/**
 * A UDP echo between two namespaces (fixtures/udp.ts): `count` datagrams
 * from `nsA` to `address`:`port` in `nsB`, each sent once the last came
 * back; returns the round trips (ms). Throws if either end fails.
 */
export async function udpEcho(
  nsA: string,
  nsB: string,
  address: string,
  port: number,
  count: number,
): Promise<number[]> {
  const inNs = (ns: string, ...args: string[]) =>
    spawnChild('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs('udp.ts', ...args)])
  const server = inNs(nsB, 'echo', address, String(port), String(count))
  const client = inNs(nsA, 'client', address, String(port), String(count))
  try {
    const first = await server.firstLine
    if (first !== 'listening') throw new Error(`udp.ts echo in ${nsB} said: ${first}`)
    const { rtts } = JSON.parse(await client.firstLine) as { rtts: number[] }
    const { code } = await client.done
    if (code !== 0) throw new Error(`udp.ts client in ${nsA} exited with ${code}`)
    return rtts
  } finally {
    client.kill()
    server.kill()
  }
}
