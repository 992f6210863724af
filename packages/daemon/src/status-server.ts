import { timingSafeEqual } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import {
  cookieValues,
  hostAllowed,
  originAllowed,
  SECURITY_HEADERS,
  SESSION_KEY_HEADER,
  sameOrigin,
  sessionClearCookie,
  sessionCookieName,
  sessionSetCookie,
} from './access.ts'
import { type ControlSocket, listenOnSocket, socketPathFits } from './control-socket.ts'
import { BrowserSessions, type SessionOptions } from './session.ts'

/**
 * The daemon's local control surface (docs/design.md §10), on 127.0.0.1
 * and, for the CLI without root, on a Unix socket. Serves:
 *
 *   GET  /status          JSON: peers, VLANs, subscriptions, paths, counters
 *   GET  /metrics         Prometheus text
 *   GET  /events          server-sent events: `event: status` every second
 *   POST /ping?peer=ID    a PING/PONG to a neighbour, with RTT and hop record
 *   POST /<action>?...    a daemon's own actions (e.g. the node's `vlan/add`)
 *   POST /ui/nonce        a browser's sign-in link (`peertap ui`): token or socket only
 *   GET  /?nonce=N        the link: the nonce exchanged for a session cookie
 *   POST /ui/signout      a session ends itself (its cookie cleared)
 *   GET  / and assets     the page (the provider's assets, or a minimal one)
 *
 * A request over TCP passes, in this order:
 *   1. Host: 127.0.0.1 or localhost, else 403 (DNS rebinding).
 *   2. Origin, when present: exactly the page's own, else 403.
 *   3. Who asks: the token in `Authorization: Bearer`, or a live session
 *      cookie; else `GET /?nonce=` is exchanged (to `/#k=<the session's
 *      key>`), a bare `GET /` gets a page saying how to sign in (401),
 *      anything else 401.
 *   4. A session's request for anything but the page's own files (GET of
 *      an asset or `/`): the session's key in `X-PeerTap-Key`, else 403.
 *      The cookie reaches every server on 127.0.0.1; the key only the page.
 *   5. A session's request other than GET: an Origin or
 *      `Sec-Fetch-Site: same-origin` (a form posted from elsewhere has
 *      neither), else 403.
 *   6. The route.
 * Connections are bounded (MAX_CONNECTIONS) and one that sends nothing for
 * IDLE_MS is closed, but for an event stream.
 * Over the Unix socket, the socket's file mode has decided who asks: the
 * route at once. Every answer carries SECURITY_HEADERS and no CORS header.
 */
export interface StatusProvider {
  /** Heading of the status page, e.g. 'PeerTap node'. */
  readonly title?: string
  status(): unknown
  metrics(): Promise<string>
  ping(peer: string): Promise<unknown>
  /** More POST endpoints by path (without the leading '/'), given the query parameters. */
  readonly actions?: Readonly<Record<string, (params: URLSearchParams) => Promise<unknown>>>
  /**
   * The page's files by path ('/', '/app.js', '/app.css'), served on GET to
   * a session or the token. Without '/', a minimal page with the status.
   */
  readonly assets?: Readonly<Record<string, StatusAsset>>
}

/** One file of the page. */
export interface StatusAsset {
  readonly contentType: string
  readonly body: string | Uint8Array
}

export interface StatusServerOptions {
  /**
   * Serve on this Unix socket too, without the token (`<stateDir>/api.sock`);
   * not when the path is too long for a socket (SOCKET_PATH_MAX bytes).
   */
  readonly socketPath?: string
  /** The group that may use the socket when it exists (default 'peertap'). */
  readonly socketGroup?: string
  /** How to get a sign-in link, for a browser without a session (default 'peertap ui -s DIR'). */
  readonly signIn?: string
  /** The sessions' clock and bounds (tests give a clock). */
  readonly sessions?: SessionOptions
  /** Milliseconds between two events of GET /events (default 1000). */
  readonly eventsEveryMs?: number
  /** GET /events streams at once (default 8); more are refused with 503. */
  readonly maxEventStreams?: number
  /** A connection silent this long between requests is closed (default IDLE_MS; tests shorten it). */
  readonly idleMs?: number
}

