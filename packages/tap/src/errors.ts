import { constants } from 'node:os'
import { PeerTapError } from '@peertap/errors'

/**
 * Stable error codes, kebab-case as every PeerTap error's (@peertap/errors);
 * see README.md "Errors". The system error behind one, if any, is in `errno`.
 *
 * - `tun-missing`: /dev/net/tun is missing or the tun driver is not loaded.
 * - `permission-denied`: the process lacks CAP_NET_ADMIN (or may not open
 *   /dev/net/tun, or bind a port below 1024).
 * - `device-busy`: the device is already open (a device without multi-queue
 *   takes one file descriptor).
 * - `name-taken`: the name belongs to an interface of another kind.
 * - `no-device`: the device is gone, or lives in another network namespace.
 * - `invalid-argument`: an argument is out of range or malformed.
 * - `closed`: the device handle is closed.
 * - `not-supported`: not Linux, or the native addon was not built.
 * - `address-in-use`: a UDP socket's port is taken (another socket holds it).
 * - `address-not-available`: a UDP socket's address is not one of this host's.
 * - `system-error`: any other system error; `errno` and `syscall` say which.
 */
export type TapErrorCode =
  | 'tun-missing'
  | 'permission-denied'
  | 'device-busy'
  | 'name-taken'
  | 'no-device'
  | 'invalid-argument'
  | 'closed'
  | 'not-supported'
  | 'address-in-use'
  | 'address-not-available'
  | 'system-error'

export interface TapErrorDetails {
  /** The interface concerned, when there is one. */
  readonly device?: string
  /** The system error name (`ENOENT`, ...), when a system call failed. */
  readonly errno?: string
  /** The failing system call or ioctl (`open`, `TUNSETIFF`, ...). */
  readonly syscall?: string
  readonly cause?: unknown
}

/** The one error class of this package: a stable `code` and a message that says what to do. */
export class TapError extends PeerTapError<TapErrorCode> {
  override readonly name = 'TapError'
  readonly device: string | undefined
  readonly errno: string | undefined
  readonly syscall: string | undefined

  constructor(code: TapErrorCode, message: string, details: TapErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause })
    this.device = details.device
    this.errno = details.errno
    this.syscall = details.syscall
  }
}

/** What the addon throws when a system call fails. */
export interface SystemFailure {
  /** Positive errno. */
  readonly errno: number
  readonly syscall: string
}

export function isSystemFailure(e: unknown): e is SystemFailure {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as Partial<SystemFailure>).errno === 'number' &&
    typeof (e as Partial<SystemFailure>).syscall === 'string'
  )
}

/** What was being done, for the message. */
export type TapOperation =
  | 'open'
  | 'read'
  | 'write'
  | 'set the MTU of'
  | 'set the MAC address of'
  | 'set the link state of'
  | 'read the link state of'
  | 'set the offloads of'
  | 'attach to'

/** Linux errno names; os.constants.errno lacks some that tun returns (EBADFD). */
const ERRNO_NAMES = new Map<number, string>([[77, 'EBADFD']]) // the tun fd's device is gone
for (const [name, n] of Object.entries(constants.errno)) {
  if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name) // first name wins: EAGAIN, not EWOULDBLOCK
}

const errnoName = (errno: number): string => ERRNO_NAMES.get(errno) ?? `errno ${errno}`

/**
 * Maps a failed system call to a TapError. Pure: the mapping is tested
 * directly for failures a test cannot safely cause on a shared machine.
 */
