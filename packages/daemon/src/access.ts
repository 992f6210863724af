import type { IncomingHttpHeaders } from 'node:http'

/**
 * What the status API checks before it knows who asks (docs/design.md §10):
 * the Host and Origin a browser sends, the session cookie's name and flags,
 * and the headers every answer carries. Pure: headers in, verdicts out.
 */

/**
 * Host names the API answers to. A page whose own name was made to resolve
 * to 127.0.0.1 (DNS rebinding) sends its own name here, and is refused.
 * The port is not checked: a forwarder (the demo's, or ssh -L) may put the
 * page on another port, and a browser's Origin and cookies follow it.
 */
const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost)(:\d{1,5})?$/

/** Whether a Host header names this machine's loopback (127.0.0.1 or localhost, any port). */
export function hostAllowed(host: string | undefined): host is string {
  return host !== undefined && LOOPBACK_HOST.test(host.toLowerCase())
}

/**
 * Whether a request's Origin, if it has one, is the page's own: exactly
 * `http://` and the Host. Another site, another port of this machine, or
 * `null` (a sandboxed frame, a file) is refused.
 */
export function originAllowed(headers: IncomingHttpHeaders, host: string): boolean {
  const origin = headers.origin
  return origin === undefined || origin === `http://${host.toLowerCase()}`
}

/**
 * Whether a request made with the session cookie comes from the page
 * itself: an Origin (already checked to be the page's) or
 * `Sec-Fetch-Site: same-origin`. A form posted from elsewhere by a browser
 * that leaves out Origin has neither.
 */
export function sameOrigin(headers: IncomingHttpHeaders): boolean {
  return headers.origin !== undefined || headers['sec-fetch-site'] === 'same-origin'
}

/**
 * The session cookie's name: `peertap_session_<port>`, the port as the
 * browser sees it. Browsers share a host's cookies between its ports, so
 * one name would let two daemons on one machine (a node and a relay, two
 * nodes of the demo) sign each other's browser out.
 */
export function sessionCookieName(host: string): string {
  const colon = host.lastIndexOf(':')
  return `peertap_session_${colon === -1 ? '80' : host.slice(colon + 1)}`
}

/**
 * The Set-Cookie of a new session. HttpOnly: the page's scripts never see
 * it. SameSite=Strict: no other site's page sends it. Path=/: every path
 * of the API. No Max-Age: it ends with the browser (the daemon ends it
 * sooner when idle). No Secure: the API is plain http on loopback, where
 * the traffic never leaves the machine, and a Secure cookie would not be
 * sent back over http at all.
 */
export function sessionSetCookie(name: string, session: string): string {
  return `${name}=${session}; HttpOnly; SameSite=Strict; Path=/`
}

/** The Set-Cookie that removes the session cookie (sign-out). */
export function sessionClearCookie(name: string): string {
  return `${name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`
}

/**
 * Every value of one cookie of a Cookie header, in the order sent. Another
 * server on this machine may set a cookie of the same name on a narrower
 * path, which the browser sends first; the caller takes the one that is a
 * live session, so such a decoy signs nobody out.
 */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (header === undefined) return []
  const out: string[] = []
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) out.push(part.slice(eq + 1).trim())
  }
  return out.slice(0, 8)
}

/** The header that carries the session's key (session.ts): the page's, never a cookie. */
export const SESSION_KEY_HEADER = 'x-peertap-key'

/**
 * Headers of every answer: never cached, never sniffed into another type,
 * never framed (clickjacking), scripts and styles from the page's own
 * origin only (no inline script), no Referer leaving the page, and no
 * reading by another origin (CORP; and no CORS headers at all).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
}
