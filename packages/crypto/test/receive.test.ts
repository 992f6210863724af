/** FrameSender and FrameReceiver: rollover, replay window, drop rules and the KID cache. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  aesBackend,
  DROP_REASONS,
  derivePskEpochSecrets,
  FrameReceiver,
  FrameSender,
  mlsKid,
  nobleBackend,
  nodeAes,
  nodeBackend,
  parseMlsKid,
  type ReceiveCounters,
} from '../src/index.ts'
import { refSeal } from './reference.ts'

const secrets = derivePskEpochSecrets(new TextEncoder().encode('receive test'))
const vft = new Uint8Array(16).map((_, i) => 0x10 + i)
const pt = (n = 64, seed = 0) => new Uint8Array(n).map((_, i) => (i + seed) & 0xff)
const total = (c: ReceiveCounters) => Object.values(c).reduce((a, b) => a + b, 0)

describe.each([nodeBackend, nobleBackend, aesBackend(nodeAes)])('on $name', (backend) => {
  const mlsSender = (generation = 7, leafIndex = 3, epoch = 5) =>
    new FrameSender({ kind: 'mls', secrets, backend, leafIndex, epoch, generation })
  const mlsReceiver = (extra: { acceptLeaf?: (l: number) => boolean; maxKids?: number } = {}) =>
    new FrameReceiver({ kind: 'mls', secrets, backend, epoch: 5, ...extra })

  it('opens what it is sent and counts it', () => {
    const s = mlsSender()
    const r = mlsReceiver()
    for (let i = 0; i < 300; i++) {
      const p = pt(1 + i, i)
      expect(Buffer.from(r.open(s.seal(vft, p), vft, 0) as Uint8Array).equals(Buffer.from(p))).toBe(
        true,
      )
    }
    expect(r.counters.opened).toBe(300)
    expect(total(r.counters)).toBe(300)
    expect(parseMlsKid(s.kid)).toEqual({ leafIndex: 3, epochByte: 5, generation: 7 })
  })

  it('drops a replayed counter, before the AEAD', () => {
    const s = mlsSender()
    const r = mlsReceiver()
    const f = s.seal(vft, pt())
    expect(typeof r.open(f, vft, 0)).not.toBe('string')
    expect(r.open(f, vft, 0)).toBe('replay')
    const tampered = f.slice()
    tampered[tampered.length - 20]! ^= 1
    expect(r.open(tampered, vft, 0)).toBe('replay') // the window is checked first
    expect(r.counters.replay).toBe(2)
    expect(r.counters.auth).toBe(0)
  })

  it('accepts reordering within the window, drops beyond it', () => {
    const s = mlsSender()
    const r = mlsReceiver()
    const frames = Array.from({ length: 2100 }, () => s.seal(vft, pt(8)))
    expect(typeof r.open(frames[2099]!, vft, 0)).not.toBe('string')
    expect(typeof r.open(frames[2099 - 2047]!, vft, 0)).not.toBe('string')
    expect(typeof r.open(frames[1000]!, vft, 0)).not.toBe('string')
    expect(r.open(frames[2099 - 2048]!, vft, 0)).toBe('too-old')
    expect(r.open(frames[0]!, vft, 0)).toBe('too-old')
    expect(r.open(frames[1000]!, vft, 0)).toBe('replay')
  })

  it('random delivery order: each frame opens once, or is too old, never twice', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(399), { minLength: 1, maxLength: 800 }), (order) => {
        const s = mlsSender()
        const r = mlsReceiver()
        const frames = Array.from({ length: 400 }, () => s.seal(vft, pt(4)))
        const opened = new Set<number>()
        for (const i of order) {
          const got = r.open(frames[i]!, vft, 0)
          if (opened.has(i)) expect(got).toBe('replay')
          else {
            expect(typeof got).not.toBe('string')
            opened.add(i)
          }
        }
      }),
      { numRuns: 20 },
    )
  })

  it('a forged frame does not move the window', () => {
    const s = mlsSender()
    const r = mlsReceiver()
    const frames = Array.from({ length: 20 }, () => s.seal(vft, pt()))
    expect(typeof r.open(frames[10]!, vft, 0)).not.toBe('string')
    // Same KID and hpKey, counter 100000, sealed under another frameBase: the tag fails.
    const other = derivePskEpochSecrets(new TextEncoder().encode('not this VLAN'))
    const forged = refSeal(other.frameBase, secrets.hpKey, s.kid, 100_000n, vft, pt())
    expect(r.open(forged, vft, 0)).toBe('auth')
    expect(typeof r.open(frames[5]!, vft, 0)).not.toBe('string')
  })

  it('drops counters at or above 2^23 (ctr-limit), opens 2^23 - 1', () => {
    const r = mlsReceiver()
    const kid = mlsKid(3, 5, 7)
    const at = (c: bigint) => refSeal(secrets.frameBase, secrets.hpKey, kid, c, vft, pt())
    expect(typeof r.open(at(2n ** 23n - 1n), vft, 0)).not.toBe('string')
    expect(r.open(at(2n ** 23n), vft, 0)).toBe('ctr-limit')
    expect(r.open(at(2n ** 24n - 1n), vft, 0)).toBe('ctr-limit')
    expect(r.open(at(2n ** 40n), vft, 0)).toBe('ctr-limit')
    expect(r.counters['ctr-limit']).toBe(3)
  })

  it('drops a KID of another epoch (unknown-epoch) and refused leaves (unknown-sender)', () => {
    const r = mlsReceiver({ acceptLeaf: (leaf) => leaf !== 9 })
    expect(r.open(mlsSender(1, 3, 6).seal(vft, pt()), vft, 0)).toBe('unknown-epoch')
    expect(r.open(mlsSender(1, 9, 5).seal(vft, pt()), vft, 0)).toBe('unknown-sender')
    expect(typeof r.open(mlsSender(1, 8, 5).seal(vft, pt()), vft, 0)).not.toBe('string')
    // Epoch 5 + 256 has the same epoch byte: the key set, not the byte, separates epochs.
    expect(typeof r.open(mlsSender(2, 8, 261).seal(vft, pt()), vft, 0)).not.toBe('string')
    expect(r.kidCount).toBe(2)
  })

  it('a wrong KID (a sender of another VLAN) fails the AEAD and never enters the cache', () => {
    const other = derivePskEpochSecrets(new TextEncoder().encode('not this VLAN'))
    const s = new FrameSender({
      kind: 'mls',
      secrets: { ...other, hpKey: secrets.hpKey },
      backend,
      leafIndex: 3,
      epoch: 5,
    })
    const r = mlsReceiver()
    expect(r.open(s.seal(vft, pt()), vft, 0)).toBe('auth')
    expect(r.kidCount).toBe(0)
    expect(r.hasKid(s.kid)).toBe(false)
  })

  it('the VFT is authenticated', () => {
    const s = mlsSender()
    const r = mlsReceiver()
    const otherVft = vft.slice()
    otherVft[0]! ^= 1
    expect(r.open(s.seal(vft, pt()), otherVft, 0)).toBe('auth')
  })

  it('every truncation and every tampered byte is dropped and counted; nothing throws', () => {
    const s = mlsSender()
    const r = mlsReceiver()
    const f = s.seal(vft, pt(100))
    for (let len = 0; len < f.length; len++)
      expect(typeof r.open(f.subarray(0, len), vft, 0)).toBe('string')
    for (let i = 0; i < f.length; i++) {
      const bad = f.slice()
      bad[i]! ^= 0x41
      expect(typeof r.open(bad, vft, 0), `byte ${i}`).toBe('string')
    }
    expect(r.counters.opened).toBe(0)
    expect(total(r.counters)).toBe(2 * f.length)
    expect(r.kidCount).toBe(0)
    expect(typeof r.open(f, vft, 0)).not.toBe('string')
  })

  it('random garbage: dropped, counted, the cache stays empty', () => {
    const r = new FrameReceiver({ kind: 'psk', secrets, backend, maxKids: 4 })
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => {
        expect(typeof r.open(garbage, vft, 0)).toBe('string')
      }),
      { numRuns: 500 },
    )
    expect(r.kidCount).toBe(0)
    expect(r.counters.opened).toBe(0)
    for (const reason of DROP_REASONS) expect(r.counters[reason]).toBeGreaterThanOrEqual(0)
  })

  it('generation rollover: the sender moves to generation + 1 at 2^23, the receiver follows', () => {
    const s = new FrameSender({
      kind: 'mls',
      secrets,
      backend,
      leafIndex: 3,
      epoch: 5,
      generation: 0xffff_fffe,
      startCounter: 2 ** 23 - 2,
    })
    const r = mlsReceiver()
    const seen: [number, number][] = []
    for (let i = 0; i < 6; i++) {
      seen.push([s.generation, s.counter])
      expect(typeof r.open(s.seal(vft, pt()), vft, 0)).not.toBe('string')
    }
    expect(seen).toEqual([
      [0xffff_fffe, 2 ** 23 - 2],
      [0xffff_fffe, 2 ** 23 - 1],
      [0xffff_ffff, 0],
      [0xffff_ffff, 1],
      [0xffff_ffff, 2],
      [0xffff_ffff, 3],
    ])
    expect(s.kid).toBe(mlsKid(3, 5, 0xffff_ffff))
    expect(r.kidCount).toBe(2)
    // Wrap mod 2^32.
    const w = new FrameSender({
      kind: 'mls',
      secrets,
      backend,
      leafIndex: 3,
      epoch: 5,
      generation: 0xffff_ffff,
      startCounter: 2 ** 23,
    })
    expect(w.generation).toBe(0)
    expect(w.counter).toBe(0)
    expect(typeof r.open(w.seal(vft, pt()), vft, 0)).not.toBe('string')
    expect(r.hasKid(mlsKid(3, 5, 0))).toBe(true)
  })

  it('PSK rollover: a fresh random KID at 2^23, the receiver follows', () => {
    const s = new FrameSender({ kind: 'psk', secrets, backend, startCounter: 2 ** 23 - 1 })
    const r = new FrameReceiver({ kind: 'psk', secrets, backend })
    const first = s.kid
    expect(typeof r.open(s.seal(vft, pt()), vft, 0)).not.toBe('string')
    expect(s.counter).toBe(0)
    expect(s.kid).not.toBe(first)
    expect(typeof r.open(s.seal(vft, pt()), vft, 0)).not.toBe('string')
    expect(r.hasKid(first) && r.hasKid(s.kid)).toBe(true)
  })

  it('random generation and KID at every start', () => {
    const gens = new Set(
      Array.from(
        { length: 20 },
        () => new FrameSender({ kind: 'mls', secrets, backend, leafIndex: 1, epoch: 5 }).generation,
      ),
    )
    const kids = new Set(
      Array.from({ length: 20 }, () => new FrameSender({ kind: 'psk', secrets, backend }).kid),
    )
    expect(gens.size).toBe(20)
    expect(kids.size).toBe(20)
  })

  it('KID cache: bounded, never evicts a KID inside the held windows, evicts the oldest outside', () => {
    const r = mlsReceiver({ maxKids: 2 })
    const a = mlsSender(1, 1)
    const b = mlsSender(1, 2)
    const c = mlsSender(1, 3)
    expect(typeof r.open(a.seal(vft, pt()), vft, 10)).not.toBe('string')
    expect(typeof r.open(b.seal(vft, pt()), vft, 11)).not.toBe('string')
    r.setOldestHeldWindow(10)
    expect(r.open(c.seal(vft, pt()), vft, 12)).toBe('kid-cache-full')
    expect(r.open(c.seal(vft, pt()), vft, 12)).toBe('kid-cache-full')
    expect(r.counters['kid-cache-full']).toBe(2)
    // Known KIDs still open while the cache is full.
    expect(typeof r.open(a.seal(vft, pt()), vft, 10)).not.toBe('string')
    // A's last window (10) leaves the held set: A may go, B (11) may not.
    r.setOldestHeldWindow(11)
    const cFrame = c.seal(vft, pt())
    expect(typeof r.open(cFrame, vft, 12)).not.toBe('string')
    expect(r.hasKid(a.kid)).toBe(false)
    expect(r.hasKid(b.kid)).toBe(true)
    expect(r.hasKid(c.kid)).toBe(true)
    expect(r.kidCount).toBe(2)
    // C's replay window is live.
    expect(r.open(cFrame, vft, 12)).toBe('replay')
    // B is refreshed in window 12, so nothing is evictable at oldest 12.
    expect(typeof r.open(b.seal(vft, pt()), vft, 12)).not.toBe('string')
    r.setOldestHeldWindow(12)
    expect(r.open(a.seal(vft, pt()), vft, 12)).toBe('kid-cache-full')
    // A frame that fails the AEAD never takes a slot.
    r.setOldestHeldWindow(13)
    const other = derivePskEpochSecrets(new TextEncoder().encode('not this VLAN'))
    const forged = refSeal(other.frameBase, secrets.hpKey, mlsKid(7, 5, 1), 0n, vft, pt())
    expect(r.open(forged, vft, 13)).toBe('auth')
    expect(r.hasKid(b.kid) && r.hasKid(c.kid)).toBe(true)
  })

  it('many KIDs: the cache holds exactly maxKids and every cached KID keeps its window', () => {
    const r = mlsReceiver({ maxKids: 64 })
    const senders = Array.from({ length: 100 }, (_, i) => mlsSender(i, i))
    const first = senders.map((s) => s.seal(vft, pt(4)))
    first.forEach((f, i) => {
      const got = r.open(f, vft, 0)
      if (i < 64) expect(typeof got, `sender ${i}`).not.toBe('string')
      else expect(got, `sender ${i}`).toBe('kid-cache-full')
    })
    first.forEach((f, i) => {
      if (i < 64) expect(r.open(f, vft, 0)).toBe('replay')
    })
    expect(r.kidCount).toBe(64)
    r.setOldestHeldWindow(1)
    first.forEach((f, i) => {
      if (i >= 64) expect(typeof r.open(f, vft, 1)).not.toBe('string')
    })
    expect(r.kidCount).toBe(64)
  })
})
