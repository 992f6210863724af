/**
 * The sending side of one local sender in one VLAN epoch
 * (docs/spec/03-keys.md §4-§6, 04-sealed-payload.md §2-§4). Stages of seal():
 *
 *   1. rollover: at counter 2^23, move to the next key (MLS: generation + 1
 *      mod 2^32; PSK: a fresh random KID), counter back to 0
 *   2. header: config ‖ KID ‖ minimal CTR
 *   3. AES-256-GCM(key, salt XOR counter, aad = VFT ‖ header)
 *   4. header protection with AES-256-ECB(hpKey, tag)
 *   5. counter + 1
 *
 * A sender starts under a random generation (MLS) or a random KID (PSK), so
 * a restart never reuses a nonce although no counter is persisted.
 */
import { type CryptoBackend, nodeBackend } from './backend.ts'
import {
  COUNTER_LIMIT,
  HEADER_FIXED_LENGTH,
  MAX_LEAF_INDEX,
  MIN_PLAINTEXT_LENGTH,
  TAG_LENGTH,
  VFT_LENGTH,
} from './constants.ts'
import { InvalidArgumentError } from './errors.ts'
import { deriveSenderKeyMaterialHiLo, type EpochSecrets } from './keys.ts'
import {
  defaultRandom,
  epochByte,
  type Kid,
  kidFromBytes,
  type RandomSource,
  randomGeneration,
} from './kid.ts'
import {
  copyTag,
  ctrLength,
  HeaderProtection,
  protectHeader,
  Scratch,
  SenderKey,
  sealClear,
  sealUnchecked,
} from './payload.ts'
import type { SharedCells } from './shared.ts'

/** Options common to both kinds of VLAN. */
interface FrameSenderCommon {
  /** The epoch's secrets; the sender uses frameBase and hpKey. */
  readonly secrets: Pick<EpochSecrets, 'frameBase' | 'hpKey'>
  /** Default: {@link nodeBackend}. */
  readonly backend?: CryptoBackend
  /** Default: the platform CSPRNG. */
  readonly random?: RandomSource
  /**
   * First counter under the first key (default 0). For tests only: a value
   * other than 0 wastes counters but is safe, since the first key is fresh.
   */
  readonly startCounter?: number
  /**
   * Draw each key's counters from a cell a native fast path shares
   * (shared.ts), so that both seal under one key without repeating a
   * nonce. Counters are then reserved per call: sealedLength() or
   * sealedLengths() reserve what the next seal or sealBatch uses.
   */
  readonly cells?: SharedCells
}

/** A sender on an MLS VLAN: KID = leafIndex ‖ epoch & 0xff ‖ generation. */
export interface MlsFrameSenderInit extends FrameSenderCommon {
  readonly kind: 'mls'
  readonly leafIndex: number
  readonly epoch: number | bigint
  /**
   * The first generation. Default: random, which is what makes a restart
   * safe. Set it only for test vectors: a (key, counter) pair used twice
   * breaks AES-GCM.
   */
  readonly generation?: number
}

/** A sender on a PSK VLAN or the MVLAN: a random 64-bit KID. */
export interface PskFrameSenderInit extends FrameSenderCommon {
  readonly kind: 'psk'
  /** The first KID. Default: random. Set it only for test vectors (see MlsFrameSenderInit.generation). */
  readonly kid?: Kid
}

export type FrameSenderInit = MlsFrameSenderInit | PskFrameSenderInit

/** The largest sealed payload a v1 sender makes for `plaintextLength` bytes (CTR < 2^23: 3 bytes). */
export function maxSealedLength(plaintextLength: number): number {
  return HEADER_FIXED_LENGTH + ctrLength(COUNTER_LIMIT - 1) + plaintextLength + TAG_LENGTH
}

/** Seals frames for one local sender in one VLAN epoch. */
export class FrameSender {
  readonly #backend: CryptoBackend
  readonly #random: RandomSource
  readonly #frameBase: Uint8Array
  readonly #hp: HeaderProtection
  readonly #scratch = new Scratch()
  /** MLS: leafIndex << 8 | epoch byte (the KID's high half); PSK: -1. */
  readonly #mlsHigh: number
  #key: SenderKey
  #counter: number
  #generation: number
  readonly #cells: SharedCells | undefined
  /** With cells: the current key's counter cell, and the end of the counters reserved from it. */
  #cell = -1
  #reservedEnd = 0

