import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as v from 'valibot'
import { afterAll, describe, expect, it } from 'vitest'
import {
  CONTROL_FILE,
  ConfigError,
  metricsText,
  parseWithSchema,
  readControl,
  requestDaemon,
  startStatusServer,
  writeStateFile,
} from '../src/index.ts'

describe('@peertap/daemon', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('names the offending field of a config', () => {
    const schema = v.strictObject({ a: v.strictObject({ b: v.number() }) })
    expect(() => parseWithSchema(schema, { a: { b: 'x' } })).toThrow(/^a\.b: /)
    try {
      parseWithSchema(schema, { a: { b: 1, c: 2 } })
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).field).toBe('a.c')
      expect((error as ConfigError).message).toBe('a.c: unknown field')
    }
  })

  it('turns every finite number of a snapshot into a gauge named by its path', async () => {
    const text = await metricsText([
      { prefix: 'x', value: { frameDrops: { 'rate-frames': 3 }, inf: Infinity } },
      { prefix: 'x_link', labels: { peer: 'p1' }, value: { framesSent: 7 } },
    ])
    expect(text).toMatch(/^x_frame_drops_rate_frames 3$/m)
    expect(text).toMatch(/^x_link_frames_sent\{peer="p1"\} 7$/m)
    expect(text).not.toContain('x_inf')
  })

  it('serves status behind the token, found through the control file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peertap-daemon-'))
    dirs.push(dir)
    const token = 'a'.repeat(48)
    const { server, port } = await startStatusServer(0, token, {
      status: () => ({ ok: 1 }),
      metrics: async () => 'm 1\n',
      ping: async (peer) => ({ peer }),
    })
    try {
      await writeStateFile(
        join(dir, CONTROL_FILE),
        JSON.stringify({ pid: process.pid, port, token }),
      )
      expect((await stat(join(dir, CONTROL_FILE))).mode & 0o777).toBe(0o600)
      expect(await readControl(dir)).toEqual({ pid: process.pid, port, token })
      expect(await requestDaemon(dir, 'GET', '/status')).toEqual({ ok: 1 })
      expect(await requestDaemon(dir, 'POST', '/ping?peer=q')).toEqual({ peer: 'q' })
      const denied = await fetch(`http://127.0.0.1:${port}/status`, {
        headers: { authorization: 'Bearer wrong' },
      })
      expect(denied.status).toBe(401)
      expect(JSON.parse(await readFile(join(dir, CONTROL_FILE), 'utf8')).port).toBe(port)
    } finally {
      server.close()
    }
    await expect(readControl(join(dir, 'none'), 'peertap-relay up')).rejects.toThrow(
      /peertap-relay up/,
    )
  })
})
