/**
 * test/vectors/*.json (origins in test/vectors/README.md), against both
 * backends: forwards (seal gives these bytes), backwards (open gives the
 * plaintext) and with a flipped bit (dropped).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  aesBackend,
  type CryptoBackend,
  deriveKey,
  derivePskEpochSecrets,
  deriveSenderKeyMaterial,
  FrameReceiver,
  FrameSender,
  HeaderProtection,
  nobleBackend,
  nodeAes,
  nodeBackend,
  openPayload,
  SenderKey,
  sealPayload,
} from '../src/index.ts'
import kdf from './vectors/kdf.json' with { type: 'json' }
import seal from './vectors/seal.json' with { type: 'json' }

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const backends: CryptoBackend[] = [nodeBackend, nobleBackend, aesBackend(nodeAes)]

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe('kdf.json', () => {
  it.each(kdf.psk)('PSK epoch secrets: $name', (v) => {
    const s = derivePskEpochSecrets(bytes(v.secret))
    expect(hex(s.frameBase)).toBe(v.frameBase)
    expect(hex(s.vftKey)).toBe(v.vftKey)
    expect(hex(s.hpKey)).toBe(v.hpKey)
    expect(hex(s.authSeed)).toBe(v.authSeed)
  })

  it.each(kdf.sender)('sender key: $name', (v) => {
    const m = deriveSenderKeyMaterial(bytes(v.frameBase), BigInt(`0x${v.kid}`))
    expect(hex(m.secret)).toBe(v.secret)
    expect(hex(m.key)).toBe(v.key)
    expect(hex(m.salt)).toBe(v.salt)
  })

  it('a different context or material gives a different key', () => {
    const v = kdf.psk[0]!
    expect(hex(deriveKey('PeerTap v1 PSK frame', bytes(v.secret)))).toBe(v.frameBase)
    expect(hex(deriveKey('PeerTap v1 PSK framf', bytes(v.secret)))).not.toBe(v.frameBase)
    const flipped = bytes(v.secret)
    flipped[0]! ^= 1
    expect(hex(deriveKey('PeerTap v1 PSK frame', flipped))).not.toBe(v.frameBase)
  })

  // Live re-check with the independent tools where this machine has them.
  it.skipIf(!has('b3sum', ['--version']))('b3sum agrees on every PSK vector', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peertap-b3-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    for (const v of kdf.psk) {
      const file = join(dir, v.name)
      writeFileSync(file, bytes(v.secret))
      for (const [field, label] of [
        ['frameBase', 'frame'],
        ['vftKey', 'vft'],
        ['hpKey', 'header'],
        ['authSeed', 'relay-auth'],
      ] as const) {
        const out = execFileSync('b3sum', [
          '--derive-key',
          `PeerTap v1 PSK ${label}`,
          '--no-names',
          file,
        ])
        expect(out.toString().trim()).toBe(v[field])
      }
    }
  })

  it.skipIf(!has('openssl', ['version']))(
    'openssl kdf (HKDF EXPAND_ONLY) agrees on every sender key',
    () => {
      const expand = (prk: string, info: Uint8Array, len: number) =>
        execFileSync('openssl', [
          'kdf',
          '-keylen',
          String(len),
          '-kdfopt',
          'digest:SHA256',
          '-kdfopt',
          'mode:EXPAND_ONLY',
          '-kdfopt',
          `hexkey:${prk}`,
          '-kdfopt',
          `hexinfo:${hex(info)}`,
          'HKDF',
        ])
          .toString()
          .trim()
          .replaceAll(':', '')
          .toLowerCase()
      const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'ascii'))
      for (const v of kdf.sender) {
        const info = new Uint8Array([...ascii('PeerTap v1 sender'), ...bytes(v.kid)])
        expect(expand(v.frameBase, info, 32)).toBe(v.secret)
        expect(expand(v.secret, ascii('PeerTap v1 key'), 32)).toBe(v.key)
        expect(expand(v.secret, ascii('PeerTap v1 salt'), 12)).toBe(v.salt)
      }
    },
  )
})

describe.each(backends)('seal.json on $name', (backend) => {
  const secrets = derivePskEpochSecrets(bytes(seal.secret))
  it('the vectors belong to their secret', () => {
    expect(hex(secrets.frameBase)).toBe(seal.frameBase)
    expect(hex(secrets.hpKey)).toBe(seal.hpKey)
  })
  const hp = new HeaderProtection(backend, bytes(seal.hpKey))

  it.each(seal.cases)('$name: forwards, backwards, every flipped bit', (c) => {
    const key = SenderKey.derive(backend, bytes(seal.frameBase), BigInt(`0x${c.kid}`))
    const vft = bytes(c.vft)
    const sealed = sealPayload(hp, key, c.counter, vft, bytes(c.plaintext))
    expect(hex(sealed)).toBe(c.sealed)
    const opened = openPayload(hp, key, vft, bytes(c.sealed))
    expect(typeof opened).not.toBe('string')
    expect(hex(opened as Uint8Array)).toBe(c.plaintext)
    // A flipped bit anywhere drops the frame. (Every bit of short frames, one per byte of long ones.)
    const wire = bytes(c.sealed)
    const step = wire.length > 200 ? 8 * 97 : 1
    for (let bit = 0; bit < wire.length * 8; bit += step) {
      wire[bit >> 3]! ^= 1 << (bit & 7)
      expect(openPayload(hp, key, vft, wire), `bit ${bit}`).toMatch(
        /^(bad-config|non-minimal-ctr|short|unknown-sender|auth)$/,
      )
      wire[bit >> 3]! ^= 1 << (bit & 7)
    }
    // And a flipped bit in the VFT (it is in the AAD).
    const otherVft = vft.slice()
    otherVft[15]! ^= 0x80
    expect(openPayload(hp, key, otherVft, wire)).toBe('auth')
  })

  it('FrameSender reproduces the vectors it can make; FrameReceiver opens them or drops ctr-limit', () => {
    for (const c of seal.cases) {
      const kid = BigInt(`0x${c.kid}`)
      const receiver = new FrameReceiver({ kind: 'psk', secrets, backend })
      const got = receiver.open(bytes(c.sealed), bytes(c.vft), 0)
      if (c.counter >= 2 ** 23) {
        expect(got).toBe('ctr-limit')
        continue
      }
      expect(hex(got as Uint8Array)).toBe(c.plaintext)
      const sender = new FrameSender({
        kind: 'psk',
        secrets,
        backend,
        kid,
        startCounter: c.counter,
      })
      expect(hex(sender.seal(bytes(c.vft), bytes(c.plaintext)))).toBe(c.sealed)
    }
  })
})
