import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import pkg from '../package.json' with { type: 'json' }

const run = promisify(execFile)
const CLI = new URL('../src/cli.ts', import.meta.url).pathname

describe('peertap-relay CLI', () => {
  it('prints its version with --version', async () => {
    const { stdout } = await run(process.execPath, [
      '--conditions=peertap:source',
      CLI,
      '--version',
    ])
    expect(stdout.trim()).toBe(pkg.version)
  })

  it('accepts status --json and says how to start a relay when none runs', async () => {
    const error = await run(process.execPath, [
      '--conditions=peertap:source',
      CLI,
      'status',
      '--json',
      '-s',
      '/nonexistent-peertap-state',
    ]).catch((e: { stderr: string; code: number }) => e)
    expect((error as { code: number }).code).not.toBe(0)
    expect((error as { stderr: string }).stderr).toContain("start one with 'peertap-relay up'")
  })
})
