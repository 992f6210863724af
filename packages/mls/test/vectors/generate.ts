// Writes exporter.json from ../reference.ts (RFC 9420 §8.5 written out by
// hand), never from src/: `node test/vectors/generate.ts` in packages/mls.
import { writeFileSync } from 'node:fs'
import { filler, referenceEpochSecrets } from '../reference.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const cases = [0, 1, 2, 3].map((i) => {
  const exporterSecret = i === 0 ? new Uint8Array(32) : filler('exporter_secret', i)
  const vlanId = i === 0 ? new Uint8Array(32) : filler('vlanId', i)
  const s = referenceEpochSecrets(exporterSecret, vlanId)
  return {
    exporterSecret: hex(exporterSecret),
    vlanId: hex(vlanId),
    frameBase: hex(s.frameBase),
    vftKey: hex(s.vftKey),
    hpKey: hex(s.hpKey),
    authSeed: hex(s.authSeed),
  }
})
writeFileSync(
  new URL('./exporter.json', import.meta.url),
  `${JSON.stringify({ suite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', cases }, null, 2)}\n`,
)
