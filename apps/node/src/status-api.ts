/**
 * The node's status API (docs/design.md §10): the status snapshot
 * (`peertap status`, GET /status) read from the parts the daemon wires, its
 * Prometheus metrics (GET /metrics), PING, and the MLS VLAN membership
 * actions (`peertap vlan add|remove|update|lease`); and the control file
 * that tells the CLI the API's port and token (the CLI prefers the API's
 * Unix socket, `<stateDir>/api.sock`, which needs no token).
 */
import { serveDaemonApi } from '@peertap/daemon'
import {
  type Config,
  decodeCode,
  type MlsVlans,
  type NodeParts,
  nodeStatus,
  peerIdText as toText,
} from '@peertap/runtime'
import type { Logger } from 'pino'
import { collectMetrics } from './metrics.ts'
import { UI_ASSETS } from './ui/assets.ts'
import { renderQrSvg } from './ui/qr-svg.ts'

/** The running status API. */
export interface StatusApi {
  /** Closes the server and removes the control file. */
  close(): Promise<void>
}

/**
 * Starts the status API on 127.0.0.1 (`config.status.port`) behind a fresh
 * token, and writes the control file (pid, port, token) into the state directory.
 */
export async function startStatusApi(
  config: Config,
  log: Logger,
  parts: NodeParts,
): Promise<StatusApi> {
  const { trunk, mls, vlans, fabric } = parts
  const status = () => nodeStatus(parts)
  const mlsOrThrow = (): MlsVlans => {
    if (mls === undefined) throw new Error('this node has no MLS VLAN')
    return mls
  }
  const api = await serveDaemonApi({
    stateDir: config.stateDir,
    port: config.status.port,
    signIn: `peertap ui -s ${config.stateDir}`,
    log,
    provider: {
      title: 'PeerTap node',
      // The web page (apps/node/src/ui), for a browser signed in with `peertap ui`.
      assets: UI_ASSETS,
      status,
      metrics: () => collectMetrics(status()),
      ping: async (peer) => {
        const link = trunk.getLink(peer)
        if (link === undefined) throw new Error(`no link to ${peer}`)
        const result = await link.ping({ timeoutMs: 5000 })
        return { rttMs: result.rttMs, hops: result.hops.map(hopText) }
      },
      // `peertap vlan add|remove|update|lease` (MLS VLAN membership: the owner or an admin commits, members propose).
      actions: {
        'vlan/add': (params) =>
          mlsOrThrow().add(params.get('vlan') ?? undefined, required(params, 'peer')),
        'vlan/remove': (params) =>
          vlans.owner.remove(params.get('vlan') ?? undefined, required(params, 'peer')),
        'vlan/update': (params) => mlsOrThrow().update(params.get('vlan') ?? undefined),
        'vlan/lease': (params) =>
          mlsOrThrow().lease(
            params.get('vlan') ?? undefined,
            required(params, 'peer'),
            Number(required(params, 'seconds')),
          ),
        // `peertap vlan list|members|create|invite|invitations|revoke|leave|delete` and `peertap join`.
        'vlan/list': async () => vlans.list(),
        // Each member with its role: owner, admin (the owner's config names it) or member.
        'vlan/members': async (params) => {
          const name = required(params, 'vlan')
          const members = vlans.owner.members(name)
          const group = mls?.status()[name] as { owner?: string; admins?: string[] } | undefined
          return members.map((m) => ({
            ...m,
            role:
              m.peerId === group?.owner
                ? 'owner'
                : group?.admins?.includes(m.peerId)
                  ? 'admin'
                  : 'member',
          }))
        },
        'vlan/create': (params) =>
          vlans.create(required(params, 'vlan'), {
            addresses: params.getAll('address'),
            ...optional(params, 'subnet'),
            ...optional(params, 'device'),
            tun: portType(params),
          }),
        'vlan/invite': async (params) => {
          // With the fabric (`peertap fabric invite`): its joiners get the fabric's grant too.
          const withFabric = params.get('fabric') === '1'
          if (withFabric) fabric.check()
          const invitation = await vlans.owner.invite(required(params, 'vlan'), {
            uses: seconds(params.get('uses') ?? '1', 1, 1000, 'uses'),
            expiresSeconds: seconds(params.get('expires') ?? '86400', 1, 365 * 86_400, 'expires'),
          })
          if (withFabric) await fabric.carryWith(invitation.id, invitation.expiresAt)
          // The web page asks for the code's QR code as SVG too (`qr=svg`).
          const qr = params.get('qr') === 'svg' ? { qrSvg: renderQrSvg(invitation.code) } : {}
          return { ...invitation, fabric: withFabric, ...qr }
        },
        'vlan/invitations': async (params) => vlans.owner.invitationsOf(required(params, 'vlan')),
        'vlan/revoke': async (params) =>
          vlans.owner.revoke(required(params, 'vlan'), params.get('id') ?? undefined),
        'vlan/leave': (params) => vlans.leave(required(params, 'vlan')),
        'vlan/transfer': (params) =>
          vlans.owner.transfer(required(params, 'vlan'), required(params, 'peer')),
        'vlan/delete': (params) => vlans.owner.delete(required(params, 'vlan')),
        // The web page's attach/detach: the VLAN's TAP device up or down (Ports.setAttached).
        'vlan/attach': async (params) => vlans.setAttached(required(params, 'vlan'), true),
        'vlan/detach': async (params) => vlans.setAttached(required(params, 'vlan'), false),
        // `peertap fabric init|show|rotate|leave` (docs/spec/16-fabric.md §16.7).
        'fabric/init': (params) => fabric.init(params.getAll('bootstrap')),
        'fabric/show': async () => fabric.show(),
        'fabric/rotate': (params) => fabric.rotate(params.getAll('expel')),
        'fabric/leave': () => fabric.leave(),
        join: (params) => {
          const code = required(params, 'code')
          // `peertap fabric join`: the VLAN and its owner's fabric; a node is in one fabric at most.
          const withFabric = params.get('fabric') === '1'
          if (withFabric && fabric.joined)
            throw new Error(
              'this node is in a fabric already (peertap fabric show): `peertap fabric leave` first, or join the VLAN alone with `peertap join`',
            )
          return vlans.join(decodeCode(code), code, {
            fabric: withFabric,
            addresses: params.getAll('address'),
            ...optional(params, 'device'),
            tun: portType(params),
            timeoutMs: seconds(params.get('timeout') ?? '30', 1, 600, 'timeout') * 1000,
          })
        },
      },
    },
  })
  return api
}

