import { deriveHpkeKeyPair } from '@peertap/crypto'
import { describe, expect, it, vi } from 'vitest'
import {
  decodeJoinVerdict,
  InvitationBook,
  Ipv4Pool,
  invitationId,
  issueInvitation,
  JoinAttempt,
  JoinDesk,
  type JoinDeskPorts,
  JoinDoor,
  type JoinVerdictName,
  sealJoinRequest,
} from '../src/index.ts'
import { ed25519Peer, toHex } from './helpers.ts'

const owner = ed25519Peer(0x11)
const joiner = ed25519Peer(0x22)
const other = ed25519Peer(0x33)
const NOW = 1_800_000_000

/** An owner with one VLAN ("lab", a pool), a desk, and what it did. */
async function owned(
  options: { uses?: number; door?: JoinDoor; cidr?: string; legacy?: boolean } = {},
) {
  const keys = await deriveHpkeKeyPair(new Uint8Array(32).fill(7))
  const book = new InvitationBook()
  const { invitation } = issueInvitation({
    book,
    owner,
    name: 'lab',
    ownerHpkeKey: keys.publicKey,
    now: NOW,
    ...(options.uses === undefined ? {} : { uses: options.uses }),
  })
  const pool = Ipv4Pool.parse(options.cidr ?? '10.77.0.0/29')
  pool.assign(toHex(owner))
  const verdicts: Array<{ verdict: JoinVerdictName; ipv4?: string }> = []
  const admitted: Array<{ vlan: string; keyPackage: number[] }> = []
  let saves = 0
  const o = {
    dealt: false,
    removed: false,
    owns: true,
    saveFails: false,
    admitFails: false,
    hold: undefined as Promise<void> | undefined,
  }
  const common = {
    dealsWith: (from: Uint8Array) => toHex(from) === toHex(joiner) && o.dealt,
    // A stand-in for MLS's check: here a key package "names" its sender when its first byte is 0x22.
    checkKeyPackage: async (keyPackage: Uint8Array, from: Uint8Array) => keyPackage[0] === from[6],
    ownedVlan: (vlanId: Uint8Array) =>
      o.owns && toHex(vlanId) === toHex(invitation.vlanId) ? 'lab' : undefined,
    pool: async () => pool,
    save: async () => {
      await o.hold
      if (o.saveFails) throw new Error('disk full')
      saves++
    },
    admit: async (vlan: string, keyPackage: Uint8Array) => {
      if (o.admitFails) throw new Error('commit failed')
      admitted.push({ vlan, keyPackage: [...keyPackage] })
    },
    reply: (payload: Uint8Array) => {
      const decoded = decodeJoinVerdict(payload)
      if (!decoded.ok) throw new Error(decoded.reason)
      const { verdict, ipv4 } = decoded.verdict
      verdicts.push({ verdict, ...(ipv4 === undefined ? {} : { ipv4: ipv4.address }) })
    },
  }
  // The node's older port: whether the owner's admitted set holds the joiner.
  const ports: JoinDeskPorts = options.legacy
    ? { ...common, stillAdmits: () => !o.removed && admitted.length > 0 }
    : { ...common, removed: () => o.removed }
  const door = options.door ?? new JoinDoor()
  const desk = new JoinDesk({ book, door, owner, hpkePrivateKey: keys.privateKey })
  const ask = (payload: Uint8Array, from = joiner, source = '198.51.100.7', at = 0) =>
    desk.answer({ payload, from, source, nowMs: at, nowSeconds: NOW + 10 + at / 1000 }, ports)
  return {
    invitation,
    keys,
    book,
    pool,
    verdicts,
    admitted,
    ask,
    saves: () => saves,
    door,
    o,
    dealWithJoiner: () => {
      o.dealt = true
    },
    removeJoiner: () => {
      o.removed = true
    },
  }
}

