import { describe, expect, it } from 'vitest'
import type { VlanConfig } from '../src/config.ts'
import type { PortInterface } from '../src/ports.ts'
import { Vlans, type VlansHost } from '../src/vlans.ts'

/** Vlans over a fake host: only what attach/detach and the interfaces read (the config's VLANs, the ports). */
function vlansWith(configured: Array<{ name: string; addresses: string[] }>) {
  const calls: Array<[string, boolean]> = []
  const ports = {
    setAttached: (vlan: string, attached: boolean) => void calls.push([vlan, attached]),
    interfaces: (): PortInterface[] =>
      configured.map((v) => ({
        vlan: v.name,
        device: `pt-${v.name}`,
        attached: !calls.some(([name, attached]) => name === v.name && !attached),
        up: true,
        running: true,
        mtu: 1400,
        mac: '02:00:5e:00:00:01',
        stats: {
          batchesRead: 0,
          framesRead: 0,
          bytesRead: 0,
          readerWaits: 0,
          truncated: 0,
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
  it('attaches and detaches a VLAN by its port, and refuses a VLAN it does not have', () => {
    const { vlans, calls } = vlansWith([{ name: 'lab', addresses: ['10.77.0.1/24'] }])
    expect(vlans.setAttached('lab', false)).toEqual({ vlan: 'lab', attached: false })
    expect(vlans.setAttached('lab', true)).toEqual({ vlan: 'lab', attached: true })
    expect(calls).toEqual([
      ['lab', false],
      ['lab', true],
    ])
    expect(() => vlans.setAttached('nope', false)).toThrow(/no VLAN named "nope"/)
    expect(calls.length).toBe(2)
  })

  it("gives each port with the addresses its VLAN's entry gives it", () => {
    const { vlans } = vlansWith([
      { name: 'lab', addresses: ['10.77.0.1/24'] },
      { name: 'ops', addresses: [] },
    ])
    expect(vlans.interfaces().map((p) => [p.vlan, p.device, p.addresses])).toEqual([
      ['lab', 'pt-lab', ['10.77.0.1/24']],
      ['ops', 'pt-ops', []],
    ])
  })
})
