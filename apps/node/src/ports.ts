/**
 * The node's ports: one TAP device per VLAN of the config (opened, its
 * addresses added, attached to the switch), the PSK VLANs' keys into the
 * switch, and the device multicast lists the tick polls. A TAP read batch
 * goes through `switch.fromPort` (learn, VFT, fit to the datagram paths up:
 * fragments or TCP segments, seal) and on to the neighbours through the
 * node's `sendLocal`.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { derivePskEpochSecrets } from '@peertap/crypto'
import type { SealedFrame, Switch } from '@peertap/switch'
import { openTap, type TapDevice } from '@peertap/tap'
import { parseMac } from '@peertap/vft'
import type { Logger } from 'pino'
import type { VlanConfig } from './config.ts'

const run = promisify(execFile)

/** What the node lends its ports. */
export interface PortsHost {
  readonly sw: Switch
  readonly log: Logger
  /** Whether the log takes trace lines (one per TAP batch). */
  readonly trace: boolean
  /** Seconds (wall clock). */
  now(): number
  /** The links whose MTUs bound our sealed frames ({@link maxSealed}). */
  links(): Iterable<{ readonly status: string; readonly mtu: number }>
  /** Sends our own sealed frames on to the neighbours. */
  sendLocal(frames: SealedFrame[]): void
}

/** The open ports. */
export interface Ports {
  /** Reads each device's multicast list into the switch, one device after the other. */
  pollMulticast(): Promise<void>
  /** Closes every TAP device. */
  close(): void
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

/** Opens a port for each VLAN; if one fails, closes those opened and throws. */
export async function openPorts(vlans: readonly VlanConfig[], host: PortsHost): Promise<Ports> {
  const { sw, log, trace, now } = host
  const taps: TapDevice[] = []
  const multicastPolls: Array<() => Promise<void>> = []
  try {
    for (const vlan of vlans) {
      if (vlan.secret !== undefined) {
        sw.addVlan(vlan.name, {
          kind: 'psk',
          epoch: 0,
          secrets: derivePskEpochSecrets(Buffer.from(vlan.secret, 'hex')),
        })
      }
      const port = vlan.port
      const tap = openTap({
        name: port.device,
        mtu: port.mtu,
        ...(port.mac === undefined ? {} : { mac: port.mac }),
        up: true,
        vnetHeader: port.offload,
      })
      taps.push(tap)
      const macText = port.mac ?? tap.link().mac
      if (macText === undefined) throw new Error(`TAP ${port.device} has no MAC address`)
      const mac = parseMac(macText)
      for (const address of port.addresses) {
        await run('ip', ['addr', 'add', address, 'dev', port.device])
      }
      sw.addPort(vlan.name, port.device, {
        mac,
        vnetHeader: tap.vnetHeader,
        writeFrames: (frames) => tap.writeBatch(frames),
      })
      tap.onBatch(
        (batch) => {
          const frames: Uint8Array[] = new Array(batch.count)
          for (let i = 0; i < batch.count; i++) frames[i] = batch.frame(i)
          const sealed = sw.fromPort(vlan.name, port.device, frames, now(), maxSealed(host.links()))
          if (trace)
            log.trace({ vlan: vlan.name, read: batch.count, sealed: sealed.length }, 'port batch')
          if (sealed.length === 0) return
          host.sendLocal(sealed)
        },
        { onError: (error) => log.error({ err: error, device: port.device }, 'TAP read failed') },
      )
      multicastPolls.push(async () => {
        const macs = await tap.multicastMacs()
        sw.setMulticast(vlan.name, port.device, macs.map(parseMac))
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
    }
  } catch (error) {
    for (const tap of taps) tap.close()
    throw error
  }
  return {
    async pollMulticast() {
      for (const poll of multicastPolls) await poll()
    },
    close() {
      for (const tap of taps) tap.close()
    },
  }
}
