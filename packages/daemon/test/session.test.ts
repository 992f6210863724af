import { describe, expect, it } from 'vitest'
import { BrowserSessions } from '../src/index.ts'

describe('BrowserSessions', () => {
  it('exchanges a nonce once, within 60 s, for a session and its key', () => {
    let now = 1_000_000
    const sessions = new BrowserSessions({ now: () => now })
    const { nonce, expiresAt } = sessions.issueNonce()
    expect(expiresAt).toBe(now + 60_000)
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const redeemed = sessions.redeem(nonce)
    expect(redeemed?.session).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(redeemed?.key).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(redeemed?.key).not.toBe(redeemed?.session)
    expect(sessions.use(redeemed!.session)).toBe(redeemed?.key)
    expect(sessions.redeem(nonce)).toBeUndefined()
    const late = sessions.issueNonce().nonce
    now += 60_000
    expect(sessions.redeem(late)).toBeUndefined()
    expect(sessions.redeem('')).toBeUndefined()
    expect(sessions.redeem(redeemed!.session)).toBeUndefined()
  })

  it('ends a session idle for 12 h, keeps one in use, and ends every one a day after sign-in', () => {
    let now = 0
    const sessions = new BrowserSessions({ now: () => now })
    const a = sessions.redeem(sessions.issueNonce().nonce)!.session
    const b = sessions.redeem(sessions.issueNonce().nonce)!.session
    for (let hour = 1; hour < 24; hour++) {
      now = hour * 3600_000
      expect(sessions.use(a)).toBeDefined()
    }
    expect(sessions.use(b)).toBeUndefined()
    expect(sessions.live(b)).toBe(false)
    expect(sessions.use('forged')).toBeUndefined()
    expect(sessions.size).toBe(1)
    // Used every hour, it still ends 24 h after sign-in.
    now = 24 * 3600_000
    expect(sessions.live(a)).toBe(false)
    expect(sessions.use(a)).toBeUndefined()
  })

  it('tells whether a session is live without using it', () => {
    let now = 0
    const sessions = new BrowserSessions({ now: () => now })
    const { session } = sessions.redeem(sessions.issueNonce().nonce)!
    now = 11 * 3600_000
    expect(sessions.live(session)).toBe(true)
    now = 12 * 3600_000
    // `live` did not restart its idle time.
    expect(sessions.live(session)).toBe(false)
    sessions.end(session)
    expect(sessions.live(session)).toBe(false)
  })

  it('holds at most 64 sessions and 16 nonces, dropping the oldest', () => {
    const sessions = new BrowserSessions()
    const nonces = Array.from({ length: 17 }, () => sessions.issueNonce().nonce)
    expect(sessions.redeem(nonces[0]!)).toBeUndefined()
    const first = sessions.redeem(nonces[1]!)!.session
    for (let i = 0; i < 64; i++) sessions.redeem(sessions.issueNonce().nonce)
    expect(sessions.size).toBe(64)
    expect(sessions.use(first)).toBeUndefined()
  })
})
