/**
 * The harness's reads of a daemon's status API: one HTTP request over the
 * daemon's Unix socket (`<stateDir>/api.sock`, which needs no token), from
 * the test process itself. A path socket is reachable from any network
 * namespace, so this reads a daemon in a namespace host without starting a
 * CLI process there (about 1.5 s of Node start-up and module loading per
 * call, which the harness's polling paid many times over). The CLI's own
 * `status` command stays covered by the tests that run it (e2e, mls,
 * identities).
 *
 * Only the socket: a fallback to 127.0.0.1, as the CLI has, would reach the
 * test process's own loopback, not the daemon's namespace.
 */
import { request } from 'node:http'
import { join } from 'node:path'
import { SOCKET_FILE } from '@peertap/daemon'

/** GET `path` from the daemon whose state directory is `stateDir`; its JSON body. Throws on any failure. */
export function apiGet(stateDir: string, path: string, timeoutMs = 10_000): Promise<unknown> {
  return apiRequest(stateDir, 'GET', path, timeoutMs)
}

/** One request (e.g. POST /vlan/detach?vlan=demo) to the daemon's API; its JSON body. Throws on any failure. */
export function apiRequest(
  stateDir: string,
  method: 'GET' | 'POST',
  path: string,
  timeoutMs = 10_000,
): Promise<unknown> {
  const socketPath = join(stateDir, SOCKET_FILE)
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path, agent: false, headers: { host: 'localhost' } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) {
            reject(new Error(`${method} ${path} on ${socketPath}: HTTP ${res.statusCode}: ${text}`))
            return
          }
          try {
            resolve(JSON.parse(text))
          } catch {
            reject(new Error(`${method} ${path} on ${socketPath}: not JSON`))
          }
        })
      },
    )
    req.setTimeout(timeoutMs, () =>
      req.destroy(new Error(`GET ${path} on ${socketPath}: timed out`)),
    )
    req.on('error', reject)
    req.end()
  })
}
