/**
 * Node identities and PeerTap MLS credentials (docs/spec/11-mls.md §2).
 *
 * A node's identity is its libp2p Ed25519 key; its PeerId is the identity
 * multihash of the protobuf-encoded public key. Its MLS leaf uses a separate
 * Ed25519 signature key (fresh per key package), and the credential binds the
 * two: a basic credential whose identity is
 *
 *   u8 len ‖ PeerId (len bytes) ‖ Ed25519-Sign(identityKey,
 *       "PeerTap v1 mls-credential" ‖ MLS signature public key)
 *
 * Ed25519 runs on the platform's Web Crypto (OpenSSL in Node): no I/O, and no
 * extra dependency.
 */
import type { AuthenticationService, Credential } from 'ts-mls'
import {
  CREDENTIAL_BINDING_LABEL,
  ED25519_KEY_LENGTH,
  ED25519_PEER_ID_LENGTH,
  ED25519_PEER_ID_PREFIX,
  ED25519_SIGNATURE_LENGTH,
  MAX_PEER_ID_LENGTH,
} from './constants.ts'
import { MlsError } from './errors.ts'

const encoder = new TextEncoder()
const BINDING_LABEL = encoder.encode(CREDENTIAL_BINDING_LABEL)
const subtle = globalThis.crypto.subtle
const ED25519 = { name: 'Ed25519' } as const
// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410 §7): Web Crypto imports private keys only so.
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
])

/** A node's libp2p identity as @peertap/mls needs it: its PeerId and a signer. */
export interface NodeIdentity {
  /** The PeerId's multihash bytes (38 bytes for Ed25519). */
  readonly peerId: Uint8Array
  /** Signs `message` with the identity's Ed25519 key. */
  sign(message: Uint8Array): Promise<Uint8Array>
}

/** What a PeerTap MLS credential says. */
export interface CredentialClaim {
  /** The member's PeerId, multihash bytes. */
  readonly peerId: Uint8Array
  /** The identity key's signature over the MLS signature public key. */
  readonly binding: Uint8Array
}

/** 11-mls.md §2: the PeerId (identity multihash) of an Ed25519 public key. */
export function peerIdFromEd25519PublicKey(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== ED25519_KEY_LENGTH) {
    throw new MlsError('mls-credential-invalid', 'an Ed25519 public key is 32 bytes')
  }
  const out = new Uint8Array(ED25519_PEER_ID_LENGTH)
  out.set(ED25519_PEER_ID_PREFIX, 0)
  out.set(publicKey, ED25519_PEER_ID_PREFIX.length)
  return out
}

/** The Ed25519 public key inside an Ed25519 PeerId, or undefined for any other PeerId. */
export function ed25519PublicKeyOfPeerId(peerId: Uint8Array): Uint8Array | undefined {
  if (peerId.length !== ED25519_PEER_ID_LENGTH) return undefined
  for (let i = 0; i < ED25519_PEER_ID_PREFIX.length; i++) {
    if (peerId[i] !== ED25519_PEER_ID_PREFIX[i]) return undefined
  }
  return peerId.slice(ED25519_PEER_ID_PREFIX.length)
}

/**
 * A {@link NodeIdentity} from the identity's Ed25519 private key: the 32-byte
 * seed, or libp2p's 64-byte raw form (seed ‖ public key, checked).
 */
export async function nodeIdentityFromEd25519PrivateKey(
  privateKey: Uint8Array,
): Promise<NodeIdentity> {
  if (privateKey.length !== 32 && privateKey.length !== 64) {
    throw new MlsError('mls-credential-invalid', 'an Ed25519 private key is 32 or 64 bytes')
  }
  const seed = privateKey.subarray(0, 32)
  const pkcs8 = pkcs8WithSeed(seed)
  // Imported twice: once extractable, only to read the public key, then not.
  const jwk = await subtle.exportKey(
    'jwk',
    await subtle.importKey('pkcs8', pkcs8, ED25519, true, ['sign']),
  )
  const publicKey = new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'))
  if (privateKey.length === 64 && !bytesEqual(publicKey, privateKey.subarray(32))) {
    throw new MlsError('mls-credential-invalid', 'the 64-byte key does not end in its public key')
  }
  const signer = await subtle.importKey('pkcs8', pkcs8, ED25519, false, ['sign'])
  pkcs8.fill(0)
  return {
    peerId: peerIdFromEd25519PublicKey(publicKey),
    sign: async (message) => new Uint8Array(await subtle.sign(ED25519, signer, message)),
  }
}

