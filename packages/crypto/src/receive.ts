/**
 * The receiving side of one VLAN epoch's key set
 * (docs/spec/04-sealed-payload.md §5-§7). Stages of open(), in the order of
 * the spec's drop rules; each drop is counted and returned as a code, never
 * thrown:
 *
 *   1. length                                   'short'
 *   2. unmask the config byte with AES-ECB(hpKey, tag); check it   'bad-config'
 *   3. length for this header                   'short'
 *   4. unmask the rest of the header; minimal CTR   'non-minimal-ctr'
 *   5. counter < 2^23                           'ctr-limit'
 *   6. KID lookup; on first sight: epoch byte (MLS)  'unknown-epoch',
 *      leaf predicate (MLS)  'unknown-sender', room in the cache
 *      'kid-cache-full', then derive the sender key
 *   7. replay window check (before the AEAD)     'replay', 'too-old'
 *   8. AES-256-GCM open                         'auth'
 *   9. update the replay window and the KID's last window; a new KID enters
 *      the cache only now
 */
import { type CryptoBackend, nodeBackend } from './backend.ts'
import {
  COUNTER_LIMIT,
  DEFAULT_MAX_KIDS,
  MIN_SEALED_LENGTH,
  TAG_LENGTH,
  VFT_LENGTH,
} from './constants.ts'
import { InvalidArgumentError } from './errors.ts'
import { deriveSenderKeyMaterialHiLo, type EpochSecrets } from './keys.ts'
import { checkKid, epochByte, type Kid } from './kid.ts'
import {
  copyTag,
  DROP_REASONS,
  type DropReason,
  HeaderProtection,
  headerCounter,
  headerKidHigh,
  headerKidLow,
  openUnchecked,
  Scratch,
  SenderKey,
  unprotectHeaderWithMask,
} from './payload.ts'
import { ReplayWindow } from './replay.ts'
import { type SharedCells, SharedReplayWindow } from './shared.ts'

/** Frames opened and frames dropped, by drop code. */
export type ReceiveCounters = Record<DropReason | 'opened', number>

interface FrameReceiverCommon {
  /** The epoch's secrets; the receiver uses frameBase and hpKey. */
  readonly secrets: Pick<EpochSecrets, 'frameBase' | 'hpKey'>
  /** Default: {@link nodeBackend}. */
  readonly backend?: CryptoBackend
  /** Bound of the KID cache (04-sealed-payload.md §7). Default 1024. */
  readonly maxKids?: number
  /** The oldest VFT window the caller holds at the start (default 0); see setOldestHeldWindow(). */
  readonly oldestHeldWindow?: number
  /**
   * Keep the KIDs' replay windows in cells a native fast path shares
   * (shared.ts): then a counter it accepted is refused here, and the other
   * way round. Default: windows of this object's own.
   */
  readonly cells?: SharedCells
}

/** A receiver for an MLS VLAN epoch. */
export interface MlsFrameReceiverInit extends FrameReceiverCommon {
  readonly kind: 'mls'
  /** The MLS epoch this key set belongs to; KIDs must carry its low 8 bits. */
  readonly epoch: number | bigint
  /**
   * Refuses leaf indices that are not in the group ('unknown-sender'); asked
   * on a KID's first sight only. Must not throw.
   */
  readonly acceptLeaf?: (leafIndex: number) => boolean
}

/** A receiver for a PSK VLAN or the MVLAN. */
export interface PskFrameReceiverInit extends FrameReceiverCommon {
  readonly kind: 'psk'
}

export type FrameReceiverInit = MlsFrameReceiverInit | PskFrameReceiverInit

/** A KID the receiver has opened a frame under. */
interface KidEntry {
  readonly hi: number
  readonly lo: number
  readonly key: SenderKey
  /** Undefined until the KID's first frame opens. */
  replay: ReplayWindow | SharedReplayWindow | undefined
  /** The newest VFT window a frame under this KID opened in. */
  lastWindow: number
  /** The next entry whose slot key collides with this one. */
  next: KidEntry | undefined
  cached: boolean
}

