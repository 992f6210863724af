/**
 * Writes ticket.json: relay tickets (docs/spec/12-relay.md §12.8.2) built
 * here byte by byte from the spec's layout and signed with node:crypto's
 * Ed25519 (OpenSSL), not by src/. Run from packages/relay:
 *   node test/vectors/generate.ts
 * Ed25519 signatures are deterministic (RFC 8032), so the output is the same
 * on every run. Origin of each input: README.md beside this file.
 */
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto'
import { writeFileSync } from 'node:fs'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const here = new URL('.', import.meta.url)
const LABEL = Buffer.from('PeerTap v1 relay ticket', 'utf8')

/** RFC 8032 §7.1 TEST 1 and TEST 2 secret keys (seeds). */
const SEED_1 = Buffer.from(
  '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  'hex',
)
const SEED_2 = Buffer.from(
  '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
  'hex',
)

function keyPair(seed: Buffer) {
  const privateKey = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  })
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x as string
  const publicKey = Buffer.from(x, 'base64url')
  // libp2p's identity multihash of protobuf PublicKey{Type: Ed25519 (1), Data: key}.
  const peerId = Buffer.concat([Buffer.from('002408011220', 'hex'), publicKey])
  return { privateKey, publicKey, peerId }
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(n)
  return b
}

/** The first 16 bytes of SHA-256("PeerTap v1 test ticket id N"). */
function ticketId(n: number): Buffer {
  return createHash('sha256').update(`PeerTap v1 test ticket id ${n}`).digest().subarray(0, 16)
}

function ticket(p: {
  version?: number
  owner: Buffer
  ownerLength?: number
  notAfter: bigint
  id: Buffer
  signer: ReturnType<typeof keyPair>['privateKey']
}) {
  const signed = Buffer.concat([
    Buffer.from([p.version ?? 1, p.ownerLength ?? p.owner.length]),
    p.owner,
    u64(p.notAfter),
    p.id,
  ])
  const message = Buffer.concat([LABEL, signed])
  const signature = sign(null, message, p.signer)
  return { signed, message, signature, ticket: Buffer.concat([signed, signature]) }
}

const owner = keyPair(SEED_1)
const other = keyPair(SEED_2)
const NOW = 1_780_000_000
const DAY = 86_400

const valid = [
  { name: 'one day', notAfter: NOW + DAY, id: ticketId(1) },
  { name: 'exactly seven days', notAfter: NOW + 7 * DAY, id: ticketId(2) },
  { name: 'expires now', notAfter: NOW, id: ticketId(3) },
].map(({ name, notAfter, id }) => {
  const t = ticket({
    owner: owner.peerId,
    notAfter: BigInt(notAfter),
    id,
    signer: owner.privateKey,
  })
  return {
    name,
    seed: hex(SEED_1),
    publicKey: hex(owner.publicKey),
    ownerPeerId: hex(owner.peerId),
    notAfter,
    ticketId: hex(id),
    now: NOW,
    message: hex(t.message),
    signature: hex(t.signature),
    ticket: hex(t.ticket),
  }
})

