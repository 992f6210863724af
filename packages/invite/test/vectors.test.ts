// Every vector set of test/vectors/ (written by generate.py from the spec
// alone) checked forwards, backwards and with a flipped bit.
import { deriveHpkeKeyPair } from '@peertap/crypto'
import { describe, expect, it } from 'vitest'
import {
  decodeInvitationCode,
  decodeJoinVerdict,
  encodeInvitationCode,
  encodeInvitationPayload,
  encodeJoinVerdict,
  formatIpv6,
  formatUlaPrefix,
  type Invitation,
  InvitationBook,
  Ipv4Pool,
  isReservedInterfaceId,
  type JoinVerdict,
  openJoinRequest,
  ulaAddress,
  ulaPrefix,
} from '../src/index.ts'
import { sealJoinRequestWith } from '../src/join.ts'
import { fixedRandom, hex, sealWithEphemeralIkm, toHex, vectors } from './helpers.ts'

interface InvitationJson {
  vlanId: string
  name: string
  owner: string
  founder?: string
  ownerHpkeKey: string
  addresses: string[]
  secret: string
  expiresAt: number
  ticket: string
}
const fromJson = (j: InvitationJson): Invitation => ({
  vlanId: hex(j.vlanId),
  name: j.name,
  owner: hex(j.owner),
  ...(j.founder === undefined ? {} : { founder: hex(j.founder) }),
  ownerHpkeKey: hex(j.ownerHpkeKey),
  addresses: j.addresses,
  secret: hex(j.secret),
  expiresAt: j.expiresAt,
  ticket: hex(j.ticket),
})
const asJson = (inv: Invitation): InvitationJson => ({
  vlanId: toHex(inv.vlanId),
  name: inv.name,
  owner: toHex(inv.owner),
  ...(inv.founder === undefined ? {} : { founder: toHex(inv.founder) }),
  ownerHpkeKey: toHex(inv.ownerHpkeKey),
  addresses: [...inv.addresses],
  secret: toHex(inv.secret),
  expiresAt: inv.expiresAt,
  ticket: toHex(inv.ticket),
})

describe('codes.json', () => {
  const codes = vectors<{
    valid: Array<{ comment: string; invitation: InvitationJson; payload: string; code: string }>
    accepted: Array<{ comment: string; text: string; payload: string }>
    damaged: Array<{ comment: string; text: string; reason: string; position?: number }>
  }>('codes.json')
  const byPayload = new Map(codes.valid.map((v) => [v.payload, v.invitation]))

  it.each(codes.valid)('$comment: forwards and backwards', (v) => {
    const inv = fromJson(v.invitation)
    expect(toHex(encodeInvitationPayload(inv))).toBe(v.payload)
    expect(encodeInvitationCode(inv)).toBe(v.code)
    const read = decodeInvitationCode(v.code)
    expect(read.ok && asJson(read.invitation)).toEqual(v.invitation)
  })

  it.each(codes.valid)('$comment: each character changed fails the checksum', (v) => {
    const body = v.code.indexOf(':') + 1
    for (let i = body; i < v.code.length; i += 7) {
      const changed = v.code[i] === 'a' ? 'b' : 'a'
      const read = decodeInvitationCode(v.code.slice(0, i) + changed + v.code.slice(i + 1))
      expect(read.ok ? 'decoded' : read.reason, `character ${i}`).toBe('checksum')
    }
  })

  it.each(codes.accepted)('accepts $comment', (v) => {
    const read = decodeInvitationCode(v.text)
    expect(read.ok && asJson(read.invitation)).toEqual(byPayload.get(v.payload))
  })

  it.each(codes.damaged)('refuses $comment: $reason', (v) => {
    const read = decodeInvitationCode(v.text)
    expect(read.ok ? 'decoded' : read.reason).toBe(v.reason)
    if (!read.ok) expect(read.detail.length).toBeGreaterThan(0)
    if (v.position !== undefined) expect(!read.ok && read.position).toBe(v.position)
  })
})

