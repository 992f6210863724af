/**
 * A TCP forwarder from the host's loopback into a network namespace, so
 * that a browser on the host reaches what listens on 127.0.0.1 inside the
 * namespace (a node's status page: the demo prints its URL, the browser
 * test opens it).
 *
 * A process cannot enter a namespace from Node, so one small helper per
 * forwarder runs inside it (forward-inside.ts, by `ip netns exec NS node
 * …`): it listens on a Unix socket in a temporary directory (a path on the
 * filesystem, which every namespace sees) and connects each connection
 * made there to 127.0.0.1:PORT in the namespace. The host side listens on
 * 127.0.0.1 and pipes each connection it accepts to that socket. Bytes pass
 * unchanged both ways: nothing is parsed or rewritten.
 *
 * The port: with no `targetPort` the forwarder forwards to the very port
 * it got on the host, so that the URL `peertap ui` prints inside the
 * namespace (`http://127.0.0.1:<the node's port>/?nonce=…`) works on the
 * host as it is, and the Host and Origin the browser sends name the node's
 * own port (the status server checks that Host is 127.0.0.1 or localhost
 * and that an Origin is exactly the page's own; its session cookie is
 * named after the port the browser sees). So: bind first (`port` 0, the
 * default, takes any free port), then start the node with that status port
 * in its namespace (`status.port` in its config; each namespace has ports
 * of its own, so it is free there). A node already running (on its
 * default port, 7480) is reached with `targetPort: 7480`, and the port of
 * its URL changed to the host's.
 *
 * Bounded: at most `maxConnections` at once (more are closed at once), the
 * helper must say it is ready within `readyTimeoutMs`. `stop()` closes the
 * listener and every connection, ends the helper by its PID (SIGTERM, then
 * SIGKILL) and removes the directory; a failed start does the same, and so
 * does the helper's exit on its own. The helper also exits when its
 * standard input closes, so it never outlives the process that started it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const INSIDE = fileURLToPath(new URL('./forward-inside.ts', import.meta.url))

export interface ForwardOptions {
  /** The namespace to reach into (e.g. `topo.ns('a')`). */
  readonly namespace: string
  /** The port on the host's 127.0.0.1; default 0 (any free port). */
  readonly port?: number
  /** The port on 127.0.0.1 inside the namespace; default the host port (see above). */
  readonly targetPort?: number
  /** Connections at once, each side; default 64. */
  readonly maxConnections?: number
  /** How long the helper may take to listen; default 10 s. */
  readonly readyTimeoutMs?: number
}

export class Forward {
  /** The port on the host's 127.0.0.1 (and, unless `targetPort` was given, inside the namespace). */
  readonly port: number
  readonly targetPort: number
  readonly #server: Server
  readonly #helper: ChildProcess
  readonly #dir: string
  readonly #sockets = new Set<Socket>()
  #stopping: Promise<void> | undefined

  private constructor(
    server: Server,
    helper: ChildProcess,
    dir: string,
    port: number,
    targetPort: number,
  ) {
    this.#server = server
    this.#helper = helper
    this.#dir = dir
    this.port = port
    this.targetPort = targetPort
  }

  /** Listens on the host and starts the helper in the namespace; resolves once both are ready. */
  static async start(options: ForwardOptions): Promise<Forward> {
    const max = options.maxConnections ?? 64
    const server = createServer()
    server.maxConnections = max
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    const port = (server.address() as { port: number }).port
    const targetPort = options.targetPort ?? port
    let dir = ''
    let helper: ChildProcess | undefined
    try {
      dir = await mkdtemp(join(tmpdir(), 'peertap-forward-'))
      const socketPath = join(dir, 'forward.sock')
      helper = spawn(
        'ip',
        [
          'netns',
          'exec',
          options.namespace,
          process.execPath,
          INSIDE,
          socketPath,
          String(targetPort),
          String(max),
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      )
      await ready(helper, options.readyTimeoutMs ?? 10_000)
      const forward = new Forward(server, helper, dir, port, targetPort)
      server.on('connection', (socket) => forward.#accept(socket, socketPath))
      helper.once('exit', () => void forward.stop())
      return forward
    } catch (error) {
      await new Promise((r) => server.close(r))
      if (helper !== undefined) await end(helper)
      if (dir !== '') await rm(dir, { recursive: true, force: true })
      throw error
    }
  }

  /** `http://127.0.0.1:<port><path>`. */
  url(path = '/'): string {
    return `http://127.0.0.1:${this.port}${path}`
  }

  #accept(socket: Socket, socketPath: string): void {
    if (this.#stopping !== undefined) {
      socket.destroy()
      return
    }
    const inside = createConnection(socketPath)
    const end = () => {
      socket.destroy()
      inside.destroy()
      this.#sockets.delete(socket)
      this.#sockets.delete(inside)
    }
    this.#sockets.add(socket)
    this.#sockets.add(inside)
    socket.pipe(inside).pipe(socket)
    for (const s of [socket, inside]) {
      s.on('error', end)
      s.on('close', end)
    }
  }

  /** Closes the listener and every connection, ends the helper and removes its directory. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const closed = new Promise((r) => this.#server.close(r))
      for (const s of this.#sockets) s.destroy()
      this.#sockets.clear()
      await closed
      await end(this.#helper)
      await rm(this.#dir, { recursive: true, force: true })
    })()
    return this.#stopping
  }
}

/** Resolves when the helper prints `ready`; rejects with its stderr if it exits or is late. */
function ready(helper: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs)
    const done = () => {
      clearTimeout(timer)
      helper.stdout?.off('data', onOut)
      helper.off('exit', onExit)
      helper.off('error', fail)
    }
    function fail(why: unknown) {
      done()
      const what = why instanceof Error ? why.message : String(why)
      reject(new Error(`forwarder helper: ${what}${err === '' ? '' : `: ${err.trim()}`}`))
    }
    const onOut = (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('ready\n')) {
        done()
        resolve()
      }
    }
    const onExit = (code: number | null) => fail(`exited (${code})`)
    helper.stdout?.on('data', onOut)
    helper.stderr?.on('data', (chunk: Buffer) => {
      if (err.length < 4096) err += chunk.toString()
    })
    helper.once('exit', onExit)
    helper.once('error', fail)
  })
}

/** Ends the helper by its PID: stdin closed and SIGTERM, then SIGKILL after 2 s. */
async function end(helper: ChildProcess): Promise<void> {
  if (helper.exitCode !== null || helper.signalCode !== null) return
  const exited = new Promise((r) => helper.once('exit', r))
  helper.stdin?.end()
  helper.kill('SIGTERM')
  const timer = setTimeout(() => helper.kill('SIGKILL'), 2000)
  await exited
  clearTimeout(timer)
}
