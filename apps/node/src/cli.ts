#!/usr/bin/env node
/**
 * `peertap`: the PeerTap node's command line. Thin: it parses arguments,
 * loads and validates the config, and calls into the daemon (node.ts) or
 * the status API of a running node. (The demo is `npm start`, in
 * tools/overlay.)
 */
import { createRequire } from 'node:module'
import { ConfigError, loadConfig } from '@peertap/runtime'
import { Command } from 'commander'
import { addFabricCommands } from './cli-fabric.ts'
import { type JoinOptions, joinOptions, joinWithCode } from './cli-join.ts'
import { addUiCommand } from './cli-ui.ts'
import { positiveInt, printJson, request } from './cli-util.ts'
import { addVlanCommands } from './cli-vlan.ts'

const { version } = createRequire(import.meta.url)('../package.json') as { version: string }

const program = new Command()
  .name('peertap')
  .description('PeerTap: an encrypted peer-to-peer virtual Ethernet')
  .version(version, '-V, --version', 'print the version')
  .showHelpAfterError()

program
  .command('up')
  .description(
    'run a node: from a JSON config, or with none (-s DIR alone: defaults, VLANs made with `vlan create` and `join`)',
  )
  .option('-c, --config <file>', 'the node config (JSON)')
  .option('-s, --state-dir <dir>', "the node's state directory (replaces the config's stateDir)")
  .option('--trace', 'log per-frame decisions (never keys or plaintext)')
  .action(async (options: { config?: string; stateDir?: string; trace?: boolean }) => {
    if (options.config === undefined && options.stateDir === undefined)
      throw new Error('give a state directory (-s DIR), a config (-c FILE), or both')
    const config = await loadConfig(options.config, options.stateDir)
    const { runNode } = await import('./index.ts')
    await runNode(config, { trace: options.trace === true })
  })

joinOptions(
  program
    .command('join')
    .description(
      'join a VLAN with an invitation code: exits 0 once this node is a member with its port up and its addresses, else says what went wrong',
    )
    .argument('<code>', 'the invitation code (from `peertap vlan invite` on the owner)'),
).action(async (code: string, options: JoinOptions) => {
  const vlan = await joinWithCode(code, options, false)
  if (options.json) return printJson(vlan)
  process.stdout.write(
    `joined ${vlan.name}: port ${vlan.device} up, addresses ${vlan.addresses.join(', ') || 'none'}\n`,
  )
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

addVlanCommands(program)
addFabricCommands(program)
addUiCommand(program)

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

program.parseAsync().catch((error: unknown) => {
  const message =
    error instanceof ConfigError ? `config error: ${error.message}` : (error as Error).message
  process.stderr.write(`peertap: ${message}\n`)
  process.exit(1)
})
