import {
  createCipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
} from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { HpkeKeyError, HpkeOpenError, InvalidArgumentError, PeerTapError } from '../src/errors.ts'
import {
  deriveHpkeKeyPair,
  generateHpkeKeyPair,
  hpkeOpen,
  hpkeSeal,
  openWithoutInfoRuleForTesting,
  sealWithEphemeralIkmForTesting,
} from '../src/hpke.ts'

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

interface RfcVector {
  mode: number
  kem_id: number
  kdf_id: number
  aead_id: number
  info: string
  ikmR: string
  ikmE: string
  skRm: string
  skEm: string
  pkRm: string
  pkEm: string
  enc: string
  shared_secret: string
  key_schedule_context: string
  secret: string
  key: string
  base_nonce: string
  exporter_secret: string
  encryption: { aad: string; pt: string; nonce: string; ct: string }
}
interface PeerTapVector {
  name: string
  ikmR: string
  ikmE: string
  skRm: string
  pkRm: string
  info: string
  aad: string
  pt: string
  sealed: string
}
const vectors = JSON.parse(
  readFileSync(new URL('./vectors/hpke.json', import.meta.url), 'utf8'),
) as {
  rfc9180: RfcVector
  peertap: { vectors: PeerTapVector[] }
}

// ---------------------------------------------------------------------------
// Slow reference: RFC 9180 base mode for this one suite, written from the RFC
// with node:crypto's X25519, HMAC-SHA256 and AES-256-GCM. It shares no code
// with @hpke/core and exists only to check it.
// ---------------------------------------------------------------------------

const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts))
const i2osp = (n: number, w: number): Uint8Array => {
  const out = new Uint8Array(w)
  for (let i = w - 1, v = n; i >= 0; i--, v >>>= 8) out[i] = v & 0xff
  return out
}
const hmac = (key: Uint8Array, data: Uint8Array): Uint8Array =>
  Uint8Array.from(createHmac('sha256', key).update(data).digest())
// RFC 5869 §2.2, §2.3.
const extract = (salt: Uint8Array, ikm: Uint8Array): Uint8Array =>
  hmac(salt.length === 0 ? new Uint8Array(32) : salt, ikm)
const expand = (prk: Uint8Array, info: Uint8Array, length: number): Uint8Array => {
  let t: Uint8Array = new Uint8Array(0)
  let okm: Uint8Array = new Uint8Array(0)
  for (let i = 1; okm.length < length; i++) {
    t = hmac(prk, concat(t, info, Uint8Array.of(i)))
    okm = concat(okm, t)
  }
  return okm.subarray(0, length)
}
// RFC 9180 §4: LabeledExtract / LabeledExpand with "HPKE-v1".
const labeledExtract = (suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) =>
  extract(salt, concat(utf8('HPKE-v1'), suiteId, utf8(label), ikm))
const labeledExpand = (
  suiteId: Uint8Array,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  l: number,
) => expand(prk, concat(i2osp(l, 2), utf8('HPKE-v1'), suiteId, utf8(label), info), l)

const KEM_SUITE = concat(utf8('KEM'), i2osp(0x20, 2))
const HPKE_SUITE = concat(utf8('HPKE'), i2osp(0x20, 2), i2osp(1, 2), i2osp(2, 2))

const x25519Private = (sk: Uint8Array): KeyObject =>
  createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), sk]),
    format: 'der',
    type: 'pkcs8',
  })
const x25519Public = (pk: Uint8Array): KeyObject =>
  createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), pk]),
    format: 'der',
    type: 'spki',
  })
const rawPublic = (sk: Uint8Array): Uint8Array =>
  Uint8Array.from(
    Buffer.from(
      createPublicKey(x25519Private(sk)).export({ format: 'jwk' }).x as string,
      'base64url',
    ),
  )

/** RFC 9180 §7.1.3 DeriveKeyPair for X25519. */
function refDeriveKeyPair(ikm: Uint8Array): { sk: Uint8Array; pk: Uint8Array } {
  const dkpPrk = labeledExtract(KEM_SUITE, new Uint8Array(0), 'dkp_prk', ikm)
  const sk = labeledExpand(KEM_SUITE, dkpPrk, 'sk', new Uint8Array(0), 32)
  return { sk, pk: rawPublic(sk) }
}

