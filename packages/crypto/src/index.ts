/**
 * PeerTap cryptography, pure (no I/O). The data path: BLAKE3 epoch secrets
 * for PSK VLANs, KIDs and per-sender keys (docs/spec/03-keys.md), the sealed
 * payload with header protection, the replay window and the KID cache
 * (docs/spec/04-sealed-payload.md), on node:crypto or, byte for byte the
 * same, @noble/ciphers. The control path: HPKE (docs/spec/06-hpke.md),
 * membership proofs and a cache of verified ones (ProofVerifier;
 * docs/spec/07-membership-proof.md) and constant-time compare.
 *
 * The data path drops and counts, never throws on bad input: `open()`
 * returns the plaintext or a stable drop code. Misuse (a VFT that is not 16
 * bytes, an empty plaintext) throws a {@link PeerTapError}.
 *
 * @example
 * ```ts
 * import { derivePskEpochSecrets, FrameReceiver, FrameSender } from '@peertap/crypto'
 *
 * const secrets = derivePskEpochSecrets(new TextEncoder().encode('fabric secret'))
 * const vft = new Uint8Array(16) // the frame's VLAN Forwarding Token (@peertap/vft)
 * const window = 2_950_000 // its VFT window, floor(unixSeconds / 600)
 *
 * const sender = new FrameSender({ kind: 'psk', secrets })
 * const receiver = new FrameReceiver({ kind: 'psk', secrets })
 *
 * const plaintext = new Uint8Array([0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) // kind 0 ‖ frame
 * const sealed = sender.seal(vft, plaintext)
 * const opened = receiver.open(sealed, vft, window)
 * if (typeof opened === 'string') throw new Error(opened) // a drop code, e.g. 'auth'
 * receiver.open(sealed, vft, window) // 'replay'
 * receiver.counters // { opened: 1, replay: 1, short: 0, ... }
 * ```
 *
 * @packageDocumentation
 */

// Data path (keys, KIDs, header, seal/open, replay window): exports below this line.
export {
  type AeadKey,
  type Aes256Ecb,
  type Aes256Gcm,
  type AesPrimitives,
  aesBackend,
  type CryptoBackend,
  type HeaderMaskKey,
  nobleBackend,
  nodeAes,
  nodeBackend,
} from './backend.ts'
export {
  CONTEXT_PSK_FRAME,
  CONTEXT_PSK_HEADER,
  CONTEXT_PSK_RELAY_AUTH,
  CONTEXT_PSK_VFT,
  COUNTER_LIMIT,
  EXPORTER_LABEL_FRAME,
  EXPORTER_LABEL_HEADER,
  EXPORTER_LABEL_RELAY_AUTH,
  EXPORTER_LABEL_VFT,
  MAX_HEADER_LENGTH,
  MIN_SEALED_LENGTH,
  REPLAY_WINDOW_SIZE,
  TAG_LENGTH,
  VFT_LENGTH,
} from './constants.ts'
export { InvalidArgumentError, PeerTapError } from './errors.ts'
export {
  deriveKey,
  derivePskEpochSecrets,
  deriveSenderKeyMaterial,
  type EpochSecrets,
  type SenderKeyMaterial,
} from './keys.ts'
export {
  type Kid,
  kidFromBytes,
  kidToBytes,
  type MlsKidFields,
  mlsKid,
  parseMlsKid,
  type RandomSource,
  randomGeneration,
  randomPskKid,
} from './kid.ts'
export {
  ctrLength,
  DROP_REASONS,
  type DropReason,
  HeaderProtection,
  openPayload,
  type SealedFrame,
  SenderKey,
  sealedLength,
  sealPayload,
} from './payload.ts'
export {
  FrameReceiver,
  type FrameReceiverInit,
  type MlsFrameReceiverInit,
  type PskFrameReceiverInit,
  type ReceiveCounters,
} from './receive.ts'
export { type ReplayDrop, ReplayWindow } from './replay.ts'
export {
  FrameSender,
  type FrameSenderInit,
  type MlsFrameSenderInit,
  maxSealedLength,
  type PskFrameSenderInit,
} from './send.ts'
export { type SharedCells, SharedReplayWindow } from './shared.ts'
// -- data-path exports end --

// HPKE, membership proofs, constant-time compare: exports below this line.
export {
  HPKE_AEAD_ID,
  HPKE_ENC_LENGTH,
  HPKE_INFO_PREFIX,
  HPKE_KDF_ID,
  HPKE_KEM_ID,
  HPKE_MIN_SEALED_LENGTH,
  HPKE_PRIVATE_KEY_LENGTH,
  HPKE_PUBLIC_KEY_LENGTH,
  HPKE_TAG_LENGTH,
  PROOF_CLOCK_SKEW_SECONDS,
  PROOF_LABEL,
  PROOF_MAX_VFTS,
  PROOF_PEER_ID_MAX_LENGTH,
  PROOF_PUBLIC_KEY_LENGTH,
  PROOF_SEED_LENGTH,
  PROOF_SIGNATURE_LENGTH,
  PROOF_WINDOW_SECONDS,
} from './constants.ts'
export { constantTimeEqual } from './ct.ts'
export { HpkeKeyError, HpkeOpenError } from './errors.ts'
export {
  deriveHpkeKeyPair,
  generateHpkeKeyPair,
  type HpkeKeyPair,
  type HpkeOpenParams,
  type HpkeSealParams,
  hpkeOpen,
  hpkeSeal,
} from './hpke.ts'
export {
  type CreateMembershipProofParams,
  createMembershipProof,
  decodeMembershipProof,
  encodeMembershipProof,
  type MembershipProof,
  type MembershipProofDecoding,
  type MembershipProofFields,
  type MembershipProofRejection,
  type MembershipProofVerdict,
  membershipProofMessage,
  membershipProofPublicKey,
  type VerifyMembershipProofParams,
  verifyEd25519Strict,
  verifyMembershipProof,
} from './proof.ts'
export {
  DEFAULT_PROOF_CACHE_SIZE,
  ProofVerifier,
  type ProofVerifierCounters,
  type ProofVerifierInit,
  type ProofVerifierVerdict,
  type ProofVerifyParams,
} from './proof-verifier.ts'
// -- control-path exports end --