describe('JoinDesk (the owner, spec 15 §15.9)', () => {
  it('accepts a request with the code’s secret: verdict with an address, then the admission', async () => {
    const o = await owned()
    const attempt = new JoinAttempt(o.invitation, joiner)
    const answer = await o.ask(await attempt.request(Uint8Array.of(0x22, 2, 3)))
    expect(answer).toMatchObject({
      outcome: 'accepted',
      vlan: 'lab',
      ipv4: { address: '10.77.0.2' },
      // The invitation redeemed, by its id (what the owner may give with it: a fabric grant).
      invitation: invitationId(o.invitation.secret),
    })
    expect(o.verdicts).toEqual([{ verdict: 'accepted', ipv4: '10.77.0.2' }])
    expect(o.admitted).toEqual([{ vlan: 'lab', keyPackage: [0x22, 2, 3] }])
    expect(o.saves()).toBe(1)
  })

  it('refuses the same bytes from another peer, and admits nobody; the sender again uses nothing more', async () => {
    const o = await owned({ uses: 2 })
    const request = await new JoinAttempt(o.invitation, joiner).request(Uint8Array.of(0x22))
    expect((await o.ask(request, other)).outcome).toBe('not-opened')
    expect(o.admitted).toEqual([])
    expect((await o.ask(request, joiner, '198.51.100.7', 1000)).outcome).toBe('accepted')
    expect((await o.ask(request, joiner, '198.51.100.7', 2000)).outcome).toBe('again')
    expect(o.verdicts.map((v) => v.verdict)).toEqual(['refused', 'accepted', 'accepted'])
    // The same address again, and one use of the two left.
    expect(o.verdicts[2]?.ipv4).toBe('10.77.0.2')
    expect(o.book.list(o.invitation.vlanId, NOW + 3)[0]?.usesLeft).toBe(1)
  })

  it.each([false, true])(
    'does not let a member the owner removed back in with its old code (legacy port: %s)',
    async (legacy) => {
      const o = await owned({ uses: 2, legacy })
      const request = await new JoinAttempt(o.invitation, joiner).request(Uint8Array.of(0x22))
      expect((await o.ask(request)).outcome).toBe('accepted')
      o.removeJoiner()
      const again = await new JoinAttempt(o.invitation, joiner).request(Uint8Array.of(0x22, 1))
      expect((await o.ask(again, joiner, '198.51.100.7', 1000)).outcome).toBe('revoked')
      expect(o.verdicts.at(-1)).toEqual({ verdict: 'revoked' })
      expect(o.admitted).toHaveLength(1)
    },
  )

  it('tells a second joiner of a one-use code that it is used up, and admits nobody', async () => {
    const o = await owned()
    await o.ask(await new JoinAttempt(o.invitation, joiner).request(Uint8Array.of(0x22)))
    const answer = await o.ask(
      await new JoinAttempt(o.invitation, other).request(Uint8Array.of(0x33)),
      other,
    )
    expect(answer.outcome).toBe('used-up')
    expect(o.verdicts.at(-1)).toEqual({ verdict: 'used-up' })
    expect(o.admitted).toHaveLength(1)
  })

  it('answers busy before any work when the source has spent its allowance', async () => {
    const o = await owned({ door: new JoinDoor({ sourceRate: 1, sourceBurst: 1 }) })
    const request = await new JoinAttempt(o.invitation, joiner).request(Uint8Array.of(0x22))
    await o.ask(request)
    expect((await o.ask(request, joiner, '198.51.100.7', 10)).outcome).toBe('busy')
    expect(o.verdicts.at(-1)?.verdict).toBe('busy')
    // Another source is not held up by the first.
    expect((await o.ask(request, joiner, '203.0.113.9', 20)).outcome).toBe('again')
  })

  it('refuses a key package that does not name its sender, and uses nothing', async () => {
    const o = await owned()
    const wrong = await new JoinAttempt(o.invitation, joiner).request(Uint8Array.of(0x33))
    expect((await o.ask(wrong)).outcome).toBe('bad-key-package')
    expect(o.verdicts).toEqual([{ verdict: 'refused' }])
    expect(o.admitted).toEqual([])
    expect(o.book.list(o.invitation.vlanId, NOW + 3)[0]?.usesLeft).toBe(1)
  })

  it('with no invitation in its book, drops a stranger’s request unanswered and still answers a peer it deals with', async () => {
    const o = await owned()
    const request = await new JoinAttempt(o.invitation, joiner).request(Uint8Array.of(0x22))
    o.book.forget(o.invitation.vlanId)
    expect((await o.ask(request)).outcome).toBe('closed')
    expect(o.verdicts).toEqual([])
    o.dealWithJoiner()
    expect((await o.ask(request)).outcome).toBe('refused')
  })

  it('drops a request too short to name a VLAN with no answer', async () => {
    const o = await owned()
    expect((await o.ask(Uint8Array.of(0x22, 2, 3))).outcome).toBe('dropped')
    expect(o.verdicts).toEqual([])
  })
})

