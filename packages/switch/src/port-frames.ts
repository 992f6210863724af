/**
 * Frames in the form a port takes: a port whose device has the virtio-net
 * header (PortDevice.vnetHeader) takes header ‖ frame, any other port takes
 * plain Ethernet frames. A frame with a header for a port without one is
 * finished in software (checksum, TCP segmentation: vnet.ts); a plain frame
 * for a port with one gets a zero header (no offload asked for), or, when
 * the receive path coalesces, joins the consecutive TCP segments of its
 * flow in one GSO frame (coalesce.ts).
 */
import { coalesceTcp } from './coalesce.ts'
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

/**
 * One port's writes of one receive batch. With `coalesce` (a port with
 * offloads), the batch's frames for the port wait until it is over and
 * then go through {@link coalesceTcp} together, plain ones and those with
 * a header alike, so the port's frames keep their order; otherwise each is
 * put in the port's form at once.
 */
export class PortWrites {
  readonly port: Port
  readonly #list: Uint8Array[] = []
  readonly #hasHeader: boolean[] = []
  readonly #coalesce: boolean
  #counters: VlanCounters | undefined

  constructor(port: Port, coalesce: boolean) {
    this.port = port
    this.#coalesce = coalesce && port.vnet
  }

  /** As {@link pushForPort}: the number of frames the port will take for `frame`. */
  push(frame: Uint8Array, hasHeader: boolean, counters: VlanCounters): number {
    if (!this.#coalesce) return pushForPort(this.#list, this.port, frame, hasHeader, counters)
    this.#list.push(frame)
    this.#hasHeader.push(hasHeader)
    this.#counters = counters
    return 1
  }

  /** The port's frames for one write; the batch is over. */
  take(): Uint8Array[] {
    if (!this.#coalesce || this.#list.length === 0) return this.#list
    return coalesceTcp(this.#list, this.#counters, this.#hasHeader)
  }
}

/** A receive batch's writes: one {@link PortWrites} per port that gets any. */
export class BatchWrites {
  readonly #ports = new Map<Port, PortWrites>()
  readonly #coalesce: boolean

  constructor(coalesce: boolean) {
    this.#coalesce = coalesce
  }

  of(port: Port): PortWrites {
    let w = this.#ports.get(port)
    if (w === undefined) {
      w = new PortWrites(port, this.#coalesce)
      this.#ports.set(port, w)
    }
    return w
  }

  /** One write per port: the batch is over. */
  write(): void {
    for (const w of this.#ports.values()) w.port.device.writeFrames(w.take())
  }
}
