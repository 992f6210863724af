/**
 * The data path's keys of an MLS epoch (docs/spec/11-mls.md §3, 03-keys.md §3):
 * the four EpochSecrets are MLS-Exporter outputs (RFC 9420 §8.5) under the
 * "PeerTap v1 ..." labels with the 32-byte VLAN-ID as context.
 */
import {
  type EpochSecrets,
  EXPORTER_LABEL_FRAME,
  EXPORTER_LABEL_HEADER,
  EXPORTER_LABEL_RELAY_AUTH,
  EXPORTER_LABEL_VFT,
} from '@peertap/crypto'
import { mlsExporter } from 'ts-mls'
import { VLAN_ID_LENGTH } from './constants.ts'
import { MlsError } from './errors.ts'
import { suite } from './suite.ts'

/** Parameters of {@link exportEpochSecrets}. */
export interface ExportEpochSecretsParams {
  /** The epoch's exporter_secret (RFC 9420 §8), 32 bytes for suite 1. */
  readonly exporterSecret: Uint8Array
  /** The VLAN-ID, 32 bytes: the exporter context. */
  readonly vlanId: Uint8Array
}

/** 11-mls.md §3: frameBase, vftKey, hpKey, authSeed = MLS-Exporter(label, vlanId, 32). */
export async function exportEpochSecrets(params: ExportEpochSecretsParams): Promise<EpochSecrets> {
  const { exporterSecret, vlanId } = params
  if (exporterSecret.length !== 32)
    throw new MlsError('mls-malformed', 'an exporter secret is 32 bytes')
  if (vlanId.length !== VLAN_ID_LENGTH) throw new MlsError('mls-malformed', 'a VLAN-ID is 32 bytes')
  const cs = await suite()
  const [frameBase, vftKey, hpKey, authSeed] = await Promise.all(
    [
      EXPORTER_LABEL_FRAME,
      EXPORTER_LABEL_VFT,
      EXPORTER_LABEL_HEADER,
      EXPORTER_LABEL_RELAY_AUTH,
    ].map((label) => mlsExporter(exporterSecret, label, vlanId, 32, cs)),
  )
  return { frameBase: frameBase!, vftKey: vftKey!, hpKey: hpKey!, authSeed: authSeed! }
}
