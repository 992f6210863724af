/**
 * A VLAN's TUN port (docs/spec/17-tun-l2.md): a TUN device, for hosts
 * without TAP, with layer 2 emulated by @peertap/tun-l2 between its IP
 * packets and the switch's Ethernet frames. Its MAC derives from the node's
 * PeerId and the VLAN-ID (tunMac), so it is the same after a restart. What
 * tun-l2 decides for the host is done here: addresses it has checked
 * (link-local, SLAAC, DHCP) go on the device with `ip addr add`, ones that
 * lapse or that another MAC holds come off; frames it makes go through
 * `switch.fromPort` like any read from the device.
 */
import { randomBytes } from 'node:crypto'
import type { SealedFrame, Switch } from '@peertap/switch'
import { attachTun, openTun, type TapDevice } from '@peertap/tap'
import { formatIp, TUN_HEADROOM, TunL2, type TunL2Event, tunMac } from '@peertap/tun-l2'
import { deriveVlanId, formatMac, pskVlanId } from '@peertap/vft'
import type { Logger } from 'pino'
import type { VlanConfig } from './config.ts'
import { CallbackDevice, type PortDevice, type TunSource } from './packet-device.ts'
import { peerIdBytes } from './peer-ids.ts'
import { ipAddr, ipLink, kernelAddressesOf } from './port-addresses.ts'

/** A TUN port's layer 2 in the status. */
export interface TunPortStatus {
  readonly addresses: ReturnType<TunL2['addresses']>
  readonly gateways: ReturnType<TunL2['gateways']>
  readonly neighbours: ReturnType<TunL2['neighbours']>
  readonly lease?: { readonly address: string; readonly server: string; readonly expiresAt: string }
  readonly counters: ReturnType<TunL2['stats']>
}

/** How often a TUN port looks at the addresses on its device (tick). */
const KERNEL_LOOK_MS = 2000

/** What the node lends a TUN port. */
export interface TunPortHost {
  readonly sw: Switch
  readonly log: Logger
  readonly selfPeerId: string
  /** Seconds (wall clock), as the switch takes them. */
  now(): number
  /** The largest sealed payload (ports.ts maxSealed). */
  maxSealed(): number
  sendLocal(frames: SealedFrame[]): void
  /**
   * Where the port's packets come from instead of a device it opens by
   * name (an embedded node's fd or callbacks). Then the node changes no
   * link or address: what tun-l2 decides goes to `onAddress`, for the shell.
   */
  readonly source?: TunSource | undefined
  readonly onAddress?: ((event: TunL2Event & { vlan: string }) => void) | undefined
}

/**
 * The VLAN-ID a TUN port's MAC derives from: an MLS VLAN's (its founder's
 * or owner's PeerId and name, spec 01 §1.2), a PSK VLAN's from its secret
 * (§1.5).
 */
export function vlanIdOf(vlan: VlanConfig, selfPeerId: string): Uint8Array {
  if (vlan.secret !== undefined) return pskVlanId(Buffer.from(vlan.secret, 'hex'))
  const mls = vlan.mls as NonNullable<VlanConfig['mls']>
  const founder = mls.founder ?? (mls.owner === 'self' ? selfPeerId : mls.owner)
  return deriveVlanId(peerIdBytes(founder), vlan.name)
}

/** An open TUN port: the device, its layer 2, and the addresses it put on the device. */
export class TunPort {
  readonly device: PortDevice
  readonly l2: TunL2
  readonly mac: Uint8Array
  /** Addresses on the device that this port manages (static, and those tun-l2 added). */
  readonly addresses = new Set<string>()
  readonly #host: TunPortHost
  readonly #vlan: string
  /** The port's name in the switch: the config's device name. */
  readonly #portId: string
  #flushQueued = false
  /** After {@link stop}: nothing more is sent, ticked or applied. */
  #stopped = false
  /** In {@link stop}: its address removals change nothing on the device, which closes next. */
  #stopping = false
  #nextKernelLook = 0
  /** Addresses tun-l2 took off the device (lapsed, held by another host): not taken back from it. */
  readonly #removed = new Set<string>()
  attached = true
  /**
   * The fast path's hooks (fast-path.ts), set by the node when it carries
   * this port: frames sent into the VLAN, and any change of where the
   * port's packets go (TunL2.routesVersion).
   */
  onSent: ((frames: readonly Uint8Array[]) => void) | undefined
  onRoutesChanged: (() => void) | undefined
  #routesVersion = 0

