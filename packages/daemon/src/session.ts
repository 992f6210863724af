import { randomBytes } from 'node:crypto'

/**
 * Browser sessions of the status API (docs/design.md §10). A browser never
 * sees the API token: `peertap ui` asks the daemon for a nonce (single use,
 * valid 60 s) and opens `/?nonce=…`; the daemon exchanges the nonce for a
 * session, a random 32-byte value the browser keeps in an HttpOnly cookie,
 * and a second one, the session's **key**, that the page keeps for its tab
 * (given once, in the sign-in redirect's fragment) and sends as a header.
 * A browser sends the cookie to every server on 127.0.0.1, whatever the
 * port, so another local user's server could collect it; the key never
 * leaves the page's own origin, and the API wants both. Held in memory
 * only (a restart signs every browser out), bounded, and expired after an
 * idle time and at most a day after sign-in. No I/O: the clock is given.
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
  /** A session ends this long after sign-in, used or not (default 24 h). */
  readonly maxAgeMs?: number
}

export const NONCE_MS = 60_000
export const SESSION_IDLE_MS = 12 * 3600_000
export const SESSION_MAX_AGE_MS = 24 * 3600_000
export const MAX_SESSIONS = 64
export const MAX_NONCES = 16

/** Nonces and sessions of one status server. */
export class BrowserSessions {
  private readonly now: () => number
  private readonly nonceMs: number
  private readonly maxNonces: number
  private readonly maxSessions: number
  private readonly idleMs: number
  private readonly maxAgeMs: number
  /** Nonce → when it expires; in order of issue (a Map keeps insertion order). */
  private readonly nonces = new Map<string, number>()
  /** Session → its key, when it began and when it was last used; in order of creation. */
  private readonly sessions = new Map<string, { key: string; createdAt: number; usedAt: number }>()

  constructor(options: SessionOptions = {}) {
    this.now = options.now ?? Date.now
    this.nonceMs = options.nonceMs ?? NONCE_MS
    this.maxNonces = options.maxNonces ?? MAX_NONCES
    this.maxSessions = options.maxSessions ?? MAX_SESSIONS
    this.idleMs = options.idleMs ?? SESSION_IDLE_MS
    this.maxAgeMs = options.maxAgeMs ?? SESSION_MAX_AGE_MS
  }

  /** A fresh nonce and when it expires (ms since the epoch). */
  issueNonce(): { nonce: string; expiresAt: number } {
    const nonce = randomBytes(32).toString('base64url')
    const expiresAt = this.now() + this.nonceMs
    this.nonces.set(nonce, expiresAt)
    dropOldest(this.nonces, this.maxNonces)
    return { nonce, expiresAt }
  }

  /**
   * Exchanges a live, unused nonce for a new session and its key;
   * undefined otherwise. The nonce is spent either way.
   */
  redeem(nonce: string): { session: string; key: string } | undefined {
    const expiresAt = this.nonces.get(nonce)
    if (expiresAt === undefined) return undefined
    this.nonces.delete(nonce)
    const now = this.now()
    if (now >= expiresAt) return undefined
    const session = randomBytes(32).toString('base64url')
    const key = randomBytes(32).toString('base64url')
    this.sessions.set(session, { key, createdAt: now, usedAt: now })
    dropOldest(this.sessions, this.maxSessions)
    return { session, key }
  }

  /** A live session's key, its idle time restarted; undefined for one that ended. */
  use(session: string): string | undefined {
    if (!this.live(session)) return undefined
    const held = this.sessions.get(session)!
    held.usedAt = this.now()
    return held.key
  }

  /** Whether a session is live, without using it (an event stream asks each time it sends). */
  live(session: string): boolean {
    const held = this.sessions.get(session)
    if (held === undefined) return false
    const now = this.now()
    if (now - held.usedAt >= this.idleMs || now - held.createdAt >= this.maxAgeMs) {
      this.sessions.delete(session)
      return false
    }
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

function dropOldest(map: Map<string, unknown>, max: number): void {
  for (const key of map.keys()) {
    if (map.size <= max) return
    map.delete(key)
  }
}
