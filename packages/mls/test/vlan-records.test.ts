// The records beside the group record (docs/spec/11-mls.md §11.6): the
// vectors of test/vectors/mls-records.json (written from the spec's
// layouts by generate-mls-records.ts, not from src/) against the codec,
// and the outcome each vector names, through vlan-records.ts (when the
// node reads and writes them) on a MemoryStorage: a damaged key-package
// record is replaced by a fresh key package, a damaged admission record
// stops the VLAN from opening.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  decodeAdmissionRecord,
  decodeKeyPackageRecord,
  encodeAdmissionRecord,
  encodeKeyPackageRecord,
  MemoryStorage,
  MlsError,
  type MlsVlanPorts,
  nodeIdentityFromEd25519PrivateKey,
  type VlanGroup,
} from '../src/index.ts'
import { newVlan, type Vlan, VlanContext } from '../src/vlan-context.ts'
import {
  admissionRecordName,
  adoptMembership,
  clearKeyPackage,
  forget,
  keyPackageRecordName,
  loadAdmission,
  newKeyPackage,
  storeChanges,
} from '../src/vlan-records.ts'

const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

interface RecordVector {
  name: string
  bytes: string
  record?: unknown
  canonical?: boolean
  error?: string
  outcome: string
}
interface RecordSet {
  valid: RecordVector[]
  invalid: RecordVector[]
}
const vectors = JSON.parse(
  readFileSync(new URL('./vectors/mls-records.json', import.meta.url), 'utf8'),
) as { keyPackage: RecordSet; admission: RecordSet }

type KpJson = { keyPackage: string; secret: string } | null
const kpFromJson = (r: KpJson) =>
  r === null ? undefined : { keyPackage: bytes(r.keyPackage), secret: bytes(r.secret) }

const VLAN_ID = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i)
const CONFIG_MEMBER = '12D3KooWConfigMember'

/** A context whose PeerIds are hex texts, over `storage`, and one VLAN in it. */
async function setup(
  storage = new MemoryStorage(),
  isOwner = true,
): Promise<{ ctx: VlanContext; vlan: Vlan; storage: MemoryStorage }> {
  const identity = await nodeIdentityFromEd25519PrivateKey(new Uint8Array(32).fill(7))
  const ports = {
    peerIdText: (b: Uint8Array) => hex(b),
    peerIdBytes: (t: string) => bytes(t),
    log: () => {},
  } as unknown as MlsVlanPorts
  const ctx = new VlanContext({ ports, identity, storage, now: 0 })
  const vlan = newVlan(
    {
      name: 'v',
      vlanId: VLAN_ID,
      owner: isOwner ? hex(identity.peerId) : 'aa',
      isOwner,
      members: [CONFIG_MEMBER],
      proposers: [],
      admins: [],
      updateSeconds: undefined,
    },
    0,
  )
  return { ctx, vlan, storage }
}

/** A group stand-in with these members (hex PeerIds) at `epoch`: all the records read of it. */
function fakeGroup(epoch: number, members: string[]): VlanGroup {
  return {
    removed: false,
    epoch: BigInt(epoch),
    members: () => members.map((m, leafIndex) => ({ peerId: bytes(m), leafIndex })),
  } as unknown as VlanGroup
}

describe('key-package record vectors (mls-records.json)', () => {
  it('covers the empty record and every reason', () => {
    expect(vectors.keyPackage.valid.some((v) => v.bytes === '')).toBe(true)
    expect(new Set(vectors.keyPackage.invalid.map((v) => v.error))).toEqual(
      new Set(['truncated', 'empty']),
    )
  })

  it.each(vectors.keyPackage.valid.map((v) => [v.name, v] as const))('valid: %s', (_, v) => {
    const record = kpFromJson(v.record as KpJson)
    expect(decodeKeyPackageRecord(bytes(v.bytes))).toEqual({ ok: true, message: record })
    expect(hex(encodeKeyPackageRecord(record))).toBe(v.bytes)
  })

  it.each(vectors.keyPackage.invalid.map((v) => [v.name, v] as const))('invalid: %s', (_, v) => {
    const decoded = decodeKeyPackageRecord(bytes(v.bytes))
    expect(decoded.ok).toBe(false)
    if (!decoded.ok) expect(decoded.error.reason).toBe(v.error)
  })

  it.each(
    [...vectors.keyPackage.valid, ...vectors.keyPackage.invalid].map((v) => [v.name, v] as const),
  )('outcome on open: %s', async (_, v) => {
    const { ctx, vlan, storage } = await setup(undefined, false)
    await storage.write(keyPackageRecordName(vlan), bytes(v.bytes))
    const record = v.error === undefined ? kpFromJson(v.record as KpJson) : undefined
    await newKeyPackage(ctx, vlan)
    const stored = (await storage.read(keyPackageRecordName(vlan)))!
    if (record !== undefined) {
      // The stored key package, the record untouched.
      expect(vlan.keyPackage).toEqual(record)
      expect(hex(stored)).toBe(v.bytes)
      expect(storage.writes).toBe(1)
    } else {
      // None, or damaged: a fresh key package, stored over it.
      expect(vlan.keyPackage).toBeDefined()
      expect(decodeKeyPackageRecord(stored)).toEqual({ ok: true, message: vlan.keyPackage })
      expect(hex(stored)).not.toBe(v.bytes)
      expect(storage.writes).toBe(2)
    }
  })
})

