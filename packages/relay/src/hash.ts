/**
 * Keyed mixing of 16-byte labels (VFTs, AEAD tags) into table slots.
 *
 * VFTs and tags are uniformly random when honest, but a peer chooses the
 * VFTs it subscribes to and the bytes it sends, so a fixed hash would let
 * it pile entries into one probe run and slow every lookup. Each table
 * mixes the label's four words with its own secret seed; the mixer is not a
 * MAC, but a peer that cannot see the seed cannot aim at a slot.
 * (Measured: reading four words and mixing costs a few ns per frame; a
 * string key would allocate per lookup.)
 */

/** Reads the big-endian 32-bit word at `offset` as a signed int (no DataView, no allocation). */
export function word(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset]! << 24) |
    (bytes[offset + 1]! << 16) |
    (bytes[offset + 2]! << 8) |
    bytes[offset + 3]!
  )
}

/** Mixes four words with a four-word seed into a 32-bit hash (murmur3-style finaliser). */
export function mix4(seed: Int32Array, w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0 ^ seed[0]!, 0x9e3779b1)
  h = Math.imul(h ^ (h >>> 15) ^ w1 ^ seed[1]!, 0x85ebca77)
  h = Math.imul(h ^ (h >>> 13) ^ w2 ^ seed[2]!, 0xc2b2ae3d)
  h = Math.imul(h ^ (h >>> 16) ^ w3 ^ seed[3]!, 0x27d4eb2f)
  return h ^ (h >>> 15)
}

/** A fresh random seed, or the caller's 16 bytes (for reproducible tests). */
export function makeSeed(seed?: Uint8Array): Int32Array {
  const out = new Int32Array(4)
  if (seed === undefined) {
    globalThis.crypto.getRandomValues(out)
    return out
  }
  for (let i = 0; i < 4; i++) out[i] = word(seed, i * 4)
  return out
}

/** Smallest power of two that is at least `n` (and at least 8). */
export function powerOfTwoAtLeast(n: number): number {
  let size = 8
  while (size < n) size *= 2
  return size
}

/** Lowercase hex of `bytes`: map keys for proving keys, VFTs and proofs on the control plane (never per frame). */
export function hex(bytes: Uint8Array): string {
  let out = ''
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0')
  return out
}
