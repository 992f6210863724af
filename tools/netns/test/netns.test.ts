import { describe, expect, it } from 'vitest'
import { rootAndTun, Topology } from '../src/index.ts'

const can = rootAndTun()
if (!can.ok) console.log(`netns tests skipped: ${can.reason}`)

describe.skipIf(!can.ok)('Topology', () => {
  it('connects hosts over a bridge, and removes everything', async () => {
    const topo = await Topology.create({ hosts: ['a', 'b'] })
    try {
      const out = await topo.exec('a', ['ping', '-c', '1', '-W', '2', topo.address('b')])
      expect(out).toMatch(/1 received/)
    } finally {
      await topo.destroy()
    }
    const { sh } = await import('../src/index.ts')
    expect(await sh(['ip', 'netns', 'list'])).not.toContain(topo.ns('a'))
  })

  it('isolates spokes from each other but not from the hub', async () => {
    const topo = await Topology.create({ hosts: ['a', 'b', 'r'], isolated: true, hubs: ['r'] })
    try {
      await expect(
        topo.exec('a', ['ping', '-c', '1', '-W', '2', topo.address('r')]),
      ).resolves.toMatch(/1 received/)
      await expect(
        topo.exec('a', ['ping', '-c', '1', '-W', '1', topo.address('b')]),
      ).rejects.toThrow()
    } finally {
      await topo.destroy()
    }
  })

  it('ends the processes it started when destroyed', async () => {
    const topo = await Topology.create({ hosts: ['a'] })
    const child = topo.spawn('a', ['sleep', '30'])
    await new Promise((r) => setTimeout(r, 100))
    await topo.destroy()
    expect(child.exitCode !== null || child.signalCode !== null).toBe(true)
  })
})