function pkcs8WithSeed(seed: Uint8Array): Uint8Array {
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32)
  pkcs8.set(PKCS8_PREFIX, 0)
  pkcs8.set(seed, PKCS8_PREFIX.length)
  return pkcs8
}

/** Verifies an Ed25519 signature; false for a key Web Crypto refuses. */
export async function verifyEd25519(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== ED25519_KEY_LENGTH || signature.length !== ED25519_SIGNATURE_LENGTH) {
    return false
  }
  try {
    const key = await subtle.importKey('raw', publicKey, ED25519, false, ['verify'])
    return await subtle.verify(ED25519, key, signature, message)
  } catch {
    return false
  }
}

/** The message the identity key signs to bind an MLS signature key (11-mls.md §2). */
export function bindingMessage(signaturePublicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(BINDING_LABEL.length + signaturePublicKey.length)
  out.set(BINDING_LABEL, 0)
  out.set(signaturePublicKey, BINDING_LABEL.length)
  return out
}

/** 11-mls.md §2: the basic credential of `identity` for the MLS signature key `signaturePublicKey`. */
export async function createCredential(
  identity: NodeIdentity,
  signaturePublicKey: Uint8Array,
): Promise<Credential> {
  const { peerId } = identity
  if (peerId.length === 0 || peerId.length > MAX_PEER_ID_LENGTH) {
    throw new MlsError('mls-credential-invalid', 'a PeerId is 1 to 64 bytes')
  }
  const binding = await identity.sign(bindingMessage(signaturePublicKey))
  const out = new Uint8Array(1 + peerId.length + binding.length)
  out[0] = peerId.length
  out.set(peerId, 1)
  out.set(binding, 1 + peerId.length)
  return { credentialType: 'basic', identity: out }
}

/** Parses a PeerTap credential, or returns undefined if it is not one. */
export function parseCredential(credential: Credential): CredentialClaim | undefined {
  if (credential.credentialType !== 'basic') return undefined
  const id = credential.identity
  const len = id[0]
  if (len === undefined || len === 0 || len > MAX_PEER_ID_LENGTH) return undefined
  if (id.length !== 1 + len + ED25519_SIGNATURE_LENGTH) return undefined
  return { peerId: id.slice(1, 1 + len), binding: id.slice(1 + len) }
}

/**
 * 11-mls.md §2: true if `credential` is a PeerTap credential whose PeerId is
 * an Ed25519 PeerId that signed `signaturePublicKey`.
 */
export async function verifyCredential(
  credential: Credential,
  signaturePublicKey: Uint8Array,
): Promise<boolean> {
  const claim = parseCredential(credential)
  if (claim === undefined) return false
  const identityKey = ed25519PublicKeyOfPeerId(claim.peerId)
  if (identityKey === undefined) return false
  return verifyEd25519(identityKey, claim.binding, bindingMessage(signaturePublicKey))
}

/**
 * The AuthenticationService ts-mls calls for every leaf node it meets (key
 * packages, update paths, the tree in a Welcome, message signers). Results
 * are memoised, since a 1000-member Welcome checks 1000 credentials.
 */
export function peerTapAuthenticationService(): AuthenticationService {
  const memo = new Map<string, boolean>()
  return {
    async validateCredential(credential, signaturePublicKey) {
      if (credential.credentialType !== 'basic') return false
      const key = `${hex(credential.identity)}:${hex(signaturePublicKey)}`
      const known = memo.get(key)
      if (known !== undefined) return known
      const ok = await verifyCredential(credential, signaturePublicKey)
      if (memo.size >= 8192) memo.clear()
      memo.set(key, ok)
      return ok
    },
  }
}

/** Byte-wise equality (public values only: not constant-time). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Lowercase hex. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}
