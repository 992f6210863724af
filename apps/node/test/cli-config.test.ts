import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** Runs the `peertap` CLI from source. */
const NODE_ARGV = [
  process.execPath,
  '--conditions=peertap:source',
  new URL('../src/cli.ts', import.meta.url).pathname,
]

const good = {
  stateDir: '/var/lib/peertap',
  vlans: [{ name: 'lab', secret: 'ab'.repeat(32), port: { type: 'tap', device: 'pt0' } }],
}

describe('peertap up with a bad config', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peertap-config-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('exits non-zero with an error that names the field', async () => {
    const path = join(dir, 'bad.json')
    await writeFile(
      path,
      JSON.stringify({ ...good, vlans: [{ ...good.vlans[0], secret: undefined }] }),
    )
    const [node, ...args] = NODE_ARGV
    const result = await promisify(execFile)(node!, [...args, 'up', '--config', path]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/config error: vlans\.0\.secret: required field is missing/)
  })

  it('says so when the file is not JSON', async () => {
    const path = join(dir, 'broken.json')
    await writeFile(path, '{ "stateDir": ')
    const [node, ...args] = NODE_ARGV
    const result = await promisify(execFile)(node!, [...args, 'up', '--config', path]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/is not JSON/)
  })
})
