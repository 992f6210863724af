/**
 * The fast path's native core (src/flow-core.cc) against the vectors of the
 * TypeScript references it transcribes: the sealed payload
 * (@peertap/crypto's seal.json and receive.json, docs/spec/04) and the DATA
 * datagram (@peertap/trunk's datagram.json, docs/spec/13: in
 * packages/trunk/test/flow-core-datagram.test.ts, as the trunk's tests may
 * use this package and not the other way round), byte for byte and
 * decision for decision; and the cells it shares with JavaScript
 * (src/flow.ts), raced from a native thread and compared with
 * @peertap/crypto's ReplayWindow.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  derivePskEpochSecrets,
  deriveSenderKeyMaterial,
  FrameReceiver,
  FrameSender,
  ReplayWindow,
  type SharedCells,
} from '@peertap/crypto'
import { describe, expect, it } from 'vitest'
import { FlowCells, WINDOW_WORDS } from '../src/flow.ts'
import { native } from '../src/native.ts'
import { canLoadAddon } from './helpers.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
/** A vector file another package publishes (its `./vectors/*` export). */
const vectors = (specifier: string) =>
  JSON.parse(readFileSync(fileURLToPath(import.meta.resolve(specifier)), 'utf8'))

const PAYLOAD_DROPS = ['opened', 'short', 'bad-config', 'non-minimal-ctr', 'ctr-limit', 'auth']
const WINDOW = ['fresh', 'replay', 'too-old'] as const

const skip = canLoadAddon() ? false : 'the @peertap/tap addon is not built'

