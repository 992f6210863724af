/**
 * The half of forward.ts that runs inside a network namespace
 * (`ip netns exec NS node forward-inside.ts SOCKET PORT`): listens on the
 * Unix socket SOCKET (a path on the filesystem, which the host sees too)
 * and, for each connection there, connects to 127.0.0.1:PORT in the
 * namespace and passes bytes both ways unchanged. Prints `ready` once it
 * listens; exits when its standard input closes (the process that started
 * it ended or stopped it), so it never outlives the forwarder, and removes
 * the socket's directory then.
 */
import { rmSync } from 'node:fs'
import { createConnection, createServer, type Socket } from 'node:net'
import { dirname } from 'node:path'

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
  rmSync(dirname(socketPath), { recursive: true, force: true })
  process.exit(0)
}
process.stdin.on('end', leave)
process.stdin.on('error', leave)
process.stdin.resume()

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