/** RFC 9180 §4.1 Encap with a given ephemeral key, then §5.1 KeySchedule (base mode), then Seal (seq 0). */
function refSeal(
  ikmE: Uint8Array,
  pkR: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  pt: Uint8Array,
) {
  const e = refDeriveKeyPair(ikmE)
  const dh = Uint8Array.from(
    diffieHellman({ privateKey: x25519Private(e.sk), publicKey: x25519Public(pkR) }),
  )
  const kemContext = concat(e.pk, pkR)
  const eaePrk = labeledExtract(KEM_SUITE, new Uint8Array(0), 'eae_prk', dh)
  const sharedSecret = labeledExpand(KEM_SUITE, eaePrk, 'shared_secret', kemContext, 32)
  const empty = new Uint8Array(0)
  const pskIdHash = labeledExtract(HPKE_SUITE, empty, 'psk_id_hash', empty)
  const infoHash = labeledExtract(HPKE_SUITE, empty, 'info_hash', info)
  const keyScheduleContext = concat(Uint8Array.of(0), pskIdHash, infoHash)
  const secret = labeledExtract(HPKE_SUITE, sharedSecret, 'secret', empty)
  const key = labeledExpand(HPKE_SUITE, secret, 'key', keyScheduleContext, 32)
  const baseNonce = labeledExpand(HPKE_SUITE, secret, 'base_nonce', keyScheduleContext, 12)
  const exporterSecret = labeledExpand(HPKE_SUITE, secret, 'exp', keyScheduleContext, 32)
  const cipher = createCipheriv('aes-256-gcm', key, baseNonce)
  cipher.setAAD(aad)
  const ct = concat(cipher.update(pt), cipher.final(), cipher.getAuthTag())
  return {
    skE: e.sk,
    enc: e.pk,
    sharedSecret,
    keyScheduleContext,
    secret,
    key,
    baseNonce,
    exporterSecret,
    ct,
  }
}

/** Every byte of `b` with one bit flipped, the bit moving through all eight positions. */
function* flips(b: Uint8Array): Generator<[number, Uint8Array]> {
  for (let i = 0; i < b.length; i++) {
    const c = b.slice()
    c[i]! ^= 1 << (i % 8)
    yield [i, c]
  }
}

async function expectOpenError(p: Promise<unknown>): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(HpkeOpenError)
  expect(err).toBeInstanceOf(PeerTapError)
  expect((err as PeerTapError).code).toBe('hpke-open-failed')
}

describe('RFC 9180 vector: mode 0, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM', () => {
  const v = vectors.rfc9180
  const e = v.encryption

  it('is the entry for this suite', () => {
    expect([v.mode, v.kem_id, v.kdf_id, v.aead_id]).toEqual([0, 0x20, 1, 2])
  })

  it('the slow reference reproduces every intermediate value', () => {
    const r = refDeriveKeyPair(hex(v.ikmR))
    expect(toHex(r.sk)).toBe(v.skRm)
    expect(toHex(r.pk)).toBe(v.pkRm)
    const s = refSeal(hex(v.ikmE), hex(v.pkRm), hex(v.info), hex(e.aad), hex(e.pt))
    expect(toHex(s.skE)).toBe(v.skEm)
    expect(toHex(s.enc)).toBe(v.pkEm)
    expect(toHex(s.enc)).toBe(v.enc)
    expect(toHex(s.sharedSecret)).toBe(v.shared_secret)
    expect(toHex(s.keyScheduleContext)).toBe(v.key_schedule_context)
    expect(toHex(s.secret)).toBe(v.secret)
    expect(toHex(s.key)).toBe(v.key)
    expect(toHex(s.baseNonce)).toBe(v.base_nonce)
    expect(toHex(s.baseNonce)).toBe(e.nonce)
    expect(toHex(s.exporterSecret)).toBe(v.exporter_secret)
    expect(toHex(s.ct)).toBe(e.ct)
  })

  it('deriveHpkeKeyPair gives skRm and pkRm', async () => {
    const pair = await deriveHpkeKeyPair(hex(v.ikmR))
    expect(toHex(pair.privateKey)).toBe(v.skRm)
    expect(toHex(pair.publicKey)).toBe(v.pkRm)
    const eph = await deriveHpkeKeyPair(hex(v.ikmE))
    expect(toHex(eph.privateKey)).toBe(v.skEm)
    expect(toHex(eph.publicKey)).toBe(v.pkEm)
  })

  it('forwards: seal with ikmE gives enc ‖ ct', async () => {
    const sealed = await sealWithEphemeralIkmForTesting(
      { recipientPublicKey: hex(v.pkRm), info: hex(v.info), aad: hex(e.aad), plaintext: hex(e.pt) },
      hex(v.ikmE),
    )
    expect(toHex(sealed)).toBe(v.enc + e.ct)
  })

  it('backwards: open gives the plaintext', async () => {
    const pt = await openWithoutInfoRuleForTesting({
      recipientPrivateKey: hex(v.skRm),
      info: hex(v.info),
      aad: hex(e.aad),
      sealed: hex(v.enc + e.ct),
    })
    expect(toHex(pt)).toBe(e.pt)
  })

  it('a flipped bit anywhere in enc ‖ ct does not open', async () => {
    for (const [, bad] of flips(hex(v.enc + e.ct))) {
      await expectOpenError(
        openWithoutInfoRuleForTesting({
          recipientPrivateKey: hex(v.skRm),
          info: hex(v.info),
          aad: hex(e.aad),
          sealed: bad,
        }),
      )
    }
  })

  it('the public API refuses the RFC info, which lacks the "PeerTap v1" prefix', async () => {
    await expect(
      hpkeOpen({
        recipientPrivateKey: hex(v.skRm),
        info: hex(v.info),
        aad: hex(e.aad),
        sealed: hex(v.enc + e.ct),
      }),
    ).rejects.toBeInstanceOf(InvalidArgumentError)
  })
})