/** A running status server. */
export interface StatusServer {
  readonly server: Server
  readonly port: number
  /** The Unix socket, when asked for and its path fits. */
  readonly socket: ControlSocket | undefined
  /** Ends the event streams, stops serving and removes the socket. */
  close(): Promise<void>
}

/** Who a request comes from, once step 3 has passed (a session: which one, and its key). */
type Caller = 'socket' | 'token' | { readonly session: string; readonly key: string }

/** Connections held at once, per server (TCP and socket each). */
export const MAX_CONNECTIONS = 128
/** A connection that sends nothing this long is closed (an event stream excepted). */
export const IDLE_MS = 10_000

export async function startStatusServer(
  port: number,
  token: string,
  provider: StatusProvider,
  options: StatusServerOptions = {},
): Promise<StatusServer> {
  const expected = Buffer.from(token)
  const sessions = new BrowserSessions(options.sessions)
  const signIn = options.signIn ?? 'peertap ui -s DIR'
  const streams = new Set<() => void>()
  const events = {
    everyMs: options.eventsEveryMs ?? 1000,
    max: options.maxEventStreams ?? 8,
    streams,
  }
  let boundPort = port
  const route = (req: IncomingMessage, res: ServerResponse, url: URL, caller: Caller) =>
    handle(req, res, url, caller, provider, { sessions, events, port: () => boundPort }).catch(
      (error: Error) =>
        res.headersSent ? res.destroy() : reply(res, 500, { error: error.message }),
    )

  // Without a Host, our 403 rather than Node's bare 400.
  const server = createServer({ requireHostHeader: false }, (req, res) => {
    const host = req.headers.host
    if (!hostAllowed(host)) return reply(res, 403, { error: 'Host must be 127.0.0.1 or localhost' })
    if (!originAllowed(req.headers, host)) return reply(res, 403, { error: 'foreign Origin' })
    const url = requestUrl(req)
    if (url === undefined) return reply(res, 400, { error: 'malformed request target' })
    const cookieName = sessionCookieName(host.toLowerCase())
    const caller = authenticate(req, cookieName)
    if (req.method === 'GET' && url.pathname === '/' && url.searchParams.has('nonce'))
      return exchangeNonce(req, res, url, caller, cookieName)
    if (caller === undefined) {
      if (req.method === 'GET' && url.pathname === '/')
        return page(res, 401, signInPage(provider.title, signIn))
      return reply(res, 401, { error: 'a session or the token is required' })
    }
    if (typeof caller === 'object') {
      const pageFile =
        req.method === 'GET' &&
        (url.pathname === '/' ||
          (provider.assets !== undefined && Object.hasOwn(provider.assets, url.pathname)))
      if (!pageFile && !keyMatches(req.headers[SESSION_KEY_HEADER], caller.key))
        return reply(res, 403, {
          error: "the page's session key is missing: open a new link from `peertap ui`",
        })
      if (req.method !== 'GET' && !sameOrigin(req.headers))
        return reply(res, 403, { error: 'Origin or Sec-Fetch-Site: same-origin is required' })
      if (req.method === 'POST' && url.pathname === '/ui/signout') {
        sessions.end(caller.session)
        res.setHeader('set-cookie', sessionClearCookie(cookieName))
        return reply(res, 200, { signedOut: true })
      }
    }
    route(req, res, url, caller)
  })
  bound(server, options.idleMs ?? IDLE_MS)

  const authenticate = (req: IncomingMessage, cookieName: string): Caller | undefined => {
    const header = req.headers.authorization
    if (header !== undefined) {
      const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '')
      return given.length === expected.length && timingSafeEqual(given, expected)
        ? 'token'
        : undefined
    }
    for (const session of cookieValues(req.headers.cookie, cookieName)) {
      const key = sessions.use(session)
      if (key !== undefined) return { session, key }
    }
    return undefined
  }

  const exchangeNonce = (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    caller: Caller | undefined,
    cookieName: string,
  ) => {
    const redeemed = sessions.redeem(url.searchParams.get('nonce') ?? '')
    if (redeemed === undefined) {
      // A link used already (a reload) or expired: fine if this browser is signed in.
      if (caller !== undefined) return redirect(res, {}, '/')
      return page(
        res,
        401,
        signInPage(provider.title, signIn, 'This link was used or has expired.'),
      )
    }
    const setCookie = { 'set-cookie': sessionSetCookie(cookieName, redeemed.session) }
    // The key in the fragment: never sent to a server, kept by the page for its tab.
    const to = `/#k=${redeemed.key}`
    // Followed from another site's page, a redirect would still count as that
    // site's navigation and the Strict cookie would stay behind; a page of
    // our own that moves on carries it.
    if (req.headers['sec-fetch-site'] === 'cross-site')
      return page(res, 200, movingOnPage(to), setCookie)
    redirect(res, setCookie, to)
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  boundPort = typeof address === 'object' && address !== null ? address.port : port

  let socket: ControlSocket | undefined
  let socketServer: Server | undefined
  if (options.socketPath !== undefined && socketPathFits(options.socketPath)) {
    socketServer = createServer((req, res) => {
      const url = requestUrl(req)
      if (url === undefined) return reply(res, 400, { error: 'malformed request target' })
      route(req, res, url, 'socket')
    })
    bound(socketServer, options.idleMs ?? IDLE_MS)
    try {
      socket = await listenOnSocket(socketServer, options.socketPath, options.socketGroup)
    } catch (error) {
      server.close()
      throw error
    }
  }

  return {
    server,
    port: boundPort,
    socket,
    async close() {
      for (const end of streams) end()
      await Promise.all([closeServer(server), socketServer && closeServer(socketServer)])
      if (socket !== undefined) await rm(socket.path, { force: true })
    },
  }
}

