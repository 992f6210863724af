/**
 * Constant-time byte comparison, for MACs, tags, tokens and keys compared
 * against secret values (spec 07-membership-proof.md §6).
 */

/**
 * True when `a` and `b` hold the same bytes. A length mismatch returns false
 * at once (lengths are public in every PeerTap format); for equal lengths the
 * loop touches every byte and branches on nothing derived from their values,
 * so its time depends on the length alone.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) {
    // Both indices are in range: i < a.length === b.length.
    diff |= a[i]! ^ b[i]!
  }
  return diff === 0
}
