/**
 * Fabric roots and presence from the stranger's side (spec 12-relay.md
 * §12.4, §12.9), in one process on 127.0.0.1: a real `startRelay` daemon R
 * configured with a fabric's root key and a neighbour relay R2 (the same
 * root), and peers that R knows nothing of but what they present. A peer
 * without a statement or a credential gets nothing and its SUBs are
 * refused; forged, unknown-root and older statements change nothing; a
 * valid statement and a proof under its credential key admit the peer, and
 * it gets R's presence, signed with R's PeerId; a newer statement (a
 * rotation) ends the old key's admissions and reaches R2; a restarted R
 * keeps the newest epoch; `peertap-relay fabric add|remove|list` edit the
 * state directory and the running relay takes the change at once.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMembershipProof } from '@peertap/crypto'
import { createLogger } from '@peertap/daemon'
import {
  decodePresence,
  decodePresenceBatch,
  fabricKeys,
  rootKeyOf,
  signFabricEpoch,
  verifyPresence,
} from '@peertap/mvlan'
import {
  CONTROL_FABRIC_EPOCH,
  CONTROL_PRESENCE,
  createTrunk,
  type Link,
  loadOrCreateIdentity,
  type Trunk,
} from '@peertap/trunk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRelayConfig, type RelayConfig } from '../src/config.ts'
import { type RunningRelay, startRelay } from '../src/relay.ts'
import { sleep, until } from './wait.ts'

const run = promisify(execFile)
const CLI = new URL('../src/cli.ts', import.meta.url).pathname
const PORT = 30_000 + Math.floor(Math.random() * 20_000)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const nowSeconds = () => Math.floor(Date.now() / 1000)

const rootSeed = randomBytes(32)
const ROOT = hex(rootKeyOf(rootSeed))
const otherRootSeed = randomBytes(32)
const OTHER_ROOT = hex(rootKeyOf(otherRootSeed))
const secrets = [randomBytes(32), randomBytes(32)]
const keys = secrets.map((s) => fabricKeys(s))
const vft = randomBytes(16)

const statement = (epoch: number, k = keys[epoch - 1]!, seed = rootSeed) =>
  signFabricEpoch({ rootSeed: seed, epoch, credentialKey: k.credentialKey, issuedAt: nowSeconds() })

interface FabricRootStatus {
  rootKey: string
  source: string
  epoch: number | null
  credentialKey: string | null
}
interface Status {
  neighbours: { id: string; admitted: boolean }[]
  table: { subscriptionDrops: Record<string, number> }
  relay: { credentialsAccepted: number; credentialsRetired: number }
  fabric: {
    roots: FabricRootStatus[]
    credentialAdmissions: number
    epochs: {
      accepted: number
      rotations: number
      signatureChecks: number
      refused: Record<string, number>
      passedOn: number
    }
    presence: { relays: string[]; batchesSent: number; signed: number }
  }
}

/** A test peer: its trunk, and every CONTROL message it received, by channel. */
interface Peer {
  name: string
  trunk: Trunk
  peerId: string
  peerIdBytes: Uint8Array
  received: Map<number, Uint8Array[]>
  /** SUBs and UNSUBs received. */
  subs: number
  link?: Link
}

