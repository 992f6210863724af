// Every vector set of test/vectors/ (written by generate.py from the spec
// alone) checked forwards, backwards and with a flipped bit.
import { describe, expect, it } from 'vitest'
import {
  base58btc,
  Directory,
  decodeFabricEpoch,
  decodePresence,
  decodePresenceBatch,
  decodePresenceFrame,
  encodePresenceBatch,
  encodePresenceFrame,
  fabricKeys,
  mvlanPortMac,
  type PresenceRole,
  rootKeyOf,
  signFabricEpoch,
  signPresence,
  verifyFabricEpoch,
  verifyPresence,
} from '../src/index.ts'
import { flip, hex, toHex, vectors } from './helpers.ts'

interface Named {
  name: string
}

describe('keys.json', () => {
  const v = vectors<{
    fabrics: {
      secret: string
      mvlanId: string
      frameBase: string
      vftKey: string
      hpKey: string
      credentialSeed: string
      credentialKey: string
    }[]
    portMacs: { peerId: string; mac: string }[]
  }>('keys.json')

  it('fabricKeys gives every key of every secret', () => {
    expect(v.fabrics.length).toBeGreaterThan(0)
    for (const f of v.fabrics) {
      const keys = fabricKeys(hex(f.secret))
      expect(toHex(keys.mvlanId)).toBe(f.mvlanId)
      expect(toHex(keys.secrets.frameBase)).toBe(f.frameBase)
      expect(toHex(keys.secrets.vftKey)).toBe(f.vftKey)
      expect(toHex(keys.secrets.hpKey)).toBe(f.hpKey)
      expect(toHex(keys.credentialSeed)).toBe(f.credentialSeed)
      expect(toHex(keys.credentialKey)).toBe(f.credentialKey)
      // A flipped bit of the secret changes every key.
      const other = fabricKeys(flip(hex(f.secret), 0))
      expect(toHex(other.mvlanId)).not.toBe(f.mvlanId)
      expect(toHex(other.credentialKey)).not.toBe(f.credentialKey)
    }
  })

  it('mvlanPortMac gives every MAC', () => {
    for (const m of v.portMacs) {
      expect(toHex(mvlanPortMac(hex(m.peerId)))).toBe(m.mac)
      expect(toHex(mvlanPortMac(flip(hex(m.peerId), 10)))).not.toBe(m.mac)
    }
  })
})

describe('statements.json', () => {
  const v = vectors<{
    valid: {
      rootSeed: string
      rootKey: string
      epoch: number
      credentialKey: string
      issuedAt: number
      statement: string
    }[]
    malformed: (Named & { statement: string })[]
    forged: (Named & { statement: string })[]
  }>('statements.json')

  it('signs every valid statement to the same bytes, reads it back and verifies it', () => {
    for (const s of v.valid) {
      const bytes = signFabricEpoch({
        rootSeed: hex(s.rootSeed),
        epoch: s.epoch,
        credentialKey: hex(s.credentialKey),
        issuedAt: s.issuedAt,
      })
      expect(toHex(bytes)).toBe(s.statement)
      expect(toHex(rootKeyOf(hex(s.rootSeed)))).toBe(s.rootKey)
      const d = decodeFabricEpoch(hex(s.statement))
      if (!d.ok) throw new Error('malformed')
      expect(toHex(d.statement.rootKey)).toBe(s.rootKey)
      expect(d.statement.epoch).toBe(s.epoch)
      expect(toHex(d.statement.credentialKey)).toBe(s.credentialKey)
      expect(d.statement.issuedAt).toBe(s.issuedAt)
      expect(verifyFabricEpoch(d.statement)).toBe(true)
      const flipped = decodeFabricEpoch(flip(hex(s.statement), 100))
      expect(flipped.ok && verifyFabricEpoch(flipped.statement)).toBe(false)
    }
  })

  it('refuses every malformed statement and does not verify any forged one', () => {
    expect(v.malformed.length + v.forged.length).toBeGreaterThan(0)
    for (const s of v.malformed) {
      expect(decodeFabricEpoch(hex(s.statement)), s.name).toEqual({
        ok: false,
        reason: 'malformed',
      })
    }
    for (const s of v.forged) {
      const d = decodeFabricEpoch(hex(s.statement))
      expect(d.ok, s.name).toBe(true)
      expect(d.ok && verifyFabricEpoch(d.statement), s.name).toBe(false)
    }
  })
})

