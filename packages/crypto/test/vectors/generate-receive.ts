/**
 * Writes receive.json: sequences of frames through a stateful receiver
 * (docs/spec/04-sealed-payload.md §5 to §7) and single frames through the
 * stateless layer, each with the outcome the spec gives it. Run from
 * packages/crypto:
 *   node test/vectors/generate-receive.ts
 *
 * Every frame is built by the reference (../reference.ts: refSeal,
 * refSealHeader, refMask), not by src/. Every expected outcome below is
 * written by hand from the rules of §5 to §7, and this script refuses to write
 * the file unless the reference receiver (RefReceiver, refOpenWithKey) gives
 * the same outcome, the same plaintext and the same KID cache at every step.
 * Inputs are fixed, so the output is the same bytes on every run.
 */
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import {
  type RefOpen,
  RefReceiver,
  type RefReceiverConfig,
  refMask,
  refOpenWithKey,
  refPsk,
  refSeal,
  refSealHeader,
  u64,
} from '../reference.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const kidHex = (kid: bigint) => kid.toString(16).padStart(16, '0')
const here = new URL('.', import.meta.url)

/** Deterministic filler: SHA-256("PeerTap v1 test <label> <i>") blocks, as generate.ts. */
function filler(label: string, length: number): Buffer {
  const out: Buffer[] = []
  for (let i = 0; out.length * 32 < length; i++) {
    out.push(createHash('sha256').update(`PeerTap v1 test ${label} ${i}`).digest())
  }
  return Buffer.concat(out).subarray(0, length)
}

// The key set of seal.json.
const secret = Buffer.from('PeerTap test fabric secret', 'utf8')
const { frameBase, hpKey } = refPsk(secret)

/** The VFT of window w (any 16 bytes do: the receiver only puts them in the AAD). */
const vftOf = (w: number) => filler(`receive vft ${w}`, 16)
/** An 8-byte plaintext naming its frame, kind byte 0. */
function plaintext(label: string): Buffer {
  const p = filler(`receive plaintext ${label}`, 8)
  p[0] = 0
  return p
}
const mls = (leaf: number, epochByte: number, generation: number) =>
  (BigInt(leaf) << 40n) | (BigInt(epochByte) << 32n) | BigInt(generation)

// --- Frames -----------------------------------------------------------------

interface Frame {
  note: string
  sealed: Buffer
  /** The KID and counter the header names, when it has a real header. */
  kid?: bigint
  counter?: bigint
  plaintext?: Buffer
}

/** A frame sealed by the reference: minimal CTR, valid tag. */
function sealed(kid: bigint, counter: bigint, window: number, note: string): Frame {
  const pt = plaintext(`${kidHex(kid)} ${counter} ${window}`)
  return {
    note,
    sealed: refSeal(frameBase, hpKey, kid, counter, vftOf(window), pt),
    kid,
    counter,
    plaintext: pt,
  }
}

/** A frame whose clear header carries `ctr` as given (possibly non-minimal), with a valid tag. */
function sealedCtr(kid: bigint, ctr: Buffer, window: number, note: string): Frame {
  const counter = BigInt(`0x${ctr.toString('hex')}`)
  const header = Buffer.concat([Buffer.from([0xf8 | (ctr.length - 1)]), u64(kid), ctr])
  const pt = plaintext(`${kidHex(kid)} ctr ${ctr.toString('hex')} ${window}`)
  return {
    note,
    sealed: refSealHeader(frameBase, hpKey, kid, header, counter, vftOf(window), pt),
    kid,
    counter,
    plaintext: pt,
  }
}

/** A frame with one ciphertext byte flipped: the header still unmasks to the same KID and CTR. */
function tampered(f: Frame, note: string): Frame {
  const s = Buffer.from(f.sealed)
  s[s.length - 17]! ^= 0x01 // the last ciphertext byte
  return { note, sealed: s, kid: f.kid!, counter: f.counter! }
}

/** `length` bytes of filler whose first byte unmasks to `config`. */
function garbage(length: number, config: number, note: string): Frame {
  const s = filler(`receive garbage ${length} ${config}`, length)
  s[0] = config ^ refMask(hpKey, s.subarray(length - 16))[0]!
  return { note, sealed: s }
}

