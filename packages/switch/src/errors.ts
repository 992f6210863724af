/** Errors of the switch's API (configuration mistakes); the data path drops and counts instead. */
export class SwitchError extends Error {
  readonly code: 'ERR_VLAN_EXISTS' | 'ERR_PORT_EXISTS' | 'ERR_NO_VLAN' | 'ERR_NO_PORT'

  constructor(code: SwitchError['code'], message: string) {
    super(message)
    this.name = 'SwitchError'
    this.code = code
  }
}
