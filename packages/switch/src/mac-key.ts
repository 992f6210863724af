/**
 * A MAC as a number (48 bits fit exactly in a double), so tables keyed by
 * MAC allocate nothing per frame.
 */
export function macNumber(bytes: Uint8Array, offset = 0): number {
  return (
    (bytes[offset]! * 0x1_0000 + ((bytes[offset + 1]! << 8) | bytes[offset + 2]!)) * 0x100_0000 +
    ((bytes[offset + 3]! << 16) | (bytes[offset + 4]! << 8) | bytes[offset + 5]!)
  )
}

export function macFromNumber(value: number): Uint8Array {
  const mac = new Uint8Array(6)
  let rest = value
  for (let i = 5; i >= 0; i--) {
    mac[i] = rest % 256
    rest = Math.floor(rest / 256)
  }
  return mac
}

/** The I/G bit: group (multicast or broadcast) addresses. */
export function isGroupAt(bytes: Uint8Array, offset: number): boolean {
  return (bytes[offset]! & 1) === 1
}
