// Transfer of ownership (docs/spec/11-mls.md §12): the format, the
// transfer commit processed by every member, the new owner committing and
// the old one refused, persistence across a reload, catch-up over a
// transfer, and every forged transfer refused with the state untouched
// and the member still on the old owner.
import { readFileSync } from 'node:fs'
import { describe, expect, it, vi } from 'vitest'
import {
  createKeyPackage,
  decodeBundle,
  decodeTransfer,
  encodeBundle,
  loadVlanGroup,
  MemoryStorage,
  nodeIdentityFromEd25519PrivateKey,
  recordName,
  signTransfer,
  TRANSFER_LABEL,
  type VlanGroup,
  verifyTransfer,
} from '../src/index.ts'
import { signLease } from '../src/lease.ts'
import { decodeRecord, encodeRecord } from '../src/record.ts'
import { decodeTransferAad, encodeTransferAad } from '../src/transfer.ts'
import {
  identity,
  makeGroup,
  type Node,
  refused,
  refusedUntouched,
  sameSecrets,
  testClock,
  VLAN_ID,
} from './helpers.ts'

const eq = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

/** RFC 8032 §5.1.3: the group order L, and a little-endian 32-byte scalar. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n
const scalarLe = (x: bigint) =>
  Uint8Array.from({ length: 32 }, (_, i) => Number((x >> BigInt(8 * i)) & 0xffn))
const leScalar = (b: Uint8Array) => b.reduceRight((x, byte) => (x << 8n) | BigInt(byte), 0n)

/** The same signature with S + L in place of S (S is then not below L: non-canonical). */
function sPlusL(signed: Uint8Array): Uint8Array {
  const out = signed.slice()
  const at = out.length - 32
  out.set(scalarLe(leScalar(out.subarray(at)) + L), at)
  return out
}

/**
 * An owner PeerId whose key is the identity point (small order), and a
 * signature that satisfies RFC 8032's equation [S]B = R + [k]A for every
 * message: R the identity, S = 0. Anyone can "sign" for such an owner.
 */
const IDENTITY_POINT = Uint8Array.of(1, ...new Uint8Array(31))
const SMALL_ORDER_OWNER = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...IDENTITY_POINT)
const ANY_MESSAGE_SIGNATURE = Uint8Array.of(...IDENTITY_POINT, ...new Uint8Array(32))

/**
 * Runs `body` with a Web Crypto whose Ed25519 accepts ANY_MESSAGE_SIGNATURE,
 * as a verifier of RFC 8032's equation that checks neither the key's nor
 * R's order does (OpenSSL 3.0 accepted small-order keys and R in
 * ed25519-speccheck). The OpenSSL 3.5 bundled with Node 24 refuses it; a
 * Node linked to another OpenSSL may not. The strict rule refuses it by
 * its bytes either way.
 */
async function withLenientWebCrypto(body: () => Promise<void>): Promise<void> {
  const subtle = globalThis.crypto.subtle
  const verify = subtle.verify.bind(subtle)
  const spy = vi.spyOn(subtle, 'verify').mockImplementation(async (algorithm, key, sig, data) => {
    const bytes = ArrayBuffer.isView(sig)
      ? new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength)
      : new Uint8Array(sig)
    return eq(bytes, ANY_MESSAGE_SIGNATURE) || verify(algorithm, key, sig, data)
  })
  try {
    await body()
  } finally {
    spy.mockRestore()
  }
}

/** Owner A, members B and C, all at epoch 1. */
async function abc(clock?: () => number) {
  const { owner, members } = await makeGroup(2, clock)
  return { a: owner, b: members[0]!, c: members[1]! }
}

/** `g` still takes `owner` as the owner. */
function ownedBy(g: VlanGroup, owner: Node): void {
  expect(eq(g.ownerPeerId, owner.identity.peerId)).toBe(true)
}

