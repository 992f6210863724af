/**
 * The node's ports: one TAP or TUN device per VLAN (opened, its addresses added,
 * attached to the switch; at start for the config's and the state
 * directory's VLANs, and at run time for a VLAN created or joined, closed
 * when it is left), the PSK VLANs' keys into the switch, and the device
 * multicast lists the tick polls. A TAP read batch
 * goes through `switch.fromPort` (learn, VFT, fit to the datagram paths up:
 * fragments or TCP segments, seal) and on to the neighbours through the
 * node's `sendLocal`. A TUN port (tun-port.ts) emulates layer 2 in between.
 */
import { existsSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { derivePskEpochSecrets } from '@peertap/crypto'
import type { SealedFrame, Switch } from '@peertap/switch'
import { type DeviceStats, openTap, type TapDevice, TapError } from '@peertap/tap'
import { parseMac } from '@peertap/vft'
import type { Logger } from 'pino'
import type { VlanConfig } from './config.ts'
import type { FastPath } from './fast-path.ts'
import type { PortDevice, PortSources } from './packet-device.ts'
import {
  ipAddr,
  keepAddressesOnDown,
  kernelAddresses,
  readIpv6Addresses,
} from './port-addresses.ts'
import { TunPort, type TunPortHost, type TunPortStatus } from './tun-port.ts'

/** What the node lends its ports. */
export interface PortsHost {
  readonly sw: Switch
  readonly log: Logger
  /** The node's PeerId: a TUN port's MAC derives from it. */
  readonly selfPeerId: string
  /** An embedded node's packet sources for its TUN ports (packet-device.ts). */
  readonly sources?: PortSources | undefined
  /** An embedded node's address events, for its shell (tun-port.ts). */
  readonly onAddress?: TunPortHost['onAddress']
  /** Whether the log takes trace lines (one per TAP batch). */
  readonly trace: boolean
  /** Seconds (wall clock). */
  now(): number
  /** The links whose MTUs bound our sealed frames ({@link maxSealed}). */
  links(): Iterable<{ readonly status: string; readonly mtu: number }>
  /** Sends our own sealed frames on to the neighbours. */
  sendLocal(frames: SealedFrame[]): void
  /** The fast path, when on (fast-path.ts): it reads and writes the TAP ports too. */
  readonly fast?: FastPath | undefined
}

/**
 * The largest sealed payload our frames may have: the smallest MTU of the
 * links up (docs/spec/10-switch.md §10.7), asked once per TAP batch: a
 * datagram path's (1190, probed up to 1430), or, while every neighbour is
 * on its stream link, a stream link's (64 KiB + 1 KiB: every frame fits
 * whole). One bound
 * for every frame: a frame may go to several neighbours, and relays never
 * re-fragment. Frames to a neighbour on its stream link fragment too
 * while some other neighbour has a datagram path (the stream link takes
 * kind 1 like any plaintext).
 */
export function maxSealed(links: Iterable<{ readonly status: string; readonly mtu: number }>) {
  let mtu = Number.POSITIVE_INFINITY
  for (const link of links) if (link.status === 'up' && link.mtu < mtu) mtu = link.mtu
  return mtu
}

/** The open ports, one per VLAN; opened and closed at run time (a VLAN created, joined, left). */
export class Ports {
  readonly #host: PortsHost
  readonly #open = new Map<string, OpenPort>()

  constructor(host: PortsHost) {
    this.#host = host
  }

  /** Opens a port for each VLAN; if one fails, closes those opened and throws. */
  async openAll(vlans: readonly VlanConfig[]): Promise<void> {
    try {
      for (const vlan of vlans) await this.open(vlan)
    } catch (error) {
      this.closeAll()
      throw error
    }
  }

  /**
   * Opens the VLAN's TAP device, adds its addresses and attaches it to the
   * switch (a PSK VLAN's keys too; an MLS VLAN's come from its group).
   * Throws, having opened nothing, if the device cannot be made (a name
   * taken by another device, no /dev/net/tun, no CAP_NET_ADMIN).
   */
  async open(vlan: VlanConfig): Promise<void> {
    if (this.#open.has(vlan.name)) throw new Error(`VLAN ${vlan.name} already has a port`)
    const port = vlan.port
    let tap: TapDevice | undefined
    if (port.type !== 'tun' && this.#host.sources?.(vlan.name) === undefined) {
      try {
        tap = openTap({
          name: port.device,
          mtu: port.mtu,
          ...(port.mac === undefined ? {} : { mac: port.mac }),
          up: true,
          vnetHeader: port.offload,
        })
      } catch (error) {
        if (port.type !== 'auto' || !tapRefused(error, port.device)) throw error
        this.#host.log.warn(
          { vlan: vlan.name, device: port.device, err: (error as Error).message },
          'the kernel refuses TAP devices here (EINVAL on IFF_TAP): a TUN port instead, layer 2 emulated',
        )
      }
    }
    if (tap === undefined) await this.#openTun(vlan)
    else await this.#openTap(vlan, tap)
  }

  async #openTun(vlan: VlanConfig): Promise<void> {
    const { sw, log, now } = this.#host
    const psk = vlan.secret !== undefined
    if (psk) this.#addPskVlan(vlan)
    let tun: TunPort
    try {
      tun = await TunPort.open(
        {
          sw,
          log,
          selfPeerId: this.#host.selfPeerId,
          now,
          maxSealed: () => maxSealed(this.#host.links()),
          sendLocal: (sealed) => this.#host.sendLocal(sealed),
          source: this.#host.sources?.(vlan.name),
          onAddress: this.#host.onAddress,
        },
        vlan,
      )
    } catch (error) {
      if (psk && sw.vlanNames().includes(vlan.name)) sw.removeVlan(vlan.name)
      throw error
    }
    const port = vlan.port
    const fast = this.#host.fast
    const kernel = tun.kernelDevice
    if (fast !== undefined && kernel !== undefined) {
      // The fast path carries its packets by the routes its layer 2 settled (§18.5.7).
      fast.attachPort(vlan.name, port.device, kernel, tun.mac, tun.l2)
      tun.onSent = (frames) => fast.considerSend(vlan.name, port.device, frames)
      tun.onRoutesChanged = () => fast.clear()
    }
    this.#open.set(vlan.name, {
      device: port.device,
      tap: tun.device,
      tun,
      psk,
      state: tun,
      addresses: tun.addresses,
    })
    log.info(
      {
        vlan: vlan.name,
        device: port.device,
        mac: tun.macText,
        mtu: port.mtu,
        offload: port.offload,
        dhcp: port.dhcp,
      },
      'port up (TUN, layer 2 emulated)',
    )
  }

  #addPskVlan(vlan: VlanConfig): void {
    this.#host.sw.addVlan(vlan.name, {
      kind: 'psk',
      epoch: 0,
      secrets: derivePskEpochSecrets(Buffer.from(vlan.secret as string, 'hex')),
    })
  }

  async #openTap(vlan: VlanConfig, tap: TapDevice): Promise<void> {
    const { sw, log, trace, now } = this.#host
    const port = vlan.port
    const psk = vlan.secret !== undefined
    // Detached (`vlan/detach`): the device is down and frames for it are not written.
    const state = { attached: true }
    try {
      const macText = port.mac ?? tap.link().mac
      if (macText === undefined) throw new Error(`TAP ${port.device} has no MAC address`)
      keepAddressesOnDown(port.device, log)
      for (const address of port.addresses) await ipAddr('add', port.device, address)
      if (psk) this.#addPskVlan(vlan)
      const mac = parseMac(macText)
      this.#host.fast?.attachPort(vlan.name, port.device, tap, mac)
      sw.addPort(vlan.name, port.device, {
        mac,
        vnetHeader: tap.vnetHeader,
        writeFrames: (frames) => {
          if (state.attached) tap.writeBatch(frames)
        },
      })
      tap.onBatch(
        (batch) => {
          const frames: Uint8Array[] = new Array(batch.count)
          for (let i = 0; i < batch.count; i++) frames[i] = batch.frame(i)
          const sealed = sw.fromPort(
            vlan.name,
            port.device,
            frames,
            now(),
            maxSealed(this.#host.links()),
          )
          if (trace)
            log.trace({ vlan: vlan.name, read: batch.count, sealed: sealed.length }, 'port batch')
          if (sealed.length === 0) return
          this.#host.sendLocal(sealed)
          // Flows among these frames the fast path may carry from now on.
          this.#host.fast?.considerSend(vlan.name, port.device, frames)
        },
        { onError: (error) => log.error({ err: error, device: port.device }, 'TAP read failed') },
      )
      this.#open.set(vlan.name, {
        device: port.device,
        tap,
        psk,
        state,
        addresses: new Set(port.addresses),
      })
      log.info(
        {
          vlan: vlan.name,
          device: port.device,
          mac: macText,
          mtu: port.mtu,
          offload: port.offload,
        },
        'port up',
      )
    } catch (error) {
      this.#host.fast?.detachPort(vlan.name, port.device)
      tap.close()
      if (psk && sw.vlanNames().includes(vlan.name)) sw.removeVlan(vlan.name)
      throw error
    }
  }

  /** Packets an embedded node's shell read from the VLAN's callback port (tun-port.ts). */
  input(vlan: string, packets: readonly Uint8Array[]): void {
    const tun = this.#open.get(vlan)?.tun
    if (tun === undefined) throw new Error(`VLAN ${vlan} has no TUN port`)
    tun.input(packets)
  }

  /** Adds an address to a VLAN's device (`ip addr add`), e.g. one its owner assigned. */
  async addAddress(vlan: string, address: string): Promise<void> {
    const open = this.#open.get(vlan)
    if (open === undefined) throw new Error(`VLAN ${vlan} has no port`)
    if (open.tun !== undefined) return open.tun.addAddress(address)
    await ipAddr('add', open.device, address)
    open.addresses.add(address)
  }

  /** The VLAN's device name, if it has a port. */
  deviceOf(vlan: string): string | undefined {
    return this.#open.get(vlan)?.device
  }

  /** Each open port's device now: its link state and addresses as the kernel has them, and its counters. */
  interfaces(): PortInterface[] {
    const ipv6 = readIpv6Addresses()
    const up = networkInterfaces()
    const carried = this.#host.fast?.counters().vlans
    return [...this.#open].flatMap(([vlan, open]) => {
      let link: ReturnType<TapDevice['link']>
      try {
        link = open.tap.link()
      } catch {
        return [] // the device went away under us: the status goes on without it
      }
      return {
        vlan,
        device: open.device,
        kind: open.tun === undefined ? 'tap' : 'tun',
        attached: open.state.attached,
        up: link.up,
        running: link.running,
        mtu: link.mtu,
        ...(open.tun !== undefined
          ? { mac: open.tun.macText }
          : link.mac === undefined
            ? {}
            : { mac: link.mac }),
        addresses: kernelAddresses(open, ipv6, up),
        stats: open.tap.stats(),
        ...(open.tun === undefined ? {} : { tun: withCarried(open.tun.status(), carried?.[vlan]) }),
      }
    })
  }

  /**
   * Attaches (true) or detaches (false) a VLAN's port, as the web page's
   * attach/detach do: detached, its device is set administratively down
   * (`ip link set DEV down`: the host sends nothing into the VLAN through
   * it) and frames from the VLAN are not written to it; the port stays in
   * the switch and the VLAN's membership is unchanged. Attached again: the
   * device is up and its addresses are added again (Linux drops a device's
   * IPv6 addresses when it goes down, unless keep_addr_on_down is set,
   * which {@link open} asks for but may not get). Not kept across a restart
   * (a port opens attached).
   */
  async setAttached(vlan: string, attached: boolean): Promise<void> {
    const open = this.#open.get(vlan)
    if (open === undefined) throw new Error(`VLAN ${vlan} has no port`)
    open.tap.setUp(attached)
    open.state.attached = attached
    // A detached port's frames are not written: the fast path writes none either.
    this.#host.fast?.setAttached(vlan, open.device, attached)
    if (attached) for (const address of open.addresses) await ipAddr('add', open.device, address)
    this.#host.log.info({ vlan, device: open.device }, attached ? 'port attached' : 'port detached')
  }

  /** Detaches the VLAN's port from the switch (a PSK VLAN's keys too) and closes its device. */
  close(vlan: string): void {
    const open = this.#open.get(vlan)
    if (open === undefined) return
    this.#open.delete(vlan)
    const { sw, log } = this.#host
    // A TUN port's last words (a DHCP RELEASE) go out while it is still in the switch.
    try {
      open.tun?.stop()
    } catch (error) {
      log.warn({ vlan, err: error }, 'TUN port did not stop cleanly')
    }
    this.#host.fast?.detachPort(vlan, open.device)
    if (sw.vlanNames().includes(vlan)) {
      sw.removePort(vlan, open.device)
      if (open.psk) sw.removeVlan(vlan)
    }
    if (open.tun === undefined) open.tap.close()
    else open.tun.closeDevice()
    log.info({ vlan, device: open.device }, 'port closed')
  }

  /** Reads each device's multicast list into the switch, one device after the other. */
  async pollMulticast(): Promise<void> {
    for (const [vlan, open] of [...this.#open]) {
      if (open.tun !== undefined) {
        await open.tun.tick()
        continue
      }
      const macs = await open.tap.multicastMacs()
      // Closed while we read: its VLAN may be gone from the switch.
      if (this.#open.get(vlan) === open)
        this.#host.sw.setMulticast(vlan, open.device, macs.map(parseMac))
    }
  }

  /** Closes every port. */
  closeAll(): void {
    for (const vlan of [...this.#open.keys()]) this.close(vlan)
  }
}

interface OpenPort {
  readonly device: string
  readonly tap: PortDevice
  /** A TUN port's layer 2 (tun-port.ts); undefined for a TAP port. */
  readonly tun?: TunPort
  /** Whether the port added the VLAN's (PSK) keys to the switch, so removes them too. */
  readonly psk: boolean
  /** Whether it is attached ({@link Ports.setAttached}). */
  readonly state: { attached: boolean }
  /** The addresses the port added to its device (at open and by {@link Ports.addAddress}). */
  readonly addresses: Set<string>
}

/** An open port's device as the status shows it ({@link Ports.interfaces}). */
export interface PortInterface {
  readonly vlan: string
  readonly device: string
  /** A TAP device, or a TUN device with layer 2 emulated (tun-port.ts). */
  readonly kind: 'tap' | 'tun'
  /** False after `vlan/detach` (the device set down), until `vlan/attach`. */
  readonly attached: boolean
  /** Administratively up (IFF_UP). */
  readonly up: boolean
  /** Operationally up (IFF_RUNNING). */
  readonly running: boolean
  readonly mtu: number
  readonly mac?: string
  /**
   * The device's addresses (with prefix lengths) as the kernel has them:
   * IPv6 but link-local ones from /proc/net/if_inet6; IPv4 from
   * os.networkInterfaces(), which lists a device only while it is up and
   * running: for one that is not, the port's own IPv4 addresses (Linux keeps
   * IPv4 addresses on a device set down).
   */
  readonly addresses: readonly string[]
  /** The device's counters (frames and bytes read from it, frames written to it, drops). */
  readonly stats: DeviceStats
  /** A TUN port's layer 2: its addresses and their states, gateways, neighbours, lease, counters. */
  readonly tun?: TunPortStatus
}

/**
 * Whether opening a TAP device failed because the kernel refuses TAP (EINVAL
 * from TUNSETIFF with IFF_TAP, where no interface of that name exists):
 * `auto` then takes TUN. EINVAL for a name that exists means the name is
 * taken by another kind of device, which is reported like EPERM or EBUSY.
 */
export function tapRefused(error: unknown, device: string, exists = linkExists): boolean {
  return (
    error instanceof TapError &&
    error.errno === 'EINVAL' &&
    error.syscall === 'TUNSETIFF' &&
    !exists(device)
  )
}

function linkExists(device: string): boolean {
  return existsSync(`/sys/class/net/${device}`)
}

/**
 * A TUN port's counters with what the fast path carried for its VLAN (the
 * VLAN's one port) added in: packets read from the device and sent as
 * frames, frames from the VLAN written to it as packets, which its layer 2
 * never saw (docs/spec/18-fast-path.md §18.5.7).
 */
function withCarried(
  status: TunPortStatus,
  carried: { framesSent: number; framesReceived: number } | undefined,
): TunPortStatus {
  if (carried === undefined) return status
  const c = status.counters
  return {
    ...status,
    counters: {
      ...c,
      hostPackets: c.hostPackets + carried.framesSent,
      hostFrames: c.hostFrames + carried.framesSent,
      vlanFrames: c.vlanFrames + carried.framesReceived,
      vlanPackets: c.vlanPackets + carried.framesReceived,
    },
  }
}