describe('PeerTap vectors', () => {
  for (const v of vectors.peertap.vectors) {
    describe(v.name, () => {
      it('the slow reference reproduces the keys and the sealed bytes', () => {
        const r = refDeriveKeyPair(hex(v.ikmR))
        expect(toHex(r.sk)).toBe(v.skRm)
        expect(toHex(r.pk)).toBe(v.pkRm)
        const s = refSeal(hex(v.ikmE), hex(v.pkRm), hex(v.info), hex(v.aad), hex(v.pt))
        expect(toHex(concat(s.enc, s.ct))).toBe(v.sealed)
      })

      it('forwards', async () => {
        const pair = await deriveHpkeKeyPair(hex(v.ikmR))
        expect(toHex(pair.privateKey)).toBe(v.skRm)
        expect(toHex(pair.publicKey)).toBe(v.pkRm)
        const sealed = await sealWithEphemeralIkmForTesting(
          {
            recipientPublicKey: hex(v.pkRm),
            info: hex(v.info),
            aad: hex(v.aad),
            plaintext: hex(v.pt),
          },
          hex(v.ikmE),
        )
        expect(toHex(sealed)).toBe(v.sealed)
      })

      it('backwards, through the public hpkeOpen', async () => {
        const params = {
          recipientPrivateKey: hex(v.skRm),
          info: hex(v.info),
          sealed: hex(v.sealed),
        }
        const pt = await hpkeOpen(v.aad === '' ? params : { ...params, aad: hex(v.aad) })
        expect(toHex(pt)).toBe(v.pt)
      })

      it('a flipped bit in enc, ciphertext, tag, info or aad does not open', async () => {
        const base = {
          recipientPrivateKey: hex(v.skRm),
          info: hex(v.info),
          aad: hex(v.aad),
          sealed: hex(v.sealed),
        }
        for (const [, sealed] of flips(base.sealed)) {
          await expectOpenError(hpkeOpen({ ...base, sealed }))
        }
        // Past the 10-byte "PeerTap v1" prefix, which hpkeOpen itself checks.
        for (const [i, info] of flips(base.info)) {
          if (i < 10) continue
          await expectOpenError(hpkeOpen({ ...base, info }))
        }
        for (const [, aad] of flips(base.aad)) {
          await expectOpenError(hpkeOpen({ ...base, aad }))
        }
        await expectOpenError(hpkeOpen({ ...base, aad: concat(base.aad, Uint8Array.of(0)) }))
      })
    })
  }
})

