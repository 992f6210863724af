/**
 * test/vectors/receive.json (origin in test/vectors/README.md): every
 * sequence through FrameReceiver on each backend, one frame at a time and in
 * batches; every drop shown to change nothing (the sequence without it gives
 * the same outcomes); the stateless cases through openPayload.
 */
import { describe, expect, it } from 'vitest'
import {
  aesBackend,
  type CryptoBackend,
  DROP_REASONS,
  type DropReason,
  derivePskEpochSecrets,
  FrameReceiver,
  HeaderProtection,
  nobleBackend,
  nodeAes,
  nodeBackend,
  openPayload,
  SenderKey,
} from '../src/index.ts'
import { RefReceiver, refOpenWithKey } from './reference.ts'
import vectors from './vectors/receive.json' with { type: 'json' }

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const backends: CryptoBackend[] = [nodeBackend, nobleBackend, aesBackend(nodeAes)]

type Sequence = (typeof vectors.sequences)[number]
type Step = Sequence['steps'][number]
interface FrameStep {
  note: string
  kid?: string
  sealed: string
  window: number
  vft: string
  outcome: string
  plaintext?: string
  kids: string[]
}
const isSet = (s: Step): s is Step & { setOldestHeldWindow: number } => 'setOldestHeldWindow' in s
const frameStep = (s: Step) => s as unknown as FrameStep

const secrets = derivePskEpochSecrets(bytes(vectors.secret))

function receiverFor(seq: Sequence, backend: CryptoBackend): FrameReceiver {
  const r = seq.receiver as {
    kind: 'psk' | 'mls'
    epoch?: number
    leaves?: number[]
    maxKids: number
    oldestHeldWindow: number
  }
  const common = { secrets, backend, maxKids: r.maxKids, oldestHeldWindow: r.oldestHeldWindow }
  if (r.kind === 'psk') return new FrameReceiver({ kind: 'psk', ...common })
  const leaves = r.leaves
  return new FrameReceiver({
    kind: 'mls',
    ...common,
    epoch: r.epoch!,
    ...(leaves === undefined ? {} : { acceptLeaf: (leaf: number) => leaves.includes(leaf) }),
  })
}

/** Every KID a sequence names: in a frame's header or in the cache. */
function kidsOf(seq: Sequence): string[] {
  const all = new Set<string>()
  for (const s of seq.steps) {
    if (isSet(s)) continue
    const f = frameStep(s)
    if (f.kid !== undefined) all.add(f.kid)
    for (const k of f.kids) all.add(k)
  }
  return [...all]
}

/** Checks one step's result and the receiver's state after it. */
function expectStep(
  r: FrameReceiver,
  seq: Sequence,
  i: number,
  got: Uint8Array | DropReason,
  before: Record<string, number>,
): void {
  const s = frameStep(seq.steps[i]!)
  const where = `${seq.name}, step ${i} (${s.note})`
  if (s.outcome === 'opened') {
    expect(typeof got, where).not.toBe('string')
    expect(hex(got as Uint8Array), where).toBe(s.plaintext)
  } else {
    expect(got, where).toBe(s.outcome)
  }
  // Exactly the outcome's counter moved, by one.
  const after = { ...r.counters } as Record<string, number>
  for (const [name, n] of Object.entries(after)) {
    expect(n - before[name]!, `${where}: counter ${name}`).toBe(name === s.outcome ? 1 : 0)
  }
  expect(r.kidCount, `${where}: cache size`).toBe(s.kids.length)
  for (const kid of kidsOf(seq)) {
    expect(r.hasKid(BigInt(`0x${kid}`)), `${where}: KID ${kid} cached`).toBe(s.kids.includes(kid))
  }
}

/** Runs a sequence one open() at a time, leaving out the steps in `skip`. */
function run(seq: Sequence, backend: CryptoBackend, skip = -1): void {
  const r = receiverFor(seq, backend)
  for (const [i, s] of seq.steps.entries()) {
    if (i === skip) continue
    if (isSet(s)) {
      r.setOldestHeldWindow(s.setOldestHeldWindow)
      continue
    }
    const f = frameStep(s)
    const before = { ...r.counters }
    const got = r.open(bytes(f.sealed), bytes(f.vft), f.window)
    expectStep(r, seq, i, got, before)
  }
}

