/**
 * A stranger's subscriptions coming and going at an open relay leave the
 * members' flows in the relay's fast path (docs/spec/18-fast-path.md
 * §18.5.5: a change to a VFT's subscriptions drops that VFT's forward
 * entries only).
 *
 * Members A and B (real `peertap up` nodes on the datagram link) reach each
 * other only through R, a real `peertap-relay up` with `admission.open`
 * (proofs required). One swarm process (fixtures/swarm.ts) on a spoke of
 * its own holds IDENTITIES self-made identities, each pushing
 * PROOFS_PER_SECOND SUBs with a fresh proof of a new VFT (`newVfts`): R adds that many
 * subscriptions a second, none of them the members'. While it does, A
 * pings B PINGS times, 10 ms apart, and R's fast path must have forwarded
 * nearly every frame the members sent it, cleared nothing, and dropped no
 * route. When every added subscription cleared the whole cache (before
 * this), each ping after a clear went up to R's JavaScript again.
 *
 * Needs root and /dev/net/tun; elsewhere it skips. Every namespace and
 * process is removed afterwards, also on failure (Overlay.stop).
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { childLines, rootAndTun } from '@peertap/tool-netns'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Overlay, RelayHost, type RelayStatus } from '../src/index.ts'
import type { SwarmOptions } from './fixtures/swarm.ts'

const can = rootAndTun()
if (!can.ok) console.log(`relay churn test skipped: ${can.reason}`)

const SWARM = new URL('./fixtures/swarm.ts', import.meta.url).pathname
const IDENTITIES = 8
const PROOFS_PER_SECOND = 20
const PINGS = 300
/** What R's fast path must forward of the frames the members sent it, at least. */
const FAST_SHARE = 0.95

type Status = RelayStatus & {
  table: RelayStatus['table'] & { subscriptionsAdded: number }
  fastPath: NonNullable<RelayStatus['fastPath']>
}

describe.skipIf(!can.ok)(
  "a stranger's subscription churn at an open relay and the members' fast path",
  () => {
    let overlay: Overlay
    const relay = new RelayHost({ config: { admission: { open: true } } })
    let swarm: ChildProcess | undefined

    beforeAll(async () => {
      overlay = await Overlay.start({
        transport: 'tcp',
        datagram: true,
        relay,
        extraHosts: ['x0'],
      })
    }, 60_000)
    afterAll(async () => {
      swarm?.kill('SIGKILL')
      await overlay?.stop()
    })

    it("leaves A to B on R's reader thread while R adds the stranger's subscriptions", async () => {
      const options: SwarmOptions = {
        relay: relay.address('/tcp/7400'),
        seed: randomBytes(16).toString('hex'),
        first: 0,
        count: IDENTITIES,
        vfts: 16,
        renewSeconds: 40,
        ttl: 120,
        proofsPerSecond: PROOFS_PER_SECOND,
        freshProofs: 400,
        newVfts: true,
        framesPerSecond: 0,
        frameBytes: 100,
        groups: 1,
        dialConcurrency: 4,
        connectSeconds: 15,
        seconds: 60,
      }
      swarm = overlay.topo.spawn('x0', [
        process.execPath,
        '--conditions=peertap:source',
        SWARM,
        JSON.stringify(options),
      ])
      const lines = childLines(swarm.stdout!, 30_000)
      const ready = JSON.parse((await lines.next()).value ?? '{}') as { connected?: number }
      expect(ready.connected, 'identities connected').toBe(IDENTITIES)
      // The flow in the cache first, then the churn measured around the pings.
      const b = overlay.node('b').ip
      await overlay.topo.exec('a', ['ping', '-c', '5', '-i', '0.2', '-W', '2', b])
      const before = (await relay.status()) as Status
      const out = await overlay.topo.exec(
        'a',
        ['ping', '-c', String(PINGS), '-i', '0.01', '-W', '2', b],
        30_000,
      )
      const after = (await relay.status()) as Status
      const members = new Set(overlay.nodes.map((n) => n.peerId))
      const fromMembers = (s: Status) =>
        s.neighbours
          .filter((n) => members.has(n.id))
          .reduce((total, n) => total + (n.counters.framesReceived ?? 0), 0)
      const sent = fromMembers(after) - fromMembers(before)
      const forwarded = after.fastPath.forwarded - before.fastPath.forwarded
      const added = after.table.subscriptionsAdded - before.table.subscriptionsAdded
      console.log(
        `relay churn: ${out.match(/\d+ received/)?.[0] ?? 'no'} of ${PINGS} pings; R added ${added} subscriptions meanwhile; ` +
          `its fast path forwarded ${forwarded} of the members' ${sent} frames, cleared ${after.fastPath.clears - before.fastPath.clears} times, ` +
          `dropped ${after.fastPath.routeChanges - before.fastPath.routeChanges} VFTs' routes`,
      )
      expect(out).toMatch(new RegExp(`${PINGS} received`))
      // The pings take more than 3 s, the swarm adds IDENTITIES x PROOFS_PER_SECOND a second.
      expect(added, "the stranger's subscriptions R added meanwhile").toBeGreaterThan(
        IDENTITIES * PROOFS_PER_SECOND,
      )
      expect(forwarded, "the members' frames R's fast path forwarded").toBeGreaterThanOrEqual(
        FAST_SHARE * sent,
      )
      expect(after.fastPath.clears - before.fastPath.clears, 'clears').toBe(0)
      expect(after.fastPath.routeChanges - before.fastPath.routeChanges, 'routes dropped').toBe(0)
    }, 90_000)
  },
)
