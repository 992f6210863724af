/**
 * Counters and replay windows kept in memory that another thread also uses:
 * a native fast path that seals and opens the same flows
 * (docs/spec/18-fast-path.md; @peertap/tap's FlowCells implements this).
 * Both sides draw a key's counters from one cell and accept a counter into
 * one window cell, so no (key, nonce) pair is sealed twice and no counter
 * is accepted twice, whichever side handles a frame.
 *
 * Cells are indices the implementation hands out. A freed cell may be
 * reused only once the other side can no longer refer to it; the
 * implementation decides when (FlowCells reuses freed cells after its flow
 * cache is cleared).
 */
import type { ReplayDrop } from './replay.ts'

export interface SharedCells {
  /** A fresh counter cell at 0. */
  newCounter(): number
  /**
   * Takes `n` consecutive counters below `limit` from a cell: the first of
   * them, or -1 when fewer than `n` are left (the cell is then spent).
   */
  takeCounters(cell: number, n: number, limit: number): number
  /** A fresh, empty replay window cell (04-sealed-payload.md §6). */
  newWindow(): number
  /** Whether `counter` may be accepted (before the AEAD); decides nothing. */
  check(cell: number, counter: number): 'fresh' | ReplayDrop
  /** After the AEAD: accepts `counter` if no one has; 'fresh' only for the one caller that did. */
  accept(cell: number, counter: number): 'fresh' | ReplayDrop
  /** Gives a cell back (see above for when it is reused). */
  free(cell: number, kind: 'counter' | 'window'): void
}

/** A replay window in a shared cell, with ReplayWindow's check and an atomic accept. */
export class SharedReplayWindow {
  readonly cells: SharedCells
  readonly cell: number

  constructor(cells: SharedCells) {
    this.cells = cells
    this.cell = cells.newWindow()
  }

  check(counter: number): ReplayDrop | undefined {
    const v = this.cells.check(this.cell, counter)
    return v === 'fresh' ? undefined : v
  }

  /** Checks and marks in one step: undefined when this caller accepted `counter`. */
  accept(counter: number): ReplayDrop | undefined {
    const v = this.cells.accept(this.cell, counter)
    return v === 'fresh' ? undefined : v
  }

  /** Gives the cell back; the window is not used after this. */
  free(): void {
    this.cells.free(this.cell, 'window')
  }
}
