import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

/**
 * The daemon's local control surface (docs/design.md §10): on 127.0.0.1 only,
 * every request must carry the local token (`Authorization: Bearer <token>`,
 * or `?token=` for the browser page). Serves:
 *
 *   GET  /status        JSON: peers, VLANs, subscriptions, paths, counters
 *   GET  /metrics       Prometheus text
 *   POST /ping?peer=ID  a PING/PONG to a neighbour, with RTT and hop record
 *   POST /<action>?...  a daemon's own actions (e.g. the node's `vlan/add`)
 *   GET  /              a minimal page with the status
 */
export interface StatusProvider {
  /** Heading of the status page, e.g. 'PeerTap node'. */
  readonly title?: string
  status(): unknown
  metrics(): Promise<string>
  ping(peer: string): Promise<unknown>
  /** More POST endpoints by path (without the leading '/'), given the query parameters. */
  readonly actions?: Readonly<Record<string, (params: URLSearchParams) => Promise<unknown>>>
}

export async function startStatusServer(
  port: number,
  token: string,
  provider: StatusProvider,
): Promise<{ server: Server; port: number }> {
  const expected = Buffer.from(token)
  const authorised = (req: IncomingMessage, url: URL): boolean => {
    const header = req.headers.authorization ?? ''
    const given = Buffer.from(
      header.startsWith('Bearer ') ? header.slice(7) : (url.searchParams.get('token') ?? ''),
    )
    return given.length === expected.length && timingSafeEqual(given, expected)
  }
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (!authorised(req, url)) return reply(res, 401, { error: 'missing or wrong token' })
    handle(req, res, url, provider).catch((error: Error) =>
      reply(res, 500, { error: error.message }),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  return { server, port: typeof address === 'object' && address !== null ? address.port : port }
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  provider: StatusProvider,
): Promise<void> {
  if (req.method === 'GET' && url.pathname === '/status') return reply(res, 200, provider.status())
  if (req.method === 'GET' && url.pathname === '/metrics') {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
    res.end(await provider.metrics())
    return
  }
  if (req.method === 'POST' && url.pathname === '/ping') {
    const peer = url.searchParams.get('peer')
    if (peer === null) return reply(res, 400, { error: 'peer is required' })
    return reply(res, 200, await provider.ping(peer))
  }
  const action = provider.actions?.[url.pathname.slice(1)]
  if (
    req.method === 'POST' &&
    action !== undefined &&
    Object.hasOwn(provider.actions!, url.pathname.slice(1))
  ) {
    return reply(res, 200, await action(url.searchParams))
  }
  if (req.method === 'GET' && url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(page(provider.title ?? 'PeerTap', provider.status()))
    return
  }
  reply(res, 404, { error: 'not found' })
}

function reply(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' })
  res.end(`${JSON.stringify(body, null, 2)}\n`)
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function page(title: string, status: unknown): string {
  return `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:14px system-ui;margin:2em}pre{background:#f4f4f4;padding:1em}</style>
<h1>${escapeHtml(title)}</h1><pre>${escapeHtml(JSON.stringify(status, null, 2))}</pre>`
}