describe('JoinDesk when something fails after the use is taken (§15.9)', () => {
  const request = (o: Awaited<ReturnType<typeof owned>>, kp = 0x22) =>
    new JoinAttempt(o.invitation, joiner).request(Uint8Array.of(kp))

  it('admits the joiner without an IPv4 address when the pool is full (§15.7)', async () => {
    const o = await owned({ cidr: '10.77.0.0/30' }) // two hosts
    o.pool.assign(toHex(other))
    const answer = await o.ask(await request(o))
    expect(answer.outcome).toBe('accepted')
    expect(answer.ipv4).toBeUndefined()
    expect(o.verdicts).toEqual([{ verdict: 'accepted' }])
    expect(o.admitted).toHaveLength(1)
    expect(o.book.list(o.invitation.vlanId, NOW)[0]?.usesLeft).toBe(0)
  })

  it('answers busy and gives back the use and the address when the book cannot be stored', async () => {
    const o = await owned()
    o.o.saveFails = true
    await expect(o.ask(await request(o))).rejects.toThrow('disk full')
    expect(o.verdicts).toEqual([{ verdict: 'busy' }])
    expect(o.admitted).toEqual([])
    expect(o.book.list(o.invitation.vlanId, NOW)[0]).toMatchObject({
      usesLeft: 1,
      state: 'live',
      joiners: [],
    })
    expect(o.pool.addressOf(toHex(joiner))).toBeUndefined()
    // The joiner's resend is a first request: accepted, not revoked.
    o.o.saveFails = false
    expect(await o.ask(await request(o), joiner, '198.51.100.7', 3000)).toMatchObject({
      outcome: 'accepted',
      ipv4: { address: '10.77.0.2' },
    })
    expect(o.admitted).toHaveLength(1)
  })

  it('gives back the use and the address, stored, when the admission fails; the resend is accepted', async () => {
    const o = await owned()
    o.o.admitFails = true
    await expect(o.ask(await request(o))).rejects.toThrow('commit failed')
    expect(o.verdicts).toEqual([{ verdict: 'accepted', ipv4: '10.77.0.2' }])
    expect(o.saves()).toBe(2) // the use taken, then given back
    expect(o.book.list(o.invitation.vlanId, NOW)[0]).toMatchObject({ usesLeft: 1, joiners: [] })
    expect(o.pool.addressOf(toHex(joiner))).toBeUndefined()
    o.o.admitFails = false
    expect((await o.ask(await request(o), joiner, '198.51.100.7', 3000)).outcome).toBe('accepted')
    expect(o.verdicts.at(-1)).toEqual({ verdict: 'accepted', ipv4: '10.77.0.2' })
    expect(o.admitted).toHaveLength(1)
  })

  it('answers a resend that arrives while the first is still being admitted busy, not revoked', async () => {
    const o = await owned()
    let release = () => {}
    o.o.hold = new Promise((resolve) => {
      release = resolve
    })
    const first = o.ask(await request(o))
    const second = await o.ask(await request(o), joiner, '198.51.100.7', 100)
    expect(second.outcome).toBe('busy')
    release()
    expect((await first).outcome).toBe('accepted')
    expect(o.verdicts.map((v) => v.verdict)).toEqual(['busy', 'accepted'])
  })

  it('lets a joiner whose admission never happened (the owner stopped before it) back with again', async () => {
    const o = await owned()
    // The book says it redeemed (written before a crash), but the node never admitted it.
    o.book.redeem({
      vlanId: o.invitation.vlanId,
      secret: o.invitation.secret,
      joiner,
      now: NOW + 5,
    })
    expect((await o.ask(await request(o))).outcome).toBe('again')
    expect(o.admitted).toHaveLength(1)
  })

  it('does not store anything for again when the book and the address are unchanged', async () => {
    const o = await owned()
    await o.ask(await request(o))
    expect(o.saves()).toBe(1)
    expect((await o.ask(await request(o), joiner, '198.51.100.7', 1000)).outcome).toBe('again')
    expect(o.saves()).toBe(1)
    expect(o.verdicts.at(-1)).toEqual({ verdict: 'accepted', ipv4: '10.77.0.2' })
  })
})

