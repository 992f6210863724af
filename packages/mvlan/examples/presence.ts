// A fabric's keys, a root-signed epoch statement, and presence records
// from three members offered to one member's directory.
// Run from the repository root:
//   node --conditions=peertap:source packages/mvlan/examples/presence.ts
import {
  Directory,
  decodeFabricEpoch,
  decodePresenceBatch,
  decodePresenceFrame,
  ed25519PeerIdOf,
  encodePresenceBatch,
  encodePresenceFrame,
  fabricKeys,
  mvlanPortMac,
  rootKeyOf,
  signFabricEpoch,
  signPresence,
  verifyFabricEpoch,
} from '@peertap/mvlan'

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const now = Math.floor(Date.now() / 1000)

// The fabric: one secret makes the MVLAN and its credential key.
const secret = new Uint8Array(32).fill(0x42) // 32 random bytes in a real fabric
const keys = fabricKeys(secret)
console.log('MVLAN-ID       ', hex(keys.mvlanId))
console.log('credential key ', hex(keys.credentialKey))

// The root signs "epoch 1's credential key is K"; a relay that knows only
// the root's public key checks it and admits proofs under K.
const rootSeed = new Uint8Array(32).fill(0x01) // kept off the relays
const statement = signFabricEpoch({
  rootSeed,
  epoch: 1,
  credentialKey: keys.credentialKey,
  issuedAt: now,
})
const read = decodeFabricEpoch(statement)
const trusted = rootKeyOf(rootSeed)
const valid =
  read.ok && hex(read.statement.rootKey) === hex(trusted) && verifyFabricEpoch(read.statement)
console.log('statement      ', statement.length, 'bytes, valid:', valid)

// Three members publish presence records on the MVLAN.
const members = [1, 2, 3].map((n) => {
  const seed = new Uint8Array(32).fill(n) // each member's PeerId seed
  return { seed, peerId: ed25519PeerIdOf(seed) }
})
const frames = members.map(({ seed, peerId }, i) => {
  const record = signPresence({
    seed,
    peerId,
    role: i === 0 ? 'relay' : 'node',
    seq: 1n,
    issuedAt: now,
    expiresAt: now + 900,
    addresses: [`/ip4/192.0.2.${i + 1}/udp/7400/quic-v1`],
    vlans: [{ vlanId: keys.mvlanId, name: 'fabric' }],
  })
  return encodePresenceFrame({
    dst: new Uint8Array(6).fill(0xff),
    src: mvlanPortMac(peerId),
    record,
  })
})

// The third member hears them (its own is never stored) and offers each to its directory.
const directory = new Directory({ self: members[2]!.peerId })
for (const frame of frames) {
  const presence = decodePresenceFrame(frame)
  if (presence === undefined) continue
  const result = directory.offer(presence.record, now)
  console.log(
    'offer          ',
    result.ok ? `${result.change} ${result.entry.peerId}` : `refused: ${result.reason}`,
  )
}
// The same record again is a replay: stale, and never costs a signature check.
console.log('replay         ', directory.offer(decodePresenceFrame(frames[0]!)!.record, now))
console.log(
  'relays         ',
  directory.relays(now).map((e) => e.record.addresses),
)
console.log(
  'nodes          ',
  directory.nodes(now).map((e) => e.peerId),
)

// A newcomer gets the directory in one CONTROL channel 12 batch.
const batch = encodePresenceBatch(directory.records(now))
const newcomer = new Directory()
for (const record of decodePresenceBatch(batch) ?? []) newcomer.offer(record, now)
console.log('newcomer       ', batch.length, 'bytes,', newcomer.size, 'entries')
