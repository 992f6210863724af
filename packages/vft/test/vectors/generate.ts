// Regenerates vft.json with the independent BLAKE3 implementation of the
// `b3sum` tool (Debian package b3sum, the BLAKE3 team's Rust crate), not with
// this package's code. Run: node packages/vft/test/vectors/generate.ts
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'

function b3sum(args: string[], input: Uint8Array): Buffer {
  const hex = execFileSync('b3sum', [...args, '--no-names', '--raw', '-'], { input })
  return hex
}
const deriveKey = (context: string, input: Uint8Array, length = 32) =>
  b3sum(['--derive-key', context, '--length', String(length)], input)
const keyed = (key: Uint8Array, input: Uint8Array, length: number) => {
  // b3sum --keyed reads the 32-byte key from stdin, so the message goes in a file.
  const file = `/tmp/peertap-vft-vector-${process.pid}`
  writeFileSync(file, input)
  return execFileSync(
    'b3sum',
    ['--keyed', '--length', String(length), '--no-names', '--raw', file],
    {
      input: key,
    },
  )
}

// Deterministic test inputs: Ed25519 identity-multihash PeerIds
// (0x00 0x24 0x08 0x01 0x12 0x20 ‖ 32-byte public key) whose "keys" are
// BLAKE3 outputs of short labels, and vftKeys made the same way.
const label = (s: string) => deriveKey('PeerTap v1 test vectors', Buffer.from(s))
const ed25519PeerId = (s: string) =>
  Buffer.concat([Buffer.from('002408011220', 'hex'), label(`peer ${s}`)])
const sha256PeerId = (s: string) => Buffer.concat([Buffer.from('1220', 'hex'), label(`sha ${s}`)])

const cases: Array<{ comment: string; owner: Buffer; name: string; mac: string; window: number }> =
  [
    {
      comment: 'unicast, a window of 2026',
      owner: ed25519PeerId('alice'),
      name: 'lab',
      mac: '02:00:00:00:00:01',
      window: 2_963_231,
    },
    {
      comment: 'broadcast',
      owner: ed25519PeerId('alice'),
      name: 'lab',
      mac: 'ff:ff:ff:ff:ff:ff',
      window: 2_963_231,
    },
    {
      comment: 'IPv4 multicast (224.0.0.251, mDNS)',
      owner: ed25519PeerId('alice'),
      name: 'lab',
      mac: '01:00:5e:00:00:fb',
      window: 2_963_231,
    },
    {
      comment: 'IPv6 solicited-node multicast',
      owner: ed25519PeerId('alice'),
      name: 'lab',
      mac: '33:33:ff:00:00:01',
      window: 2_963_232,
    },
    {
      comment: 'first window',
      owner: ed25519PeerId('bob'),
      name: 'office',
      mac: '02:00:00:00:00:02',
      window: 0,
    },
    {
      comment: 'last u32 window',
      owner: ed25519PeerId('bob'),
      name: 'office',
      mac: '02:00:00:00:00:02',
      window: 0xffff_ffff,
    },
    {
      comment: 'window with every byte distinct',
      owner: ed25519PeerId('bob'),
      name: 'office',
      mac: '0a:1b:2c:3d:4e:5f',
      window: 0x0102_0304,
    },
    {
      comment: 'non-ASCII name, NFC',
      owner: ed25519PeerId('carol'),
      name: 'café-ネット',
      mac: '02:00:00:00:00:03',
      window: 2_963_231,
    },
    {
      comment: 'non-ASCII name given in NFD: same VLAN-ID as the NFC form',
      owner: ed25519PeerId('carol'),
      name: 'cafe\u0301-ネット',
      mac: '02:00:00:00:00:03',
      window: 2_963_231,
    },
    {
      comment: 'name of exactly 64 bytes',
      owner: ed25519PeerId('dave'),
      name: 'x'.repeat(64),
      mac: '02:00:00:00:00:04',
      window: 1,
    },
    {
      comment: 'sha2-256 multihash PeerId',
      owner: sha256PeerId('erin'),
      name: 'mesh',
      mac: '02:00:00:00:00:05',
      window: 2_963_231,
    },
  ]

const vectors = cases.map((c, i) => {
  const nameBytes = Buffer.from(c.name.normalize('NFC'), 'utf8')
  const vlanId = deriveKey('PeerTap v1 VLAN-ID', Buffer.concat([c.owner, Buffer.of(0), nameBytes]))
  // Each vector's vftKey stands in for an epoch's key; it is bound to the VLAN-ID only for variety.
  const vftKey = deriveKey(
    'PeerTap v1 test vectors',
    Buffer.concat([Buffer.from(`vftKey ${i}`), vlanId]),
  )
  const mac = Buffer.from(c.mac.replaceAll(':', ''), 'hex')
  const window = Buffer.alloc(4)
  window.writeUInt32BE(c.window)
  const vft = keyed(vftKey, Buffer.concat([Buffer.from('PeerTap v1 vft'), mac, window]), 16)
  return {
    comment: c.comment,
    ownerPeerId: c.owner.toString('hex'),
    name: c.name,
    vlanId: vlanId.toString('hex'),
    vftKey: vftKey.toString('hex'),
    mac: mac.toString('hex'),
    window: c.window,
    vft: vft.toString('hex'),
  }
})

const fabricSecret = label('fabric secret')
const mvlan = {
  comment: 'MVLAN-ID of a fabric secret',
  fabricSecret: fabricSecret.toString('hex'),
  mvlanId: deriveKey('PeerTap v1 MVLAN-ID', fabricSecret).toString('hex'),
}

writeFileSync(new URL('./vft.json', import.meta.url), `${JSON.stringify(vectors, null, 2)}\n`)
writeFileSync(new URL('./mvlan.json', import.meta.url), `${JSON.stringify([mvlan], null, 2)}\n`)
console.log(
  `wrote ${vectors.length} VFT vectors and 1 MVLAN vector with ${execFileSync('b3sum', ['--version']).toString().trim()}`,
)