describe('JoinDesk and strangers (§15.5)', () => {
  it('answers refused to every guessed VLAN with a made-up secret: nothing says which VLANs the owner runs', async () => {
    const o = await owned()
    const guesses = [o.invitation.vlanId, new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)]
    for (const [i, vlanId] of guesses.entries()) {
      const payload = await sealJoinRequest({
        vlanId,
        ownerHpkeKey: o.keys.publicKey,
        owner,
        joiner: other,
        secret: new Uint8Array(16).fill(9),
        keyPackage: Uint8Array.of(0x33),
      })
      expect((await o.ask(payload, other, '203.0.113.5', i * 1000)).outcome).toBe('refused')
    }
    expect(o.verdicts).toEqual(guesses.map(() => ({ verdict: 'refused' })))
  })

  it('answers vlan-unknown only to the holder of a secret of that VLAN-ID', async () => {
    const o = await owned()
    o.o.owns = false
    const payload = await new JoinAttempt(o.invitation, joiner).request(Uint8Array.of(0x22))
    expect((await o.ask(payload)).outcome).toBe('vlan-unknown')
    expect(o.book.list(o.invitation.vlanId, NOW)[0]?.usesLeft).toBe(1)
  })

  it('prunes the book at most once a minute, not on every message', async () => {
    const o = await owned()
    const prune = vi.spyOn(o.book, 'prune')
    const payload = await new JoinAttempt(o.invitation, other).request(Uint8Array.of(0x33))
    for (let i = 0; i < 5; i++) await o.ask(payload, other, `203.0.113.${i}`, i * 1000)
    expect(prune).toHaveBeenCalledTimes(1)
    await o.ask(payload, other, '203.0.113.9', 61_000)
    expect(prune).toHaveBeenCalledTimes(2)
  })

  it('closes to strangers once its only invitation ended more than a day ago', async () => {
    const o = await owned()
    const payload = await new JoinAttempt(o.invitation, other).request(Uint8Array.of(0x33))
    // The code expires at NOW + 1 day and is kept a day more.
    expect((await o.ask(payload, other, '203.0.113.1', 2 * 86_400_000)).outcome).toBe('closed')
    expect(o.verdicts).toEqual([])
  })
})

describe('JoinAttempt (the joiner)', () => {
  it('takes only its owner’s verdict for its VLAN, and not busy as final', async () => {
    const o = await owned()
    const attempt = new JoinAttempt(o.invitation, joiner)
    const busy = Uint8Array.of(2, ...o.invitation.vlanId, 5, 0, 3)
    const refused = Uint8Array.of(2, ...o.invitation.vlanId, 1)
    expect(attempt.onVerdict(refused, other)).toBe('ignored')
    expect(attempt.onVerdict(busy, owner)).toBe('busy')
    expect(attempt.state).toBe('waiting')
    expect(attempt.onVerdict(Uint8Array.of(2, 1), owner)).toBe('malformed')
    expect(attempt.onVerdict(refused, owner)).toBe('taken')
    expect(attempt.state).toBe('refused')
    expect(attempt.message()).toMatch(/peertap vlan invite/)
  })

  it('names the relays of the code’s circuit addresses', () => {
    const relay = '/ip4/192.0.2.1/tcp/7400/p2p/12D3KooWRelay'
    const attempt = new JoinAttempt(
      {
        vlanId: new Uint8Array(32),
        name: 'lab',
        owner,
        ownerHpkeKey: new Uint8Array(32),
        addresses: [
          '/ip4/10.0.0.1/tcp/7400/p2p/12D3KooWOwner',
          `${relay}/p2p-circuit/p2p/12D3KooWOwner`,
        ],
        secret: new Uint8Array(16),
        expiresAt: NOW,
        ticket: new Uint8Array(0),
      },
      joiner,
    )
    expect(attempt.circuits()).toEqual([`${relay}/p2p-circuit/p2p/12D3KooWOwner`])
    expect(attempt.relays()).toEqual([relay])
  })
})