interface Context {
  readonly sessions: BrowserSessions
  readonly events: { readonly everyMs: number; readonly max: number; streams: Set<() => void> }
  readonly port: () => number
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  caller: Caller,
  provider: StatusProvider,
  context: Context,
): Promise<void> {
  const { pathname } = url
  if (req.method === 'GET') {
    if (pathname === '/status') return reply(res, 200, provider.status())
    if (pathname === '/metrics') {
      const text = await provider.metrics()
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/plain; version=0.0.4' })
      res.end(text)
      return
    }
    if (pathname === '/events') {
      // A session's stream ends with the session (sign-out, expiry, pushed out).
      const live =
        typeof caller === 'object' ? () => context.sessions.live(caller.session) : () => true
      return streamEvents(req, res, provider, context.events, live)
    }
    const asset = provider.assets !== undefined && Object.hasOwn(provider.assets, pathname)
    if (asset) {
      const { contentType, body } = provider.assets![pathname]!
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': contentType })
      res.end(body)
      return
    }
    if (pathname === '/') return page(res, 200, statusPage(provider.title, provider.status()))
    return reply(res, 404, { error: 'not found' })
  }
  if (req.method !== 'POST') return reply(res, 405, { error: 'GET or POST' })
  if (pathname === '/ping') {
    const peer = url.searchParams.get('peer')
    if (peer === null) return reply(res, 400, { error: 'peer is required' })
    return reply(res, 200, await provider.ping(peer))
  }
  if (pathname === '/ui/nonce') {
    // A session cannot mint more: signing a browser in takes the CLI's rights.
    if (typeof caller === 'object')
      return reply(res, 403, { error: 'the token or the socket only' })
    const { nonce, expiresAt } = context.sessions.issueNonce()
    const url = `http://127.0.0.1:${context.port()}/?nonce=${nonce}`
    return reply(res, 200, { url, nonce, expiresAt: new Date(expiresAt).toISOString() })
  }
  const name = pathname.slice(1)
  const action = provider.actions !== undefined && Object.hasOwn(provider.actions, name)
  if (action) return reply(res, 200, await provider.actions![name]!(url.searchParams))
  reply(res, 404, { error: 'not found' })
}

