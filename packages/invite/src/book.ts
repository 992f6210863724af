/**
 * The owner's invitation book (docs/spec/15-invitations.md §15.6). It keeps
 * only a hash of each secret, so a stolen record lets no one join; redeeming
 * compares hashes in constant time; it is bounded and persists as a strict
 * JSON record that loads whole or not at all.
 */
import { constantTimeEqual } from '@peertap/crypto'
import { deriveBytes, fromHex, isBytes, isIntegerIn, isPeerIdBytes, toHex } from './bytes.ts'
import {
  BOOK_RECORD_VERSION,
  CONTEXT_INVITATION_SECRET,
  DEFAULT_LIFETIME_SECONDS,
  DEFAULT_USES,
  ENDED_RETENTION_SECONDS,
  INVITATION_ID_BYTES,
  MAX_BOOK_ENTRIES,
  MAX_EXPIRES_AT,
  MAX_LIFETIME_SECONDS,
  MAX_LIVE_INVITATIONS,
  MAX_USES,
  SECRET_LENGTH,
  VLAN_ID_LENGTH,
} from './constants.ts'
import { InviteError } from './errors.ts'
import {
  array,
  decodeRecord,
  encodeJson,
  integer,
  object,
  type RecordFailure,
  RecordProblem,
  string,
} from './record.ts'

/** A source of `n` random bytes. */
export type Random = (n: number) => Uint8Array

/** §15.6: derive_key("PeerTap v1 invitation secret", secret), 32 bytes. */
export function invitationHash(secret: Uint8Array): Uint8Array {
  if (!isBytes(secret, SECRET_LENGTH))
    throw new InviteError('invalid-argument', 'secret must be 16 bytes')
  return deriveBytes(CONTEXT_INVITATION_SECRET, secret, 32)
}

/** §15.6: the first 8 bytes of the hash in hex: what `list` shows and `revoke` takes, and what a joiner may show. */
export function invitationId(secret: Uint8Array): string {
  return toHex(invitationHash(secret).subarray(0, INVITATION_ID_BYTES))
}

export type InvitationState = 'live' | 'expired' | 'used-up' | 'revoked'
export type Redemption = 'accepted' | 'again' | 'expired' | 'used-up' | 'revoked' | 'refused'

export interface InvitationSummary {
  readonly id: string
  readonly state: InvitationState
  readonly uses: number
  readonly usesLeft: number
  readonly createdAt: number
  readonly expiresAt: number
  /** When its last use was taken or it was revoked; null while it can still be used. */
  readonly endedAt: number | null
  /** PeerIds (hex) that redeemed it, in order. */
  readonly joiners: readonly string[]
}

export interface CreateInvitationParams {
  readonly vlanId: Uint8Array
  /** 1 to 1000; default 1. */
  readonly uses?: number
  /** Unix seconds; default now + 24 h; at most now + 365 days. */
  readonly expiresAt?: number
  readonly now: number
  readonly random: Random
}

export interface RedeemParams {
  readonly vlanId: Uint8Array
  readonly secret: Uint8Array
  /** The joiner's PeerId bytes, as the link authenticated it. */
  readonly joiner: Uint8Array
  readonly now: number
}

interface Entry {
  hash: Uint8Array
  vlan: string
  uses: number
  usesLeft: number
  createdAt: number
  expiresAt: number
  revoked: boolean
  endedAt: number | null
  joiners: string[]
}

export type InvitationBookDecoding =
  | { readonly ok: true; readonly book: InvitationBook }
  | RecordFailure

const stateOf = (entry: Entry, now: number): InvitationState =>
  entry.revoked
    ? 'revoked'
    : now >= entry.expiresAt
      ? 'expired'
      : entry.usesLeft === 0
        ? 'used-up'
        : 'live'

export class InvitationBook {
  // In creation order (createdAt, then hash), which is also the record's order.
  readonly #entries: Entry[] = []

  /** Entries held, live and ended. */
  get size(): number {
    return this.#entries.length
  }

