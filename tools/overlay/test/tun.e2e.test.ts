/**
 * End to end with TUN ports (issue 20, docs/spec/17-tun-l2.md): nodes whose
 * VLAN port is a Linux TUN device, with layer 2 emulated in user space
 * (@peertap/tun-l2), among TAP nodes and a plain Linux host that knows
 * nothing of PeerTap. Needs
 * root and /dev/net/tun; elsewhere it skips with the reason. Every
 * namespace and process is removed afterwards, also on failure.
 *
 * One overlay (a PSK VLAN) for the file, to keep it quick:
 *
 *   a  TAP node: 198.19.0.1/24, fd00:5055::1/64
 *   b  TUN node: 198.19.0.2/24, fd00:5055::2/64, gateway 198.19.0.50 (h)
 *      configured; its IPv6 router from h's router advertisements
 *   c  TUN node: 198.19.0.3/24, fd00:5055::3/64
 *   d  TAP node without addresses; its TAP is a port of a Linux bridge br0
 *      in d's namespace, beside a veth to h
 *   e  TUN node with `dhcp: true` and no addresses
 *   h  a plain Linux host on the VLAN through d's bridge (vlan0:
 *      198.19.0.50/24, fd00:5055::50/64), running dnsmasq (DHCPv4, and
 *      router advertisements of fd00:5055::/64 with the A flag), and a
 *      router (ip_forward) to r
 *   r  a host behind h: 10.77.0.2/24, fd00:5057::2/64
 *   f  runs nodes of its own whose port cannot open
 *
 * This tests the node (@peertap/node's `peertap` CLI, apps/node) on the
 * namespace harness (../src); its child processes are in ./fixtures.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { childLines, rootAndTun, sh, type Topology } from '@peertap/tool-netns'
import { pskVlanId } from '@peertap/vft'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { linkLocal, NODE_ARGV, Overlay, TAP, waitForIpv6 } from '../src/index.ts'

const can = rootAndTun()
if (!can.ok) console.log(`TUN end-to-end tests skipped: ${can.reason}`)

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname
const fixture = (name: string) => [
  process.execPath,
  '--conditions=peertap:source',
  join(FIXTURES, name),
]
const python = (name: string) => ['python3', join(FIXTURES, name)]

const SECRET = randomBytes(32).toString('hex')
const TAP_HOSTS = ['a', 'd']
const TUN_HOSTS = ['b', 'c', 'e']
/** h, the plain host, on the VLAN and as a router. */
const H = { ip: '198.19.0.50', ip6: 'fd00:5055::50' }
/** r, behind h. */
const R = { net: '10.77.0.0/24', ip: '10.77.0.2', net6: 'fd00:5057::/64', ip6: 'fd00:5057::2' }
const LEASE = /inet (198\.19\.0\.1[0-2]\d)\//

/**
 * A TUN port's MAC (docs/spec/17-tun-l2.md §17.2), computed here with b3sum
 * (an independent BLAKE3): the first 6 bytes of derive_key("PeerTap v1 TUN
 * MAC", PeerId bytes ‖ VLAN-ID), locally administered, unicast.
 */
async function tunMacOf(peerId: string, vlanId: Uint8Array): Promise<string> {
  const material = Buffer.concat([peerIdFromString(peerId).toMultihash().bytes, vlanId])
  const hex = await new Promise<string>((resolve, reject) => {
    const child = execFile(
      'b3sum',
      ['--derive-key', 'PeerTap v1 TUN MAC', '--no-names', '-l', '6'],
      (error, stdout) => (error ? reject(error) : resolve(stdout.trim())),
    )
    child.stdin?.end(material)
  })
  const mac = Buffer.from(hex, 'hex')
  mac[0] = (mac[0]! | 0x02) & 0xfe
  return [...mac].map((x) => x.toString(16).padStart(2, '0')).join(':')
}

/** The modified EUI-64 address in a /64 prefix given as 'fd00:5055:' (RFC 4291 appendix A). */
function slaacAddress(prefix: string, mac: string): string {
  return linkLocal(mac).replace('fe80:', prefix)
}

/** The part of a node's status about its port (issue 20): its kind and MAC. */
interface PortStatus {
  kind: 'tap' | 'tun'
  mac: string
}

/** Polls `probe` every 200 ms until it gives something; fails after `timeoutMs` naming `what`. */
async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/**
 * The plain hosts' wiring, made before the nodes start: a bridge br0 in d's
 * namespace with a veth to h (d's TAP joins it once the node has made it),
 * h on the VLAN and a router to r.
 */
