import type { ChildProcess } from 'node:child_process'
import type { Topology } from '@peertap/tool-netns'

/**
 * Starts `tcpdump ARGS` on a host of the topology and resolves once it is
 * capturing (it says "listening on" on stderr), so that no packet sent
 * after it resolves is missed; rejects with what tcpdump said if it exits
 * first or is not listening within `timeoutMs`. The caller ends it
 * (SIGTERM, which flushes a `-w` file).
 */
export function startCapture(
  topo: Topology,
  host: string,
  args: readonly string[],
  timeoutMs = 10_000,
): Promise<ChildProcess> {
  const child = topo.spawn(host, ['tcpdump', ...args])
  return new Promise((resolve, reject) => {
    let said = ''
    const fail = (why: string) => {
      clearTimeout(timer)
      child.kill('SIGTERM')
      reject(new Error(`tcpdump on ${host} ${why}; it said: ${said.trim()}`))
    }
    const timer = setTimeout(() => fail(`was not listening after ${timeoutMs} ms`), timeoutMs)
    const exited = (code: number | null) => fail(`exited (${code}) before it listened`)
    child.once('exit', exited)
    const listening = (chunk: Buffer) => {
      said += chunk.toString()
      if (!said.includes('listening on')) return
      clearTimeout(timer)
      child.off('exit', exited)
      child.stderr!.off('data', listening)
      // What it says later (its statistics at the end) is read and dropped: a full pipe would stall it.
      child.stderr!.resume()
      resolve(child)
    }
    child.stderr!.on('data', listening)
  })
}
