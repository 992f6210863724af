// The fabrics a relay admits the members of (spec 12 §12.4): per root, the
// newest verified epoch statement; refusals cheapest first, the signature
// last; rotation; roots removed and added again; statements restored.
import { fabricKeys, rootKeyOf, signFabricEpoch } from '@peertap/mvlan'
import { describe, expect, it } from 'vitest'
import { FabricEpochs, RelayError } from '../src/index.ts'

const NOW = 1_800_000_000
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const rootSeed = new Uint8Array(32).fill(0x11)
const otherRootSeed = new Uint8Array(32).fill(0x22)
const ROOT = hex(rootKeyOf(rootSeed))
const OTHER_ROOT = hex(rootKeyOf(otherRootSeed))
const keyOf = (secret: number) => fabricKeys(new Uint8Array(32).fill(secret)).credentialKey

function statement(epoch: number, secret = epoch, seed = rootSeed): Uint8Array {
  return signFabricEpoch({ rootSeed: seed, epoch, credentialKey: keyOf(secret), issuedAt: NOW })
}

describe('FabricEpochs (spec 12 §12.4)', () => {
  it('holds a verified statement for a configured root, and its credential key admits', () => {
    const epochs = new FabricEpochs({ roots: [ROOT.toUpperCase()] })
    expect(epochs.roots()).toEqual([ROOT])
    expect(epochs.credentialKeys().size).toBe(0)
    const offer = epochs.offer('P', statement(1), NOW)
    expect(offer).toMatchObject({ ok: true, replaced: undefined })
    expect(epochs.credentialKeys()).toEqual(new Set([hex(keyOf(1))]))
    expect(epochs.rootOf(hex(keyOf(1)).toUpperCase())).toBe(ROOT)
    expect(epochs.current()).toMatchObject([
      { rootKey: ROOT, epoch: 1, credentialKey: hex(keyOf(1)) },
    ])
    expect(epochs.counters).toMatchObject({ accepted: 1, rotations: 0, signatureChecks: 1 })
  })

  it('refuses malformed, unknown roots and stale epochs before any signature check', () => {
    const epochs = new FabricEpochs({ roots: [ROOT] })
    expect(epochs.offer('P', statement(5), NOW).ok).toBe(true)
    const checks = epochs.counters.signatureChecks
    expect(epochs.offer('P', new Uint8Array(141), NOW)).toEqual({ ok: false, reason: 'malformed' })
    expect(epochs.offer('P', statement(9, 9, otherRootSeed), NOW)).toEqual({
      ok: false,
      reason: 'unknown-root',
    })
    // Equal and lower epochs, forged or not: dropped unverified.
    const forgedStale = statement(5, 6)
    forgedStale[100]! ^= 1
    for (const bytes of [statement(5, 7), statement(4), forgedStale])
      expect(epochs.offer('P', bytes, NOW)).toEqual({ ok: false, reason: 'stale' })
    expect(epochs.counters.signatureChecks).toBe(checks)
    expect(epochs.counters.refused).toMatchObject({ malformed: 1, 'unknown-root': 1, stale: 3 })
    expect(epochs.credentialKeys()).toEqual(new Set([hex(keyOf(5))]))
  })

  it('refuses a forged statement after checking its signature, and changes nothing', () => {
    const epochs = new FabricEpochs({ roots: [ROOT] })
    epochs.offer('P', statement(1), NOW)
    const forged = statement(2)
    forged[40]! ^= 0x01 // inside the credential key: the root's signature fails
    expect(epochs.offer('P', forged, NOW)).toEqual({ ok: false, reason: 'bad-signature' })
    // A statement under another root's key, rewritten to name ours.
    const other = statement(3, 3, otherRootSeed)
    other.set(rootKeyOf(rootSeed), 1)
    expect(epochs.offer('P', other, NOW)).toEqual({ ok: false, reason: 'bad-signature' })
    expect(epochs.credentialKeys()).toEqual(new Set([hex(keyOf(1))]))
    expect(epochs.counters.signatureChecks).toBe(3)
  })

  it('replaces an older epoch (a rotation): the credential key changes at once', () => {
    const epochs = new FabricEpochs({ roots: [ROOT] })
    epochs.offer('P', statement(1), NOW)
    const before = epochs.credentialKeys()
    const offer = epochs.offer('Q', statement(2), NOW)
    expect(offer.ok && offer.replaced?.epoch).toBe(1)
    expect(epochs.credentialKeys()).not.toBe(before)
    expect(epochs.credentialKeys()).toEqual(new Set([hex(keyOf(2))]))
    expect(epochs.counters).toMatchObject({ accepted: 2, rotations: 1 })
    // The same keys: the same Set.
    const same = epochs.credentialKeys()
    epochs.setRoots([ROOT])
    expect(epochs.credentialKeys()).toBe(same)
  })

  it('limits signature checks per peer, then over all peers, before the signature', () => {
    const epochs = new FabricEpochs({
      roots: [ROOT],
      checksPerSecond: 2,
      checkBurst: 4,
      globalChecksPerSecond: 5,
      globalCheckBurst: 5,
    })
    const forged = () => {
      const bytes = statement(7)
      bytes[100]! ^= 1
      return bytes
    }
    for (let i = 0; i < 4; i++) expect(epochs.offer('P', forged(), NOW).ok).toBe(false)
    expect(epochs.offer('P', forged(), NOW)).toEqual({ ok: false, reason: 'rate' })
    expect(epochs.offer('Q', forged(), NOW)).toEqual({ ok: false, reason: 'bad-signature' })
    expect(epochs.offer('R', forged(), NOW)).toEqual({ ok: false, reason: 'busy' })
    expect(epochs.counters.signatureChecks).toBe(5)
    // A second later, P has two checks again and the good statement goes through.
    expect(epochs.offer('P', statement(7), NOW + 1).ok).toBe(true)
    // P's link went down: a fresh budget when it comes back.
    epochs.forget('P')
  })

  it('a root removed admits nothing; added again, it keeps its epoch', () => {
    const epochs = new FabricEpochs({ roots: [ROOT, OTHER_ROOT] })
    epochs.offer('P', statement(3), NOW)
    epochs.offer('P', statement(1, 8, otherRootSeed), NOW)
    expect(epochs.credentialKeys().size).toBe(2)
    expect(epochs.setRoots([OTHER_ROOT])).toEqual({ added: [], removed: [ROOT] })
    expect(epochs.credentialKeys()).toEqual(new Set([hex(keyOf(8))]))
    expect(epochs.offer('P', statement(4), NOW)).toEqual({ ok: false, reason: 'unknown-root' })
    expect(epochs.setRoots([ROOT, OTHER_ROOT])).toEqual({ added: [ROOT], removed: [] })
    expect(epochs.held(ROOT)?.epoch).toBe(3)
    expect(epochs.offer('P', statement(2), NOW)).toEqual({ ok: false, reason: 'stale' })
    expect(epochs.credentialKeys()).toEqual(new Set([hex(keyOf(3)), hex(keyOf(8))]))
  })

  it('restores stored statements, verified, the newest per root', () => {
    const first = new FabricEpochs({ roots: [ROOT] })
    first.offer('P', statement(2), NOW)
    first.offer('P', statement(6), NOW)
    const stored = first.statements()
    expect(stored).toHaveLength(1)
    const forged = statement(9)
    forged[50]! ^= 1
    const next = new FabricEpochs({ roots: [ROOT] })
    expect(next.restore(forged)).toEqual({ ok: false, reason: 'bad-signature' })
    expect(next.restore(stored[0]!).ok).toBe(true)
    expect(next.restore(statement(2))).toEqual({ ok: false, reason: 'stale' })
    expect(next.counters.restored).toBe(1)
    expect(next.offer('P', statement(5), NOW)).toEqual({ ok: false, reason: 'stale' })
    expect(next.credentialKeys()).toEqual(new Set([hex(keyOf(6))]))
  })

  it('refuses roots that are not 64 hex digits', () => {
    expect(() => new FabricEpochs({ roots: ['abc'] })).toThrow(RelayError)
    expect(() => new FabricEpochs().setRoots([`${ROOT}0`])).toThrow(/64 hex digits/)
  })
})
