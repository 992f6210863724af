import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTap, type TapDevice } from '../src/index.ts'
import { parseArp } from './frames.ts'
import { addNetns, canRun, delNetns, devName, ip, nodeArgs, nsName, spawnChild } from './helpers.ts'

// Two namespaces joined only by this process: a TAP in each, and a
// forwarder that writes every batch read on one TAP to the other. UDP
// across them (there is no ping everywhere) proves ARP and IPv4 pass.
describe.skipIf(!canRun)('two namespaces joined by a JavaScript forwarder', () => {
  const nsA = nsName('a')
  const nsB = nsName('b')
  const devA = devName('fa')
  const devB = devName('fb')
  let a: TapDevice | undefined
  let b: TapDevice | undefined
  let arpsForwarded = 0

  beforeAll(() => {
    addNetns(nsA)
    addNetns(nsB)
    a = openTap({ name: devA })
    b = openTap({ name: devB })
    ip('link', 'set', devA, 'netns', nsA)
    ip('link', 'set', devB, 'netns', nsB)
    ip('-n', nsA, 'addr', 'add', '10.78.0.1/24', 'dev', devA)
    ip('-n', nsB, 'addr', 'add', '10.78.0.2/24', 'dev', devB)
    ip('-n', nsA, 'link', 'set', devA, 'up')
    ip('-n', nsB, 'link', 'set', devB, 'up')
    const ta = a
    const tb = b
    ta.onBatch((batch) => {
      for (let i = 0; i < batch.count; i++) if (parseArp(batch.frame(i))) arpsForwarded++
      tb.writeBatch(batch)
    })
    tb.onBatch((batch) => {
      ta.writeBatch(batch)
    })
  })

  afterAll(() => {
    a?.close()
    b?.close()
    delNetns(nsA)
    delNetns(nsB)
  })

  it('carries a UDP exchange both ways, ARP first', async () => {
    const echo = spawnChild('ip', [
      'netns',
      'exec',
      nsB,
      process.execPath,
      ...nodeArgs('udp.ts', 'echo', '10.78.0.2', '7000', '3'),
    ])
    const client = spawnChild('ip', [
      'netns',
      'exec',
      nsA,
      process.execPath,
      ...nodeArgs('udp.ts', 'client', '10.78.0.2', '7000', '3'),
    ])
    try {
      expect(await echo.firstLine).toBe('listening')
      const line = await client.firstLine
      const { rtts } = JSON.parse(line) as { rtts: number[] }
      expect(rtts).toHaveLength(3)
      expect((await client.done).code).toBe(0)
      expect((await echo.done).code).toBe(0)
      expect(arpsForwarded).toBeGreaterThan(0)
      const sa = a!.stats()
      const sb = b!.stats()
      // Everything read on one side was written to the other.
      expect(sb.framesWritten).toBe(sa.framesRead)
      expect(sa.framesWritten).toBe(sb.framesRead)
      expect(sa.writeDrops + sb.writeDrops).toBe(0)
      expect(ip('-n', nsA, 'neigh', 'show', '10.78.0.2')).toContain(
        JSON.parse(ip('-n', nsB, '-j', 'link', 'show', devB))[0].address,
      )
    } finally {
      client.kill()
      echo.kill()
    }
  })
})