/** Map key of a KID: 30 bits so that V8 keeps it a small integer. */
function slotOf(hi: number, lo: number): number {
  return (hi ^ lo) & 0x3fff_ffff
}

/** Opens sealed payloads for one VLAN epoch's key set. */
export class FrameReceiver {
  /** Frames opened and dropped, by drop code. */
  readonly counters: ReceiveCounters
  readonly #backend: CryptoBackend
  readonly #frameBase: Uint8Array
  readonly #hp: HeaderProtection
  readonly #scratch = new Scratch()
  /** MLS: the epoch byte KIDs must carry; PSK: -1. */
  readonly #epochByte: number
  readonly #acceptLeaf: ((leafIndex: number) => boolean) | undefined
  readonly #maxKids: number
  readonly #cells: SharedCells | undefined
  readonly #hpKey: Uint8Array
  readonly #slots = new Map<number, KidEntry>()
  #size = 0
  #oldestHeld: number
  #victim: KidEntry | undefined
  /** The oldest held window at which a full scan found no victim (-1: none). */
  #noVictimAt = -1

  constructor(init: FrameReceiverInit) {
    this.#backend = init.backend ?? nodeBackend
    this.#frameBase = init.secrets.frameBase.slice()
    this.#hp = new HeaderProtection(this.#backend, init.secrets.hpKey)
    this.#hpKey = init.secrets.hpKey.slice()
    this.#cells = init.cells
    const maxKids = init.maxKids ?? DEFAULT_MAX_KIDS
    if (!Number.isInteger(maxKids) || maxKids < 1)
      throw new InvalidArgumentError('maxKids must be >= 1')
    this.#maxKids = maxKids
    this.#oldestHeld = init.oldestHeldWindow ?? 0
    if (init.kind === 'mls') {
      this.#epochByte = epochByte(init.epoch)
      this.#acceptLeaf = init.acceptLeaf
    } else {
      this.#epochByte = -1
      this.#acceptLeaf = undefined
    }
    const counters = { opened: 0 } as ReceiveCounters
    for (const reason of DROP_REASONS) counters[reason] = 0
    this.counters = counters
  }

  /** Number of KIDs in the cache. */
  get kidCount(): number {
    return this.#size
  }

  /** Whether `kid` is in the cache. */
  hasKid(kid: Kid): boolean {
    checkKid(kid)
    return this.#lookup(Number(kid >> 32n), Number(kid & 0xffff_ffffn)) !== undefined
  }

  /**
   * The caller now holds no VFT window older than `window`. KIDs last seen in
   * an older window may be evicted: a replay of their frames carries a VFT
   * the caller no longer accepts (the VFT is in the AAD).
   */
  setOldestHeldWindow(window: number): void {
    if (window !== this.#oldestHeld) {
      this.#oldestHeld = window
      this.#noVictimAt = -1
    }
  }

  /**
   * Opens `sealed`, which arrived under `vft` of VFT window `window` (a VFT
   * the caller holds for this key set). Returns the plaintext (kind byte ‖
   * body) or the drop code; never throws on bad input.
   */
  open(sealed: Uint8Array, vft: Uint8Array, window: number): Uint8Array | DropReason {
    if (vft.length !== VFT_LENGTH) throw new InvalidArgumentError('a VFT is 16 bytes')
    if (sealed.length < MIN_SEALED_LENGTH) return this.#drop('short')
    const s = this.#scratch
    copyTag(sealed, sealed.length - TAG_LENGTH, s.sample, 0)
    return this.#openMasked(sealed, vft, window, this.#hp.maskKey.mask(s.sample), 0)
  }

