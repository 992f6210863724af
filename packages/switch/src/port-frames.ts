/**
 * Frames in the form a port takes: a port whose device has the virtio-net
 * header (PortDevice.vnetHeader) takes header ‖ frame, any other port takes
 * plain Ethernet frames. A frame with a header for a port without one is
 * finished in software (checksum, TCP segmentation: vnet.ts); a plain frame
 * for a port with one gets a zero header (no offload asked for).
 */
import type { Port, VlanCounters } from './vlan.ts'
import { toPlainFrames, withZeroVnetHeader } from './vnet.ts'

/**
 * Appends `frame` to `list` as `port` takes it; `hasHeader` says whether
 * `frame` is led by a virtio-net header. Returns the number of frames
 * appended: 0 when a frame with a header does not hold up (counted as
 * dropBadOffload).
 */
export function pushForPort(
  list: Uint8Array[],
  port: Port,
  frame: Uint8Array,
  hasHeader: boolean,
  counters: VlanCounters,
): number {
  if (port.vnet === hasHeader) {
    list.push(frame)
    return 1
  }
  if (!hasHeader) {
    list.push(withZeroVnetHeader(frame))
    return 1
  }
  const plain = toPlainFrames(frame)
  if (typeof plain === 'string') {
    counters.dropBadOffload++
    return 0
  }
  counters.softwareOffload++
  for (const f of plain) list.push(f)
  return plain.length
}