// --- Sequences ----------------------------------------------------------------

type Expect = 'opened' | string
type Step = { set: number } | { frame: Frame; window: number; expect: Expect; kids: bigint[] }
interface Sequence {
  name: string
  receiver: RefReceiverConfig
  steps: Step[]
}

const open = (frame: Frame, window: number, expect: Expect, kids: bigint[]): Step => ({
  frame,
  window,
  expect,
  kids,
})
const setOldest = (w: number): Step => ({ set: w })

const A = 0x0123456789abcdefn
const B = 0xfedcba9876543210n
const C = 0x00000000000000c0n
const D = 0xd0d0d0d0d0d0d0d0n

const psk = (maxKids = 1024): RefReceiverConfig => ({ kind: 'psk', maxKids, oldestHeldWindow: 0 })

// Sequence 1: rules 1 to 4, before the KID lookup, and which of them wins.
const s1: Sequence = {
  name: 'rules 1-4: short, bad-config, short again, non-minimal-ctr; none changes state',
  receiver: psk(),
  steps: [
    open(garbage(26, 0xf8, 'rule 1: 26 bytes'), 0, 'short', []),
    open(garbage(27, 0xff, 'rule 2: config 0xFF (an 8-byte CTR)'), 0, 'bad-config', []),
    open(garbage(40, 0xf7, 'rule 2: config 0xF7'), 0, 'bad-config', []),
    open(garbage(40, 0x00, 'rule 2: config 0x00'), 0, 'bad-config', []),
    open(
      garbage(28, 0xfa, 'rule 3: config 0xFA (ctrLen 3) needs 29 bytes, has 28'),
      0,
      'short',
      [],
    ),
    open(garbage(28, 0xff, 'rules 2 and 3 both fail: rule 2 first'), 0, 'bad-config', []),
    open(garbage(32, 0xfe, 'rule 3: config 0xFE (ctrLen 7) needs 33 bytes'), 0, 'short', []),
    open(
      sealedCtr(A, Buffer.from([0x00, 0x05]), 0, 'rule 4: counter 5 as CTR 00 05, a valid tag'),
      0,
      'non-minimal-ctr',
      [],
    ),
    open(
      sealedCtr(A, Buffer.from([0x00, 0x80, 0x00, 0x00]), 0, 'rules 4 and 5 both fail: rule 4'),
      0,
      'non-minimal-ctr',
      [],
    ),
    open(sealed(A, 5n, 0, 'counter 5: the non-minimal frame marked nothing'), 0, 'opened', [A]),
    open(
      sealedCtr(A, Buffer.from([0x00, 0x06]), 0, 'rule 4 for a cached KID'),
      0,
      'non-minimal-ctr',
      [A],
    ),
    open(sealed(A, 6n, 0, 'counter 6'), 0, 'opened', [A]),
  ],
}

// Sequence 2: rule 5, before the KID lookup and before the replay window.
const K5 = mls(3, 5, 0x0000a001)
const s2: Sequence = {
  name: 'rule 5: ctr-limit at 2^23, for any KID, before rules 6 and 7',
  receiver: { kind: 'mls', epoch: 5, leaves: [3], maxKids: 1, oldestHeldWindow: 0 },
  steps: [
    open(
      sealed(mls(9, 6, 1), 0x800000n, 0, 'wrong epoch and leaf, counter 2^23'),
      0,
      'ctr-limit',
      [],
    ),
    open(sealed(K5, 0x800000n, 0, 'counter 2^23 (CTR 80 00 00)'), 0, 'ctr-limit', []),
    open(sealed(K5, 0x1000000n, 0, 'counter 2^24 (a 4-byte CTR)'), 0, 'ctr-limit', []),
    open(sealed(K5, 0x0123456789abcdn, 0, 'a 7-byte CTR'), 0, 'ctr-limit', []),
    open(sealed(K5, 0x7fffffn, 0, 'counter 2^23 - 1'), 0, 'opened', [K5]),
    open(sealed(mls(3, 5, 0x0000a002), 0x800000n, 0, 'full cache, counter 2^23'), 0, 'ctr-limit', [
      K5,
    ]),
    open(sealed(K5, 0x800000n, 0, 'cached KID, counter 2^23'), 0, 'ctr-limit', [K5]),
  ],
}

