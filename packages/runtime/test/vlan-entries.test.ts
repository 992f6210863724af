import { peerIdFromString } from '@libp2p/peer-id'
import { deriveVlanId } from '@peertap/vft'
import { describe, expect, it } from 'vitest'
import { founderOf, founderVlanId, isFounder, parseVlan } from '../src/vlan-entries.ts'

const self = '12D3KooWPEj223JvrKMtyHjnxneMqvxbdhs8TYKXistZY8GfGscM'
const other = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'
/** The multihash bytes of a PeerId, as the VLAN-ID takes them. */
const bytes = (peer: string) => peerIdFromString(peer).toMultihash().bytes
const entry = (mls: Record<string, string>) =>
  parseVlan({ name: 'lab', mls, port: { type: 'tap', device: 'pt-lab' } })

describe('the VLAN-ID of an entry (11-mls.md §12, spec 15 §15.1)', () => {
  it('derives from the owner the entry names, self or another', () => {
    expect(isFounder(entry({ owner: 'self' }), self)).toBe(true)
    expect(founderVlanId(entry({ owner: 'self' }), self)).toEqual(deriveVlanId(bytes(self), 'lab'))
    expect(isFounder(entry({ owner: other }), self)).toBe(false)
    expect(founderVlanId(entry({ owner: other }), self)).toEqual(deriveVlanId(bytes(other), 'lab'))
  })

  it('derives from the founder when the entry names one beside the owner that admitted it', () => {
    const joined = entry({ owner: other, founder: self })
    expect(founderOf(joined, self)).toBe(self)
    expect(isFounder(joined, self)).toBe(true)
    const third = entry({ owner: self, founder: other })
    expect(founderOf(third, self)).toBe(other)
    expect(isFounder(third, self)).toBe(false)
    expect(founderVlanId(third, self)).toEqual(deriveVlanId(bytes(other), 'lab'))
  })
})
