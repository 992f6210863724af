import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type FrameBatch, openTap, openTun, type TapDevice, TapError } from '../src/index.ts'
import { arpFrame, parseArp, udpDstPort, udpFrame } from './frames.ts'
import {
  addNetns,
  canRun,
  child,
  delNetns,
  devName,
  ip,
  ipLink,
  linkExists,
  nodeArgs,
  nsName,
  spawnChild,
  until,
} from './helpers.ts'

const opened: TapDevice[] = []
const track = (d: TapDevice): TapDevice => {
  opened.push(d)
  return d
}
const closeAll = (): void => {
  for (const d of opened.splice(0)) d.close()
}

/** Copies every frame of a batch out (a batch is valid only during its handler). */
const copyFrames = (b: FrameBatch): Uint8Array[] => {
  const out: Uint8Array[] = []
  for (let i = 0; i < b.count; i++) out.push(Uint8Array.from(b.frame(i)))
  return out
}

describe.skipIf(!canRun)('a TAP/TUN device', () => {
  afterEach(closeAll)

  it('opens a TAP device by name and removes it on close', () => {
    const name = devName('oc')
    const tap = track(openTap({ name }))
    expect(tap.name).toBe(name)
    expect(tap.kind).toBe('tap')
    expect(ip('-d', '-j', 'link', 'show', 'dev', name)).toContain('"type":"tap"')
    tap.close()
    expect(tap.closed).toBe(true)
    expect(linkExists(name)).toBe(false)
    tap.close() // idempotent
  })

  it('opens a TUN device, which has no MAC address', () => {
    const name = devName('tu')
    const tun = track(openTun({ name, mtu: 1280 }))
    expect(tun.kind).toBe('tun')
    expect(ip('-d', '-j', 'link', 'show', 'dev', name)).toContain('"type":"tun"')
    const link = tun.link()
    expect(link.mac).toBeUndefined()
    expect(link.mtu).toBe(1280)
    expect(() => tun.setMac('02:00:00:00:00:01')).toThrow(TapError)
  })

  it('sets MTU, MAC and link state as `ip link` reports them', () => {
    const name = devName('ln')
    const tap = track(openTap({ name, mtu: 1400, mac: '02:aa:bb:cc:dd:01' }))
    let shown = ipLink(name)
    expect(shown.mtu).toBe(1400)
    expect(shown.address).toBe('02:aa:bb:cc:dd:01')
    expect(shown.flags).not.toContain('UP')
    expect(tap.link()).toMatchObject({ mtu: 1400, mac: '02:aa:bb:cc:dd:01', up: false })

    tap.setMtu(9000)
    tap.setMac(Uint8Array.of(0x02, 0x11, 0x22, 0x33, 0x44, 0x55))
    tap.setUp()
    shown = ipLink(name)
    expect(shown.mtu).toBe(9000)
    expect(shown.address).toBe('02:11:22:33:44:55')
    expect(shown.flags).toContain('UP')
    // Open and up: the carrier is on, so the kernel calls it running.
    expect(tap.link()).toMatchObject({
      mtu: 9000,
      mac: '02:11:22:33:44:55',
      up: true,
      running: true,
    })
    expect(tap.link().index).toBe(
      Number(ip('-j', 'link', 'show', 'dev', name).match(/"ifindex":(\d+)/)?.[1]),
    )

    tap.setUp(false)
    expect(ipLink(name).flags).not.toContain('UP')
    expect(tap.link().up).toBe(false)
  })

  it('refuses bad MTUs and MACs with invalid-argument, naming the value', () => {
    const tap = track(openTap({ name: devName('iv') }))
    for (const mtu of [0, 67, 65_536, 1500.5]) {
      expect(() => tap.setMtu(mtu)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    }
    expect(() => tap.setMac('01:00:5e:00:00:01')).toThrow(/multicast/)
    expect(() => tap.setMac('02:00:00:00:00')).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    )
    expect(() => openTap({ name: 'pt-this-name-is-too-long' })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    )
    expect(ipLink(tap.name).mtu).toBe(1500)
  })

  it('reads the multicast list that `ip maddr` shows, after joining a group', async () => {
    const name = devName('mc')
    const tap = track(openTap({ name, up: true }))
    ip('maddr', 'add', '01:00:5e:7f:00:42', 'dev', name)
    ip('maddr', 'add', '33:33:00:00:01:42', 'dev', name)
    const fromIp = [...ip('maddr', 'show', 'dev', name).matchAll(/link\s+([0-9a-f:]{17})/g)].map(
      (m) => m[1],
    )
    const macs = await tap.multicastMacs()
    expect(macs).toContain('01:00:5e:7f:00:42')
    expect(macs).toContain('33:33:00:00:01:42')
    expect([...macs].sort()).toEqual([...fromIp].sort())
    ip('maddr', 'del', '01:00:5e:7f:00:42', 'dev', name)
    expect(await tap.multicastMacs()).not.toContain('01:00:5e:7f:00:42')
  })

  it('writeBatch and control calls after close throw closed', () => {
    const tap = openTap({ name: devName('cl') })
    tap.close()
    expect(() => tap.writeBatch([new Uint8Array(60)])).toThrow(
      expect.objectContaining({ code: 'closed' }),
    )
    expect(() => tap.setMtu(1400)).toThrow(expect.objectContaining({ code: 'closed' }))
    expect(() => tap.onBatch(() => {})).toThrow(expect.objectContaining({ code: 'closed' }))
  })
})

