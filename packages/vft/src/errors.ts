/**
 * The one error class of this package. It is thrown only at API boundaries,
 * for input a person or a config supplied (a bad VLAN name, a malformed MAC
 * string, a key of the wrong length); `code` is stable and safe to match on.
 */
export class VftError extends Error {
  readonly code: VftErrorCode

  constructor(code: VftErrorCode, message: string) {
    super(message)
    this.name = 'VftError'
    this.code = code
  }
}

export type VftErrorCode =
  | 'ERR_VLAN_NAME_EMPTY'
  | 'ERR_VLAN_NAME_TOO_LONG'
  | 'ERR_VLAN_NAME_INVALID_UTF8'
  | 'ERR_VLAN_NAME_CONTROL_CHAR'
  | 'ERR_PEER_ID_INVALID'
  | 'ERR_VLAN_ID_INVALID'
  | 'ERR_MAC_INVALID'
  | 'ERR_KEY_LENGTH'
  | 'ERR_WINDOW_RANGE'
  | 'ERR_SECRET_EMPTY'