describe('fabric roots and presence at a relay (spec 12 §12.4, §12.9)', () => {
  let dir: string
  let relay: RunningRelay | undefined
  let relay2: RunningRelay | undefined
  let config: RelayConfig
  const ids: Record<string, string> = {}
  const peers: Peer[] = []
  let address: string

  const status = async (name = 'r'): Promise<Status> => {
    const control = JSON.parse(await readFile(join(dir, name, 'control.json'), 'utf8'))
    const res = await fetch(`http://127.0.0.1:${control.port}/status`, {
      headers: { authorization: `Bearer ${control.token}` },
    })
    return (await res.json()) as Status
  }
  const cli = async (...args: string[]) =>
    run(process.execPath, ['--conditions=peertap:source', CLI, ...args]).catch(
      (e: { stdout: string; stderr: string; code: number }) => e,
    ) as Promise<{ stdout: string; stderr: string; code?: number }>
  const neighbour = (s: Status, id: string) => s.neighbours.find((n) => n.id === id)
  const rootOf = (s: Status, root = ROOT) => s.fabric.roots.find((r) => r.rootKey === root)

  async function peer(name: string): Promise<Peer> {
    const trunk = await createTrunk({
      stateDir: join(dir, name),
      listen: [],
      transports: ['tcp'],
      capabilities: 0,
      role: 'node',
    })
    const p: Peer = {
      name,
      trunk,
      peerId: trunk.peerId.toString(),
      peerIdBytes: trunk.peerId.toMultihash().bytes,
      received: new Map(),
      subs: 0,
    }
    trunk.setReceiver({
      onSubscription: () => {
        p.subs++
      },
      onControl: (control) => {
        const list = p.received.get(control.channel) ?? []
        list.push(Uint8Array.from(control.payload))
        p.received.set(control.channel, list)
      },
    })
    await trunk.start()
    peers.push(p)
    return p
  }
  const dial = async (p: Peer) => {
    p.link = await p.trunk.dial(address)
    return p.link
  }
  /** A SUB for one VFT with a proof under the seed given (a fabric credential when it is one). */
  const subscribe = (p: Peer, authSeed: Uint8Array) => {
    // A proof expires with its window (spec 07 §4): the next window's when this one ends soon.
    const now = nowSeconds()
    const window = Math.floor(now / 600) + (now % 600 > 480 ? 1 : 0)
    const proof = createMembershipProof({
      authSeed,
      peerId: p.peerIdBytes,
      expiry: (window + 1) * 600,
      window,
      vfts: [vft],
    })
    expect(p.link!.sendSubscription({ ttl: 180, entries: [{ vft, flags: 3 }], proof })).toBe(true)
  }
  const sendEpoch = (p: Peer, bytes: Uint8Array) =>
    expect(p.link!.sendControl({ channel: CONTROL_FABRIC_EPOCH, payload: bytes })).toBe(true)
  const presenceOf = (p: Peer) => p.received.get(CONTROL_PRESENCE) ?? []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peertap-relay-fabric-'))
    for (const n of ['r', 'r2'])
      ids[n] = peerIdFromPrivateKey(await loadOrCreateIdentity(join(dir, n))).toString()
    address = `/ip4/127.0.0.1/tcp/${PORT}/p2p/${ids.r}`
    config = parseRelayConfig({
      stateDir: join(dir, 'r'),
      listen: [`/ip4/127.0.0.1/tcp/${PORT}`],
      peers: [`/ip4/127.0.0.1/tcp/${PORT + 1}/p2p/${ids.r2}`],
      admission: { fabricKeys: [ROOT.toUpperCase()], relays: [ids.r2!] },
      datagram: { enabled: false },
      status: { port: 0 },
    })
    relay = await startRelay(config, createLogger('error'))
    relay2 = await startRelay(
      parseRelayConfig({
        stateDir: join(dir, 'r2'),
        listen: [`/ip4/127.0.0.1/tcp/${PORT + 1}`],
        admission: { fabricKeys: [ROOT], relays: [ids.r!] },
        datagram: { enabled: false },
        status: { port: 0 },
      }),
      createLogger('error'),
    )
    // R holds R2's presence before any peer is admitted.
    await until("R2's presence at R", 10_000, async () =>
      (await status()).fabric.presence.relays.includes(ids.r2!) ? true : undefined,
    )
  }, 30_000)
  afterAll(async () => {
    for (const p of peers) await p.trunk.stop().catch(() => {})
    await relay?.stop().catch(() => {})
    await relay2?.stop().catch(() => {})
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('gives a stranger nothing: no statement, forged, unknown-root statements change nothing', async () => {
    const s = await peer('s')
    await dial(s)
    // A proof under the fabric's credential key, but R holds no statement yet.
    subscribe(s, keys[0]!.credentialSeed)
    await until('the SUB refused', 5000, async () =>
      ((await status()).table.subscriptionDrops['sub-not-admitted'] ?? 0) >= 1 ? true : undefined,
    )
    const forged = statement(1)
    forged[60]! ^= 1
    sendEpoch(s, forged)
    sendEpoch(s, statement(1, keys[0], otherRootSeed))
    sendEpoch(s, new Uint8Array(20))
    await until('the statements refused', 5000, async () => {
      const refused = (await status()).fabric.epochs.refused
      return refused['bad-signature'] === 1 &&
        refused['unknown-root'] === 1 &&
        refused.malformed === 1
        ? true
        : undefined
    })
    subscribe(s, keys[0]!.credentialSeed)
    await sleep(300)
    const after = await status()
    expect(neighbour(after, s.peerId)?.admitted).toBe(false)
    expect(rootOf(after)).toMatchObject({ epoch: null, credentialKey: null, source: 'config' })
    expect(after.fabric.epochs.signatureChecks).toBe(1)
    expect(after.fabric.credentialAdmissions).toBe(0)
    expect(presenceOf(s)).toEqual([])
  }, 20_000)

  it("admits a peer with a statement and a credential; it gets R's presence, signed by R", async () => {
    const m1 = await peer('m1')
    await dial(m1)
    sendEpoch(m1, statement(1))
    await until('epoch 1 held', 5000, async () =>
      rootOf(await status())?.epoch === 1 ? true : undefined,
    )
    subscribe(m1, keys[0]!.credentialSeed)
    const batch = await until('presence at m1', 5000, async () => presenceOf(m1)[0])
    const records = decodePresenceBatch(batch)!.map((b) => {
      const d = decodePresence(b)
      if (!d.ok) throw new Error(d.reason)
      return d.record
    })
    const own = records[0]!
    expect(own.role).toBe('relay')
    expect(hex(own.peerId)).toBe(
      hex(peerIdFromPrivateKey(await loadOrCreateIdentity(join(dir, 'r'))).toMultihash().bytes),
    )
    expect(verifyPresence(own)).toBe(true)
    expect(own.expiresAt - own.issuedAt).toBe(900)
    expect(own.vlans).toEqual([])
    expect(own.addresses.some((a) => a.includes(`/tcp/${PORT}`))).toBe(true)
    // R2's record, passed on: a relay, verified.
    expect(records.slice(1).map((r) => r.role)).toEqual(['relay'])
    expect(records.every((r) => verifyPresence(r))).toBe(true)
    const s = await status()
    expect(neighbour(s, m1.peerId)?.admitted).toBe(true)
    expect(rootOf(s)?.credentialKey).toBe(hex(keys[0]!.credentialKey))
    expect(s.fabric.credentialAdmissions).toBe(1)
    // The stranger still got nothing.
    expect(presenceOf(peers.find((p) => p.name === 's')!)).toEqual([])
    // R passed the statement on to R2.
    await until('epoch 1 at R2', 5000, async () =>
      rootOf(await status('r2'))?.epoch === 1 ? true : undefined,
    )
  }, 20_000)

  it('a rotation ends the old key at once; the new key admits; older statements are stale', async () => {
    const m1 = peers.find((p) => p.name === 'm1')!
    const m2 = await peer('m2')
    await dial(m2)
    sendEpoch(m2, statement(2))
    await until('m1 out', 5000, async () => {
      const s = await status()
      return rootOf(s)?.epoch === 2 && neighbour(s, m1.peerId)?.admitted === false ? s : undefined
    })
    subscribe(m2, keys[1]!.credentialSeed)
    // m1 goes on proving under the old key: refused.
    subscribe(m1, keys[0]!.credentialSeed)
    await until('m2 in', 5000, async () =>
      neighbour(await status(), m2.peerId)?.admitted === true ? true : undefined,
    )
    const checks = (await status()).fabric.epochs.signatureChecks
    sendEpoch(m1, statement(1))
    sendEpoch(m1, statement(2))
    await until('the old statements stale', 5000, async () =>
      ((await status()).fabric.epochs.refused.stale ?? 0) >= 2 ? true : undefined,
    )
    const s = await status()
    expect(neighbour(s, m1.peerId)?.admitted).toBe(false)
    expect(s.fabric.epochs.signatureChecks).toBe(checks)
    expect(s.relay.credentialsRetired).toBe(1)
    expect(s.fabric.epochs.rotations).toBe(1)
    expect(presenceOf(m2)).toHaveLength(1)
    const control = JSON.parse(await readFile(join(dir, 'r', 'control.json'), 'utf8'))
    const metrics = await (
      await fetch(`http://127.0.0.1:${control.port}/metrics`, {
        headers: { authorization: `Bearer ${control.token}` },
      })
    ).text()
    expect(metrics).toMatch(/^peertap_relay_fabric_epochs_rotations 1$/m)
    expect(metrics).toMatch(/^peertap_relay_fabric_credential_admissions 1$/m)
    expect(metrics).toMatch(/^peertap_relay_presence_batches_sent \d+$/m)
    // The stranger, there all along, got no SUB and no CONTROL message at all.
    const stranger = peers.find((p) => p.name === 's')!
    expect(stranger.subs).toBe(0)
    expect([...stranger.received.keys()]).toEqual([])
    await until('epoch 2 at R2', 5000, async () =>
      rootOf(await status('r2'))?.epoch === 2 ? true : undefined,
    )
  }, 20_000)

  it('a restarted relay keeps the newest epoch: an old statement does not admit', async () => {
    // R2 down first, so that nothing hands R epoch 2 again but its own store.
    await relay2!.stop()
    relay2 = undefined
    await relay!.stop()
    relay = await startRelay(config, createLogger('error'))
    expect(rootOf(await status())).toMatchObject({
      epoch: 2,
      credentialKey: hex(keys[1]!.credentialKey),
    })
    const m3 = await peer('m3')
    await dial(m3)
    sendEpoch(m3, statement(1))
    subscribe(m3, keys[0]!.credentialSeed)
    await until('the old statement stale', 5000, async () =>
      (await status()).fabric.epochs.refused.stale === 1 ? true : undefined,
    )
    await sleep(300)
    expect(neighbour(await status(), m3.peerId)?.admitted).toBe(false)
    subscribe(m3, keys[1]!.credentialSeed)
    await until('m3 in under the new key', 5000, async () =>
      neighbour(await status(), m3.peerId)?.admitted === true ? true : undefined,
    )
  }, 30_000)

  it('fabric add|remove|list: the running relay takes the change at once', async () => {
    const stateDir = join(dir, 'r')
    const bad = await cli('fabric', 'add', 'abc', '-s', stateDir)
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain(
      'a fabric key is 64 hex digits, as `peertap fabric show` prints it',
    )
    const notAdded = await cli('fabric', 'remove', ROOT, '-s', stateDir)
    expect(notAdded.code).toBe(1)
    expect(notAdded.stderr).toContain('admission.fabricKeys')

    const added = await cli('fabric', 'add', OTHER_ROOT, '-s', stateDir)
    expect(added.stdout).toContain(`added fabric root ${OTHER_ROOT}; the running relay`)
    expect(added.stdout).toContain("once a member presents the fabric's epoch statement")
    const other = fabricKeys(randomBytes(32))
    const m4 = await peer('m4')
    await dial(m4)
    sendEpoch(m4, statement(7, other, otherRootSeed))
    subscribe(m4, other.credentialSeed)
    await until('m4 in under the added root', 5000, async () =>
      neighbour(await status(), m4.peerId)?.admitted === true ? true : undefined,
    )
    const listed = JSON.parse((await cli('fabric', 'list', '-s', stateDir, '--json')).stdout)
    expect(listed.running).toBe(true)
    expect(listed.roots).toHaveLength(2)
    const listedRoot = (key: string) =>
      listed.roots.find((r: FabricRootStatus) => r.rootKey === key)
    expect(listedRoot(ROOT)).toMatchObject({ source: 'config', epoch: 2 })
    expect(listedRoot(OTHER_ROOT)).toMatchObject({
      source: 'state',
      epoch: 7,
      credentialKey: hex(other.credentialKey),
    })

    const removed = await cli('fabric', 'remove', OTHER_ROOT, '-s', stateDir)
    expect(removed.stdout).toContain('no longer admits under it')
    const s = await status()
    expect(neighbour(s, m4.peerId)?.admitted).toBe(false)
    expect(s.fabric.roots.map((r) => r.rootKey)).toEqual([ROOT])

    // With no relay running, the file is still edited, for the next start.
    await relay!.stop()
    relay = undefined
    const offline = await cli('fabric', 'add', OTHER_ROOT, '-s', stateDir)
    expect(offline.stdout).toContain(
      'no relay runs on this state directory: it applies at its next start',
    )
    const text = (await cli('fabric', 'list', '-s', stateDir)).stdout
    expect(text).toContain(
      `${OTHER_ROOT}  state   epoch 7  credential key ${hex(other.credentialKey)}`,
    )
  }, 40_000)
})