async function wirePlainHosts(topo: Topology): Promise<void> {
  const [d, h, r] = [topo.ns('d'), topo.ns('h'), topo.ns('r')]
  const ip = (ns: string, ...args: string[]) => sh(['ip', '-n', ns, ...args])
  await ip(d, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0')
  await ip(d, 'link', 'add', 'vh0', 'type', 'veth', 'peer', 'name', 'vlan0', 'netns', h)
  await ip(d, 'link', 'set', 'vh0', 'master', 'br0', 'up')
  await ip(d, 'link', 'set', 'br0', 'up')
  await ip(h, 'addr', 'add', `${H.ip}/24`, 'dev', 'vlan0')
  await ip(h, 'addr', 'add', `${H.ip6}/64`, 'dev', 'vlan0', 'nodad')
  await ip(h, 'link', 'set', 'vlan0', 'up')
  await ip(h, 'link', 'add', 'back0', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', r)
  await ip(h, 'addr', 'add', '10.77.0.1/24', 'dev', 'back0')
  await ip(h, 'addr', 'add', 'fd00:5057::1/64', 'dev', 'back0', 'nodad')
  await ip(h, 'link', 'set', 'back0', 'up')
  await ip(r, 'addr', 'add', `${R.ip}/24`, 'dev', 'lan0')
  await ip(r, 'addr', 'add', `${R.ip6}/64`, 'dev', 'lan0', 'nodad')
  await ip(r, 'link', 'set', 'lan0', 'up')
  await ip(r, 'route', 'add', 'default', 'via', '10.77.0.1')
  await ip(r, '-6', 'route', 'add', 'default', 'via', 'fd00:5057::1')
  await topo.exec('h', ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
  await topo.exec('h', ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1'])
}

describe.skipIf(!can.ok)('TUN nodes among TAP nodes and plain Linux hosts', () => {
  let overlay: Overlay
  let dir = ''
  let vlanId: Uint8Array
  const dnsmasqLog: string[] = []
  /** Each node's port as its status reports it. */
  const ports = new Map<string, PortStatus>()

  const exec = (host: string, argv: readonly string[], timeoutMs?: number) =>
    overlay.topo.exec(host, argv, timeoutMs)
  /**
   * Three pings from `host` to `address` (`-6` for IPv6); all answered.
   * Each may take 5 s (a loaded CI machine, a first one that waits for ARP
   * or NDP); on a healthy run all three come back within milliseconds.
   */
  const pings = async (host: string, address: string) =>
    expect(
      await exec(host, [
        'ping',
        ...(address.includes(':') ? ['-6'] : []),
        '-c',
        '3',
        '-i',
        '0.2',
        '-W',
        '5',
        address,
      ]),
    ).toMatch(/3 received/)
  const portOf = async (host: string): Promise<PortStatus> => {
    const port = (await overlay.status(host)).interfaces.find((i) => i.vlan === 'demo')
    if (port?.mac === undefined) throw new Error(`${host}: no port with a MAC in its status`)
    return { kind: port.kind, mac: port.mac }
  }
  const macOf = (host: string) => ports.get(host)!.mac
  /** The address e leased from dnsmasq, once it is on e's TUN device (within 30 s). */
  const leaseOnE = () =>
    until('a DHCP lease on e', 30_000, async () => {
      const out = await exec('e', ['ip', '-4', 'addr', 'show', 'dev', TAP])
      return LEASE.exec(out)?.[1]
    }).catch((error: Error) => {
      throw new Error(
        `${error.message}; dnsmasq:\n${dnsmasqLog.slice(-20).join('\n')}\n` +
          `e:\n${overlay.node('e').log.slice(-20).join('\n')}`,
      )
    })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peertap-tun-'))
    const hosts = ['a', 'b', 'c', 'd', 'e']
    overlay = await Overlay.start({
      hosts,
      extraHosts: ['h', 'r', 'f'],
      secrets: Object.fromEntries(hosts.map((h) => [h, SECRET])),
      underlay: wirePlainHosts,
      port: (host) =>
        host === 'b'
          ? { type: 'tun', mac: undefined, gateway: [H.ip] }
          : host === 'c'
            ? { type: 'tun', mac: undefined }
            : host === 'd'
              ? { addresses: [] }
              : host === 'e'
                ? { type: 'tun', mac: undefined, addresses: [], dhcp: true }
                : undefined,
    })
    vlanId = pskVlanId(Buffer.from(SECRET, 'hex'))
    const read = await Promise.all(overlay.nodes.map((n) => portOf(n.host)))
    for (const [i, node] of overlay.nodes.entries()) ports.set(node.host, read[i]!)
    await overlay.topo.exec('d', ['ip', 'link', 'set', TAP, 'master', 'br0'])
    const dnsmasq = overlay.topo.spawn('h', [
      '/usr/sbin/dnsmasq',
      '--no-daemon',
      '--conf-file=/dev/null',
      '--port=0',
      '--interface=vlan0',
      '--bind-interfaces',
      `--dhcp-leasefile=${join(dir, 'leases')}`,
      `--pid-file=${join(dir, 'dnsmasq.pid')}`,
      '--dhcp-authoritative',
      '--dhcp-range=198.19.0.100,198.19.0.120,255.255.255.0,10m',
      '--enable-ra',
      '--dhcp-range=::,constructor:vlan0,ra-only,64,10m',
      '--ra-param=vlan0,4,600',
      '--log-facility=-',
      '--log-dhcp',
    ])
    const keep = (chunk: Buffer) => dnsmasqLog.push(...chunk.toString().split('\n').filter(Boolean))
    dnsmasq.stdout?.on('data', keep)
    dnsmasq.stderr?.on('data', keep)
    await until('dnsmasq to start', 5000, async () =>
      dnsmasqLog.some((l) => l.includes('DHCP, IP range')) ? true : undefined,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; its log:\n${dnsmasqLog.join('\n')}`)
    })
    await waitForIpv6(overlay, 10_000, TAP, ['a'])
  }, 60_000)
  afterAll(async () => {
    await overlay?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it("reports each port's kind and a TUN port's MAC as tunMac(PeerId, VLAN-ID)", async () => {
    for (const host of TAP_HOSTS) {
      expect(ports.get(host)).toEqual({ kind: 'tap', mac: overlay.node(host).mac })
    }
    for (const host of TUN_HOSTS) {
      const port = ports.get(host)!
      expect(port.kind).toBe('tun')
      expect(port.mac).toBe(await tunMacOf(overlay.node(host).peerId, vlanId))
      // The node puts the MAC's EUI-64 link-local address on the TUN device.
      const addresses = await exec(host, ['ip', '-6', 'addr', 'show', 'dev', TAP])
      expect(addresses).toContain(`${linkLocal(port.mac)}/64`)
    }
  })

  it("resolves a TUN node's derived MAC from a TAP node: arping and the neighbour table", async () => {
    const b = overlay.node('b')
    const mac = await tunMacOf(b.peerId, vlanId)
    const out = await exec('a', ['arping', '-c', '2', '-w', '5', '-I', TAP, b.ip])
    expect(out).toContain(`from ${mac}`)
    // arping leaves the neighbour table alone; the kernel's own ARP fills it.
    await exec('a', ['ping', '-c', '1', '-W', '5', b.ip])
    const neigh = await exec('a', ['ip', 'neigh', 'show', b.ip, 'dev', TAP])
    expect(neigh).toContain(`lladdr ${mac}`)
  })

  it('pings IPv4, IPv6 and link-local addresses both ways between a TAP and a TUN node', async () => {
    const [a, b] = [overlay.node('a'), overlay.node('b')]
    await pings('a', b.ip)
    await pings('b', a.ip)
    await pings('a', b.ip6)
    await pings('b', a.ip6)
    await pings('a', `${linkLocal(macOf('b'))}%${TAP}`)
    await pings('b', `${linkLocal(macOf('a'))}%${TAP}`)
  })

  it('pings IPv4, IPv6 and link-local addresses between two TUN nodes', async () => {
    const [b, c] = [overlay.node('b'), overlay.node('c')]
    await pings('b', c.ip)
    await pings('c', b.ip)
    await pings('b', c.ip6)
    await pings('c', b.ip6)
    await pings('b', `${linkLocal(macOf('c'))}%${TAP}`)
    await pings('c', `${linkLocal(macOf('b'))}%${TAP}`)
  })

  it('carries mDNS both ways: a query from either side gets the other side’s answer', async () => {
    for (const [responder, querier] of [
      ['b', 'a'],
      ['a', 'b'],
    ] as const) {
      const name = `${responder}-node.local`
      const address = overlay.node(responder).ip
      const child = overlay.topo.spawn(responder, [
        ...python('mdns.py'),
        'respond',
        TAP,
        name,
        address,
        '15',
      ])
      try {
        const lines = childLines(child.stdout!, 5000)
        expect(JSON.parse((await lines.next()).value ?? '{}')).toEqual({ ready: true })
        const out = await exec(querier, [...python('mdns.py'), 'query', TAP, name, '8'], 12_000)
        expect(JSON.parse(out)).toEqual({ name, address, from: address })
      } finally {
        child.kill('SIGTERM')
      }
    }
  })

  it('carries 50 MiB each way between a TAP and a TUN node intact (SHA-256 on both ends)', async () => {
    for (const [from, to] of [
      ['a', 'b'],
      ['b', 'a'],
    ] as const) {
      const { ip } = overlay.node(to)
      const server = overlay.topo.spawn(to, [...fixture('transfer.ts'), 'server', ip, '5201'])
      try {
        const out = childLines(server.stdout!, 30_000)
        expect(JSON.parse((await out.next()).value ?? '{}')).toEqual({ listening: true })
        const sent = JSON.parse(
          await exec(from, [...fixture('transfer.ts'), 'client', ip, '5201', '50'], 30_000),
        )
        const received = JSON.parse((await out.next()).value ?? '{}')
        expect(received).toEqual(sent)
        expect(received.bytes).toBe(50 * 1024 * 1024)
      } finally {
        server.kill('SIGTERM')
      }
    }
  })

  it('is just another host to a plain Linux host bridged to a TAP node: arping and pings', async () => {
    const b = overlay.node('b')
    const out = await exec('h', ['arping', '-c', '2', '-w', '5', '-I', 'vlan0', b.ip])
    expect(out).toContain(`from ${macOf('b')}`)
    await pings('h', b.ip)
    await pings('b', H.ip)
    await pings('h', b.ip6)
    await pings('b', H.ip6)
    await pings('h', `${linkLocal(macOf('b'))}%vlan0`)
  })

  /** What h's broadcasts below brought back into d's TAP from the overlay (tcpdump lines). */
  let echoes: string[] | undefined

  it("carries a bridged host's broadcasts to the other nodes", async () => {
    // h broadcasts 40 ARP requests for an address nobody has; each reaches d's
    // TAP from the bridge and goes out to the other nodes (a sees them), and
    // none should come back into d's TAP (a Linux bridge would move h's MAC
    // to it): the next test.
    const capture = (host: string) => {
      const child = overlay.topo.spawn(host, [
        ...['timeout', '15', 'tcpdump', '-i', TAP, '-Q', 'in', '-n', '-e', '-l'],
        ...['--immediate-mode', 'arp', 'and', 'host', '198.19.0.99'],
      ])
      const lines: string[] = []
      let listening = false
      child.stdout!.on('data', (c: Buffer) =>
        lines.push(...c.toString().split('\n').filter(Boolean)),
      )
      child.stderr!.on('data', (c: Buffer) => {
        if (c.toString().includes('listening on')) listening = true
      })
      return { child, lines, listening: () => listening }
    }
    const [atA, atD] = [capture('a'), capture('d')]
    try {
      await until('tcpdump to listen', 5000, async () =>
        atA.listening() && atD.listening() ? true : undefined,
      )
      await exec(
        'h',
        ['sh', '-c', 'arping -c 40 -W 0.05 -I vlan0 198.19.0.99 >/dev/null || true'],
        15_000,
      )
      await new Promise((r) => setTimeout(r, 300))
      const hMac = (await exec('h', ['cat', '/sys/class/net/vlan0/address'])).trim()
      expect(atA.lines.filter((l) => l.includes(hMac)).length).toBe(40)
      echoes = atD.lines.filter((l) => l.includes(hMac))
    } finally {
      atA.child.kill('SIGTERM')
      atD.child.kill('SIGTERM')
    }
  })

  // A node's flood comes back to it when a third node forwards it on; the switch drops it
  // (dropOwnFrame, spec 10 §10.4): were it written to d's TAP, d's bridge would learn h's MAC on
  // the TAP's side and drop what comes for h.
  it("does not send a node's own frames back to it (the broadcasts above)", () => {
    expect(echoes, `h's frames that came back into d's TAP:\n${echoes?.join('\n')}`).toEqual([])
  })

  it("takes a DHCP lease from the plain host's dnsmasq onto its TUN device", async () => {
    const address = await leaseOnE()
    const leases = await readFile(join(dir, 'leases'), 'utf8')
    expect(leases).toContain(`${macOf('e')} ${address}`)
    await pings('h', address)
    await pings('e', H.ip)
    await pings('a', address)
  })

  it("reaches a host behind a router through the configured IPv4 gateway, or DHCP's router", async () => {
    // The kernel sends what is for r into the TUN device; tun-l2 picks the router's MAC.
    for (const host of ['b', 'c', 'e']) await exec(host, ['ip', 'route', 'add', R.net, 'dev', TAP])
    await pings('b', R.ip)
    await leaseOnE()
    await pings('e', R.ip)
    // c has no IPv4 router (none configured, no DHCP): its off-link packets go nowhere.
    const out = await exec('c', ['sh', '-c', `ping -c 1 -W 1 ${R.ip} || true`])
    expect(out).toMatch(/0 received/)
  })

  it('takes addresses (SLAAC) and its IPv6 router from router advertisements', async () => {
    const slaac = slaacAddress('fd00:5055:', macOf('b'))
    await until(`b's SLAAC address ${slaac}`, 15_000, async () =>
      (await exec('b', ['ip', '-6', 'addr', 'show', 'dev', TAP])).includes(`${slaac}/64`)
        ? true
        : undefined,
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}; dnsmasq:\n${dnsmasqLog.slice(-20).join('\n')}\n` +
          `b:\n${overlay.node('b').log.slice(-20).join('\n')}`,
      )
    })
    await pings('h', slaac)
    await exec('b', ['ip', '-6', 'route', 'add', R.net6, 'dev', TAP])
    await pings('b', R.ip6)
  })

  /**
   * Runs a node of its own on f with a port of `port` (device pt1, no
   * addresses) that must fail to open: it exits, not 0, within 15 s;
   * everything it said.
   */
  const failingNode = async (port: Record<string, unknown>): Promise<string> => {
    const stateDir = join(dir, 'f')
    const config = join(dir, 'f.json')
    await writeFile(
      config,
      JSON.stringify({
        stateDir,
        vlans: [{ name: 'demo', secret: SECRET, port: { device: 'pt1', addresses: [], ...port } }],
      }),
    )
    if (!existsSync(stateDir)) await exec('f', [...NODE_ARGV, 'keygen', '--state-dir', stateDir])
    const node = overlay.topo.spawn('f', [...NODE_ARGV, 'up', '--config', config])
    const said: string[] = []
    node.stdout?.on('data', (c: Buffer) => said.push(c.toString()))
    node.stderr?.on('data', (c: Buffer) => said.push(c.toString()))
    const code = await until('the node to exit', 15_000, async () => node.exitCode ?? undefined)
      .finally(() => node.kill('SIGTERM'))
      .catch((error: Error) => {
        throw new Error(`${error.message}; it said:\n${said.join('')}`)
      })
    expect(code).not.toBe(0)
    return said.join('')
  }

  it('with type auto and the name taken by a TUN device, fails naming the cause (no fallback)', async () => {
    await exec('f', ['ip', 'tuntap', 'add', 'dev', 'pt1', 'mode', 'tun'])
    try {
      const said = await failingNode({ type: 'auto' })
      // TAP is refused with EINVAL because the name is taken, not because the kernel has no TAP.
      expect(said).toMatch(/"code":"name-taken"/)
      expect(said).toMatch(/"errno":"EINVAL"/)
      expect(said).toContain('an interface with this name exists')
      expect(said).toContain('"device":"pt1"')
      expect(said).not.toContain('port up')
    } finally {
      await exec('f', ['ip', 'tuntap', 'del', 'dev', 'pt1', 'mode', 'tun'])
    }
  })

  it('with type tun and the device held open by another process, fails naming EBUSY', async () => {
    const holder = overlay.topo.spawn('f', [...python('hold-tun.py'), 'pt1', '30'])
    try {
      const ready = childLines(holder.stdout!, 5000)
      expect(JSON.parse((await ready.next()).value ?? '{}')).toEqual({ ready: true })
      const said = await failingNode({ type: 'tun' })
      expect(said).toMatch(/"code":"device-busy"/)
      expect(said).toMatch(/"errno":"EBUSY"/)
      expect(said).toContain('"device":"pt1"')
    } finally {
      holder.kill('SIGTERM')
    }
  })
})
