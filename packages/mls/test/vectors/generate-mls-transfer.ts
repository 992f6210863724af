// Writes mls-transfer.json from the transfer layout of docs/spec/11-mls.md
// §12.1, byte by byte here, never from src/: `node
// test/vectors/generate-mls-transfer.ts` in packages/mls. Inputs are fixed:
// Ed25519 keys from the seeds 01…01 (the owner), 02…02 (the new owner) and
// 03…03 (another member), signed with node:crypto (OpenSSL, RFC 8032
// Ed25519, deterministic), the VLAN-ID 00 01 … 1f.
import { createPrivateKey, createPublicKey, sign } from 'node:crypto'
import { writeFileSync } from 'node:fs'

const hex = (b: number[] | Uint8Array) => Buffer.from(b).toString('hex')
const u16 = (n: number) => [(n >>> 8) & 255, n & 255]
const u64 = (n: bigint) =>
  Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(56 - 8 * i)) & 255n))
const ascii = (text: string) => [...Buffer.from(text, 'ascii')]

/** An Ed25519 key from a 32-byte seed: PKCS#8 is a fixed 16-byte prefix and the seed (RFC 8410). */
function key(seedByte: number) {
  const der = Buffer.concat([
    Buffer.from('302e020100300506032b657004220420', 'hex'),
    Buffer.alloc(32, seedByte),
  ])
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  const publicKey = [...spki.subarray(spki.length - 32)]
  // 11-mls.md §2: identity multihash of the protobuf public key.
  const peerId = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...publicKey]
  return {
    seed: hex(Buffer.alloc(32, seedByte)),
    peerId,
    sign: (m: number[]) => [...sign(null, Buffer.from(m), privateKey)],
  }
}

const owner = key(0x01)
const newOwner = key(0x02)
const other = key(0x03)
const vlanId = Array.from({ length: 32 }, (_, i) => i)
const otherVlan = vlanId.map((b) => b ^ 0xff)
const LABEL = ascii('PeerTap v1 mls-transfer')

/** transfer = vlanId ‖ u8 len ‖ newOwnerPeerId ‖ u64 epoch ‖ sig, sig over the label and the rest. */
function transfer(by: ReturnType<typeof key>, to: number[], epoch: bigint, vlan = vlanId) {
  const fields = [...vlan, to.length, ...to, ...u64(epoch)]
  const sig = by.sign([...LABEL, ...fields])
  return { fields, sig, bytes: [...fields, ...sig] }
}

const at = (epoch: bigint) => transfer(owner, newOwner.peerId, epoch)

const valid = [
  { name: 'owner 01… hands the VLAN to 02… at epoch 7', epoch: 7n },
  { name: 'at epoch 0, the smallest', epoch: 0n },
  { name: 'at epoch 2^64 − 1: the epoch is a big-endian u64', epoch: (1n << 64n) - 1n },
].map(({ name, epoch }) => {
  const t = at(epoch)
  return {
    name,
    vlanId: hex(vlanId),
    ownerPeerId: hex(owner.peerId),
    newOwnerPeerId: hex(newOwner.peerId),
    epoch: epoch.toString(),
    signedMessage: hex([...LABEL, ...t.fields]),
    signature: hex(t.sig),
    bytes: hex(t.bytes),
  }
})

const good = at(7n).bytes
const flipped = (bytes: number[], index: number) =>
  bytes.map((b, i) => (i === index ? b ^ 0x01 : b))
const bad = (name: string, bytes: number[], why: string) => ({ name, bytes: hex(bytes), why })

// Each is checked as a receiver at epoch 7 of VLAN 00…1f owned by 01… would check it.
const invalid = [
  bad('empty', [], 'bad length'),
  bad('cut off before the signature ends', good.slice(0, -1), 'bad length'),
  bad('one byte after the signature', [...good, 0x00], 'bad length'),
  bad('a PeerId length of 0', [...vlanId, 0, ...u64(7n), ...good.slice(-64)], 'bad length'),
  bad(
    'a PeerId length of 65',
    [...vlanId, 65, ...Array(65).fill(0), ...u64(7n), ...good.slice(-64)],
    'bad length',
  ),
  bad(
    'for another VLAN (signed for it)',
    transfer(owner, newOwner.peerId, 7n, otherVlan).bytes,
    'another VLAN',
  ),
  bad('for epoch 6 (replayed from another point of the log)', at(6n).bytes, 'another epoch'),
  bad('for epoch 8', at(8n).bytes, 'another epoch'),
  bad(
    'signed by another member (03…)',
    transfer(other, newOwner.peerId, 7n).bytes,
    'not signed by the owner',
  ),
  bad(
    'signed by the new owner itself',
    transfer(newOwner, newOwner.peerId, 7n).bytes,
    'not signed by the owner',
  ),
  bad('the VLAN-ID flipped after signing', flipped(good, 0), 'another VLAN'),
  bad('the PeerId flipped after signing', flipped(good, 40), 'not signed by the owner'),
  bad('the epoch flipped after signing (to 6)', flipped(good, good.length - 65), 'another epoch'),
  bad('the signature flipped', flipped(good, good.length - 1), 'not signed by the owner'),
  bad('naming the owner itself', transfer(owner, owner.peerId, 7n).bytes, 'names the owner'),
]

/** authenticated_data = 0x02 ‖ u16 len ‖ transfer ‖ u64 commitTime. */
const aad = (t: number[], commitTime: bigint) => [0x02, ...u16(t.length), ...t, ...u64(commitTime)]
const aadValid = [
  {
    name: 'the transfer at epoch 7, committed at 1 900 000 000',
    bytes: hex(aad(good, 1_900_000_000n)),
    transfer: hex(good),
    commitTime: '1900000000',
  },
]
const aadInvalid = [
  bad('one byte short of the commit time', aad(good, 0n).slice(0, -1), 'bad authenticated data'),
  bad('one byte after the commit time', [...aad(good, 0n), 0], 'bad authenticated data'),
  bad('shorter than its fixed part', [0x02, 0x00, 0x00], 'bad authenticated data'),
]

writeFileSync(
  new URL('./mls-transfer.json', import.meta.url),
  `${JSON.stringify(
    {
      spec: 'docs/spec/11-mls.md §12.1 (transfer of ownership)',
      layout:
        'transfer = vlanId(32) ‖ u8 len ‖ newOwnerPeerId(len, 1..64) ‖ u64 epoch ‖ sig(64); sig = Ed25519-Sign(ownerIdentityKey, "PeerTap v1 mls-transfer" ‖ vlanId ‖ u8 len ‖ newOwnerPeerId ‖ u64 epoch)',
      keys: {
        owner: { seed: owner.seed, peerId: hex(owner.peerId) },
        newOwner: { seed: newOwner.seed, peerId: hex(newOwner.peerId) },
        other: { seed: other.seed, peerId: hex(other.peerId) },
      },
      receiver: { vlanId: hex(vlanId), epoch: '7', ownerPeerId: hex(owner.peerId) },
      valid,
      invalid,
      authenticatedData: {
        layout: '0x02 ‖ u16 len ‖ transfer(len) ‖ u64 commitTime',
        valid: aadValid,
        invalid: aadInvalid,
      },
    },
    null,
    2,
  )}\n`,
)
