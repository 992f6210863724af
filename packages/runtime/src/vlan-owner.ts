/**
 * The owner's commands on its MLS VLANs (`peertap vlan members | invite |
 * revoke | remove | transfer | delete`), for vlans.ts: each runs in the
 * VLANs' one-at-a-time queue and acts through MLS and the invitations.
 */
import { formatIpv6, ulaAddress } from '@peertap/invite'
import type { VlanConfig } from './config.ts'
import { peerIdBytes } from './peer-ids.ts'
import { founderOf, founderVlanId, isFounder } from './vlan-entries.ts'
import type { VlansHost } from './vlans.ts'

/** What the owner's commands use of the VLANs. */
export interface VlanOwnerContext {
  readonly host: VlansHost
  serial<T>(run: () => Promise<T>): Promise<T>
  mlsVlan(name: string): VlanConfig
  storedOrThrow(name: string, what: string): VlanConfig
  isOwner(vlan: VlanConfig): boolean
  all(): VlanConfig[]
  drop(name: string, forget: boolean): Promise<void>
}

export class VlanOwner {
  readonly #c: VlanOwnerContext

  constructor(context: VlanOwnerContext) {
    this.#c = context
  }

  /** The members of an MLS VLAN, with the addresses each has in it. */
  members(name: string) {
    const vlan = this.#c.mlsVlan(name)
    const vlanId = founderVlanId(vlan, this.#c.host.selfPeerId)
    const { invitations } = this.#c.host
    return this.#c.host.mls.members(name).map((m) => {
      const ipv4 = invitations.addressOf(vlanId, m.peerId)
      return {
        ...m,
        ipv6: formatIpv6(ulaAddress(vlanId, peerIdBytes(m.peerId))),
        ...(ipv4 === undefined ? {} : { ipv4 }),
      }
    })
  }

  /**
   * The owner deletes its MLS VLAN: every other member is removed (new
   * keys they do not get, so each is cut off at once), its invitations
   * revoked, its group and port gone.
   */
  delete(name: string): Promise<{ deleted: string; removed: string[] }> {
    return this.#c.serial(async () => {
      const vlan = this.#c.storedOrThrow(name, 'delete')
      const removed: string[] = []
      if (vlan.mls !== undefined) {
        if (!this.#c.isOwner(vlan))
          throw new Error(`this node does not own ${name}: leave it (peertap vlan leave ${name})`)
        for (const member of this.#c.host.mls.members(name)) {
          if (member.self) continue
          await this.#c.host.mls.remove(name, member.peerId)
          removed.push(member.peerId)
        }
        await this.#c.host.invitations.forget(founderVlanId(vlan, this.#c.host.selfPeerId))
      }
      await this.#c.drop(name, true)
      return { deleted: name, removed }
    })
  }

  /** An invitation code to the owner's MLS VLAN `name`. */
  invite(name: string, options: { uses: number; expiresSeconds: number }) {
    const vlan = this.#c.mlsVlan(name)
    if (!this.#c.isOwner(vlan))
      throw new Error(
        `only the owner of ${name} invites (${this.#c.host.mls.ownerOf(name)} owns it)`,
      )
    // A VLAN handed to this node by transfer: the code names this node as the owner that
    // answers and the founder its VLAN-ID derives from (spec 15 §15.1).
    const self = this.#c.host.selfPeerId
    const founder = isFounder(vlan, self) ? undefined : founderOf(vlan, self)
    return this.#c.serial(() =>
      this.#c.host.invitations.create(name, {
        ...options,
        ...(founder === undefined ? {} : { founder }),
      }),
    )
  }

  /**
   * `peertap vlan remove PEER`: on the owner a removal commit, and the
   * member's IPv4 address goes back to the pool; elsewhere as MLS says (an
   * admin under a lease commits, a member proposes).
   */
  remove(name: string | undefined, peer: string): Promise<unknown> {
    return this.#c.serial(async () => {
      const result = await this.#c.host.mls.remove(name, peer)
      const vlan = this.#c.all().find((x) => x.name === (result as { vlan?: string }).vlan)
      if (vlan !== undefined && this.#c.isOwner(vlan))
        await this.#c.host.invitations.release(founderVlanId(vlan, this.#c.host.selfPeerId), peer)
      return result
    })
  }

  /** The owner hands its MLS VLAN `name` to the member `peer`, which commits from then on. */
  transfer(name: string, peer: string): Promise<unknown> {
    return this.#c.serial(async () => {
      const vlan = this.#c.mlsVlan(name)
      if (!this.#c.isOwner(vlan)) throw new Error(`only the owner of ${name} hands it over`)
      return this.#c.host.mls.transfer(name, peer)
    })
  }

  /** Revokes one invitation of the owner's VLAN `name` (by id), or all of them. */
  revoke(name: string, id: string | undefined) {
    return this.#c.serial(async () => {
      const vlan = this.#c.mlsVlan(name)
      if (!this.#c.isOwner(vlan))
        throw new Error(`only the owner of ${name} revokes its invitations`)
      const result = await this.#c.host.invitations.revoke(
        founderVlanId(vlan, this.#c.host.selfPeerId),
        id,
      )
      if (id !== undefined && result.revoked === 0)
        throw new Error(
          `no live invitation ${id} of ${name}: see peertap vlan invitations ${name} (a used, expired or revoked one needs no revoking)`,
        )
      return result
    })
  }

  /** The owner's invitations to `name`, live and spent. */
  invitationsOf(name: string) {
    return this.#c.host.invitations.list(
      founderVlanId(this.#c.mlsVlan(name), this.#c.host.selfPeerId),
    )
  }
}