describe('transfer format (11-mls.md §12.1)', () => {
  it('signs, encodes, decodes and verifies; any flipped bit, another VLAN, epoch or signer fails', async () => {
    const a = await identity(1)
    const b = await identity(2)
    const t = await signTransfer({
      owner: a,
      fields: { vlanId: VLAN_ID, newOwnerPeerId: b.peerId, epoch: 7n },
    })
    expect(TRANSFER_LABEL).toBe('PeerTap v1 mls-transfer')
    expect(t.bytes.length).toBe(32 + 1 + 38 + 8 + 64)
    const d = decodeTransfer(t.bytes)
    expect(d.epoch).toBe(7n)
    expect(eq(d.newOwnerPeerId, b.peerId)).toBe(true)
    // As it comes off the wire: a Buffer inside a larger pooled one (Buffer#slice shares it).
    const pooled = Buffer.concat([Buffer.from('prefix bytes'), Buffer.from(t.bytes)])
    const onWire = decodeTransfer(pooled.subarray(12))
    expect(onWire.epoch).toBe(7n)
    expect(eq(onWire.newOwnerPeerId, b.peerId)).toBe(true)
    const ok = { transfer: t.bytes, vlanId: VLAN_ID, epoch: 7n, ownerPeerId: a.peerId }
    expect((await verifyTransfer(ok)).epoch).toBe(7n)
    for (let bit = 0; bit < t.bytes.length * 8; bit += 29) {
      const bad = t.bytes.slice()
      bad[bit >> 3]! ^= 1 << (bit & 7)
      await refused(verifyTransfer({ ...ok, transfer: bad }), 'mls-transfer-invalid')
    }
    await refused(verifyTransfer({ ...ok, vlanId: new Uint8Array(32) }), 'mls-transfer-invalid')
    await refused(verifyTransfer({ ...ok, epoch: 8n }), 'mls-transfer-invalid')
    await refused(verifyTransfer({ ...ok, ownerPeerId: b.peerId }), 'mls-transfer-invalid')
    await refused(verifyTransfer({ ...ok, transfer: t.bytes.subarray(1) }), 'mls-transfer-invalid')
    // To oneself: not a transfer.
    const self = await signTransfer({
      owner: a,
      fields: { vlanId: VLAN_ID, newOwnerPeerId: a.peerId, epoch: 7n },
    })
    await refused(verifyTransfer({ ...ok, transfer: self.bytes }), 'mls-transfer-invalid')
    // The authenticated data: 0x02 ‖ u16 len ‖ transfer ‖ u64 commitTime.
    const aad = encodeTransferAad(t.bytes, 1_900_000_000)
    expect(aad[0]).toBe(0x02)
    expect(aad.length).toBe(1 + 2 + t.bytes.length + 8)
    const back = decodeTransferAad(aad)!
    expect(eq(back.transfer, t.bytes)).toBe(true)
    expect(back.commitTime).toBe(1_900_000_000n)
    expect(decodeTransferAad(new Uint8Array(0))).toBeUndefined()
    expect(decodeTransferAad(Uint8Array.of(0x01, 0, 0))).toBeUndefined()
    expect(() => decodeTransferAad(aad.subarray(0, aad.length - 1))).toThrow(/bad authenticated/)
  })

  it('verifies strictly (verifyEd25519Strict): a non-canonical S and a small-order owner key are refused', async () => {
    const a = await identity(1)
    const b = await identity(2)
    const t = await signTransfer({
      owner: a,
      fields: { vlanId: VLAN_ID, newOwnerPeerId: b.peerId, epoch: 7n },
    })
    const ok = { transfer: t.bytes, vlanId: VLAN_ID, epoch: 7n, ownerPeerId: a.peerId }
    expect((await verifyTransfer(ok)).epoch).toBe(7n)
    // The owner's own signature with S + L: the same point equation, S not below L.
    await refused(verifyTransfer({ ...ok, transfer: sPlusL(t.bytes) }), 'mls-transfer-invalid')
    // An owner whose PeerId holds a small-order key: a signature valid for any transfer.
    const forged = t.bytes.slice()
    forged.set(ANY_MESSAGE_SIGNATURE, forged.length - 64)
    const forgedFor = { ...ok, transfer: forged, ownerPeerId: SMALL_ORDER_OWNER }
    await refused(verifyTransfer(forgedFor), 'mls-transfer-invalid')
    await withLenientWebCrypto(async () => {
      // The stand-in accepts it, the transfer check does not.
      const key = await globalThis.crypto.subtle.importKey(
        'raw',
        IDENTITY_POINT,
        'Ed25519',
        false,
        ['verify'],
      )
      expect(
        await globalThis.crypto.subtle.verify('Ed25519', key, ANY_MESSAGE_SIGNATURE, forged),
      ).toBe(true)
      await refused(verifyTransfer(forgedFor), 'mls-transfer-invalid')
      expect((await verifyTransfer(ok)).epoch).toBe(7n)
    })
  })
})

