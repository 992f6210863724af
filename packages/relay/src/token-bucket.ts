/**
 * A token bucket that may go into debt by one charge (spec 09-forwarding.md §7).
 *
 * A charge passes while the bucket holds more than zero tokens and is then
 * taken in full, possibly below zero; the debt is repaid at `rate` before
 * the next charge passes. So a single charge larger than the burst (a
 * 9000-byte broadcast to 200 neighbours) is never refused forever, while
 * over any interval T the tokens spent stay below `burst + rate × T + one
 * charge`. Time is an argument in seconds; a clock that goes back refills
 * nothing. A rate of Infinity never limits.
 */
export class TokenBucket {
  rate: number
  burst: number
  tokens: number
  last: number

  constructor(rate: number, burst: number, now: number) {
    this.rate = rate
    this.burst = burst
    this.tokens = burst
    this.last = now
  }

  /** Adds the tokens earned since the last refill; once per batch is enough. */
  refill(now: number): void {
    const elapsed = now - this.last
    if (elapsed <= 0) return
    this.last = now
    const tokens = this.tokens + elapsed * this.rate
    this.tokens = Math.min(tokens, this.burst)
  }

  /** Takes `cost` tokens if the bucket is not empty or in debt; false otherwise. */
  take(cost: number): boolean {
    if (this.rate === Number.POSITIVE_INFINITY) return true
    if (this.tokens <= 0) return false
    this.tokens -= cost
    return true
  }

  /** Changes rate and burst, keeping the tokens it holds (capped at the new burst). */
  configure(rate: number, burst: number): void {
    this.rate = rate
    this.burst = burst
    if (this.tokens > burst) this.tokens = burst
  }
}
