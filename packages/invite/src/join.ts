/**
 * The join request and the owner's verdict, both on trunk CONTROL channel 9
 * (docs/spec/15-invitations.md §15.4, §15.5). The request is sealed with
 * HPKE (06-hpke.md) to the owner's key and bound, through its aad, to the
 * joiner's and the owner's PeerIds, so that it opens only on the link it was
 * made for. Openers and decoders never throw on a peer's bytes.
 */
import { type HpkeSealParams, hpkeOpen, hpkeSeal } from '@peertap/crypto'
import { concat, isBytes, isPeerIdBytes, utf8 } from './bytes.ts'
import {
  HPKE_KEY_LENGTH,
  JOIN_REQUEST_INFO,
  JOIN_REQUEST_TYPE,
  JOIN_VERDICT_TYPE,
  MAX_JOIN_REQUEST_LENGTH,
  MAX_KEY_PACKAGE_BYTES,
  MIN_JOIN_REQUEST_LENGTH,
  SECRET_LENGTH,
  VLAN_ID_LENGTH,
} from './constants.ts'
import { InviteError } from './errors.ts'
import { formatIpv4, type Ipv4Assignment, isPrivateIpv4Assignment, parseIpv4 } from './ipv4.ts'

const INFO = utf8(JOIN_REQUEST_INFO)

export interface SealJoinRequestParams {
  readonly vlanId: Uint8Array
  /** From the invitation code. */
  readonly ownerHpkeKey: Uint8Array
  /** The owner's PeerId (multihash bytes), as the code names it. */
  readonly owner: Uint8Array
  /** This node's own PeerId (multihash bytes), the one its trunk link authenticates. */
  readonly joiner: Uint8Array
  readonly secret: Uint8Array
  /** The joiner's MLSMessage carrying its KeyPackage, 1 to 16 384 bytes. */
  readonly keyPackage: Uint8Array
}

export interface OpenJoinRequestParams {
  /** The whole channel-9 payload. */
  readonly payload: Uint8Array
  /** The owner's own PeerId. */
  readonly owner: Uint8Array
  readonly ownerHpkePrivateKey: Uint8Array
  /** The PeerId the trunk link authenticated: the only joiner the request may name. */
  readonly from: Uint8Array
}

/** Why a join request was dropped (§15.4), in the order checked. */
export type JoinRequestRefusal = 'truncated' | 'unknown-type' | 'too-large' | 'not-opened'

export type JoinRequestOpening =
  | {
      readonly ok: true
      readonly vlanId: Uint8Array
      readonly secret: Uint8Array
      readonly keyPackage: Uint8Array
    }
  | {
      readonly ok: false
      readonly reason: JoinRequestRefusal
      /** The request's VLAN-ID when it was long enough to carry one, for the verdict. */
      readonly vlanId?: Uint8Array
    }

/** §15.4: aad = vlanId ‖ u8 len ‖ joiner ‖ u8 len ‖ owner. */
export function joinRequestAad(
  vlanId: Uint8Array,
  joiner: Uint8Array,
  owner: Uint8Array,
): Uint8Array {
  return concat(vlanId, Uint8Array.of(joiner.length), joiner, Uint8Array.of(owner.length), owner)
}

/** The whole channel-9 payload of a join request: `0x01 ‖ vlanId ‖ sealed` (§15.4). */
export async function sealJoinRequest(params: SealJoinRequestParams): Promise<Uint8Array> {
  return sealJoinRequestWith(params, hpkeSeal)
}

/**
 * {@link sealJoinRequest} over a given HPKE seal; the tests pass one with a
 * fixed ephemeral key to reproduce the vectors. Not exported from the package.
 *
 * @internal
 */
export async function sealJoinRequestWith(
  params: SealJoinRequestParams,
  seal: (params: HpkeSealParams) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  const { vlanId, ownerHpkeKey, owner, joiner, secret, keyPackage } = params
  const bad = (what: string): never => {
    throw new InviteError('invalid-argument', `join request: ${what}`)
  }
  if (!isBytes(vlanId, VLAN_ID_LENGTH)) bad('vlanId must be 32 bytes')
  if (!isBytes(ownerHpkeKey, HPKE_KEY_LENGTH)) bad('ownerHpkeKey must be 32 bytes')
  checkPeerId(owner, 'owner')
  checkPeerId(joiner, 'joiner')
  if (!isBytes(secret, SECRET_LENGTH)) bad('secret must be 16 bytes')
  if (!isBytes(keyPackage) || keyPackage.length < 1 || keyPackage.length > MAX_KEY_PACKAGE_BYTES)
    bad(`keyPackage must be 1 to ${MAX_KEY_PACKAGE_BYTES} bytes`)
  const sealed = await seal({
    recipientPublicKey: ownerHpkeKey,
    info: INFO,
    aad: joinRequestAad(vlanId, joiner, owner),
    plaintext: concat(secret, keyPackage),
  })
  return concat(Uint8Array.of(JOIN_REQUEST_TYPE), vlanId, sealed)
}

