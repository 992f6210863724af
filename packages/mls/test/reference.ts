/**
 * A slow reference of the MLS-Exporter for suite 1, written straight from
 * RFC 9420 and independent of ts-mls:
 *
 *   §8.5  MLS-Exporter(Label, Context, Length) =
 *           ExpandWithLabel(DeriveSecret(exporter_secret, Label), "exported", Hash(Context), Length)
 *   §8    DeriveSecret(Secret, Label) = ExpandWithLabel(Secret, Label, "", KDF.Nh)
 *         ExpandWithLabel(Secret, Label, Context, Length) = KDF.Expand(Secret, KDFLabel, Length)
 *         struct { uint16 length; opaque label<V> = "MLS 1.0 " + Label; opaque context<V>; } KDFLabel
 *   §2.1.2 <V> vectors carry a variable-length integer (QUIC style, 1/2/4 bytes) length prefix
 *   RFC 5869 §2.3 HKDF-Expand with HMAC-SHA256 (suite 1), bit by bit: T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i)
 *
 * node:crypto supplies only HMAC-SHA256 and SHA-256.
 */
import { createHash, createHmac } from 'node:crypto'

const NH = 32

export function varint(n: number): Uint8Array {
  if (n < 0x40) return Uint8Array.of(n)
  if (n < 0x4000) return Uint8Array.of(0x40 | (n >> 8), n & 0xff)
  if (n < 0x40000000)
    return Uint8Array.of(0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
  throw new Error('too long')
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]))
}

export function hkdfExpandSha256(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const out: number[] = []
  let t = new Uint8Array(0)
  for (let i = 1; out.length < length; i++) {
    t = new Uint8Array(
      createHmac('sha256', prk)
        .update(concat(t, info, Uint8Array.of(i)))
        .digest(),
    )
    out.push(...t)
  }
  return Uint8Array.from(out.slice(0, length))
}

export function kdfLabel(label: string, context: Uint8Array, length: number): Uint8Array {
  const fullLabel = new TextEncoder().encode(`MLS 1.0 ${label}`)
  return concat(
    Uint8Array.of(length >> 8, length & 0xff),
    varint(fullLabel.length),
    fullLabel,
    varint(context.length),
    context,
  )
}

export function expandWithLabel(
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  return hkdfExpandSha256(secret, kdfLabel(label, context, length), length)
}

export function deriveSecret(secret: Uint8Array, label: string): Uint8Array {
  return expandWithLabel(secret, label, new Uint8Array(0), NH)
}

export function referenceMlsExporter(
  exporterSecret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
  // RFC 9420 says "exported"; drafts before mlswg/mls-protocol#864 said "exporter".
  expandLabel = 'exported',
): Uint8Array {
  const contextHash = new Uint8Array(createHash('sha256').update(context).digest())
  return expandWithLabel(deriveSecret(exporterSecret, label), expandLabel, contextHash, length)
}

/** The four PeerTap secrets of an epoch (11-mls.md §3), by the reference. */
export function referenceEpochSecrets(exporterSecret: Uint8Array, vlanId: Uint8Array) {
  return {
    frameBase: referenceMlsExporter(exporterSecret, 'PeerTap v1 frame', vlanId, 32),
    vftKey: referenceMlsExporter(exporterSecret, 'PeerTap v1 vft', vlanId, 32),
    hpKey: referenceMlsExporter(exporterSecret, 'PeerTap v1 header', vlanId, 32),
    authSeed: referenceMlsExporter(exporterSecret, 'PeerTap v1 relay-auth', vlanId, 32),
  }
}

/** Filler bytes: SHA-256 of "PeerTap v1 test <label> <i>". */
export function filler(label: string, i: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`PeerTap v1 test ${label} ${i}`).digest())
}