describe('join.json', () => {
  const join = vectors<{
    requests: Array<{
      comment: string
      ikmR: string
      ikmE: string
      ownerHpkeKey: string
      owner: string
      joiner: string
      vlanId: string
      secret: string
      keyPackage: string
      payload: string
    }>
    requestRefusals: Array<{
      comment: string
      payload: string
      from: string
      reason: string
      ownerOverride?: string
    }>
    verdicts: Array<{ verdict: Record<string, unknown>; payload: string }>
    verdictRefusals: Array<{ comment: string; payload: string; reason: string }>
  }>('join.json')

  it.each(join.requests)(
    '$comment: sealed byte for byte, opened, flipped bits refused',
    async (v) => {
      const keys = await deriveHpkeKeyPair(hex(v.ikmR))
      expect(toHex(keys.publicKey)).toBe(v.ownerHpkeKey)
      const params = {
        vlanId: hex(v.vlanId),
        ownerHpkeKey: hex(v.ownerHpkeKey),
        owner: hex(v.owner),
        joiner: hex(v.joiner),
        secret: hex(v.secret),
        keyPackage: hex(v.keyPackage),
      }
      expect(toHex(await sealJoinRequestWith(params, sealWithEphemeralIkm(hex(v.ikmE))))).toBe(
        v.payload,
      )
      const open = (payload: Uint8Array) =>
        openJoinRequest({
          payload,
          owner: params.owner,
          ownerHpkePrivateKey: keys.privateKey,
          from: params.joiner,
        })
      const opened = await open(hex(v.payload))
      expect(
        opened.ok && [toHex(opened.vlanId), toHex(opened.secret), toHex(opened.keyPackage)],
      ).toEqual([v.vlanId, v.secret, v.keyPackage])
      const payload = hex(v.payload)
      for (let i = 1; i < payload.length; i += 5) {
        const flipped = payload.slice()
        flipped[i]! ^= 0x01
        const result = await open(flipped)
        expect(result.ok, `byte ${i}`).toBe(false)
      }
    },
  )

  it.each(join.requestRefusals)('refuses $comment: $reason', async (v) => {
    const r = join.requests[0]!
    const keys = await deriveHpkeKeyPair(hex(r.ikmR))
    const opened = await openJoinRequest({
      payload: hex(v.payload),
      owner: hex(v.ownerOverride ?? r.owner),
      ownerHpkePrivateKey: keys.privateKey,
      from: hex(v.from),
    })
    expect(opened.ok ? 'opened' : opened.reason).toBe(v.reason)
  })

  it.each(join.verdicts)('verdict $verdict.verdict: forwards and backwards', (v) => {
    const verdict = { ...v.verdict, vlanId: hex(v.verdict.vlanId as string) } as JoinVerdict
    expect(toHex(encodeJoinVerdict(verdict))).toBe(v.payload)
    const read = decodeJoinVerdict(hex(v.payload))
    expect(read.ok && { ...read.verdict, vlanId: toHex(read.verdict.vlanId) }).toEqual(v.verdict)
    // A flipped bit anywhere never reads as the same verdict.
    const payload = hex(v.payload)
    for (let bit = 0; bit < payload.length * 8; bit++) {
      const flipped = payload.slice()
      flipped[bit >> 3]! ^= 0x80 >> (bit & 7)
      const again = decodeJoinVerdict(flipped)
      if (again.ok)
        expect({ ...again.verdict, vlanId: toHex(again.verdict.vlanId) }, `bit ${bit}`).not.toEqual(
          v.verdict,
        )
    }
  })

  it.each(join.verdictRefusals)('refuses the verdict $comment: $reason', (v) => {
    const read = decodeJoinVerdict(hex(v.payload))
    expect(read.ok ? 'decoded' : read.reason).toBe(v.reason)
  })
})

describe('book.json', () => {
  const book = vectors<{
    steps: Array<Record<string, string | number | boolean>>
    record: string
    list: {
      now: number
      lab: Array<{ id: string; state: string }>
      office: Array<{ id: string; state: string }>
    }
    prune: { now: number; dropped: number; left: string[] }
    damaged: Array<{ comment: string; record?: string; recordHex?: string; reason: string }>
  }>('book.json')

  const replay = () => {
    const b = new InvitationBook()
    for (const step of book.steps) {
      const vlanId = hex(step.vlanId as string)
      const now = step.now as number
      const redeeming = () => ({
        vlanId,
        now,
        secret: hex(step.secret as string),
        joiner: hex(step.joiner as string),
      })
      if (step.op === 'create') {
        const made = b.create({
          vlanId,
          now,
          uses: step.uses as number,
          expiresAt: step.expiresAt as number,
          random: fixedRandom(hex(step.secret as string)),
        })
        expect(made.id).toBe(step.id)
      } else if (step.op === 'redeem') {
        expect(b.redeem(redeeming()), JSON.stringify(step)).toBe(step.outcome)
      } else if (step.op === 'peek') {
        expect(b.peek(redeeming()), JSON.stringify(step)).toBe(step.outcome)
      } else if (step.op === 'unredeem') {
        expect(b.unredeem(redeeming()), JSON.stringify(step)).toBe(step.undone)
      } else {
        expect(b.revoke({ vlanId, id: step.id as string, now })).toBe(step.count)
      }
    }
    return b
  }

  it('replays the steps to the record byte for byte, and reads it back to the same record', () => {
    const b = replay()
    expect(new TextDecoder().decode(b.encode())).toBe(book.record)
    const read = InvitationBook.decode(new TextEncoder().encode(book.record))
    expect(read.ok && new TextDecoder().decode(read.book.encode())).toBe(book.record)
  })

  it('lists and prunes as the vectors say', () => {
    const b = replay()
    const [lab, office] = [book.steps[0]!.vlanId as string, book.steps[2]!.vlanId as string]
    expect(b.list(hex(lab), book.list.now).map(({ id, state }) => ({ id, state }))).toEqual(
      book.list.lab,
    )
    expect(b.list(hex(office), book.list.now).map(({ id, state }) => ({ id, state }))).toEqual(
      book.list.office,
    )
    expect(b.prune(book.prune.now)).toBe(book.prune.dropped)
    expect(b.list(hex(lab), book.prune.now).map((s) => s.id)).toEqual(book.prune.left)
  })

  it.each(book.damaged)('refuses a record with $comment: $reason', (v) => {
    const bytes = v.recordHex !== undefined ? hex(v.recordHex) : new TextEncoder().encode(v.record)
    const read = InvitationBook.decode(bytes)
    expect(read.ok ? 'decoded' : read.reason).toBe(v.reason)
  })
})

