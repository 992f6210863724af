import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '@peertap/trunk'

/**
 * Creates the identity in `stateDir` (if absent) and returns its PeerId, as
 * `peertap keygen -s DIR` and `peertap-relay keygen -s DIR` do: both CLIs
 * call the same `loadOrCreateIdentity`. Done in this process, it saves a
 * CLI start (about 1 s here) per node and relay of every overlay; the
 * keygen commands themselves are tested by e2e.test.ts and tun.e2e.test.ts.
 */
export async function keygen(stateDir: string): Promise<string> {
  return peerIdFromPrivateKey(await loadOrCreateIdentity(stateDir)).toString()
}
