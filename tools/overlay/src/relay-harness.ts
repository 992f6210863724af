/**
 * A `peertap-relay up` process in a namespace host, for overlays whose nodes
 * reach each other only through it (`Overlay.start({ relay: … })`): the
 * demo, the relay's end-to-end tests (test/), the benchmark's relay
 * scenario. The relay runs from source or from its build, as the node does
 * (cli-argv.ts).
 */
import type { ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Topology } from '@peertap/tool-netns'
import { apiGet } from './api.ts'
import { cliArgv } from './cli-argv.ts'
import { keygen } from './identity.ts'

/** The argv of the `peertap-relay` CLI (@peertap/relay-app's `./cli` export). */
export const RELAY_ARGV = cliArgv('@peertap/relay-app/cli')

export interface RelayHostOptions {
  /** The host (namespace) the relay runs in; default 'r'. */
  readonly host?: string
  /** Config fields besides stateDir and listen (admission, limits, peerLimits, log). */
  readonly config?: Readonly<Record<string, unknown>>
  /** Extra arguments for `peertap-relay up`, e.g. ['--trace']. */
  readonly upArgs?: readonly string[]
}

export class RelayHost {
  readonly host: string
  readonly options: RelayHostOptions
  stateDir = ''
  peerId = ''
  pid = 0
  /** Output of the relay process (JSON lines), for diagnosis and the tests. */
  readonly log: string[] = []
  #topo: Topology | undefined
  #child: ChildProcess | undefined

  constructor(options: RelayHostOptions = {}) {
    this.host = options.host ?? 'r'
    this.options = options
  }

  /** Creates the relay's identity in `dir` (if absent) and learns its PeerId. */
  async keygen(topo: Topology, dir: string): Promise<string> {
    this.#topo = topo
    this.stateDir = join(dir, this.host)
    this.peerId = await keygen(this.stateDir)
    return this.peerId
  }

  /**
   * Starts the relay listening on `listen` (multiaddrs), dialling `peers`,
   * trusting `relays` (PeerIds of other relays) to pass proofs on, and
   * admitting the `allow` PeerIds (the overlay's nodes: a relay is closed by
   * default, docs/spec/14-roles.md §14.3) besides what its config admits,
   * and waits for its status API.
   */
  async start(
    topo: Topology,
    dir: string,
    listen: readonly string[],
    peers: readonly string[] = [],
    relays: readonly string[] = [],
    allow: readonly string[] = [],
  ): Promise<void> {
    if (this.peerId === '') await this.keygen(topo, dir)
    const configPath = join(dir, `${this.host}.json`)
    const config = this.options.config ?? {}
    const own = (config.admission ?? {}) as { allow?: string[]; deny?: string[] }
    const admission = {
      ...own,
      relays,
      allow: [...new Set([...(own.allow ?? []), ...allow.filter((id) => !own.deny?.includes(id))])],
    }
    await writeFile(
      configPath,
      JSON.stringify({ stateDir: this.stateDir, listen, peers, ...config, admission }, null, 2),
    )
    const child = topo.spawn(this.host, [
      ...RELAY_ARGV,
      'up',
      '--config',
      configPath,
      ...(this.options.upArgs ?? []),
    ])
    this.pid = child.pid ?? 0
    this.#child = child
    let rest = ''
    const keep = (chunk: Buffer) => {
      const parts = (rest + chunk.toString()).split('\n')
      rest = parts.pop() ?? ''
      this.log.push(...parts.filter(Boolean))
      if (this.log.length > 20_000) this.log.splice(0, this.log.length - 20_000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    const deadline = Date.now() + 15_000
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`peertap-relay exited (${child.exitCode}):\n${this.log.join('\n')}`)
      if (
        await this.status().then(
          () => true,
          () => false,
        )
      )
        return
      if (Date.now() > deadline)
        throw new Error(`peertap-relay not up after 15 s:\n${this.log.slice(-30).join('\n')}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  /**
   * Stops the relay with `signal` and resolves with its exit code once it
   * has exited (SIGKILL after 5 s); `Topology.destroy` would also end it.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.#child
    if (child === undefined) return null
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    return child.exitCode
  }

  /** The relay's multiaddr for a listen suffix such as '/tcp/7400'. */
  address(suffix: string): string {
    if (this.#topo === undefined) throw new Error('relay not started')
    return `/ip4/${this.#topo.address(this.host)}${suffix}/p2p/${this.peerId}`
  }

  /** The relay's status snapshot (what `peertap-relay status` prints), read over its API socket (api.ts). */
  async status(): Promise<RelayStatus> {
    if (this.#topo === undefined) throw new Error('relay not started')
    return (await apiGet(this.stateDir, '/status')) as RelayStatus
  }

  /** `peertap-relay metrics` (Prometheus text). */
  async metrics(): Promise<string> {
    if (this.#topo === undefined) throw new Error('relay not started')
    return this.#topo.exec(this.host, [...RELAY_ARGV, 'metrics', '--state-dir', this.stateDir])
  }
}

/** The part of `peertap-relay status` the harness and tests read. */
export interface RelayStatus {
  peerId: string
  role: string
  /** What R's fast path forwarded (docs/spec/18-fast-path.md); null when it is off. */
  fastPath?: {
    forwarded: number
    forwardOther: number
    forwardDuplicate: number
    entries: number
    /** Times every entry went (a link, the tree, an access or limit changed). */
    clears: number
    /** VFTs whose entries went because their subscriptions changed. */
    routeChanges: number
  } | null
  neighbours: Array<{
    id: string
    status: string
    role: string
    access: string
    admitted: boolean
    /** The link's part in the spanning tree: 'edge' (a node, or a relay outside it), 'parent', 'child', 'blocked'. */
    tree: string
    table: {
      subscriptions: number
      framesIn: number
      framesDropped: number
      copiesCaused: number
      copiesReceived: number
    } | null
    counters: Record<string, number>
  }>
  subscriptions: { table: number; vfts: number; neighbours: number; propagated: number }
  /** The cache of verified proofs (@peertap/crypto ProofVerifier). */
  proofVerifier: { hits: number; misses: number; signatureChecks: number; evictions: number }
  relay: {
    subsReceived: number
    unsubsReceived: number
    subEntriesAccepted: number
    subEntriesRefused: number
    subsPropagated: number
    unsubsPropagated: number
    proofRejections: Record<string, number>
    credentialsAccepted: number
    credentialsRefused: number
    framesBlocked: number
    copiesBlocked: number
    subsBlocked: number
  }
  /** The spanning tree over relay identities (spec 12 §7), null when turned off. */
  tree: {
    root: string
    isRoot: boolean
    cost: number
    parent: string | null
    treeLinks: string[]
    blockedLinks: string[]
    counters: { topologyChanges: number; messagesIn: number; messagesOut: number }
  } | null
  table: {
    framesIn: number
    framesForwarded: number
    copiesOut: number
    frameDrops: Record<string, number>
    subscriptionDrops: Record<string, number>
  }
  trunk: { closeReasons: Record<string, number>; linksUp: number; linksDown: number }
}