describe.skipIf(skip)('fast path core: the sealed payload', () => {
  const seal = vectors('@peertap/crypto/vectors/seal.json')
  const frameBase = bytes(seal.frameBase)
  const hpKey = bytes(seal.hpKey)

  // With each AES the cache may use (src/cipher.h): its own AES-NI code and
  // OpenSSL's EVP (test/cipher.test.ts compares them further).
  const impls = (): Array<'evp' | 'ni'> => (native().flowAesImpl().ni ? ['evp', 'ni'] : ['evp'])

  it('seals every seal.json case to its bytes and opens it back, with each AES', () => {
    expect(seal.cases.length).toBeGreaterThan(5)
    for (const impl of impls()) {
      native().flowAesImpl(impl)
      try {
        for (const c of seal.cases) {
          const name = `${impl} ${c.name}`
          const { key, salt } = deriveSenderKeyMaterial(frameBase, BigInt(`0x${c.kid}`))
          const vft = bytes(c.vft)
          const sealed = native().flowSealPayload(
            key,
            salt,
            bytes(c.kid),
            hpKey,
            vft,
            c.counter,
            bytes(c.plaintext),
          )
          expect(hex(sealed), name).toBe(c.sealed)
          const opened = native().flowOpenPayload(key, salt, hpKey, vft, sealed)
          // A receiver drops counters from 2^23 on (rule 5) before the AEAD.
          expect(PAYLOAD_DROPS[opened.drop], name).toBe(
            c.counter >= 2 ** 23 ? 'ctr-limit' : 'opened',
          )
          expect(opened.kid, name).toBe(BigInt(`0x${c.kid}`))
          expect(opened.counter, name).toBe(c.counter)
          if (c.counter < 2 ** 23) expect(hex(opened.plaintext!), name).toBe(c.plaintext)
        }
      } finally {
        native().flowAesImpl('auto')
      }
    }
  })

  it("decides every stateless receive.json case as the reference's header rules and AEAD do", () => {
    const receive = vectors('@peertap/crypto/vectors/receive.json')
    for (const c of receive.stateless) {
      const { key, salt } = deriveSenderKeyMaterial(frameBase, BigInt(`0x${c.keyKid}`))
      const got = native().flowOpenPayload(key, salt, hpKey, bytes(c.vft), bytes(c.sealed))
      let outcome = PAYLOAD_DROPS[got.drop]
      // The KID check is the caller's (the flow cache looks the KID up): a
      // header naming another KID than the key's never reaches the AEAD.
      if (got.kid !== undefined && got.kid !== BigInt(`0x${c.keyKid}`) && got.drop !== 3) {
        outcome = 'unknown-sender'
      }
      // The stateless layer has no counter limit; the fast path is a
      // stateful receiver and applies rule 5 (the sequences check it).
      if (outcome === 'ctr-limit') {
        expect(c.note).toContain('2^23')
        continue
      }
      expect(outcome, c.note).toBe(c.outcome)
      if (c.plaintext !== undefined) expect(hex(got.plaintext!), c.note).toBe(c.plaintext)
    }
  })

  it('takes the PSK receive.json sequences of a roomy KID cache to their outcomes with a window per KID in shared cells', () => {
    // The KID cache (which KIDs the flow cache holds, and its evictions) is
    // the TypeScript receiver's: it installs the KIDs the native side opens.
    const receive = vectors('@peertap/crypto/vectors/receive.json')
    const sequences = receive.sequences.filter(
      (s: { receiver: { kind: string; maxKids: number } }) =>
        s.receiver.kind === 'psk' && s.receiver.maxKids >= 1024,
    )
    expect(sequences.length).toBeGreaterThanOrEqual(2)
    for (const s of sequences) {
      const cells = new FlowCells(64 * WINDOW_WORDS)
      const windows = new Map<bigint, number>()
      for (const step of s.steps) {
        const vft = bytes(step.vft)
        const head = native().flowOpenPayload(null, null, hpKey, vft, bytes(step.sealed))
        if (head.drop !== 0) {
          expect(PAYLOAD_DROPS[head.drop], step.note).toBe(step.outcome)
          continue
        }
        const kid = head.kid!
        const w = windows.get(kid)
        const before = w === undefined ? 'fresh' : cells.check(w, head.counter!)
        if (before !== 'fresh') {
          expect(before, step.note).toBe(step.outcome)
          continue
        }
        const { key, salt } = deriveSenderKeyMaterial(frameBase, kid)
        const got = native().flowOpenPayload(key, salt, hpKey, vft, bytes(step.sealed))
        if (got.drop !== 0) {
          expect(PAYLOAD_DROPS[got.drop], step.note).toBe(step.outcome)
          continue
        }
        const window = w ?? cells.newWindow()
        windows.set(kid, window)
        // The native side marks here, as the reader thread would.
        expect(WINDOW[native().flowWindow(1, cells.words, window, head.counter!)]).toBe('fresh')
        expect('opened', step.note).toBe(step.outcome)
        expect(hex(got.plaintext!), step.note).toBe(step.plaintext)
      }
    }
  })

  it('refuses a sealed payload of every length below 27 and every flipped bit of a valid one, and never throws', () => {
    const c = seal.cases[0]
    const { key, salt } = deriveSenderKeyMaterial(frameBase, BigInt(`0x${c.kid}`))
    const sealed = bytes(c.sealed)
    for (let n = 0; n < 27; n++) {
      expect(
        native().flowOpenPayload(key, salt, hpKey, bytes(c.vft), sealed.subarray(0, n)).drop,
      ).toBe(1)
    }
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const bad = sealed.slice()
      bad[bit >> 3]! ^= 1 << (bit & 7)
      const got = native().flowOpenPayload(key, salt, hpKey, bytes(c.vft), bad)
      expect(got.drop).not.toBe(0)
      expect(got.plaintext).toBeUndefined()
    }
  })
})

