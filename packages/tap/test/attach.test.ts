/**
 * attachTun: a descriptor opened elsewhere. A TUN descriptor handed over by
 * another process is covered end to end (tools/overlay/test/embed.e2e.test.ts);
 * here, what is not a TUN device is refused with a clear error and left open.
 */
import { closeSync, fstatSync, openSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { attachTun, TapError } from '../src/index.ts'
import { canLoadAddon } from './helpers.ts'

describe.runIf(canLoadAddon())('attachTun', () => {
  it('refuses a descriptor that is not a TUN device, saying which system call said no', () => {
    const fd = openSync('/dev/null', 'r')
    try {
      let error: unknown
      try {
        attachTun(fd)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(TapError)
      expect((error as TapError).syscall).toBe('TUNGETIFF')
      expect((error as TapError).code).toBe('invalid-argument')
      expect((error as Error).message).toMatch(
        new RegExp(`fd ${fd} is not an open TUN device \\(ENOTTY`),
      )
      // Still the caller's: not closed.
      expect(() => fstatSync(fd)).not.toThrow()
    } finally {
      closeSync(fd)
    }
  })

  it('refuses what is not a descriptor', () => {
    expect(() => attachTun(-1)).toThrow(/not a file descriptor/)
    expect(() => attachTun(1.5)).toThrow(/not a file descriptor/)
  })
})
