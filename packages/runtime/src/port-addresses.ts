/**
 * A port device's addresses: put on it with `ip addr`, and read back as the
 * kernel has them (for the status).
 */
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { promisify } from 'node:util'
import type { Logger } from 'pino'

const run = promisify(execFile)

/** `ip addr add|del ADDRESS dev DEVICE`; adding one the device has (a restart), or deleting one it lacks, is fine. */
export async function ipAddr(op: 'add' | 'del', device: string, address: string): Promise<void> {
  try {
    await run('ip', ['addr', op, address, 'dev', device])
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? ''
    // EEXIST: "RTNETLINK answers: File exists", or "Address already assigned" (newer kernels, IPv4).
    if (op === 'add' && (stderr.includes('File exists') || stderr.includes('already assigned')))
      return
    if (op === 'del' && stderr.includes('Cannot assign requested address')) return
    throw new Error(
      `ip addr ${op} ${address} dev ${device}: ${stderr.trim() || (error as Error).message}`,
    )
  }
}

/** `ip link set dev DEVICE ARGS…`; a failure is logged, not fatal (an older `ip`, no IPv6). */
export async function ipLink(device: string, args: readonly string[], log: Logger): Promise<void> {
  try {
    await run('ip', ['link', 'set', 'dev', device, ...args])
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? ''
    log.debug(
      { device, args, err: stderr.trim() || (error as Error).message },
      'ip link set failed',
    )
  }
}

/**
 * `net.ipv6.conf.DEVICE.keep_addr_on_down = 1`: the device keeps its IPv6
 * addresses when detached (set down). Inside the node's network namespace
 * the setting is the node's own. Not fatal: {@link Ports.setAttached} adds
 * them again anyway (no IPv6, or /proc/sys read-only, say).
 */
export function keepAddressesOnDown(device: string, log: Logger): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${device}/keep_addr_on_down`, '1\n')
  } catch (error) {
    log.debug({ device, err: (error as Error).message }, 'keep_addr_on_down not set')
  }
}

/** The kernel's IPv6 addresses by device (/proc/net/if_inet6: `HEX IFINDEX PREFIXLEN SCOPE FLAGS DEVICE`), link-local ones left out. */
export function readIpv6Addresses(linkLocal = false): Map<string, string[]> {
  const byDevice = new Map<string, string[]>()
  let text: string
  try {
    text = readFileSync('/proc/net/if_inet6', 'utf8')
  } catch {
    return byDevice // no IPv6
  }
  for (const line of text.split('\n')) {
    const [hex, , prefixHex, scopeHex, , device] = line.trim().split(/\s+/)
    if (hex?.length !== 32 || device === undefined || prefixHex === undefined) continue
    if (scopeHex === '20' && !linkLocal) continue // link-local
    const address = normalizeIpv6(hex.match(/.{4}/g)?.join(':') ?? '')
    if (address === undefined) continue
    const list = byDevice.get(device) ?? []
    list.push(`${address}/${Number.parseInt(prefixHex, 16)}`)
    byDevice.set(device, list)
  }
  return byDevice
}

/** An IPv6 address in its canonical (compressed) text form, or undefined if it is not one. */
function normalizeIpv6(address: string): string | undefined {
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1)
  } catch {
    return undefined
  }
}

/** One port's addresses as the kernel has them ({@link PortInterface.addresses}): the port's own first, in their order. */
export function kernelAddresses(
  open: { readonly device: string; readonly addresses: ReadonlySet<string> },
  ipv6: Map<string, string[]>,
  up: ReturnType<typeof networkInterfaces>,
): string[] {
  const listed = up[open.device]
  const ipv4 =
    listed === undefined
      ? [...open.addresses].filter((a) => !a.includes(':'))
      : listed.filter((a) => a.family === 'IPv4' && a.cidr !== null).map((a) => a.cidr as string)
  const all = [...ipv4, ...(ipv6.get(open.device) ?? [])]
  const bare = (a: string) => {
    const address = a.split('/')[0] ?? a
    return address.includes(':') ? (normalizeIpv6(address) ?? address) : address
  }
  const own = [...open.addresses].map(bare)
  const rank = (a: string) => {
    const i = own.indexOf(bare(a))
    return i === -1 ? own.length : i
  }
  return all.sort((a, b) => rank(a) - rank(b))
}

/**
 * The addresses on one device with their prefix lengths, as the kernel has
 * them: IPv4 from os.networkInterfaces() (a device that is up), IPv6 from
 * /proc/net/if_inet6, link-local ones included.
 */
export function kernelAddressesOf(device: string): string[] {
  const ipv4 = (networkInterfaces()[device] ?? [])
    .filter((a) => a.family === 'IPv4' && a.cidr !== null)
    .map((a) => a.cidr as string)
  return [...ipv4, ...(readIpv6Addresses(true).get(device) ?? [])]
}