  /**
   * Opens sealed[i], which arrived under vfts[i] of window windows[i], into
   * results[i] (plaintext or drop code), in order. Same results as open()
   * one by one, but one AES-ECB call unmasks every header of the batch
   * (docs/design.md §9: work per batch). With `kids`, each opened frame's KID
   * goes to kids[2i] (high 32 bits) and kids[2i + 1] (low 32 bits), so the
   * caller can tell senders apart (reassembly per sender); entries of
   * dropped frames are left as they were.
   */
  openBatch(
    sealed: readonly Uint8Array[],
    vfts: readonly Uint8Array[],
    windows: ArrayLike<number>,
    results: (Uint8Array | DropReason)[],
    kids?: number[],
  ): void {
    const n = sealed.length
    if (vfts.length !== n || windows.length !== n) {
      throw new InvalidArgumentError('sealed, vfts and windows differ in length')
    }
    for (let i = 0; i < n; i++) {
      if (vfts[i]!.length !== VFT_LENGTH) throw new InvalidArgumentError('a VFT is 16 bytes')
    }
    if (n === 0) return
    const s = this.#scratch
    const samples = s.samplesFor(n)
    for (let i = 0; i < n; i++) {
      const f = sealed[i]!
      // Too short for rule 1: its sample slot is left as it is and never used.
      if (f.length >= MIN_SEALED_LENGTH) copyTag(f, f.length - TAG_LENGTH, samples, i * TAG_LENGTH)
    }
    const masks = this.#hp.maskKey.mask(samples.subarray(0, n * TAG_LENGTH))
    for (let i = 0; i < n; i++) {
      const f = sealed[i]!
      const result =
        f.length < MIN_SEALED_LENGTH
          ? this.#drop('short')
          : this.#openMasked(f, vfts[i]!, windows[i]!, masks, i * TAG_LENGTH)
      results[i] = result
      if (kids !== undefined && typeof result !== 'string') {
        kids[2 * i] = headerKidHigh(s)
        kids[2 * i + 1] = headerKidLow(s)
      }
    }
  }