/**
 * Opens a join request as the owner (§15.4). A request sealed for another
 * joiner or another owner, tampered with or cut does not open
 * (`not-opened`). Never throws on `payload`; throws {@link InviteError} only
 * for the caller's own arguments (`owner`, `from`, the private key).
 */
export async function openJoinRequest(params: OpenJoinRequestParams): Promise<JoinRequestOpening> {
  const { payload, owner, ownerHpkePrivateKey, from } = params
  checkPeerId(owner, 'owner')
  checkPeerId(from, 'from')
  if (!isBytes(ownerHpkePrivateKey, HPKE_KEY_LENGTH))
    throw new InviteError('invalid-argument', 'join request: the private key must be 32 bytes')
  if (!isBytes(payload) || payload.length < 1) return { ok: false, reason: 'truncated' }
  if (payload[0] !== JOIN_REQUEST_TYPE) return { ok: false, reason: 'unknown-type' }
  if (payload.length < 1 + VLAN_ID_LENGTH) return { ok: false, reason: 'truncated' }
  const vlanId = payload.slice(1, 1 + VLAN_ID_LENGTH)
  if (payload.length < MIN_JOIN_REQUEST_LENGTH) return { ok: false, reason: 'truncated', vlanId }
  if (payload.length > MAX_JOIN_REQUEST_LENGTH) return { ok: false, reason: 'too-large', vlanId }
  let plaintext: Uint8Array
  try {
    plaintext = await hpkeOpen({
      recipientPrivateKey: ownerHpkePrivateKey,
      info: INFO,
      aad: joinRequestAad(vlanId, from, owner),
      sealed: payload.subarray(1 + VLAN_ID_LENGTH),
    })
  } catch {
    return { ok: false, reason: 'not-opened', vlanId }
  }
  return {
    ok: true,
    vlanId,
    secret: plaintext.slice(0, SECRET_LENGTH),
    keyPackage: plaintext.slice(SECRET_LENGTH),
  }
}

/** The owner's answers (§15.5), with their wire numbers. */
export const JOIN_VERDICTS = {
  accepted: 0,
  refused: 1,
  expired: 2,
  'used-up': 3,
  revoked: 4,
  busy: 5,
  'vlan-unknown': 6,
} as const

export type JoinVerdictName = keyof typeof JOIN_VERDICTS

export interface JoinVerdict {
  readonly vlanId: Uint8Array
  readonly verdict: JoinVerdictName
  /** `accepted` only: the address assigned, absent when none was. */
  readonly ipv4?: Ipv4Assignment
  /** `busy` only: seconds to wait before retrying; 0 when unsaid. */
  readonly retryAfterSeconds?: number
}

export type JoinVerdictRefusal =
  | 'truncated'
  | 'unknown-type'
  | 'unknown-verdict'
  | 'bad-field'
  | 'trailing-bytes'

export type JoinVerdictDecoding =
  | { readonly ok: true; readonly verdict: JoinVerdict }
  | { readonly ok: false; readonly reason: JoinVerdictRefusal }

const VERDICT_NAMES = Object.keys(JOIN_VERDICTS) as JoinVerdictName[]