// Sequence 3: rule 6 on a KID's first sight (MLS), in its order, and before the AEAD.
// Epoch 261: its byte is 261 mod 256 = 5.
const L3 = mls(3, 5, 0x00000001)
const s3: Sequence = {
  name: 'rule 6 (MLS epoch 261, leaves 3 and 7, maxKids 1): unknown-epoch, unknown-sender, kid-cache-full',
  receiver: { kind: 'mls', epoch: 261, leaves: [3, 7], maxKids: 1, oldestHeldWindow: 0 },
  steps: [
    open(sealed(mls(3, 4, 1), 0n, 0, 'leaf 3, epoch byte 4'), 0, 'unknown-epoch', []),
    open(sealed(mls(3, 6, 1), 0n, 0, 'leaf 3, epoch byte 6'), 0, 'unknown-epoch', []),
    open(
      sealed(mls(9, 4, 1), 0n, 0, 'leaf 9 (not in the group), epoch byte 4: 6a first'),
      0,
      'unknown-epoch',
      [],
    ),
    open(sealed(mls(9, 5, 1), 0n, 0, 'leaf 9, epoch byte 5'), 0, 'unknown-sender', []),
    open(tampered(sealed(L3, 0n, 0, ''), 'leaf 3, epoch byte 5, tampered'), 0, 'auth', []),
    open(sealed(L3, 0n, 0, 'leaf 3, epoch byte 5: the failed AEAD took no slot'), 0, 'opened', [
      L3,
    ]),
    open(
      sealed(mls(7, 5, 2), 0n, 0, 'leaf 7: the cache is full, nothing evictable'),
      0,
      'kid-cache-full',
      [L3],
    ),
    open(
      sealed(mls(7, 4, 2), 0n, 0, 'leaf 7, epoch byte 4, full cache: 6a first'),
      0,
      'unknown-epoch',
      [L3],
    ),
    open(sealed(mls(9, 5, 2), 0n, 0, 'leaf 9, full cache: 6b first'), 0, 'unknown-sender', [L3]),
    open(
      tampered(sealed(mls(7, 5, 2), 1n, 0, ''), 'leaf 7 tampered, full cache: 6c before the AEAD'),
      0,
      'kid-cache-full',
      [L3],
    ),
    open(sealed(L3, 1n, 0, 'cached KID: rule 6 is not asked again'), 0, 'opened', [L3]),
  ],
}

// Sequence 4: the replay window (rule 7, §6), checked before the AEAD.
const s4: Sequence = {
  name: 'rule 7 and §6: replay, too-old at exactly 2048 behind, checked before the AEAD',
  receiver: psk(),
  steps: [
    open(sealed(A, 0n, 0, 'counter 0'), 0, 'opened', [A]),
    open(sealed(A, 0n, 0, 'counter 0 again'), 0, 'replay', [A]),
    open(
      tampered(sealed(A, 0n, 0, ''), 'counter 0 again, tampered: rule 7 before rule 8'),
      0,
      'replay',
      [A],
    ),
    open(tampered(sealed(A, 3000n, 0, ''), 'counter 3000, tampered'), 0, 'auth', [A]),
    open(sealed(A, 1n, 0, 'counter 1: the forged 3000 did not move the window'), 0, 'opened', [A]),
    open(sealed(A, 2048n, 0, 'counter 2048'), 0, 'opened', [A]),
    open(sealed(A, 0n, 0, 'counter 0, 2048 behind: too-old before replay'), 0, 'too-old', [A]),
    open(sealed(A, 1n, 0, 'counter 1, 2047 behind, seen'), 0, 'replay', [A]),
    open(sealed(A, 2n, 0, 'counter 2, 2046 behind, not seen'), 0, 'opened', [A]),
    open(sealed(A, 3000n, 0, 'counter 3000, the real one'), 0, 'opened', [A]),
    open(sealed(A, 952n, 0, 'counter 952, 2048 behind'), 0, 'too-old', [A]),
    open(sealed(A, 953n, 0, 'counter 953, 2047 behind'), 0, 'opened', [A]),
    open(sealed(A, 2048n, 0, 'counter 2048, still in the window'), 0, 'replay', [A]),
    open(sealed(A, 2999n, 0, 'counter 2999 below the newest'), 0, 'opened', [A]),
    open(sealed(A, 3001n, 1, 'counter 3001 under the VFT of window 1, given window 0'), 0, 'auth', [
      A,
    ]),
    open(sealed(A, 3001n, 1, 'counter 3001 under window 1'), 1, 'opened', [A]),
    open(
      sealed(A, 3001n, 0, 'counter 3001 sealed again under window 0: the window is per KID'),
      0,
      'replay',
      [A],
    ),
    open(sealed(B, 3001n, 0, 'another KID, the same counter'), 0, 'opened', [A, B]),
  ],
}

