/**
 * How a node carries a VLAN's MLS messages (docs/spec/11-mls.md §11): the
 * payloads of the trunk CONTROL messages (point to point, by the trunk's
 * channel registry, 08-trunk.md §4.6.1) and the kind-2 plaintexts sent
 * inside the VLAN, plus the two small records a node keeps beside the group
 * record (§11.6). Integers are unsigned big-endian; `‖` is concatenation.
 *
 *   CONTROL, by channel role (the trunk's channel number in brackets):
 *     key-package (1)  vlanId(32) ‖ keyPackage(1..)            member -> owner, admins
 *     welcome     (2)  vlanId(32) ‖ welcome(1..)               committer -> joiner
 *     catch-up    (3)  0x01 ‖ vlanId(32) ‖ u64 since           request
 *                      0x02 ‖ vlanId(32) ‖ u16 n (1..) ‖ (u32 len (1..) ‖ bundle)^n   answer
 *                      0x03 ‖ vlanId(32) ‖ bundle(1..)         a commit too large for one frame
 *     proposal    (5)  vlanId(32) ‖ proposal(1..)              member -> owner, admins
 *     lease       (6)  vlanId(32) ‖ lease(1..)                 owner -> admin
 *   inside the VLAN (kind 2):
 *     0x01 ‖ bundle(1..)            commit
 *     0x02 ‖ u64 epoch ‖ u32 leaf   ack
 *     0x03 ‖ u64 epoch              switch
 *
 * The opaque fields (key package, Welcome, bundle, proposal, lease) are
 * taken as they are: their own decoders (MLS, §6, §5) judge them. Decoders
 * never throw and never read out of bounds: a defect is a {@link WireError}
 * with a stable reason. Encoders throw an {@link MlsError} `mls-malformed`
 * for input no decoder would accept (the caller's own state, never a peer's).
 */
import { VLAN_ID_LENGTH } from './constants.ts'
import { MlsError } from './errors.ts'

/** The CONTROL channels that carry MLS messages, by role; the trunk's registry numbers them. */
export const MLS_CONTROL_CHANNELS = [
  'key-package',
  'welcome',
  'catch-up',
  'proposal',
  'lease',
] as const
export type MlsControlChannel = (typeof MLS_CONTROL_CHANNELS)[number]

/** 11-mls.md §11.2: the first byte of a catch-up (channel 3) message. */
export const CATCH_UP_REQUEST = 0x01
export const CATCH_UP_ANSWER = 0x02
export const CATCH_UP_COMMIT = 0x03
/** 11-mls.md §11.3: the first byte of a kind-2 plaintext inside the VLAN. */
export const VLAN_COMMIT = 0x01
export const VLAN_ACK = 0x02
export const VLAN_SWITCH = 0x03

/** A trunk CONTROL message of an MLS VLAN, decoded. */
export type MlsControlMessage =
  | { readonly type: 'key-package'; readonly vlanId: Uint8Array; readonly keyPackage: Uint8Array }
  | { readonly type: 'welcome'; readonly vlanId: Uint8Array; readonly welcome: Uint8Array }
  | { readonly type: 'catch-up-request'; readonly vlanId: Uint8Array; readonly since: bigint }
  | {
      readonly type: 'catch-up-answer'
      readonly vlanId: Uint8Array
      readonly bundles: readonly Uint8Array[]
    }
  | { readonly type: 'catch-up-commit'; readonly vlanId: Uint8Array; readonly bundle: Uint8Array }
  | { readonly type: 'proposal'; readonly vlanId: Uint8Array; readonly proposal: Uint8Array }
  | { readonly type: 'lease'; readonly vlanId: Uint8Array; readonly lease: Uint8Array }

/** A kind-2 plaintext inside an MLS VLAN, decoded. */
export type VlanControlMessage =
  | { readonly type: 'commit'; readonly bundle: Uint8Array }
  | { readonly type: 'ack'; readonly epoch: bigint; readonly leafIndex: number }
  | { readonly type: 'switch'; readonly epoch: bigint }

/** Why bytes did not decode (stable; the vectors name them). */
export const WIRE_ERROR_REASONS = [
  /** Shorter than the layout's fixed part, or a length running past the end. */
  'truncated',
  /** Bytes after the layout's last field. */
  'trailing-bytes',
  /** A first byte (sub-type) the layout does not define. */
  'unknown-type',
  /** An opaque field, bundle or list that must not be empty is. */
  'empty',
  /** A count larger than the bytes that follow could hold. */
  'count-too-large',
  /** A record whose fields are not of the documented form. */
  'bad-record',
] as const
export type WireErrorReason = (typeof WIRE_ERROR_REASONS)[number]

