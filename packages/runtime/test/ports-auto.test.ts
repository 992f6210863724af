/**
 * `port.type: "auto"` (packages/runtime/src/ports.ts tapRefused): TAP, and
 * TUN only where the kernel refuses TAP (EINVAL from TUNSETIFF with IFF_TAP
 * for a name no interface has). A name taken by another kind of device also
 * gives EINVAL; that one is reported, never papered over with a TUN port.
 * Real devices: needs root and /dev/net/tun (CI has both).
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { openTap, TapError } from '@peertap/tap'
import { afterAll, describe, expect, it } from 'vitest'
import { tapRefused } from '../src/ports.ts'

const can = process.getuid?.() === 0 && existsSync('/dev/net/tun')
const NAME = `ptauto${process.pid}`.slice(0, 15)

describe.runIf(can)('auto ports: when the kernel refuses TAP', () => {
  afterAll(() => {
    execFileSync('ip', ['link', 'del', NAME], { stdio: 'ignore' })
  })

  it('reports a name taken by a TUN device, and would fall back only where no device has the name', () => {
    execFileSync('ip', ['tuntap', 'add', 'dev', NAME, 'mode', 'tun'])
    let error: unknown
    try {
      openTap({ name: NAME }).close()
    } catch (e) {
      error = e
    }
    // The kernel's answer to IFF_TAP on a TUN device's name.
    expect(error).toBeInstanceOf(TapError)
    expect((error as TapError).errno).toBe('EINVAL')
    expect((error as TapError).syscall).toBe('TUNSETIFF')
    expect((error as TapError).code).toBe('name-taken')
    // The name exists: reported, not a fallback.
    expect(tapRefused(error, NAME)).toBe(false)
    // The same refusal for a name no interface has is the kernel refusing TAP itself.
    expect(tapRefused(error, NAME, () => false)).toBe(true)
    // Anything else is reported too.
    const eperm = new TapError('permission-denied', 'no', { errno: 'EPERM', syscall: 'TUNSETIFF' })
    expect(tapRefused(eperm, 'ptnone0', () => false)).toBe(false)
    expect(tapRefused(new Error('EINVAL'), 'ptnone0', () => false)).toBe(false)
  })
})
