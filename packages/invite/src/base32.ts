// RFC 4648 §6 base32, lower-case alphabet, without padding (docs/spec/15-invitations.md §15.2).

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/** Base32 of `bytes`, lower case, no padding; the last character's unused low bits are zero. */
export function base32Encode(bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += ALPHABET[(buffer >>> bits) & 31]
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31]
  return out
}

/** The 5-bit value of a base32 character in either case, or -1. */
export function base32Value(char: number): number {
  if (char >= 0x61 && char <= 0x7a) return char - 0x61 // a-z
  if (char >= 0x41 && char <= 0x5a) return char - 0x41 // A-Z
  if (char >= 0x32 && char <= 0x37) return char - 0x32 + 26 // 2-7
  return -1
}

/**
 * Bytes from 5-bit values, or undefined when the count is not one an encoder
 * writes (n mod 8 of 1, 3 or 6) or the unused low bits are not zero: then the
 * text cannot be what {@link base32Encode} wrote.
 */
export function base32Decode(values: readonly number[]): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor((values.length * 5) / 8))
  let buffer = 0
  let bits = 0
  let index = 0
  for (const value of values) {
    buffer = ((buffer << 5) | value) & 0xffff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[index++] = (buffer >>> bits) & 0xff
    }
  }
  if (bits >= 5 || (buffer & ((1 << bits) - 1)) !== 0) return undefined
  return out
}
