// A slow, obviously-correct model of docs/spec/05-fragmentation.md §5.3 and
// §5.4, written from the spec step by step with arrays and linear scans, to
// compare the fast implementation against. Shares no code with src/.

export function referenceSplit(
  datagram: Uint8Array,
  maxFragmentBytes: number,
  id: number,
): Uint8Array[] {
  const payload = maxFragmentBytes - 10
  const fragments: Uint8Array[] = []
  for (let offset = 0; offset < datagram.length; offset += payload) {
    const body = datagram.slice(offset, offset + payload)
    fragments.push(
      Uint8Array.from([
        Math.floor(id / 2 ** 24) % 256,
        Math.floor(id / 2 ** 16) % 256,
        Math.floor(id / 2 ** 8) % 256,
        id % 256,
        Math.floor(datagram.length / 2 ** 16) % 256,
        Math.floor(datagram.length / 2 ** 8) % 256,
        datagram.length % 256,
        Math.floor(offset / 2 ** 16) % 256,
        Math.floor(offset / 2 ** 8) % 256,
        offset % 256,
        ...body,
      ]),
    )
  }
  return fragments
}

export interface ReferenceOptions {
  maxDatagramBytes: number
  maxFragmentsPerDatagram: number
  maxReassemblies: number
  maxBytes: number
  timeoutMs: number
}

interface Held {
  start: number
  bytes: Uint8Array
}

interface Entry {
  source: unknown
  id: number
  total: number
  created: number
  abandoned: boolean
  held: Held[]
}

export class ReferenceReassembler {
  readonly options: ReferenceOptions
  readonly counts: Record<string, number> = {}
  entries: Entry[] = []

  constructor(options: ReferenceOptions) {
    this.options = options
  }

  private count(name: string): void {
    this.counts[name] = (this.counts[name] ?? 0) + 1
  }

  bytesHeld(): number {
    let sum = 0
    for (const e of this.entries) if (!e.abandoned) sum += e.total
    return sum
  }

  push(
    source: unknown,
    f: Uint8Array,
    now: number,
  ): { outcome: string; datagram?: Uint8Array | undefined } {
    const o = this.options
    // 1. expire
    const kept: Entry[] = []
    for (const e of this.entries) {
      if (now - e.created >= o.timeoutMs) {
        if (!e.abandoned) this.count('expired')
      } else {
        kept.push(e)
      }
    }
    this.entries = kept
    const done = (outcome: string, datagram?: Uint8Array) => {
      this.count(outcome)
      return { outcome, datagram }
    }
    // 2. malformed
    if (f.length < 11) return done('malformed')
    const id = f[0]! * 2 ** 24 + f[1]! * 2 ** 16 + f[2]! * 2 ** 8 + f[3]!
    const total = f[4]! * 2 ** 16 + f[5]! * 2 ** 8 + f[6]!
    const start = f[7]! * 2 ** 16 + f[8]! * 2 ** 8 + f[9]!
    const payload = f.slice(10)
    const end = start + payload.length
    if (total === 0 || end > total) return done('malformed')
    // 3. oversize
    if (total > o.maxDatagramBytes) return done('oversize')
    // 4. look up
    let entry = this.entries.find((e) => e.source === source && e.id === id)
    // 5. abandoned
    if (entry?.abandoned) return done('abandoned')
    // 6. single fragment
    if (entry === undefined && start === 0 && end === total) return done('complete', payload)
    if (entry === undefined) {
      // 7. open, evicting the oldest
      while (this.entries.length >= o.maxReassemblies || this.bytesHeld() + total > o.maxBytes) {
        this.entries.shift()
        this.count('evicted')
      }
      entry = { source, id, total, created: now, abandoned: false, held: [] }
      this.entries.push(entry)
    } else if (entry.total !== total) {
      // 8. inconsistent
      entry.abandoned = true
      entry.held = []
      return done('inconsistent')
    }
    // 9. duplicate
    if (entry.held.some((h) => h.start === start && h.start + h.bytes.length === end)) {
      return done('duplicate')
    }
    // 10. overlap
    if (entry.held.some((h) => h.start < end && start < h.start + h.bytes.length)) {
      entry.abandoned = true
      entry.held = []
      return done('overlap')
    }
    // 11. hold
    entry.held.push({ start, bytes: payload })
    // 12. complete
    const received = entry.held.reduce((sum, h) => sum + h.bytes.length, 0)
    if (received === total) {
      const datagram = new Uint8Array(total)
      for (const h of entry.held) datagram.set(h.bytes, h.start)
      this.entries = this.entries.filter((e) => e !== entry)
      return done('complete', datagram)
    }
    // 13. too many fragments
    if (entry.held.length >= o.maxFragmentsPerDatagram) {
      entry.abandoned = true
      entry.held = []
      return done('tooManyFragments')
    }
    // 14. pending
    return done('pending')
  }
}

/** mulberry32: a tiny seeded PRNG so property tests replay from their seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')
}

export function unhex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'hex'))
}
