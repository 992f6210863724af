import { NODE_ARGV, Overlay } from './src/harness.ts'

const o = await Overlay.start({ transport: 'tcp' })
try {
  const b = o.node('b')
  console.log(
    await o.topo.exec('a', [...NODE_ARGV, 'ping', b.peerId, '-s', o.node('a').stateDir, '-n', '5']),
  )
  console.log(await o.topo.exec('a', ['ping', '-c', '10', '-i', '0.1', b.ip]))
  console.log(await o.topo.exec('a', ['ping', '-c', '5', '-i', '0.1', o.topo.address('b')]))
} finally {
  await o.stop()
}