describe('transfer vectors (mls-transfer.json, written from 11-mls.md §12.1)', () => {
  type Bad = { name: string; bytes: string; why: string }
  const v = JSON.parse(
    readFileSync(new URL('./vectors/mls-transfer.json', import.meta.url), 'utf8'),
  ) as {
    keys: Record<'owner' | 'newOwner', { seed: string; peerId: string }>
    receiver: { vlanId: string; epoch: string; ownerPeerId: string }
    valid: {
      name: string
      vlanId: string
      ownerPeerId: string
      newOwnerPeerId: string
      epoch: string
      bytes: string
    }[]
    invalid: Bad[]
    authenticatedData: {
      valid: { name: string; bytes: string; transfer: string; commitTime: string }[]
      invalid: Bad[]
    }
  }
  const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
  const message: Record<string, RegExp> = {
    'bad length': /bad length/,
    'another VLAN': /another VLAN/,
    'another epoch': /the transfer is for epoch/,
    'not signed by the owner': /not signed by the current owner/,
    'names the owner': /names the current owner/,
    'bad authenticated data': /bad authenticated data/,
  }

  it('forwards: signTransfer with the vector keys makes the exact bytes', async () => {
    const owner = await nodeIdentityFromEd25519PrivateKey(bytes(v.keys.owner.seed))
    expect(Buffer.from(owner.peerId).toString('hex')).toBe(v.keys.owner.peerId)
    for (const c of v.valid) {
      const t = await signTransfer({
        owner,
        fields: {
          vlanId: bytes(c.vlanId),
          newOwnerPeerId: bytes(c.newOwnerPeerId),
          epoch: BigInt(c.epoch),
        },
      })
      expect(Buffer.from(t.bytes).toString('hex'), c.name).toBe(c.bytes)
    }
    for (const c of v.authenticatedData.valid) {
      const aad = encodeTransferAad(bytes(c.transfer), Number(c.commitTime))
      expect(Buffer.from(aad).toString('hex'), c.name).toBe(c.bytes)
    }
  })

  it('backwards: each valid transfer decodes to its fields and verifies; every flipped bit fails', async () => {
    for (const c of v.valid) {
      const params = {
        transfer: bytes(c.bytes),
        vlanId: bytes(c.vlanId),
        epoch: BigInt(c.epoch),
        ownerPeerId: bytes(c.ownerPeerId),
      }
      const t = await verifyTransfer(params)
      expect(t.epoch.toString(), c.name).toBe(c.epoch)
      expect(Buffer.from(t.newOwnerPeerId).toString('hex')).toBe(c.newOwnerPeerId)
      for (let bit = 0; bit < params.transfer.length * 8; bit += 7) {
        const bad = params.transfer.slice()
        bad[bit >> 3]! ^= 1 << (bit & 7)
        await refused(verifyTransfer({ ...params, transfer: bad }), 'mls-transfer-invalid')
      }
    }
    for (const c of v.authenticatedData.valid) {
      const d = decodeTransferAad(bytes(c.bytes))!
      expect(Buffer.from(d.transfer).toString('hex')).toBe(c.transfer)
      expect(d.commitTime.toString()).toBe(c.commitTime)
    }
  })

  it('invalid: each refused with mls-transfer-invalid, for its reason', async () => {
    const receiver = {
      vlanId: bytes(v.receiver.vlanId),
      epoch: BigInt(v.receiver.epoch),
      ownerPeerId: bytes(v.receiver.ownerPeerId),
    }
    for (const c of v.invalid) {
      const e = await verifyTransfer({ ...receiver, transfer: bytes(c.bytes) }).catch((x) => x)
      expect(e, c.name).toMatchObject({ name: 'MlsError', code: 'mls-transfer-invalid' })
      expect((e as Error).message, c.name).toMatch(message[c.why]!)
    }
    for (const c of v.authenticatedData.invalid) {
      expect(() => decodeTransferAad(bytes(c.bytes)), c.name).toThrow(message[c.why]!)
    }
  })
})

