/**
 * PeerIds between their text form (`12D3KooW…`, in configs, logs and the
 * API) and their bytes (the multihash, in the protocol), and bytes as hex
 * (VLAN-IDs in file names and maps): the node's one copy of each.
 */
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'

/** A PeerId's multihash bytes; throws on text that is not a PeerId. */
export const peerIdBytes = (text: string): Uint8Array => peerIdFromString(text).toMultihash().bytes

/** A PeerId's text from its multihash bytes; throws on bytes that are not one. */
export const peerIdText = (bytes: Uint8Array): string =>
  peerIdFromMultihash(Digest.decode(bytes)).toString()

/** Lower-case hex. */
export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