const good = ticket({
  owner: owner.peerId,
  notAfter: BigInt(NOW + DAY),
  id: ticketId(1),
  signer: owner.privateKey,
})
// An owner with a small-order key (the identity point's encoding): nobody holds its secret.
const smallOrder = Buffer.concat([
  Buffer.from('002408011220', 'hex'),
  Buffer.from([1]),
  Buffer.alloc(31),
])
// A secp256k1 PeerId (protobuf key type 2, 33-byte compressed key): not Ed25519.
const secp = Buffer.concat([
  Buffer.from('002508021221', 'hex'),
  Buffer.from([2]),
  Buffer.alloc(32, 7),
])
const refused: { name: string; reason: string; ticket: string; now: number }[] = [
  { name: 'empty', reason: 'truncated', ticket: '', now: NOW },
  { name: 'one byte', reason: 'truncated', ticket: '01', now: NOW },
  {
    name: 'version 2',
    reason: 'unknown-version',
    ticket: hex(
      ticket({
        version: 2,
        owner: owner.peerId,
        notAfter: BigInt(NOW + DAY),
        id: ticketId(1),
        signer: owner.privateKey,
      }).ticket,
    ),
    now: NOW,
  },
  {
    name: 'version 0',
    reason: 'unknown-version',
    ticket: hex(Buffer.concat([Buffer.from([0]), good.ticket.subarray(1)])),
    now: NOW,
  },
  {
    name: 'last byte missing',
    reason: 'truncated',
    ticket: hex(good.ticket.subarray(0, good.ticket.length - 1)),
    now: NOW,
  },
  { name: 'no signature', reason: 'truncated', ticket: hex(good.signed), now: NOW },
  {
    name: 'one byte more',
    reason: 'trailing-bytes',
    ticket: hex(Buffer.concat([good.ticket, Buffer.from([0])])),
    now: NOW,
  },
  {
    name: 'secp256k1 owner',
    reason: 'not-ed25519',
    ticket: hex(
      ticket({
        owner: secp,
        notAfter: BigInt(NOW + DAY),
        id: ticketId(1),
        signer: owner.privateKey,
      }).ticket,
    ),
    now: NOW,
  },
  {
    name: 'owner of length 0',
    reason: 'not-ed25519',
    ticket: hex(
      ticket({
        owner: Buffer.alloc(0),
        notAfter: BigInt(NOW + DAY),
        id: ticketId(1),
        signer: owner.privateKey,
      }).ticket,
    ),
    now: NOW,
  },
  {
    name: 'expired a second ago',
    reason: 'expired',
    ticket: hex(
      ticket({
        owner: owner.peerId,
        notAfter: BigInt(NOW - 1),
        id: ticketId(4),
        signer: owner.privateKey,
      }).ticket,
    ),
    now: NOW,
  },
  {
    name: 'seven days and a second',
    reason: 'too-long-lived',
    ticket: hex(
      ticket({
        owner: owner.peerId,
        notAfter: BigInt(NOW + 7 * DAY + 1),
        id: ticketId(5),
        signer: owner.privateKey,
      }).ticket,
    ),
    now: NOW,
  },
  {
    name: 'notAfter 2^64 - 1',
    reason: 'too-long-lived',
    ticket: hex(
      ticket({
        owner: owner.peerId,
        notAfter: 2n ** 64n - 1n,
        id: ticketId(6),
        signer: owner.privateKey,
      }).ticket,
    ),
    now: NOW,
  },
  {
    name: 'small-order owner key',
    reason: 'bad-key',
    ticket: hex(
      ticket({
        owner: smallOrder,
        notAfter: BigInt(NOW + DAY),
        id: ticketId(1),
        signer: owner.privateKey,
      }).ticket,
    ),
    now: NOW,
  },
  {
    name: 'signed by another key',
    reason: 'bad-signature',
    ticket: hex(
      ticket({
        owner: owner.peerId,
        notAfter: BigInt(NOW + DAY),
        id: ticketId(1),
        signer: other.privateKey,
      }).ticket,
    ),
    now: NOW,
  },
  {
    name: 'signature without the label',
    reason: 'bad-signature',
    ticket: hex(Buffer.concat([good.signed, sign(null, good.signed, owner.privateKey)])),
    now: NOW,
  },
]

writeFileSync(
  new URL('ticket.json', here),
  `${JSON.stringify(
    {
      origin:
        'test/vectors/generate.ts (node:crypto Ed25519, the layout built byte by byte from docs/spec/12-relay.md §12.8.2, not src/). Owner key: RFC 8032 §7.1 TEST 1 secret key; the other signer: TEST 2. Ticket ids: SHA-256("PeerTap v1 test ticket id N")[0..16]. See README.md.',
      // Once from @libp2p/peer-id 6.0.15 (peerIdFromPublicKey(...).toString()); README.md.
      ownerPeerIdText: '12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5pV',
      valid,
      refused,
    },
    null,
    2,
  )}\n`,
)
