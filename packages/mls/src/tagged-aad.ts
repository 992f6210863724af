/**
 * The authenticated data a commit carries for a lease (tag 0x01, 11-mls.md
 * §5) or a transfer (tag 0x02, §12.1): `tag ‖ u16 len ‖ body(len) ‖ u64
 * commitTime`, integers big-endian. The layout only: lease.ts and
 * transfer.ts judge the body and the time, with their own errors.
 */

/** The layout; `commitTime` must be whole unix seconds (the caller checks it). */
export function encodeTaggedAad(tag: number, body: Uint8Array, commitTime: number): Uint8Array {
  const out = new Uint8Array(1 + 2 + body.length + 8)
  const view = new DataView(out.buffer)
  out[0] = tag
  view.setUint16(1, body.length)
  out.set(body, 3)
  view.setBigUint64(3 + body.length, BigInt(commitTime))
  return out
}

/** The body (a copy) and commit time, or undefined when the length fields do not add up. */
export function decodeTaggedAad(
  aad: Uint8Array,
): { readonly body: Uint8Array; readonly commitTime: bigint } | undefined {
  if (aad.length < 11) return undefined
  const view = new DataView(aad.buffer, aad.byteOffset, aad.byteLength)
  const len = view.getUint16(1)
  if (aad.length !== 3 + len + 8) return undefined
  return { body: aad.slice(3, 3 + len), commitTime: view.getBigUint64(3 + len) }
}
