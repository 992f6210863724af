import type { AesPrimitives } from '@peertap/crypto'
import {
  CONTROL_DATAGRAM_OFFER,
  type Control,
  DatagramLink,
  decodeOffer,
  type Frame,
  type Link,
  type LinkCounters,
  type LinkReceiver,
} from '../src/index.ts'
import { newLinkCounters } from '../src/link.ts'

/** A stream link stand-in: records frames, passes CONTROL to the other end's handler. */
export class PipeStream implements Partial<Link> {
  readonly kind = 'stream' as const
  readonly id: string
  status: 'up' | 'down' = 'up'
  readonly counters: LinkCounters = newLinkCounters()
  frames: Frame[] = []
  onControl: (c: Control) => void = () => {}
  cost = 10
  constructor(id: string) {
    this.id = id
    this.counters.bytesReceived = 10_000
  }
  sendFrames(frames: readonly Frame[]): number {
    this.frames.push(...frames)
    return frames.length
  }
  sendControl(control: Control): boolean {
    queueMicrotask(() => this.onControl(control))
    return true
  }
}

export interface PairOptions {
  /** AES primitives for both sides (default node:crypto). */
  aes?: AesPrimitives
  /** Sees every datagram just before the other side's link receives it. */
  onDelivered?: (from: 0 | 1, buf: Buffer) => void
  /** Drops a datagram side `from` sends when it returns true (a lossy path). */
  drop?: (from: 0 | 1) => boolean
}

/**
 * Two datagram links joined by an in-memory UDP pipe that a test can cut.
 * `links[i]` is side i's current link; `restart(i)` closes it and puts a
 * new one (fresh offer, new receiver index) in its place.
 */
export function pair(options: PairOptions = {}) {
  const cut = { ab: false, ba: false }
  const links: DatagramLink[] = []
  const got: Frame[][] = [[], []]
  const streams = [new PipeStream('peer-b'), new PipeStream('peer-a')]
  let restarts = 0
  const make = (i: 0 | 1): DatagramLink => {
    const receiver: LinkReceiver = { onFrames: (f) => got[i]!.push(...f) }
    return new DatagramLink({
      stream: streams[i] as unknown as Link,
      receiverIndex: 100 + i + 2 * restarts,
      port: 7000 + i,
      observedAddress: i === 0 ? '10.0.0.2' : '10.0.0.1',
      transport: {
        send: (buf) => {
          if (i === 0 ? cut.ab : cut.ba) return
          if (options.drop?.(i)) return
          const copy = Buffer.from(buf)
          setImmediate(() => {
            options.onDelivered?.(i, copy)
            links[1 - i]!.receive(copy, i === 0 ? '10.0.0.1' : '10.0.0.2', 7000 + i)
          })
        },
      },
      receiver,
      cost: 5,
      ...(options.aes === undefined ? {} : { aes: options.aes }),
      log: Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) as never,
    })
  }
  links.push(make(0), make(1))
  streams[0]!.onControl = (c) => {
    if (c.channel === CONTROL_DATAGRAM_OFFER) links[1]!.acceptOffer(decodeOffer(c.payload))
  }
  streams[1]!.onControl = (c) => {
    if (c.channel === CONTROL_DATAGRAM_OFFER) links[0]!.acceptOffer(decodeOffer(c.payload))
  }
  const restart = async (i: 0 | 1): Promise<DatagramLink> => {
    await links[i]!.close()
    restarts++
    links[i] = make(i)
    return links[i]!
  }
  return { a: links[0]!, b: links[1]!, links, cut, got, streams, restart }
}