describe('hpkeSeal / hpkeOpen', () => {
  const info = utf8('PeerTap v1 join-request')

  it('round-trips with a fresh key pair, and each seal is fresh', async () => {
    const r = await generateHpkeKeyPair()
    expect(r.publicKey.length).toBe(32)
    expect(r.privateKey.length).toBe(32)
    expect(toHex(rawPublic(r.privateKey))).toBe(toHex(r.publicKey))
    const plaintext = utf8('hello owner')
    const aad = utf8('vlan-id')
    const a = await hpkeSeal({ recipientPublicKey: r.publicKey, info, aad, plaintext })
    const b = await hpkeSeal({ recipientPublicKey: r.publicKey, info, aad, plaintext })
    expect(a.length).toBe(32 + plaintext.length + 16)
    expect(toHex(a)).not.toBe(toHex(b))
    for (const sealed of [a, b]) {
      const pt = await hpkeOpen({ recipientPrivateKey: r.privateKey, info, aad, sealed })
      expect(toHex(pt)).toBe(toHex(plaintext))
    }
  })

  it('the wrong private key, info or aad does not open', async () => {
    const r = await generateHpkeKeyPair()
    const other = await generateHpkeKeyPair()
    const sealed = await hpkeSeal({
      recipientPublicKey: r.publicKey,
      info,
      aad: utf8('a'),
      plaintext: utf8('x'),
    })
    await expectOpenError(
      hpkeOpen({ recipientPrivateKey: other.privateKey, info, aad: utf8('a'), sealed }),
    )
    await expectOpenError(
      hpkeOpen({
        recipientPrivateKey: r.privateKey,
        info: utf8('PeerTap v1 other'),
        aad: utf8('a'),
        sealed,
      }),
    )
    await expectOpenError(hpkeOpen({ recipientPrivateKey: r.privateKey, info, sealed }))
  })

  it('truncated, extended or empty input is a typed error, never a crash', async () => {
    const r = await generateHpkeKeyPair()
    const sealed = await hpkeSeal({ recipientPublicKey: r.publicKey, info, plaintext: utf8('abc') })
    for (let n = 0; n < sealed.length; n++) {
      await expectOpenError(
        hpkeOpen({ recipientPrivateKey: r.privateKey, info, sealed: sealed.subarray(0, n) }),
      )
    }
    await expectOpenError(
      hpkeOpen({
        recipientPrivateKey: r.privateKey,
        info,
        sealed: concat(sealed, Uint8Array.of(0)),
      }),
    )
  })

  it('an enc of low order (all-zero X25519 output) is a typed error', async () => {
    const r = await generateHpkeKeyPair()
    const sealed = await hpkeSeal({ recipientPublicKey: r.publicKey, info, plaintext: utf8('abc') })
    // Small-order u-coordinates of Curve25519: 0, 1, and p - 1 = 2^255 - 20.
    const lowOrder = [
      new Uint8Array(32),
      Uint8Array.of(1, ...new Uint8Array(31)),
      hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
    ]
    for (const enc of lowOrder) {
      const bad = sealed.slice()
      bad.set(enc, 0)
      await expectOpenError(hpkeOpen({ recipientPrivateKey: r.privateKey, info, sealed: bad }))
    }
  })

  it('sealing to a low-order public key throws HpkeKeyError', async () => {
    const err = await hpkeSeal({
      recipientPublicKey: new Uint8Array(32),
      info,
      plaintext: utf8('x'),
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(HpkeKeyError)
    expect((err as PeerTapError).code).toBe('hpke-invalid-key')
  })

  it("a caller's mistakes throw InvalidArgumentError", async () => {
    const r = await generateHpkeKeyPair()
    const bad = [
      hpkeSeal({ recipientPublicKey: r.publicKey.subarray(1), info, plaintext: utf8('x') }),
      hpkeSeal({
        recipientPublicKey: r.publicKey,
        info: utf8('join-request'),
        plaintext: utf8('x'),
      }),
      hpkeSeal({ recipientPublicKey: r.publicKey, info: utf8('PeerTap v'), plaintext: utf8('x') }),
      hpkeSeal({
        recipientPublicKey: r.publicKey,
        info: new Uint8Array(8193),
        plaintext: utf8('x'),
      }),
      hpkeOpen({ recipientPrivateKey: r.privateKey.subarray(1), info, sealed: new Uint8Array(64) }),
      deriveHpkeKeyPair(new Uint8Array(31)),
    ]
    for (const p of bad) await expect(p).rejects.toBeInstanceOf(InvalidArgumentError)
  })
})
