/**
 * @packageDocumentation
 *
 * Throwaway network topologies in Linux network namespaces, for end-to-end
 * tests, the demo and the benchmark. Every namespace is named `pt<id>-<host>`
 * so that nothing outside PeerTap's own test hosts is ever touched, every
 * process started in one is tracked by PID, and `destroy()` removes all of
 * it (also from a `finally` after a failure, and from a leftover run).
 *
 * The underlay: one namespace `pt<id>-sw` holds a bridge; each host gets a
 * veth pair, `eth0` in the host, its peer enslaved to the bridge; hosts get
 * 198.18.0.<n>/24 (RFC 2544 benchmarking space, never routed) and
 * fd00:5054::<n>/64. With `isolated: true` the bridge ports are isolated
 * from each other except the ones named in `hubs`, as two NAT'd peers that
 * can reach only a relay would be.
 *
 * With `nat: [hosts]` those hosts sit behind a NAT of their own, as a home
 * router would put them: a namespace `pt<id>-nat<i>` holds the host's
 * underlay address on its `eth0` (so `address(host)` is the host's public,
 * translated address) and routes for the host's private network
 * 10.<i+1>.0.0/24 on `lan0` (the host is 10.<i+1>.0.2, `privateAddress`).
 * nftables there masquerades what leaves on `eth0` and drops every new
 * connection that comes in on it (to the NAT itself or forwarded): only
 * replies to what the host sent get in. Linux keeps the host's source port
 * when it is free, and an unsolicited packet dropped before conntrack
 * confirms it leaves no entry, so two such NATs let a UDP hole be punched
 * when both hosts send to each other's public address and port at once.
 * NAT'd hosts have no IPv6 underlay.
 *
 * @example
 * ```ts
 * import { Topology, rootAndTun } from '@peertap/tool-netns'
 * if (rootAndTun().ok) {
 *   const topo = await Topology.create({ hosts: ['a', 'b'] })
 *   try {
 *     await topo.exec('a', ['ping', '-c1', topo.address('b')])
 *   } finally {
 *     await topo.destroy()
 *   }
 * }
 * ```
 */
import { type ChildProcess, execFile, type SpawnOptions, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants } from 'node:fs'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface TopologyOptions {
  /** Host names, 1 to 5 characters each (interface names are at most 15). */
  readonly hosts: readonly string[]
  /** Isolate bridge ports from each other, except the `hubs`. */
  readonly isolated?: boolean
  readonly hubs?: readonly string[]
  /** Hosts behind a NAT of their own (masquerade, no unsolicited inbound). */
  readonly nat?: readonly string[]
  /** MTU of the underlay links; defaults to 1500. */
  readonly mtu?: number
}

/** Whether this process can build topologies, and if not, why (one line). */
export function rootAndTun(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'needs Linux network namespaces' }
  if (process.getuid?.() !== 0)
    return { ok: false, reason: 'needs root (network namespaces, TAP devices)' }
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK)
  } catch {
    return { ok: false, reason: 'needs /dev/net/tun' }
  }
  return { ok: true }
}

/**
 * A NAT's rules: masquerade on the public side; new connections from it,
 * to the NAT or through it, are dropped (before conntrack confirms them,
 * so they leave no state behind).
 */
const NAT_RULES = `
table ip ptnat {
  chain postrouting { type nat hook postrouting priority 100; oifname "eth0" masquerade; }
}
table inet ptfirewall {
  chain inbound { type filter hook input priority 0; policy accept; iifname "eth0" ct state new drop; }
  chain through { type filter hook forward priority 0; policy accept; iifname "eth0" ct state new drop; }
}
`

/** A veth pair: `name` in namespace `ns`, its peer `eth0` in namespace `peerNs`, both of MTU `mtu`. */
async function veth(ns: string, name: string, peerNs: string, mtu: string): Promise<void> {
  const peer = ['peer', 'name', 'eth0', 'netns', peerNs]
  await sh(['ip', '-n', ns, 'link', 'add', name, 'mtu', mtu, 'type', 'veth', ...peer])
}

/**
 * Runs a command (with `input` on its stdin, if given), failing with its
 * stderr in the message, or the end of its stdout when stderr is empty
 * (iperf3 -J reports its errors there).
 */