  /**
   * Issues an invitation: draws a 16-byte secret from `random` and keeps its
   * hash. Throws {@link InviteError}: `invalid-argument`, `book-full` (4096
   * live), `random-repeated` (the random source repeated itself).
   */
  create(params: CreateInvitationParams): { secret: Uint8Array; id: string } {
    const { vlanId, now, random } = params
    const uses = params.uses ?? DEFAULT_USES
    const expiresAt = params.expiresAt ?? now + DEFAULT_LIFETIME_SECONDS
    if (!isBytes(vlanId, VLAN_ID_LENGTH))
      throw new InviteError('invalid-argument', 'vlanId must be 32 bytes')
    if (!isIntegerIn(now, 0, MAX_EXPIRES_AT))
      throw new InviteError('invalid-argument', 'now must be unix seconds')
    if (!isIntegerIn(uses, 1, MAX_USES))
      throw new InviteError('invalid-argument', `uses must be 1 to ${MAX_USES}`)
    if (!isIntegerIn(expiresAt, now + 1, Math.min(now + MAX_LIFETIME_SECONDS, MAX_EXPIRES_AT)))
      throw new InviteError(
        'invalid-argument',
        'expiresAt must be after now and at most 365 days ahead',
      )
    this.prune(now)
    if (
      this.#entries.filter((entry) => stateOf(entry, now) === 'live').length >= MAX_LIVE_INVITATIONS
    )
      throw new InviteError(
        'book-full',
        `${MAX_LIVE_INVITATIONS} invitations are live: revoke some first`,
      )
    const secret = random(SECRET_LENGTH)
    if (!isBytes(secret, SECRET_LENGTH))
      throw new InviteError('invalid-argument', 'random(16) must give 16 bytes')
    const hash = invitationHash(secret)
    if (this.#entries.some((entry) => constantTimeEqual(entry.hash, hash)))
      throw new InviteError('random-repeated', 'the random source gave a secret already issued')
    if (this.#entries.length >= MAX_BOOK_ENTRIES) this.#dropEarliestEnded(now)
    const entry: Entry = {
      hash,
      vlan: toHex(vlanId),
      uses,
      usesLeft: uses,
      createdAt: now,
      expiresAt,
      revoked: false,
      endedAt: null,
      joiners: [],
    }
    this.#entries.push(entry)
    this.#entries.sort(byCreation)
    return { secret: secret.slice(), id: toHex(hash.subarray(0, INVITATION_ID_BYTES)) }
  }

  /**
   * The owner's check of a join request's secret (§15.6), in this order:
   * no invitation of this VLAN with this secret: `refused`; revoked;
   * expired; the same joiner again (its Welcome was lost): `again`, using
   * nothing (the book is unchanged); no use left: `used-up`; else
   * `accepted`, taking one use ({@link unredeem} gives it back).
   */
  redeem(params: RedeemParams): Redemption {
    const { found, outcome, joinerHex } = this.#judge(params)
    if (outcome !== 'accepted' || found === undefined) return outcome
    found.usesLeft--
    found.joiners.push(joinerHex)
    if (found.usesLeft === 0) found.endedAt = params.now
    return 'accepted'
  }

  /**
   * What {@link redeem} would answer now, taking nothing: the owner asks it
   * before anything else, so that a secret naming no invitation of this
   * VLAN is `refused` before the owner says anything about its VLANs (§15.9).
   */
  peek(params: RedeemParams): Redemption {
    return this.#judge(params).outcome
  }

  /**
   * Gives back the use `joiner` took of the invitation with this secret
   * (its admission failed: §15.9): `joiner` leaves `joiners`, `usesLeft`
   * grows by one and the invitation is no longer ended unless revoked.
   * False, changing nothing, when no invitation of this VLAN with this
   * secret lists `joiner`.
   */
  unredeem(params: Omit<RedeemParams, 'now'>): boolean {
    const { found, joinerHex } = this.#judge({ ...params, now: 0 })
    const at = found?.joiners.indexOf(joinerHex) ?? -1
    if (found === undefined || at < 0) return false
    found.joiners.splice(at, 1)
    found.usesLeft++
    if (!found.revoked) found.endedAt = null
    return true
  }

  #judge(params: RedeemParams): {
    found: Entry | undefined
    outcome: Redemption
    joinerHex: string
  } {
    const { vlanId, secret, joiner, now } = params
    if (!isBytes(vlanId, VLAN_ID_LENGTH) || !isBytes(secret, SECRET_LENGTH))
      return { found: undefined, outcome: 'refused', joinerHex: '' }
    if (!isBytes(joiner) || !isPeerIdBytes(joiner))
      throw new InviteError('invalid-argument', 'joiner must be PeerId multihash bytes')
    const joinerHex = toHex(joiner)
    const hash = invitationHash(secret)
    const vlan = toHex(vlanId)
    let found: Entry | undefined
    // Compare with every entry, without stopping early: the time taken says nothing of which matched.
    for (const entry of this.#entries) {
      const match = constantTimeEqual(entry.hash, hash)
      if (match && entry.vlan === vlan) found = entry
    }
    const outcome: Redemption =
      found === undefined
        ? 'refused'
        : found.revoked
          ? 'revoked'
          : now >= found.expiresAt
            ? 'expired'
            : found.joiners.includes(joinerHex)
              ? 'again'
              : found.usesLeft === 0
                ? 'used-up'
                : 'accepted'
    return { found, outcome, joinerHex }
  }

  /**
   * Revokes the VLAN's live invitation with this id (16 hex digits, in
   * either case), or all its live ones; returns how many: 0 when the id
   * names no live invitation of the VLAN.
   */
  revoke(params: {
    readonly vlanId: Uint8Array
    readonly id?: string
    readonly now: number
  }): number {
    const { vlanId, now } = params
    const id = params.id?.toLowerCase()
    const vlan = toHex(vlanId)
    let count = 0
    for (const entry of this.#entries) {
      if (entry.vlan !== vlan || stateOf(entry, now) !== 'live') continue
      if (id !== undefined && toHex(entry.hash.subarray(0, INVITATION_ID_BYTES)) !== id) continue
      entry.revoked = true
      entry.endedAt = now
      count++
    }
    return count
  }

  /** The VLAN's invitations, oldest first. */
  list(vlanId: Uint8Array, now: number): InvitationSummary[] {
    const vlan = toHex(vlanId)
    return this.#entries
      .filter((entry) => entry.vlan === vlan)
      .map((entry) => ({
        id: toHex(entry.hash.subarray(0, INVITATION_ID_BYTES)),
        state: stateOf(entry, now),
        uses: entry.uses,
        usesLeft: entry.usesLeft,
        createdAt: entry.createdAt,
        expiresAt: entry.expiresAt,
        endedAt: entry.endedAt,
        joiners: [...entry.joiners],
      }))
  }

  /** Drops every invitation of a deleted VLAN; returns how many. */
  forget(vlanId: Uint8Array): number {
    return this.#remove((entry) => entry.vlan === toHex(vlanId))
  }

  /** Drops invitations that ended (expired, used up, revoked) a day or more ago; returns how many. */
  prune(now: number): number {
    return this.#remove((entry) => endOf(entry) + ENDED_RETENTION_SECONDS <= now)
  }

  /** The record of §15.6. */
  encode(): Uint8Array {
    return encodeJson({
      version: BOOK_RECORD_VERSION,
      invitations: this.#entries.map((entry) => ({
        hash: toHex(entry.hash),
        vlanId: entry.vlan,
        uses: entry.uses,
        usesLeft: entry.usesLeft,
        createdAt: entry.createdAt,
        expiresAt: entry.expiresAt,
        revoked: entry.revoked,
        endedAt: entry.endedAt,
        joiners: entry.joiners,
      })),
    })
  }

  /** Reads a record {@link encode} wrote, whole, or refuses it with a reason (§15.6). */
  static decode(bytes: Uint8Array): InvitationBookDecoding {
    const result = decodeRecord(bytes, BOOK_RECORD_VERSION, (record) => {
      object(record, 'the book record', ['version', 'invitations'])
      const items = array(record.invitations, 'invitations')
      if (items.length > MAX_BOOK_ENTRIES)
        throw new RecordProblem(
          'too-many',
          `${items.length} invitations; at most ${MAX_BOOK_ENTRIES}`,
        )
      const book = new InvitationBook()
      const seen = new Set<string>()
      items.forEach((item, i) => {
        const entry = readEntry(item, `invitation ${i}`)
        const key = toHex(entry.hash)
        if (seen.has(key))
          throw new RecordProblem('duplicate', `invitation ${i}: hash listed twice`)
        const previous = book.#entries.at(-1)
        if (previous !== undefined && byCreation(previous, entry) > 0)
          throw new RecordProblem(
            'bad-field',
            `invitation ${i}: out of order (createdAt, then hash)`,
          )
        seen.add(key)
        book.#entries.push(entry)
      })
      return book
    })
    return result.ok ? { ok: true, book: result.value } : result
  }

  #remove(drop: (entry: Entry) => boolean): number {
    const before = this.#entries.length
    const kept = this.#entries.filter((entry) => !drop(entry))
    this.#entries.splice(0, this.#entries.length, ...kept)
    return before - kept.length
  }

  #dropEarliestEnded(now: number): void {
    let earliest: Entry | undefined
    for (const entry of this.#entries) {
      if (stateOf(entry, now) === 'live') continue
      if (earliest === undefined || endOf(entry) < endOf(earliest)) earliest = entry
    }
    if (earliest !== undefined) this.#remove((entry) => entry === earliest)
  }
}