// Both read paths: the main-thread poller (the default) and the reader thread.
for (const [mode, mainThread] of [
  ['main thread', true],
  ['reader thread', false],
] as const) {
  const tag = (t: string): string => (mainThread ? t : `${t}t`)

  describe.skipIf(!canRun)(`a TAP device in a network namespace (${mode})`, () => {
    const ns = nsName(tag('io'))
    const name = devName(tag('io'))
    const hostMac = '02:00:00:77:00:02' // the station we play on the wire
    let tap: TapDevice
    let tapMac: string
    const frames: Uint8Array[] = []
    const counts: number[] = []
    let hold: Promise<void> | undefined

    beforeAll(() => {
      addNetns(ns)
      // Opened here, then moved: the fd keeps working across the move.
      tap = openTap({ name })
      ip('link', 'set', name, 'netns', ns)
      ip('-n', ns, 'addr', 'add', '10.77.0.1/24', 'dev', name)
      ip('-n', ns, 'link', 'set', name, 'up')
      tapMac = ipLink(name, ns).address
      tap.onBatch(
        (b) => {
          counts.push(b.count)
          frames.push(...copyFrames(b))
          return hold
        },
        { slots: 2, batchFrames: 64, mainThread },
      )
    })

    afterAll(() => {
      tap?.close()
      delNetns(ns)
    })

    it('reads the ARP requests the kernel sends for a neighbour', async () => {
      const start = frames.length
      const c = await child('ip', [
        'netns',
        'exec',
        ns,
        process.execPath,
        ...nodeArgs('udp.ts', 'send', '10.77.0.2', '9', '1', '10'),
      ])
      expect(c.code).toBe(0)
      let arp: ReturnType<typeof parseArp>
      await until(
        () => {
          arp = frames
            .slice(start)
            .map(parseArp)
            .find((a) => a?.targetIp === '10.77.0.2')
          return arp !== undefined
        },
        5000,
        'an ARP request',
      )
      expect(arp).toEqual({
        op: 1,
        senderMac: tapMac,
        senderIp: '10.77.0.1',
        targetMac: '00:00:00:00:00:00',
        targetIp: '10.77.0.2',
      })
    })

    it('writes a batch the kernel takes: it answers the ARP request and echoes the UDP datagram', async () => {
      const echo = spawnChild('ip', [
        'netns',
        'exec',
        ns,
        process.execPath,
        ...nodeArgs('udp.ts', 'echo', '10.77.0.1', '7777', '1'),
      ])
      try {
        expect(await echo.firstLine).toBe('listening')
        const start = frames.length
        const before = tap.stats()
        const written = tap.writeBatch([
          arpFrame({
            op: 1,
            srcMac: hostMac,
            dstMac: 'ff:ff:ff:ff:ff:ff',
            senderMac: hostMac,
            senderIp: '10.77.0.2',
            targetMac: '00:00:00:00:00:00',
            targetIp: '10.77.0.1',
          }),
          udpFrame({
            srcMac: hostMac,
            dstMac: tapMac,
            srcIp: '10.77.0.2',
            dstIp: '10.77.0.1',
            srcPort: 40_000,
            dstPort: 7777,
            frameLength: 100,
          }),
          new Uint8Array(5), // shorter than an Ethernet header: the kernel refuses it
        ])
        expect(written).toBe(2)
        expect(tap.stats().framesWritten - before.framesWritten).toBe(2)
        expect(tap.stats().writeDrops - before.writeDrops).toBe(1)
        await until(
          () => frames.slice(start).some((f) => udpDstPort(f) === 40_000),
          5000,
          'the echo',
        )
        const reply = frames
          .slice(start)
          .map(parseArp)
          .find((a) => a?.op === 2)
        expect(reply).toEqual({
          op: 2,
          senderMac: tapMac,
          senderIp: '10.77.0.1',
          targetMac: hostMac,
          targetIp: '10.77.0.2',
        })
        expect(ip('-n', ns, 'neigh', 'show', '10.77.0.2', 'dev', name)).toContain(hostMac)
        expect((await echo.done).code).toBe(0)
      } finally {
        echo.kill()
      }
    })

    it('hands a burst over in batches and waits when JavaScript holds every slot', async () => {
      ip(
        '-n',
        ns,
        'neigh',
        'replace',
        '10.77.0.3',
        'lladdr',
        '02:00:00:77:00:03',
        'dev',
        name,
        'nud',
        'permanent',
      )
      let release = (): void => {}
      hold = new Promise<void>((r) => {
        release = r
      })
      const start = frames.length
      const startCounts = counts.length
      const waitsBefore = tap.stats().readerWaits
      // 300 datagrams, fewer than the device's queue (500): none is dropped.
      const c = await child('ip', [
        'netns',
        'exec',
        ns,
        process.execPath,
        ...nodeArgs('udp.ts', 'send', '10.77.0.3', '9999', '300', '100'),
      ])
      expect(c.code).toBe(0)
      // The handler holds its slot, the reader fills the other and waits.
      await until(
        () => tap.stats().readerWaits > waitsBefore,
        5000,
        'the reader to wait for a slot',
      )
      hold = undefined
      release()
      const burst = (): number => frames.slice(start).filter((f) => udpDstPort(f) === 9999).length
      await until(() => burst() === 300, 5000, '300 frames')
      const batches = counts.slice(startCounts)
      expect(Math.max(...batches)).toBeGreaterThan(1)
      expect(Math.max(...batches)).toBeLessThanOrEqual(64)
      expect(batches.length).toBeLessThan(300)
      const st = tap.stats()
      expect(st.truncated).toBe(0)
      expect(st.framesRead).toBe(frames.length)
    })
  })

  describe.skipIf(!canRun)(`closing (${mode})`, () => {
    afterEach(closeAll)

    it('stops a reader blocked waiting for frames, at once', () => {
      const tap = openTap({ name: devName(tag('cp')) })
      tap.onBatch(() => {}, { mainThread })
      const t0 = performance.now()
      tap.close()
      expect(performance.now() - t0).toBeLessThan(500)
      expect(linkExists(tap.name)).toBe(false)
    })

    it('stops a reader waiting for JavaScript to return a slot', async () => {
      const tap = track(openTap({ name: devName(tag('cs')), up: true }))
      // The kernel sends IPv6 MLD and neighbour discovery frames on a link
      // that comes up; the handler never returns its one slot.
      tap.onBatch(() => new Promise<void>(() => {}), { slots: 1, mainThread })
      ip('-6', 'addr', 'add', 'fd00:7a9::1/64', 'dev', tap.name, 'nodad')
      await until(() => tap.stats().framesRead > 0, 10_000, 'a frame from the kernel')
      const t0 = performance.now()
      tap.close()
      expect(performance.now() - t0).toBeLessThan(500)
    })

    it('reports a deleted device through onError with no-device', async () => {
      const tap = track(openTap({ name: devName(tag('dl')) }))
      let error: TapError | undefined
      tap.onBatch(() => {}, {
        mainThread,
        onError: (e) => {
          error = e
        },
      })
      ip('link', 'del', tap.name)
      await until(() => error !== undefined, 5000, 'onError')
      expect(error?.code).toBe('no-device')
      expect(error?.message).toMatch(/deleted/)
      expect(() => tap.writeBatch([new Uint8Array(60)])).toThrow(
        expect.objectContaining({ code: 'no-device' }),
      )
    })
  })
}

describe.skipIf(!canRun)('process exit', () => {
  afterEach(closeAll)

  for (const mode of [
    'read-close',
    'read-unref',
    'read-exit',
    'read-close-thread',
    'read-unref-thread',
    'read-exit-thread',
  ]) {
    it(`lets the process exit (${mode})`, async () => {
      const r = await child(
        process.execPath,
        nodeArgs('device-child.ts', mode, devName('x')),
        10_000,
      )
      expect(r.signal).toBeNull()
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout.trim())).toMatchObject({ ok: true })
      expect(linkExists(devName('x'))).toBe(false)
    })
  }
})