// Sequence 5: the KID cache (§7): eviction only outside the held windows, oldest first.
const s5: Sequence = {
  name: '§7 (maxKids 2): kid-cache-full inside the held windows, eviction of the oldest outside them',
  receiver: psk(2),
  steps: [
    open(sealed(A, 0n, 0, 'A in window 0'), 0, 'opened', [A]),
    open(sealed(B, 0n, 1, 'B in window 1'), 1, 'opened', [A, B]),
    open(sealed(C, 0n, 1, 'C: A and B are inside the held windows (from 0)'), 1, 'kid-cache-full', [
      A,
      B,
    ]),
    setOldest(1),
    open(sealed(C, 0n, 1, 'C: A (last window 0) is evictable'), 1, 'opened', [B, C]),
    open(sealed(A, 1n, 1, 'A again: B and C were last seen in window 1'), 1, 'kid-cache-full', [
      B,
      C,
    ]),
    open(sealed(B, 1n, 2, 'B in window 2'), 2, 'opened', [B, C]),
    setOldest(2),
    open(
      tampered(sealed(A, 1n, 2, ''), 'A tampered: C is evictable, but the AEAD fails'),
      2,
      'auth',
      [B, C],
    ),
    open(sealed(C, 0n, 2, 'C counter 0 again under window 2: C was not evicted'), 2, 'replay', [
      B,
      C,
    ]),
    open(sealed(A, 1n, 2, 'A: C (last window 1) is evicted now'), 2, 'opened', [A, B]),
    open(sealed(A, 2n, 3, 'A in window 3'), 3, 'opened', [A, B]),
    setOldest(3),
    open(
      sealed(C, 0n, 3, 'C counter 0: B (window 2) is evicted; C starts a new window'),
      3,
      'opened',
      [A, C],
    ),
    open(sealed(B, 2n, 3, 'B: A and C were last seen in window 3'), 3, 'kid-cache-full', [A, C]),
    open(sealed(D, 0n, 4, 'D, window 4: nothing evictable'), 4, 'kid-cache-full', [A, C]),
    setOldest(4),
    open(sealed(A, 3n, 4, 'A in window 4'), 4, 'opened', [A, C]),
    open(sealed(D, 0n, 4, 'D: C (window 3) is the one evictable'), 4, 'opened', [A, D]),
  ],
}

const sequences = [s1, s2, s3, s4, s5]

// --- Stateless layer ------------------------------------------------------------

interface Stateless {
  frame: Frame
  keyKid: bigint
  window: number
  expect: Expect
}
const fA7 = sealed(A, 7n, 0, '')
const stateless: Stateless[] = [
  { frame: { ...fA7, note: 'the key of its KID' }, keyKid: A, window: 0, expect: 'opened' },
  {
    frame: { ...fA7, note: 'the key of another KID' },
    keyKid: B,
    window: 0,
    expect: 'unknown-sender',
  },
  { frame: tampered(fA7, 'tampered, the key of its KID'), keyKid: A, window: 0, expect: 'auth' },
  {
    frame: tampered(fA7, 'tampered, another KID: the KID check before the AEAD'),
    keyKid: B,
    window: 0,
    expect: 'unknown-sender',
  },
  { frame: { ...fA7, note: 'under another VFT' }, keyKid: A, window: 1, expect: 'auth' },
  {
    frame: sealedCtr(A, Buffer.from([0x00, 0x07]), 0, 'non-minimal CTR, another KID: rule 4 first'),
    keyKid: B,
    window: 0,
    expect: 'non-minimal-ctr',
  },
  {
    frame: sealed(A, 0x800000n, 0, 'counter 2^23: no counter limit here'),
    keyKid: A,
    window: 0,
    expect: 'opened',
  },
  {
    frame: sealed(A, 0x800000n, 0, 'counter 2^23, another KID'),
    keyKid: B,
    window: 0,
    expect: 'unknown-sender',
  },
  { frame: garbage(27, 0xff, 'config 0xFF'), keyKid: A, window: 0, expect: 'bad-config' },
  { frame: garbage(28, 0xfa, 'config 0xFA, 28 bytes'), keyKid: A, window: 0, expect: 'short' },
  { frame: garbage(26, 0xf8, '26 bytes'), keyKid: A, window: 0, expect: 'short' },
]

