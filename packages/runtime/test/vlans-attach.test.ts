import { describe, expect, it } from 'vitest'
import type { VlanConfig } from '../src/config.ts'
import type { PortInterface } from '../src/ports.ts'
import { Vlans, type VlansHost } from '../src/vlans.ts'

/**
 * Vlans over a fake host: only what attach/detach and the interfaces read
 * (the config's VLANs, the ports); `kernel` is what the ports say the
 * kernel has on each device (by VLAN), the VLAN's own addresses if not given.
 */
function vlansWith(
  configured: Array<{ name: string; addresses: string[] }>,
  kernel: Record<string, string[]> = {},
) {
  const calls: Array<[string, boolean]> = []
  const ports = {
    setAttached: async (vlan: string, attached: boolean) => void calls.push([vlan, attached]),
    interfaces: (): PortInterface[] =>
      configured.map((v) => ({
        vlan: v.name,
        device: `pt-${v.name}`,
        kind: 'tap' as const,
        attached: !calls.some(([name, attached]) => name === v.name && !attached),
        up: true,
        running: true,
        mtu: 1400,
        mac: '02:00:5e:00:00:01',
        addresses: kernel[v.name] ?? v.addresses,
        stats: {
          batchesRead: 0,
          framesRead: 0,
          bytesRead: 0,
          readerWaits: 0,
          truncated: 0,
          readThroughs: 0,
          lends: 0,
          batchesWritten: 0,
          framesWritten: 0,
          writeDrops: 0,
        },
      })),
  }
  const host = { store: { list: () => [] }, ports } as unknown as VlansHost
  const entries = configured.map(
    (v) =>
      ({ name: v.name, port: { device: `pt-${v.name}`, addresses: v.addresses } }) as VlanConfig,
  )
  return { vlans: new Vlans(host, entries), calls }
}

describe('Vlans: the web page attach/detach and interfaces', () => {
  it('attaches and detaches a VLAN by its port, and refuses a VLAN it does not have', async () => {
    const { vlans, calls } = vlansWith([{ name: 'lab', addresses: ['10.77.0.1/24'] }])
    expect(await vlans.setAttached('lab', false)).toEqual({ vlan: 'lab', attached: false })
    expect(await vlans.setAttached('lab', true)).toEqual({ vlan: 'lab', attached: true })
    expect(calls).toEqual([
      ['lab', false],
      ['lab', true],
    ])
    await expect(vlans.setAttached('nope', false)).rejects.toThrow(/no VLAN named "nope"/)
    expect(calls.length).toBe(2)
  })

  it('gives each port with the addresses the kernel has on its device, not those its entry asks for', () => {
    const { vlans } = vlansWith(
      [
        { name: 'lab', addresses: ['10.77.0.1/24', 'fd00::1/64'] },
        { name: 'ops', addresses: [] },
      ],
      { lab: ['10.77.0.1/24'] }, // the IPv6 one flushed
    )
    expect(vlans.interfaces().map((p) => [p.vlan, p.device, p.addresses])).toEqual([
      ['lab', 'pt-lab', ['10.77.0.1/24']],
      ['ops', 'pt-ops', []],
    ])
  })
})
