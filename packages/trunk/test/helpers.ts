import { generateKeyPair } from '@libp2p/crypto/keys'
import { createTrunk, type Frame, type Trunk, type TrunkInit } from '../src/index.ts'

export type TransportName = 'tcp' | 'quic' | 'ws'

export const LISTEN: Record<TransportName, string> = {
  tcp: '/ip4/127.0.0.1/tcp/0',
  quic: '/ip4/127.0.0.1/udp/0/quic-v1',
  ws: '/ip4/127.0.0.1/tcp/0/ws',
}

/** A started trunk listening on 127.0.0.1 over one transport; the caller stops it. */
export async function startTrunk(
  transport: TransportName,
  init: Partial<TrunkInit> = {},
  nodes: Trunk[] = [],
): Promise<Trunk> {
  const t = await createTrunk({
    privateKey: await generateKeyPair('Ed25519'),
    listen: [LISTEN[transport]],
    transports: [transport],
    ...init,
  })
  nodes.push(t)
  await t.start()
  return t
}

export async function until(
  cond: () => boolean,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export function makeFrames(count: number, sealedLength: number, tag = 0): Frame[] {
  return Array.from({ length: count }, (_, i) => {
    const sealed = new Uint8Array(sealedLength)
    const v = new DataView(sealed.buffer)
    v.setUint32(0, tag)
    v.setUint32(4, i)
    return { hopLimit: 8, vft: new Uint8Array(16).fill(i & 0xff), sealed }
  })
}
