import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import type { Control, Link, Trunk } from '../src/index.ts'
import { startTrunk, until } from './helpers.ts'

interface TransportManager {
  getListeners(): unknown[]
}

/** A relay on 127.0.0.1 with the circuit-relay-v2 server, admitting `admits`. */
async function startRelay(nodes: Trunk[], admits: (peer: string) => boolean): Promise<Trunk> {
  return startTrunk('tcp', { role: 'relay', circuitRelayServer: { admits } }, nodes)
}

function tcpAddress(t: Trunk): string {
  const ma = t.getMultiaddrs().find((m) => m.toString().includes('/tcp/'))
  if (ma === undefined) throw new Error('no TCP address')
  return ma.toString()
}

/** A node that reserves a slot at the relay (listens on its circuit address). */
async function startBehind(relay: Trunk, nodes: Trunk[]): Promise<Trunk> {
  return startTrunk('tcp', { listen: [`${tcpAddress(relay)}/p2p-circuit`] }, nodes)
}

describe('trunk links through a circuit-relay-v2 relay (spec 08 §5.5)', () => {
  const nodes: Trunk[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
  })

  it('opens a control link to a peer reachable only through the relay: CONTROL and PING cross it', async () => {
    const relay = await startRelay(nodes, () => true)
    const b = await startBehind(relay, nodes)
    await until(
      () => b.getMultiaddrs().some((m) => m.toString().includes('/p2p-circuit')),
      10_000,
      'the reservation',
    )
    const a = await startTrunk('tcp', {}, nodes)
    const got: Array<{ control: Control; link: Link }> = []
    b.setReceiver({ onControl: (control, link) => got.push({ control, link }) })
    const link = await a.dial(`${tcpAddress(relay)}/p2p-circuit/p2p/${b.peerId.toString()}`)
    expect(link.relayed).toBe(true)
    expect(link.id).toBe(b.peerId.toString())
    expect(link.sendControl({ channel: 1, payload: new Uint8Array([1, 2, 3]) })).toBe(true)
    await until(() => got.length === 1, 5000, 'the CONTROL message at B')
    expect([...got[0]!.control.payload]).toEqual([1, 2, 3])
    expect(got[0]!.link.relayed).toBe(true)
    expect(got[0]!.link.id).toBe(a.peerId.toString())
    const pong = await link.ping({ timeoutMs: 5000 })
    expect(pong.rttMs).toBeGreaterThanOrEqual(0)
    // Its source, for per-source limits, is the relay it came through, not an IP.
    expect(b.protocol.sourceOf(a.peerId.toString())).toBe(`via ${relay.peerId.toString()}`)
    // A direct link is not marked relayed, and its source is the IP it came from.
    const direct = await a.dial(tcpAddress(relay))
    expect(direct.relayed).toBe(false)
    await until(() => relay.getLink(a.peerId.toString()) !== undefined, 5000, 'the link at R')
    expect(relay.protocol.sourceOf(a.peerId.toString())).toBe('127.0.0.1')
    expect(relay.protocol.sourceOf(`${b.peerId.toString()}x`)).toBeUndefined()
  })

  it('refuses a reservation from a peer the relay does not admit, and circuits to it', async () => {
    const key = await generateKeyPair('Ed25519')
    const refused = peerIdFromPrivateKey(key).toString()
    const relay = await startRelay(nodes, (peer) => peer !== refused)
    // B is not admitted: its reservation is refused, so nobody reaches it through the relay.
    const b = await startTrunk(
      'tcp',
      { privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0', `${tcpAddress(relay)}/p2p-circuit`] },
      nodes,
    )
    expect(b.getMultiaddrs().some((m) => m.toString().includes('/p2p-circuit'))).toBe(false)
    expect(b.reservations()).toMatchObject([{ reserved: false, made: 0, failures: 1 }])
    // Tried again every 2 s, without piling up libp2p listeners.
    await until(() => b.reservations()[0]!.failures >= 3, 10_000, 'retries')
    const tm = (b.libp2p as unknown as { components: { transportManager: TransportManager } })
      .components.transportManager
    expect(tm.getListeners().length).toBe(1)
    const a = await startTrunk('tcp', {}, nodes)
    await expect(
      a.dial(`${tcpAddress(relay)}/p2p-circuit/p2p/${refused}`, {
        signal: AbortSignal.timeout(5000),
      }),
    ).rejects.toThrow(/cannot open a trunk stream/)
    // An admitted peer reserves at the same relay.
    const c = await startBehind(relay, nodes)
    await until(
      () => c.getMultiaddrs().some((m) => m.toString().includes('/p2p-circuit')),
      10_000,
      'the admitted reservation',
    )
    expect(c.reservations()).toMatchObject([{ reserved: true, made: 1, failures: 0 }])
  })

  it("does not count connections through a relay against the relay's address (spec 08 §9)", async () => {
    const relay = await startRelay(nodes, () => true)
    // B admits one connection per source address, and reserves a slot at the relay.
    const b = await startTrunk(
      'tcp',
      {
        listen: ['/ip4/127.0.0.1/tcp/0', `${tcpAddress(relay)}/p2p-circuit`],
        maxConnectionsPerAddress: 1,
      },
      nodes,
    )
    await until(() => b.reservations()[0]!.reserved, 10_000, 'the reservation')
    const direct = b.getMultiaddrs().find((m) => !m.toString().includes('/p2p-circuit'))!
    // One direct connection from 127.0.0.1 fills B's cap for that address...
    await (await startTrunk('tcp', {}, nodes)).dial(direct)
    expect(b.protocol.counters.inbound).toMatchObject({ open: 1, refused: 0 })
    // ...and two peers still reach B through the relay (also at 127.0.0.1).
    for (let i = 0; i < 2; i++) {
      const a = await startTrunk('tcp', {}, nodes)
      const link = await a.dial(`${tcpAddress(relay)}/p2p-circuit/p2p/${b.peerId.toString()}`)
      expect(link.relayed).toBe(true)
    }
    await until(() => b.links().length === 3, 5000, 'three links at B')
    expect(b.protocol.counters.inbound).toMatchObject({ open: 1, refused: 0 })
  })

  it('makes its reservation again when the relay comes back', async () => {
    const relayKey = await generateKeyPair('Ed25519')
    const relay = await startTrunk(
      'tcp',
      { role: 'relay', privateKey: relayKey, circuitRelayServer: { admits: () => true } },
      nodes,
    )
    const address = tcpAddress(relay)
    const b = await startBehind(relay, nodes)
    await until(() => b.reservations()[0]!.reserved, 10_000, 'the reservation')
    await relay.stop()
    nodes.splice(nodes.indexOf(relay), 1)
    await until(() => !b.reservations()[0]!.reserved, 10_000, 'the reservation lost')
    // The same relay, same address, back after a while: B reserves again, and A reaches B.
    const port = Number(address.split('/')[4])
    const again = await startTrunk(
      'tcp',
      {
        role: 'relay',
        privateKey: relayKey,
        listen: [`/ip4/127.0.0.1/tcp/${port}`],
        circuitRelayServer: { admits: () => true },
      },
      nodes,
    )
    await until(() => b.reservations()[0]!.reserved, 10_000, 'the reservation made again')
    expect(b.reservations()[0]!.made).toBe(2)
    const a = await startTrunk('tcp', {}, nodes)
    const link = await a.dial(`${tcpAddress(again)}/p2p-circuit/p2p/${b.peerId.toString()}`)
    expect(link.relayed).toBe(true)
  })

  it('takes the address a configured relay observes as a reflexive datagram candidate, and ignores other observers', async () => {
    const relay = await startRelay(nodes, () => true)
    const other = await startTrunk('tcp', {}, nodes)
    // A peer whose HELLO claims the relay role, but which a's config does not name.
    const claimer = await startTrunk('tcp', { role: 'relay' }, nodes)
    const trusted = relay.peerId.toString()
    const a = await startTrunk(
      'tcp',
      { datagram: true, trustedRelays: (peer) => peer === trusted },
      nodes,
    )
    expect(a.protocol.reflexiveAddresses()).toEqual([])
    // A node's observation is no reflexive address, nor is an unconfigured relay's; a configured relay's is.
    await a.dial(tcpAddress(other))
    await a.dial(tcpAddress(claimer))
    await new Promise((r) => setTimeout(r, 300))
    expect(a.protocol.reflexiveAddresses()).toEqual([])
    a.protocol.noteObservedAddress(claimer.peerId.toString(), '192.0.2.98')
    expect(a.protocol.reflexiveAddresses()).toEqual([])
    await a.dial(tcpAddress(relay))
    await until(() => a.protocol.reflexiveAddresses().length === 1, 5000, 'the reflexive address')
    expect(a.protocol.reflexiveAddresses()).toEqual(['127.0.0.1'])
    // A peer cannot plant one by claiming it saw us elsewhere unless its HELLO says relay.
    a.protocol.noteObservedAddress(other.peerId.toString(), '192.0.2.99')
    expect(a.protocol.reflexiveAddresses()).toEqual(['127.0.0.1'])
    a.protocol.noteObservedAddress(relay.peerId.toString(), '192.0.2.7')
    expect(a.protocol.reflexiveAddresses()).toEqual(['192.0.2.7'])
  })
})
