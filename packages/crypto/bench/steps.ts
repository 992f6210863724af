/**
 * The hot-path choices one by one (docs/style.md §4, docs/facts.md §4), measured in one
 * process with interleaved runs, medians, per CPU-second, one core:
 *
 *   1. raw key buffers and a new AES-ECB cipher per frame (the naive way)
 *   2. KeyObjects made once per key (docs/facts.md §4: raw key buffers are slow)
 *   3. nodeBackend: also one AES-ECB cipher per hpKey, reused
 *   4. nodeBackend with sealBatch/openBatch: one ECB call per 32 frames
 *
 *   cd packages/crypto && node --conditions=peertap:source bench/steps.ts [runs]
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import * as New from '../src/index.ts'

const RUNS = Number(process.argv[2] ?? 9),
  MS = 250,
  POOL = 4096,
  B = 32
const secrets = New.derivePskEpochSecrets(new TextEncoder().encode('ab'))
const vft = new Uint8Array(16).fill(1)
const O = { authTagLength: 16 } as const
function gcmBackend(
  keyOf: (k: Uint8Array) => Uint8Array | KeyObject,
  mask: (hp: Uint8Array) => (s: Uint8Array) => Uint8Array,
  name: string,
): New.CryptoBackend {
  return {
    name,
    aeadKey(raw) {
      const key = keyOf(raw)
      return {
        seal(nonce, aad, pt, out, off) {
          const c = createCipheriv('aes-256-gcm', key, nonce, O)
          c.setAAD(aad)
          const ct = c.update(pt)
          c.final()
          out.set(ct, off)
          out.set(c.getAuthTag(), off + ct.length)
        },
        open(nonce, aad, src, start, tagStart, tag) {
          const d = createDecipheriv('aes-256-gcm', key, nonce, O)
          d.setAAD(aad)
          d.setAuthTag(tag)
          const p = d.update(src.subarray(start, tagStart))
          try {
            d.final()
          } catch {
            return undefined
          }
          return p
        },
      }
    },
    headerMaskKey(hp) {
      return { mask: mask(hp) }
    },
  }
}
const rawKeys = gcmBackend(
  (k) => Buffer.from(k),
  (hp) => (s) => {
    const e = createCipheriv('aes-256-ecb', Buffer.from(hp), null)
    e.setAutoPadding(false)
    return e.update(s)
  },
  'raw keys, ECB per frame',
)
const keyObjs = gcmBackend(
  (k) => createSecretKey(k),
  (hp) => {
    const ko = createSecretKey(hp)
    return (s) => {
      const e = createCipheriv('aes-256-ecb', ko, null)
      e.setAutoPadding(false)
      return e.update(s)
    }
  },
  'KeyObjects, ECB per frame',
)
function rate(op: () => void) {
  let n = 0
  const c0 = process.cpuUsage()
  const t = performance.now()
  while (performance.now() - t < MS) {
    for (let i = 0; i < 64; i++) op()
    n += 64
  }
  const c = process.cpuUsage(c0)
  return n / ((c.user + c.system) / 1e6)
}
function mk(backend: New.CryptoBackend, size: number, batch: boolean) {
  const pt = new Uint8Array(size).fill(2)
  const s = new New.FrameSender({ kind: 'psk', secrets, backend })
  const len = s.sealedLength(size) + 2
  const out = new Uint8Array(len * B)
  const pts = Array(B).fill(pt),
    vfts = Array(B).fill(vft),
    wins = Array(B).fill(0),
    offs = Array.from({ length: B }, (_, i) => i * len)
  const ps = new New.FrameSender({ kind: 'psk', secrets, backend })
  const pool = Array.from({ length: POOL }, () => ps.seal(vft, pt))
  let r = new New.FrameReceiver({ kind: 'psk', secrets, backend })
  let k = 0
  const res: New.DropReason[] = []
  return {
    seal: batch
      ? () => s.sealBatch(vfts, pts, out, offs)
      : () => {
          s.sealInto(vft, pt, out, 0)
        },
    open: batch
      ? () => {
          if (k % POOL === 0) r = new New.FrameReceiver({ kind: 'psk', secrets, backend })
          r.openBatch(pool.slice(k % POOL, (k % POOL) + B), vfts, wins, res as never)
          k += B
        }
      : () => {
          if (k % POOL === 0) r = new New.FrameReceiver({ kind: 'psk', secrets, backend })
          if (typeof r.open(pool[k % POOL]!, vft, 0) === 'string') throw new Error('drop')
          k++
        },
    mult: batch ? B : 1,
  }
}
const cases: [string, ReturnType<typeof mk>, number[], number[]][] = []
for (const size of [64, 1400]) {
  cases.push([`${size} raw keys, ECB cipher per frame`, mk(rawKeys, size, false), [], []])
  cases.push([`${size} KeyObjects, ECB cipher per frame`, mk(keyObjs, size, false), [], []])
  cases.push([`${size} nodeBackend (one ECB per hpKey)`, mk(New.nodeBackend, size, false), [], []])
  cases.push([`${size} nodeBackend, batches of 32`, mk(New.nodeBackend, size, true), [], []])
}
for (let i = 0; i < RUNS; i++)
  for (const [, c, s, o] of cases) {
    s.push(rate(c.seal) * c.mult)
    o.push(rate(c.open) * c.mult)
  }
const med = (x: number[]) =>
  Math.round([...x].sort((a, b) => a - b)[x.length >> 1]!).toLocaleString('en')
for (const [name, , s, o] of cases)
  console.log(name.padEnd(42), 'seal', med(s).padStart(8), 'open', med(o).padStart(8))
