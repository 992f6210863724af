/**
 * End to end for embedding (issue 20): a node started with
 * @peertap/runtime's startEmbedded, as a mobile app's packet tunnel starts
 * one, beside an ordinary TAP node (a) in one PSK VLAN.
 *
 * - e: a "platform" (python) opens a TUN device, sets it up and execs the
 *   shell (fixtures/embed-node.ts), which is handed only the file
 *   descriptor, as Android's VpnService.Builder.establish() hands one. The
 *   node carries traffic both ways, serves nothing on loopback, and on stop
 *   closes the descriptor: the device, which nobody else holds, is gone.
 * - f: the shell runs the node on packet callbacks (iOS has no public fd):
 *   it hands the node ICMP echo requests for a and gets a's replies back.
 *
 * Needs root and /dev/net/tun; elsewhere it skips with the reason.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { childLines, rootAndTun } from '@peertap/tool-netns'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Overlay, TAP } from '../src/index.ts'

const can = rootAndTun()
if (!can.ok) console.log(`embedding end-to-end tests skipped: ${can.reason}`)

const FIXTURE = new URL('./fixtures/embed-node.ts', import.meta.url).pathname
const SHELL = [process.execPath, '--conditions=peertap:source', FIXTURE]
const SECRET = randomBytes(32).toString('hex')
const DEVICE = 'pt-emb'
const E_IP = '198.19.0.55'
const F_IP = '198.19.0.56'
/** The platform's part, as Android's VpnService plays it (fixtures/tun-platform.py). */
const PLATFORM = new URL('./fixtures/tun-platform.py', import.meta.url).pathname

describe.runIf(can.ok)('an embedded node', () => {
  let overlay: Overlay
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peertap-embed-'))
    overlay = await Overlay.start({
      hosts: ['a'],
      extraHosts: ['e', 'f'],
      secrets: { a: SECRET },
    })
  }, 60_000)
  afterAll(async () => {
    await overlay?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  /** An embedded node's config: the VLAN with a TUN port, a as its one peer. */
  async function configFor(host: string, address: string): Promise<string> {
    const a = overlay.node('a')
    const path = join(dir, `${host}.json`)
    await writeFile(
      path,
      JSON.stringify({
        stateDir: join(dir, host),
        listen: ['/ip4/0.0.0.0/tcp/7400'],
        peers: [`/ip4/${overlay.topo.address('a')}/tcp/7400/p2p/${a.peerId}`],
        datagram: { enabled: false },
        vlans: [
          {
            name: 'demo',
            secret: SECRET,
            port: { type: 'tun', device: DEVICE, addresses: [`${address}/24`], offload: false },
          },
        ],
      }),
    )
    return path
  }

  it('runs on a TUN file descriptor it is handed: traffic both ways, nothing served, the fd closed on stop', async () => {
    const config = await configFor('e', E_IP)
    const shell = overlay.topo.spawn('e', [
      'python3',
      PLATFORM,
      DEVICE,
      `${E_IP}/24`,
      ...SHELL,
      config,
      'demo',
      '--fd',
    ])
    const lines = childLines(shell.stdout!, 30_000)
    const output: string[] = []
    shell.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
    try {
      const ready = await nextWith(lines, 'ready', output)
      expect(ready.ready).toMatch(/^12D3Koo/)
      // Pings both ways across the VLAN: a TAP host and the embedded node's TUN device.
      const a = overlay.node('a')
      await until(async () => exec('a', ['ping', '-c', '1', '-W', '1', E_IP]))
      await exec('a', ['ping', '-c', '3', '-i', '0.2', '-W', '2', E_IP])
      await exec('e', ['ping', '-c', '3', '-i', '0.2', '-W', '2', a.ip])
      // No listener on loopback: the only TCP port the shell's process has is the trunk's.
      const listening = await exec('e', ['ss', '-Hltnp'])
      expect(listening).not.toMatch(/127\.0\.0\.1:|\[::1\]:/)
      // The shell was told the link-local address layer 2 emulation checked.
      let event: { address?: { type: string; address: string } } = {}
      while (event.address?.address?.startsWith('fe80') !== true)
        event = await nextWith(lines, 'address', output)
      expect(event.address?.type).toBe('address-added')
      shell.kill('SIGTERM')
      expect(await nextWith(lines, 'stopped', output)).toEqual({ stopped: true })
      // The descriptor was the only hold on the (non-persistent) device: it is gone.
      await until(async () =>
        (await exec('e', ['ip', 'link', 'show', DEVICE]).catch(() => 'gone')) === 'gone'
          ? true
          : undefined,
      )
    } finally {
      shell.kill('SIGKILL')
    }
  }, 60_000)

  it('runs on packet callbacks: echo requests the shell hands it are answered from the VLAN', async () => {
    const config = await configFor('f', F_IP)
    const a = overlay.node('a')
    const shell = overlay.topo.spawn('f', [...SHELL, config, 'demo', '--callbacks', F_IP, a.ip])
    const lines = childLines(shell.stdout!, 30_000)
    const output: string[] = []
    shell.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
    try {
      const ready = await nextWith(lines, 'ready', output)
      expect(ready.ready).toMatch(/^12D3Koo/)
      const reply = await nextWith(lines, 'reply', output)
      expect(reply.reply).toBeGreaterThan(0)
      // a's kernel learned the embedded node's MAC by ARP, as for any host.
      const neigh = await exec('a', ['ip', 'neigh', 'show', F_IP, 'dev', TAP])
      expect(neigh).toMatch(/lladdr [0-9a-f:]{17}/)
    } finally {
      shell.kill('SIGTERM')
    }
  }, 60_000)

  /** The next line of the shell's output that is a JSON object with `key` (its node's log lines are skipped). */
  async function nextWith(
    lines: AsyncIterator<string>,
    key: string,
    stderr: string[],
    // biome-ignore lint/suspicious/noExplicitAny: the shell's report lines
  ): Promise<any> {
    for (;;) {
      const line = await lines.next()
      if (line.done) throw new Error(`the shell ended before a "${key}" line: ${stderr.join('')}`)
      try {
        const value = JSON.parse(line.value)
        const isLog = typeof value?.level === 'number' // the node's own log lines (pino)
        if (typeof value === 'object' && value !== null && !isLog && key in value) return value
        if (isLog) stderr.push(`${line.value}\n`)
      } catch {
        // a log line that is not JSON
      }
    }
  }

  function exec(host: string, argv: string[], timeoutMs = 15_000): Promise<string> {
    return overlay.topo.exec(host, argv, timeoutMs)
  }

  async function until(probe: () => Promise<unknown>, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const ok = await probe().then(
        (v) => v !== undefined,
        () => false,
      )
      if (ok) return
      if (Date.now() > deadline) throw new Error('timed out')
      await new Promise((r) => setTimeout(r, 250))
    }
  }
})
