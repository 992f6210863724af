import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mlsExporter } from 'ts-mls'
import { describe, expect, it } from 'vitest'
import { exportEpochSecrets } from '../src/index.ts'
import { suite } from '../src/suite.ts'
import { kdfLabel, referenceEpochSecrets, referenceMlsExporter } from './reference.ts'

const load = (name: string) =>
  JSON.parse(readFileSync(new URL(`./vectors/${name}`, import.meta.url), 'utf8'))
const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

const rfc = load('rfc9420-exporter.json').cases as {
  exporterSecret: string
  label: string
  context: string
  length: number
  secret: string
}[]
const ours = load('exporter.json').cases as Record<
  'exporterSecret' | 'vlanId' | 'frameBase' | 'vftKey' | 'hpKey' | 'authSeed',
  string
>[]
const FIELDS = ['frameBase', 'vftKey', 'hpKey', 'authSeed'] as const
const LABELS = {
  frameBase: 'PeerTap v1 frame',
  vftKey: 'PeerTap v1 vft',
  hpKey: 'PeerTap v1 header',
  authSeed: 'PeerTap v1 relay-auth',
} as const

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function opensslExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const out = execFileSync(
    'openssl',
    [
      'kdf',
      '-keylen',
      String(length),
      '-kdfopt',
      'digest:SHA256',
      '-kdfopt',
      'mode:EXPAND_ONLY',
      '-kdfopt',
      `hexkey:${hex(prk)}`,
      '-kdfopt',
      `hexinfo:${hex(info)}`,
      'HKDF',
    ],
    { encoding: 'utf8' },
  )
  return bytes(out.trim().replaceAll(':', ''))
}

describe('MLS interop exporter vectors (mlswg, suite 1)', () => {
  // These vectors predate the RFC's rename of the inner label from
  // "exporter" to "exported" (mlswg/mls-protocol#864). They pin the
  // reference's KDFLabel, varint and HKDF machinery to another
  // implementation's output; the label itself follows RFC 9420.
  it.each(rfc)('the reference with the draft label gives $secret', (v) => {
    const ref = referenceMlsExporter(
      bytes(v.exporterSecret),
      v.label,
      bytes(v.context),
      v.length,
      'exporter',
    )
    expect(hex(ref)).toBe(v.secret.toLowerCase())
  })

  it.each(rfc)('ts-mls follows RFC 9420 ("exported"), as the reference does', async (v) => {
    const cs = await suite()
    const lib = await mlsExporter(bytes(v.exporterSecret), v.label, bytes(v.context), v.length, cs)
    const ref = referenceMlsExporter(bytes(v.exporterSecret), v.label, bytes(v.context), v.length)
    expect(hex(lib)).toBe(hex(ref))
    expect(hex(lib)).not.toBe(v.secret.toLowerCase())
  })

  it('a flipped bit in the secret or label gives another output', () => {
    const v = rfc[0]!
    const secret = bytes(v.exporterSecret)
    secret[7]! ^= 0x10
    const want = v.secret.toLowerCase()
    expect(hex(referenceMlsExporter(secret, v.label, bytes(v.context), 32, 'exporter'))).not.toBe(
      want,
    )
    const ctx = bytes(v.context)
    ctx[0]! ^= 1
    expect(
      hex(referenceMlsExporter(bytes(v.exporterSecret), v.label, ctx, 32, 'exporter')),
    ).not.toBe(want)
  })
})

describe('PeerTap epoch secrets (exporter.json)', () => {
  it.each(ours)(
    'forwards: exporter secret $exporterSecret -> the four secrets (reference and ts-mls)',
    async (v) => {
      const ref = referenceEpochSecrets(bytes(v.exporterSecret), bytes(v.vlanId))
      const lib = await exportEpochSecrets({
        exporterSecret: bytes(v.exporterSecret),
        vlanId: bytes(v.vlanId),
      })
      for (const f of FIELDS) {
        expect(hex(ref[f]), f).toBe(v[f])
        expect(hex(lib[f]), f).toBe(v[f])
      }
    },
  )

  it('backwards: each output comes from its own label and VLAN-ID and from no other', () => {
    for (const v of ours) {
      for (const f of FIELDS) {
        const sources: string[] = []
        for (const w of ours) {
          for (const g of FIELDS) {
            const out = referenceMlsExporter(
              bytes(v.exporterSecret),
              LABELS[g],
              bytes(w.vlanId),
              32,
            )
            if (hex(out) === v[f]) sources.push(`${g}/${w.vlanId}`)
          }
        }
        expect(sources).toEqual([`${f}/${v.vlanId}`])
      }
    }
  })

  it('a flipped bit of the exporter secret or the VLAN-ID changes all four; a flipped output bit fails', async () => {
    const v = ours[1]!
    for (const which of ['exporterSecret', 'vlanId'] as const) {
      for (const bit of [0, 77, 255]) {
        const input = { exporterSecret: bytes(v.exporterSecret), vlanId: bytes(v.vlanId) }
        input[which][bit >> 3]! ^= 1 << (bit & 7)
        const lib = await exportEpochSecrets(input)
        for (const f of FIELDS) expect(hex(lib[f]), `${which} bit ${bit} ${f}`).not.toBe(v[f])
      }
    }
    const lib = await exportEpochSecrets({
      exporterSecret: bytes(v.exporterSecret),
      vlanId: bytes(v.vlanId),
    })
    const flipped = bytes(v.frameBase)
    flipped[31]! ^= 0x80
    expect(hex(lib.frameBase)).not.toBe(hex(flipped))
  })

  it.runIf(hasOpenssl())('the OpenSSL CLI computes every vector independently', () => {
    for (const v of ours) {
      for (const f of FIELDS) {
        const derived = opensslExpand(
          bytes(v.exporterSecret),
          kdfLabel(LABELS[f], new Uint8Array(0), 32),
          32,
        )
        const ctx = new Uint8Array(createHash('sha256').update(bytes(v.vlanId)).digest())
        expect(hex(opensslExpand(derived, kdfLabel('exported', ctx, 32), 32)), f).toBe(v[f])
      }
    }
  })

  it('refuses inputs of the wrong length', async () => {
    await expect(
      exportEpochSecrets({ exporterSecret: new Uint8Array(31), vlanId: new Uint8Array(32) }),
    ).rejects.toMatchObject({
      code: 'mls-malformed',
    })
    await expect(
      exportEpochSecrets({ exporterSecret: new Uint8Array(32), vlanId: new Uint8Array(16) }),
    ).rejects.toMatchObject({
      code: 'mls-malformed',
    })
  })
})
