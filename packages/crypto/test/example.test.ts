/** The example of the @packageDocumentation block in src/index.ts, run as written. */
import { expect, it } from 'vitest'
import { derivePskEpochSecrets, FrameReceiver, FrameSender } from '../src/index.ts'

it('the package example runs', () => {
  const secrets = derivePskEpochSecrets(new TextEncoder().encode('fabric secret'))
  const vft = new Uint8Array(16)
  const window = 2_950_000

  const sender = new FrameSender({ kind: 'psk', secrets })
  const receiver = new FrameReceiver({ kind: 'psk', secrets })

  const plaintext = new Uint8Array([0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
  const sealed = sender.seal(vft, plaintext)
  const opened = receiver.open(sealed, vft, window)
  if (typeof opened === 'string') throw new Error(opened)
  expect([...opened]).toEqual([...plaintext])
  expect(receiver.open(sealed, vft, window)).toBe('replay')
  expect(receiver.counters).toMatchObject({ opened: 1, replay: 1, short: 0 })
})
