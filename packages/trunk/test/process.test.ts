import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { afterEach, expect, it } from 'vitest'
import type { Frame, Trunk } from '../src/index.ts'
import { makeFrames, startTrunk, until } from './helpers.ts'

const children: ChildProcess[] = []
const nodes: Trunk[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL')
  }
})

/** Spawns test/fixtures/child-node.ts and returns it with its multiaddr. */
export async function spawnChild(args: string[]): Promise<{ child: ChildProcess; addr: string }> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=peertap:source',
      new URL('./fixtures/child-node.ts', import.meta.url).pathname,
      ...args,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  children.push(child)
  const lines = createInterface({ input: child.stdout! })
  const [line] = (await Promise.race([
    once(lines, 'line'),
    new Promise((_, reject) => setTimeout(() => reject(new Error('child did not start')), 15_000)),
  ])) as [string]
  return { child, addr: JSON.parse(line).addr }
}

it('exchanges frames with a node in a separate process over TCP', async () => {
  const { child, addr } = await spawnChild(['tcp', 'cached-keys', 'echo'])
  const parent = await startTrunk('tcp', {}, nodes)
  const echoed: Frame[] = []
  let report: { frames: number; bytes: number } | undefined
  parent.setReceiver({
    onFrames: (f) => echoed.push(...f),
    onControl: (c) => {
      if (c.channel === 0x7f01) report = JSON.parse(Buffer.from(c.payload).toString())
    },
  })
  const link = await parent.dial(addr)
  expect(link.id).toBe(addr.split('/p2p/')[1])
  const frames = [
    ...makeFrames(500, 1400, 1),
    ...makeFrames(100, 9000, 2),
    ...makeFrames(100, 64, 3),
  ]
  expect(link.sendFrames(frames)).toBe(frames.length)
  await until(() => echoed.length === frames.length, 10_000, 'echoed frames')
  expect(echoed.map((f) => Buffer.from(f.sealed).toString('hex'))).toEqual(
    frames.map((f) => Buffer.from(f.sealed).toString('hex')),
  )
  link.sendControl({ channel: 0x7f00, payload: new Uint8Array(0) })
  await until(() => report !== undefined, 5000, 'report')
  expect(report).toEqual({ frames: 700, bytes: 500 * 1400 + 100 * 9000 + 100 * 64 })
  expect((await link.ping()).rttMs).toBeGreaterThan(0)
  child.stdin!.end()
  const [code] = await once(child, 'exit')
  expect(code).toBe(0)
}, 30_000)