// --- Check against the reference and write ------------------------------------

const outcome = (r: RefOpen) => (r.ok ? 'opened' : r.reason)
const frameFields = (f: Frame) => ({
  note: f.note,
  ...(f.kid === undefined ? {} : { kid: kidHex(f.kid), ctr: hex(refCtrOf(f)) }),
  sealed: hex(f.sealed),
})
/** The CTR bytes of the clear header (as sealed, possibly non-minimal). */
function refCtrOf(f: Frame): Buffer {
  const mask = refMask(hpKey, f.sealed.subarray(f.sealed.length - 16))
  const ctrLen = ((f.sealed[0]! ^ mask[0]!) & 7) + 1
  return Buffer.from(f.sealed.subarray(9, 9 + ctrLen).map((b, i) => b ^ mask[9 + i]!))
}

let failures = 0
function agree(what: string, got: unknown, want: unknown): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    failures++
    console.error(
      `${what}: reference gives ${JSON.stringify(got)}, by hand ${JSON.stringify(want)}`,
    )
  }
}

const sortedKids = (kids: Iterable<bigint>) => [...kids].map(kidHex).sort()
let stepCount = 0
const outSequences = sequences.map((seq) => {
  const ref = new RefReceiver(frameBase, hpKey, seq.receiver)
  const steps = seq.steps.map((step, i) => {
    if ('set' in step) {
      ref.oldestHeldWindow = step.set
      return { setOldestHeldWindow: step.set }
    }
    stepCount++
    const vft = vftOf(step.window)
    const got = ref.open(step.frame.sealed, vft, step.window)
    agree(`${seq.name} step ${i}`, outcome(got), step.expect)
    agree(`${seq.name} step ${i} cache`, sortedKids(ref.cache.keys()), sortedKids(step.kids))
    if (got.ok)
      agree(`${seq.name} step ${i} plaintext`, hex(got.plaintext), hex(step.frame.plaintext!))
    return {
      ...frameFields(step.frame),
      window: step.window,
      vft: hex(vft),
      outcome: step.expect,
      ...(got.ok ? { plaintext: hex(got.plaintext) } : {}),
      kids: sortedKids(step.kids),
    }
  })
  return { name: seq.name, receiver: seq.receiver, steps }
})

const outStateless = stateless.map((c, i) => {
  const vft = vftOf(c.window)
  const got = refOpenWithKey(frameBase, hpKey, c.keyKid, vft, c.frame.sealed)
  agree(`stateless ${i}`, outcome(got), c.expect)
  return {
    ...frameFields(c.frame),
    keyKid: kidHex(c.keyKid),
    vft: hex(vft),
    outcome: c.expect,
    ...(got.ok ? { plaintext: hex(got.plaintext) } : {}),
  }
})

if (failures > 0) {
  console.error(`${failures} disagreement(s): receive.json not written`)
  process.exit(1)
}
writeFileSync(
  new URL('receive.json', here),
  `${JSON.stringify(
    {
      description: 'README.md: receive.json',
      secret: hex(secret),
      frameBase: hex(frameBase),
      hpKey: hex(hpKey),
      sequences: outSequences,
      stateless: outStateless,
    },
    null,
    2,
  )}\n`,
)
console.log(
  `wrote ${outSequences.length} sequences (${stepCount} frames) and ${outStateless.length} stateless cases`,
)
