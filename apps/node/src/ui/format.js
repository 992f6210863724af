/**
 * Pure helpers of the web page (app.js): numbers, durations and PeerIds in
 * words a person reads, and a neighbour's path described. No DOM here, so
 * the node's tests import this module too (test/ui-format.test.ts).
 */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/**
 * A byte count in binary units: `0 B`, `512 B`, `1.5 KiB`, `12 MiB`
 * (one decimal under 10 of a unit, none above).
 * @param {number} n
 * @returns {string}
 */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '–'
  let unit = 0
  let value = n
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024
    unit++
  }
  if (unit === 0) return `${Math.round(value)} B`
  const text = value < 10 ? value.toFixed(1).replace(/\.0$/, '') : String(Math.round(value))
  return `${text} ${BYTE_UNITS[unit]}`
}

/**
 * A counter with thin groups of three digits: `1 234 567`.
 * @param {number} n
 * @returns {string}
 */
export function formatCount(n) {
  if (!Number.isFinite(n)) return '–'
  const sign = n < 0 ? '-' : ''
  return sign + String(Math.trunc(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f')
}

/**
 * A round trip in milliseconds: `0.42 ms`, `3.1 ms`, `87 ms`, `1.2 s`; `–` when none was measured.
 * @param {number | undefined | null} ms
 * @returns {string}
 */
export function formatRtt(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '–'
  if (ms < 1) return `${ms.toFixed(2)} ms`
  if (ms < 10) return `${ms.toFixed(1)} ms`
  if (ms < 1000) return `${Math.round(ms)} ms`
  return `${(ms / 1000).toFixed(1)} s`
}

/**
 * A PeerId shortened for a narrow screen: its first 8 and last 6 characters.
 * @param {string} id
 * @returns {string}
 */
export function shortId(id) {
  return typeof id === 'string' && id.length > 18 ? `${id.slice(0, 8)}…${id.slice(-6)}` : String(id)
}

/**
 * How a neighbour is reached, from its status entry: the link's kind and
 * whether it is direct or through which relay.
 * @param {{ kind?: string; relayed?: boolean; via?: string; path?: string }} n
 * @returns {string}
 */
export function describePath(n) {
  if (n.kind === 'datagram') {
    const path =
      n.path === undefined ? 'datagram (path not validated)' : `datagram, direct to ${n.path}`
    // The datagram path is direct (a punched hole, say); its stream link may run through a relay.
    return n.via === undefined ? path : `${path}; stream link through relay ${shortId(n.via)}`
  }
  if (n.relayed)
    return n.via === undefined
      ? 'stream, through a relay'
      : `stream, through relay ${shortId(n.via)}`
  return 'stream, direct'
}

/**
 * A status API error in words for the person who clicked: the node's own
 * message when it gave one, else what the HTTP status means here.
 * @param {number} status
 * @param {unknown} body
 * @returns {string}
 */
export function errorText(status, body) {
  const message =
    body !== null &&
    typeof body === 'object' &&
    typeof (/** @type {{error?: unknown}} */ (body).error) === 'string'
      ? /** @type {{error: string}} */ (body).error
      : undefined
  if (status === 401 || status === 403)
    return 'This page is no longer signed in to the node: open it again with `peertap ui`.'
  if (message !== undefined) return message.charAt(0).toUpperCase() + message.slice(1)
  if (status === 0) return 'The node does not answer: is `peertap up` still running?'
  if (status === 404) return 'This node does not know that request: is it an older version?'
  return `The node answered with an error (HTTP ${status}).`
}

/**
 * The expiry of an invitation (Unix seconds) as a local date and time.
 * @param {number} seconds
 * @returns {string}
 */
export function formatExpiry(seconds) {
  if (!Number.isFinite(seconds)) return '–'
  return new Date(seconds * 1000).toLocaleString()
}
