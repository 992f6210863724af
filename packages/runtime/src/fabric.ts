/**
 * The node's fabric (docs/spec/16-fabric.md §16.7), wiring only: what a
 * member does is @peertap/mvlan's `FabricMember`; this file lends it the
 * node's parts. The MVLAN goes into the switch as a PSK VLAN with one
 * in-process port (no device) whose frames are presence frames; CONTROL
 * 11, 12 and 13 go to and come from the trunk's links; the state is
 * `fabric.json` (fabric-store.ts); dials go through the trunk, bootstrap
 * addresses through the Dialler; and the commands (`peertap fabric
 * init|show|rotate|leave`, invitations that carry the fabric) run here.
 */
import { decodeMembershipProof, type ProofVerifier } from '@peertap/crypto'
import { type Dialler, hostAddresses, localIps } from '@peertap/daemon'
import {
  type DirectoryEntry,
  FabricMember,
  type MemberPorts,
  mvlanPortMac,
  newFabric,
  nextFabricEpoch,
  type PresenceVlan,
} from '@peertap/mvlan'
import type { SealedFrame, Switch } from '@peertap/switch'
import {
  CONTROL_FABRIC_EPOCH,
  CONTROL_FABRIC_GRANT,
  CONTROL_PRESENCE,
  type Control,
  type Link,
  type Trunk,
} from '@peertap/trunk'
import { formatVlanId } from '@peertap/vft'
import type { Logger } from 'pino'
import { readFabric, removeFabric, writeFabric } from './fabric-store.ts'
import { hex, peerIdBytes } from './peer-ids.ts'

/** The switch's name for the MVLAN (a VLAN name never starts with '@'). */
export const MVLAN = '@fabric'
const PORT = 'presence'
/** How long `rotate` waits for links to the members it must dial before it hands out grants. */
const ROTATE_DIAL_MS = 5_000
/** How long a dial from the directory may take, per address. */
const DIAL_TIMEOUT_MS = 5_000

/** What the fabric uses of the node. */
export interface FabricHost {
  readonly selfPeerId: string
  /** The node's Ed25519 seed (32 bytes): it signs the presence records. */
  readonly seed: Uint8Array
  readonly stateDir: string
  readonly log: Logger
  readonly sw: Switch
  readonly trunk: Trunk
  readonly dialler: Dialler
  readonly verifier: ProofVerifier
  /** Seconds (wall clock). */
  now(): number
  /** Sends our sealed frames on to the neighbours. */
  sendLocal(frames: SealedFrame[]): void
  /** The largest sealed frame the links up take (ports.ts `maxSealed`). */
  maxSealed(): number
  /** Re-reads the switch's subscriptions (a VLAN or epoch changed). */
  refresh(): Promise<void>
  /** Sends a link all our SUBs now (a peer that became a fabric member). */
  announceAll(link: Link): void
  /** The peers whose relay role the node trusts (reflexive addresses, declarations; 14 §14.2). */
  readonly trustedRelays: Set<string>
  /** The node's VLANs (vlans.ts). */
  readonly vlans: {
    /** The VLANs this node holds, for its presence record. */
    presenceVlans(): PresenceVlan[]
    /** The IP addresses on this node's VLAN ports (never published: 15 §15.9). */
    portAddresses(): ReadonlySet<string>
    /** Whether the node is joining a VLAN by invitation whose owner is `peer` (its grant is taken). */
    joiningFrom(peer: string): boolean
  }
}

export class Fabric {
  readonly #host: FabricHost
  readonly #member: FabricMember

  private constructor(host: FabricHost, member: (ports: MemberPorts) => FabricMember) {
    this.#host = host
    this.#member = member(this.#ports())
  }

  /** Opens the state directory's fabric, if the node has one. */
  static async open(host: FabricHost): Promise<Fabric> {
    const state = await readFabric(host.stateDir)
    return new Fabric(host, (ports) => new FabricMember(ports, state))
  }

  /** Whether the node is in a fabric. */
  get joined(): boolean {
    return this.#member.state !== undefined
  }

  /** Whether the node deals with `peer` as a fabric member (14-roles.md §14.2). */
  knows(peer: string): boolean {
    return this.#member.knows(peer)
  }

  // -- commands ------------------------------------------------------------

  /** `peertap fabric init`: a new fabric with this node its admin. */
  init(bootstrap: readonly string[]): Promise<FabricSummary> {
    return this.#member.serial(async () => {
      const state = newFabric({ admin: this.#host.selfPeerId, bootstrap, now: this.#now() })
      await this.#member.start(state)
      this.#host.log.info({ rootKey: hex(state.rootKey) }, 'fabric made')
      await this.#host.refresh()
      return this.show()
    })
  }

  /**
   * `peertap fabric rotate`: the admin's next epoch, granted to every
   * member in its directory but `expel`; those without a link are dialled
   * and waited for (5 s at most), and a member still unreachable is out
   * with the expelled (16-fabric.md §16.7).
   */
  rotate(
    expel: readonly string[],
  ): Promise<FabricSummary & { granted: string[]; missed: string[] }> {
    return this.#member.serial(() => this.#rotate(expel))
  }

