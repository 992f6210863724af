#!/usr/bin/env node
/**
 * `peertap-relay`: the PeerTap relay's command line. Thin: it parses
 * arguments, loads and validates the config, and calls into the daemon
 * (relay.ts) or its local status API.
 */
import { createRequire } from 'node:module'
import { ConfigError, createLogger, requestDaemon, runUntilSignal } from '@peertap/daemon'
import { Command, InvalidArgumentError } from 'commander'
import { loadRelayConfig } from './config.ts'

const START = 'peertap-relay up'
const { version } = createRequire(import.meta.url)('../package.json') as { version: string }

const program = new Command()
  .name('peertap-relay')
  .description(
    'PeerTap relay: forwards sealed frames by VFT alone, for nodes that cannot reach each other',
  )
  .version(version, '-V, --version', 'print the version')
  .showHelpAfterError()

program
  .command('up')
  .description('run a relay from a JSON config')
  .requiredOption('-c, --config <file>', 'the relay config (JSON)')
  .option('--trace', 'log per-batch forwarding decisions (never keys or payloads)')
  .action(async (options: { config: string; trace?: boolean }) => {
    const config = await loadRelayConfig(options.config)
    const log = createLogger(options.trace === true ? 'trace' : config.log.level)
    const { startRelay } = await import('./relay.ts')
    await runUntilSignal(log, () => startRelay(config, log))
  })

program
  .command('status')
  .description('print what a running relay sees: neighbours, subscriptions, counters (JSON)')
  .requiredOption('-s, --state-dir <dir>', "the relay's state directory")
  .option(
    '--json',
    'print JSON (the only form: accepted so that scripts can say it, as for peertap)',
  )
  .action(async (options: { stateDir: string }) => {
    const status = await requestDaemon(options.stateDir, 'GET', '/status', START)
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`)
  })

program
  .command('metrics')
  .description("print a running relay's Prometheus metrics")
  .requiredOption('-s, --state-dir <dir>', "the relay's state directory")
  .action(async (options: { stateDir: string }) => {
    const { readControl } = await import('@peertap/daemon')
    const control = await readControl(options.stateDir, START)
    const response = await fetch(`http://127.0.0.1:${control.port}/metrics`, {
      headers: { authorization: `Bearer ${control.token}` },
    })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    process.stdout.write(await response.text())
  })

program
  .command('ping')
  .description('validate the path to a neighbour with PING/PONG: RTT and hop record')
  .argument('<peer>', 'the neighbour PeerId')
  .requiredOption('-s, --state-dir <dir>', "the relay's state directory")
  .option('-n, --count <n>', 'pings to send', positiveInt, 3)
  .action(async (peer: string, options: { stateDir: string; count: number }) => {
    for (let i = 0; i < options.count; i++) {
      const path = `/ping?peer=${encodeURIComponent(peer)}`
      const result = (await requestDaemon(options.stateDir, 'POST', path, START)) as {
        rttMs: number
      }
      process.stdout.write(`pong from ${peer}: rtt ${result.rttMs.toFixed(3)} ms\n`)
      if (i + 1 < options.count) await new Promise((r) => setTimeout(r, 500))
    }
  })

const fabric = program
  .command('fabric')
  .description(
    "the fabric roots whose members this relay admits, besides the config's admission.fabricKeys",
  )

fabric
  .command('add')
  .description('admit the members of a fabric: its root key, as `peertap fabric show` prints it')
  .argument('<key>', "the fabric's root public key (64 hex digits)")
  .requiredOption('-s, --state-dir <dir>', "the relay's state directory")
  .option('--json', 'print JSON')
  .action(async (key: string, options: { stateDir: string; json?: boolean }) => {
    const { fabricAdd } = await import('./fabric-command.ts')
    print(await fabricAdd(options.stateDir, key), options.json)
  })

fabric
  .command('remove')
  .description('stop admitting the members of a fabric added with `fabric add`')
  .argument('<key>', "the fabric's root public key (64 hex digits)")
  .requiredOption('-s, --state-dir <dir>', "the relay's state directory")
  .option('--json', 'print JSON')
  .action(async (key: string, options: { stateDir: string; json?: boolean }) => {
    const { fabricRemove } = await import('./fabric-command.ts')
    print(await fabricRemove(options.stateDir, key), options.json)
  })

fabric
  .command('list')
  .description('the fabric roots, each with its current epoch and credential key')
  .requiredOption('-s, --state-dir <dir>', "the relay's state directory")
  .option('--json', 'print JSON')
  .action(async (options: { stateDir: string; json?: boolean }) => {
    const { fabricList } = await import('./fabric-command.ts')
    print(await fabricList(options.stateDir), options.json)
  })

program
  .command('keygen')
  .description("create the relay's identity in a state directory (if absent) and print its PeerId")
  .requiredOption('-s, --state-dir <dir>', 'the state directory')
  .action(async (options: { stateDir: string }) => {
    const { loadOrCreateIdentity } = await import('@peertap/trunk')
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const key = await loadOrCreateIdentity(options.stateDir)
    process.stdout.write(`${peerIdFromPrivateKey(key).toString()}\n`)
  })

function print(result: { text: string; json: unknown }, json: boolean | undefined): void {
  process.stdout.write(
    json === true ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text}\n`,
  )
}

function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer')
  return n
}

program.parseAsync().catch((error: unknown) => {
  const message =
    error instanceof ConfigError ? `config error: ${error.message}` : (error as Error).message
  process.stderr.write(`peertap-relay: ${message}\n`)
  process.exit(1)
})
