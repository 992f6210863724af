import { PeerTapError } from '@peertap/errors'

/**
 * The one error class of this package. It is thrown only at API boundaries,
 * for input a person or a config supplied (a bad VLAN name, a malformed MAC
 * string, a key of the wrong length); `code` is stable and safe to match on
 * (kebab-case, the convention of @peertap/errors' `PeerTapError`).
 */
export class VftError extends PeerTapError<VftErrorCode> {
  constructor(code: VftErrorCode, message: string) {
    super(code, message)
    this.name = 'VftError'
  }
}

export type VftErrorCode =
  | 'vlan-name-empty'
  | 'vlan-name-too-long'
  | 'vlan-name-invalid-utf8'
  | 'vlan-name-control-char'
  | 'peer-id-invalid'
  | 'vlan-id-invalid'
  | 'mac-invalid'
  | 'key-length'
  | 'window-range'
  | 'secret-empty'
