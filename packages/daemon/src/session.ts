import { randomBytes } from 'node:crypto'

/**
 * Browser sessions of the status API (docs/design.md §10). A browser never
 * sees the API token: `peertap ui` asks the daemon for a nonce (single use,
 * valid 60 s) and opens `/?nonce=…`; the daemon exchanges the nonce for a
 * session, a random 32-byte value the browser keeps in an HttpOnly cookie.
 * Held in memory only (a restart signs every browser out), bounded, and
 * expired after an idle time. No I/O: the clock is given.
 */
export interface SessionOptions {
  /** Milliseconds now (default `Date.now`). */
  readonly now?: () => number
  /** How long a nonce can be exchanged (default 60 s). */
  readonly nonceMs?: number
  /** Nonces held at once; the oldest is dropped (default 16). */
  readonly maxNonces?: number
  /** Sessions held at once; the oldest is dropped (default 64). */
  readonly maxSessions?: number
  /** A session unused this long ends (default 12 h). */
  readonly idleMs?: number
}

export const NONCE_MS = 60_000
export const SESSION_IDLE_MS = 12 * 3600_000
export const MAX_SESSIONS = 64
export const MAX_NONCES = 16

/** Nonces and sessions of one status server. */
export class BrowserSessions {
  private readonly now: () => number
  private readonly nonceMs: number
  private readonly maxNonces: number
  private readonly maxSessions: number
  private readonly idleMs: number
  /** Nonce → when it expires; in order of issue (a Map keeps insertion order). */
  private readonly nonces = new Map<string, number>()
  /** Session → when it was last used; in order of creation. */
  private readonly sessions = new Map<string, number>()

  constructor(options: SessionOptions = {}) {
    this.now = options.now ?? Date.now
    this.nonceMs = options.nonceMs ?? NONCE_MS
    this.maxNonces = options.maxNonces ?? MAX_NONCES
    this.maxSessions = options.maxSessions ?? MAX_SESSIONS
    this.idleMs = options.idleMs ?? SESSION_IDLE_MS
  }

  /** A fresh nonce and when it expires (ms since the epoch). */
  issueNonce(): { nonce: string; expiresAt: number } {
    const nonce = randomBytes(32).toString('base64url')
    const expiresAt = this.now() + this.nonceMs
    this.nonces.set(nonce, expiresAt)
    dropOldest(this.nonces, this.maxNonces)
    return { nonce, expiresAt }
  }

  /** Exchanges a live, unused nonce for a new session; undefined otherwise. The nonce is spent either way. */
  redeem(nonce: string): string | undefined {
    const expiresAt = this.nonces.get(nonce)
    if (expiresAt === undefined) return undefined
    this.nonces.delete(nonce)
    if (this.now() >= expiresAt) return undefined
    const session = randomBytes(32).toString('base64url')
    this.sessions.set(session, this.now())
    dropOldest(this.sessions, this.maxSessions)
    return session
  }

  /** Whether a session is live; using it restarts its idle time. */
  use(session: string): boolean {
    const lastUsed = this.sessions.get(session)
    if (lastUsed === undefined) return false
    const now = this.now()
    if (now - lastUsed >= this.idleMs) {
      this.sessions.delete(session)
      return false
    }
    this.sessions.set(session, now)
    return true
  }

  /** Ends a session (sign-out). */
  end(session: string): void {
    this.sessions.delete(session)
  }

  /** Sessions held now (live or idle but not yet seen expired). */
  get size(): number {
    return this.sessions.size
  }
}

function dropOldest(map: Map<string, number>, max: number): void {
  for (const key of map.keys()) {
    if (map.size <= max) return
    map.delete(key)
  }
}
