/**
 * The half of forward.ts that runs inside a network namespace
 * (`ip netns exec NS node forward-inside.ts SOCKET PORT`): listens on the
 * Unix socket SOCKET (a path on the filesystem, which the host sees too)
 * and, for each connection there, connects to 127.0.0.1:PORT in the
 * namespace and passes bytes both ways unchanged. Prints `ready` once it
 * listens; exits when its standard input closes (the process that started
 * it ended or stopped it), so it never outlives the forwarder, and removes
 * the socket's directory then (only one forward.ts made: see {@link remove}).
 */
import { lstatSync, rmSync } from 'node:fs'
import { createConnection, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, dirname, resolve } from 'node:path'

const [socketPath, portText, maxText] = process.argv.slice(2)
const port = Number(portText)
if (socketPath === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('usage: forward-inside.ts SOCKET PORT [MAX_CONNECTIONS]\n')
  process.exit(2)
}

const server = createServer((inbound) => {
  const outbound = createConnection({ host: '127.0.0.1', port })
  join(inbound, outbound)
})
server.maxConnections = Number(maxText ?? 64)
server.on('error', (error) => {
  process.stderr.write(`forward-inside: ${error.message}\n`)
  process.exit(1)
})
server.listen(socketPath, () => process.stdout.write('ready\n'))

// The forwarder gone (stopped, or its process ended without stopping it): remove the
// socket's directory (forward.ts made it for this helper alone) and exit.
const leave = () => {
  remove(socketPath)
  process.exit(0)
}
process.stdin.on('end', leave)
process.stdin.on('error', leave)
process.stdin.resume()

/**
 * Removes the socket and, if it is one forward.ts made (`mkdtemp` in
 * os.tmpdir() with the prefix `peertap-forward-`: a real directory right
 * under the temporary directory), its directory. This runs as root and
 * SOCKET comes from the command line: a recursive removal of any other
 * directory is never right, so then only the socket file goes.
 */
function remove(socket: string): void {
  const dir = dirname(resolve(socket))
  let ours = false
  try {
    ours =
      basename(dir).startsWith('peertap-forward-') &&
      dirname(dir) === resolve(tmpdir()) &&
      lstatSync(dir).isDirectory()
  } catch {
    // Gone already: nothing of ours to remove but the socket, if anything.
  }
  try {
    if (ours) rmSync(dir, { recursive: true, force: true })
    else rmSync(socket, { force: true })
  } catch {
    // Exiting anyway: a leftover socket file is harmless.
  }
}

/** Pipes two sockets into each other; an error or a close on either ends both. */
function join(a: Socket, b: Socket): void {
  const end = () => {
    a.destroy()
    b.destroy()
  }
  a.pipe(b).pipe(a)
  for (const s of [a, b]) {
    s.on('error', end)
    s.on('close', end)
  }
}