describe('transfer of ownership (11-mls.md §12)', () => {
  it('A hands the VLAN to B: every member takes B; B adds and removes; A is a plain member refused by everyone', async () => {
    const { a, b, c } = await abc()
    const { bundle } = await a.group.transfer({ newOwnerPeerId: b.identity.peerId })
    expect(a.group.isOwner).toBe(false)
    ownedBy(a.group, b)
    const out = await b.group.processCommit({ bundle })
    expect(eq(out.newOwner!, b.identity.peerId)).toBe(true)
    expect(b.group.isOwner).toBe(true)
    await c.group.processCommit({ bundle })
    ownedBy(c.group, b)
    expect(sameSecrets(a.group.epochKeys(), c.group.epochKeys())).toBe(true)
    expect(a.group.canCommit()).toBe(false)
    expect(b.group.canCommit()).toBe(true)

    // B adds D and removes C; A and C follow.
    const d = await identity(9)
    const kp = await createKeyPackage({ identity: d })
    const added = await b.group.addMembers({
      keyPackages: [{ keyPackage: kp.keyPackage, from: d.peerId }],
    })
    for (const g of [a.group, c.group]) await g.processCommit({ bundle: added.bundle })
    const removal = await b.group.removeMembers({ peerIds: [c.identity.peerId] })
    await a.group.processCommit({ bundle: removal.bundle })
    expect((await c.group.processCommit({ bundle: removal.bundle })).removed).toBe(true)
    expect(a.group.members().map((m) => m.peerId.length)).toHaveLength(3)
    // The founder may now be removed like any member, but not the owner.
    await refused(() => a.group.removeMembers({ peerIds: [d.peerId] }), 'mls-not-committer')
    await refused(
      () => b.group.removeMembers({ peerIds: [b.identity.peerId] }),
      'mls-owner-removal',
    )

    // A may no longer commit, nor transfer, nor lease.
    await refusedUntouched(a.group, () => a.group.update(), 'mls-not-committer')
    await refusedUntouched(
      a.group,
      () => a.group.transfer({ newOwnerPeerId: a.identity.peerId }),
      'mls-not-committer',
    )
    await refused(
      () => a.group.issueLease({ adminPeerId: b.identity.peerId, notBefore: 0, notAfter: 60 }),
      'mls-not-committer',
    )
    // A whose record still claims the VLAN (a stale or rogue copy) commits: refused by B.
    const name = recordName(VLAN_ID)
    const stale = new MemoryStorage()
    await stale.write(
      name,
      encodeRecord({
        ...decodeRecord((await a.storage.read(name))!),
        ownerPeerId: a.identity.peerId,
      }),
    )
    const rogue = (await loadVlanGroup({ vlanId: VLAN_ID, identity: a.identity, storage: stale }))!
    expect(rogue.isOwner).toBe(true)
    const { bundle: forged } = await rogue.update()
    await refusedUntouched(
      b.group,
      () => b.group.processCommit({ bundle: forged }),
      'mls-not-committer',
    )
  })

  it('the refused commit of the old owner is refused by every member that processed the transfer', async () => {
    const { a, b, c } = await abc()
    const name = recordName(VLAN_ID)
    const before = await a.storage.read(name)
    const { bundle } = await a.group.transfer({ newOwnerPeerId: b.identity.peerId })
    for (const g of [b.group, c.group]) await g.processCommit({ bundle })
    // A copy of A's state from before the transfer (restored from a backup) commits again.
    const backup = new MemoryStorage()
    await backup.write(name, before!)
    const old = (await loadVlanGroup({ vlanId: VLAN_ID, identity: a.identity, storage: backup }))!
    const fork = await old.update() // the same epoch the transfer left: a fork
    for (const g of [b.group, c.group])
      await refusedUntouched(g, () => g.processCommit({ bundle: fork.bundle }), 'mls-fork')
    // Its next commit, made as if it still owned the VLAN after the transfer epoch.
    const stale = new MemoryStorage()
    await stale.write(
      name,
      encodeRecord({
        ...decodeRecord((await a.storage.read(name))!),
        ownerPeerId: a.identity.peerId,
      }),
    )
    const rogue = (await loadVlanGroup({ vlanId: VLAN_ID, identity: a.identity, storage: stale }))!
    const next = await rogue.update()
    for (const g of [b.group, c.group])
      await refusedUntouched(g, () => g.processCommit({ bundle: next.bundle }), 'mls-not-committer')
  })

  it('persists: A, B and C reloaded from storage know that B owns the VLAN', async () => {
    const { a, b, c } = await abc()
    const { bundle } = await a.group.transfer({ newOwnerPeerId: b.identity.peerId })
    for (const g of [b.group, c.group]) await g.processCommit({ bundle })
    for (const n of [a, b, c]) {
      const g = (await loadVlanGroup({
        vlanId: VLAN_ID,
        identity: n.identity,
        storage: n.storage,
      }))!
      ownedBy(g, b)
      expect(g.isOwner).toBe(n === b)
      expect(g.epoch).toBe(2n)
      expect(eq(g.vlanId, VLAN_ID)).toBe(true)
    }
    // The reloaded B commits; the reloaded A processes it.
    const b2 = (await loadVlanGroup({ vlanId: VLAN_ID, identity: b.identity, storage: b.storage }))!
    const a2 = (await loadVlanGroup({ vlanId: VLAN_ID, identity: a.identity, storage: a.storage }))!
    const up = await b2.update()
    await a2.processCommit({ bundle: up.bundle })
    expect(sameSecrets(a2.epochKeys(), b2.epochKeys())).toBe(true)
  })

  it('C, which missed the transfer and the new owner commits, catches up from a log and follows B', async () => {
    const { a, b, c } = await abc()
    const { bundle } = await a.group.transfer({ newOwnerPeerId: b.identity.peerId })
    await b.group.processCommit({ bundle })
    const up = await b.group.update()
    await a.group.processCommit({ bundle: up.bundle })
    // B's commit alone is a gap for C.
    await refusedUntouched(c.group, () => c.group.processCommit({ bundle: up.bundle }), 'mls-gap')
    expect(await c.group.catchUp({ bundles: a.group.commitLog({ since: c.group.epoch }) })).toBe(2)
    ownedBy(c.group, b)
    expect(sameSecrets(c.group.epochKeys(), b.group.epochKeys())).toBe(true)
  })

  it('ends the leases of the old owner: an owner with a lease out cannot transfer; after it, the admin holds none and a lease the old owner signs is refused', async () => {
    const t = testClock()
    const { a, b, c } = await abc(t.clock)
    const lease = await a.group.issueLease({
      adminPeerId: c.identity.peerId,
      notBefore: t.now,
      notAfter: t.now + 600,
    })
    await c.group.acceptLease({ lease })
    await refusedUntouched(
      a.group,
      () => a.group.transfer({ newOwnerPeerId: b.identity.peerId }),
      'mls-lease-outstanding',
    )
    t.now += 600 + 121
    const { bundle } = await a.group.transfer({ newOwnerPeerId: b.identity.peerId })
    for (const g of [b.group, c.group]) await g.processCommit({ bundle })
    expect(decodeRecord(c.group.snapshot()).heldLease.length).toBe(0)
    expect(c.group.canCommit()).toBe(false)
    const late = await signLease({
      owner: a.identity,
      fields: {
        vlanId: VLAN_ID,
        adminPeerId: c.identity.peerId,
        notBefore: t.now,
        notAfter: t.now + 60,
      },
    })
    await refusedUntouched(
      c.group,
      () => c.group.acceptLease({ lease: late.bytes }),
      'mls-lease-invalid',
    )
    // B's own lease works.
    const fresh = await b.group.issueLease({
      adminPeerId: c.identity.peerId,
      notBefore: t.now,
      notAfter: t.now + 60,
    })
    await c.group.acceptLease({ lease: fresh })
    const byAdmin = await c.group.update()
    for (const g of [a.group, b.group]) await g.processCommit({ bundle: byAdmin.bundle })
  })

  it('refuses on the owner: a transfer to itself, to a non-member, with proposals pending', async () => {
    const { a, b } = await abc()
    const x = await identity(40)
    await refusedUntouched(
      a.group,
      () => a.group.transfer({ newOwnerPeerId: a.identity.peerId }),
      'mls-membership',
    )
    await refusedUntouched(
      a.group,
      () => a.group.transfer({ newOwnerPeerId: x.peerId }),
      'mls-membership',
    )
    await refusedUntouched(
      b.group,
      () => b.group.transfer({ newOwnerPeerId: b.identity.peerId }),
      'mls-not-committer',
    )
    await a.group.receiveProposal({ message: await b.group.proposeUpdate() })
    await refusedUntouched(
      a.group,
      () => a.group.transfer({ newOwnerPeerId: b.identity.peerId }),
      'mls-proposal-refused',
    )
  })
})

