import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ConfigError } from '@peertap/daemon'
import { afterAll, describe, expect, it } from 'vitest'
import { parseRelayConfig } from '../src/config.ts'

const ID = '12D3KooWK4oX9f1ymXiA6iiBqw7NGuTsarqeGYX7k28kPcjtKyGN'
const CLI = new URL('../src/cli.ts', import.meta.url).pathname
const fieldOf = (input: unknown): string => {
  try {
    parseRelayConfig(input)
  } catch (error) {
    if (error instanceof ConfigError) return `${error.field}: ${error.message}`
    throw error
  }
  return 'valid'
}

describe('relay config', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('fills defaults: proofs required, closed admission, proof checks rate-limited', () => {
    const c = parseRelayConfig({ stateDir: '/s' })
    expect(c.listen).toEqual(['/ip4/0.0.0.0/tcp/7400'])
    expect(c.admission).toEqual({
      requireProofs: true,
      open: false,
      allow: [],
      deny: [],
      relays: [],
      fabricKeys: [],
    })
    expect(c.limits).toEqual({
      proofChecksPerSecond: 20,
      proofCheckBurst: 40,
      subscriptionEntriesPerSecond: 128,
      subscriptionEntryBurst: 8192,
      proofCheckBudgetPerSecond: 500,
      maxConnections: 1024,
      maxConnectionsPerAddress: 32,
      inboundConnectionsPerSecond: 5,
      queueBudgetBytes: 256 * 1024 * 1024,
    })
    expect(c.status.port).toBe(7481)
    expect(c.tree).toEqual({ enabled: true, helloSeconds: 1, holdSeconds: 3, costs: {} })
    expect(c.datagram).toEqual({
      enabled: true,
      port: 0,
      announce: [],
      socket: 'auto',
      gso: true,
      gro: true,
    })
    expect(parseRelayConfig({ stateDir: '/s', datagram: { gro: false } }).datagram.gro).toBe(false)
    // Hop protection on the tap addon's OpenSSL contexts when it is built.
    expect(parseRelayConfig({ stateDir: '/s' }).aes).toBe('auto')
    expect(parseRelayConfig({ stateDir: '/s', aes: 'node' }).aes).toBe('node')
    expect(fieldOf({ stateDir: '/s', aes: 'fast' })).toMatch(/^aes: /)
  })

  it('says what replaced allowListOnly', () => {
    expect(fieldOf({ stateDir: '/s', admission: { allowListOnly: true } })).toMatch(
      /^admission\.allowListOnly: .*no longer a setting.*"open": true/,
    )
    expect(fieldOf({ stateDir: '/s', admission: { open: true } })).toBe('valid')
  })

  it('checks the spanning tree section (spec 12 §7)', () => {
    expect(fieldOf({ stateDir: '/s', tree: { holdSeconds: 1 } })).toBe(
      'tree.holdSeconds: tree.holdSeconds: must be more than tree.helloSeconds',
    )
    expect(fieldOf({ stateDir: '/s', tree: { costs: { [ID]: 0 } } })).toMatch(
      new RegExp(`^tree\\.costs\\.${ID}: `),
    )
    expect(fieldOf({ stateDir: '/s', tree: { costs: { nope: 5 } } })).toMatch(/^tree\.costs/)
    expect(fieldOf({ stateDir: '/s', tree: { maxAge: 5 } })).toMatch(/^tree\.maxAge: /)
    expect(
      fieldOf({
        stateDir: '/s',
        tree: { enabled: false, helloSeconds: 2, holdSeconds: 6, costs: { [ID]: 1000 } },
      }),
    ).toBe('valid')
  })

  it('names the offending field', () => {
    expect(fieldOf({})).toMatch(/^stateDir: /)
    expect(fieldOf({ stateDir: '/s', admision: {} })).toBe('admision: admision: unknown field')
    expect(fieldOf({ stateDir: '/s', admission: { deny: ['nope'] } })).toMatch(
      /^admission\.deny\.0: .*PeerId/,
    )
    expect(fieldOf({ stateDir: '/s', limits: { framesPerSecond: -1 } })).toMatch(
      /^limits\.framesPerSecond: /,
    )
    expect(fieldOf({ stateDir: '/s', peerLimits: { [ID]: { bytesPerSecond: 'x' } } })).toMatch(
      new RegExp(`^peerLimits\\.${ID}\\.bytesPerSecond: `),
    )
    expect(fieldOf({ stateDir: '/s', listen: ['tcp:7400'] })).toMatch(/^listen\.0: /)
    expect(fieldOf({ stateDir: '/s', admission: { fabricKeys: ['ab'] } })).toMatch(
      /^admission\.fabricKeys\.0: /,
    )
    expect(fieldOf({ stateDir: '/s', admission: { allow: [ID], deny: [ID] } })).toBe(
      'admission.allow.0: admission.allow.0: also on admission.deny',
    )
    expect(fieldOf({ stateDir: '/s', admission: { allow: [ID] }, peerLimits: { [ID]: {} } })).toBe(
      'valid',
    )
  })

  it('needs no TAP device, switch or MLS: none is a dependency or imported', async () => {
    const { readFile, readdir } = await import('node:fs/promises')
    const root = new URL('../', import.meta.url).pathname
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'))
    const forbidden = ['@peertap/tap', '@peertap/switch', '@peertap/mls', '@peertap/node', 'ts-mls']
    for (const name of forbidden) expect(Object.keys(manifest.dependencies)).not.toContain(name)
    for (const file of await readdir(join(root, 'src'))) {
      const text = await readFile(join(root, 'src', file), 'utf8')
      for (const name of forbidden)
        expect(text, `${file} imports ${name}`).not.toContain(`'${name}`)
    }
  })

  it('the CLI exits non-zero with the field named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peertap-relay-config-'))
    dirs.push(dir)
    const path = join(dir, 'bad.json')
    await writeFile(path, JSON.stringify({ stateDir: dir, admission: { deny: ['x'] } }))
    const run = promisify(execFile)
    const error = await run(process.execPath, [
      '--conditions=peertap:source',
      CLI,
      'up',
      '--config',
      path,
    ]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    )
    expect(error?.code).toBe(1)
    expect(error?.stderr).toMatch(/^peertap-relay: config error: admission\.deny\.0: /)
  })
})
