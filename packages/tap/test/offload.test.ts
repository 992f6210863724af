import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { VNET_HEADER_BYTES } from '../src/index.ts'
import { canRun, forwardedPair, nodeArgs, spawnChild } from './helpers.ts'

// virtio_net_hdr (little-endian): flags u8, gso_type u8, hdr_len u16,
// gso_size u16, csum_start u16, csum_offset u16.
const GSO_TCPV4 = 1
const NEEDS_CSUM = 1
const MTU = 1400

// Two namespaces joined by a forwarder in this process, both TAPs opened
// with offloads: the kernel hands over TCP segments larger than the MTU
// (TSO) with a partial checksum, the forwarder writes them to the other TAP
// whole, and that kernel takes them. A TCP transfer's checksum proves it.
describe.skipIf(!canRun)('TAP offloads (IFF_VNET_HDR, TUNSETOFFLOAD)', () => {
  let pair: ReturnType<typeof forwardedPair> | undefined
  let largest = 0
  let largestHeader: Uint8Array | undefined
  let partialChecksums = 0

  beforeAll(() => {
    pair = forwardedPair('o', '10.79.0', { vnetHeader: true, mtu: MTU }, (batch) => {
      for (let i = 0; i < batch.count; i++) {
        const len = batch.lengths[i]!
        const at = batch.offsets[i]!
        if (batch.data[at]! & NEEDS_CSUM) partialChecksums++
        if (len > largest) {
          largest = len
          largestHeader = batch.data.slice(at, at + VNET_HEADER_BYTES)
        }
      }
    })
  })

  afterAll(() => {
    pair?.close()
  })

  it('reports the header on the device', () => {
    expect(pair!.a.vnetHeader).toBe(true)
    expect(pair!.b.vnetHeader).toBe(true)
    expect(VNET_HEADER_BYTES).toBe(10)
  })

  it('carries TCP segments larger than the MTU whole, and the transfer matches', async () => {
    const { nsA, nsB, a, b } = pair!
    const bytes = 32 * 1024 * 1024
    const sink = spawnChild(
      'ip',
      ['netns', 'exec', nsB, process.execPath, ...nodeArgs('tcp.ts', 'sink', '10.79.0.2', '7100')],
      30_000,
    )
    try {
      expect(await sink.firstLine).toBe('listening')
      const source = spawnChild(
        'ip',
        [
          'netns',
          'exec',
          nsA,
          process.execPath,
          ...nodeArgs('tcp.ts', 'source', '10.79.0.2', '7100', String(bytes)),
        ],
        30_000,
      )
      const sent = JSON.parse(await source.firstLine) as { bytes: number; sha256: string }
      const got = JSON.parse((await sink.done).stdout.trim().split('\n').at(-1)!) as {
        bytes: number
        sha256: string
      }
      expect((await source.done).code).toBe(0)
      expect(got).toEqual(sent)
      expect(got.bytes).toBe(bytes)
      // Frames far above the MTU crossed: TSO super-segments, with their header.
      expect(largest).toBeGreaterThan(4 * MTU)
      const h = new DataView(largestHeader!.buffer)
      expect(h.getUint8(1) & 0x7f).toBe(GSO_TCPV4)
      expect(h.getUint16(4, true)).toBeGreaterThan(0) // gso_size: the MSS
      expect(h.getUint16(4, true)).toBeLessThanOrEqual(MTU - 40)
      expect(partialChecksums).toBeGreaterThan(0)
      expect(a.stats().writeDrops + b.stats().writeDrops).toBe(0)
    } finally {
      sink.kill()
    }
  })
})
