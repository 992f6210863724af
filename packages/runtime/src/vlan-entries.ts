/**
 * A VLAN entry as `peertap vlan create` and `peertap join` make it for the
 * state directory (vlan-store.ts): validated as the store reads it back,
 * with a MAC and a device name of its own.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { formatIpv6, ulaAddress } from '@peertap/invite'
import { deriveVlanId, normaliseVlanName } from '@peertap/vft'
import * as v from 'valibot'
import { type VlanConfig, VlanList } from './config.ts'
import { peerIdBytes } from './peer-ids.ts'

/** Validates a VLAN made here as the store will read it back (defaults filled in). */
export function parseVlan(input: unknown): VlanConfig {
  const [vlan] = v.parse(VlanList, [input])
  return vlan as VlanConfig
}

/**
 * A port's MAC for a VLAN made or joined here, kept in the store so that it
 * stays the same across restarts (the other members' ARP and neighbour
 * caches stay right): random, unicast, locally administered.
 */
export function randomMac(): string {
  const bytes = randomBytes(6)
  bytes[0] = ((bytes[0] as number) & 0xfe) | 0x02
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':')
}

/** How a VLAN made or joined here gets its port: addresses, device name, TUN instead of TAP. */
export interface PortChoice {
  readonly addresses: readonly string[]
  readonly device?: string
  readonly tun?: boolean
}

/**
 * The port of a VLAN made or joined here: a TAP device with a random MAC
 * kept in the store, or (`--tun`) a TUN device whose MAC derives from the
 * node and the VLAN (@peertap/tun-l2's tunMac), stable without being kept.
 */
export function newPort(device: string, options: PortChoice) {
  return options.tun === true
    ? { type: 'tun', device, addresses: [...options.addresses] }
    : { type: 'tap', device, mac: randomMac(), addresses: [...options.addresses] }
}

/**
 * The TAP device a VLAN gets when none is named: `pt-` and the VLAN name
 * (its characters outside A-Z a-z 0-9 _ . - as '-'), cut to Linux's 15.
 */
export function defaultDevice(name: string): string {
  return `pt-${name.replace(/[^A-Za-z0-9_.-]/g, '-')}`.slice(0, 15)
}

/** Throws, saying what to do, unless `name` is a VLAN name this node has no VLAN of yet (and it has room). */
export function checkNewName(vlans: readonly VlanConfig[], name: string): void {
  try {
    normaliseVlanName(name)
  } catch (error) {
    throw new Error(`${JSON.stringify(name)} is not a VLAN name: ${(error as Error).message}`)
  }
  if (vlans.some((x) => x.name === name))
    throw new Error(
      `this node has a VLAN named ${JSON.stringify(name)} already (see peertap vlan list)`,
    )
  if (vlans.length >= 64) throw new Error('this node has 64 VLANs, the most it takes')
}

/** Returns `device` if it is an interface name that neither the system nor another VLAN uses; else throws. */
export function checkDevice(vlans: readonly VlanConfig[], device: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(device))
    throw new Error(
      `${JSON.stringify(device)} is not a Linux interface name (1 to 15 of A-Z a-z 0-9 _ . -)`,
    )
  if (existsSync(`/sys/class/net/${device}`) || vlans.some((x) => x.port.device === device))
    throw new Error(
      `a network device named ${device} exists already: choose another with --device NAME`,
    )
  return device
}

/** One VLAN as `peertap vlan list` shows it. */
export interface VlanSummary {
  readonly name: string
  readonly kind: 'psk' | 'mls'
  /** Where it is kept: the config file, or the state directory (made or joined at run time). */
  readonly source: 'config' | 'state'
  readonly role?: 'owner' | 'member'
  /** MLS: 'member', or 'joining' while the Welcome has not come. */
  readonly state?: string
  readonly vlanId?: string
  readonly owner?: string
  readonly epoch?: number
  readonly members?: number
  readonly device: string
  readonly addresses: readonly string[]
}

/** The VLANs as `peertap vlan list` shows them: each entry with its MLS group's state, if it has one. */
export function summarize(
  vlans: readonly VlanConfig[],
  stored: ReadonlySet<string>,
  mlsStatus: Record<string, unknown>,
): VlanSummary[] {
  return vlans.map((vlan) => {
    const status = mlsStatus[vlan.name] as
      | {
          role: 'owner' | 'member'
          state: string
          vlanId: string
          owner: string
          epoch?: number
          members?: string[]
        }
      | undefined
    return {
      name: vlan.name,
      kind: vlan.mls === undefined ? 'psk' : 'mls',
      source: stored.has(vlan.name) ? 'state' : 'config',
      ...(status === undefined
        ? {}
        : {
            role: status.role,
            state: status.state,
            vlanId: status.vlanId,
            owner: status.owner,
            ...(status.epoch === undefined ? {} : { epoch: status.epoch }),
            ...(status.members === undefined ? {} : { members: status.members.length }),
          }),
      device: vlan.port.device,
      addresses: vlan.port.addresses,
    }
  })
}

/**
 * The PeerId the VLAN's ID derives from (11-mls.md §12): the entry's
 * `founder` when it has one (joined through a code of an owner the VLAN was
 * handed to), else the owner it names (its founder, whoever owns it after a
 * transfer); this node's own for `self`.
 */
export function founderOf(vlan: VlanConfig, self: string): string {
  const founder = vlan.mls?.founder ?? vlan.mls?.owner
  return founder === undefined || founder === 'self' ? self : founder
}

/** Whether the VLAN's ID derives from this node's PeerId: it founded the VLAN. */
export function isFounder(vlan: VlanConfig, self: string): boolean {
  return founderOf(vlan, self) === self
}

/** The VLAN-ID: from its founder ({@link founderOf}), whoever owns it now. */
export function founderVlanId(vlan: VlanConfig, self: string): Uint8Array {
  return deriveVlanId(peerIdBytes(founderOf(vlan, self)), vlan.name)
}

/** This node's stable ULA address in the VLAN, as CIDR text (spec 15 §15.7). */
export function ulaCidr(vlanId: Uint8Array, self: string): string {
  return `${formatIpv6(ulaAddress(vlanId, peerIdBytes(self)))}/64`
}

/** The relays of a VLAN's circuit addresses (`…/p2p/R/p2p-circuit/p2p/OWNER`). */
export function relaysOf(vlan: VlanConfig): string[] {
  return vlan.peers.flatMap((a) => /\/p2p\/([^/]+)\/p2p-circuit\//.exec(a)?.[1] ?? [])
}