describe('presence.json', () => {
  const v = vectors<{
    valid: {
      seed: string
      role: PresenceRole
      peerId: string
      seq: string
      issuedAt: number
      expiresAt: number
      addresses: string[]
      vlans: { vlanId: string; name?: string }[]
      load: number
      record: string
    }[]
    malformed: (Named & { record: string })[]
    forged: (Named & { record: string })[]
  }>('presence.json')

  it('signs every valid record to the same bytes, reads it back and verifies it', () => {
    for (const r of v.valid) {
      const fields = {
        role: r.role,
        peerId: hex(r.peerId),
        seq: BigInt(r.seq),
        issuedAt: r.issuedAt,
        expiresAt: r.expiresAt,
        addresses: r.addresses,
        vlans: r.vlans.map((x) => ({
          vlanId: hex(x.vlanId),
          ...(x.name === undefined ? {} : { name: x.name }),
        })),
        load: r.load,
      }
      expect(toHex(signPresence({ seed: hex(r.seed), ...fields }))).toBe(r.record)
      const d = decodePresence(hex(r.record))
      if (!d.ok) throw new Error('malformed')
      expect({ ...d.record, bytes: undefined }).toEqual({ ...fields, bytes: undefined })
      expect(verifyPresence(d.record)).toBe(true)
      const flipped = decodePresence(flip(hex(r.record), r.record.length / 2 - 1))
      expect(flipped.ok && verifyPresence(flipped.record)).toBe(false)
    }
  })

  it('refuses every malformed record and does not verify any forged one', () => {
    for (const r of v.malformed) {
      expect(decodePresence(hex(r.record)), r.name).toEqual({ ok: false, reason: 'malformed' })
    }
    for (const r of v.forged) {
      const d = decodePresence(hex(r.record))
      expect(d.ok, r.name).toBe(true)
      expect(d.ok && verifyPresence(d.record), r.name).toBe(false)
    }
  })
})

describe('frames.json', () => {
  const v = vectors<{
    frames: { dst: string; src: string; record: string; frame: string }[]
    badFrames: (Named & { frame: string })[]
    batches: { records: string[]; batch: string }[]
    badBatches: (Named & { batch: string })[]
  }>('frames.json')

  it('writes and reads every frame and batch', () => {
    for (const f of v.frames) {
      expect(
        toHex(encodePresenceFrame({ dst: hex(f.dst), src: hex(f.src), record: hex(f.record) })),
      ).toBe(f.frame)
      const d = decodePresenceFrame(hex(f.frame))
      expect(d && toHex(d.src)).toBe(f.src)
      expect(d && toHex(d.record)).toBe(f.record)
      expect(decodePresenceFrame(flip(hex(f.frame), 12))).toBeUndefined()
    }
    for (const b of v.batches) {
      expect(toHex(encodePresenceBatch(b.records.map(hex)))).toBe(b.batch)
      expect(decodePresenceBatch(hex(b.batch))?.map(toHex)).toEqual(b.records)
      expect(decodePresenceBatch(flip(hex(b.batch), 0))).toBeUndefined()
    }
  })

  it('rejects every bad frame and batch', () => {
    for (const f of v.badFrames) expect(decodePresenceFrame(hex(f.frame)), f.name).toBeUndefined()
    for (const b of v.badBatches) expect(decodePresenceBatch(hex(b.batch)), b.name).toBeUndefined()
  })
})

describe('directory.json', () => {
  const v = vectors<{
    limits: {
      maxPeers: number
      maxRelays: number
      recordsPerPeerPerMinute: number
      maxLifetimeSeconds: number
      clockSkewSeconds: number
    }
    self: string
    steps: {
      what: string
      record: string
      now: number
      role?: PresenceRole
      expect: { change?: 'new' | 'updated'; reason?: string }
    }[]
    final: { peerId: string; role: PresenceRole; seq: string }[]
  }>('directory.json')

  it('gives every step its outcome and ends with the same entries', () => {
    const d = new Directory({ ...v.limits, self: hex(v.self) })
    for (const step of v.steps) {
      const result = d.offer(hex(step.record), step.now, step.role ? { role: step.role } : {})
      expect(result.ok ? { change: result.change } : { reason: result.reason }, step.what).toEqual(
        step.expect,
      )
    }
    const last = Math.max(...v.steps.map((s) => s.now))
    const held = [...d.nodes(last), ...d.relays(last)]
      .map((e) => ({ peerId: e.peerId, role: e.record.role, seq: String(e.record.seq) }))
      .sort((a, b) => (a.peerId < b.peerId ? -1 : 1))
    expect(held).toEqual(v.final)
    expect(v.final.map((e) => e.peerId).every((id) => d.get(id) !== undefined)).toBe(true)
    expect(base58btc(hex(v.self))).toMatch(/^12D3KooW/)
  })
})
