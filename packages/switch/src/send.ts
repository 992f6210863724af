/**
 * The send path of the CryptoVLAN switch: frames read from a local port
 * become sealed frames for the trunk. Stages, in order:
 *
 *   1. size check: runts (< 14 bytes) and frames over the maximum are dropped and counted
 *   2. learning: the source MAC is learned behind the port (unicast sources only)
 *   3. local switching: a unicast frame for a MAC behind another local port
 *      goes there and stops; a group frame also goes to every other local port
 *   4. VFT choice: the destination MAC's VFT in the current epoch and window
 *      (cached per MAC and window); unicast nobody subscribes to is flooded
 *      under the broadcast VFT, as a switch floods unknown unicast
 *   5. seal: kind 0 ‖ frame, AES-256-GCM with header protection, per-sender key
 *
 * Nothing here throws on a frame's content; the batch's sealed frames go to
 * the forwarding table, which picks neighbours.
 */
import { BROADCAST_MAC } from '@peertap/vft'
import { ETHERNET_HEADER_LENGTH, KIND_ETHERNET } from './constants.ts'
import { isGroupAt, macNumber } from './mac-key.ts'
import type { SealedFrame } from './switch.ts'
import type { Port, Vlan } from './vlan.ts'

export interface SendContext {
  readonly hopLimit: number
  readonly maxFrameLength: number
  readonly hasRemoteSubscriber: (vft: Uint8Array) => boolean
  /** Reused plaintext buffer (kind byte ‖ frame). */
  plaintext: Uint8Array
}

export function sendFromPort(
  ctx: SendContext,
  vlan: Vlan,
  port: Port,
  frames: readonly Uint8Array[],
  now: number,
  window: number,
  out: SealedFrame[],
): void {
  const counters = vlan.counters
  const epoch = vlan.current
  const local = vlan.ports.size > 1 ? new Map<Port, Uint8Array[]>() : undefined
  for (const frame of frames) {
    counters.portFrames++
    // 1. size
    if (frame.length < ETHERNET_HEADER_LENGTH) {
      counters.dropRunt++
      continue
    }
    if (frame.length > ctx.maxFrameLength) {
      counters.dropTooLarge++
      continue
    }
    // 2. learning
    if (!isGroupAt(frame, 6)) vlan.learn(port, macNumber(frame, 6), now)
    // 3. local switching
    const group = isGroupAt(frame, 0)
    if (local !== undefined) {
      const dst = macNumber(frame, 0)
      let stop = false
      for (const other of vlan.ports.values()) {
        if (other === port || !(group || other.owns(dst))) continue
        let list = local.get(other)
        if (list === undefined) {
          list = []
          local.set(other, list)
        }
        list.push(frame)
        counters.localSwitched++
        stop = !group
      }
      if (stop) continue
    }
    // 4. VFT choice
    let vft = epoch.vftFor(frame, 0, window)
    if (!group && !ctx.hasRemoteSubscriber(vft)) {
      vft = epoch.vftFor(BROADCAST_MAC, 0, window)
      counters.floodedUnknown++
    }
    // 5. seal
    const plaintextLength = frame.length + 1
    if (ctx.plaintext.length < plaintextLength) ctx.plaintext = new Uint8Array(plaintextLength)
    const plaintext = ctx.plaintext.subarray(0, plaintextLength)
    plaintext[0] = KIND_ETHERNET
    plaintext.set(frame, 1)
    const sealed = epoch.sender.seal(vft, plaintext)
    counters.sealed++
    counters.sealedBytes += sealed.length
    out.push({ hopLimit: ctx.hopLimit, vft, sealed })
  }
  if (local !== undefined) for (const [other, list] of local) other.device.writeFrames(list)
}