describe('forged transfers are refused, the member stays on the old owner (11-mls.md §12.1)', () => {
  /** A's commit carrying `signed` as its transfer, and B and C refusing it with `code`. */
  async function refusedByAll(
    signed: (n: { a: Node; b: Node; c: Node }) => Promise<Uint8Array>,
    code: string,
  ): Promise<void> {
    const n = await abc()
    const { bundle } = await n.a.group.transfer({
      newOwnerPeerId: n.b.identity.peerId,
      signed: await signed(n),
    })
    for (const m of [n.b, n.c]) {
      await refusedUntouched(m.group, () => m.group.processCommit({ bundle }), code)
      ownedBy(m.group, n.a)
      expect(m.group.epoch).toBe(1n)
      await refusedUntouched(m.group, () => m.group.catchUp({ bundles: [bundle] }), code)
      ownedBy(m.group, n.a)
    }
  }
  const sign = (by: Node, fields: { vlanId?: Uint8Array; to: Node | Uint8Array; epoch?: bigint }) =>
    signTransfer({
      owner: by.identity,
      fields: {
        vlanId: fields.vlanId ?? VLAN_ID,
        newOwnerPeerId: fields.to instanceof Uint8Array ? fields.to : fields.to.identity.peerId,
        epoch: fields.epoch ?? 1n,
      },
    }).then((t) => t.bytes)

  it('signed by another member than the owner', async () => {
    await refusedByAll(({ b }) => sign(b, { to: b }), 'mls-transfer-invalid')
  })

  it('naming a non-member', async () => {
    const x = await identity(41)
    await refusedByAll(({ a }) => sign(a, { to: x.peerId }), 'mls-transfer-invalid')
  })

  it('replayed from another VLAN', async () => {
    const other = VLAN_ID.map((v) => v ^ 0xff)
    await refusedByAll(({ a, b }) => sign(a, { to: b, vlanId: other }), 'mls-transfer-invalid')
  })

  it('replayed from another epoch (the one before, the one after)', async () => {
    await refusedByAll(({ a, b }) => sign(a, { to: b, epoch: 0n }), 'mls-transfer-invalid')
    await refusedByAll(({ a, b }) => sign(a, { to: b, epoch: 2n }), 'mls-transfer-invalid')
  })

  it('damaged (one bit flipped in the signature)', async () => {
    await refusedByAll(async ({ a, b }) => {
      const t = await sign(a, { to: b })
      t[t.length - 1]! ^= 1
      return t
    }, 'mls-transfer-invalid')
  })

  it("the owner's valid transfer carried by another member's commit", async () => {
    const { a, b, c } = await abc()
    const valid = await sign(a, { to: c })
    const name = recordName(VLAN_ID)
    const forgedStorage = new MemoryStorage()
    await forgedStorage.write(
      name,
      encodeRecord({
        ...decodeRecord((await b.storage.read(name))!),
        ownerPeerId: b.identity.peerId,
      }),
    )
    const rogue = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: b.identity,
      storage: forgedStorage,
    }))!
    const { bundle } = await rogue.transfer({ newOwnerPeerId: c.identity.peerId, signed: valid })
    for (const m of [a, c]) {
      await refusedUntouched(m.group, () => m.group.processCommit({ bundle }), 'mls-not-committer')
      ownedBy(m.group, a)
    }
  })

  it('a transfer bundle that carries a proposal (and the owner refusing to transfer with one pending)', async () => {
    const { a, b, c } = await abc()
    const proposal = await c.group.proposeUpdate()
    await a.group.receiveProposal({ message: proposal })
    const valid = await sign(a, { to: b })
    await refused(
      () => a.group.transfer({ newOwnerPeerId: b.identity.peerId, signed: valid }),
      'mls-proposal-refused',
    )
    await a.group.discardProposals()
    const { bundle } = await a.group.transfer({ newOwnerPeerId: b.identity.peerId, signed: valid })
    const withProposal = encodeBundle({ ...decodeBundle(bundle), proposals: [proposal] })
    for (const m of [b, c]) {
      await refusedUntouched(
        m.group,
        () => m.group.processCommit({ bundle: withProposal }),
        'mls-transfer-invalid',
      )
      ownedBy(m.group, a)
    }
    // The same commit without it is the owner's valid transfer.
    await b.group.processCommit({ bundle })
    ownedBy(b.group, b)
  })
})
