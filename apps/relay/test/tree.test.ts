/**
 * The spanning tree in the relay app, in one process on 127.0.0.1 (no
 * namespaces, no root): three real `startRelay` daemons linked in a
 * triangle, two trunk peers standing in for nodes A (on R) and B (on S),
 * and a configured neighbour relay H that sends hostile tree messages.
 * Proofs are off, so the stand-in nodes need no VLAN. The namespace test
 * with real nodes is in relay.e2e.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createLogger } from '@peertap/daemon'
import { CAP_SPANNING_TREE, encodeTreeMessage } from '@peertap/relay'
import {
  CONTROL_SPANNING_TREE,
  createTrunk,
  type Link,
  loadOrCreateIdentity,
  type Trunk,
} from '@peertap/trunk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRelayConfig } from '../src/config.ts'
import { type RunningRelay, startRelay } from '../src/relay.ts'
import { sleep, until } from './wait.ts'

const BASE = 30_000 + Math.floor(Math.random() * 20_000)

interface Status {
  tree: {
    root: string
    isRoot: boolean
    parent: string | null
    treeLinks: string[]
    blockedLinks: string[]
    counters: {
      drops: Record<string, number>
      overCost: number
      overAge: number
      topologyChanges: number
      snapshots: number
    }
  }
  relay: { framesBlocked: number; copiesBlocked: number; subsBlocked: number }
  table: { frameDrops: Record<string, number> }
  neighbours: Array<{ id: string; tree: string }>
}

describe('the spanning tree in the relay app (three relays in one process)', () => {
  let dir: string
  const names = ['r', 's', 't'] as const
  const ids: Record<string, string> = {}
  const running = new Map<string, RunningRelay>()
  const peers: Trunk[] = []
  let hostileId: string
  let a: { trunk: Trunk; link: Link }
  let b: { trunk: Trunk; received: Set<string> }
  const vftB = new Uint8Array(randomBytes(16))
  const vftA = new Uint8Array(randomBytes(16))
  const heardByA = new Set<string>()

  const status = async (name: string): Promise<Status> => {
    const control = JSON.parse(await readFile(join(dir, name, 'control.json'), 'utf8'))
    const res = await fetch(`http://127.0.0.1:${control.port}/status`, {
      headers: { authorization: `Bearer ${control.token}` },
    })
    return (await res.json()) as Status
  }
  const live = () => names.filter((n) => running.has(n))
  const address = (name: string) =>
    `/ip4/127.0.0.1/tcp/${BASE + names.indexOf(name as 'r')}/p2p/${ids[name]}`
  /** The relays' tree has settled: one root (the lowest live id), n - 1 links, both ends agreeing. */
  const settled = (ms = 10_000) =>
    until('tree settled', ms, async () => {
      const all = await Promise.all(live().map(status))
      const root = live()
        .map((n) => ids[n]!)
        .sort()[0]
      const ends = all.reduce(
        (n, s) => n + s.tree.treeLinks.filter((l) => l !== hostileId).length,
        0,
      )
      return all.every((s) => s.tree.root === root) && ends === 2 * (live().length - 1)
        ? all
        : undefined
    })
  /** Sends `n` frames under B's VFT from A, each with its own tag; resolves with how many B got. */
  const sendAtoB = async (n: number): Promise<number> => {
    const tags: string[] = []
    for (let i = 0; i < n; i++) {
      const sealed = new Uint8Array(randomBytes(64))
      tags.push(Buffer.from(sealed.subarray(48)).toString('hex'))
      a.link.sendFrames([{ hopLimit: 8, vft: vftB, sealed }])
    }
    await until('frames to B', 3000, async () =>
      tags.every((t) => b.received.has(t)) ? true : undefined,
    ).catch(() => undefined)
    await sleep(200) // any late copies
    return tags.filter((t) => b.received.has(t)).length
  }
  const totals = async () => {
    const all = await Promise.all(live().map(status))
    return {
      duplicates: all.reduce((n, s) => n + s.table.frameDrops.duplicate!, 0),
      blocked: all.reduce((n, s) => n + s.relay.framesBlocked + s.relay.copiesBlocked, 0),
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peertap-relay-tree-'))
    for (const n of [...names, 'h', 'a', 'b'])
      ids[n] = peerIdFromPrivateKey(await loadOrCreateIdentity(join(dir, n))).toString()
    hostileId = ids.h!
    for (const [i, n] of names.entries()) {
      const others = names.filter((o) => o !== n).map((o) => ids[o]!)
      const config = parseRelayConfig({
        stateDir: join(dir, n),
        listen: [`/ip4/127.0.0.1/tcp/${BASE + i}`],
        peers: names.slice(0, i).map(address),
        // The nodes a and b by PeerId: a relay is closed by default (docs/spec/14-roles.md §14.3).
        admission: {
          requireProofs: false,
          allow: [ids.a!, ids.b!],
          relays: n === 'r' ? [...others, hostileId] : others,
        },
        status: { port: 0 },
      })
      running.set(n, await startRelay(config, createLogger('error')))
    }
    const node = async (name: string) => {
      const trunk = await createTrunk({
        stateDir: join(dir, name),
        listen: [],
        transports: ['tcp'],
        capabilities: 0,
        role: 'node',
      })
      peers.push(trunk)
      return trunk
    }
    const ta = await node('a')
    ta.setReceiver({
      onSubscription: (sub) => {
        for (const e of sub.entries) heardByA.add(Buffer.from(e.vft).toString('hex'))
      },
    })
    await ta.start()
    a = { trunk: ta, link: await ta.dial(address('r')) }
    const received = new Set<string>()
    const tb = await node('b')
    tb.setReceiver({
      onFrames: (frames) => {
        for (const f of frames) {
          const tag = Buffer.from(f.sealed.subarray(f.sealed.length - 16)).toString('hex')
          if (received.has(tag)) received.add(`dup:${tag}`)
          received.add(tag)
        }
      },
    })
    await tb.start()
    const linkB = await tb.dial(address('s'))
    b = { trunk: tb, received }
    await settled()
    a.link.sendSubscription({ ttl: 600, entries: [{ vft: vftA, flags: 3 }] })
    linkB.sendSubscription({ ttl: 600, entries: [{ vft: vftB, flags: 3 }] })
    await until('B subscription reaches A', 5000, async () =>
      heardByA.has(Buffer.from(vftB).toString('hex')) ? true : undefined,
    )
  }, 30_000)
  afterAll(async () => {
    for (const p of peers) await p.stop().catch(() => {})
    for (const r of running.values()) await r.stop().catch(() => {})
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('agrees on the lowest PeerId as root and delivers every frame once, with no copy on the blocked link', async () => {
    const all = await settled()
    const root = names.find((n) => ids[n] === all.find((s) => s.tree.isRoot)!.tree.root)
    expect(root).toBe([...names].sort((x, y) => (ids[x]! < ids[y]! ? -1 : 1))[0])
    expect(all.reduce((n, s) => n + s.tree.blockedLinks.length, 0)).toBe(2)
    for (const s of all)
      for (const n of s.neighbours)
        if (!Object.values(ids).includes(n.id)) expect(n.tree).toBe('edge')
    const before = await totals()
    expect(await sendAtoB(50)).toBe(50)
    expect([...b.received].some((t) => t.startsWith('dup:'))).toBe(false)
    expect(await totals()).toEqual(before)
  })

  it("survives a configured relay's hostile tree messages, and lets a lower root it claims become a leaf", async () => {
    const h = await createTrunk({
      stateDir: join(dir, 'h'),
      listen: [],
      transports: ['tcp'],
      capabilities: CAP_SPANNING_TREE,
      role: 'relay',
    })
    peers.push(h)
    h.setReceiver({})
    await h.start()
    const link = await h.dial(address('r'))
    const tree = (payload: Uint8Array) =>
      link.sendControl({ channel: CONTROL_SPANNING_TREE, payload })
    await until('R sees H', 3000, async () =>
      (await status('r')).neighbours.some((n) => n.id === hostileId) ? true : undefined,
    )
    const rootBefore = (await status('r')).tree.root
    tree(new Uint8Array(0))
    tree(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 200, 0x31]))
    tree(new Uint8Array([7, 0, 0, 0, 0, 0, 0, 1, 0x31]))
    tree(encodeTreeMessage({ root: '1111', cost: 0xffff_ffff, age: 1, parent: false }))
    tree(encodeTreeMessage({ root: '1111', cost: 10, age: 255, parent: false }))
    // Claiming to be the root (cost 0) under another identity.
    tree(encodeTreeMessage({ root: '1111', cost: 0, age: 0, parent: false }))
    for (let i = 0; i < 200; i++)
      tree(encodeTreeMessage({ root: '1111', cost: 0xffff_ffff, age: 1, parent: false }))
    const counted = await until('drops counted', 3000, async () => {
      const s = await status('r')
      const d = s.tree.counters.drops
      return d.malformed! >= 2 && d.version! >= 1 && d['false-root']! >= 1 && d.rate! > 0
        ? s
        : undefined
    })
    expect(counted.tree.counters.overCost).toBeGreaterThan(0)
    expect(counted.tree.counters.overAge).toBeGreaterThan(0)
    expect(counted.tree.root).toBe(rootBefore)
    expect(await sendAtoB(20)).toBe(20)

    // A root lower than any relay's id, said once a second: every relay takes it, through H.
    await sleep(1100) // H's rate bucket refills
    const claim = setInterval(
      () => tree(encodeTreeMessage({ root: '1111', cost: 10, age: 1, parent: false })),
      500,
    )
    try {
      await until('everyone roots at the claim', 5000, async () => {
        const all = await Promise.all(live().map(status))
        return all.every((s) => s.tree.root === '1111') ? all : undefined
      })
      expect((await status('r')).tree.parent).toBe(hostileId)
      // The tree re-formed under the new root, and B's subscription (which
      // the stand-in node never renews) still crossed it: each link that
      // entered the tree carried the snapshots both ways (spec 12 §7.4).
      await sleep(500)
      expect(await sendAtoB(20)).toBe(20)
    } finally {
      clearInterval(claim)
    }
    // H goes: the claim goes with it, at once (its link closes).
    await h.stop()
    const [after] = await settled(5000)
    expect(after!.tree.root).toBe(rootBefore)
    await sleep(500)
    expect(await sendAtoB(20)).toBe(20)
    const snapshots = await Promise.all(live().map(status))
    console.log(
      `root changes through H and back: snapshots sent ${snapshots.map((s) => s.tree.counters.snapshots).join('/')}, SUBs on blocked links ${snapshots.map((s) => s.relay.subsBlocked).join('/')}`,
    )
  }, 30_000)

  it('when T stops, R and S take their own link into the tree at once', async () => {
    await running.get('t')!.stop()
    running.delete('t')
    const started = Date.now()
    const [r] = await settled(5000)
    const ms = Date.now() - started
    expect(r!.tree.treeLinks).toEqual([ids.s])
    expect(r!.tree.blockedLinks).toEqual([])
    console.log(`relay T stopped: R and S settled on their own link within ${ms} ms`)
  }, 30_000)
})