export async function sh(
  argv: readonly string[],
  timeoutMs = 20_000,
  input?: string,
): Promise<string> {
  const [file, ...args] = argv
  try {
    if (input !== undefined) return await withInput(file!, args, input, timeoutMs)
    const { stdout } = await run(file!, args, { timeout: timeoutMs, maxBuffer: 64 << 20 })
    return stdout
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string }
    const said = e.stderr?.trim() || e.stdout?.trim().slice(-400)
    throw new Error(`${argv.join(' ')}: ${said || e.message}`)
  }
}

export class Topology {
  readonly id: string
  readonly hosts: readonly string[]
  readonly nat: readonly string[]
  readonly #children = new Set<ChildProcess>()
  #destroyed = false

  private constructor(id: string, hosts: readonly string[], nat: readonly string[]) {
    this.id = id
    this.hosts = hosts
    this.nat = nat
  }

  static async create(options: TopologyOptions): Promise<Topology> {
    for (const host of options.hosts) {
      if (!/^[a-z0-9]{1,5}$/.test(host)) throw new Error(`host name ${host}: 1 to 5 of [a-z0-9]`)
    }
    const nat = options.nat ?? []
    for (const host of nat)
      if (!options.hosts.includes(host)) throw new Error(`nat: no host ${host}`)
    if (options.hosts.some((h) => /^nat\d$/.test(h)))
      throw new Error('host names nat0-nat9 are the NATs')
    if (nat.length > 9) throw new Error('at most 9 NAT hosts')
    const topo = new Topology(randomBytes(3).toString('hex'), options.hosts, nat)
    try {
      await topo.#build(options)
    } catch (error) {
      await topo.destroy()
      throw error
    }
    return topo
  }

  /** The namespace that holds a host. */
  ns(host: string): string {
    return `pt${this.id}-${host}`
  }

  get switchNs(): string {
    return `pt${this.id}-sw`
  }

  /** A host's underlay IPv4 address (for a NAT'd host: its NAT's public address). */
  address(host: string): string {
    return `198.18.0.${this.#index(host) + 1}`
  }

  /** The namespace of a NAT'd host's NAT. */
  natNs(host: string): string {
    return `pt${this.id}-nat${this.#natIndex(host)}`
  }

  /** A NAT'd host's own (private) address. */
  privateAddress(host: string): string {
    return `10.${this.#natIndex(host) + 1}.0.2`
  }

  /** Runs a command inside a NAT'd host's NAT namespace. */
  execNat(host: string, argv: readonly string[], timeoutMs = 20_000): Promise<string> {
    return sh(['ip', 'netns', 'exec', this.natNs(host), ...argv], timeoutMs)
  }

