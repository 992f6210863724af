// Owner keys for ticket tests, from node:crypto (no libp2p).
import { createPrivateKey, createPublicKey } from 'node:crypto'

/** libp2p's raw Ed25519 private key (seed ‖ public) and PeerId bytes for a seed. */
export function ownerKey(seed: Uint8Array): { privateKey: Uint8Array; peerId: Uint8Array } {
  const key = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  })
  const pub = Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x as string, 'base64url')
  return {
    privateKey: Uint8Array.from([...seed, ...pub]),
    peerId: Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...pub]),
  }
}
