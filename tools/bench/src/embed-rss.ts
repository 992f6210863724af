/**
 * Memory of an embedded node (docs/embedding.md): an ordinary TAP node a
 * and an embedded node e on a TUN file descriptor (tools/overlay's
 * fixtures/embed-node.ts, the shell the embedding test runs) in one PSK
 * VLAN; e's resident set size (VmRSS) once started, after a 20 MiB transfer
 * to it, and after 10 s idle, with and without `--jitless` (iOS forbids
 * JIT). Prints a table; one run per mode.
 *
 * --jitless has no WebAssembly, which Node's TypeScript stripping needs, so
 * the shell runs as JavaScript on the packages' built `dist/`: this builds
 * them first (turbo) and writes the fixture without its types next to this
 * file for the run.
 *
 *   node --conditions=peertap:source tools/bench/src/embed-rss.ts
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { stripTypeScriptTypes } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { childLines } from '@peertap/tool-netns'
import { Overlay } from '@peertap/tool-overlay'

const FIXTURES = new URL('../../overlay/test/fixtures/', import.meta.url).pathname
const SECRET = randomBytes(32).toString('hex')

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN)
  return Math.round(kb / 1024)
}

const ROOT = new URL('../../../', import.meta.url).pathname
const SHELL_JS = new URL('../.embed-node.mjs', import.meta.url).pathname
process.stderr.write('building the packages (dist/) for a shell in plain JavaScript\n')
execFileSync(
  'pnpm',
  ['turbo', 'run', 'build', '--filter=@peertap/runtime...', '--output-logs=errors-only'],
  {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` },
  },
)
await writeFile(
  SHELL_JS,
  stripTypeScriptTypes(await readFile(join(FIXTURES, 'embed-node.ts'), 'utf8'), { mode: 'strip' }),
)
const dir = await mkdtemp(join(tmpdir(), 'peertap-rss-'))
const overlay = await Overlay.start({ hosts: ['a'], extraHosts: ['e'], secrets: { a: SECRET } })
const rows: string[] = []
// Ctrl-C or a timeout: the namespaces go too.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    overlay.stop().finally(() => process.exit(130))
  })
const step = (what: string) => process.stderr.write(`${what}\n`)
try {
  const a = overlay.node('a')
  for (const jitless of [false, true]) {
    const config = join(dir, `e-${jitless}.json`)
    await writeFile(
      config,
      JSON.stringify({
        stateDir: join(dir, `e-${jitless}`),
        listen: ['/ip4/0.0.0.0/tcp/7400'],
        peers: [`/ip4/${overlay.topo.address('a')}/tcp/7400/p2p/${a.peerId}`],
        log: { level: 'warn' },
        vlans: [
          {
            name: 'demo',
            secret: SECRET,
            port: { type: 'tun', device: 'pt-emb', addresses: ['198.19.0.55/24'], offload: false },
          },
        ],
      }),
    )
    const shell = overlay.topo.spawn('e', [
      'python3',
      join(FIXTURES, 'tun-platform.py'),
      'pt-emb',
      '198.19.0.55/24',
      process.execPath,
      ...(jitless ? ['--jitless'] : []),
      SHELL_JS,
      config,
      'demo',
      '--fd',
    ])
    const lines = childLines(shell.stdout!, 60_000)
    step(`embedded node ${jitless ? 'with --jitless' : 'with JIT'}: starting`)
    for (;;) {
      const line = await lines.next()
      if (line.done) throw new Error('the embedded node ended before it was ready')
      if (line.value.includes('"ready"')) break
    }
    step('started; transfer')
    const pid = shell.pid as number
    const started = await rssMiB(pid)
    const server = overlay.topo.spawn('e', [
      process.execPath,
      join(FIXTURES, 'transfer.ts'),
      'server',
      '198.19.0.55',
      '5201',
    ])
    await new Promise((r) => setTimeout(r, 500))
    const t0 = Date.now()
    await overlay.topo.exec(
      'a',
      [process.execPath, join(FIXTURES, 'transfer.ts'), 'client', '198.19.0.55', '5201', '20'],
      120_000,
    )
    const seconds = (Date.now() - t0) / 1000
    const afterTransfer = await rssMiB(pid)
    server.kill()
    await new Promise((r) => setTimeout(r, 10_000))
    const idle = await rssMiB(pid)
    rows.push(
      `${jitless ? '--jitless' : 'JIT      '}  started ${String(started).padStart(4)} MiB   after 20 MiB in ${seconds.toFixed(1).padStart(5)} s ${String(afterTransfer).padStart(4)} MiB   10 s later ${String(idle).padStart(4)} MiB`,
    )
    shell.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 1000))
  }
} finally {
  await overlay.stop()
  await rm(dir, { recursive: true, force: true })
  await rm(SHELL_JS, { force: true })
}
console.log(`embedded node (TUN fd, one PSK VLAN, one peer), VmRSS; Node ${process.version}`)
for (const row of rows) console.log(row)
