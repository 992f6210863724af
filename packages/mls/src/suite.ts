/** The ciphersuite implementation (11-mls.md §1), made once per process. */
import { type CiphersuiteImpl, getCiphersuiteFromName, getCiphersuiteImpl } from 'ts-mls'
import { CIPHERSUITE_NAME } from './constants.ts'

let impl: Promise<CiphersuiteImpl> | undefined

/** ts-mls's implementation of suite 1 (X25519, AES-128-GCM, SHA-256, Ed25519). */
export function suite(): Promise<CiphersuiteImpl> {
  impl ??= getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE_NAME))
  return impl
}
