#!/usr/bin/env node
/**
 * `peertap`: the PeerTap node's command line. Thin: it parses arguments,
 * loads and validates the config, and calls into the daemon (node.ts) or
 * the status API of a running node. (The demo is `npm start`, in
 * tools/overlay.)
 */
import { requestDaemon } from '@peertap/daemon'
import { Command, InvalidArgumentError } from 'commander'
import { ConfigError, loadConfig } from './config.ts'

const program = new Command()
  .name('peertap')
  .description('PeerTap: an encrypted peer-to-peer virtual Ethernet')
  .showHelpAfterError()

program
  .command('up')
  .description('run a node from a JSON config')
  .requiredOption('-c, --config <file>', 'the node config (JSON)')
  .option('--trace', 'log per-frame decisions (never keys or plaintext)')
  .action(async (options: { config: string; trace?: boolean }) => {
    const config = await loadConfig(options.config)
    const { runNode } = await import('./node.ts')
    await runNode(config, { trace: options.trace === true })
  })

program
  .command('status')
  .description('print what a running node sees: neighbours, VLANs, subscriptions, counters')
  .requiredOption('-s, --state-dir <dir>', "the node's state directory")
  .option('--json', 'print JSON')
  .action(async (options: { stateDir: string; json?: boolean }) => {
    const status = await request(options.stateDir, 'GET', '/status')
    if (options.json) {
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`)
      return
    }
    const { formatStatus } = await import('./format.ts')
    process.stdout.write(formatStatus(status))
  })

program
  .command('ping')
  .description('validate the path to a neighbour with PING/PONG: RTT and hop record')
  .argument('<peer>', 'the neighbour PeerId')
  .requiredOption('-s, --state-dir <dir>', "the node's state directory")
  .option('-n, --count <n>', 'pings to send', positiveInt, 3)
  .action(async (peer: string, options: { stateDir: string; count: number }) => {
    for (let i = 0; i < options.count; i++) {
      const result = (await request(
        options.stateDir,
        'POST',
        `/ping?peer=${encodeURIComponent(peer)}`,
      )) as {
        rttMs: number
        hops: string[]
      }
      process.stdout.write(
        `pong from ${peer}: rtt ${result.rttMs.toFixed(3)} ms, hops ${result.hops.join(' -> ')}\n`,
      )
      if (i + 1 < options.count) await new Promise((r) => setTimeout(r, 500))
    }
  })

const vlan = program
  .command('vlan')
  .description(
    "change an MLS VLAN's membership (through the running node): on the owner or an admin under a lease it commits; on another member it proposes to the owner",
  )
const VLAN_OPTION = 'the VLAN (default: the one MLS VLAN this node owns, or its only MLS VLAN)'
for (const [action, what] of [
  [
    'add',
    'admit a member: its key package is added now or when it arrives (a member proposes it, if the owner lets it)',
  ],
  [
    'remove',
    'remove a member: a removal commit, new keys at once (a member proposes it; its own PeerId: leave)',
  ],
] as const) {
  vlan
    .command(action)
    .description(what)
    .argument('<peer>', "the member's PeerId")
    .requiredOption('-s, --state-dir <dir>', "the node's state directory")
    .option('--vlan <name>', VLAN_OPTION)
    .action(async (peer: string, options: { stateDir: string; vlan?: string }) => {
      const query = new URLSearchParams({ peer, ...(options.vlan ? { vlan: options.vlan } : {}) })
      const result = await request(options.stateDir, 'POST', `/vlan/${action}?${query}`)
      process.stdout.write(`${JSON.stringify(result)}\n`)
    })
}
vlan
  .command('update')
  .description(
    'self-update: fresh keys and a new epoch (on the owner a commit; on a member an MLS Update proposal the owner commits)',
  )
  .requiredOption('-s, --state-dir <dir>', "the node's state directory")
  .option('--vlan <name>', VLAN_OPTION)
  .action(async (options: { stateDir: string; vlan?: string }) => {
    const query = new URLSearchParams(options.vlan ? { vlan: options.vlan } : {})
    const result = await request(options.stateDir, 'POST', `/vlan/update?${query}`)
    process.stdout.write(`${JSON.stringify(result)}\n`)
  })
vlan
  .command('lease')
  .description(
    'the owner lets an admin (config mls.admins) commit in its place for a while; the owner does not commit until the lease has run out',
  )
  .argument('<peer>', "the admin's PeerId")
  .requiredOption('-s, --state-dir <dir>', "the owner's state directory")
  .option('--seconds <n>', 'how long the lease runs (at most 86400)', '600')
  .option('--vlan <name>', VLAN_OPTION)
  .action(async (peer: string, options: { stateDir: string; vlan?: string; seconds: string }) => {
    const query = new URLSearchParams({
      peer,
      seconds: options.seconds,
      ...(options.vlan ? { vlan: options.vlan } : {}),
    })
    const result = await request(options.stateDir, 'POST', `/vlan/lease?${query}`)
    process.stdout.write(`${JSON.stringify(result)}\n`)
  })

program
  .command('keygen')
  .description("create the node's identity in a state directory (if absent) and print its PeerId")
  .requiredOption('-s, --state-dir <dir>', 'the state directory')
  .action(async (options: { stateDir: string }) => {
    const { loadOrCreateIdentity } = await import('@peertap/trunk')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const key = await loadOrCreateIdentity(options.stateDir)
    process.stdout.write(`${peerIdFromPrivateKey(key).toString()}\n`)
  })

function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer')
  return n
}

/** One request to the local status API of the node whose state directory is given. */
function request(stateDir: string, method: string, path: string): Promise<unknown> {
  return requestDaemon(stateDir, method, path, 'peertap up')
}

program.parseAsync().catch((error: unknown) => {
  const message =
    error instanceof ConfigError ? `config error: ${error.message}` : (error as Error).message
  process.stderr.write(`peertap: ${message}\n`)
  process.exit(1)
})
