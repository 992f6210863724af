import { readFile } from 'node:fs/promises'

/**
 * One line of /proc/net/dev_mcast (net/core/dev_addr_lists.c, dev_mc_seq_show):
 * `ifindex name users global hexaddr`.
 */
export interface MulticastEntry {
  readonly ifindex: number
  readonly mac: string
  /** How many users joined the address. */
  readonly users: number
  /** Whether it was added globally (dev_mc_add_global). */
  readonly global: boolean
}

export const DEV_MCAST = '/proc/net/dev_mcast'

/** Parses /proc/net/dev_mcast and keeps the lines of one device, in kernel order. */
export function parseDevMcast(text: string, device: string): MulticastEntry[] {
  const out: MulticastEntry[] = []
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    if (f.length < 5 || f[1] !== device) continue
    const hex = f[4] ?? ''
    if (!/^[0-9a-f]{12}$/i.test(hex)) continue
    out.push({
      ifindex: Number(f[0]),
      mac: hex.toLowerCase().replace(/(..)(?!$)/g, '$1:'),
      users: Number(f[2]),
      global: f[3] !== '0',
    })
  }
  return out
}

/** The multicast list of `device` in this process's network namespace. */
export async function readMulticast(device: string, path = DEV_MCAST): Promise<MulticastEntry[]> {
  return parseDevMcast(await readFile(path, 'latin1'), device)
}

export const IGMP = '/proc/net/igmp'
export const IGMP6 = '/proc/net/igmp6'

/**
 * The IPv4 groups one device has joined, from /proc/net/igmp
 * (net/ipv4/igmp.c, igmp_mc_seq_show): a device line `idx name : count
 * querier`, then one line per group whose first field is the group in hex
 * as the host reads the network-order word (little-endian here: 010000E0 is
 * 224.0.0.1).
 */
export function parseIgmp(text: string, device: string): Uint8Array[] {
  const out: Uint8Array[] = []
  let current: string | undefined
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    if (/^\d+$/.test(f[0] ?? '') && f.length >= 3) {
      // `%-10s:`: a name of 10 bytes or more runs into the colon (`pt-office-lan:`).
      current = f[1]?.replace(/:$/, '')
      continue
    }
    const hex = f[0] ?? ''
    if (current !== device || !/^[0-9a-f]{8}$/i.test(hex)) continue
    const word = Number.parseInt(hex, 16)
    out.push(new Uint8Array([word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, word >>> 24]))
  }
  return out
}

/** The IPv6 groups one device has joined, from /proc/net/igmp6 (`idx name hexgroup users flags timer`). */
export function parseIgmp6(text: string, device: string): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    if (f[1] !== device || !/^[0-9a-f]{32}$/i.test(f[2] ?? '')) continue
    out.push(Uint8Array.from((f[2] as string).match(/../g) ?? [], (b) => Number.parseInt(b, 16)))
  }
  return out
}

/** The IPv4 and IPv6 groups `device` has joined in this process's network namespace (none without IPv6). */
export async function readIpGroups(device: string): Promise<Uint8Array[]> {
  const read = (path: string) => readFile(path, 'latin1').catch(() => '')
  const [v4, v6] = await Promise.all([read(IGMP), read(IGMP6)])
  return [...parseIgmp(v4, device), ...parseIgmp6(v6, device)]
}
