/**
 * A longer, lossy underlay path for tools/bench `--delay`: host `b`'s
 * bridge port moves to a second bridge, and a delay line (delay-line.ts,
 * run in the switch namespace) joins the two bridges through two TAP
 * devices, delaying every frame by the one-way time and dropping the given
 * share at random, in both directions.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Topology } from '@peertap/tool-netns'

const SCRIPT = fileURLToPath(new URL('./delay-line.ts', import.meta.url))

export interface DelayLine {
  /** Stops the delay line (by its PID) and returns its counters. */
  stop(): Promise<{ forwarded: number; dropped: number; overflow: number } | undefined>
}

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** Puts a delay line of `oneWayMs` and `lossPct` % random loss between host `b` and the rest. */
export async function insertDelayLine(
  topo: Topology,
  oneWayMs: number,
  lossPct: number,
): Promise<DelayLine> {
  const sw = topo.switchNs
  const port = `p${topo.id}${topo.hosts.indexOf('b')}`
  const child: ChildProcess = spawn(
    'ip',
    [
      'netns',
      'exec',
      sw,
      process.execPath,
      ...process.execArgv.filter((a) => a.startsWith('--conditions')),
      SCRIPT,
      'ptdlx',
      'ptdly',
      String(oneWayMs),
      String(Math.round(lossPct * 10)),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const stop: DelayLine['stop'] = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return undefined
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await exited
    try {
      return JSON.parse(stderr.trim().split('\n').at(-1) ?? '')
    } catch {
      return undefined
    }
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('delay line: not ready in 10 s')), 10_000)
      child.stdout!.once('data', () => {
        clearTimeout(timer)
        resolve()
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`delay line exited (${code}): ${stderr.trim()}`))
      })
    })
    ip('-n', sw, 'link', 'set', port, 'nomaster')
    ip('-n', sw, 'link', 'set', 'ptdlx', 'master', 'br0')
    ip('-n', sw, 'link', 'add', 'br1', 'type', 'bridge')
    ip('-n', sw, 'link', 'set', 'br1', 'up')
    ip('-n', sw, 'link', 'set', port, 'master', 'br1')
    ip('-n', sw, 'link', 'set', 'ptdly', 'master', 'br1')
  } catch (error) {
    await stop()
    throw error
  }
  return { stop }
}