describe('admission record vectors (mls-records.json)', () => {
  it('has canonical and other spellings; every invalid one is bad-record', () => {
    expect(vectors.admission.valid.some((v) => v.canonical)).toBe(true)
    expect(vectors.admission.valid.some((v) => !v.canonical)).toBe(true)
    expect(new Set(vectors.admission.invalid.map((v) => v.error))).toEqual(new Set(['bad-record']))
  })

  it.each(vectors.admission.valid.map((v) => [v.name, v] as const))('valid: %s', (_, v) => {
    expect(decodeAdmissionRecord(bytes(v.bytes))).toEqual({ ok: true, message: v.record })
    const encoded = hex(encodeAdmissionRecord(v.record as never))
    if (v.canonical) expect(encoded).toBe(v.bytes)
    else expect(encoded).not.toBe(v.bytes)
  })

  it.each(vectors.admission.invalid.map((v) => [v.name, v] as const))('invalid: %s', (_, v) => {
    const decoded = decodeAdmissionRecord(bytes(v.bytes))
    expect(decoded.ok).toBe(false)
    if (!decoded.ok) expect(decoded.error.reason).toBe(v.error)
  })

  it.each(vectors.admission.valid.map((v) => [v.name, v] as const))(
    'outcome on open, valid: %s',
    async (_, v) => {
      const { ctx, vlan, storage } = await setup()
      await storage.write(admissionRecordName(vlan), bytes(v.bytes))
      const record = v.record as {
        added: string[]
        removed: string[]
        at?: { epoch: number; members: string[] }
      }
      expect(await loadAdmission(ctx, vlan)).toEqual(record.at)
      const want = new Set([CONFIG_MEMBER, ...record.added])
      for (const p of record.removed) want.delete(p)
      expect(vlan.admitted).toEqual(want)
      expect(vlan.changes).toEqual({
        added: new Set(record.added),
        removed: new Set(record.removed),
      })
    },
  )

  it.each(vectors.admission.invalid.map((v) => [v.name, v] as const))(
    'outcome on open, invalid: %s',
    async (_, v) => {
      const { ctx, vlan, storage } = await setup()
      await storage.write(admissionRecordName(vlan), bytes(v.bytes))
      const error = await loadAdmission(ctx, vlan).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(MlsError)
      expect((error as MlsError).code).toBe('mls-state-corrupt')
    },
  )
})

describe('vlan-records.ts: when the records are written', () => {
  it('no record: the config members only, and no epoch', async () => {
    const { ctx, vlan } = await setup()
    expect(await loadAdmission(ctx, vlan)).toBeUndefined()
    expect(vlan.admitted).toEqual(new Set([CONFIG_MEMBER]))
  })

  it('a used key package is cleared to the empty record', async () => {
    const { ctx, vlan, storage } = await setup(undefined, false)
    await newKeyPackage(ctx, vlan)
    await clearKeyPackage(ctx, vlan)
    expect(vlan.keyPackage).toBeUndefined()
    expect(await storage.read(keyPackageRecordName(vlan))).toEqual(new Uint8Array(0))
    // A fresh one is made, not the cleared one read back.
    await newKeyPackage(ctx, vlan, true)
    expect(vlan.keyPackage).toBeDefined()
  })

  it('forget stores the removal with the epoch and members, and drops the key package and Welcome', async () => {
    const { ctx, vlan, storage } = await setup()
    vlan.group = fakeGroup(5, ['0a0b', '0c0d'])
    vlan.heldKeyPackages.set(CONFIG_MEMBER, new Uint8Array([1]))
    vlan.welcomes.set(CONFIG_MEMBER, {
      keyPackage: new Uint8Array([1]),
      welcome: new Uint8Array([2]),
    })
    await forget(ctx, vlan, CONFIG_MEMBER)
    expect(vlan.admitted.has(CONFIG_MEMBER)).toBe(false)
    expect(vlan.heldKeyPackages.size + vlan.welcomes.size).toBe(0)
    const stored = new TextDecoder().decode(await storage.read(admissionRecordName(vlan)))
    expect(stored).toBe(
      `{"added":[],"removed":["${CONFIG_MEMBER}"],"epoch":5,"members":["0a0b","0c0d"]}`,
    )
  })

  it('without a group the record has no epoch', async () => {
    const { ctx, vlan, storage } = await setup()
    vlan.changes.added.add('0e0f')
    await storeChanges(ctx, vlan)
    const stored = new TextDecoder().decode(await storage.read(admissionRecordName(vlan)))
    expect(stored).toBe('{"added":["0e0f"],"removed":[]}')
  })

  it('adopts what the group gained and lost; writes only when something changed', async () => {
    const { ctx, vlan, storage } = await setup()
    vlan.group = fakeGroup(6, ['0a0b', '0e0f'])
    vlan.admitted.add('0a0b').add('0c0d')
    await adoptMembership(ctx, vlan, ['0a0b', '0c0d'], new Set(['0a0b', '0e0f']))
    expect(vlan.admitted.has('0c0d')).toBe(false)
    expect(vlan.admitted.has('0e0f')).toBe(true)
    expect(vlan.changes).toEqual({ added: new Set(['0e0f']), removed: new Set(['0c0d']) })
    const writes = storage.writes
    await adoptMembership(ctx, vlan, ['0a0b', '0e0f'], new Set(['0a0b', '0e0f']))
    expect(storage.writes).toBe(writes)
  })
})
