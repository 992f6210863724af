/**
 * `peertap vlan …`: the VLAN commands of the node's CLI (cli.ts), each one
 * request to the running node's local API (status-api.ts).
 */
import type { Command } from 'commander'
import { collect, positiveInt, printJson, request } from './cli-util.ts'

/** Adds `peertap vlan` and its subcommands to the program. */
export function addVlanCommands(program: Command): void {
  const vlan = program
    .command('vlan')
    .description(
      "this node's VLANs, through the running node: create, invite, list, leave, delete; an MLS VLAN's members (on the owner or an admin under a lease a change commits; on another member it is proposed to the owner)",
    )
  const VLAN_OPTION = 'the VLAN (default: the one MLS VLAN this node owns, or its only MLS VLAN)'
  vlan
    .command('transfer')
    .description(
      'hand an MLS VLAN this node owns to one of its members, which commits (adds, removes, leases) from then on; this node stays a member',
    )
    .argument('<name>', 'the VLAN')
    .argument('<peer>', "the new owner's PeerId (a member: see peertap vlan members NAME)")
    .requiredOption('-s, --state-dir <dir>', "the owner's state directory")
    .option('--json', 'print JSON')
    .action(async (name: string, peer: string, options: { stateDir: string; json?: boolean }) => {
      const query = new URLSearchParams({ vlan: name, peer })
      const result = await request(options.stateDir, 'POST', `/vlan/transfer?${query}`)
      if (options.json) return printJson(result)
      process.stdout.write(`handed ${name} to ${peer}\n`)
    })
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
    .option('--device <name>', 'the port device (default pt-<name>)')
    .option(
      '--tun',
      'a TUN port with layer 2 emulated, for a host without TAP (docs/spec/17-tun-l2.md)',
    )
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        options: {
          stateDir: string
          address: string[]
          subnet?: string
          device?: string
          tun?: boolean
          json?: boolean
        },
      ) => {
        const query = new URLSearchParams({ vlan: name })
        if (options.tun === true) query.set('port', 'tun')
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
    .option(
      '--expires <duration>',
      'how long it is good for: 30m, 24h, 7d (at most 30 days)',
      '24h',
    )
    .option('--json', 'print JSON')
    .action((name: string, options: InviteOptions) => invite(name, options, false))
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
}

export interface InviteOptions {
  stateDir: string
  uses: number
  expires: string
  json?: boolean
}

/**
 * `peertap vlan invite` (and, with `fabric`, `peertap fabric invite`): the
 * code is the last line of standard output, a QR code above it on a
 * terminal, what it is good for on stderr.
 */
export async function invite(name: string, options: InviteOptions, fabric: boolean) {
  const { parseDuration } = await import('./invite-cli.ts')
  const query = new URLSearchParams({
    vlan: name,
    uses: String(options.uses),
    expires: String(parseDuration(options.expires)),
    ...(fabric ? { fabric: '1' } : {}),
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
    `invitation ${result.id} to ${name}${fabric ? ' and the fabric' : ''}: ${result.uses} use(s), until ${new Date(result.expiresAt * 1000).toISOString()}; on the other node: peertap ${fabric ? 'fabric join' : 'join'} CODE -s DIR\n`,
  )
  process.stdout.write(`${result.code}\n`)
}