describe.skipIf(skip)('fast path core: cells shared with JavaScript', () => {
  it('gives the same verdicts as ReplayWindow, natively and in JavaScript, over random counters', () => {
    const cells = new FlowCells(2 * WINDOW_WORDS)
    const jsCell = cells.newWindow()
    const nativeCell = cells.newWindow()
    const reference = new ReplayWindow()
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) >>> 0
      return seed
    }
    let base = 0
    for (let i = 0; i < 20_000; i++) {
      // Mostly near the front, sometimes far behind or far ahead.
      const r = random()
      base += r % 7 === 0 ? r % 3000 : r % 3
      const counter = Math.max(0, Math.min(0x7fffffff, base - (random() % 2600)))
      const expected = reference.check(counter) ?? 'fresh'
      expect(cells.check(jsCell, counter)).toBe(expected)
      expect(WINDOW[native().flowWindow(0, cells.words, nativeCell, counter)]).toBe(expected)
      if (expected === 'fresh' && random() % 4 !== 0) {
        reference.update(counter)
        expect(cells.accept(jsCell, counter)).toBe('fresh')
        expect(WINDOW[native().flowWindow(1, cells.words, nativeCell, counter)]).toBe('fresh')
      }
    }
    expect(reference.last).toBeGreaterThan(100_000)
  })

  it('never hands one counter to both sides nor accepts one counter twice while a native thread races JavaScript', () => {
    // One round: a native thread and this loop each take n counters from
    // one cell and try to accept n window counters near the front (i, or
    // up to 63 past it: the two collide on some), both at once.
    const round = (n: number) => {
      const cells = new FlowCells(2 + WINDOW_WORDS)
      const counter = cells.newCounter()
      const go = cells.newCounter()
      const window = cells.newWindow()
      const race = native().flowRaceStart(cells.words, counter, window, go, n)
      const mine = new Int32Array(n)
      const tried = new Int32Array(n)
      const accepted = new Uint8Array(n)
      let seed = 12345
      Atomics.store(cells.words, go, 1)
      for (let i = 0; i < n; i++) {
        mine[i] = cells.takeCounters(counter, 1, 0x7fffffff)
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
        tried[i] = i + (seed >>> 26)
        accepted[i] = cells.accept(window, tried[i]!) === 'fresh' ? 1 : 0
      }
      const theirs = native().flowRaceJoin(race)
      // Every counter below 2n went to exactly one side.
      const seen = new Uint8Array(2 * n)
      let repeated = 0
      for (const c of [...mine, ...theirs.counters]) {
        if (c < 0 || seen[c] === 1) repeated++
        else seen[c] = 1
      }
      expect(repeated, 'counters handed out twice').toBe(0)
      expect(seen.every((x) => x === 1)).toBe(true)
      expect(Atomics.load(cells.words, counter)).toBe(2 * n)
      // No window counter was accepted twice, by one side or both.
      const taken = new Uint8Array(n + 64)
      let twice = 0
      for (const [t, a] of [
        [tried, accepted],
        [theirs.tried, theirs.accepted],
      ] as const) {
        for (let i = 0; i < n; i++) {
          if (a[i] !== 1) continue
          if (taken[t[i]!] === 1) twice++
          taken[t[i]!] = 1
        }
      }
      expect(twice, 'window counters accepted twice').toBe(0)
      // How much the two really overlapped: runs of this side's counters
      // broken by the other side's.
      let overlap = 0
      for (let i = 1; i < n; i++) if (mine[i] !== mine[i - 1]! + 1) overlap++
      return overlap
    }
    // Rounds until the two sides have overlapped a good deal (a busy machine
    // may run them one after the other for a while).
    let overlap = 0
    for (let r = 0; r < 30 && overlap < 2000; r++) overlap += round(20_000)
    expect(
      overlap,
      'times the native thread took counters between two of ours',
    ).toBeGreaterThanOrEqual(2000)
  })

  it('stops a counter at its limit for both sides', () => {
    const cells = new FlowCells(8)
    const c = cells.newCounter()
    for (let i = 0; i < 5; i++) {
      expect(
        i % 2 ? cells.takeCounters(c, 1, 5) : native().flowCounterTake(cells.words, c, 5),
      ).toBe(i)
    }
    expect(cells.takeCounters(c, 1, 5)).toBe(-1)
    expect(native().flowCounterTake(cells.words, c, 5)).toBe(-1)
    expect(Atomics.load(cells.words, c)).toBe(5)
  })

  it('refuses cells outside the arena natively; past a full arena hands out private cells that work the same', () => {
    const cells = new FlowCells(WINDOW_WORDS)
    expect(() => native().flowWindow(1, cells.words, 1, 0)).toThrow(TypeError)
    expect(() => native().flowCounterTake(cells.words, WINDOW_WORDS, 9)).toThrow(TypeError)
    expect(() => native().flowWindow(1, cells.words, 0, 2 ** 31)).toThrow(TypeError)
    const shared = cells.newWindow()
    expect(cells.shared(shared, WINDOW_WORDS)).toBe(true)
    // The arena is full: the next cells are JavaScript's alone, and nothing throws.
    const own = cells.newWindow()
    const counter = cells.newCounter()
    expect(cells.block()).toBe(-1)
    for (const cell of [own, counter]) expect(cells.shared(cell)).toBe(false)
    expect(cells.accept(own, 5)).toBe('fresh')
    expect(cells.accept(own, 5)).toBe('replay')
    expect(cells.check(own, 5000)).toBe('fresh')
    expect(cells.takeCounters(counter, 3, 10)).toBe(0)
    expect(cells.takeCounters(counter, 3, 10)).toBe(3)
    expect(cells.readBlock(-1)).toEqual([0, 0, 0, 0])
    // Freed cells come back only after reclaim() (the flow cache cleared).
    cells.free(shared, 'window')
    expect(cells.shared(cells.newWindow(), WINDOW_WORDS)).toBe(false)
    cells.reclaim()
    expect(cells.newWindow()).toBe(shared)
  })

  it("an epoch's sender and receiver give their cells back when disposed", () => {
    const secrets = derivePskEpochSecrets(new Uint8Array(32).fill(9))
    const cells = new FlowCells(8 * WINDOW_WORDS)
    const sender = new FrameSender({ kind: 'psk', secrets, cells: cells as FlowCells })
    const receiver = new FrameReceiver({ kind: 'psk', secrets, cells })
    const vft = new Uint8Array(16).fill(4)
    expect(receiver.open(sender.seal(vft, new Uint8Array([0, 1])), vft, 0)).toBeInstanceOf(
      Uint8Array,
    )
    const counterCell = sender.flowKey()!.counterCell
    const k = sender.flowKey()!.kid
    const window = receiver.flowKid(
      Buffer.from(k).readUInt32BE(0),
      Buffer.from(k).readUInt32BE(4),
    )!.windowCell
    sender.dispose()
    receiver.dispose()
    cells.reclaim()
    const again = [cells.newCounter(), cells.newWindow()]
    expect(again).toEqual([counterCell, window])
  })
})

