/**
 * Commit bundles (docs/spec/11-mls.md §6): what a committer sends to members
 * and what the commit log holds. Proposals travel with the commit that
 * references them, so a member that missed them (or catches up from the log
 * later) can still apply the commit.
 *
 *   bundle = u8 version (1) ‖ u64 epoch ‖ u16 n ‖ (u32 len ‖ MLSMessage proposal)^n
 *            ‖ u32 len ‖ MLSMessage commit
 *
 * `epoch` is the epoch the commit leaves (the commit's own epoch field); it
 * must equal the epoch inside every message, which the decoder checks.
 */
import { BUNDLE_VERSION, MAX_BUNDLE_PROPOSALS } from './constants.ts'
import { MlsError } from './errors.ts'

/** A decoded commit bundle: MLS messages as bytes. */
export interface CommitBundle {
  /** The epoch the commit is sent in (and leaves). */
  readonly epoch: bigint
  /** Proposal messages (public MLS messages) the commit references, in order. */
  readonly proposals: readonly Uint8Array[]
  /** The commit (a private MLS message). */
  readonly commit: Uint8Array
}

/** Encodes a bundle. */
export function encodeBundle(b: CommitBundle): Uint8Array {
  if (b.proposals.length > MAX_BUNDLE_PROPOSALS) {
    throw new MlsError('mls-malformed', 'too many proposals in one bundle')
  }
  const size = 1 + 8 + 2 + b.proposals.reduce((n, p) => n + 4 + p.length, 0) + 4 + b.commit.length
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out[0] = BUNDLE_VERSION
  view.setBigUint64(1, b.epoch)
  view.setUint16(9, b.proposals.length)
  let o = 11
  for (const m of [...b.proposals, b.commit]) {
    view.setUint32(o, m.length)
    out.set(m, o + 4)
    o += 4 + m.length
  }
  return out
}

/** Decodes a bundle; throws 'mls-malformed' on any defect. */
export function decodeBundle(bytes: Uint8Array): CommitBundle {
  const bad = (why: string) => new MlsError('mls-malformed', `commit bundle: ${why}`)
  if (!(bytes instanceof Uint8Array) || bytes.length < 15) throw bad('too short')
  if (bytes[0] !== BUNDLE_VERSION) throw bad(`unknown version ${bytes[0]}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const epoch = view.getBigUint64(1)
  const n = view.getUint16(9)
  if (n > MAX_BUNDLE_PROPOSALS) throw bad('too many proposals')
  let o = 11
  const messages: Uint8Array[] = []
  for (let i = 0; i <= n; i++) {
    if (o + 4 > bytes.length) throw bad('truncated')
    const len = view.getUint32(o)
    if (len === 0 || o + 4 + len > bytes.length) throw bad('truncated')
    messages.push(bytes.slice(o + 4, o + 4 + len))
    o += 4 + len
  }
  if (o !== bytes.length) throw bad('trailing bytes')
  const commit = messages.pop()!
  return { epoch, proposals: messages, commit }
}

/** Reads a bundle's epoch without decoding the rest (undefined if too short). */
export function bundleEpoch(bytes: Uint8Array): bigint | undefined {
  if (bytes.length < 9) return undefined
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(1)
}
