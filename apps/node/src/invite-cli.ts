/**
 * What the CLI does with codes and VLAN lists before and after asking the
 * daemon: a code is checked here first, so a typo or an expired code is
 * caught before any network traffic (docs/spec/15-invitations.md); the
 * daemon checks it the same way.
 */
export { decodeCode, describeCode, describeInvitation } from '@peertap/runtime'

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }
/** The longest an invitation may run from the CLI (the package allows a year; a person rarely wants more than a month). */
const MAX_EXPIRES_SECONDS = 30 * 86_400

/** `30m`, `24h`, `7d`, `90s` or plain seconds, as seconds (1 s to 30 days); throws naming the accepted forms. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim())
  const seconds =
    match === null ? Number.NaN : Number(match[1]) * (UNITS[match[2] || 's'] as number)
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_EXPIRES_SECONDS)
    throw new Error(
      `--expires ${JSON.stringify(text)}: give a duration such as 30m, 24h or 7d (at most 30 days)`,
    )
  return seconds
}

/** `peertap vlan list` as a table. */
export function formatVlans(vlans: ReadonlyArray<Record<string, unknown>>): string {
  if (vlans.length === 0)
    return 'no VLANs: create one (peertap vlan create NAME) or join one (peertap join CODE)\n'
  const rows = vlans.map((vlan) => [
    String(vlan.name),
    String(vlan.kind),
    String(vlan.role ?? '-'),
    String(vlan.state ?? (vlan.kind === 'psk' ? 'up' : '-')),
    String(vlan.members ?? '-'),
    String(vlan.device),
    (vlan.addresses as string[]).join(' ') || '-',
  ])
  const header = ['NAME', 'KIND', 'ROLE', 'STATE', 'MEMBERS', 'DEVICE', 'ADDRESSES']
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] as string).length)),
  )
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ')
  return `${[header, ...rows].map(line).join('\n')}\n`
}
