#!/usr/bin/env node
/**
 * `peertap`: the PeerTap node's command line. Thin: it parses arguments,
 * loads and validates the config, and calls into the daemon (node.ts) or
 * the status API of a running node. (The demo is `npm start`, in
 * tools/overlay.)
 */
import { createRequire } from 'node:module'
import { requestDaemon } from '@peertap/daemon'
import { Command, InvalidArgumentError } from 'commander'
import { ConfigError, loadConfig } from './config.ts'

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
    const { runNode } = await import('./node.ts')
    await runNode(config, { trace: options.trace === true })
  })

program
  .command('join')
  .description(
    'join a VLAN with an invitation code: exits 0 once this node is a member with its port up and its addresses, else says what went wrong',
  )
  .argument('<code>', 'the invitation code (from `peertap vlan invite` on the owner)')
  .requiredOption('-s, --state-dir <dir>', "the node's state directory")
  .option(
    '--address <cidr>',
    'an address for the port, as `ip addr add` takes it (repeatable)',
    collect,
    [],
  )
  .option('--device <name>', 'the TAP device (default pt-<VLAN name>)')
  .option('--timeout <seconds>', 'how long to wait for the owner', positiveInt, 30)
  .option('--json', 'print JSON')
  .action(
    async (
      code: string,
      options: {
        stateDir: string
        address: string[]
        device?: string
        timeout: number
        json?: boolean
      },
    ) => {
      const { describeCode } = await import('./invite-cli.ts')
      // A typo, a damaged or an expired code is caught here, before any network traffic.
      const invitation = describeCode(code)
      process.stderr.write(
        `joining VLAN ${JSON.stringify(invitation.name)} of ${invitation.owner}: asking the owner (up to ${options.timeout} s)...\n`,
      )
      const query = new URLSearchParams({ code, timeout: String(options.timeout) })
      for (const address of options.address) query.append('address', address)
      if (options.device !== undefined) query.set('device', options.device)
      const vlan = (await request(options.stateDir, 'POST', `/join?${query}`)) as {
        name: string
        device: string
        addresses: string[]
      }
      if (options.json) return printJson(vlan)
      process.stdout.write(
        `joined ${vlan.name}: port ${vlan.device} up, addresses ${vlan.addresses.join(', ') || 'none'}\n`,
      )
    },
  )

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
    .option('--json', 'print JSON (as it does anyway)')
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
  .option('--json', 'print JSON (as it does anyway)')
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
  .option('--json', 'print JSON (as it does anyway)')
  .action(async (peer: string, options: { stateDir: string; vlan?: string; seconds: string }) => {
    const query = new URLSearchParams({
      peer,
      seconds: options.seconds,
      ...(options.vlan ? { vlan: options.vlan } : {}),
    })
    const result = await request(options.stateDir, 'POST', `/vlan/lease?${query}`)
    process.stdout.write(`${JSON.stringify(result)}\n`)
  })

vlan
  .command('list')
  .description("this node's VLANs: kind, role, state, device, addresses")
  .requiredOption('-s, --state-dir <dir>', "the node's state directory")
  .option('--json', 'print JSON')
  .action(async (options: { stateDir: string; json?: boolean }) => {
    const vlans = (await request(options.stateDir, 'POST', '/vlan/list')) as Array<
      Record<string, unknown>
    >
    if (options.json) return printJson(vlans)
    const { formatVlans } = await import('./invite-cli.ts')
    process.stdout.write(formatVlans(vlans))
  })
vlan
  .command('create')
  .description('create an MLS VLAN this node owns, with a TAP port (then invite others to it)')
  .argument('<name>', 'the VLAN name (1 to 64 bytes of UTF-8)')
  .requiredOption('-s, --state-dir <dir>', "the node's state directory")
  .option(
    '--address <cidr>',
    'an address for the port, as `ip addr add` takes it (repeatable)',
    collect,
    [],
  )
  .option(
    '--subnet <cidr>',
    'an IPv4 pool (e.g. 10.77.0.0/24): each joiner gets an address from it',
  )
  .option('--device <name>', 'the TAP device (default pt-<name>)')
  .option('--json', 'print JSON')
  .action(
    async (
      name: string,
      options: {
        stateDir: string
        address: string[]
        subnet?: string
        device?: string
        json?: boolean
      },
    ) => {
      const query = new URLSearchParams({ vlan: name })
      for (const address of options.address) query.append('address', address)
      if (options.subnet !== undefined) query.set('subnet', options.subnet)
      if (options.device !== undefined) query.set('device', options.device)
      const result = (await request(options.stateDir, 'POST', `/vlan/create?${query}`)) as {
        device: string
        addresses: string[]
      }
      if (options.json) return printJson(result)
      process.stdout.write(
        `created ${name}: port ${result.device}, addresses ${result.addresses.join(', ')}\ninvite a node with: peertap vlan invite ${name} -s ${options.stateDir}\n`,
      )
    },
  )
