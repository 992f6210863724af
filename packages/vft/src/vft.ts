import { blake3 } from '@noble/hashes/blake3.js'
import { MAC_LENGTH, VFT_KEY_LENGTH, VFT_LABEL, VFT_LENGTH } from './constants.ts'
import { VftError } from './errors.ts'
import { assertMac, type Mac } from './mac.ts'
import { assertWindow, type Window } from './window.ts'

/** A VLAN Forwarding Token: 16 opaque bytes (spec 02-vft.md §2). */
export type Vft = Uint8Array

const LABEL_BYTES = new TextEncoder().encode(VFT_LABEL)
const MAC_OFFSET = LABEL_BYTES.length
const WINDOW_OFFSET = MAC_OFFSET + MAC_LENGTH
const INPUT_LENGTH = WINDOW_OFFSET + 4

/**
 * Derives VFTs under one vftKey (spec 02-vft.md §2):
 *
 *     VFT(mac, w) = first 16 bytes of BLAKE3-keyed(vftKey, "PeerTap v1 vft" ‖ mac ‖ u32 w)
 *
 * The keyed hasher is set up once per key and cloned per derivation, and the
 * input lives in one reused buffer: about twice the speed of a one-shot
 * keyed BLAKE3 call (bench/index.ts). Not safe to share across threads;
 * cheap to make one per key.
 */
export class VftDeriver {
  readonly #keyed: ReturnType<typeof blake3.create>
  readonly #scratch: ReturnType<typeof blake3.create>
  readonly #input = new Uint8Array(INPUT_LENGTH)
  readonly #inputView = new DataView(this.#input.buffer)
  readonly #digest = new Uint8Array(32)

  constructor(vftKey: Uint8Array) {
    if (vftKey.length !== VFT_KEY_LENGTH) {
      throw new VftError('key-length', `a vftKey is ${VFT_KEY_LENGTH} bytes, got ${vftKey.length}`)
    }
    this.#keyed = blake3.create({ key: vftKey })
    this.#scratch = blake3.create({ key: vftKey })
    this.#input.set(LABEL_BYTES, 0)
  }

  /**
   * The VFT of `mac` in `window`. Writes into `out` at `offset` when given
   * (no allocation) and returns the 16 bytes written; otherwise returns a
   * new array.
   */
  derive(mac: Mac, window: Window, out?: Uint8Array, offset = 0): Vft {
    assertMac(mac)
    assertWindow(window)
    this.#input.set(mac, MAC_OFFSET)
    this.#inputView.setUint32(WINDOW_OFFSET, window, false)
    this.#keyed._cloneInto(this.#scratch)
    this.#scratch.update(this.#input)
    this.#scratch.digestInto(this.#digest)
    const target = out ?? new Uint8Array(VFT_LENGTH)
    target.set(this.#digest.subarray(0, VFT_LENGTH), out === undefined ? 0 : offset)
    return out === undefined ? target : target.subarray(offset, offset + VFT_LENGTH)
  }
}

/** One-shot form of {@link VftDeriver.derive}, for code that derives rarely. */
export function deriveVft(vftKey: Uint8Array, mac: Mac, window: Window): Vft {
  return new VftDeriver(vftKey).derive(mac, window)
}