describe.skipIf(skip)('fast path core: @peertap/crypto over shared cells', () => {
  it('a FrameSender and the native core seal under one key from one counter cell; a FrameReceiver opens both, each once', () => {
    const secrets = derivePskEpochSecrets(new Uint8Array(32).fill(7))
    const cells: SharedCells = new FlowCells(4 * WINDOW_WORDS)
    const sender = new FrameSender({ kind: 'psk', secrets, cells: cells as FlowCells })
    const receiver = new FrameReceiver({ kind: 'psk', secrets, cells })
    const k = sender.flowKey()!
    const vft = new Uint8Array(16).fill(3)
    const sealed: Uint8Array[] = []
    const counters: number[] = []
    for (let i = 0; i < 40; i++) {
      const pt = new Uint8Array([0, i, i, i])
      if (i % 3 === 0) {
        // The native side takes its counter from the same cell.
        const c = (cells as FlowCells).takeCounters(k.counterCell, 1, 2 ** 23)
        counters.push(c)
        sealed.push(native().flowSealPayload(k.key, k.salt, k.kid, secrets.hpKey, vft, c, pt))
      } else {
        counters.push(sender.counter)
        sealed.push(sender.seal(vft, pt))
      }
    }
    // One sequence of counters, no repeat.
    expect(new Set(counters).size).toBe(40)
    for (const s of sealed) expect(receiver.open(s, vft, 0)).toBeInstanceOf(Uint8Array)
    // Every one again: refused, through the shared windows.
    for (const s of sealed) expect(receiver.open(s, vft, 0)).toBe('replay')
    const kid = receiver.flowKid(
      Buffer.from(k.kid).readUInt32BE(0),
      Buffer.from(k.kid).readUInt32BE(4),
    )!
    expect(Buffer.from(kid.key).equals(Buffer.from(k.key))).toBe(true)
    // The native side sees the receiver's marks in the same window cell.
    for (const c of counters)
      expect(
        WINDOW[native().flowWindow(0, (cells as FlowCells).words, kid.windowCell, c)],
      ).not.toBe('fresh')
  })
})
