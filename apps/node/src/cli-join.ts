/**
 * What `peertap join` and `peertap fabric join` share (cli.ts,
 * cli-fabric.ts): their options, and the join itself, one request to the
 * running node's local API (status-api.ts) after the code was checked
 * here, before any traffic.
 */
import type { Command } from 'commander'
import { collect, positiveInt, request } from './cli-util.ts'

export interface JoinOptions {
  stateDir: string
  address: string[]
  device?: string
  tun?: boolean
  timeout: number
  json?: boolean
}

/** The VLAN a join made, as the node answers it. */
export interface JoinedVlan {
  name: string
  device: string
  addresses: string[]
}

/** Adds a join command's options (state dir, addresses, device, timeout, --json). */
export function joinOptions(command: Command): Command {
  return command
    .requiredOption('-s, --state-dir <dir>', "the node's state directory")
    .option(
      '--address <cidr>',
      'an address for the port, as `ip addr add` takes it (repeatable)',
      collect,
      [],
    )
    .option('--device <name>', 'the port device (default pt-<VLAN name>)')
    .option(
      '--tun',
      'a TUN port with layer 2 emulated, for a host without TAP (docs/spec/17-tun-l2.md)',
    )
    .option('--timeout <seconds>', 'how long to wait for the owner', positiveInt, 30)
    .option('--json', 'print JSON')
}

/**
 * Joins the code's VLAN (with `fabric`, its owner's fabric too): a typo,
 * a damaged or an expired code is caught before any traffic; says what it
 * is doing on stderr; resolves with the VLAN once a member.
 */
export async function joinWithCode(
  code: string,
  options: JoinOptions,
  fabric: boolean,
): Promise<JoinedVlan> {
  const { describeCode } = await import('./invite-cli.ts')
  const invitation = describeCode(code)
  process.stderr.write(
    `joining VLAN ${JSON.stringify(invitation.name)}${fabric ? ' and the fabric' : ''} of ${invitation.owner}: asking the owner (up to ${options.timeout} s)...\n`,
  )
  const query = new URLSearchParams({ code, timeout: String(options.timeout) })
  if (fabric) query.set('fabric', '1')
  for (const address of options.address) query.append('address', address)
  if (options.device !== undefined) query.set('device', options.device)
  if (options.tun === true) query.set('port', 'tun')
  return (await request(options.stateDir, 'POST', `/join?${query}`)) as JoinedVlan
}