  /** Stages 2-9 with the header mask at masks[m, m + 16). */
  #openMasked(
    sealed: Uint8Array,
    vft: Uint8Array,
    window: number,
    masks: Uint8Array,
    m: number,
  ): Uint8Array | DropReason {
    const s = this.#scratch
    const ctrLen = unprotectHeaderWithMask(s, sealed, vft, masks, m)
    if (typeof ctrLen === 'string') return this.#drop(ctrLen)
    // A minimal CTR of 4 or more bytes is >= 2^24 (04-sealed-payload.md §5 rule 5).
    if (ctrLen > 3) return this.#drop('ctr-limit')
    const counter = headerCounter(s, ctrLen)
    if (counter >= COUNTER_LIMIT) return this.#drop('ctr-limit')
    const hi = headerKidHigh(s)
    const lo = headerKidLow(s)
    let entry = this.#lookup(hi, lo)
    if (entry === undefined) {
      if (this.#epochByte >= 0) {
        if ((hi & 0xff) !== this.#epochByte) return this.#drop('unknown-epoch')
        if (this.#acceptLeaf !== undefined && !this.#acceptLeaf(hi >>> 8)) {
          return this.#drop('unknown-sender')
        }
      }
      if (this.#size >= this.#maxKids && this.#findVictim() === undefined) {
        return this.#drop('kid-cache-full')
      }
      entry = {
        hi,
        lo,
        key: SenderKey.deriveHiLo(this.#backend, this.#frameBase, hi, lo),
        replay: undefined,
        lastWindow: window,
        next: undefined,
        cached: false,
      }
    } else {
      const replay = entry.replay!.check(counter)
      if (replay !== undefined) return this.#drop(replay)
    }
    const plaintext = openUnchecked(s, entry.key, sealed, ctrLen)
    if (plaintext === undefined) return this.#drop('auth')
    // The window is made only now, so a forged frame of a new KID takes no cell.
    entry.replay ??=
      this.#cells === undefined ? new ReplayWindow() : new SharedReplayWindow(this.#cells)
    // With shared windows the fast path may have taken the counter meanwhile.
    const raced = entry.replay.accept(counter)
    if (raced !== undefined) return this.#drop(raced)
    if (window > entry.lastWindow) entry.lastWindow = window
    if (!entry.cached) this.#insert(entry)
    this.counters.opened++
    return plaintext
  }

  /**
   * For a fast path that opens frames of this key set itself
   * (docs/spec/18-fast-path.md): the header-protection key, and a KID's
   * sender key material and shared window cell, once a frame under it has
   * opened here; undefined for a KID not in the cache or without shared cells.
   */
  get hpKey(): Uint8Array {
    return this.#hpKey
  }

  flowKid(
    hi: number,
    lo: number,
  ): { key: Uint8Array; salt: Uint8Array; windowCell: number } | undefined {
    const entry = this.#lookup(hi, lo)
    if (entry === undefined || !(entry.replay instanceof SharedReplayWindow)) return undefined
    const m = deriveSenderKeyMaterialHiLo(this.#frameBase, hi, lo)
    return { key: m.key, salt: m.salt, windowCell: entry.replay.cell }
  }

  /**
   * Gives its KIDs' shared window cells back (an epoch the switch dropped);
   * the receiver is not used after this. Nothing to do without shared cells.
   */
  dispose(): void {
    for (const head of this.#slots.values()) {
      for (let e: KidEntry | undefined = head; e !== undefined; e = e.next) {
        if (e.replay instanceof SharedReplayWindow) e.replay.free()
        e.replay = undefined
      }
    }
    this.#slots.clear()
    this.#size = 0
    this.#victim = undefined
  }

  #drop(reason: DropReason): DropReason {
    this.counters[reason]++
    return reason
  }

  #lookup(hi: number, lo: number): KidEntry | undefined {
    let e = this.#slots.get(slotOf(hi, lo))
    while (e !== undefined && (e.hi !== hi || e.lo !== lo)) e = e.next
    return e
  }

  /** An entry that may be evicted: last seen before the oldest held window; the oldest such. */
  #findVictim(): KidEntry | undefined {
    const v = this.#victim
    if (v?.cached && v.lastWindow < this.#oldestHeld) return v
    this.#victim = undefined
    if (this.#noVictimAt === this.#oldestHeld) return undefined
    let best: KidEntry | undefined
    for (const head of this.#slots.values()) {
      for (let e: KidEntry | undefined = head; e !== undefined; e = e.next) {
        if (
          e.lastWindow < this.#oldestHeld &&
          (best === undefined || e.lastWindow < best.lastWindow)
        ) {
          best = e
        }
      }
    }
    if (best === undefined) this.#noVictimAt = this.#oldestHeld
    this.#victim = best
    return best
  }

  #insert(entry: KidEntry): void {
    if (this.#size >= this.#maxKids) {
      // open() checked that a victim exists before deriving the key.
      const victim = this.#findVictim()
      if (victim === undefined) return
      this.#remove(victim)
    }
    const slot = slotOf(entry.hi, entry.lo)
    entry.next = this.#slots.get(slot)
    entry.cached = true
    this.#slots.set(slot, entry)
    this.#size++
  }

  #remove(entry: KidEntry): void {
    const slot = slotOf(entry.hi, entry.lo)
    let e = this.#slots.get(slot)
    if (e === entry) {
      if (entry.next === undefined) this.#slots.delete(slot)
      else this.#slots.set(slot, entry.next)
    } else {
      while (e !== undefined && e.next !== entry) e = e.next
      if (e !== undefined) e.next = entry.next
    }
    entry.cached = false
    entry.next = undefined
    if (entry.replay instanceof SharedReplayWindow) entry.replay.free()
    this.#size--
    if (this.#victim === entry) this.#victim = undefined
    this.#noVictimAt = -1
  }
}
