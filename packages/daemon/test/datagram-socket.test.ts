import { TapError, UdpSocket } from '@peertap/tap'
import type { DatagramSocket } from '@peertap/trunk'
import { afterEach, describe, expect, it } from 'vitest'
import { datagramSocketFactory } from '../src/datagram-socket.ts'

const log = { info: () => {}, warn: () => {} }
const open: DatagramSocket[] = []
const bind = { port: 0, address: '127.0.0.1', onSendError: () => {} }

describe('the datagram link socket a daemon picks (config datagram.socket)', () => {
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close()
  })

  it('auto and batched open the addon socket, dgram node:dgram; all carry a datagram', async () => {
    const auto = await datagramSocketFactory('auto', log)(bind)
    const batched = await datagramSocketFactory('batched', log, false, false)(bind)
    const dgram = await datagramSocketFactory('dgram', log)(bind)
    open.push(auto, batched, dgram)
    expect(auto).toBeInstanceOf(UdpSocket)
    expect(batched).toBeInstanceOf(UdpSocket)
    expect((batched as UdpSocket).stats()).toMatchObject({ gso: false, gro: false })
    expect((auto as UdpSocket).stats()).toMatchObject({ gso: true, gro: true })
    expect(dgram).not.toBeInstanceOf(UdpSocket)
    // Each sends to the next: batched -> dgram -> auto -> batched.
    const got = new Map<DatagramSocket, string[]>()
    for (const s of [auto, batched, dgram]) {
      got.set(s, [])
      s.onBatch((b) => {
        for (let i = 0; i < b.count; i++) {
          const off = b.offsets[i]!
          got.get(s)!.push(Buffer.from(b.data.subarray(off, off + b.lengths[i]!)).toString())
        }
      })
    }
    const pairs: Array<[DatagramSocket, DatagramSocket]> = [
      [batched, dgram],
      [dgram, auto],
      [auto, batched],
    ]
    for (const [from, to] of pairs) {
      expect(from.send([Buffer.from(`to ${to.port}`)], ['127.0.0.1'], [to.port], 1)).toBe(1)
    }
    const end = Date.now() + 3000
    while ([...got.values()].some((g) => g.length === 0) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 10))
    }
    for (const s of [auto, batched, dgram]) expect(got.get(s)).toEqual([`to ${s.port}`])
  })

  it('a port in use is an error, not a fallback to node:dgram', async () => {
    const first = await datagramSocketFactory('auto', log)(bind)
    open.push(first)
    const again = async () => datagramSocketFactory('auto', log)({ ...bind, port: first.port })
    await expect(again()).rejects.toBeInstanceOf(TapError)
    await expect(again()).rejects.toMatchObject({ code: 'address-in-use' })
  })
})
