import { describe, expect, it } from 'vitest'
import { BrowserSessions } from '../src/index.ts'

describe('BrowserSessions', () => {
  it('exchanges a nonce once, within 60 s', () => {
    let now = 1_000_000
    const sessions = new BrowserSessions({ now: () => now })
    const { nonce, expiresAt } = sessions.issueNonce()
    expect(expiresAt).toBe(now + 60_000)
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const session = sessions.redeem(nonce)
    expect(session).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(sessions.redeem(nonce)).toBeUndefined()
    const late = sessions.issueNonce().nonce
    now += 60_000
    expect(sessions.redeem(late)).toBeUndefined()
    expect(sessions.redeem('')).toBeUndefined()
    expect(sessions.redeem(session!)).toBeUndefined()
  })

  it('ends a session idle for 12 h, and keeps one in use', () => {
    let now = 0
    const sessions = new BrowserSessions({ now: () => now })
    const a = sessions.redeem(sessions.issueNonce().nonce)!
    const b = sessions.redeem(sessions.issueNonce().nonce)!
    for (let hour = 1; hour <= 24; hour++) {
      now = hour * 3600_000
      expect(sessions.use(a)).toBe(true)
    }
    expect(sessions.use(b)).toBe(false)
    expect(sessions.use(b)).toBe(false)
    expect(sessions.use('forged')).toBe(false)
    expect(sessions.size).toBe(1)
  })

  it('holds at most 64 sessions and 16 nonces, dropping the oldest', () => {
    const sessions = new BrowserSessions()
    const nonces = Array.from({ length: 17 }, () => sessions.issueNonce().nonce)
    expect(sessions.redeem(nonces[0]!)).toBeUndefined()
    const first = sessions.redeem(nonces[1]!)!
    for (let i = 0; i < 64; i++) sessions.redeem(sessions.issueNonce().nonce)
    expect(sessions.size).toBe(64)
    expect(sessions.use(first)).toBe(false)
  })
})
