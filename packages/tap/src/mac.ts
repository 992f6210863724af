import { invalid } from './errors.ts'

const HEX = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i

/** Parses `aa:bb:cc:dd:ee:ff` (or with `-`) or copies 6 bytes; throws TapError `invalid-argument`. */
export function parseMac(mac: string | Uint8Array): Uint8Array {
  if (typeof mac !== 'string') {
    if (mac.length !== 6) throw invalid(`a MAC address has 6 bytes, got ${mac.length}`)
    return Uint8Array.from(mac)
  }
  if (!HEX.test(mac)) throw invalid(`"${mac}" is not a MAC address (aa:bb:cc:dd:ee:ff)`)
  const out = new Uint8Array(6)
  for (let i = 0; i < 6; i++) out[i] = Number.parseInt(mac.slice(i * 3, i * 3 + 2), 16)
  return out
}

/** Lowercase, colon-separated, as `ip link` prints it. */
export function formatMac(mac: Uint8Array): string {
  let s = ''
  for (let i = 0; i < mac.length; i++) {
    if (i > 0) s += ':'
    s += (mac[i] ?? 0).toString(16).padStart(2, '0')
  }
  return s
}
