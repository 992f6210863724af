/** `peertap fabric show` for a person (formatFabric): what a user reads. */
import { describe, expect, it } from 'vitest'
import { formatFabric } from '../src/cli-fabric.ts'

describe('formatFabric', () => {
  it('names the fabric, the relay key, and each relay, node and VLAN of the directory', () => {
    const text = formatFabric({
      fabric: 'iedqzvwyd5gle327',
      epoch: 2,
      rootKey: 'ab'.repeat(32),
      credentialKey: 'cd'.repeat(32),
      admin: true,
      admins: ['12D3KooWA'],
      bootstrap: [],
      relays: [
        {
          peerId: '12D3KooWR',
          addresses: ['/ip4/198.51.100.9/tcp/4001/p2p/12D3KooWR'],
          seq: '1',
          expiresIn: 800,
          linked: true,
          load: 7,
        },
      ],
      nodes: [
        {
          peerId: '12D3KooWB',
          addresses: [],
          seq: '5',
          expiresIn: 600,
          linked: false,
          vlans: [{ vlanId: 'x', name: 'lab' }],
        },
      ],
      vlans: [{ vlanId: 'aw5wt3q3', name: 'lab', peers: ['12D3KooWB'] }],
      counters: {},
    })
    expect(text).toContain('fabric   iedqzvwyd5gle327 (epoch 2) — this node is its admin')
    expect(text).toContain(`peertap-relay fabric add KEY`)
    expect(text).toContain('bootstrap none')
    expect(text).toContain('12D3KooWR  linked  load 7  /ip4/198.51.100.9/tcp/4001/p2p/12D3KooWR')
    expect(text).toContain('12D3KooWB  not linked  lab')
    expect(text).toContain('lab  aw5wt3q3  1 member(s)')
  })
})