/** A decoding failure: a stable reason and what exactly was wrong. */
export interface WireError {
  readonly reason: WireErrorReason
  readonly detail: string
}

export type Decoded<T> =
  | { readonly ok: true; readonly message: T }
  | { readonly ok: false; readonly error: WireError }

const fail = (reason: WireErrorReason, detail: string) =>
  ({ ok: false, error: { reason, detail } }) as const
const ok = <T>(message: T) => ({ ok: true, message }) as const

const U64_MAX = (1n << 64n) - 1n

function bad(what: string): never {
  throw new MlsError('mls-malformed', what)
}

function checkVlanId(vlanId: Uint8Array): void {
  if (vlanId.length !== VLAN_ID_LENGTH) bad(`vlanId: ${VLAN_ID_LENGTH} bytes`)
}

function checkOpaque(name: string, bytes: Uint8Array): void {
  if (bytes.length === 0) bad(`${name}: not empty`)
}

function checkU64(name: string, n: bigint): void {
  if (n < 0n || n > U64_MAX) bad(`${name}: a u64`)
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

function u64(n: bigint): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, n)
  return out
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n)
  return out
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)

/** The trunk CONTROL channel role a message travels on. */
export function mlsControlChannelOf(message: MlsControlMessage): MlsControlChannel {
  switch (message.type) {
    case 'catch-up-request':
    case 'catch-up-answer':
    case 'catch-up-commit':
      return 'catch-up'
    default:
      return message.type
  }
}

/** Encodes a CONTROL message's payload; its channel is {@link mlsControlChannelOf}. */
export function encodeMlsControl(message: MlsControlMessage): Uint8Array {
  checkVlanId(message.vlanId)
  switch (message.type) {
    case 'key-package':
      checkOpaque('keyPackage', message.keyPackage)
      return concat([message.vlanId, message.keyPackage])
    case 'welcome':
      checkOpaque('welcome', message.welcome)
      return concat([message.vlanId, message.welcome])
    case 'proposal':
      checkOpaque('proposal', message.proposal)
      return concat([message.vlanId, message.proposal])
    case 'lease':
      checkOpaque('lease', message.lease)
      return concat([message.vlanId, message.lease])
    case 'catch-up-request':
      checkU64('since', message.since)
      return concat([Uint8Array.of(CATCH_UP_REQUEST), message.vlanId, u64(message.since)])
    case 'catch-up-commit':
      checkOpaque('bundle', message.bundle)
      return concat([Uint8Array.of(CATCH_UP_COMMIT), message.vlanId, message.bundle])
    case 'catch-up-answer': {
      const n = message.bundles.length
      if (n < 1 || n > 0xffff) bad('catch-up answer: 1 to 65535 bundles')
      const parts = [Uint8Array.of(CATCH_UP_ANSWER), message.vlanId, Uint8Array.of(n >> 8, n & 255)]
      for (const bundle of message.bundles) {
        checkOpaque('bundle', bundle)
        parts.push(u32(bundle.length), bundle)
      }
      return concat(parts)
    }
  }
}

/** `vlanId(32) ‖ body(1..)`: channels key-package, welcome, proposal, lease. */
function decodeVlanIdAndBody(
  payload: Uint8Array,
  name: string,
): Decoded<{ vlanId: Uint8Array; body: Uint8Array }> {
  if (payload.length < VLAN_ID_LENGTH)
    return fail('truncated', `${name}: ${payload.length} bytes, shorter than the 32-byte vlanId`)
  if (payload.length === VLAN_ID_LENGTH) return fail('empty', `${name}: no ${name} after vlanId`)
  return ok({
    vlanId: payload.slice(0, VLAN_ID_LENGTH),
    body: payload.slice(VLAN_ID_LENGTH),
  })
}

/**
 * Decodes the payload of a CONTROL message that came on `channel`. Never
 * throws; the bytes returned are copies.
 */
