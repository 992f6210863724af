// AES-256-GCM operations per second on one core: the addon's OpenSSL
// contexts (opensslAes: the key schedule made once, one native call per
// message) against node:crypto (nodeAes from @peertap/crypto: createCipheriv,
// setAAD, update, final and getAuthTag per message), sealing and opening,
// for a 64-byte and a 1400-byte text with a 19-byte AAD (a sealed payload's
// VFT ‖ header). Opening includes allocating the plaintext's buffer, as the
// data path does. Then the same through @peertap/crypto's frame sealing
// (header protection and all: FrameSender.sealBatch, FrameReceiver.openBatch,
// batches of 32 as the switch makes them) on its node:crypto backend and on
// aesBackend(opensslAes()). Each figure is the median of RUNS runs of
// SECONDS each, the implementations interleaved.
//
// Usage: node --conditions=peertap:source bench/aes.ts [seconds] [runs]
import { randomBytes } from 'node:crypto'
import {
  type Aes256Gcm,
  aesBackend,
  type CryptoBackend,
  type DropReason,
  derivePskEpochSecrets,
  FrameReceiver,
  FrameSender,
  nodeAes,
  nodeBackend,
} from '@peertap/crypto'
import { opensslAes } from '../src/index.ts'

const SECONDS = Number(process.argv[2] ?? 1)
const RUNS = Number(process.argv[3] ?? 5)
const SIZES = [64, 1400]

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Calls of `fn` per second of wall time, `inner` calls between clock reads. */
function rate(fn: () => void, inner = 1000): number {
  const start = performance.now()
  const end = start + SECONDS * 1000
  let n = 0
  let now = start
  while (now < end) {
    for (let i = 0; i < inner; i++) fn()
    n += inner
    now = performance.now()
  }
  return (n * 1000) / (now - start)
}

const key = randomBytes(32)
const nonce = randomBytes(12)
const aad = randomBytes(19)
const impls: Array<[string, Aes256Gcm]> = [
  ['addon (OpenSSL)', opensslAes().gcm(key)],
  ['node:crypto', nodeAes.gcm(key)],
]

console.log('AES-256-GCM, one core, operations/s (median of %d runs of %d s)', RUNS, SECONDS)
for (const size of SIZES) {
  const pt = randomBytes(size)
  const sealed = new Uint8Array(size + 16)
  impls[0]![1].seal(nonce, aad, undefined, pt, 0, size, sealed, 0)
  const figures = new Map<string, { seal: number[]; open: number[] }>()
  for (const [name] of impls) figures.set(name, { seal: [], open: [] })
  for (let r = 0; r < RUNS; r++) {
    for (const [name, gcm] of impls) {
      const out = new Uint8Array(size + 16)
      figures.get(name)!.seal.push(rate(() => gcm.seal(nonce, aad, undefined, pt, 0, size, out, 0)))
      figures.get(name)!.open.push(
        rate(() => {
          if (!gcm.open(nonce, aad, undefined, sealed, 0, size, Buffer.allocUnsafe(size), 0)) {
            throw new Error('the tag did not verify')
          }
        }),
      )
    }
  }
  for (const [name, f] of figures) {
    const seal = median(f.seal)
    const open = median(f.open)
    console.log(
      `${String(size).padStart(5)} B  ${name.padEnd(16)} seal ${(seal / 1e3).toFixed(0).padStart(6)} k/s (${(1e9 / seal).toFixed(0)} ns)  open ${(open / 1e3).toFixed(0).padStart(6)} k/s (${(1e9 / open).toFixed(0)} ns)`,
    )
  }
}

const BATCH = 32
const POOL = 4096
const secrets = derivePskEpochSecrets(randomBytes(32))
const vft = randomBytes(16)
const backends: CryptoBackend[] = [aesBackend(opensslAes()), nodeBackend]

console.log('\nFrames through @peertap/crypto, batches of %d, one core, frames/s', BATCH)
for (const size of SIZES) {
  const pt = randomBytes(size)
  const figures = new Map<string, { seal: number[]; open: number[] }>()
  const cases = backends.map((backend) => {
    const sender = new FrameSender({ kind: 'psk', secrets, backend })
    const step = sender.sealedLength(size) + 2
    const out = new Uint8Array(step * BATCH)
    const offsets = Array.from({ length: BATCH }, (_, i) => i * step)
    const pts = Array.from({ length: BATCH }, () => pt)
    const vfts = Array.from({ length: BATCH }, () => vft)
    const windows = Array.from({ length: BATCH }, () => 0)
    const poolSender = new FrameSender({ kind: 'psk', secrets, backend })
    const pool = Array.from({ length: POOL }, () => poolSender.seal(vft, pt))
    const results: (Uint8Array | DropReason)[] = []
    let receiver = new FrameReceiver({ kind: 'psk', secrets, backend })
    let k = 0
    figures.set(backend.name, { seal: [], open: [] })
    return {
      name: backend.name,
      seal: () => sender.sealBatch(vfts, pts, out, offsets),
      open: () => {
        if (k === POOL) {
          k = 0
          receiver = new FrameReceiver({ kind: 'psk', secrets, backend })
        }
        receiver.openBatch(pool.slice(k, k + BATCH), vfts, windows, results)
        k += BATCH
        if (typeof results[0] === 'string') throw new Error(`dropped: ${results[0]}`)
      },
    }
  })
  for (let r = 0; r < RUNS; r++) {
    for (const c of cases) {
      figures.get(c.name)!.seal.push(rate(c.seal, 16) * BATCH)
      figures.get(c.name)!.open.push(rate(c.open, 16) * BATCH)
    }
  }
  for (const [name, f] of figures) {
    const seal = median(f.seal)
    const open = median(f.open)
    console.log(
      `${String(size).padStart(5)} B  ${name.padEnd(32)} seal ${(seal / 1e3).toFixed(0).padStart(6)} k/s  open ${(open / 1e3).toFixed(0).padStart(6)} k/s`,
    )
  }
}