/** `port=tun` (`--tun`): a TUN port; absent or `tap`: a TAP port. */
function portType(params: URLSearchParams): boolean {
  const port = params.get('port') ?? 'tap'
  if (port !== 'tap' && port !== 'tun')
    throw new Error(`port: tap or tun, not ${JSON.stringify(port)}`)
  return port === 'tun'
}

/** A required query parameter of a status API action. */
function required(params: URLSearchParams, name: string): string {
  const value = params.get(name)
  if (value === null || value === '') throw new Error(`${name} is required`)
  return value
}

/** A whole number from a query parameter, `min` to `max`, or an error naming it. */
function seconds(text: string, min: number, max: number, name: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new Error(`${name} must be a whole number from ${min} to ${max}`)
  return n
}

/** An optional query parameter, as a field to spread (absent when not given). */
function optional<K extends string>(params: URLSearchParams, name: K): { [key in K]?: string } {
  const value = params.get(name)
  return (value === null || value === '' ? {} : { [name]: value }) as { [key in K]?: string }
}

/** A hop of a PING's hop record (PeerId multihash bytes) as a PeerId string, or hex if it is not one. */
function hopText(bytes: Uint8Array): string {
  try {
    return toText(bytes)
  } catch {
    return Buffer.from(bytes).toString('hex')
  }
}
