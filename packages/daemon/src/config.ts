import { readFile } from 'node:fs/promises'
import { PeerTapError } from '@peertap/errors'
import * as v from 'valibot'

/** A config that does not validate; `field` names the offending field. */
export class ConfigError extends PeerTapError<'invalid-config'> {
  /** Dot path of the offending field, e.g. `vlans.0.secret`; empty for the file itself. */
  readonly field: string

  constructor(field: string, message: string) {
    super('invalid-config', field === '' ? message : `${field}: ${message}`)
    this.name = 'ConfigError'
    this.field = field
  }
}

/** Validates `input` against a valibot schema; throws a {@link ConfigError} naming the first bad field. */
export function parseWithSchema<const S extends v.GenericSchema>(
  schema: S,
  input: unknown,
): v.InferOutput<S> {
  const result = v.safeParse(schema, input, { abortEarly: true })
  if (result.success) return result.output
  const issue = result.issues[0]
  const field = v.getDotPath(issue) ?? ''
  // valibot reports an unknown key of a strict object as expecting `never`.
  const message =
    issue.expected === 'never'
      ? 'unknown field'
      : issue.received === 'undefined'
        ? 'required field is missing'
        : issue.message
  throw new ConfigError(field, message)
}

/** Reads a JSON file for a config; errors name the file. */
export async function readJsonConfig(path: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new ConfigError('', `cannot read config ${path}: ${(error as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new ConfigError('', `config ${path} is not JSON: ${(error as Error).message}`)
  }
}

/** A TCP or UDP port number in a config. */
export const PortNumber = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65_535))

/** The `status` section both daemons share: the status API's port on 127.0.0.1 (0: any). */
export function statusSection(defaultPort: number) {
  return v.optional(v.strictObject({ port: v.optional(PortNumber, defaultPort) }), {})
}

/**
 * The `datagram` section both daemons share: the datagram link
 * (docs/spec/13-datagram-link.md), on by default: UDP beside each stream
 * link whose neighbour has it too. `port` 0 binds any free port (it is
 * offered over the stream link); `announce` lists extra IPs to offer.
 */
export const datagramFields = {
  enabled: v.optional(v.boolean(), true),
  port: v.optional(PortNumber, 0),
  announce: v.optional(v.pipe(v.array(v.pipe(v.string(), v.ip())), v.maxLength(8)), []),
  /**
   * The UDP socket (datagramSocketFactory): `batched` (the tap addon:
   * recvmmsg on a reader thread, sendmmsg), `dgram` (node:dgram), or `auto`
   * (batched when the addon is built).
   */
  socket: v.optional(v.picklist(['auto', 'batched', 'dgram']), 'auto'),
  /**
   * UDP GSO on the batched socket: runs of equal datagrams to one
   * neighbour cross the kernel's stack once (default true).
   */
  gso: v.optional(v.boolean(), true),
  /**
   * UDP GRO on the batched socket: a run of datagrams from one neighbour
   * that the kernel coalesced crosses its receive path as one and is split
   * in the socket (default true).
   */
  gro: v.optional(v.boolean(), true),
}
export const datagramSection = v.optional(v.strictObject(datagramFields), {})

/** The trunk's `datagram` option for a parsed `datagram` section: false when it is off. */
export function datagramOption(section: {
  readonly enabled: boolean
  readonly port: number
  readonly announce: string[]
}) {
  return section.enabled && { port: section.port, announce: section.announce }
}

/** The `log` section both daemons share. */
export const logSection = v.optional(
  v.strictObject({
    level: v.optional(v.picklist(['trace', 'debug', 'info', 'warn', 'error']), 'info'),
  }),
  {},
)
