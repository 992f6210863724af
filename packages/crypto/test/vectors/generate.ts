/**
 * Writes kdf.json and seal.json from the reference implementation
 * (../reference.ts), not from src/. Run from packages/crypto:
 *   node test/vectors/generate.ts
 * The inputs below are fixed; the outputs were cross-checked independently
 * (README.md beside this file).
 */
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { refPsk, refSeal, refSenderKey } from '../reference.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const here = new URL('.', import.meta.url)
/** Deterministic filler: SHA-256("PeerTap v1 test <label> <i>") blocks. */
function filler(label: string, length: number): Buffer {
  const out: Buffer[] = []
  for (let i = 0; out.length * 32 < length; i++) {
    out.push(createHash('sha256').update(`PeerTap v1 test ${label} ${i}`).digest())
  }
  return Buffer.concat(out).subarray(0, length)
}

const secrets = [
  { name: 'ascii', secret: Buffer.from('PeerTap test fabric secret', 'utf8') },
  { name: 'one-zero-byte', secret: Buffer.from([0]) },
  { name: 'bytes-00-1f', secret: Buffer.from(Array.from({ length: 32 }, (_, i) => i)) },
  { name: 'filler-100', secret: filler('secret', 100) },
]
const psk = secrets.map(({ name, secret }) => {
  const k = refPsk(secret)
  return {
    name,
    secret: hex(secret),
    frameBase: hex(k.frameBase),
    vftKey: hex(k.vftKey),
    hpKey: hex(k.hpKey),
    authSeed: hex(k.authSeed),
  }
})

const base = refPsk(secrets[0]!.secret)
const kids = [
  { name: 'zero', kid: 0n },
  { name: 'mls leaf 5 epoch 0x12 generation 0xdeadbeef', kid: 0x00000512deadbeefn },
  { name: 'mls leaf 0xffffff epoch 0xff generation 0xffffffff', kid: 0xffffffffffffffffn },
  { name: 'psk random', kid: 0x0123456789abcdefn },
]
const sender = kids.map(({ name, kid }) => {
  const k = refSenderKey(base.frameBase, kid)
  return {
    name,
    frameBase: hex(base.frameBase),
    kid: kid.toString(16).padStart(16, '0'),
    secret: hex(k.secret),
    key: hex(k.key),
    salt: hex(k.salt),
  }
})
writeFileSync(
  new URL('kdf.json', here),
  `${JSON.stringify({ description: 'README.md: kdf.json', psk, sender }, null, 2)}\n`,
)

function plaintext(kind: number, length: number): Buffer {
  const p = filler(`plaintext ${length}`, length)
  p[0] = kind
  return p
}
const vft = filler('vft', 16)
const cases = [
  {
    name: 'ctrLen 1, counter 0, 64 bytes',
    kid: 0x00000703a1b2c3d4n,
    counter: 0n,
    pt: plaintext(0, 64),
  },
  {
    name: 'ctrLen 1, counter 255, 1 byte',
    kid: 0x00000703a1b2c3d4n,
    counter: 255n,
    pt: plaintext(2, 1),
  },
  {
    name: 'ctrLen 2, counter 256, 64 bytes',
    kid: 0x00000703a1b2c3d4n,
    counter: 256n,
    pt: plaintext(0, 64),
  },
  {
    name: 'ctrLen 2, counter 0x1234, 1400 bytes',
    kid: 0x0123456789abcdefn,
    counter: 0x1234n,
    pt: plaintext(0, 1400),
  },
  {
    name: 'ctrLen 3, counter 2^23-1, 1400 bytes',
    kid: 0x0123456789abcdefn,
    counter: 0x7fffffn,
    pt: plaintext(1, 1400),
  },
  {
    name: 'ctrLen 7, counter 0x0123456789abcd (receivers drop: ctr-limit), 64 bytes',
    kid: 0xfedcba9876543210n,
    counter: 0x0123456789abcdn,
    pt: plaintext(0, 64),
  },
  {
    name: 'ctrLen 1, counter 1, 9000 bytes',
    kid: 0xffffffffffffffffn,
    counter: 1n,
    pt: plaintext(3, 9000),
  },
]
const seal = cases.map((c) => ({
  name: c.name,
  kid: c.kid.toString(16).padStart(16, '0'),
  counter: Number(c.counter),
  vft: hex(vft),
  plaintext: hex(c.pt),
  sealed: hex(refSeal(base.frameBase, base.hpKey, c.kid, c.counter, vft, c.pt)),
}))
writeFileSync(
  new URL('seal.json', here),
  `${JSON.stringify(
    {
      description: 'README.md: seal.json',
      secret: hex(secrets[0]!.secret),
      frameBase: hex(base.frameBase),
      hpKey: hex(base.hpKey),
      cases: seal,
    },
    null,
    2,
  )}\n`,
)
console.log(`wrote ${psk.length + sender.length} kdf vectors and ${seal.length} seal vectors`)
