import { describe, expect, it, vi } from 'vitest'
import {
  decodeLease,
  LEASE_CLOCK_SKEW_SECONDS,
  MAX_LEASE_SECONDS,
  verifyLease,
} from '../src/index.ts'
import { decodeLeaseAad, encodeLeaseAad, leaseCovers, signLease } from '../src/lease.ts'
import { identity, makeGroup, refused, refusedUntouched, sameSecrets, VLAN_ID } from './helpers.ts'

const T0 = 1_900_000_000

/**
 * An owner PeerId whose key is the identity point (small order), and a
 * signature that satisfies RFC 8032's equation [S]B = R + [k]A for every
 * message: R the identity, S = 0. Anyone can "sign" for such an owner.
 */
const IDENTITY_POINT = Uint8Array.of(1, ...new Uint8Array(31))
const SMALL_ORDER_OWNER = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...IDENTITY_POINT)
const ANY_MESSAGE_SIGNATURE = Uint8Array.of(...IDENTITY_POINT, ...new Uint8Array(32))
const L = 2n ** 252n + 27742317777372353535851937790883648493n

describe('lease format', () => {
  it('signs, encodes, decodes and verifies; any flipped bit fails', async () => {
    const owner = await identity(1)
    const admin = await identity(2)
    const lease = await signLease({
      owner,
      fields: { vlanId: VLAN_ID, adminPeerId: admin.peerId, notBefore: T0, notAfter: T0 + 600 },
    })
    expect(lease.bytes.length).toBe(32 + 1 + 38 + 8 + 8 + 64)
    const d = decodeLease(lease.bytes)
    expect(d.notBefore).toBe(T0)
    expect(d.notAfter).toBe(T0 + 600)
    expect(Buffer.from(d.adminPeerId).equals(Buffer.from(admin.peerId))).toBe(true)
    const ok = await verifyLease({ lease: lease.bytes, vlanId: VLAN_ID, ownerPeerId: owner.peerId })
    expect(ok.notAfter).toBe(T0 + 600)
    for (let bit = 0; bit < lease.bytes.length * 8; bit += 37) {
      const bad = lease.bytes.slice()
      bad[bit >> 3]! ^= 1 << (bit & 7)
      await refused(
        verifyLease({ lease: bad, vlanId: VLAN_ID, ownerPeerId: owner.peerId }),
        'mls-lease-invalid',
      )
    }
    await refused(
      verifyLease({ lease: lease.bytes, vlanId: new Uint8Array(32), ownerPeerId: owner.peerId }),
      'mls-lease-invalid',
    )
    await refused(
      verifyLease({ lease: lease.bytes, vlanId: VLAN_ID, ownerPeerId: admin.peerId }),
      'mls-lease-invalid',
    )
    await refused(
      verifyLease({ lease: lease.bytes.subarray(1), vlanId: VLAN_ID, ownerPeerId: owner.peerId }),
      'mls-lease-invalid',
    )
    await refused(
      signLease({
        owner,
        fields: {
          vlanId: VLAN_ID,
          adminPeerId: admin.peerId,
          notBefore: T0,
          notAfter: T0 + MAX_LEASE_SECONDS + 1,
        },
      }),
      'mls-lease-invalid',
    )
  })

  it('verifies strictly (verifyEd25519Strict): a non-canonical S and a small-order owner key are refused', async () => {
    const owner = await identity(1)
    const admin = await identity(2)
    const lease = await signLease({
      owner,
      fields: { vlanId: VLAN_ID, adminPeerId: admin.peerId, notBefore: T0, notAfter: T0 + 600 },
    })
    const ok = { lease: lease.bytes, vlanId: VLAN_ID, ownerPeerId: owner.peerId }
    expect((await verifyLease(ok)).notAfter).toBe(T0 + 600)
    // The owner's own signature with S + L: the same point equation, S not below L.
    const nonCanonical = lease.bytes.slice()
    const at = nonCanonical.length - 32
    let s = nonCanonical.subarray(at).reduceRight((x, byte) => (x << 8n) | BigInt(byte), 0n) + L
    for (let i = 0; i < 32; i++, s >>= 8n) nonCanonical[at + i] = Number(s & 0xffn)
    await refused(verifyLease({ ...ok, lease: nonCanonical }), 'mls-lease-invalid')
    // An owner whose PeerId holds a small-order key: a signature valid for any lease.
    const forged = lease.bytes.slice()
    forged.set(ANY_MESSAGE_SIGNATURE, forged.length - 64)
    const forgedFor = { ...ok, lease: forged, ownerPeerId: SMALL_ORDER_OWNER }
    await refused(verifyLease(forgedFor), 'mls-lease-invalid')
    // A Web Crypto that accepts it, as a verifier of RFC 8032's equation
    // without order checks does (OpenSSL 3.0 accepted small-order keys in
    // ed25519-speccheck; Node 24's bundled OpenSSL 3.5 refuses it): still refused.
    const subtle = globalThis.crypto.subtle
    const verify = subtle.verify.bind(subtle)
    const spy = vi.spyOn(subtle, 'verify').mockImplementation(async (algorithm, key, sig, data) => {
      const bytes = ArrayBuffer.isView(sig)
        ? new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength)
        : new Uint8Array(sig)
      return (
        Buffer.from(bytes).equals(Buffer.from(ANY_MESSAGE_SIGNATURE)) ||
        verify(algorithm, key, sig, data)
      )
    })
    try {
      await refused(verifyLease(forgedFor), 'mls-lease-invalid')
      expect((await verifyLease(ok)).notAfter).toBe(T0 + 600)
    } finally {
      spy.mockRestore()
    }
  })

  it('the authenticated data carries the lease and the commit time; coverage is within the lease and not from the future', () => {
    const lease = new Uint8Array(143).fill(3)
    const aad = encodeLeaseAad(lease, T0 + 5)
    const d = decodeLeaseAad(aad)!
    expect(d.commitTime).toBe(T0 + 5)
    expect(Buffer.from(d.lease).equals(Buffer.from(lease))).toBe(true)
    expect(decodeLeaseAad(new Uint8Array(0))).toBeUndefined()
    expect(() => decodeLeaseAad(aad.subarray(1))).toThrow()
    const f = {
      vlanId: VLAN_ID,
      adminPeerId: new Uint8Array(38),
      notBefore: T0,
      notAfter: T0 + 600,
    }
    expect(leaseCovers(f, T0, T0)).toBe(true)
    expect(leaseCovers(f, T0 + 600, T0 + 10_000)).toBe(true) // catching up later is fine
    expect(leaseCovers(f, T0 - 1, T0)).toBe(false)
    expect(leaseCovers(f, T0 + 601, T0 + 601)).toBe(false)
    expect(leaseCovers(f, T0 + 300, T0 + 300 - 121)).toBe(false) // from the receiver's future
    expect(leaseCovers(f, T0 + 300, T0 + 300 - 120)).toBe(true)
  })
})

