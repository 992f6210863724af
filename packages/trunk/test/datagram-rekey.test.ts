/**
 * Spec 13 §3-§4: no (key, nonce) pair is ever sealed twice and no datagram
 * is ever taken twice, whatever offers, losses and restarts come. Two
 * datagram links over the in-memory pipe; every GCM seal of both sides is
 * logged, every datagram delivered is kept and replayed after each step.
 */
import { type Aes256Gcm, type AesPrimitives, nodeAes } from '@peertap/crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  type DatagramLink,
  type DatagramOffer,
  DatagramSealer,
  decodeOffer,
  derivePathKey,
} from '../src/index.ts'
import { pair } from './datagram-pair.ts'
import { makeFrames, until } from './helpers.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** node:crypto AES-256-GCM that logs the key and nonce of every seal. */
function recordingAes(log: string[]): AesPrimitives {
  return {
    name: 'recording node:crypto',
    gcm(key): Aes256Gcm {
      const gcm = nodeAes.gcm(key)
      const k = hex(key)
      return {
        seal: (...args: Parameters<Aes256Gcm['seal']>) => {
          log.push(`${k} ${hex(args[0])}`)
          gcm.seal(...args)
        },
        open: (...args: Parameters<Aes256Gcm['open']>) => gcm.open(...args),
      }
    },
    ecb: (key) => nodeAes.ecb(key),
  }
}

const open: DatagramLink[] = []
afterEach(async () => {
  for (const l of open.splice(0)) await l.close()
})

/** A pair whose seals and delivered datagrams are recorded, with the checks every step ends with. */
function recordedPair() {
  const sealed: string[] = []
  const wire: Array<{ from: 0 | 1; buf: Buffer }> = []
  const p = pair({
    aes: recordingAes(sealed),
    onDelivered: (from, buf) => wire.push({ from, buf: Buffer.from(buf) }),
  })
  open.push(...p.links)
  let tag = 0

  const bothUp = (step: string) =>
    until(() => p.links.every((l) => l.status === 'up'), 3000, `${step}: path up`)

  /** Frames cross the path both ways (not the stream link). */
  const framesFlow = async (step: string, count: number) => {
    await bothUp(step)
    for (const from of [0, 1] as const) {
      const to = 1 - from
      const n = p.got[to]!.length
      const before = p.links[from]!.counters.framesSent
      p.links[from]!.sendFrames(makeFrames(count, 100, ++tag))
      await until(() => p.got[to]!.length === n + count, 2000, `${step}: frames ${from} -> ${to}`)
      expect(p.links[from]!.counters.framesSent - before, step).toBe(count)
    }
  }

  const noNonceRepeats = (step: string) => {
    const seen = new Set<string>()
    const repeats = sealed.filter((x) => seen.has(x) || !seen.add(x))
    expect(repeats, `${step}: (key, nonce) sealed twice`).toEqual([])
  }

  /** Every datagram delivered so far, replayed into the link now receiving from its sender. */
  const replaysRefused = async (step: string) => {
    for (const from of [0, 1] as const) {
      const to = 1 - from
      const rx = p.links[to]!
      const before = { ...rx.counters }
      const frames = p.got[to]!.length
      const mine = wire.filter((w) => w.from === from)
      for (const w of mine) rx.receive(Buffer.from(w.buf), `10.0.0.${from + 1}`, 7000 + from)
      const c = rx.counters
      const refused =
        c.dropReplay +
        c.dropTooOld +
        c.dropAuth +
        c.dropNoKeys +
        c.dropMalformed -
        (before.dropReplay +
          before.dropTooOld +
          before.dropAuth +
          before.dropNoKeys +
          before.dropMalformed)
      expect(c.datagramsReceived - before.datagramsReceived, `${step}: replays taken`).toBe(0)
      expect(refused, `${step}: replays refused ${from} -> ${to}`).toBe(mine.length)
      expect(c.datagramsSent, `${step}: answered a replay`).toBe(before.datagramsSent)
      await new Promise((r) => setImmediate(r))
      expect(p.got[to]!.length, `${step}: replayed frames delivered`).toBe(frames)
    }
  }

  /** Frames flow; nothing sealed twice; nothing delivered so far is taken again. */
  const check = async (step: string, frames = 5) => {
    // Offers travel as microtasks: let them land before judging the path.
    await new Promise((r) => setTimeout(r, 30))
    await framesFlow(step, frames)
    // Let the PINGs and PONGs in flight land before replaying them.
    await new Promise((r) => setTimeout(r, 30))
    noNonceRepeats(step)
    await replaysRefused(step)
    expect(wire.length).toBeGreaterThan(0)
  }

  /** Cuts the pipe and keeps both sides sending until each has lost the path. */
  const losePath = async (step: string) => {
    p.cut.ab = true
    p.cut.ba = true
    const end = performance.now() + 3000
    while (p.links.some((l) => l.state === 'up')) {
      for (const l of p.links) l.sendFrames(makeFrames(1, 100))
      await new Promise((r) => setTimeout(r, 10))
      if (performance.now() > end) throw new Error(`${step}: path never lost`)
    }
  }

  const heal = () => {
    p.cut.ab = false
    p.cut.ba = false
  }

  const restart = async (i: 0 | 1) => {
    const l = await p.restart(i)
    open.push(l)
    return l
  }

  return { ...p, sealed, wire, check, losePath, heal, restart }
}

