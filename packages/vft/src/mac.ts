import { MAC_LENGTH } from './constants.ts'
import { VftError } from './errors.ts'

/** An Ethernet MAC address: 6 bytes, first byte first as on the wire. */
export type Mac = Uint8Array

const MAC_PATTERN = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i

/** Parses `aa:bb:cc:dd:ee:ff` (or with dashes), case-insensitive. */
export function parseMac(text: string): Mac {
  if (!MAC_PATTERN.test(text)) {
    throw new VftError('mac-invalid', `not a MAC address: ${JSON.stringify(text)}`)
  }
  const mac = new Uint8Array(MAC_LENGTH)
  for (let i = 0; i < MAC_LENGTH; i++) mac[i] = Number.parseInt(text.slice(i * 3, i * 3 + 2), 16)
  return mac
}

/** Formats a MAC as lowercase `aa:bb:cc:dd:ee:ff`. */
export function formatMac(mac: Mac): string {
  assertMac(mac)
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':')
}

/** True for group (multicast and broadcast) addresses: the I/G bit of the first byte. */
export function isGroupMac(mac: Mac): boolean {
  return ((mac[0] ?? 0) & 0x01) === 1
}

/** True for ff:ff:ff:ff:ff:ff. */
export function isBroadcastMac(mac: Mac): boolean {
  for (let i = 0; i < MAC_LENGTH; i++) if (mac[i] !== 0xff) return false
  return mac.length === MAC_LENGTH
}

export function assertMac(mac: Uint8Array): void {
  if (mac.length !== MAC_LENGTH) {
    throw new VftError('mac-invalid', `a MAC is ${MAC_LENGTH} bytes, got ${mac.length}`)
  }
}
