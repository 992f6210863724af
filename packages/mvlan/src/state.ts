/**
 * A member's fabric state (docs/spec/16-fabric.md §16.7): the secret of
 * its epoch, the root's statement of that epoch, the root's seed (its
 * admin only), the admins whose grants it takes, its bootstrap addresses
 * and the invitations that carry the fabric. Where it is kept is the
 * caller's (the node writes it to `fabric.json`); what makes one valid is
 * here, so that every holder checks it the same way.
 */
import { randomBytes } from 'node:crypto'
import { base58btc } from './base58.ts'
import { equalBytes } from './bytes.ts'
import { FABRIC_SECRET_LENGTH } from './constants.ts'
import { MvlanError } from './errors.ts'
import { fabricKeys } from './fabric.ts'
import { type FabricGrant, MAX_GRANT_ADMINS } from './grant.ts'
import { decodeFabricEpoch, rootKeyOf, signFabricEpoch } from './statement.ts'

export interface FabricState {
  /** The fabric secret of `epoch`. */
  readonly secret: Uint8Array
  readonly epoch: number
  /** The root's statement of `epoch` (§16.2): its credential key is the secret's. */
  readonly statement: Uint8Array
  readonly rootKey: Uint8Array
  /** The root's seed: held by the fabric's admin only. */
  readonly rootSeed?: Uint8Array
  /** PeerIds (text) whose grants (rotations) this member takes; 1 to 8. */
  readonly admins: readonly string[]
  /** Multiaddrs ending in /p2p/<PeerId> dialled to reach the fabric; 0 to 8. */
  readonly bootstrap: readonly string[]
  /** Invitations made here that carry the fabric (their joiners get a grant), to their expiry. */
  readonly invitations: Readonly<Record<string, number>>
}

/**
 * Checks what makes a state whole: the statement decodes, is of `epoch`,
 * names the secret's credential key, and, with a root seed, its root is
 * the seed's. Returns the state with `rootKey` from the statement; throws
 * an MvlanError saying which check failed.
 */
export function checkFabricState(state: Omit<FabricState, 'rootKey'>): FabricState {
  const decoded = decodeFabricEpoch(state.statement)
  if (!decoded.ok)
    throw new MvlanError('invalid-argument', 'statement: not a fabric epoch statement')
  const { statement } = decoded
  if (statement.epoch !== state.epoch)
    throw new MvlanError(
      'invalid-argument',
      `statement: of epoch ${statement.epoch}, not ${state.epoch}`,
    )
  if (!equalBytes(statement.credentialKey, fabricKeys(state.secret).credentialKey))
    throw new MvlanError('invalid-argument', "statement: its credential key is not the secret's")
  if (state.rootSeed !== undefined && !equalBytes(rootKeyOf(state.rootSeed), statement.rootKey))
    throw new MvlanError('invalid-argument', "rootSeed: not the statement's root")
  if (state.admins.length < 1 || state.admins.length > MAX_GRANT_ADMINS)
    throw new MvlanError('invalid-argument', `admins: 1 to ${MAX_GRANT_ADMINS} PeerIds`)
  return { ...state, rootKey: statement.rootKey }
}

/** A new fabric, its admin `admin` (PeerId text): fresh root seed and secret, epoch 0. */
export function newFabric(p: {
  admin: string
  bootstrap: readonly string[]
  now: number
}): FabricState {
  const rootSeed = new Uint8Array(randomBytes(32))
  const secret = new Uint8Array(randomBytes(FABRIC_SECRET_LENGTH))
  return checkFabricState({
    secret,
    epoch: 0,
    statement: statementOf(rootSeed, secret, 0, p.now),
    rootSeed,
    admins: [p.admin],
    bootstrap: [...p.bootstrap],
    invitations: {},
  })
}

/** The admin's next epoch of `state` (a rotation): a fresh secret, the root's statement of it. */
export function nextFabricEpoch(state: FabricState, now: number): FabricState {
  if (state.rootSeed === undefined)
    throw new MvlanError(
      'invalid-argument',
      `only the fabric's admin rotates it (${state.admins.join(', ')}); this node holds no root key`,
    )
  const secret = new Uint8Array(randomBytes(FABRIC_SECRET_LENGTH))
  const epoch = state.epoch + 1
  return checkFabricState({
    ...state,
    secret,
    epoch,
    statement: statementOf(state.rootSeed, secret, epoch, now),
  })
}

/**
 * Whether a member takes `grant` from `from` (§16.8), and the state it
 * then holds. Taken: with no fabric, from the owner of a VLAN it is
 * joining by invitation (`joiningFrom`); with one, from one of its admins,
 * for a later epoch under its root. The statement's signature is checked
 * by the caller first (`verifyFabricEpoch`).
 */
export function judgeGrant(p: {
  grant: FabricGrant
  from: string
  state: FabricState | undefined
  joiningFrom: boolean
}): { ok: true; next: FabricState } | { ok: false; why: string } {
  const { grant, from, state } = p
  if (state === undefined) {
    if (!p.joiningFrom) return { ok: false, why: 'not from the owner of a VLAN we join' }
  } else {
    if (!state.admins.includes(from)) return { ok: false, why: 'not from an admin of our fabric' }
    if (!equalBytes(grant.statement.rootKey, state.rootKey))
      return { ok: false, why: 'another fabric' }
    if (grant.statement.epoch <= state.epoch) return { ok: false, why: 'not a later epoch' }
  }
  try {
    const next = checkFabricState({
      secret: grant.secret,
      epoch: grant.statement.epoch,
      statement: grant.statement.bytes,
      ...(state?.rootSeed === undefined ? {} : { rootSeed: state.rootSeed }),
      admins: grant.admins.map((admin) => base58btc(admin)),
      // The grant's bootstrap addresses are the fabric's now (an admin may move them); a grant
      // without any keeps the member's own.
      bootstrap: grant.bootstrap.length > 0 ? grant.bootstrap : (state?.bootstrap ?? []),
      // Invitations carried the epoch they were made in: a new one ends them.
      invitations: {},
    })
    return { ok: true, next }
  } catch (error) {
    return { ok: false, why: (error as Error).message }
  }
}

function statementOf(rootSeed: Uint8Array, secret: Uint8Array, epoch: number, now: number) {
  return signFabricEpoch({
    rootSeed,
    epoch,
    credentialKey: fabricKeys(secret).credentialKey,
    issuedAt: now,
  })
}
