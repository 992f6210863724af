import { chmod, chown, lstat, readFile, rm, stat } from 'node:fs/promises'
import type { Server } from 'node:http'
import { connect } from 'node:net'
import { dirname } from 'node:path'

/**
 * The status API on a Unix socket, `<stateDir>/api.sock` (docs/design.md
 * §10): the CLI's way in without root. Whoever can connect to the socket is
 * let in without the token, so its file mode is the access rule: 0660 and
 * the group `peertap` when that group exists (its members run `peertap
 * status`, `vlan …`, `ui` as themselves), else 0600 (root's alone, like
 * control.json). A browser cannot reach a Unix socket, so it needs neither
 * the Host nor the Origin checks.
 */

/** The group whose members may use the socket, unless the caller names another. */
export const SOCKET_GROUP = 'peertap'

/** The longest path a Unix socket can have on Linux (sun_path is 108 bytes with its NUL). */
export const SOCKET_PATH_MAX = 107

/** Whether a path fits a Unix socket; a daemon whose state directory is deeper does without. */
export function socketPathFits(path: string): boolean {
  return Buffer.byteLength(path) <= SOCKET_PATH_MAX
}

/** Where the socket ended up: its path, and the group that may use it (none: owner only). */
export interface ControlSocket {
  readonly path: string
  readonly group: string | undefined
}

/**
 * Serves `server` on the Unix socket at `path`: a socket left by a daemon
 * that died is replaced, one that answers is another daemon's (an error);
 * any other file there is an error too. With the group, the socket's
 * directory (the state directory, 0700) gains the group's search bit and
 * nothing else: members reach the socket by its name but cannot list the
 * directory, and every state file is 0600.
 */
export async function listenOnSocket(
  server: Server,
  path: string,
  groupName = SOCKET_GROUP,
): Promise<ControlSocket> {
  await removeStaleSocket(path)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const gid = await groupId(groupName)
  if (gid !== undefined) {
    try {
      await chown(path, -1, gid)
      await chmod(path, 0o660)
      const dir = dirname(path)
      const info = await stat(dir)
      await chown(dir, -1, gid)
      await chmod(dir, (info.mode & 0o7777) | 0o010)
      return { path, group: groupName }
    } catch {
      // Not ours to give (a daemon not run as root, not in the group): owner only.
    }
  }
  await chmod(path, 0o600)
  return { path, group: undefined }
}

async function removeStaleSocket(path: string): Promise<void> {
  let info: Awaited<ReturnType<typeof lstat>>
  try {
    info = await lstat(path)
  } catch {
    return
  }
  if (!info.isSocket()) throw new Error(`${path} exists and is not a socket`)
  if (await answers(path)) throw new Error(`${path}: another daemon serves this state directory`)
  await rm(path, { force: true })
}

/** Whether something accepts connections on the socket (ECONNREFUSED: a daemon that died). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** The id of a group named in /etc/group, or undefined. */
async function groupId(name: string): Promise<number | undefined> {
  let text: string
  try {
    text = await readFile('/etc/group', 'utf8')
  } catch {
    return undefined
  }
  for (const line of text.split('\n')) {
    const [groupName, , gid] = line.split(':')
    if (groupName === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid)
  }
  return undefined
}
