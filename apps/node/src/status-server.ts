/**
 * The daemon's local control surface (docs/design.md §10), shared with the relay
 * through @peertap/daemon: on 127.0.0.1 only, behind the local token;
 * GET /status, GET /metrics, POST /ping?peer=ID, GET / (a page).
 */
export { type StatusProvider, startStatusServer } from '@peertap/daemon'