describe('datagram link keys across offers (spec 13 §3-§4)', () => {
  it('keeps the counter across DatagramSealer.rekey', () => {
    const sealer = new DatagramSealer(derivePathKey(key(1), key(2)), 9)
    const frame = makeFrames(1, 64)[0]!
    for (let i = 0; i < 3; i++) sealer.sealData(frame)
    sealer.rekey(derivePathKey(key(1), key(3)), 10)
    const d = sealer.sealData(frame)!
    expect(d.readUInt32BE(1)).toBe(10)
    expect(d.readUInt32BE(5)).toBe(3)
  })

  it('seals no (key, nonce) twice and takes no datagram twice through offers, losses and restarts', async () => {
    const h = recordedPair()
    const l = h.links

    l[0]!.sendOffer()
    l[1]!.sendOffer()
    // Counters well ahead of what a re-probe uses, so a reset window would take replays.
    await h.check('first offers', 50)

    // The offers in force, sent again both ways: nothing changes, the path stays up.
    l[0]!.sendOffer()
    l[1]!.sendOffer()
    await h.check('offers sent again')
    expect(l.map((x) => x.counters.offersReceived)).toEqual([2, 2])
    expect(l.map((x) => x.counters.pathLosses)).toEqual([0, 0])

    // Both sides offer afresh at once; each takes the other's after making its own.
    l[0]!.reoffer([])
    l[1]!.reoffer([])
    await h.check('crossed offers')

    // The path is lost; a fresh offer from one side and the one in force from the other while lost.
    await h.losePath('loss 1')
    l[0]!.reoffer([])
    l[1]!.sendOffer()
    h.heal()
    await h.check('offers after a loss')

    // Lost and found again with no offer at all: the same keys go on.
    await h.losePath('loss 2')
    h.heal()
    await h.check('re-probe')

    // A's counter is spent: it offers afresh and starts again from 0 under new keys.
    const offersSent = l[0]!.counters.offersSent
    const spent = vi.spyOn(DatagramSealer.prototype, 'exhausted', 'get').mockReturnValueOnce(true)
    l[0]!.sendFrames(makeFrames(1, 100))
    spent.mockRestore()
    expect(l[0]!.counters.offersSent).toBe(offersSent + 1)
    await h.check('counter spent')

    // B restarts: a new link and offer; A offers its own again (a new stream link would).
    const b2 = await h.restart(1)
    b2.sendOffer()
    l[0]!.sendOffer()
    await h.check('B restarted')

    const a2 = await h.restart(0)
    a2.sendOffer()
    l[1]!.sendOffer()
    await h.check('A restarted')

    expect(l.map((x) => x.counters.staleOffers)).toEqual([0, 0])
    // The log really holds what both sides sealed: DATA, PINGs and PONGs of every step.
    expect(h.sealed.length).toBeGreaterThan(100)
  })

  it('refuses an offer the neighbour replaced, and its own path key', async () => {
    const h = recordedPair()
    const [a, b] = h.links as [DatagramLink, DatagramLink]
    a.sendOffer()
    b.sendOffer()
    await h.check('first offers')
    const old = a.offerBytes()
    a.reoffer([])
    await h.check('fresh offer')
    const losses = b.counters.pathLosses
    expect(b.acceptOffer(decodeOffer(old))).toBe(false)
    expect(b.counters.staleOffers).toBe(1)
    expect(b.acceptOffer(decodeOffer(b.offerBytes()))).toBe(false)
    expect(b.counters.badOffers).toBe(1)
    expect(b.state).toBe('up')
    expect(b.counters.pathLosses).toBe(losses)
    await h.check('stale offer refused')
  })

  it('past 64 path keys, offers afresh before it forgets them', async () => {
    const h = recordedPair()
    const [a, b] = h.links as [DatagramLink, DatagramLink]
    a.sendOffer()
    b.sendOffer()
    await h.check('first offers')
    const fake = (): DatagramOffer => ({
      receiverIndex: 100,
      pathKey: crypto.getRandomValues(new Uint8Array(32)),
      port: 7000,
      addresses: [],
    })
    const ownKey = () => hex(decodeOffer(b.offerBytes())!.pathKey)
    const before = ownKey()
    // A's key and 63 others: B remembers all 64 and keeps its own offer.
    const fakes = Array.from({ length: 63 }, fake)
    for (const f of fakes) expect(b.acceptOffer(f)).toBe(true)
    expect(ownKey()).toBe(before)
    expect(b.acceptOffer(fakes[10])).toBe(false)
    // The 65th: B offers afresh (its counter restarts under a key no one used) and forgets the rest.
    const offersSent = b.counters.offersSent
    expect(b.acceptOffer(fake())).toBe(true)
    expect(ownKey()).not.toBe(before)
    expect(b.counters.offersSent).toBe(offersSent + 1)
    // A forgotten key is new again, and harmless: B's half of every key is fresh.
    expect(b.acceptOffer(fakes[10])).toBe(true)
    // A took B's fresh offer; A's own offer, forgotten by B, brings the path back.
    a.sendOffer()
    await h.check('after the bound')
    expect(b.counters.staleOffers).toBe(1)
  })
})

function key(b: number): Uint8Array {
  return new Uint8Array(32).fill(b)
}