  async #rotate(
    expel: readonly string[],
  ): Promise<FabricSummary & { granted: string[]; missed: string[] }> {
    const state = this.#stateOrThrow()
    const next = nextFabricEpoch(state, this.#now())
    const known = this.#member.directory.nodes(this.#now()).map((e) => e.peerId)
    // A mistyped PeerId would leave the member it meant in: refused, naming it.
    for (const peer of expel)
      if (!known.includes(peer) && this.#host.trunk.getLink(peer) === undefined)
        throw new Error(
          `${peer} is no member this node knows (see peertap fabric show): nothing rotated`,
        )
    const expelled = new Set(expel)
    const members = known.filter((id) => !expelled.has(id))
    const { trunk } = this.#host
    for (const id of members) this.#member.dialNow(id)
    const deadline = Date.now() + ROTATE_DIAL_MS
    while (Date.now() < deadline && members.some((id) => trunk.getLink(id)?.status !== 'up'))
      await new Promise((resolve) => setTimeout(resolve, 100))
    const granted = await this.#member.rotate(next, members)
    await this.#host.refresh()
    const missed = members.filter((id) => !granted.includes(id))
    this.#host.log.info(
      { epoch: next.epoch, granted: granted.length, missed, expelled: expel },
      'fabric rotated',
    )
    return { ...this.show(), granted, missed }
  }

  /** `peertap fabric leave`: forgets the fabric. */
  leave(): Promise<{ left: boolean }> {
    return this.#member.serial(async () => {
      const left = await this.#member.leave()
      if (left) await this.#host.refresh()
      return { left }
    })
  }

  /** `peertap fabric show`: the fabric and its directory. */
  show(): FabricSummary {
    const state = this.#stateOrThrow()
    const member = this.#member
    const now = this.#now()
    const entry = (e: DirectoryEntry) => ({
      peerId: e.peerId,
      addresses: e.record.addresses,
      seq: e.record.seq.toString(),
      expiresIn: Math.max(0, e.record.expiresAt - now),
      linked: this.#host.trunk.getLink(e.peerId)?.status === 'up',
      ...(e.record.role === 'relay' ? { load: e.record.load } : {}),
    })
    const vlan = (v: { vlanId: Uint8Array; name?: string }) => ({
      vlanId: formatVlanId(v.vlanId),
      ...(v.name === undefined ? {} : { name: v.name }),
    })
    return {
      fabric: formatVlanId(member.keys?.mvlanId ?? new Uint8Array(32)),
      epoch: state.epoch,
      rootKey: hex(state.rootKey),
      credentialKey: hex(member.keys?.credentialKey ?? new Uint8Array(0)),
      admin: state.rootSeed !== undefined,
      admins: [...state.admins],
      bootstrap: [...state.bootstrap],
      nodes: member.directory
        .nodes(now)
        .map((e) => ({ ...entry(e), vlans: e.record.vlans.map(vlan) })),
      relays: member.directory.relays(now).map(entry),
      vlans: [...member.directory.vlans(now)].map(([id, v]) => ({
        ...vlan({
          vlanId: Buffer.from(id, 'hex'),
          ...(v.name === undefined ? {} : { name: v.name }),
        }),
        peers: v.peers,
      })),
      counters: { ...member.counters, directory: member.directory.counters },
    }
  }

  // -- invitations ----------------------------------------------------------

  /** Throws unless the node is in a fabric (before an invitation that carries it is made). */
  check(): void {
    this.#stateOrThrow()
  }

  /** An invitation just made carries the fabric: its joiners get the grant (kept in fabric.json). */
  carryWith(invitation: string, expiresAt: number): Promise<void> {
    return this.#member.serial(async () => {
      const state = this.#stateOrThrow()
      const now = this.#now()
      const invitations: Record<string, number> = { [invitation]: expiresAt }
      for (const [id, until] of Object.entries(state.invitations))
        if (until > now) invitations[id] = until
      await this.#member.update({ ...state, invitations })
    })
  }

  /** A joiner was admitted with `invitation`: if it carries the fabric, the joiner gets the grant. */
  admitted(peer: string, invitation: string | undefined): void {
    this.#member.admitted(peer, invitation)
  }

  // -- the links -------------------------------------------------------------

  /** A peer we deal with is about to get our SUBs: a relay gets the statement first. */
  greeting(link: Link): void {
    this.#member.greeting(link.id, link.hello.remoteRole === 'relay')
  }

  /** A peer we deal with got our SUBs. */
  greeted(link: Link): void {
    this.#member.greeted(link.id)
  }

  /** A SUB's proof from a peer we deal with. */
  onProof(link: Link, proof: Uint8Array): void {
    this.#member.onProof(link.id, proof)
  }

  /**
   * CONTROL 11 (a relay's, dropped at a node), 12 (only from a peer we
   * deal with) and 13 (a grant: its own rules say from whom); true if it
   * was the fabric's.
   */
  onControl(control: Control, link: Link, dealsWith: boolean): boolean {
    if (control.channel === CONTROL_PRESENCE) {
      if (dealsWith)
        this.#member.onBatch(link.id, control.payload, link.hello.remoteRole === 'relay')
      return true
    }
    if (control.channel === CONTROL_FABRIC_GRANT) {
      void this.#member
        .onGrant(link.id, control.payload)
        .then(() => this.#host.refresh())
        .catch((error: unknown) => this.#host.log.error({ err: error }, 'refresh failed'))
      return true
    }
    return control.channel === CONTROL_FABRIC_EPOCH
  }

  linkDown(id: string): void {
    this.#member.linkDown(id)
  }

  /** Every tick (roaming, expiry, publishing, dialling). */
  tick(): void {
    this.#member.tick()
  }

  // -- inside ------------------------------------------------------------------

  /** What the member needs of the node. */
  #ports(): MemberPorts {
    const host = this.#host
    const { sw, trunk, log } = host
    const up = (peer: string) => {
      const link = trunk.getLink(peer)
      return link?.status === 'up' ? link : undefined
    }
    const send = (channel: number) => (peer: string, payload: Uint8Array) =>
      up(peer)?.sendControl({ channel, payload }) ?? false
    return {
      self: {
        peerId: host.selfPeerId,
        peerIdBytes: peerIdBytes(host.selfPeerId),
        seed: host.seed,
      },
      now: () => this.#now(),
      useKeys: (keys, epoch, change) => {
        const epochKeys = { kind: 'psk', epoch, secrets: keys.secrets } as const
        if (change === 'epoch') sw.setEpoch(MVLAN, epochKeys)
        else {
          sw.addVlan(MVLAN, epochKeys)
          sw.addPort(MVLAN, PORT, {
            // The member's own MAC (it is being built when it first attaches).
            mac: mvlanPortMac(peerIdBytes(host.selfPeerId)),
            writeFrames: (frames) => this.#member.onFrames(frames),
          })
        }
      },
      dropPrevious: () => sw.dropPreviousEpoch(MVLAN),
      detach: () => {
        sw.removePort(MVLAN, PORT)
        sw.removeVlan(MVLAN)
      },
      sendFrame: (frame) => {
        const sealed = sw.fromPort(MVLAN, PORT, [frame], host.now(), host.maxSealed())
        if (sealed.length > 0) host.sendLocal(sealed)
      },
      sendStatement: send(CONTROL_FABRIC_EPOCH),
      sendBatch: send(CONTROL_PRESENCE),
      sendGrant: send(CONTROL_FABRIC_GRANT),
      isLinked: (peer) => up(peer) !== undefined,
      anyLinkUp: () => trunk.links().some((l) => l.status === 'up'),
      relayLinks: () =>
        trunk
          .links()
          .filter((l) => l.status === 'up' && l.hello.remoteRole === 'relay')
          .map((l) => l.id),
      dial: async (_peer, address) => {
        await trunk.dial(address, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      },
      keepDialled: (address, keep) =>
        keep ? host.dialler.add(address) : host.dialler.remove(address),
      announceAll: (peer) => {
        const link = up(peer)
        if (link !== undefined) host.announceAll(link)
      },
      trustRelay: (peer) => host.trustedRelays.add(peer),
      trustsRelay: (peer) => host.trustedRelays.has(peer),
      verifyProof: (peer, proof) =>
        host.verifier.verify({ proof, peerId: peerIdBytes(peer), now: this.#now() }).ok,
      proofKey: (proof) => {
        const decoded = decodeMembershipProof(proof)
        return decoded.ok ? decoded.proof.publicKey : undefined
      },
      joiningFrom: (peer) => host.vlans.joiningFrom(peer),
      addresses: () => hostAddresses(trunk, host.vlans.portAddresses()),
      vlans: () => host.vlans.presenceVlans(),
      localIps,
      dropDirectConnections: () => trunk.dropDirectConnections('underlay address changed'),
      store: (state) =>
        state === undefined ? removeFabric(host.stateDir) : writeFabric(host.stateDir, state),
      info: (fields, message) => log.info(fields, message),
      warn: (fields, message) => log.warn(fields, message),
    }
  }

  /** Whole unix seconds: the directory's and the records' clock. */
  #now(): number {
    return Math.floor(this.#host.now())
  }

  #stateOrThrow() {
    const state = this.#member.state
    if (state === undefined)
      throw new Error(
        'this node is in no fabric: `peertap fabric init` makes one, an invitation with the fabric joins one',
      )
    return state
  }
}

export interface FabricSummary {
  fabric: string
  epoch: number
  rootKey: string
  credentialKey: string
  admin: boolean
  admins: string[]
  bootstrap: string[]
  nodes: Array<FabricPeer & { vlans: Array<{ vlanId: string; name?: string }> }>
  relays: FabricPeer[]
  vlans: Array<{ vlanId: string; name?: string; peers: string[] }>
  counters: unknown
  /** After a rotation: the members the new secret was sent to, and those not reached. */
  granted?: string[]
  missed?: string[]
}

/** A directory entry as `fabric show` gives it. */
export interface FabricPeer {
  peerId: string
  addresses: readonly string[]
  seq: string
  expiresIn: number
  linked: boolean
  load?: number
}