  #natIndex(host: string): number {
    const index = this.nat.indexOf(host)
    if (index < 0) throw new Error(`host ${host} is not behind a NAT`)
    return index
  }

  /** A host's underlay IPv6 address. */
  address6(host: string): string {
    return `fd00:5054::${this.#index(host) + 1}`
  }

  /** Runs a command inside a host's namespace to completion. */
  exec(host: string, argv: readonly string[], timeoutMs = 20_000): Promise<string> {
    return sh(['ip', 'netns', 'exec', this.ns(host), ...argv], timeoutMs)
  }

  /** Starts a long-running process in a host's namespace; `destroy()` ends it by PID. */
  spawn(host: string, argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns(host), ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...options,
    })
    this.#children.add(child)
    child.once('exit', () => this.#children.delete(child))
    return child
  }

  /** Ends every process it started (SIGTERM, then SIGKILL) and removes every namespace. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return
    this.#destroyed = true
    await Promise.all([...this.#children].map((child) => stopChild(child)))
    const nats = this.nat.map((h) => this.natNs(h))
    for (const ns of [...this.hosts.map((h) => this.ns(h)), ...nats, this.switchNs]) {
      await sh(['ip', 'netns', 'del', ns]).catch(() => {})
    }
  }

  #index(host: string): number {
    const index = this.hosts.indexOf(host)
    if (index < 0) throw new Error(`no host ${host} in this topology`)
    return index
  }

  async #build(options: TopologyOptions): Promise<void> {
    const mtu = String(options.mtu ?? 1500)
    const sw = this.switchNs
    await sh(['ip', 'netns', 'add', sw])
    await sh(['ip', '-n', sw, 'link', 'add', 'br0', 'type', 'bridge'])
    await sh(['ip', '-n', sw, 'link', 'set', 'br0', 'up'])
    await sh(['ip', '-n', sw, 'link', 'set', 'lo', 'up'])
    for (const [i, host] of this.hosts.entries()) {
      const behindNat = this.nat.includes(host)
      // A NAT'd host's bridge port belongs to its NAT, which holds its public address.
      const ns = behindNat ? this.natNs(host) : this.ns(host)
      const port = `p${this.id}${i}`
      await sh(['ip', 'netns', 'add', ns])
      await veth(sw, port, ns, mtu)
      await sh(['ip', '-n', sw, 'link', 'set', port, 'master', 'br0', 'up'])
      if (options.isolated && !options.hubs?.includes(host)) {
        await sh([
          'ip',
          '-n',
          sw,
          'link',
          'set',
          'dev',
          port,
          'type',
          'bridge_slave',
          'isolated',
          'on',
        ])
      }
      await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
      await sh(['ip', '-n', ns, 'addr', 'add', `${this.address(host)}/24`, 'dev', 'eth0'])
      if (!behindNat)
        await sh([
          'ip',
          '-n',
          ns,
          'addr',
          'add',
          `${this.address6(host)}/64`,
          'dev',
          'eth0',
          'nodad',
        ])
      await sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
      if (behindNat) await this.#buildNat(host, mtu)
    }
  }

  /** The host's own namespace behind its NAT: private network, masquerade, no unsolicited inbound. */
  async #buildNat(host: string, mtu: string): Promise<void> {
    const nat = this.natNs(host)
    const ns = this.ns(host)
    const net = `10.${this.#natIndex(host) + 1}.0`
    await sh(['ip', 'netns', 'add', ns])
    await veth(nat, 'lan0', ns, mtu)
    await sh(['ip', '-n', nat, 'addr', 'add', `${net}.1/24`, 'dev', 'lan0'])
    await sh(['ip', '-n', nat, 'link', 'set', 'lan0', 'up'])
    await sh(['ip', 'netns', 'exec', nat, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
    await sh(['ip', '-n', ns, 'addr', 'add', `${net}.2/24`, 'dev', 'eth0'])
    await sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
    await sh(['ip', '-n', ns, 'route', 'add', 'default', 'via', `${net}.1`])
    await sh(['ip', 'netns', 'exec', nat, 'nft', '-f', '-'], 20_000, NAT_RULES)
  }
}

function withInput(
  file: string,
  args: string[],
  input: string,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(error, { stderr }))
      else resolve(stdout)
    })
    child.stdin?.end(input)
  })
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

/** Removes namespaces left by an earlier run that died before its cleanup (names `pt<6 hex>-*`). */
export async function removeStaleNamespaces(): Promise<string[]> {
  const list = await sh(['ip', 'netns', 'list']).catch(() => '')
  const stale = list
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => /^pt[0-9a-f]{6}-[a-z0-9]{1,5}$/.test(name))
  for (const name of stale) await sh(['ip', 'netns', 'del', name]).catch(() => {})
  return stale
}

/** An async iterator over the lines a child writes; `next()` fails after `timeoutMs` without one. */
export function childLines(
  stream: NodeJS.ReadableStream,
  timeoutMs = 30_000,
): AsyncIterator<string> {
  const queue: string[] = []
  const waiters: Array<(v: IteratorResult<string>) => void> = []
  let rest = ''
  let ended = false
  stream.on('data', (chunk: Buffer) => {
    rest += chunk.toString()
    const parts = rest.split('\n')
    rest = parts.pop()!
    for (const line of parts) {
      if (line.trim() === '') continue
      const waiter = waiters.shift()
      if (waiter) waiter({ value: line, done: false })
      else queue.push(line)
    }
  })
  stream.on('end', () => {
    ended = true
    for (const w of waiters.splice(0)) w({ value: undefined, done: true })
  })
  return {
    next: () =>
      new Promise((resolve, reject) => {
        const line = queue.shift()
        if (line !== undefined) return resolve({ value: line, done: false })
        if (ended) return resolve({ value: undefined, done: true })
        const timer = setTimeout(
          () => reject(new Error(`no output from child within ${timeoutMs / 1000} s`)),
          timeoutMs,
        )
        waiters.push((v) => {
          clearTimeout(timer)
          resolve(v)
        })
      }),
  }
}
