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
