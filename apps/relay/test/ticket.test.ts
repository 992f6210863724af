/**
 * Relay tickets from the stranger's side (spec 12-relay.md §12.8.2), in one
 * process on 127.0.0.1: a real `startRelay` daemon R that admits owner O and
 * another peer P (both hold a reservation at R), and a stranger S that R
 * knows nothing of. S's circuit to O is refused without a ticket, and with a
 * forged one; a ticket S signed naming itself as owner is refused for an
 * owner R does not admit, with no signature checked; once S sent O's ticket
 * on its link to R (CONTROL 10), the circuit to O opens, and one to P stays
 * refused.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { createLogger } from '@peertap/daemon'
import { base58btc, signRelayTicket } from '@peertap/relay'
import { createTrunk, loadOrCreateIdentity, sendRelayTicket, type Trunk } from '@peertap/trunk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRelayConfig } from '../src/config.ts'
import { type RunningRelay, startRelay } from '../src/relay.ts'
import { until } from './wait.ts'

const PORT = 30_000 + Math.floor(Math.random() * 20_000)

interface Status {
  circuit: {
    refusals: number
    tickets: {
      accepted: number
      signatureChecks: number
      refused: Record<string, number>
      circuits: number
      grants: number
    }
  }
}

describe('relay tickets: a circuit for an invitee (spec 12 §12.8.2)', () => {
  let dir: string
  let relay: RunningRelay
  const ids: Record<string, string> = {}
  const trunks: Trunk[] = []
  let address: string
  let stranger: Trunk
  let ownerKey: Awaited<ReturnType<typeof loadOrCreateIdentity>>
  let otherKey: Awaited<ReturnType<typeof loadOrCreateIdentity>>

  const status = async (): Promise<Status> => {
    const control = JSON.parse(await readFile(join(dir, 'r', 'control.json'), 'utf8'))
    const res = await fetch(`http://127.0.0.1:${control.port}/status`, {
      headers: { authorization: `Bearer ${control.token}` },
    })
    return (await res.json()) as Status
  }
  const circuitTo = (name: string) => `${address}/p2p-circuit/p2p/${ids[name]}`
  const ticketOf = (key: typeof ownerKey, notAfter = Math.floor(Date.now() / 1000) + 600) =>
    signRelayTicket({
      ownerPeerId: peerIdFromPrivateKey(key).toMultihash().bytes,
      privateKey: key.raw,
      notAfter,
    })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peertap-relay-ticket-'))
    for (const n of ['r', 'o', 'p', 's'])
      ids[n] = peerIdFromPrivateKey(await loadOrCreateIdentity(join(dir, n))).toString()
    ownerKey = await loadOrCreateIdentity(join(dir, 'o'))
    otherKey = await loadOrCreateIdentity(join(dir, 'p'))
    address = `/ip4/127.0.0.1/tcp/${PORT}/p2p/${ids.r}`
    const config = parseRelayConfig({
      stateDir: join(dir, 'r'),
      listen: [`/ip4/127.0.0.1/tcp/${PORT}`],
      // O and P are admitted (so they may reserve); S is a stranger.
      admission: { requireProofs: false, allow: [ids.o!, ids.p!] },
      datagram: { enabled: false },
      status: { port: 0 },
    })
    relay = await startRelay(config, createLogger('error'))
    const trunk = async (name: string, listen: string[]) => {
      const t = await createTrunk({
        stateDir: join(dir, name),
        listen,
        transports: ['tcp'],
        capabilities: 0,
        role: 'node',
      })
      trunks.push(t)
      await t.start()
      return t
    }
    // O and P hold a reservation at R (they listen on its circuit address).
    for (const name of ['o', 'p']) {
      const t = await trunk(name, [`${address}/p2p-circuit`])
      await until(`${name}'s reservation`, 10_000, async () =>
        t.getMultiaddrs().some((m) => m.toString().includes('/p2p-circuit')) ? true : undefined,
      )
    }
    stranger = await trunk('s', [])
  }, 30_000)
  afterAll(async () => {
    for (const t of trunks) await t.stop().catch(() => {})
    await relay?.stop().catch(() => {})
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('reads the owner from the ticket as libp2p writes its PeerId', () => {
    expect(base58btc(peerIdFromString(ids.o!).toMultihash().bytes)).toBe(ids.o)
    expect(ownerKey.raw.length).toBe(64)
  })

  it('refuses the stranger a circuit without a ticket and with a forged one; opens it to the owner alone with one', async () => {
    const toRelay = await stranger.dial(address)
    await expect(stranger.dial(circuitTo('o'))).rejects.toThrow()
    const refusalsBefore = (await status()).circuit.refusals
    expect(refusalsBefore).toBeGreaterThan(0)

    // A ticket P signed, with O's PeerId put in its place: the signature fails.
    const forged = ticketOf(otherKey)
    forged.set(peerIdFromPrivateKey(ownerKey).toMultihash().bytes, 2)
    expect(sendRelayTicket(toRelay, forged)).toBe(true)
    // An expired ticket of O's.
    expect(sendRelayTicket(toRelay, ticketOf(ownerKey, Math.floor(Date.now() / 1000) - 10))).toBe(
      true,
    )
    await until('the refusals counted', 5000, async () => {
      const s = await status()
      return s.circuit.tickets.refused['bad-signature'] === 1 &&
        s.circuit.tickets.refused.expired === 1
        ? true
        : undefined
    })
    await expect(stranger.dial(circuitTo('o'))).rejects.toThrow()
    // Refused by R's circuit gate (not lost on the way): counted there.
    const refusalsForged = (await status()).circuit.refusals
    expect(refusalsForged).toBeGreaterThan(refusalsBefore)

    // S's own ticket, signed by S and naming S as owner, many times over: R
    // does not admit S, so each is refused before any budget or signature
    // (a flood of them cannot spend the relay's signature budget or its grants).
    const checksBefore = (await status()).circuit.tickets.signatureChecks
    const strangerKey = await loadOrCreateIdentity(join(dir, 's'))
    for (let i = 0; i < 20; i++) expect(sendRelayTicket(toRelay, ticketOf(strangerKey))).toBe(true)
    await until('the self-signed tickets refused', 5000, async () =>
      (await status()).circuit.tickets.refused['owner-not-admitted'] === 20 ? true : undefined,
    )
    const selfSigned = (await status()).circuit.tickets
    expect(selfSigned.signatureChecks).toBe(checksBefore)
    expect(selfSigned.refused.rate).toBe(0)
    expect(selfSigned.accepted).toBe(0)
    expect(selfSigned.grants).toBe(0)

    expect(sendRelayTicket(toRelay, ticketOf(ownerKey))).toBe(true)
    await until('the ticket taken', 5000, async () =>
      (await status()).circuit.tickets.accepted === 1 ? true : undefined,
    )
    const link = await stranger.dial(circuitTo('o'))
    expect(link.relayed).toBe(true)
    expect(link.id).toBe(ids.o)
    const pong = await link.ping({ timeoutMs: 5000 })
    expect(pong.rttMs).toBeGreaterThanOrEqual(0)

    // Another reserved, admitted peer stays out of reach.
    await expect(stranger.dial(circuitTo('p'))).rejects.toThrow()
    const after = await status()
    expect(after.circuit.tickets.circuits).toBe(1)
    expect(after.circuit.tickets.grants).toBe(1)
    expect(after.circuit.refusals).toBeGreaterThan(refusalsForged)
  }, 30_000)
})
