import { PeerTapError } from '@peertap/errors'

/** The codes of {@link SwitchError} (kebab-case, @peertap/errors). */
export type SwitchErrorCode = 'vlan-exists' | 'port-exists' | 'no-vlan' | 'no-port'

/** Errors of the switch's API (configuration mistakes); the data path drops and counts instead. */
export class SwitchError extends PeerTapError<SwitchErrorCode> {
  constructor(code: SwitchErrorCode, message: string) {
    super(code, message)
    this.name = 'SwitchError'
  }
}
