import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTap, type TapDevice, VNET_HEADER_BYTES } from '../src/index.ts'
import { addNetns, canRun, delNetns, devName, ip, nodeArgs, nsName, spawnChild } from './helpers.ts'

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
  const nsA = nsName('oa')
  const nsB = nsName('ob')
  const devA = devName('oa')
  const devB = devName('ob')
  let a: TapDevice | undefined
  let b: TapDevice | undefined
  let largest = 0
  let largestHeader: Uint8Array | undefined
  let partialChecksums = 0

  beforeAll(() => {
    addNetns(nsA)
    addNetns(nsB)
    a = openTap({ name: devA, vnetHeader: true, mtu: MTU })
    b = openTap({ name: devB, vnetHeader: true, mtu: MTU })
    ip('link', 'set', devA, 'netns', nsA)
    ip('link', 'set', devB, 'netns', nsB)
    ip('-n', nsA, 'addr', 'add', '10.79.0.1/24', 'dev', devA)
    ip('-n', nsB, 'addr', 'add', '10.79.0.2/24', 'dev', devB)
    ip('-n', nsA, 'link', 'set', devA, 'up')
    ip('-n', nsB, 'link', 'set', devB, 'up')
    const ta = a
    const tb = b
    ta.onBatch((batch) => {
      for (let i = 0; i < batch.count; i++) {
        const len = batch.lengths[i]!
        const at = batch.offsets[i]!
        if (batch.data[at]! & NEEDS_CSUM) partialChecksums++
        if (len > largest) {
          largest = len
          largestHeader = batch.data.slice(at, at + VNET_HEADER_BYTES)
        }
      }
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

  it('reports the header on the device', () => {
    expect(a!.vnetHeader).toBe(true)
    expect(VNET_HEADER_BYTES).toBe(10)
    // The kernel now offers TSO on the device: ethtool's view, through ip -d.
    expect(ip('-n', nsA, '-d', 'link', 'show', devA)).toContain(devA)
  })

  it('carries TCP segments larger than the MTU whole, and the transfer matches', async () => {
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
      expect(a!.stats().writeDrops + b!.stats().writeDrops).toBe(0)
    } finally {
      sink.kill()
    }
  })
})