  constructor(init: FrameSenderInit) {
    this.#backend = init.backend ?? nodeBackend
    this.#random = init.random ?? defaultRandom
    this.#frameBase = init.secrets.frameBase.slice()
    this.#hp = new HeaderProtection(this.#backend, init.secrets.hpKey)
    const start = init.startCounter ?? 0
    if (!Number.isInteger(start) || start < 0 || start > COUNTER_LIMIT) {
      throw new InvalidArgumentError('startCounter must be in [0, 2^23]')
    }
    this.#counter = start
    this.#cells = init.cells
    if (init.kind === 'mls') {
      const { leafIndex } = init
      if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex > MAX_LEAF_INDEX) {
        throw new InvalidArgumentError('leafIndex must be a u24')
      }
      this.#mlsHigh = ((leafIndex << 8) | epochByte(init.epoch)) >>> 0
      const g = init.generation ?? randomGeneration(this.#random)
      if (!Number.isInteger(g) || g < 0 || g > 0xffff_ffff) {
        throw new InvalidArgumentError('generation must be a u32')
      }
      this.#generation = g
      this.#key = SenderKey.deriveHiLo(this.#backend, this.#frameBase, this.#mlsHigh, g)
    } else {
      this.#mlsHigh = -1
      this.#generation = 0
      const kid = init.kid ?? kidFromBytes(this.#random(new Uint8Array(8)))
      this.#key = SenderKey.derive(this.#backend, this.#frameBase, kid)
    }
    if (this.#cells !== undefined) {
      this.#cell = this.#cells.newCounter()
      if (start > 0 && this.#cells.takeCounters(this.#cell, start, COUNTER_LIMIT + 1) < 0) {
        throw new InvalidArgumentError('startCounter must be in [0, 2^23]')
      }
      this.#reservedEnd = start
    }
  }

  /**
   * For a fast path that seals under this sender's key too
   * (docs/spec/18-fast-path.md): the current key's KID (8 bytes), AES key,
   * salt and shared counter cell; undefined without shared cells.
   */
  flowKey():
    | { kid: Uint8Array; key: Uint8Array; salt: Uint8Array; counterCell: number }
    | undefined {
    if (this.#cells === undefined) return undefined
    const k = this.#key
    const m = deriveSenderKeyMaterialHiLo(this.#frameBase, k.kidHi, k.kidLo)
    const kid = new Uint8Array(8)
    const view = new DataView(kid.buffer)
    view.setUint32(0, k.kidHi)
    view.setUint32(4, k.kidLo)
    return { kid, key: m.key, salt: m.salt, counterCell: this.#cell }
  }

  /**
   * With shared cells: makes sure `n` counters are reserved for the next
   * seals (taking them from the cell, or moving to the next key when the
   * cell has fewer left). Without, counters are this object's alone.
   */
  #reserve(n: number): void {
    const cells = this.#cells
    if (cells === undefined) return
    for (;;) {
      const first = cells.takeCounters(this.#cell, n, COUNTER_LIMIT)
      if (first >= 0) {
        this.#counter = first
        this.#reservedEnd = first + n
        return
      }
      // Spent (by us or the fast path): the next key, with a cell of its own.
      this.#counter = COUNTER_LIMIT
      this.#rolloverIfDue()
    }
  }

  /** With shared cells: reserves one counter unless one is already reserved. */
  #reserveOne(): void {
    if (this.#cells !== undefined && this.#counter >= this.#reservedEnd) this.#reserve(1)
  }

  /** The KID of the key the next frame will be sealed under (after any rollover due). */
  get kid(): Kid {
    this.#rolloverIfDue()
    return this.#key.kid
  }

  /** The current generation (MLS senders; 0 on PSK senders). */
  get generation(): number {
    this.#rolloverIfDue()
    return this.#generation
  }

  /** The counter the next frame will carry (with shared cells: reserved for it now). */
  get counter(): number {
    this.#reserveOne()
    this.#rolloverIfDue()
    return this.#counter
  }

  /** Exact length of the next sealed payload for `plaintextLength` bytes. */
  sealedLength(plaintextLength: number): number {
    this.#reserveOne()
    const next = this.#counter === COUNTER_LIMIT ? 0 : this.#counter
    return HEADER_FIXED_LENGTH + ctrLength(next) + plaintextLength + TAG_LENGTH
  }

  /** Seals one plaintext (kind byte ‖ body) for `vft`; returns the sealed payload. */
  seal(vft: Uint8Array, plaintext: Uint8Array): Uint8Array {
    this.#checkArgs(vft, plaintext)
    const out = new Uint8Array(this.sealedLength(plaintext.length))
    this.#sealUnchecked(vft, plaintext, out, 0)
    return out
  }

  /**
   * Seals into `out` at `offset` (e.g. after a FRAME's hop limit and VFT) and
   * returns the bytes written; `out` must have room for
   * sealedLength(plaintext.length) bytes.
   */
  sealInto(vft: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): number {
    this.#checkArgs(vft, plaintext)
    if (
      !Number.isInteger(offset) ||
      offset < 0 ||
      offset + this.sealedLength(plaintext.length) > out.length
    ) {
      throw new InvalidArgumentError('out has no room for the sealed payload at offset')
    }
    return this.#sealUnchecked(vft, plaintext, out, offset)
  }

  /**
   * Lengths of the next `plaintextLengths.length` sealed payloads, in order,
   * written to `lengths` (the CTR grows a byte at 256 and 65536; a rollover
   * starts again at one byte). Lay out a batch with it, then sealBatch().
   */
  sealedLengths(plaintextLengths: ArrayLike<number>, lengths: number[] | Uint32Array): void {
    if (this.#cells !== undefined && plaintextLengths.length > 0)
      this.#reserve(plaintextLengths.length)
    let counter = this.#counter
    for (let i = 0; i < plaintextLengths.length; i++) {
      if (counter === COUNTER_LIMIT) counter = 0
      lengths[i] = HEADER_FIXED_LENGTH + ctrLength(counter) + plaintextLengths[i]! + TAG_LENGTH
      counter++
    }
  }

  /**
   * Seals plaintexts[i] for vfts[i] into `out` at offsets[i] (room for the
   * lengths sealedLengths() gives), in order. Same bytes as sealInto() one
   * by one, but one AES-ECB call protects every header of the batch
   * (docs/design.md §9: work per batch). Throws only on API misuse, before
   * sealing anything.
   */
  sealBatch(
    vfts: readonly Uint8Array[],
    plaintexts: readonly Uint8Array[],
    out: Uint8Array,
    offsets: ArrayLike<number>,
  ): void {
    const n = plaintexts.length
    if (vfts.length !== n || offsets.length !== n) {
      throw new InvalidArgumentError('vfts, plaintexts and offsets differ in length')
    }
    if (n === 0) return
    if (this.#cells !== undefined && this.#reservedEnd - this.#counter < n) {
      throw new InvalidArgumentError(
        'with shared cells, sealBatch follows sealedLengths for its frames',
      )
    }
    let counter = this.#counter
    for (let i = 0; i < n; i++) {
      this.#checkArgs(vfts[i]!, plaintexts[i]!)
      if (counter === COUNTER_LIMIT) counter = 0
      const end =
        offsets[i]! + HEADER_FIXED_LENGTH + ctrLength(counter) + plaintexts[i]!.length + TAG_LENGTH
      if (!Number.isInteger(offsets[i]) || offsets[i]! < 0 || end > out.length) {
        throw new InvalidArgumentError(`out has no room for frame ${i} at its offset`)
      }
      counter++
    }
    const s = this.#scratch
    const samples = s.samplesFor(n)
    const headerLengths = this.#headerLengths(n)
    for (let i = 0; i < n; i++) {
      this.#rolloverIfDue()
      const offset = offsets[i]!
      const plaintext = plaintexts[i]!
      const h = sealClear(s, this.#key, this.#counter, vfts[i]!, plaintext, out, offset)
      headerLengths[i] = h
      copyTag(out, offset + h + plaintext.length, samples, i * TAG_LENGTH)
      this.#counter++
    }
    const masks = this.#hp.maskKey.mask(samples.subarray(0, n * TAG_LENGTH))
    for (let i = 0; i < n; i++)
      protectHeader(out, offsets[i]!, headerLengths[i]!, masks, i * TAG_LENGTH)
  }

  #headerLengthsBuffer = new Uint8Array(64)

  #headerLengths(n: number): Uint8Array {
    if (this.#headerLengthsBuffer.length < n) this.#headerLengthsBuffer = new Uint8Array(n * 2)
    return this.#headerLengthsBuffer
  }

  #checkArgs(vft: Uint8Array, plaintext: Uint8Array): void {
    if (vft.length !== VFT_LENGTH) throw new InvalidArgumentError('a VFT is 16 bytes')
    if (plaintext.length < MIN_PLAINTEXT_LENGTH) {
      throw new InvalidArgumentError('the plaintext holds at least its kind byte')
    }
  }

  #sealUnchecked(vft: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): number {
    this.#reserveOne()
    this.#rolloverIfDue()
    const n = sealUnchecked(
      this.#scratch,
      this.#hp.maskKey,
      this.#key,
      this.#counter,
      vft,
      plaintext,
      out,
      offset,
    )
    this.#counter++
    return n
  }

  /** 03-keys.md §4: a key carries counters 0 .. 2^23 - 1, then the sender moves on. */
  #rolloverIfDue(): void {
    if (this.#counter < COUNTER_LIMIT) return
    if (this.#mlsHigh >= 0) {
      this.#generation = (this.#generation + 1) >>> 0
      this.#key = SenderKey.deriveHiLo(
        this.#backend,
        this.#frameBase,
        this.#mlsHigh,
        this.#generation,
      )
    } else {
      this.#key = SenderKey.derive(
        this.#backend,
        this.#frameBase,
        kidFromBytes(this.#random(new Uint8Array(8))),
      )
    }
    this.#counter = 0
    if (this.#cells !== undefined) {
      // The old cell stays spent; its fast path entries are cleared with the key change.
      this.#cells.free(this.#cell, 'counter')
      this.#cell = this.#cells.newCounter()
      this.#reservedEnd = 0
      this.onKeyChange?.()
    }
  }

  /**
   * Gives its shared counter cell back (an epoch the switch dropped); the
   * sender is not used after this. Nothing to do without shared cells.
   */
  dispose(): void {
    if (this.#cells !== undefined && this.#cell >= 0) this.#cells.free(this.#cell, 'counter')
    this.#cell = -1
  }

  /** Called when the sender moves to its next key (shared cells only): a fast path drops its entries. */
  onKeyChange: (() => void) | undefined
}