  private constructor(host: TunPortHost, vlan: VlanConfig, device: PortDevice, mac: Uint8Array) {
    this.#host = host
    this.#vlan = vlan.name
    this.#portId = vlan.port.device
    this.device = device
    this.mac = mac
    const port = vlan.port
    this.l2 = new TunL2({
      mac,
      addresses: port.addresses,
      gateways: port.gateway,
      dhcp: port.dhcp,
      slaac: port.slaac,
      vnetHeader: device.vnetHeader,
      packetInfo:
        host.source !== undefined && 'packets' in host.source
          ? (host.source.packetInfo ?? 'none')
          : 'none',
      random: (n) => randomBytes(n),
      onOutput: () => {
        if (this.#flushQueued) return
        this.#flushQueued = true
        queueMicrotask(() => this.#flush())
      },
    })
  }

  /**
   * Opens the VLAN's TUN device (offloads as the port asks), puts its
   * static addresses on it, attaches it to the switch and starts layer 2.
   * Throws, having left nothing open, if the device cannot be made.
   */
  static async open(host: TunPortHost, vlan: VlanConfig): Promise<TunPort> {
    const port = vlan.port
    const mac =
      port.mac === undefined
        ? tunMac(peerIdBytes(host.selfPeerId), vlanIdOf(vlan, host.selfPeerId))
        : Uint8Array.from(port.mac.split(':'), (b) => Number.parseInt(b, 16))
    const source = host.source
    const device: PortDevice =
      source === undefined
        ? openTun({ name: port.device, mtu: port.mtu, vnetHeader: port.offload })
        : 'fd' in source
          ? attachTun(source.fd)
          : new CallbackDevice(port.device, source.packets, port.mtu)
    let added = false
    try {
      // Inside the try: tun-l2 refuses what it cannot parse, and the device must not leak then.
      const tun = new TunPort(host, vlan, device, mac)
      if (source === undefined) {
        // The kernel would give the device a random link-local address of its own as it comes
        // up; the port's is fe80::EUI-64 of its MAC (tun-l2), the one peers resolve.
        await ipLink(port.device, ['addrgenmode', 'none'], host.log)
        device.setUp(true)
      }
      for (const address of port.addresses) {
        if (source === undefined) await ipAddr('add', port.device, address)
        tun.addresses.add(address)
      }
      host.sw.addPort(vlan.name, port.device, {
        mac,
        vnetHeader: device.vnetHeader,
        writeFrames: (frames) => {
          if (!tun.attached || tun.#stopped) return
          tun.l2.toHost(frames, Date.now(), (packets) => device.writeBatch(packets))
          tun.#checkRoutes()
        },
      })
      added = true
      device.onBatch(
        (batch) => {
          const frames = tun.l2.fromHost(batch, Date.now())
          tun.#checkRoutes()
          if (frames.length > 0) tun.#send(frames)
        },
        {
          headroom: TUN_HEADROOM,
          onError: (error) =>
            host.log.error({ err: error, device: port.device }, 'TUN read failed'),
        },
      )
      tun.l2.start(Date.now())
      tun.#routesVersion = tun.l2.routesVersion
      return tun
    } catch (error) {
      if (added) host.sw.removePort(vlan.name, port.device)
      device.close()
      throw error
    }
  }

  /** Layer 2 as the status shows it (`peertap status --json`, interfaces[].tun). */
  status(): TunPortStatus {
    const lease = this.l2.dhcpLease()
    return {
      addresses: this.l2.addresses(),
      gateways: this.l2.gateways(),
      neighbours: this.l2.neighbours(),
      ...(lease === undefined
        ? {}
        : {
            lease: {
              address: `${formatIp(lease.address)}/${lease.prefix}`,
              server: formatIp(lease.server),
              expiresAt: Number.isFinite(lease.expiresAtMs)
                ? new Date(lease.expiresAtMs).toISOString()
                : 'never',
            },
          }),
      counters: this.l2.stats(),
    }
  }

  /** The MAC as text. */
  get macText(): string {
    return formatMac(this.mac)
  }

  /** Timers (detection, solicitations, DHCP) and the groups the host joined on the device. */
  async tick(): Promise<void> {
    if (this.#stopped) return
    const now = Date.now()
    this.l2.tick(now)
    this.#checkRoutes()
    const groups = await this.device.multicastGroups()
    if (this.device.closed) return
    this.#host.sw.setMulticast(this.#vlan, this.#portId, this.l2.multicastMacs(groups))
    // Addresses a person put on the device (`ip addr add`) are answered for too, as on a TAP
    // device; looked at every 2 s. Not for an embedded node: its shell reports its own.
    if (this.#host.source === undefined && now >= this.#nextKernelLook) {
      this.#nextKernelLook = now + KERNEL_LOOK_MS
      const own = new Set(this.l2.addresses().map((a) => a.address))
      const onDevice = kernelAddressesOf(this.device.name)
      // Given up and since gone from the device: nothing left to remember.
      for (const address of this.#removed)
        if (!onDevice.includes(address)) this.#removed.delete(address)
      for (const address of onDevice) {
        if (own.has(address) || this.#removed.has(address)) continue
        this.addresses.add(address)
        this.l2.addAddress(address, now)
      }
    }
  }

  /**
   * An address the VLAN's owner assigned (an invitation's): answered for
   * (after detection), and on the device, or for an embedded node's shell.
   */
  async addAddress(address: string): Promise<void> {
    this.l2.addAddress(address, Date.now())
    this.#checkRoutes()
    this.addresses.add(address)
    // On the device now, as a TAP port's (routes at once); an embedded node's shell hears of it
    // once detection has passed (address-added).
    if (this.#host.source === undefined) await ipAddr('add', this.device.name, address)
  }

  /**
   * Stops layer 2 while the port is still in the switch, so that what it
   * says last (a DHCP RELEASE) goes out; then ticks, flushes and writes do
   * nothing. The caller then takes the port out of the switch and calls
   * {@link closeDevice}.
   */
  stop(): void {
    if (this.#stopped) return
    this.#stopping = true
    this.l2.stop(Date.now())
    this.#checkRoutes()
    this.#flush()
    this.#stopped = true
  }

  /** Closes the device (after {@link stop}); the addresses go with it, no `ip addr del` needed. */
  closeDevice(): void {
    this.stop()
    this.device.close()
  }

  /** Packets the shell read from its tunnel (a callback port; see packet-device.ts). */
  input(packets: readonly Uint8Array[]): void {
    if (!(this.device instanceof CallbackDevice))
      throw new Error(`VLAN ${this.#vlan}: its port reads a device, not callbacks`)
    this.device.input(packets)
  }

  #send(frames: Uint8Array[]): void {
    if (this.#stopped) return
    const { sw, now, maxSealed, sendLocal } = this.#host
    const sealed = sw.fromPort(this.#vlan, this.#portId, frames, now(), maxSealed())
    if (sealed.length === 0) return
    sendLocal(sealed)
    // Flows among these frames the fast path may carry from now on.
    this.onSent?.(frames)
  }

  /** Tells the fast path when where packets go may have changed: it drops what it holds. */
  #checkRoutes(): void {
    const version = this.l2.routesVersion
    if (version === this.#routesVersion) return
    this.#routesVersion = version
    this.onRoutesChanged?.()
  }

  /** The addon's device (opened by name or from an fd), which the fast path can read; not a callback port's. */
  get kernelDevice(): TapDevice | undefined {
    return this.device instanceof CallbackDevice ? undefined : (this.device as TapDevice)
  }

  #flush(): void {
    this.#flushQueued = false
    const frames = this.l2.takeFrames()
    const events = this.l2.takeEvents()
    if (this.#stopped) return
    try {
      if (frames.length > 0) this.#send(frames)
    } catch (error) {
      // Never out of a microtask: an uncaught throw there would end the daemon.
      this.#host.log.error({ vlan: this.#vlan, err: error }, 'TUN port frames not sent')
    }
    for (const event of events) this.#apply(event)
  }

  /** What tun-l2 decided for the host: an address on or off the device, a conflict to report. */
  #apply(event: TunL2Event): void {
    const { log } = this.#host
    const device = this.device.name
    const where = { vlan: this.#vlan, device, address: event.address, source: event.source }
    if (event.type === 'duplicate') {
      this.#host.onAddress?.({ ...event, vlan: this.#vlan })
      log.error(
        { ...where, mac: event.mac },
        'address in use by another host on the VLAN: not taken (duplicate address detection)',
      )
      return
    }
    if (this.device.closed || this.#stopped) return
    // Stopping: the addresses go with the device; an embedded shell still hears of them.
    if (this.#stopping && this.#host.source === undefined) return
    const op = event.type === 'address-added' ? 'add' : 'del'
    if (op === 'add') {
      this.addresses.add(event.address)
      this.#removed.delete(event.address)
    } else {
      this.addresses.delete(event.address)
      this.#removed.add(event.address)
    }
    if (this.#host.source !== undefined) {
      // Embedded: the platform owns the interface's addresses; the shell applies them.
      log.info(
        where,
        op === 'add' ? 'address for the shell to add' : 'address for the shell to remove',
      )
      this.#host.onAddress?.({ ...event, vlan: this.#vlan })
      return
    }
    ipAddr(op, device, event.address).then(
      () =>
        log.info(
          {
            ...where,
            ...(op === 'del'
              ? { reason: event.type === 'address-removed' ? event.reason : undefined }
              : {}),
          },
          op === 'add' ? 'address added' : 'address removed',
        ),
      (error: unknown) =>
        log.warn({ ...where, err: (error as Error).message }, `ip addr ${op} failed`),
    )
  }
}
