/**
 * Two TAPs joined by the flow cache, as the runtime would join them: one
 * direction's keys and cells per way, and the entries that carry unicast
 * between the two devices over one UDP socket on 127.0.0.1 (to itself).
 * Shared by flow-cache.test.ts and bench/flow.ts.
 */
import { randomBytes } from 'node:crypto'
import type { FlowCache, FlowCells } from '../src/flow.ts'
import { native } from '../src/native.ts'
import { ip } from './helpers.ts'

/** The MAC address of `dev` in the namespace `ns`. */
export const macOf = (ns: string, dev: string): Uint8Array =>
  new Uint8Array(
    Buffer.from(
      JSON.parse(ip('-n', ns, '-j', 'link', 'show', dev))[0].address.replaceAll(':', ''),
      'hex',
    ),
  )

/** One direction's keys and cells, as the switch and the datagram link would hold them. */
export interface Direction {
  vft: Uint8Array
  key: Uint8Array
  salt: Uint8Array
  kid: Uint8Array
  hpKey: Uint8Array
  counterCell: number
  hopKey: Uint8Array
  receiverIndex: number
  hopCounterCell: number
  hopWindow: number
  kidWindow: number
  vlanStats: number
  linkStats: number
}

/** Fresh random keys and new cells for one direction whose path has `receiverIndex`. */
export function direction(cells: FlowCells, receiverIndex: number): Direction {
  return {
    vft: randomBytes(16),
    key: randomBytes(32),
    salt: randomBytes(12),
    kid: randomBytes(8),
    hpKey: randomBytes(32),
    counterCell: cells.newCounter(),
    hopKey: randomBytes(32),
    receiverIndex,
    hopCounterCell: cells.newCounter(),
    hopWindow: cells.newWindow(),
    kidWindow: cells.newWindow(),
    vlanStats: cells.block(),
    linkStats: cells.block(),
  }
}

/** A device's slot in the cache, its MAC, and the direction of the frames it sends. */
export type End = readonly [slot: number, mac: Uint8Array, sends: Direction]

/**
 * Installs, for each way between the ends `a` and `b`: the send entry
 * (the sender's device and the receiver's MAC), the path's hop entry to
 * `port` on 127.0.0.1, the receive entry (the VFT to the receiver's
 * device) and the sender key. Returns `installKid`'s answers, all true
 * when the keys were taken.
 */
export function installPair(cache: FlowCache, port: number, a: End, b: End): boolean[] {
  const kids: boolean[] = []
  for (const [[from, src, d], [to, mac]] of [
    [a, b],
    [b, a],
  ] as const) {
    cache.installSend({
      device: from,
      src,
      mac,
      vft: d.vft,
      hopLimit: 8,
      key: d.key,
      salt: d.salt,
      kid: d.kid,
      hpKey: d.hpKey,
      counterCell: d.counterCell,
      hopKey: d.hopKey,
      receiverIndex: d.receiverIndex,
      hopCounterCell: d.hopCounterCell,
      address: '127.0.0.1',
      port,
      payloadMax: 1472,
      vlanStats: d.vlanStats,
      linkStats: d.linkStats,
    })
    cache.installHop({
      receiverIndex: d.receiverIndex,
      key: d.hopKey,
      windowCell: d.hopWindow,
      address: '127.0.0.1',
      port,
      linkStats: d.linkStats,
    })
    cache.installReceive({
      vft: d.vft,
      device: to,
      mac,
      hpKey: d.hpKey,
      puntTcp: false,
      vlanStats: d.vlanStats,
    })
    kids.push(
      cache.installKid(d.vft, Buffer.from(d.kid).readBigUInt64BE(0), d.key, d.salt, d.kidWindow),
    )
  }
  return kids
}

/** A DATA datagram of direction `d` carrying `frame` (kind 0), under the given counters. */
export function sealedDatagram(
  d: Direction,
  frame: Uint8Array,
  counter: number,
  hopCounter: number,
  kind = 0,
): Uint8Array {
  const plaintext = new Uint8Array(1 + frame.length)
  plaintext[0] = kind
  plaintext.set(frame, 1)
  const sealed = native().flowSealPayload(d.key, d.salt, d.kid, d.hpKey, d.vft, counter, plaintext)
  return native().flowSealData(d.hopKey, d.receiverIndex, hopCounter, 8, d.vft, sealed)
}