export function decodeMlsControl(
  channel: MlsControlChannel,
  payload: Uint8Array,
): Decoded<MlsControlMessage> {
  if (channel !== 'catch-up') {
    const d = decodeVlanIdAndBody(payload, channel)
    if (!d.ok) return d
    const { vlanId, body } = d.message
    switch (channel) {
      case 'key-package':
        return ok({ type: 'key-package', vlanId, keyPackage: body })
      case 'welcome':
        return ok({ type: 'welcome', vlanId, welcome: body })
      case 'proposal':
        return ok({ type: 'proposal', vlanId, proposal: body })
      case 'lease':
        return ok({ type: 'lease', vlanId, lease: body })
    }
  }
  if (payload.length < 1) return fail('truncated', 'catch-up: empty payload')
  const type = payload[0]!
  if (type !== CATCH_UP_REQUEST && type !== CATCH_UP_ANSWER && type !== CATCH_UP_COMMIT)
    return fail(
      'unknown-type',
      `catch-up: unknown sub-type 0x${type.toString(16).padStart(2, '0')}`,
    )
  const head = 1 + VLAN_ID_LENGTH
  if (payload.length < head)
    return fail('truncated', `catch-up: ${payload.length} bytes, shorter than type and vlanId`)
  const vlanId = payload.slice(1, head)
  if (type === CATCH_UP_REQUEST) {
    if (payload.length < head + 8)
      return fail('truncated', `catch-up request: ${payload.length} bytes, not 41`)
    if (payload.length > head + 8)
      return fail('trailing-bytes', `catch-up request: ${payload.length} bytes, not 41`)
    return ok({ type: 'catch-up-request', vlanId, since: view(payload).getBigUint64(head) })
  }
  if (type === CATCH_UP_COMMIT) {
    if (payload.length === head) return fail('empty', 'catch-up commit: no bundle after vlanId')
    return ok({ type: 'catch-up-commit', vlanId, bundle: payload.slice(head) })
  }
  if (payload.length < head + 2) return fail('truncated', 'catch-up answer: no bundle count')
  const v = view(payload)
  const n = v.getUint16(head)
  if (n === 0) return fail('empty', 'catch-up answer: no bundles')
  let at = head + 2
  // Each bundle takes at least 5 bytes (its length and one byte).
  if (n * 5 > payload.length - at)
    return fail(
      'count-too-large',
      `catch-up answer: ${n} bundles cannot fit in ${payload.length - at} bytes`,
    )
  const bundles: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    if (at + 4 > payload.length)
      return fail('truncated', `catch-up answer: bundle ${i}'s length runs past the end`)
    const len = v.getUint32(at)
    if (len === 0) return fail('empty', `catch-up answer: bundle ${i} is empty`)
    if (at + 4 + len > payload.length)
      return fail('truncated', `catch-up answer: bundle ${i} (${len} bytes) runs past the end`)
    bundles.push(payload.slice(at + 4, at + 4 + len))
    at += 4 + len
  }
  if (at !== payload.length)
    return fail(
      'trailing-bytes',
      `catch-up answer: ${payload.length - at} bytes after bundle ${n - 1}`,
    )
  return ok({ type: 'catch-up-answer', vlanId, bundles })
}

/** Encodes a kind-2 plaintext for inside the VLAN. */
export function encodeVlanControl(message: VlanControlMessage): Uint8Array {
  switch (message.type) {
    case 'commit':
      checkOpaque('bundle', message.bundle)
      return concat([Uint8Array.of(VLAN_COMMIT), message.bundle])
    case 'ack':
      checkU64('epoch', message.epoch)
      if (
        !Number.isInteger(message.leafIndex) ||
        message.leafIndex < 0 ||
        message.leafIndex > 0xffff_ffff
      )
        bad('leafIndex: a u32')
      return concat([Uint8Array.of(VLAN_ACK), u64(message.epoch), u32(message.leafIndex)])
    case 'switch':
      checkU64('epoch', message.epoch)
      return concat([Uint8Array.of(VLAN_SWITCH), u64(message.epoch)])
  }
}

