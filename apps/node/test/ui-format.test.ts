import { describe, expect, it } from 'vitest'
import {
  describePath,
  errorText,
  formatBytes,
  formatCount,
  formatRtt,
  shortId,
} from '../src/ui/format.js'

describe('the page helpers (ui/format.js)', () => {
  it('formatBytes: binary units, one decimal under 10', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(1023)).toBe('1023 B')
    expect(formatBytes(1024)).toBe('1 KiB')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(12 * 1024 * 1024 + 1)).toBe('12 MiB')
    expect(formatBytes(3.25 * 1024 ** 3)).toBe('3.3 GiB')
    expect(formatBytes(2 * 1024 ** 6)).toBe('2048 PiB')
    expect(formatBytes(-1)).toBe('–')
    expect(formatBytes(Number.NaN)).toBe('–')
  })

  it('formatCount: groups of three digits', () => {
    expect(formatCount(0)).toBe('0')
    expect(formatCount(999)).toBe('999')
    expect(formatCount(1000)).toBe('1\u202f000')
    expect(formatCount(1234567)).toBe('1\u202f234\u202f567')
    expect(formatCount(-4200)).toBe('-4\u202f200')
    expect(formatCount(undefined as unknown as number)).toBe('–')
  })

  it('formatRtt: sub-millisecond, milliseconds, seconds; a dash when unmeasured', () => {
    expect(formatRtt(0.4213)).toBe('0.42 ms')
    expect(formatRtt(3.14)).toBe('3.1 ms')
    expect(formatRtt(87.6)).toBe('88 ms')
    expect(formatRtt(1234)).toBe('1.2 s')
    expect(formatRtt(undefined)).toBe('–')
    expect(formatRtt(null)).toBe('–')
    expect(formatRtt(-1)).toBe('–')
  })

  it('shortId: first 8 and last 6 characters of a long id', () => {
    const id = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'
    expect(shortId(id)).toBe('12D3KooW…CVe2Xo')
    expect(shortId('short')).toBe('short')
  })

  it('describePath: datagram direct, stream direct or through its relay', () => {
    expect(describePath({ kind: 'datagram', path: '198.51.100.7:7400' })).toBe(
      'datagram, direct to 198.51.100.7:7400',
    )
    expect(describePath({ kind: 'datagram' })).toBe('datagram (path not validated)')
    expect(describePath({ kind: 'stream', relayed: false })).toBe('stream, direct')
    expect(describePath({ kind: 'stream', relayed: true })).toBe('stream, through a relay')
    expect(
      describePath({
        kind: 'stream',
        relayed: true,
        via: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo',
      }),
    ).toBe('stream, through relay 12D3KooW…CVe2Xo')
  })

  it('errorText: the node’s message, capitalised; sign-in and unreachable in words', () => {
    expect(errorText(500, { error: 'no VLAN named "x" here' })).toBe('No VLAN named "x" here')
    expect(errorText(401, { error: 'missing or wrong token' })).toMatch(/peertap ui/)
    expect(errorText(403, null)).toMatch(/signed in/)
    expect(errorText(0, null)).toMatch(/does not answer/)
    expect(errorText(404, { nope: 1 })).toMatch(/does not know/)
    expect(errorText(502, 'x')).toBe('The node answered with an error (HTTP 502).')
  })
})