vlan
  .command('invite')
  .description(
    'make an invitation code to an MLS VLAN this node owns: printed as the last line (a QR code above it on a terminal)',
  )
  .argument('<name>', 'the VLAN')
  .requiredOption('-s, --state-dir <dir>', "the owner's state directory")
  .option('--uses <n>', 'how many nodes may join with it', positiveInt, 1)
  .option('--expires <duration>', 'how long it is good for: 30m, 24h, 7d (at most 30 days)', '24h')
  .option('--json', 'print JSON')
  .action(
    async (
      name: string,
      options: { stateDir: string; uses: number; expires: string; json?: boolean },
    ) => {
      const { parseDuration } = await import('./invite-cli.ts')
      const query = new URLSearchParams({
        vlan: name,
        uses: String(options.uses),
        expires: String(parseDuration(options.expires)),
      })
      const result = (await request(options.stateDir, 'POST', `/vlan/invite?${query}`)) as {
        code: string
        id: string
        expiresAt: number
        uses: number
      }
      if (options.json) return printJson(result)
      if (process.stdout.isTTY) {
        const { renderQr } = await import('./qr.ts')
        process.stdout.write(renderQr(result.code))
      }
      process.stderr.write(
        `invitation ${result.id} to ${name}: ${result.uses} use(s), until ${new Date(result.expiresAt * 1000).toISOString()}; on the other node: peertap join CODE -s DIR\n`,
      )
      process.stdout.write(`${result.code}\n`)
    },
  )
vlan
  .command('invitations')
  .description("an owned VLAN's invitations: id, uses left, expiry, who joined")
  .argument('<name>', 'the VLAN')
  .requiredOption('-s, --state-dir <dir>', "the owner's state directory")
  .option('--json', 'print JSON')
  .action(async (name: string, options: { stateDir: string; json?: boolean }) => {
    const list = await request(
      options.stateDir,
      'POST',
      `/vlan/invitations?${new URLSearchParams({ vlan: name })}`,
    )
    printJson(list)
  })
vlan
  .command('revoke')
  .description(
    'revoke an invitation (by its id, from `vlan invite` or `vlan invitations`), or with --all every one of the VLAN',
  )
  .argument('<name>', 'the VLAN')
  .argument('[id]', 'the invitation id')
  .requiredOption('-s, --state-dir <dir>', "the owner's state directory")
  .option('--all', 'every invitation of the VLAN')
  .option('--json', 'print JSON')
  .action(
    async (
      name: string,
      id: string | undefined,
      options: { stateDir: string; all?: boolean; json?: boolean },
    ) => {
      if ((id === undefined) === (options.all !== true))
        throw new Error('give an invitation id, or --all (see peertap vlan invitations NAME)')
      const query = new URLSearchParams({ vlan: name, ...(id === undefined ? {} : { id }) })
      const result = await request(options.stateDir, 'POST', `/vlan/revoke?${query}`)
      printJson(result)
    },
  )
vlan
  .command('members')
  .description("an MLS VLAN's members: PeerId, leaf, addresses")
  .argument('<name>', 'the VLAN')
  .requiredOption('-s, --state-dir <dir>', "the node's state directory")
  .option('--json', 'print JSON')
  .action(async (name: string, options: { stateDir: string; json?: boolean }) => {
    const members = (await request(
      options.stateDir,
      'POST',
      `/vlan/members?${new URLSearchParams({ vlan: name })}`,
    )) as Array<{ peerId: string; leafIndex: number; self: boolean; ipv6: string; ipv4?: string }>
    if (options.json) return printJson(members)
    for (const m of members)
      process.stdout.write(
        `${m.peerId}${m.self ? ' (this node)' : ''}  leaf ${m.leafIndex}  ${m.ipv6}${m.ipv4 === undefined ? '' : `  ${m.ipv4}`}\n`,
      )
  })
for (const [action, what] of [
  [
    'leave',
    'leave a VLAN this node joined (a member of an MLS VLAN proposes its removal) and forget it',
  ],
  [
    'delete',
    'delete a VLAN this node owns: every member removed (cut off at once), its invitations revoked',
  ],
] as const) {
  vlan
    .command(action)
    .description(what)
    .argument('<name>', 'the VLAN')
    .requiredOption('-s, --state-dir <dir>', "the node's state directory")
    .option('--json', 'print JSON')
    .action(async (name: string, options: { stateDir: string; json?: boolean }) => {
      const result = await request(
        options.stateDir,
        'POST',
        `/vlan/${action}?${new URLSearchParams({ vlan: name })}`,
      )
      if (options.json) return printJson(result)
      process.stdout.write(`${action === 'leave' ? 'left' : 'deleted'} ${name}\n`)
    })
}

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

/** Prints a command's result as JSON (`--json`). */
function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

/** Collects a repeatable option's values. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

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
