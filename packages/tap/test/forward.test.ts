import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseArp } from './frames.ts'
import { canRun, forwardedPair, ip, nodeArgs, spawnChild } from './helpers.ts'

// Two namespaces joined only by this process: a TAP in each, and a
// forwarder that writes every batch read on one TAP to the other. UDP
// across them (there is no ping everywhere) proves ARP and IPv4 pass.
describe.skipIf(!canRun)('two namespaces joined by a JavaScript forwarder', () => {
  let pair: ReturnType<typeof forwardedPair> | undefined
  let arpsForwarded = 0

  beforeAll(() => {
    pair = forwardedPair('f', '10.78.0', {}, (batch) => {
      for (let i = 0; i < batch.count; i++) if (parseArp(batch.frame(i))) arpsForwarded++
    })
  })

  afterAll(() => {
    pair?.close()
  })

  it('carries a UDP exchange both ways, ARP first', async () => {
    const { nsA, nsB, a, b } = pair!
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
      const sa = a.stats()
      const sb = b.stats()
      // Everything read on one side was written to the other.
      expect(sb.framesWritten).toBe(sa.framesRead)
      expect(sa.framesWritten).toBe(sb.framesRead)
      expect(sa.writeDrops + sb.writeDrops).toBe(0)
      expect(ip('-n', nsA, 'neigh', 'show', '10.78.0.2')).toContain(
        JSON.parse(ip('-n', nsB, '-j', 'link', 'show', b.name))[0].address,
      )
    } finally {
      client.kill()
      echo.kill()
    }
  })
})
