import { deriveHpkeKeyPair } from '@peertap/crypto'
import { describe, expect, it } from 'vitest'
import {
  decodeJoinVerdict,
  InvitationBook,
  Ipv4Pool,
  issueInvitation,
  JoinAttempt,
  JoinDesk,
  type JoinDeskPorts,
  JoinDoor,
  type JoinVerdictName,
} from '../src/index.ts'
import { ed25519Peer, toHex } from './helpers.ts'

const owner = ed25519Peer(0x11)
const joiner = ed25519Peer(0x22)
const other = ed25519Peer(0x33)
const NOW = 1_800_000_000

/** An owner with one VLAN ("lab", a /29 pool), a desk, and what it did. */
async function owned(options: { uses?: number; door?: JoinDoor } = {}) {
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
  const pool = Ipv4Pool.parse('10.77.0.0/29')
  pool.assign(toHex(owner))
  const verdicts: Array<{ verdict: JoinVerdictName; ipv4?: string }> = []
  const admitted: Array<{ vlan: string; keyPackage: number[] }> = []
  let saves = 0
  const o = { dealt: false, removed: false }
  const ports: JoinDeskPorts = {
    dealsWith: (from) => toHex(from) === toHex(joiner) && o.dealt,
    stillAdmits: () => !o.removed,
    // A stand-in for MLS's check: here a key package "names" its sender when its first byte is 0x22.
    checkKeyPackage: async (keyPackage, from) => keyPackage[0] === from[6],
    ownedVlan: (vlanId) => (toHex(vlanId) === toHex(invitation.vlanId) ? 'lab' : undefined),
    pool: async () => pool,
    save: async () => {
      saves++
    },
    admit: async (vlan, keyPackage) => {
      admitted.push({ vlan, keyPackage: [...keyPackage] })
    },
    reply: (payload) => {
      const decoded = decodeJoinVerdict(payload)
      if (!decoded.ok) throw new Error(decoded.reason)
      const { verdict, ipv4 } = decoded.verdict
      verdicts.push({ verdict, ...(ipv4 === undefined ? {} : { ipv4: ipv4.address }) })
    },
  }
  const door = options.door ?? new JoinDoor()
  const desk = new JoinDesk({ book, door, owner, hpkePrivateKey: keys.privateKey })
  const ask = (payload: Uint8Array, from = joiner, source = '198.51.100.7', at = 0) =>
    desk.answer({ payload, from, source, nowMs: at, nowSeconds: NOW + 10 + at / 1000 }, ports)
  return {
    invitation,
    book,
    verdicts,
    admitted,
    ask,
    saves: () => saves,
    door,
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

  it('does not let a member the owner removed back in with its old code', async () => {
    const o = await owned({ uses: 2 })
    const request = await new JoinAttempt(o.invitation, joiner).request(Uint8Array.of(0x22))
    expect((await o.ask(request)).outcome).toBe('accepted')
    o.removeJoiner()
    const again = await new JoinAttempt(o.invitation, joiner).request(Uint8Array.of(0x22, 1))
    expect((await o.ask(again, joiner, '198.51.100.7', 1000)).outcome).toBe('revoked')
    expect(o.verdicts.at(-1)).toEqual({ verdict: 'revoked' })
    expect(o.admitted).toHaveLength(1)
  })

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
