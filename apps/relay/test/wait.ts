// Waiting in the relay app's tests, which run real relays in one process.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The first value `probe` gives other than undefined, probing every 50 ms; throws after `ms`. */
export async function until<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(50)
  }
}
