import { VFT_LENGTH } from '@peertap/vft'

/**
 * A map from VFT to a value that allocates nothing per lookup: VFTs are
 * uniformly random, so their first 30 bits are a good small-integer hash;
 * entries in one bucket are told apart by comparing all 16 bytes.
 */
export class VftMap<T> {
  readonly #buckets = new Map<number, Array<{ vft: Uint8Array; value: T }>>()
  #size = 0

  get size(): number {
    return this.#size
  }

  get(vft: Uint8Array, offset = 0): T | undefined {
    const bucket = this.#buckets.get(hashOf(vft, offset))
    if (bucket === undefined) return undefined
    for (const entry of bucket) if (equalAt(entry.vft, vft, offset)) return entry.value
    return undefined
  }

  set(vft: Uint8Array, value: T): void {
    const hash = hashOf(vft, 0)
    let bucket = this.#buckets.get(hash)
    if (bucket === undefined) {
      bucket = []
      this.#buckets.set(hash, bucket)
    }
    for (const entry of bucket) {
      if (equalAt(entry.vft, vft, 0)) {
        entry.value = value
        return
      }
    }
    bucket.push({ vft: vft.slice(0, VFT_LENGTH), value })
    this.#size++
  }

  delete(vft: Uint8Array): boolean {
    const hash = hashOf(vft, 0)
    const bucket = this.#buckets.get(hash)
    if (bucket === undefined) return false
    const index = bucket.findIndex((entry) => equalAt(entry.vft, vft, 0))
    if (index < 0) return false
    bucket.splice(index, 1)
    if (bucket.length === 0) this.#buckets.delete(hash)
    this.#size--
    return true
  }

  *entries(): IterableIterator<[Uint8Array, T]> {
    for (const bucket of this.#buckets.values()) for (const e of bucket) yield [e.vft, e.value]
  }

  clear(): void {
    this.#buckets.clear()
    this.#size = 0
  }
}

function hashOf(vft: Uint8Array, offset: number): number {
  return (
    ((vft[offset]! << 22) |
      (vft[offset + 1]! << 14) |
      (vft[offset + 2]! << 6) |
      (vft[offset + 3]! >>> 2)) >>>
    0
  )
}

function equalAt(stored: Uint8Array, candidate: Uint8Array, offset: number): boolean {
  for (let i = 0; i < VFT_LENGTH; i++) if (stored[i] !== candidate[offset + i]) return false
  return true
}