/** `0x02 ‖ vlanId(32) ‖ u8 verdict ‖ details` (§15.5). Throws {@link InviteError} on a field out of range. */
export function encodeJoinVerdict(verdict: JoinVerdict): Uint8Array {
  if (!isBytes(verdict.vlanId, VLAN_ID_LENGTH))
    throw new InviteError('invalid-argument', 'verdict: vlanId must be 32 bytes')
  const code = JOIN_VERDICTS[verdict.verdict]
  if (code === undefined) throw new InviteError('invalid-argument', 'verdict: unknown verdict')
  let details = new Uint8Array(0)
  if (verdict.verdict === 'accepted') {
    details = new Uint8Array(5)
    if (verdict.ipv4 !== undefined) {
      const address = parseIpv4(verdict.ipv4.address)
      const { prefixLength } = verdict.ipv4
      if (address === undefined || !isPrivateIpv4Assignment(address, prefixLength))
        throw new InviteError(
          'invalid-argument',
          'verdict: not a private host address and prefix of 8 to 30',
        )
      details[0] = prefixLength
      new DataView(details.buffer).setUint32(1, address)
    }
  } else if (verdict.verdict === 'busy') {
    const seconds = verdict.retryAfterSeconds ?? 0
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xffff)
      throw new InviteError('invalid-argument', 'verdict: retryAfterSeconds is a u16')
    details = Uint8Array.of(seconds >>> 8, seconds & 0xff)
  }
  return concat(Uint8Array.of(JOIN_VERDICT_TYPE), verdict.vlanId, Uint8Array.of(code), details)
}

/** Reads a verdict as the joiner (§15.5); never throws. */
export function decodeJoinVerdict(payload: Uint8Array): JoinVerdictDecoding {
  if (!isBytes(payload) || payload.length < 1) return { ok: false, reason: 'truncated' }
  if (payload[0] !== JOIN_VERDICT_TYPE) return { ok: false, reason: 'unknown-type' }
  if (payload.length < 2 + VLAN_ID_LENGTH) return { ok: false, reason: 'truncated' }
  const vlanId = payload.slice(1, 1 + VLAN_ID_LENGTH)
  const name = VERDICT_NAMES[payload[1 + VLAN_ID_LENGTH] as number]
  if (name === undefined) return { ok: false, reason: 'unknown-verdict' }
  const details = payload.subarray(2 + VLAN_ID_LENGTH)
  const want = name === 'accepted' ? 5 : name === 'busy' ? 2 : 0
  if (details.length < want) return { ok: false, reason: 'truncated' }
  if (details.length > want) return { ok: false, reason: 'trailing-bytes' }
  if (name === 'accepted') {
    const prefixLength = details[0] as number
    const address = new DataView(details.buffer, details.byteOffset + 1, 4).getUint32(0)
    if (prefixLength === 0 && address === 0) return { ok: true, verdict: { vlanId, verdict: name } }
    if (!isPrivateIpv4Assignment(address, prefixLength)) return { ok: false, reason: 'bad-field' }
    return {
      ok: true,
      verdict: { vlanId, verdict: name, ipv4: { address: formatIpv4(address), prefixLength } },
    }
  }
  if (name === 'busy') {
    const retryAfterSeconds = ((details[0] as number) << 8) | (details[1] as number)
    return { ok: true, verdict: { vlanId, verdict: name, retryAfterSeconds } }
  }
  return { ok: true, verdict: { vlanId, verdict: name } }
}

/** For a person: what a verdict means and what to do next (§15.5). */
export function verdictMessage(
  verdict: Pick<JoinVerdict, 'verdict' | 'retryAfterSeconds'>,
): string {
  switch (verdict.verdict) {
    case 'accepted':
      return 'the owner admitted you: the VLAN joins as soon as its Welcome arrives'
    case 'refused':
      return 'the owner refused the request: the code is not one it issued for this VLAN (check that it was copied whole), or this node is not the one it was meant for; ask the owner for a new one with `peertap vlan invite`'
    case 'expired':
      return 'the code has expired: ask the owner for a new one with `peertap vlan invite`'
    case 'used-up':
      return 'the code was already used: ask the owner for a new one with `peertap vlan invite`'
    case 'revoked':
      return 'the owner revoked this code: ask the owner whether you should still join, and for a new code'
    case 'busy': {
      const after = verdict.retryAfterSeconds ?? 0
      return `the owner is receiving too many join requests: try again ${after > 0 ? `in ${after} s` : 'in a minute'} (the code stays valid until it expires)`
    }
    case 'vlan-unknown':
      return 'the owner no longer has this VLAN: ask the owner which VLAN to join and for a code to it'
  }
}

function checkPeerId(peerId: Uint8Array, what: string): void {
  if (!isBytes(peerId) || !isPeerIdBytes(peerId) || peerId.length > 255)
    throw new InviteError(
      'invalid-argument',
      `join request: ${what} must be PeerId multihash bytes`,
    )
}
