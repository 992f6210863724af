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

describe.skipIf(!can.ok)('Topology with NATs', () => {
  it('puts hosts behind NATs: out through the NAT, nothing unsolicited in, and a UDP hole punched by both sides', async () => {
    const topo = await Topology.create({ hosts: ['a', 'b', 'r'], nat: ['a', 'b'] })
    try {
      // Out: R sees A's NAT's public address, not A's own.
      const seen = topo.exec('r', ['timeout', '5', 'python3', '-c', UDP_ECHO_ONCE])
      await new Promise((r) => setTimeout(r, 300))
      await topo.exec('a', ['python3', '-c', udpSend(topo.address('r'), 9000, 5555)])
      expect((await seen).trim()).toBe(`${topo.address('a')} 5555`)
      // In: nothing unsolicited reaches B, its NAT, or through it.
      await expect(
        topo.exec('a', ['ping', '-c', '1', '-W', '1', topo.address('b')]),
      ).rejects.toThrow()
      await expect(
        topo.exec('r', ['ping', '-c', '1', '-W', '1', topo.privateAddress('b')]),
      ).rejects.toThrow()
      // Both sending to each other's public address and port at once punches a hole.
      const punch = (to: string) => ['python3', '-c', udpPunch(to)]
      const [fromB, fromA] = await Promise.all([
        topo.exec('a', punch(topo.address('b'))),
        topo.exec('b', punch(topo.address('a'))),
      ])
      expect(fromB).toContain(`from ${topo.address('b')} 5555`)
      expect(fromA).toContain(`from ${topo.address('a')} 5555`)
    } finally {
      await topo.destroy()
    }
    const { sh } = await import('../src/index.ts')
    const left = await sh(['ip', 'netns', 'list'])
    expect(left).not.toContain(topo.natNs('a'))
    expect(left).not.toContain(topo.ns('b'))
  })
})

const UDP_ECHO_ONCE = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9000))
d, a = s.recvfrom(100); print(a[0], a[1])`

function udpSend(to: string, port: number, from: number): string {
  return `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', ${from}))
s.sendto(b'hi', ('${to}', ${port}))`
}

function udpPunch(to: string): string {
  return `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5555)); s.settimeout(0.2)
got = 0
for i in range(20):
  s.sendto(b'punch', ('${to}', 5555))
  try:
    d, a = s.recvfrom(100); print('from', a[0], a[1]); got += 1
  except socket.timeout: pass
  if got >= 2: break`
}