describe('addresses.json', () => {
  const addresses = vectors<{
    ula: Array<{
      vlanId: string
      prefix: string
      prefixText: string
      members: Array<{ peerId: string; address: string; text: string }>
    }>
    reservedInterfaceIds: Array<{ iid: string; reserved: boolean }>
    ipv4: {
      cidr: string
      steps: Array<{
        op: string
        peer: string
        address?: string
        result?: string | boolean
        error?: string
      }>
      record: string
      cidrs: Array<{ cidr: string; valid: boolean }>
      damaged: Array<{ comment: string; record: string; reason: string }>
    }
  }>('addresses.json')

  it.each(addresses.ula)('ULA prefix and addresses of VLAN $vlanId', (v) => {
    expect(toHex(ulaPrefix(hex(v.vlanId)))).toBe(v.prefix)
    expect(formatUlaPrefix(hex(v.vlanId))).toBe(v.prefixText)
    for (const member of v.members) {
      const address = ulaAddress(hex(v.vlanId), hex(member.peerId))
      expect(toHex(address)).toBe(member.address)
      expect(formatIpv6(address)).toBe(member.text)
    }
    const flipped = hex(v.vlanId)
    flipped[31]! ^= 1
    expect(toHex(ulaPrefix(flipped))).not.toBe(v.prefix)
  })

  it.each(addresses.reservedInterfaceIds)('interface ID $iid reserved: $reserved', (v) => {
    expect(isReservedInterfaceId(hex(v.iid))).toBe(v.reserved)
  })

  it('assigns, releases and reserves as the steps say, and persists the record', () => {
    const pool = Ipv4Pool.parse(addresses.ipv4.cidr)
    for (const step of addresses.ipv4.steps) {
      const run = () =>
        step.op === 'assign'
          ? pool.assign(step.peer).address
          : step.op === 'reserve'
            ? pool.reserve(step.peer, step.address!).address
            : pool.release(step.peer)
      if (step.error !== undefined)
        expect(run).toThrow(expect.objectContaining({ code: step.error }))
      else expect(run(), JSON.stringify(step)).toBe(step.result)
    }
    expect(new TextDecoder().decode(pool.encode())).toBe(addresses.ipv4.record)
    const read = Ipv4Pool.decode(new TextEncoder().encode(addresses.ipv4.record))
    expect(read.ok && new TextDecoder().decode(read.pool.encode())).toBe(addresses.ipv4.record)
    expect(read.ok && read.pool.addressOf(addresses.ipv4.steps[0]!.peer)?.address).toBe('10.77.0.1')
  })

  it.each(addresses.ipv4.cidrs)('pool $cidr valid: $valid', (v) => {
    if (v.valid) expect(Ipv4Pool.parse(v.cidr).cidr).toBe(v.cidr)
    else
      expect(() => Ipv4Pool.parse(v.cidr)).toThrow(
        expect.objectContaining({ code: 'invalid-argument' }),
      )
  })

  it.each(addresses.ipv4.damaged)('refuses a pool record with $comment: $reason', (v) => {
    const read = Ipv4Pool.decode(new TextEncoder().encode(v.record))
    expect(read.ok ? 'decoded' : read.reason).toBe(v.reason)
  })
})
