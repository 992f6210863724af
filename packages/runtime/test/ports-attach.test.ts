import { beforeEach, describe, expect, it, vi } from 'vitest'

/** `ip` commands the ports ran, as argument lists. */
const ipCalls: string[][] = []
vi.mock('node:child_process', () => ({
  execFile: (_file: string, args: string[], callback: (e: null, r: object) => void) => {
    ipCalls.push(args)
    callback(null, { stdout: '', stderr: '' })
  },
}))

/** The fake TAP device's link-state changes (`setUp`). */
const setUps: boolean[] = []
vi.mock('@peertap/tap', () => ({
  openTap: (options: { name: string; mtu: number }) => ({
    name: options.name,
    vnetHeader: false,
    link: () => ({ up: true, running: true, mtu: options.mtu, mac: '02:00:5e:00:00:01' }),
    setUp: (up: boolean) => void setUps.push(up),
    onBatch: () => {},
    writeBatch: () => {},
    stats: () => ({}),
    close: () => {},
  }),
}))

const { Ports } = await import('../src/ports.ts')
type Host = ConstructorParameters<typeof Ports>[0]
type Vlan = Parameters<InstanceType<typeof Ports>['open']>[0]

// A device name no machine has: the kernel's view of it has no addresses.
const DEVICE = 'pt-unit-none0'

function ports() {
  const log = { info() {}, debug() {}, trace() {}, error() {}, warn() {} }
  const sw = { addPort() {}, removePort() {}, addVlan() {}, removeVlan() {}, vlanNames: () => [] }
  return new Ports({
    sw,
    log,
    trace: false,
    now: () => 0,
    links: () => [],
    sendLocal() {},
  } as unknown as Host)
}

const lab = {
  name: 'lab',
  port: {
    type: 'tap',
    device: DEVICE,
    mtu: 1400,
    mac: '02:00:5e:00:00:01',
    offload: false,
    addresses: ['10.77.0.1/24', 'fd00:1::1/64'],
  },
} as unknown as Vlan

describe('Ports: detach and attach', () => {
  beforeEach(() => {
    ipCalls.length = 0
    setUps.length = 0
  })

  it('sets the device down and up, and adds its addresses again on attach (IPv6 goes with the link)', async () => {
    const p = ports()
    await p.open(lab)
    await p.addAddress('lab', 'fd00:1::2/64') // one given later (a joiner's)
    ipCalls.length = 0
    await p.setAttached('lab', false)
    expect(setUps).toEqual([false])
    expect(ipCalls).toEqual([])
    expect(p.interfaces()[0]?.attached).toBe(false)
    await p.setAttached('lab', true)
    expect(setUps).toEqual([false, true])
    expect(ipCalls).toEqual(
      ['10.77.0.1/24', 'fd00:1::1/64', 'fd00:1::2/64'].map((a) => [
        'addr',
        'add',
        a,
        'dev',
        DEVICE,
      ]),
    )
    expect(p.interfaces()[0]?.attached).toBe(true)
    await expect(p.setAttached('nope', true)).rejects.toThrow(/no port/)
    p.closeAll()
  })

  it("reports the device's addresses as the kernel has them, not as the VLAN asks", async () => {
    const p = ports()
    await p.open(lab)
    // The kernel has no such device: no IPv6 address on it; IPv4 is the port's own while
    // the device is not listed as up (Linux keeps IPv4 addresses on a device set down).
    expect(p.interfaces().map((i) => i.addresses)).toEqual([['10.77.0.1/24']])
    p.closeAll()
  })
})
