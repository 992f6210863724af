/**
 * `peertap fabric …`: the fabric commands of the node's CLI (cli.ts), each
 * one or two requests to the running node's local API (status-api.ts). The
 * fabric itself is docs/spec/16-fabric.md.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { FabricSummary } from '@peertap/runtime'
import type { Command } from 'commander'
import { type JoinOptions, joinOptions, joinWithCode } from './cli-join.ts'
import { collect, positiveInt, printJson, request } from './cli-util.ts'
import { type InviteOptions, invite } from './cli-vlan.ts'

/** How long `fabric join` waits, once a member, for the owner's grant of the fabric. */
const GRANT_WAIT_MS = 10_000

/** Adds `peertap fabric` and its subcommands to the program. */
export function addFabricCommands(program: Command): void {
  const fabric = program
    .command('fabric')
    .description(
      "this node's fabric: the nodes and relays that find each other from one bootstrap address (make one, invite to it, show its directory, rotate its secret)",
    )
  fabric
    .command('init')
    .description('make a new fabric with this node its admin; prints the key relays are given')
    .requiredOption('-s, --state-dir <dir>', "the node's state directory")
    .option(
      '--bootstrap <multiaddr>',
      'an address members dial to reach the fabric, ending in /p2p/<PeerId>: usually a relay (repeatable)',
      collect,
      [],
    )
    .option('--json', 'print JSON')
    .action(async (options: { stateDir: string; bootstrap: string[]; json?: boolean }) => {
      const query = new URLSearchParams()
      for (const address of options.bootstrap) query.append('bootstrap', address)
      const result = (await request(
        options.stateDir,
        'POST',
        `/fabric/init?${query}`,
      )) as FabricSummary
      if (options.json) return printJson(result)
      process.stdout.write(
        `made fabric ${result.fabric}\n` +
          `relays admit its members with:  peertap-relay fabric add ${result.rootKey} -s RELAY_STATE_DIR\n` +
          `invite a node with:             peertap fabric invite VLAN -s ${options.stateDir}\n`,
      )
    })
  fabric
    .command('show')
    .description('the fabric: its keys, and its directory of nodes, relays and VLANs')
    .requiredOption('-s, --state-dir <dir>', "the node's state directory")
    .option('--json', 'print JSON')
    .action(async (options: { stateDir: string; json?: boolean }) => {
      const s = (await request(options.stateDir, 'POST', '/fabric/show')) as FabricSummary
      if (options.json) return printJson(s)
      process.stdout.write(formatFabric(s))
    })
  fabric
    .command('invite')
    .description(
      'make an invitation code to an MLS VLAN this node owns that brings the fabric with it (`vlan invite` that also hands over the fabric)',
    )
    .argument('<vlan>', 'the VLAN the code joins')
    .requiredOption('-s, --state-dir <dir>', "the owner's state directory")
    .option('--uses <n>', 'how many nodes may join with it', positiveInt, 1)
    .option('--expires <duration>', 'how long it is good for: 30m, 24h, 7d', '24h')
    .option('--json', 'print JSON')
    .action((name: string, options: InviteOptions) => invite(name, options, true))
  joinOptions(
    fabric
      .command('join')
      .description(
        'join a VLAN and its owner’s fabric with a code from `peertap fabric invite`: exits 0 once this node is a member of both',
      )
      .argument('<code>', 'the invitation code'),
  ).action(async (code: string, options: JoinOptions) => {
    const vlan = await joinWithCode(code, options, true)
    const deadline = Date.now() + GRANT_WAIT_MS
    let joined: FabricSummary | undefined
    while (joined === undefined && Date.now() < deadline) {
      joined = await (
        request(options.stateDir, 'POST', '/fabric/show') as Promise<FabricSummary>
      ).catch(() => undefined)
      if (joined === undefined) await sleep(200)
    }
    if (joined === undefined)
      throw new Error(
        `joined VLAN ${vlan.name}, but its owner did not hand over a fabric: ask for a code made with \`peertap fabric invite\``,
      )
    if (options.json) return printJson({ vlan, fabric: joined })
    process.stdout.write(
      `joined ${vlan.name} (port ${vlan.device}) and fabric ${joined.fabric}: see peertap fabric show -s ${options.stateDir}\n`,
    )
  })
  fabric
    .command('rotate')
    .description(
      'the admin: a new fabric secret and credential key for every member but those expelled; relays switch to it, the expelled are refused',
    )
    .requiredOption('-s, --state-dir <dir>', "the admin's state directory")
    .option('--expel <peer>', 'a member left out of the new epoch (repeatable)', collect, [])
    .option('--json', 'print JSON')
    .action(async (options: { stateDir: string; expel: string[]; json?: boolean }) => {
      const query = new URLSearchParams()
      for (const peer of options.expel) query.append('expel', peer)
      process.stderr.write('rotating: handing the new secret to every member (up to 5 s)...\n')
      const s = (await request(
        options.stateDir,
        'POST',
        `/fabric/rotate?${query}`,
      )) as FabricSummary
      if (options.json) return printJson(s)
      process.stdout.write(
        `fabric ${s.fabric} is at epoch ${s.epoch}: the new secret was sent to ${s.granted?.length ?? 0} member(s)` +
          (options.expel.length > 0 ? `, ${options.expel.length} expelled` : '') +
          '\n',
      )
      if ((s.missed?.length ?? 0) > 0)
        process.stdout.write(
          `not reached (out of the fabric now; invite them again with peertap fabric invite): ${s.missed?.join(', ')}\n`,
        )
    })
  fabric
    .command('leave')
    .description('forget the fabric (its secret and directory); VLANs stay')
    .requiredOption('-s, --state-dir <dir>', "the node's state directory")
    .option('--json', 'print JSON')
    .action(async (options: { stateDir: string; json?: boolean }) => {
      const result = (await request(options.stateDir, 'POST', '/fabric/leave')) as {
        left: boolean
      }
      if (options.json) return printJson(result)
      process.stdout.write(result.left ? 'left the fabric\n' : 'this node is in no fabric\n')
    })
}

/** `peertap fabric show` for a person. */
export function formatFabric(s: FabricSummary): string {
  const lines = [
    `fabric   ${s.fabric} (epoch ${s.epoch})${s.admin ? ' — this node is its admin' : ''}`,
    `root key ${s.rootKey}  (relays: peertap-relay fabric add KEY)`,
    `admins   ${s.admins.join(', ')}`,
    `bootstrap ${s.bootstrap.length === 0 ? 'none' : s.bootstrap.join(', ')}`,
    '',
    `relays (${s.relays.length})`,
    ...s.relays.map(
      (r) =>
        `  ${r.peerId}  ${r.linked ? 'linked' : 'not linked'}  load ${r.load ?? 0}  ${r.addresses[0] ?? ''}`,
    ),
    `nodes (${s.nodes.length})`,
    ...s.nodes.map(
      (n) =>
        `  ${n.peerId}  ${n.linked ? 'linked' : 'not linked'}  ${n.vlans.map((v) => v.name ?? v.vlanId).join(',') || '-'}  ${n.addresses[0] ?? ''}`,
    ),
    `VLANs (${s.vlans.length})`,
    ...s.vlans.map((v) => `  ${v.name ?? '(unnamed)'}  ${v.vlanId}  ${v.peers.length} member(s)`),
  ]
  return `${lines.join('\n')}\n`
}