/** GET /events: the status at once, then every `everyMs`, until the client goes or `live` says no. */
function streamEvents(
  req: IncomingMessage,
  res: ServerResponse,
  provider: StatusProvider,
  events: Context['events'],
  live: () => boolean,
): void {
  if (events.streams.size >= events.max) {
    reply(res, 503, { error: `at most ${events.max} event streams` })
    return
  }
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'content-type': 'text/event-stream; charset=utf-8',
    connection: 'keep-alive',
  })
  // A stream is quiet between events by design: not an idle connection.
  req.socket.setTimeout(0)
  const send = () => {
    if (!live()) return end()
    try {
      res.write(`event: status\ndata: ${JSON.stringify(provider.status())}\n\n`)
    } catch (error) {
      res.write(`event: error\ndata: ${JSON.stringify({ error: (error as Error).message })}\n\n`)
    }
  }
  const timer = setInterval(send, events.everyMs)
  const end = () => {
    clearInterval(timer)
    events.streams.delete(end)
    res.end()
  }
  events.streams.add(end)
  res.once('close', end)
  send()
}

/** The request's target as a URL; undefined for one no URL parser takes (`http://[`), which would throw. */
function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://127.0.0.1')
  } catch {
    return undefined
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

function reply(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { ...SECURITY_HEADERS, 'content-type': 'application/json' })
  res.end(`${JSON.stringify(body, null, 2)}\n`)
}

function page(
  res: ServerResponse,
  code: number,
  html: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(code, {
    ...SECURITY_HEADERS,
    ...headers,
    'content-type': 'text/html; charset=utf-8',
  })
  res.end(html)
}

/** 303 to the page (`to`), without the nonce in the address bar. */
function redirect(res: ServerResponse, headers: Record<string, string>, to: string): void {
  res.writeHead(303, { ...SECURITY_HEADERS, ...headers, location: to })
  res.end()
}

/**
 * At most MAX_CONNECTIONS at once, and one silent for IDLE_MS between
 * requests closed (a request being answered, a join that waits 30 s for
 * its owner, or an event stream, is not idle).
 */
function bound(server: Server, idleMs: number): void {
  server.maxConnections = MAX_CONNECTIONS
  server.on('connection', (socket) => {
    socket.setTimeout(idleMs)
    socket.on('timeout', () => socket.destroy())
  })
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    req.socket.setTimeout(0)
    res.once('finish', () => {
      if (!req.socket.destroyed) req.socket.setTimeout(idleMs)
    })
  })
}

/** The page's key header against the session's, in constant time. */
function keyMatches(given: string | string[] | undefined, key: string): boolean {
  if (typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(key)
  return a.length === b.length && timingSafeEqual(a, b)
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const head = (title: string) =>
  `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title>`

function statusPage(title = 'PeerTap', status: unknown): string {
  return `${head(title)}
<h1>${escapeHtml(title)}</h1><pre>${escapeHtml(JSON.stringify(status, null, 2))}</pre>`
}

function signInPage(title = 'PeerTap', signIn: string, why = ''): string {
  return `${head(title)}
<h1>${escapeHtml(title)}</h1><p>${escapeHtml(why)} This page needs a sign-in link: run
<code>${escapeHtml(signIn)}</code> on this machine and open the link it prints
(it works once, within 60 seconds).</p>`
}

function movingOnPage(to: string): string {
  return `${head('PeerTap')}<meta http-equiv="refresh" content="0; url=${escapeHtml(to)}"><a href="${escapeHtml(to)}">Continue</a>`
}
