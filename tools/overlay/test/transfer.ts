/**
 * A TCP transfer across an overlay for the end-to-end tests
 * (fixtures/transfer.ts in both hosts): `mib` MiB from host `from` to `to`;
 * both ends' byte counts and SHA-256 must match.
 */
import { join } from 'node:path'
import { childLines } from '@peertap/tool-netns'
import { expect } from 'vitest'
import type { Overlay } from '../src/index.ts'

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname
const fixture = (name: string) => [
  process.execPath,
  '--conditions=peertap:source',
  join(FIXTURES, name),
]

export async function transfer(
  overlay: Overlay,
  from: string,
  to: { host: string; ip: string },
  port: number,
  mib: number,
): Promise<void> {
  const server = overlay.topo.spawn(to.host, [
    ...fixture('transfer.ts'),
    'server',
    to.ip,
    String(port),
  ])
  const serverOut = childLines(server.stdout!)
  await serverOut.next() // listening
  const client = JSON.parse(
    await overlay.topo.exec(
      from,
      [...fixture('transfer.ts'), 'client', to.ip, String(port), String(mib)],
      120_000,
    ),
  )
  const received = JSON.parse((await serverOut.next()).value!)
  expect(received).toEqual(client)
  expect(received.bytes).toBe(mib * 1024 * 1024)
}