describe('who commits', () => {
  it('only the owner, or an admin while its lease runs; the owner waits it out', async () => {
    const clock = { now: T0 }
    const c = () => clock.now
    const { owner, members } = await makeGroup(3, c)
    const [admin, alice, bob] = members as [
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
    ]
    await refusedUntouched(admin.group, () => admin.group.update(), 'mls-not-committer')
    await refused(
      admin.group.issueLease({
        adminPeerId: alice.identity.peerId,
        notBefore: T0,
        notAfter: T0 + 60,
      }),
      'mls-not-committer',
    )

    const lease = await owner.group.issueLease({
      adminPeerId: admin.identity.peerId,
      notBefore: T0,
      notAfter: T0 + 600,
    })
    await refusedUntouched(owner.group, () => owner.group.update(), 'mls-lease-outstanding')
    expect(owner.group.canCommit()).toBe(false)
    expect(admin.group.canCommit()).toBe(false) // not accepted yet
    await refusedUntouched(
      alice.group,
      () => alice.group.acceptLease({ lease }),
      'mls-lease-invalid',
    ) // not hers
    await refusedUntouched(
      admin.group,
      () => admin.group.acceptLease({ lease: lease.subarray(1) }),
      'mls-lease-invalid',
    )
    await admin.group.acceptLease({ lease })
    expect(admin.group.canCommit()).toBe(true)

    // the admin commits: an update and a removal
    const upd = await admin.group.update()
    for (const n of [owner, alice, bob]) await n.group.processCommit({ bundle: upd.bundle })
    const rem = await admin.group.removeMembers({ peerIds: [bob.identity.peerId] })
    for (const n of [owner, alice]) await n.group.processCommit({ bundle: rem.bundle })
    expect(sameSecrets(owner.group.epochKeys(), admin.group.epochKeys())).toBe(true)
    expect(sameSecrets(alice.group.epochKeys(), admin.group.epochKeys())).toBe(true)
    await refused(
      admin.group.removeMembers({ peerIds: [owner.identity.peerId] }),
      'mls-owner-removal',
    )

    // the lease runs out: the admin stops; the owner waits out the clock-skew
    // allowance too (an admin with a slow clock may still be committing), then resumes
    clock.now = T0 + 601
    expect(admin.group.canCommit()).toBe(false)
    expect(owner.group.canCommit()).toBe(false)
    await refusedUntouched(owner.group, () => owner.group.update(), 'mls-lease-outstanding')
    clock.now = T0 + 600 + LEASE_CLOCK_SKEW_SECONDS + 1
    expect(owner.group.canCommit()).toBe(true)
    await refusedUntouched(admin.group, () => admin.group.update(), 'mls-not-committer')
    const own = await owner.group.update()
    for (const n of [admin, alice]) await n.group.processCommit({ bundle: own.bundle })
    expect(sameSecrets(owner.group.epochKeys(), alice.group.epochKeys())).toBe(true)
  })

  it('members refuse an admin commit made outside the lease or from their future', async () => {
    const ownerClock = { now: T0 }
    const { owner, members } = await makeGroup(2, () => ownerClock.now)
    const [admin, alice] = members as [(typeof members)[0], (typeof members)[0]]
    const lease = await owner.group.issueLease({
      adminPeerId: admin.identity.peerId,
      notBefore: T0 + 100,
      notAfter: T0 + 700,
    })
    await admin.group.acceptLease({ lease })
    // The admin's clock is the one in makeGroup: fixed at T0, before notBefore.
    await refusedUntouched(admin.group, () => admin.group.update(), 'mls-not-committer')
    expect(alice.group.epoch).toBe(1n)
    // An admin with a fast clock commits at T0 + 500; Alice's clock reads T0 (more than 120 s behind).
    const fastAdmin = await (await import('../src/index.ts')).loadVlanGroup({
      vlanId: VLAN_ID,
      identity: admin.identity,
      storage: admin.storage,
      clock: () => T0 + 500,
    })
    const upd = await fastAdmin!.update()
    await refusedUntouched(
      alice.group,
      () => alice.group.processCommit({ bundle: upd.bundle }),
      'mls-lease-invalid',
    )
    // The owner's clock catches up: accepted.
    ownerClock.now = T0 + 450
    await owner.group.processCommit({ bundle: upd.bundle })
    expect(sameSecrets(owner.group.epochKeys(), fastAdmin!.epochKeys())).toBe(true)
  })
})
