import { MAX_WINDOW, PREVIOUS_WINDOW_GRACE_SECONDS, WINDOW_SECONDS } from './constants.ts'
import { VftError } from './errors.ts'

/** A VFT time window: floor(unixSeconds / 600), carried as u32 (spec 02-vft.md §1). */
export type Window = number

/** The window a moment falls in. `unixSeconds` may be fractional. */
export function windowOf(unixSeconds: number): Window {
  const window = Math.floor(unixSeconds / WINDOW_SECONDS)
  assertWindow(window)
  return window
}

/** The unix second at which `window` starts. */
export function windowStart(window: Window): number {
  assertWindow(window)
  return window * WINDOW_SECONDS
}

/**
 * The windows whose VFTs a node holds at `unixSeconds`, oldest first
 * (spec 02-vft.md §3): the current and the next window, and the previous one
 * during the first 120 s of the current window. A sender whose clock is up to
 * 120 s ahead or behind therefore always uses a window the receiver holds.
 */
export function heldWindows(unixSeconds: number): Window[] {
  const current = windowOf(unixSeconds)
  const held: Window[] = []
  if (current > 0 && unixSeconds - current * WINDOW_SECONDS < PREVIOUS_WINDOW_GRACE_SECONDS) {
    held.push(current - 1)
  }
  held.push(current)
  if (current < MAX_WINDOW) held.push(current + 1)
  return held
}

/**
 * Seconds until the set of held windows next changes: at the end of the
 * grace period, or at the start of the next window. A node refreshes its
 * subscriptions then.
 */
export function secondsUntilHeldWindowsChange(unixSeconds: number): number {
  const start = windowOf(unixSeconds) * WINDOW_SECONDS
  const elapsed = unixSeconds - start
  return elapsed < PREVIOUS_WINDOW_GRACE_SECONDS
    ? PREVIOUS_WINDOW_GRACE_SECONDS - elapsed
    : WINDOW_SECONDS - elapsed
}

export function assertWindow(window: number): void {
  if (!Number.isInteger(window) || window < 0 || window > MAX_WINDOW) {
    throw new VftError('window-range', `window ${window} is not a u32`)
  }
}