/** Decodes a kind-2 plaintext of an MLS VLAN. Never throws; the bytes returned are copies. */
export function decodeVlanControl(body: Uint8Array): Decoded<VlanControlMessage> {
  if (body.length < 1) return fail('truncated', 'in-VLAN message: empty')
  const type = body[0]!
  if (type === VLAN_COMMIT) {
    if (body.length === 1) return fail('empty', 'in-VLAN commit: no bundle')
    return ok({ type: 'commit', bundle: body.slice(1) })
  }
  if (type === VLAN_ACK) {
    if (body.length < 13) return fail('truncated', `in-VLAN ack: ${body.length} bytes, not 13`)
    if (body.length > 13) return fail('trailing-bytes', `in-VLAN ack: ${body.length} bytes, not 13`)
    const v = view(body)
    return ok({ type: 'ack', epoch: v.getBigUint64(1), leafIndex: v.getUint32(9) })
  }
  if (type === VLAN_SWITCH) {
    if (body.length < 9) return fail('truncated', `in-VLAN switch: ${body.length} bytes, not 9`)
    if (body.length > 9)
      return fail('trailing-bytes', `in-VLAN switch: ${body.length} bytes, not 9`)
    return ok({ type: 'switch', epoch: view(body).getBigUint64(1) })
  }
  return fail(
    'unknown-type',
    `in-VLAN message: unknown type 0x${type.toString(16).padStart(2, '0')}`,
  )
}

// -- records beside the group record (11-mls.md §11.6) ----------------------

/** A joining member's key package and its secret, stored as `kp-‖hex(vlanId)`. */
export interface KeyPackageRecord {
  readonly keyPackage: Uint8Array
  readonly secret: Uint8Array
}

/** `u32 len ‖ keyPackage(len, 1..) ‖ secret(1..)`; an empty record is "none" (used, cleared). */
export function encodeKeyPackageRecord(record: KeyPackageRecord | undefined): Uint8Array {
  if (record === undefined) return new Uint8Array(0)
  checkOpaque('keyPackage', record.keyPackage)
  checkOpaque('secret', record.secret)
  return concat([u32(record.keyPackage.length), record.keyPackage, record.secret])
}

/** Decodes a key-package record: undefined for the empty (cleared) record. Never throws. */
export function decodeKeyPackageRecord(bytes: Uint8Array): Decoded<KeyPackageRecord | undefined> {
  if (bytes.length === 0) return ok(undefined)
  if (bytes.length < 4) return fail('truncated', `key-package record: ${bytes.length} bytes`)
  const len = view(bytes).getUint32(0)
  if (len === 0) return fail('empty', 'key-package record: empty key package')
  if (4 + len > bytes.length)
    return fail('truncated', `key-package record: key package of ${len} bytes runs past the end`)
  if (4 + len === bytes.length) return fail('empty', 'key-package record: no secret')
  return ok({ keyPackage: bytes.slice(4, 4 + len), secret: bytes.slice(4 + len) })
}

/**
 * The owner's run-time admission changes (`vlan add` / `vlan remove` over
 * its config), stored as `admitted-‖hex(vlanId)`, with the group's epoch and
 * members (hex PeerIds) as of the write, if it was a member then.
 */
export interface AdmissionRecord {
  readonly added: readonly string[]
  readonly removed: readonly string[]
  readonly at?: { readonly epoch: number; readonly members: readonly string[] }
}

/** UTF-8 JSON `{"added":[…],"removed":[…]}`, then `"epoch":n,"members":[…]` if `at` is given. */
export function encodeAdmissionRecord(record: AdmissionRecord): Uint8Array {
  const json = JSON.stringify({
    added: [...record.added],
    removed: [...record.removed],
    ...(record.at === undefined ? {} : { epoch: record.at.epoch, members: [...record.at.members] }),
  })
  return new TextEncoder().encode(json)
}

const isStrings = (x: unknown): x is string[] =>
  Array.isArray(x) && x.every((s) => typeof s === 'string')

/** Decodes an admission record. Never throws. */
export function decodeAdmissionRecord(bytes: Uint8Array): Decoded<AdmissionRecord> {
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (error) {
    return fail('bad-record', `admission record: not UTF-8 JSON (${(error as Error).message})`)
  }
  if (typeof parsed !== 'object' || parsed === null)
    return fail('bad-record', 'admission record: not a JSON object')
  const r = parsed as Record<string, unknown>
  if (!isStrings(r.added) || !isStrings(r.removed))
    return fail('bad-record', 'admission record: added and removed must be lists of strings')
  // As loaded before this codec: epoch and members count only together.
  if (r.epoch !== undefined && Array.isArray(r.members)) {
    if (typeof r.epoch !== 'number' || !Number.isSafeInteger(r.epoch) || r.epoch < 0)
      return fail('bad-record', 'admission record: epoch must be a whole number')
    if (!isStrings(r.members))
      return fail('bad-record', 'admission record: members must be a list of strings')
    return ok({ added: r.added, removed: r.removed, at: { epoch: r.epoch, members: r.members } })
  }
  return ok({ added: r.added, removed: r.removed })
}
