/**
 * The status API from the hostile side: a page elsewhere in the browser, a
 * name rebound to 127.0.0.1, a form posted from another site, a token in a
 * URL, a stale link. Requests are made with node:http so that every header
 * (Host, Origin, Sec-Fetch-Site, Cookie) is the test's to choose. The
 * real-browser hostile page is tools/'s.
 */
import { spawn, spawnSync } from 'node:child_process'
import { lstat, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  requestDaemon,
  SOCKET_FILE,
  type StatusProvider,
  type StatusServer,
  type StatusServerOptions,
  startStatusServer,
} from '../src/index.ts'

const TOKEN = 't'.repeat(48)

interface Answer {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly text: string
}

/** One request with exactly the headers given (Host defaults to the page's own). */
/** The header of the session's key, and each signed-in cookie's key (from the sign-in redirect). */
const SESSION_KEY = 'x-peertap-key'
const keysByCookie = new Map<string, string>()

function raw(
  target: { port: number } | { socketPath: string },
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const where =
    'port' in target
      ? { host: '127.0.0.1', port: target.port, headers: { host: `127.0.0.1:${target.port}` } }
      : { socketPath: target.socketPath, headers: { host: 'localhost' } }
  const all: Record<string, string> = { ...where.headers, ...headers }
  // A signed-in page sends its session's key with its cookie (session.ts); a test that means
  // to leave it out gives the header as ''.
  if (all.cookie !== undefined && !(SESSION_KEY in all))
    for (const [cookie, key] of keysByCookie)
      if (all.cookie.includes(cookie)) {
        all[SESSION_KEY] = key
        break
      }
  if (all[SESSION_KEY] === '') delete all[SESSION_KEY]
  // Host '' stands for no Host header at all.
  const setHost = all.host !== ''
  if (!setHost) delete all.host
  return new Promise((resolve, reject) => {
    const req = request({ ...where, method, path, agent: false, setHost, headers: all }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

/** The name of this process's group, for a socket the test may own. */
async function ownGroup(): Promise<string> {
  const gid = String(process.getgid!())
  const line = (await readFile('/etc/group', 'utf8'))
    .split('\n')
    .find((l) => l.split(':')[2] === gid)
  return line!.split(':')[0]!
}

describe('status server access', () => {
  const dirs: string[] = []
  let dir: string
  let now: number
  let server: StatusServer
  let deleted: string[]
  const base = (): StatusProvider => ({
    title: 'PeerTap test',
    status: () => ({ peerId: 'me', at: now }),
    metrics: async () => 'm 1\n',
    ping: async (peer) => ({ peer }),
    actions: {
      'vlan/delete': async (params) => {
        deleted.push(params.get('vlan') ?? '')
        return { deleted: params.get('vlan') }
      },
    },
    assets: {
      '/': { contentType: 'text/html; charset=utf-8', body: '<!doctype html><p>the page' },
      '/app.js': { contentType: 'text/javascript', body: 'export {}' },
    },
  })
  const start = async (options: StatusServerOptions = {}, provider = base()) => {
    server = await startStatusServer(0, TOKEN, provider, {
      socketPath: join(dir, SOCKET_FILE),
      socketGroup: await ownGroup(),
      sessions: { now: () => now },
      eventsEveryMs: 40,
      ...options,
    })
    return server
  }
  const tcp = () => ({ port: server.port })
  const host = () => `127.0.0.1:${server.port}`
  const bearer = { authorization: `Bearer ${TOKEN}` }
  /** A nonce from the CLI's side. */
  const nonce = async () =>
    (JSON.parse((await raw(tcp(), 'POST', '/ui/nonce', bearer)).text) as { nonce: string }).nonce
  /** A browser signed in: its Cookie header. */
  const signIn = async (): Promise<string> => {
    const answer = await raw(tcp(), 'GET', `/?nonce=${await nonce()}`)
    expect(answer.status).toBe(303)
    const key = /^\/#k=([A-Za-z0-9_-]{43})$/.exec(String(answer.headers.location))?.[1]
    expect(key).toBeDefined()
    const cookie = String(answer.headers['set-cookie']).split(';')[0]!
    keysByCookie.set(cookie, key!)
    return cookie
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peertap-access-'))
    dirs.push(dir)
    now = 1_700_000_000_000
    deleted = []
  })
  afterEach(async () => {
    await server?.close()
  })
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('answers 401 to a request with neither the token nor a session', async () => {
    await start()
    for (const [method, path] of [
      ['GET', '/status'],
      ['GET', '/metrics'],
      ['GET', '/events'],
      ['GET', '/app.js'],
      ['POST', '/vlan/delete?vlan=lab'],
      ['POST', '/ping?peer=x'],
      ['POST', '/ui/nonce'],
    ] as const) {
      const answer = await raw(tcp(), method, path)
      expect(answer.status, `${method} ${path}`).toBe(401)
      expect(answer.text).not.toContain('"me"')
    }
    const wrong = await raw(tcp(), 'GET', '/status', { authorization: `Bearer ${'u'.repeat(48)}` })
    expect(wrong.status).toBe(401)
    const forged = await raw(tcp(), 'GET', '/status', {
      cookie: `peertap_session_${server.port}=${'A'.repeat(43)}`,
    })
    expect(forged.status).toBe(401)
    expect(deleted).toEqual([])
  })

  it('gives a browser without a session a page that says how to sign in (401), not the page', async () => {
    await start({ signIn: 'peertap ui -s /var/lib/peertap' })
    const answer = await raw(tcp(), 'GET', '/')
    expect(answer.status).toBe(401)
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(answer.text).toContain('peertap ui -s /var/lib/peertap')
    expect(answer.text).not.toContain('the page')
  })

  it('no longer takes the token in a query string', async () => {
    await start()
    expect((await raw(tcp(), 'GET', `/status?token=${TOKEN}`)).status).toBe(401)
    expect((await raw(tcp(), 'GET', `/?token=${TOKEN}`)).status).toBe(401)
    expect((await raw(tcp(), 'POST', `/vlan/delete?vlan=lab&token=${TOKEN}`)).status).toBe(401)
    expect(deleted).toEqual([])
  })

  it('refuses any Host but 127.0.0.1 or localhost with 403, before the token, a session or a nonce (DNS rebinding)', async () => {
    await start()
    const cookie = await signIn()
    const link = await nonce()
    for (const evil of [
      `evil.example:${server.port}`,
      `127.0.0.1.evil.example:${server.port}`,
      `localhost.evil.example`,
      `[::1]:${server.port}`,
      '',
    ]) {
      for (const headers of [bearer, { cookie }, {}]) {
        const answer = await raw(tcp(), 'GET', '/status', { ...headers, host: evil })
        expect(answer.status, evil).toBe(403)
        expect(answer.text).not.toContain('"me"')
      }
      const post = await raw(tcp(), 'POST', '/vlan/delete?vlan=lab', { ...bearer, host: evil })
      expect(post.status).toBe(403)
      const exchange = await raw(tcp(), 'GET', `/?nonce=${link}`, { host: evil })
      expect(exchange.status).toBe(403)
      expect(exchange.headers['set-cookie']).toBeUndefined()
    }
    expect(deleted).toEqual([])
    // The nonce was not spent by the refused requests; localhost is fine.
    const answer = await raw(tcp(), 'GET', `/?nonce=${link}`, { host: `localhost:${server.port}` })
    expect(answer.status).toBe(303)
    expect(String(answer.headers['set-cookie'])).toMatch(/^peertap_session_\d+=/)
  })

  it('refuses a foreign Origin with 403, with a valid session or the token', async () => {
    await start()
    const cookie = await signIn()
    for (const origin of [
      'http://evil.example',
      `http://evil.example:${server.port}`,
      'http://127.0.0.1:1', // another port of this machine: same site, another origin
      `https://127.0.0.1:${server.port}`,
      `http://localhost:${server.port}`, // the page is at 127.0.0.1 here
      'null',
    ]) {
      for (const auth of [{ cookie }, bearer]) {
        const headers = { ...auth, origin, 'sec-fetch-site': 'same-origin' }
        const post = await raw(tcp(), 'POST', '/vlan/delete?vlan=lab', headers)
        expect(post.status, origin).toBe(403)
        const read = await raw(tcp(), 'GET', '/status', { ...auth, origin })
        expect(read.status, origin).toBe(403)
        expect(read.text).not.toContain('"me"')
      }
    }
    expect(deleted).toEqual([])
    const own = await raw(tcp(), 'POST', '/vlan/delete?vlan=lab', {
      cookie,
      origin: `http://${host()}`,
    })
    expect(own.status).toBe(200)
    expect(deleted).toEqual(['lab'])
  })

  it("refuses a session's POST with neither Origin nor Sec-Fetch-Site: same-origin (a form from elsewhere)", async () => {
    await start()
    const cookie = await signIn()
    for (const site of [undefined, 'same-site', 'cross-site', 'none']) {
      const headers = site === undefined ? { cookie } : { cookie, 'sec-fetch-site': site }
      expect((await raw(tcp(), 'POST', '/vlan/delete?vlan=lab', headers)).status, site).toBe(403)
      expect((await raw(tcp(), 'POST', '/ping?peer=x', headers)).status, site).toBe(403)
    }
    expect(deleted).toEqual([])
    const page = { cookie, 'sec-fetch-site': 'same-origin' }
    expect((await raw(tcp(), 'POST', '/vlan/delete?vlan=a', page)).status).toBe(200)
    // A script (the token in a header) needs neither.
    expect((await raw(tcp(), 'POST', '/vlan/delete?vlan=b', bearer)).status).toBe(200)
    expect(deleted).toEqual(['a', 'b'])
  })

  it('exchanges a nonce once, within 60 s, for a cookie with exactly HttpOnly, SameSite=Strict, Path=/', async () => {
    await start()
    const link = JSON.parse((await raw(tcp(), 'POST', '/ui/nonce', bearer)).text) as {
      url: string
      nonce: string
      expiresAt: string
    }
    expect(link.url).toBe(`http://127.0.0.1:${server.port}/?nonce=${link.nonce}`)
    expect(link.expiresAt).toBe(new Date(now + 60_000).toISOString())
    const first = await raw(tcp(), 'GET', `/?nonce=${link.nonce}`)
    expect(first.status).toBe(303)
    // The page's key in the fragment: a browser never sends it to any server.
    expect(first.headers.location).toMatch(/^\/#k=[A-Za-z0-9_-]{43}$/)
    const setCookie = first.headers['set-cookie']
    expect(setCookie).toHaveLength(1)
    expect(setCookie![0]).toMatch(
      new RegExp(
        `^peertap_session_${server.port}=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=/$`,
      ),
    )
    const cookie = setCookie![0]!.split(';')[0]!
    const page = await raw(tcp(), 'GET', '/', { cookie })
    expect(page.status).toBe(200)
    expect(page.text).toContain('the page')

    // Used: a second browser gets nothing; this one, signed in, is sent on.
    const again = await raw(tcp(), 'GET', `/?nonce=${link.nonce}`)
    expect(again.status).toBe(401)
    expect(again.headers['set-cookie']).toBeUndefined()
    expect(again.text).toContain('used or has expired')
    const reload = await raw(tcp(), 'GET', `/?nonce=${link.nonce}`, { cookie })
    expect(reload.status).toBe(303)
    expect(reload.headers['set-cookie']).toBeUndefined()

    // Expired at 60 s; live just before.
    const late = await nonce()
    const inTime = await nonce()
    now += 59_999
    expect((await raw(tcp(), 'GET', `/?nonce=${inTime}`)).status).toBe(303)
    now += 1
    const expired = await raw(tcp(), 'GET', `/?nonce=${late}`)
    expect(expired.status).toBe(401)
    expect(expired.headers['set-cookie']).toBeUndefined()

    // A made-up nonce.
    expect((await raw(tcp(), 'GET', `/?nonce=${'B'.repeat(43)}`)).status).toBe(401)
  })

  it('ends a session on POST /ui/signout from the page, and clears its cookie', async () => {
    await start()
    const cookie = await signIn()
    // From elsewhere (no Origin, no Sec-Fetch-Site): refused, still signed in.
    expect((await raw(tcp(), 'POST', '/ui/signout', { cookie })).status).toBe(403)
    expect((await raw(tcp(), 'GET', '/status', { cookie })).status).toBe(200)
    const out = await raw(tcp(), 'POST', '/ui/signout', { cookie, origin: `http://${host()}` })
    expect(out.status).toBe(200)
    expect(out.headers['set-cookie']).toEqual([
      `peertap_session_${server.port}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`,
    ])
    expect((await raw(tcp(), 'GET', '/status', { cookie })).status).toBe(401)
  })

  it('answers a malformed request target with 400 and keeps serving', async () => {
    await start()
    for (const target of [{ port: server.port }, { socketPath: server.socket!.path }]) {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket =
          'port' in target ? connect(target.port, '127.0.0.1') : connect(target.socketPath)
        let text = ''
        socket.on('data', (d) => (text += d))
        socket.on('end', () => resolve(text))
        socket.on('error', reject)
        socket.end(`GET http://[ HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`)
      })
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request')
    }
    expect((await raw(tcp(), 'GET', '/status', bearer)).status).toBe(200)
  })

  it('answers 500 when the provider fails, and keeps serving', async () => {
    await start(
      {},
      {
        ...base(),
        metrics: async () => {
          throw new Error('no metrics')
        },
      },
    )
    const answer = await raw(tcp(), 'GET', '/metrics', bearer)
    expect(answer.status).toBe(500)
    expect(JSON.parse(answer.text)).toEqual({ error: 'no metrics' })
    expect((await raw(tcp(), 'GET', '/status', bearer)).status).toBe(200)
  })

  it('ends a session after 12 h idle', async () => {
    await start()
    const cookie = await signIn()
    now += 11 * 3600_000
    expect((await raw(tcp(), 'GET', '/status', { cookie })).status).toBe(200)
    now += 12 * 3600_000
    expect((await raw(tcp(), 'GET', '/status', { cookie })).status).toBe(401)
  })

  it('signs in through a page of its own when the link was followed from another site', async () => {
    await start()
    const answer = await raw(tcp(), 'GET', `/?nonce=${await nonce()}`, {
      'sec-fetch-site': 'cross-site',
    })
    expect(answer.status).toBe(200)
    expect(String(answer.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict; Path=\/$/)
    expect(answer.text).toMatch(
      /<meta http-equiv="refresh" content="0; url=\/#k=[A-Za-z0-9_-]{43}">/,
    )
  })

  it('gives a session no nonce: signing a browser in takes the token or the socket', async () => {
    await start()
    const cookie = await signIn()
    const headers = { cookie, origin: `http://${host()}` }
    expect((await raw(tcp(), 'POST', '/ui/nonce', headers)).status).toBe(403)
    const viaSocket = await raw({ socketPath: server.socket!.path }, 'POST', '/ui/nonce')
    expect(viaSocket.status).toBe(200)
    expect(JSON.parse(viaSocket.text).url).toMatch(`http://127.0.0.1:${server.port}/?nonce=`)
  })

  it('names the cookie by the port, so that two daemons on one machine keep their own', async () => {
    await start()
    const cookie = await signIn()
    const other = cookie.replace(`peertap_session_${server.port}=`, 'peertap_session_1=')
    expect((await raw(tcp(), 'GET', '/status', { cookie: other })).status).toBe(401)
    const both = `peertap_session_1=${'C'.repeat(43)}; ${cookie}`
    expect((await raw(tcp(), 'GET', '/status', { cookie: both })).status).toBe(200)
  })

  it('sends the security headers and no CORS header, on every answer', async () => {
    await start()
    const cookie = await signIn()
    const origin = `http://${host()}`
    const answers = [
      await raw(tcp(), 'GET', '/status', { cookie, origin }),
      await raw(tcp(), 'GET', '/metrics', bearer),
      await raw(tcp(), 'GET', '/', { cookie }),
      await raw(tcp(), 'GET', '/app.js', { cookie }),
      await raw(tcp(), 'GET', '/status'),
      await raw(tcp(), 'GET', '/'),
      await raw(tcp(), 'GET', '/status', { host: 'evil.example' }),
      await raw(tcp(), 'POST', '/vlan/delete?vlan=x', bearer),
    ]
    for (const answer of answers) {
      expect(answer.headers['cache-control']).toBe('no-store')
      expect(answer.headers['x-content-type-options']).toBe('nosniff')
      expect(answer.headers['x-frame-options']).toBe('DENY')
      expect(answer.headers['content-security-policy']).toBe(
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
      )
      expect(answer.headers['referrer-policy']).toBe('no-referrer')
      expect(Object.keys(answer.headers).filter((h) => h.startsWith('access-control-'))).toEqual([])
    }
  })

  it("serves the provider's assets to a session, and a minimal page without them", async () => {
    await start()
    const cookie = await signIn()
    const js = await raw(tcp(), 'GET', '/app.js', { cookie })
    expect(js.status).toBe(200)
    expect(js.headers['content-type']).toBe('text/javascript')
    expect(js.text).toBe('export {}')
    expect((await raw(tcp(), 'GET', '/missing.js', { cookie })).status).toBe(404)
    expect((await raw(tcp(), 'GET', '/toString', { cookie })).status).toBe(404)
    await server.close()
    const { assets: _, ...provider } = base()
    await start({}, provider)
    const page = await raw(tcp(), 'GET', '/', { cookie: await signIn() })
    expect(page.status).toBe(200)
    expect(page.text).toContain('<pre>')
    expect(page.text).toContain('&#34;me&#34;')
    expect(page.text).not.toContain('<script')
  })

  it('wants the page’s key beside the cookie for the API: a cookie alone (another local server collected it) reads and drives nothing', async () => {
    await start()
    const cookie = await signIn()
    const origin = `http://${host()}`
    const stolen = { cookie, 'x-peertap-key': '' }
    expect((await raw(tcp(), 'GET', '/status', stolen)).status).toBe(403)
    expect((await raw(tcp(), 'GET', '/events', stolen)).status).toBe(403)
    expect((await raw(tcp(), 'POST', '/ping?peer=x', { ...stolen, origin })).status).toBe(403)
    const wrong = { cookie, 'x-peertap-key': 'A'.repeat(43), origin }
    expect((await raw(tcp(), 'GET', '/status', wrong)).status).toBe(403)
    // The page's own files need only the cookie (they hold nothing secret); with the key, the API.
    expect((await raw(tcp(), 'GET', '/', stolen)).status).toBe(200)
    expect((await raw(tcp(), 'GET', '/status', { cookie })).status).toBe(200)
  })

  it('takes the live session among several cookies of its name (a decoy set on a narrower path signs nobody out)', async () => {
    await start()
    const cookie = await signIn()
    const name = cookie.slice(0, cookie.indexOf('='))
    const headers = {
      cookie: `${name}=decoy; ${cookie}`,
      'x-peertap-key': keysByCookie.get(cookie)!,
    }
    expect((await raw(tcp(), 'GET', '/status', headers)).status).toBe(200)
  })

  it('ends a session’s event stream when the session ends', async () => {
    await start()
    const cookie = await signIn()
    const key = keysByCookie.get(cookie)!
    const controller = new AbortController()
    const response = await fetch(`http://${host()}/events`, {
      headers: { cookie, 'x-peertap-key': key },
      signal: controller.signal,
    })
    expect(response.status).toBe(200)
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    await reader.read()
    const out = await raw(tcp(), 'POST', '/ui/signout', { cookie, origin: `http://${host()}` })
    expect(out.status).toBe(200)
    // The stream ends at its next tick (40 ms here), not when the browser goes.
    let ended = false
    const deadline = Date.now() + 2000
    while (!ended && Date.now() < deadline) ended = (await reader.read()).done
    expect(ended).toBe(true)
    controller.abort()
  })

  it('closes a connection that sends nothing, but not one waiting for its answer', async () => {
    let release: () => void = () => undefined
    await start(
      { idleMs: 200 },
      {
        ...base(),
        actions: {
          slow: () =>
            new Promise((resolve) => {
              release = () => resolve({ done: true })
            }),
        },
      },
    )
    const { connect } = await import('node:net')
    const silent = connect(server.port, '127.0.0.1')
    const closed = await new Promise<boolean>((resolve) => {
      silent.once('close', () => resolve(true))
      setTimeout(() => resolve(false), 2000)
    })
    expect(closed).toBe(true)
    const slow = raw(tcp(), 'POST', '/slow', bearer)
    await new Promise((r) => setTimeout(r, 600))
    release()
    expect((await slow).status).toBe(200)
  })

  it('streams the status as server-sent events, at once and every interval, at most 8 streams', async () => {
    await start()
    const cookie = await signIn()
    const controller = new AbortController()
    const response = await fetch(`http://${host()}/events`, {
      headers: { cookie, 'x-peertap-key': keysByCookie.get(cookie)! },
      signal: controller.signal,
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    while ((text.match(/\n\n/g) ?? []).length < 2) text += (await reader.read()).value
    const events = text.split('\n\n').filter((e) => e !== '')
    expect(events[0]).toBe(`event: status\ndata: ${JSON.stringify({ peerId: 'me', at: now })}`)
    expect(events[1]).toMatch(/^event: status\ndata: \{"peerId":"me"/)
    controller.abort()

    // The aborted stream is gone: 8 more fit, the 9th is refused.
    await new Promise((r) => setTimeout(r, 50))
    const open = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const c = new AbortController()
        const r = await fetch(`http://${host()}/events`, { headers: bearer, signal: c.signal })
        expect(r.status).toBe(200)
        return c
      }),
    )
    expect((await raw(tcp(), 'GET', '/events', bearer)).status).toBe(503)
    for (const c of open) c.abort()
    await new Promise((r) => setTimeout(r, 50))
    const c = new AbortController()
    expect(
      (await fetch(`http://${host()}/events`, { headers: bearer, signal: c.signal })).status,
    ).toBe(200)
    c.abort()
  })
})

describe('status server Unix socket', () => {
  const dirs: string[] = []
  const servers: StatusServer[] = []
  const provider: StatusProvider = {
    status: () => ({ ok: 1 }),
    metrics: async () => 'm 1\n',
    ping: async (peer) => ({ peer }),
    actions: { 'vlan/list': async () => ['lab'] },
  }
  const fresh = async () => {
    const d = await mkdtemp(join(tmpdir(), 'peertap-socket-'))
    dirs.push(d)
    return d
  }
  const serve = async (socketPath: string, socketGroup?: string) => {
    const s = await startStatusServer(0, TOKEN, provider, {
      socketPath,
      ...(socketGroup === undefined ? {} : { socketGroup }),
    })
    servers.push(s)
    return s
  }
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close()
  })
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('serves without the token, mode 0660 and the group; the CLI uses it without control.json', async () => {
    const dir = await fresh()
    const group = await ownGroup()
    const s = await serve(join(dir, SOCKET_FILE), group)
    expect(s.socket).toEqual({ path: join(dir, SOCKET_FILE), group })
    const info = await stat(join(dir, SOCKET_FILE))
    expect(info.isSocket()).toBe(true)
    expect(info.mode & 0o777).toBe(0o660)
    expect(info.gid).toBe(process.getgid!())
    // The state directory: the group may reach the socket by name, not list it.
    expect((await stat(dir)).mode & 0o070).toBe(0o010)

    const socketPath = join(dir, SOCKET_FILE)
    expect((await raw({ socketPath }, 'GET', '/status')).text).toContain('"ok": 1')
    expect(JSON.parse((await raw({ socketPath }, 'POST', '/vlan/list')).text)).toEqual(['lab'])
    // No control.json was written: requestDaemon went over the socket.
    expect(await requestDaemon(dir, 'GET', '/status')).toEqual({ ok: 1 })
    expect(await requestDaemon(dir, 'POST', '/ping?peer=q')).toEqual({ peer: 'q' })
    await expect(requestDaemon(dir, 'POST', '/nothing')).rejects.toThrow('not found')
  })

  // As another user: root runs the daemon, `nobody` the CLI, in the group or not.
  const asNobody =
    process.getuid?.() === 0 &&
    spawnSync('setpriv', ['--version']).status === 0 &&
    spawnSync('getent', ['group', 'users']).status === 0 &&
    // …and nobody can read these sources and run this node (not so in a checkout under /root).
    spawnSync('setpriv', [
      ...['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath],
      ...['--conditions=peertap:source', '--input-type=module', '-e'],
      `import ${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)}`,
    ]).status === 0
  it.runIf(asNobody)(
    'lets a member of the group in without root, and tells anyone else how',
    async () => {
      const dir = await fresh()
      await serve(join(dir, SOCKET_FILE), 'users')
      await writeFile(join(dir, 'control.json'), '{}', { mode: 0o600 })
      const daemon = new URL('../src/index.ts', import.meta.url).pathname
      const script = `import { requestDaemon } from ${JSON.stringify(daemon)}
requestDaemon(${JSON.stringify(dir)}, 'GET', '/status').then(
  (r) => process.stdout.write(JSON.stringify(r)),
  (e) => { process.stderr.write(e.message); process.exit(1) })`
      // Not spawnSync: the daemon answering it is this process.
      const cli = (groups: string) =>
        new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
          const args = ['--reuid=nobody', '--regid=nogroup', groups, process.execPath]
          args.push('--conditions=peertap:source', '--input-type=module', '-e', script)
          const child = spawn('setpriv', args)
          let stdout = ''
          let stderr = ''
          child.stdout.on('data', (d) => (stdout += d))
          child.stderr.on('data', (d) => (stderr += d))
          child.on('close', (status) => resolve({ status, stdout, stderr }))
        })
      const member = await cli('--groups=users')
      expect(member.stderr).toBe('')
      expect(JSON.parse(member.stdout)).toEqual({ ok: 1 })
      const stranger = await cli('--clear-groups')
      expect(stranger.status).toBe(1)
      expect(stranger.stderr).toBe(
        `${join(dir, 'control.json')} is not readable: run as root, or add yourself to the peertap group (docs: apps/node/README.md); already in it: log in again (or run newgrp peertap), or restart the daemon if it started before the group existed`,
      )
    },
  )

  it("is the owner's alone (0600) when the group does not exist", async () => {
    const dir = await fresh()
    const s = await serve(join(dir, SOCKET_FILE), 'peertap-no-such-group')
    expect(s.socket?.group).toBeUndefined()
    expect((await stat(join(dir, SOCKET_FILE))).mode & 0o777).toBe(0o600)
  })

  it('is left out when the state directory is too deep for a socket path', async () => {
    const dir = await fresh()
    const deep = join(dir, 'd'.repeat(120 - dir.length), SOCKET_FILE)
    const s = await serve(deep)
    expect(s.socket).toBeUndefined()
    expect(
      (await raw({ port: s.port }, 'GET', '/status', { authorization: `Bearer ${TOKEN}` })).status,
    ).toBe(200)
  })

  it('is removed on close', async () => {
    const dir = await fresh()
    const s = await serve(join(dir, SOCKET_FILE))
    await s.close()
    await expect(lstat(join(dir, SOCKET_FILE))).rejects.toThrow('ENOENT')
    await expect(requestDaemon(dir, 'GET', '/status')).rejects.toThrow(/no running daemon found/)
  })

  it("replaces a dead daemon's socket, and refuses a live one's or another file", async () => {
    const dir = await fresh()
    const path = join(dir, SOCKET_FILE)
    // A daemon that exits without closing its server leaves its socket behind.
    const child = spawnSync(process.execPath, [
      '-e',
      "require('node:net').createServer().listen(process.argv[1], () => process.exit(0))",
      path,
    ])
    expect(child.status).toBe(0)
    expect((await lstat(path)).isSocket()).toBe(true)
    const s = await serve(path)
    expect((await raw({ socketPath: path }, 'GET', '/status')).status).toBe(200)

    await expect(serve(path)).rejects.toThrow('another daemon')
    expect((await raw({ socketPath: path }, 'GET', '/status')).status).toBe(200)
    await s.close()

    await writeFile(path, 'not a socket')
    await expect(serve(path)).rejects.toThrow('not a socket')
    expect(await readFile(path, 'utf8')).toBe('not a socket')
  })
})
