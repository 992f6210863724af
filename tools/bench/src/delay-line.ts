/**
 * A delay line with random loss between two TAP devices, for an underlay
 * with a round trip longer than a veth's (this kernel has no netem;
 * docs/facts.md §1). Run inside a namespace (tools/bench `--delay`, see wan.ts):
 *
 *   node delay-line.ts TAP_X TAP_Y ONE_WAY_MS LOSS_PERMILLE
 *
 * Every frame read from one device is dropped with probability
 * LOSS_PERMILLE / 1000, or written to the other after ONE_WAY_MS (a 1 ms
 * timer releases what is due, in order). Each direction holds at most
 * QUEUE_LIMIT frames (beyond that a frame is dropped and counted as
 * `overflow`: a bounded buffer, as a router's). Prints `ready` once both
 * devices are up; on SIGTERM prints its counters as JSON on stderr and
 * exits.
 */
import { openTap, type TapDevice } from '@peertap/tap'

const QUEUE_LIMIT = 20_000
const [nameX, nameY, msArg, lossArg] = process.argv.slice(2)
const delayMs = Number(msArg)
const loss = Number(lossArg) / 1000
if (nameX === undefined || nameY === undefined || !(delayMs >= 0) || !(loss >= 0 && loss <= 1)) {
  console.error('usage: delay-line.ts TAP_X TAP_Y ONE_WAY_MS LOSS_PERMILLE')
  process.exit(2)
}

const counters = { forwarded: 0, dropped: 0, overflow: 0 }

/** One direction: frames from `from`, each copied with its due time, written to `to` when due. */
function direction(from: TapDevice, to: TapDevice): () => void {
  let frames: Uint8Array[] = []
  let due: number[] = []
  let head = 0
  from.onBatch((b) => {
    const now = performance.now()
    for (let i = 0; i < b.count; i++) {
      if (Math.random() < loss) {
        counters.dropped++
        continue
      }
      if (frames.length - head >= QUEUE_LIMIT) {
        counters.overflow++
        continue
      }
      const off = b.offsets[i]!
      frames.push(b.data.slice(off, off + b.lengths[i]!))
      due.push(now + delayMs)
    }
  })
  return () => {
    const now = performance.now()
    let end = head
    while (end < frames.length && due[end]! <= now) end++
    if (end === head) return
    to.writeBatch(frames.slice(head, end))
    counters.forwarded += end - head
    head = end
    if (head >= 4096) {
      frames = frames.slice(head)
      due = due.slice(head)
      head = 0
    }
  }
}

const x = openTap({ name: nameX, mtu: 1500, up: true })
const y = openTap({ name: nameY, mtu: 1500, up: true })
const xy = direction(x, y)
const yx = direction(y, x)
const timer = setInterval(() => {
  xy()
  yx()
}, 1)
process.on('SIGTERM', () => {
  clearInterval(timer)
  console.error(JSON.stringify(counters))
  x.close()
  y.close()
  process.exit(0)
})
console.log('ready')
