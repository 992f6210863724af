import { PeerTapError } from '@peertap/errors'

/**
 * Stable error codes. Errors are raised only for API misuse (a MAC that is
 * not 6 bytes, an address that does not parse, options out of range); what
 * arrives from the VLAN or the host is dropped and counted, never thrown.
 */
export type TunL2ErrorCode = 'tun-l2-invalid-options' | 'tun-l2-address-invalid'

/** The one error class of this package; switch on `code`, not on the message. */
export class TunL2Error extends PeerTapError<TunL2ErrorCode> {
  constructor(code: TunL2ErrorCode, message: string) {
    super(code, message)
    this.name = 'TunL2Error'
  }
}