export function tapErrorFromSystem(
  failure: SystemFailure,
  op: TapOperation,
  device: string,
  clonePath: string,
  cause?: unknown,
): TapError {
  const errno = errnoName(failure.errno)
  const { syscall } = failure
  const details: TapErrorDetails = { device, errno, syscall, cause }
  const what = `${op} "${device}"`
  if (syscall === 'open' && (errno === 'ENOENT' || errno === 'ENODEV' || errno === 'ENXIO')) {
    return new TapError(
      'tun-missing',
      `cannot ${what}: ${clonePath} is missing or the tun driver is not loaded (${errno}). ` +
        'Load it with `modprobe tun` (create the node with `mkdir -p /dev/net && ' +
        'mknod /dev/net/tun c 10 200` if needed); in a container, pass the device in ' +
        '(docker run --device /dev/net/tun --cap-add NET_ADMIN).',
      details,
    )
  }
  if (errno === 'EPERM' || errno === 'EACCES') {
    return new TapError(
      'permission-denied',
      `cannot ${what}: permission denied (${errno} from ${syscall}). This needs CAP_NET_ADMIN: ` +
        'run as root, grant the capability (`setcap cap_net_admin+ep "$(command -v node)"`), ' +
        'or create the device for this user beforehand ' +
        `(\`ip tuntap add dev ${device} mode tap user "$USER"\`).`,
      details,
    )
  }
  if (syscall === 'TUNSETIFF' && errno === 'EBUSY') {
    return new TapError(
      'device-busy',
      `cannot ${what}: the device is already open, by this or another process. A TAP/TUN ` +
        'device without multi-queue takes one reader: close the other handle or choose another name.',
      details,
    )
  }
  if (syscall === 'TUNSETIFF' && errno === 'EINVAL') {
    return new TapError(
      'name-taken',
      `cannot ${what}: an interface with this name exists and is not a device of the kind ` +
        `asked for (see \`ip -d link show ${device}\`). Choose another name.`,
      details,
    )
  }
  if (errno === 'ENODEV' || errno === 'EBADFD' || errno === 'ENXIO') {
    return new TapError(
      'no-device',
      `cannot ${what}: no such device in this network namespace (${errno} from ${syscall}). ` +
        'It was deleted, or moved to another namespace; link control works by name in the ' +
        "namespace of this process (use `ip -n NS link` for another namespace's devices).",
      details,
    )
  }
  if (errno === 'EINVAL' || errno === 'EADDRNOTAVAIL') {
    return new TapError(
      'invalid-argument',
      `cannot ${what}: the kernel refused the value (${errno} from ${syscall}).`,
      details,
    )
  }
  return new TapError('system-error', `cannot ${what}: ${errno} from ${syscall}.`, details)
}

/** What was being done with a UDP socket, for the message. */
export type UdpOperation = 'bind' | 'send on' | 'receive on'

/** Maps a failed socket call to a TapError (pure, as tapErrorFromSystem). */
export function udpErrorFromSystem(
  failure: SystemFailure,
  op: UdpOperation,
  socket: string,
  cause?: unknown,
): TapError {
  const errno = errnoName(failure.errno)
  const { syscall } = failure
  const details: TapErrorDetails = { device: socket, errno, syscall, cause }
  const what = `${op} UDP ${socket}`
  if (errno === 'EADDRINUSE') {
    return new TapError(
      'address-in-use',
      `cannot ${what}: the port is in use by another socket (${errno}). Choose another port, ` +
        'or 0 for any free one; `ss -ulpn` shows who holds it.',
      details,
    )
  }
  if (errno === 'EADDRNOTAVAIL') {
    return new TapError(
      'address-not-available',
      `cannot ${what}: the address is not one of this host's (${errno}); bind 0.0.0.0 or an ` +
        'address `ip addr` lists in this network namespace.',
      details,
    )
  }
  if (errno === 'EACCES' || errno === 'EPERM') {
    return new TapError(
      'permission-denied',
      `cannot ${what}: permission denied (${errno} from ${syscall}); ports below 1024 need ` +
        'CAP_NET_BIND_SERVICE.',
      details,
    )
  }
  if (errno === 'EINVAL' || errno === 'EAFNOSUPPORT') {
    return new TapError('invalid-argument', `cannot ${what}: ${errno} from ${syscall}.`, details)
  }
  return new TapError('system-error', `cannot ${what}: ${errno} from ${syscall}.`, details)
}

export function closedError(device: string): TapError {
  return new TapError('closed', `device "${device}" is closed; open it again to use it.`, {
    device,
  })
}

export function invalid(message: string, device?: string): TapError {
  return new TapError('invalid-argument', message, device === undefined ? {} : { device })
}