/** When an entry stopped being usable: its end, or its expiry if earlier. */
const endOf = (entry: Entry): number =>
  Math.min(entry.endedAt ?? Number.POSITIVE_INFINITY, entry.expiresAt)

/** By creation, then by hash (bytes compare as their hex does): the record's order (§15.6). */
function byCreation(a: Entry, b: Entry): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt
  for (let i = 0; i < a.hash.length; i++) {
    const d = (a.hash[i] ?? 0) - (b.hash[i] ?? 0)
    if (d !== 0) return d
  }
  return a.hash.length - b.hash.length
}

const ENTRY_KEYS = [
  'hash',
  'vlanId',
  'uses',
  'usesLeft',
  'createdAt',
  'expiresAt',
  'revoked',
  'endedAt',
  'joiners',
]

function readEntry(item: unknown, what: string): Entry {
  const record = object(item, what, ENTRY_KEYS)
  const hash = fromHex(string(record.hash, `${what} hash`))
  const vlanId = fromHex(string(record.vlanId, `${what} vlanId`))
  if (hash?.length !== 32)
    throw new RecordProblem('bad-field', `${what}: hash is not 64 hex digits`)
  if (vlanId?.length !== VLAN_ID_LENGTH)
    throw new RecordProblem('bad-field', `${what}: vlanId is not 64 hex digits`)
  const uses = integer(record.uses, `${what} uses`, 1, MAX_USES)
  const usesLeft = integer(record.usesLeft, `${what} usesLeft`, 0, uses)
  const createdAt = integer(record.createdAt, `${what} createdAt`, 0, MAX_EXPIRES_AT)
  const expiresAt = integer(record.expiresAt, `${what} expiresAt`, createdAt + 1, MAX_EXPIRES_AT)
  if (typeof record.revoked !== 'boolean')
    throw new RecordProblem('bad-field', `${what}: revoked is not a boolean`)
  const endedAt =
    record.endedAt === null
      ? null
      : integer(record.endedAt, `${what} endedAt`, createdAt, MAX_EXPIRES_AT)
  if ((endedAt !== null) !== (record.revoked || usesLeft === 0))
    throw new RecordProblem('bad-field', `${what}: endedAt is set exactly when revoked or used up`)
  const joiners = array(record.joiners, `${what} joiners`).map((joiner) =>
    string(joiner, `${what} joiner`),
  )
  if (joiners.length !== uses - usesLeft)
    throw new RecordProblem('bad-field', `${what}: one joiner per use taken`)
  for (const joiner of joiners) {
    const bytes = fromHex(joiner)
    if (bytes === undefined || !isPeerIdBytes(bytes))
      throw new RecordProblem('bad-field', `${what}: a joiner is not a PeerId in hex`)
  }
  if (new Set(joiners).size !== joiners.length)
    throw new RecordProblem('duplicate', `${what}: a joiner listed twice`)
  return {
    hash,
    vlan: toHex(vlanId),
    uses,
    usesLeft,
    createdAt,
    expiresAt,
    revoked: record.revoked,
    endedAt,
    joiners,
  }
}