describe('receive.json', () => {
  it('belongs to the secret of seal.json and covers every outcome', () => {
    expect(hex(secrets.frameBase)).toBe(vectors.frameBase)
    expect(hex(secrets.hpKey)).toBe(vectors.hpKey)
    const outcomes = new Set<string>()
    for (const seq of vectors.sequences) {
      for (const s of seq.steps) if (!isSet(s)) outcomes.add(frameStep(s).outcome)
    }
    expect([...outcomes].sort()).toEqual([...DROP_REASONS, 'opened'].sort())
    const stateless = new Set(vectors.stateless.map((c) => c.outcome))
    expect([...stateless].sort()).toEqual(
      ['opened', 'short', 'bad-config', 'non-minimal-ctr', 'unknown-sender', 'auth'].sort(),
    )
  })

  it.each(vectors.sequences)('the reference receiver agrees: $name', (seq) => {
    const ref = new RefReceiver(
      bytes(vectors.frameBase),
      bytes(vectors.hpKey),
      seq.receiver as ConstructorParameters<typeof RefReceiver>[2],
    )
    for (const s of seq.steps) {
      if (isSet(s)) {
        ref.oldestHeldWindow = s.setOldestHeldWindow
        continue
      }
      const f = frameStep(s)
      const got = ref.open(bytes(f.sealed), bytes(f.vft), f.window)
      expect(got.ok ? 'opened' : got.reason, f.note).toBe(f.outcome)
      if (got.ok) expect(hex(got.plaintext)).toBe(f.plaintext)
      expect([...ref.cache.keys()].map((k) => k.toString(16).padStart(16, '0')).sort()).toEqual(
        f.kids,
      )
    }
  })

  it.each(vectors.stateless)('the reference stateless layer agrees: $note', (c) => {
    const got = refOpenWithKey(
      bytes(vectors.frameBase),
      bytes(vectors.hpKey),
      BigInt(`0x${c.keyKid}`),
      bytes(c.vft),
      bytes(c.sealed),
    )
    expect(got.ok ? 'opened' : got.reason).toBe(c.outcome)
  })
})

describe.each(backends)('receive.json on $name', (backend) => {
  it.each(vectors.sequences)('open(), step by step: $name', (seq) => {
    run(seq, backend)
  })

  it.each(vectors.sequences)('every drop changes nothing: $name', (seq) => {
    let drops = 0
    for (const [i, s] of seq.steps.entries()) {
      if (isSet(s) || frameStep(s).outcome === 'opened') continue
      drops++
      run(seq, backend, i) // the other steps keep their outcomes and cache states
    }
    expect(drops).toBeGreaterThan(0)
  })

  it.each(vectors.sequences)('openBatch() between window changes: $name', (seq) => {
    const r = receiverFor(seq, backend)
    let batch: number[] = []
    const flush = () => {
      const frames = batch.map((i) => frameStep(seq.steps[i]!))
      const results: (Uint8Array | DropReason)[] = []
      const kids: number[] = []
      r.openBatch(
        frames.map((f) => bytes(f.sealed)),
        frames.map((f) => bytes(f.vft)),
        frames.map((f) => f.window),
        results,
        kids,
      )
      for (const [j, f] of frames.entries()) {
        const where = `${seq.name}, step ${batch[j]} (${f.note})`
        if (f.outcome === 'opened') {
          expect(hex(results[j] as Uint8Array), where).toBe(f.plaintext)
          const kid = (BigInt(kids[2 * j]!) << 32n) | BigInt(kids[2 * j + 1]!)
          expect(kid.toString(16).padStart(16, '0'), where).toBe(f.kid)
        } else {
          expect(results[j], where).toBe(f.outcome)
        }
      }
      const last = frames.at(-1)
      if (last !== undefined) expect(r.kidCount).toBe(last.kids.length)
      batch = []
    }
    for (const [i, s] of seq.steps.entries()) {
      if (isSet(s)) {
        flush()
        r.setOldestHeldWindow(s.setOldestHeldWindow)
      } else batch.push(i)
    }
    flush()
  })

  it.each(vectors.stateless)('openPayload: $note', (c) => {
    const hp = new HeaderProtection(backend, secrets.hpKey)
    const key = SenderKey.derive(backend, secrets.frameBase, BigInt(`0x${c.keyKid}`))
    const got = openPayload(hp, key, bytes(c.vft), bytes(c.sealed))
    if (c.outcome === 'opened') expect(hex(got as Uint8Array)).toBe(c.plaintext)
    else expect(got).toBe(c.outcome)
  })
})
