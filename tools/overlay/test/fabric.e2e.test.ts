/**
 * End to end: the fabric (docs/spec/16-fabric.md). Three nodes (a, b, c)
 * and two relays (r1, r2) in namespaces on one bridge; the relays admit
 * nobody by PeerId, only the holders of a fabric credential. A makes the
 * fabric with r1 as its one bootstrap address and a VLAN `lab`; b and c
 * join both with one code. From there the directory does the rest: each
 * finds the others and both relays, dials them, and b and c carry `lab`
 * over a direct datagram path. Then, from the stranger's side, a node of
 * another fabric (d) dials r1 and gets nothing. Then roaming: c's underlay
 * address moves under a ping every 10 ms from b. Last, A rotates the
 * fabric without c: the relays refuse c, and c reads no presence after.
 * Needs root and /dev/net/tun; elsewhere it skips. Every namespace and
 * process is removed afterwards, also on failure.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rootAndTun } from '@peertap/tool-netns'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NODE_ARGV, Overlay, RELAY_ARGV, RelayHost } from '../src/index.ts'

const can = rootAndTun()
if (!can.ok) console.log(`fabric end-to-end tests skipped: ${can.reason}`)

const TCP = '/tcp/7400'

interface Entry {
  peerId: string
  addresses: string[]
  linked: boolean
  seq: string
}
interface Summary {
  fabric: string
  epoch: number
  rootKey: string
  nodes: Entry[]
  relays: Entry[]
  vlans: Array<{ name?: string; peers: string[] }>
}
interface Neighbour {
  id: string
  status: string
  kind: string
  relayed: boolean
  path?: string
}

describe.skipIf(!can.ok)(
  'the fabric: discovery from one bootstrap address, roaming, rotation',
  () => {
    let overlay: Overlay
    let dir = ''
    const r1 = new RelayHost({ host: 'r1' })
    const r2 = new RelayHost({ host: 'r2' })
    let rootKey = ''

    const cli = (host: string, args: readonly string[], timeoutMs = 40_000) =>
      overlay.topo.exec(host, [...NODE_ARGV, ...args, '-s', overlay.node(host).stateDir], timeoutMs)
    const show = async (host: string) =>
      JSON.parse(await cli(host, ['fabric', 'show', '--json'])) as Summary
    const neighbours = async (host: string) =>
      ((await overlay.status(host)) as unknown as { neighbours: Neighbour[] }).neighbours
    const peerOf = (host: string) => overlay.node(host).peerId
    const lastLine = (out: string) => out.trim().split('\n').at(-1) as string
    /** Polls `check` every 100 ms until it holds; throws with `what` (and `detail`) after `timeoutMs`. */
    const until = async (
      what: string,
      check: () => Promise<boolean>,
      timeoutMs: number,
      detail: () => Promise<string> = async () => '',
    ) => {
      const deadline = Date.now() + timeoutMs
      while (!(await check().catch(() => false))) {
        if (Date.now() > deadline)
          throw new Error(`${what}: not within ${timeoutMs} ms. ${await detail()}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    const logs = async (...hosts: string[]) =>
      hosts.map((h) => `${h}'s log:\n${overlay.node(h).log.slice(-20).join('\n')}`).join('\n')
    const labIpv4 = async (host: string) => {
      const vlans = JSON.parse(await cli(host, ['vlan', 'list', '--json'])) as Array<{
        name: string
        addresses: string[]
      }>
      const lab = vlans.find((v) => v.name === 'lab')
      return lab?.addresses.find((a) => a.startsWith('10.77.'))?.split('/')[0] as string
    }

    beforeAll(async () => {
      overlay = await Overlay.start({
        transport: 'tcp',
        hosts: [],
        extraHosts: ['a', 'b', 'c', 'd', 'r1', 'r2'],
      })
      dir = await mkdtemp(join(tmpdir(), 'peertap-fabric-'))
      await r1.keygen(overlay.topo, dir)
      await r2.keygen(overlay.topo, dir)
      // Relays admit no node by PeerId (no `allow`): only fabric credentials. r2 dials r1.
      await r1.start(overlay.topo, dir, [`/ip4/0.0.0.0${TCP}`], [], [r2.peerId])
      await r2.start(overlay.topo, dir, [`/ip4/0.0.0.0${TCP}`], [r1.address(TCP)], [r1.peerId])
      for (const host of ['a', 'b', 'c', 'd']) await overlay.startBare(host)
    }, 120_000)
    afterAll(async () => {
      await r1.stop()
      await r2.stop()
      await overlay?.stop()
      if (dir !== '') await rm(dir, { recursive: true, force: true })
    })

    it('three nodes and two relays find each other from one bootstrap address and carry a VLAN on direct datagram paths', async () => {
      const made = JSON.parse(
        await cli('a', ['fabric', 'init', '--bootstrap', r1.address(TCP), '--json']),
      ) as Summary
      rootKey = made.rootKey
      expect(rootKey).toMatch(/^[0-9a-f]{64}$/)
      for (const relay of [r1, r2])
        await overlay.topo.exec(relay.host, [
          ...RELAY_ARGV,
          'fabric',
          'add',
          rootKey,
          '-s',
          relay.stateDir,
        ])
      await cli('a', ['vlan', 'create', 'lab', '--subnet', '10.77.0.0/24', '--json'])
      const code = lastLine(await cli('a', ['fabric', 'invite', 'lab', '--uses', '2']))
      await cli('b', ['fabric', 'join', code, '--json'])
      const joined = JSON.parse(await cli('c', ['fabric', 'join', code, '--json'])) as {
        fabric: Summary
      }
      expect(joined.fabric.fabric).toBe(made.fabric)
      const cJoined = performance.now()

      // The figure: how long until the others' directories hold c.
      await until(
        'a and b list c',
        async () =>
          (await Promise.all(['a', 'b'].map(show))).every((s) =>
            s.nodes.some((n) => n.peerId === peerOf('c')),
          ),
        20_000,
        async () =>
          `A=${JSON.stringify(await show('a'))}\nAN=${JSON.stringify(await neighbours('a'))}\nC=${JSON.stringify(await neighbours('c'))}\nR1=${JSON.stringify(await r1.status())}\n${await logs('a', 'c')}`,
      )
      const found = performance.now() - cJoined
      console.log(
        `fabric: a new node (c) is in the others' directories ${found.toFixed(0)} ms after its join returned`,
      )

      // Every node lists the two others and both relays (r2 it learned from r1's presence), and
      // holds a link to both relays.
      for (const host of ['a', 'b', 'c']) {
        await until(
          `${host} lists 2 nodes and 2 relays, linked to both relays`,
          async () => {
            const s = await show(host)
            const ids = new Set(s.nodes.map((n) => n.peerId))
            return (
              ['a', 'b', 'c'].filter((h) => h !== host).every((h) => ids.has(peerOf(h))) &&
              [r1, r2].every((r) => s.relays.some((e) => e.peerId === r.peerId && e.linked))
            )
          },
          20_000,
          async () => `${JSON.stringify(await show(host))}\n${await logs(host)}`,
        )
      }
      // b and c share lab, found each other in the directory and hold a direct datagram path.
      await until(
        'b has a direct datagram path to c',
        async () =>
          (await neighbours('b')).some(
            (n) =>
              n.id === peerOf('c') && !n.relayed && n.kind === 'datagram' && n.path !== undefined,
          ),
        15_000,
        async () => JSON.stringify(await neighbours('b')),
      )
      const cIp = await labIpv4('c')
      await overlay.topo.exec('b', ['ping', '-c', '3', '-i', '0.2', '-W', '2', cIp])
      // The relays admit the three by credential alone.
      const status = await r1.status()
      const admitted = (
        status as unknown as { neighbours: Array<{ id: string; admitted: boolean }> }
      ).neighbours
      for (const host of ['a', 'b', 'c'])
        expect(admitted.find((n) => n.id === peerOf(host))?.admitted, host).toBe(true)
    }, 120_000)

    it('a node of another fabric gets nothing from a fabric relay and learns no presence', async () => {
      // d makes a fabric of its own (a root the relays do not know) and dials r1 as its bootstrap.
      await cli('d', ['fabric', 'init', '--bootstrap', r1.address(TCP), '--json'])
      await until(
        'd has a link to r1',
        async () => (await neighbours('d')).some((n) => n.id === r1.peerId && n.status === 'up'),
        10_000,
      )
      await new Promise((r) => setTimeout(r, 3_000))
      const s = await show('d')
      expect(s.nodes).toEqual([])
      expect(s.relays).toEqual([])
      const status = (await r1.status()) as unknown as {
        neighbours: Array<{ id: string; admitted: boolean }>
      }
      expect(status.neighbours.find((n) => n.id === peerOf('d'))?.admitted).toBe(false)
      // Nothing of the fabric reached d: no SUB from r1, so no VFT in its table.
      const d = (await overlay.status('d')) as unknown as { subscriptions: { table: number } }
      expect(d.subscriptions.table).toBe(0)
    }, 60_000)

    it('roaming: traffic is back within 5 s of c moving to a new underlay address', async () => {
      const cIp = await labIpv4('c')
      const old = overlay.topo.address('c')
      const moved = old.replace(/\.(\d+)$/, (_, n: string) => `.${Number(n) + 100}`)
      // 1000 pings, 10 ms apart, each waiting at most 1 s; c's address moves 3 s in.
      const pings = overlay.topo.exec(
        'b',
        ['ping', '-c', '1000', '-i', '0.01', '-W', '1', cIp],
        60_000,
      )
      await new Promise((r) => setTimeout(r, 3_000))
      await overlay.topo.exec('c', [
        'sh',
        '-c',
        `ip addr del ${old}/24 dev eth0 && ip addr add ${moved}/24 dev eth0`,
      ])
      const out = await pings.catch((error: Error & { stdout?: string }) => error.stdout ?? '')
      const seqs = [...out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1]))
      let gap = 0
      for (let i = 1; i < seqs.length; i++) gap = Math.max(gap, (seqs[i] ?? 0) - (seqs[i - 1] ?? 0))
      console.log(
        `fabric roaming: ${seqs.length} of 1000 pings answered; longest gap ${gap} pings (${gap * 10} ms)`,
      )
      expect(seqs.at(-1)).toBeGreaterThan(900)
      expect(gap * 10).toBeLessThan(5_000)
      // c saw its address go and dialled again from the new one (not a path that outlived the move).
      const roams = ((await show('c')) as unknown as { counters: { roams: number } }).counters.roams
      expect(roams).toBeGreaterThanOrEqual(1)
      // c's new address is in its record at the others.
      await until(
        "b's directory has c's new address",
        async () =>
          (await show('b')).nodes
            .find((n) => n.peerId === peerOf('c'))
            ?.addresses.some((a) => a.includes(moved)) ?? false,
        10_000,
      )
    }, 90_000)

    it('rotation without c: the relays refuse c, and c reads no presence afterwards', async () => {
      const before = await show('c')
      const bAtC = before.nodes.find((n) => n.peerId === peerOf('b'))
      const rotated = JSON.parse(
        await cli('a', ['fabric', 'rotate', '--expel', peerOf('c'), '--json']),
      ) as Summary & { granted: string[] }
      expect(rotated.epoch).toBe(1)
      expect(rotated.granted).toEqual([peerOf('b')])
      await until('b is at epoch 1', async () => (await show('b')).epoch === 1, 10_000)
      // The relays took epoch 1's credential key and ended c's admission.
      for (const relay of [r1, r2])
        await until(
          `${relay.host} refuses c`,
          async () => {
            const status = (await relay.status()) as unknown as {
              neighbours: Array<{ id: string; admitted: boolean }>
            }
            const c = status.neighbours.find((n) => n.id === peerOf('c'))
            const b = status.neighbours.find((n) => n.id === peerOf('b'))
            return c?.admitted !== true && b?.admitted === true
          },
          15_000,
          async () => JSON.stringify(await relay.status()),
        )
      // b published under the new epoch (a reads it); c still holds b's record from before.
      await until(
        "a has b's record of epoch 1",
        async () => (await show('a')).nodes.some((n) => n.peerId === peerOf('b')),
        15_000,
      )
      await new Promise((r) => setTimeout(r, 2_000))
      const after = await show('c')
      expect(after.epoch).toBe(0)
      expect(after.nodes.find((n) => n.peerId === peerOf('b'))?.seq).toBe(bAtC?.seq)
    }, 90_000)

    it('forged, replayed and expired presence records are refused; a directory flood stays within the stated bounds', async () => {
      // Last: a's directory keeps the flood's identities (a rotation would dial them all).
      const FLOOD = 4200
      const fabric = JSON.parse(
        await readFile(join(overlay.node('a').stateDir, 'fabric.json'), 'utf8'),
      ) as { secret: string; epoch: number }
      expect(fabric.epoch).toBe(1)
      type Counted = Summary & {
        counters: { directory: { accepted: number; refused: Record<string, number> } }
      }
      const before = (await show('a')) as Counted
      const started = performance.now()
      // A fresh identity in d's namespace (not d's node's), a fabric member by its credential.
      const output = await overlay.topo.exec(
        'd',
        [
          process.execPath,
          '--conditions=peertap:source',
          new URL('./fixtures/fabric-peer.ts', import.meta.url).pathname,
          `/ip4/${overlay.topo.address('a')}${TCP}/p2p/${peerOf('a')}`,
          fabric.secret,
          String(FLOOD),
        ],
        50_000,
      )
      const ran = performance.now() - started
      const lines = output
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      const step = (name: string) => lines.find((l) => l.step === name) as Record<string, unknown>
      const after = (await show('a')) as Counted
      const d0 = before.counters.directory
      const d1 = after.counters.directory
      const delta = (reason: string) => (d1.refused[reason] ?? 0) - (d0.refused[reason] ?? 0)
      const deltas = Object.fromEntries(Object.keys(d1.refused).map((r) => [r, delta(r)]))
      console.log(
        `fabric flood: fixture ran ${ran.toFixed(0)} ms; ${JSON.stringify(step('flood'))}; a's directory: accepted +${d1.accepted - d0.accepted}, refused ${JSON.stringify(deltas)}, ${after.nodes.length} nodes; a's directory handed again to the member: ${JSON.stringify(lines.at(-1))}`,
      )
      expect(lines[0]?.member).toBe(true)
      // A directory of 4096 records (about 0.5 MB) still reaches a member that proves the fabric
      // again: in batches of one trunk message each.
      expect(Number(lines.at(-1)?.redumps)).toBeGreaterThan(1)
      // Each refusal counted: the replay and the older seq (stale), the two forgeries, the
      // expired, future and over-long records, the 7th and 8th record of the minute (rate),
      // and the flood past the node table's 4096 (full).
      const room = 4096 - before.nodes.length - 1
      expect(delta('stale')).toBeGreaterThanOrEqual(2)
      expect(delta('bad-signature')).toBe(2)
      expect(delta('malformed')).toBe(0)
      expect(delta('expired')).toBe(1)
      expect(delta('future')).toBe(1)
      expect(delta('lifetime')).toBe(1)
      expect(delta('rate')).toBe(2)
      expect(delta('full')).toBe(FLOOD - room)
      expect(d1.accepted - d0.accepted).toBeGreaterThanOrEqual(1 + 5 + room)
      // The bounds: 4096 nodes, none of the refused; the member's record is its 6th of the minute.
      expect(after.nodes.length).toBe(4096)
      expect(after.relays.length).toBeLessThanOrEqual(64)
      const ids = new Set(after.nodes.map((n) => n.peerId))
      const refused = [
        ...(step('forged').peerIds as string[]),
        step('expired').peerId,
        step('future').peerId,
        step('lifetime').peerId,
      ] as string[]
      for (const id of refused) expect(ids.has(id), id).toBe(false)
      const own = after.nodes.find((n) => n.peerId === step('valid').peerId)
      expect(BigInt(own?.seq ?? '0')).toBe(BigInt(step('valid').seq as string) + 5n)
      // What a held before is still there (a flood never pushes out an entry).
      for (const n of before.nodes) expect(ids.has(n.peerId), n.peerId).toBe(true)
      // a still works: its status answers, and it carries lab to b.
      expect((await overlay.status('a')).peerId).toBe(peerOf('a'))
      await overlay.topo.exec('a', ['ping', '-c', '1', '-W', '5', await labIpv4('b')])
    }, 90_000)
  },
)
