// Writes mls-records.json from the record layouts of docs/spec/11-mls.md
// §11.6, byte by byte here, never from src/: `node
// test/vectors/generate-mls-records.ts` in packages/mls. Inputs are fixed:
// the key package and secret are short filler (the record wraps them
// without reading them), the PeerIds are fixed texts and hex strings.
import { writeFileSync } from 'node:fs'

const hex = (b: number[]) => Buffer.from(b).toString('hex')
const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
/** `length` bytes of `tag`, then `tag + 1`, …, recognisable in a hex dump. */
const filler = (tag: number, length: number) => Array.from({ length }, (_, i) => (tag + i) & 255)
const utf8 = (text: string) => [...Buffer.from(text, 'utf8')]

// -- kp-‖hex(vlanId): empty | u32 len ‖ keyPackage(len, ≥ 1) ‖ secret(≥ 1) --------

const keyPackage = filler(0x4b, 7) // 'K'
const secret = filler(0x53, 32) // 'S'
const longKeyPackage = filler(0x00, 300) // a length needing two bytes: 00 00 01 2c

const FRESH = 'treated as none: a fresh key package is made and stored over it'

const kpValid = [
  {
    name: 'empty: no key package (used, or none yet)',
    bytes: hex([]),
    record: null,
    outcome: 'none: a fresh key package is made and stored',
  },
  {
    name: 'a key package and its secret',
    bytes: hex([...u32(keyPackage.length), ...keyPackage, ...secret]),
    record: { keyPackage: hex(keyPackage), secret: hex(secret) },
    outcome: 'the stored key package is sent and its Welcome accepted',
  },
  {
    name: 'the smallest: a 1-byte key package, a 1-byte secret',
    bytes: hex([...u32(1), 0x4b, 0x53]),
    record: { keyPackage: '4b', secret: '53' },
    outcome: 'the stored key package is sent and its Welcome accepted',
  },
  {
    name: 'a 300-byte key package: the length is big-endian (00 00 01 2c)',
    bytes: hex([...u32(300), ...longKeyPackage, ...secret]),
    record: { keyPackage: hex(longKeyPackage), secret: hex(secret) },
    outcome: 'the stored key package is sent and its Welcome accepted',
  },
]

const kpBad = (name: string, bytes: number[], error: string) => ({
  name,
  bytes: hex(bytes),
  error,
  outcome: FRESH,
})

const kpInvalid = [
  kpBad('1 byte: shorter than the length', [0x00], 'truncated'),
  kpBad('3 bytes: shorter than the length', [0x00, 0x00, 0x00], 'truncated'),
  kpBad('a length of 0', [...u32(0), ...secret], 'empty'),
  kpBad('the length alone, 0', u32(0), 'empty'),
  kpBad('a length and nothing after it', u32(7), 'truncated'),
  kpBad(
    'the key package runs past the end',
    [...u32(keyPackage.length + 1), ...keyPackage],
    'truncated',
  ),
  kpBad('the key package fills the record: no secret', [...u32(7), ...keyPackage], 'empty'),
  kpBad(
    'the length written little-endian (07 00 00 00): runs past the end',
    [7, 0, 0, 0, ...keyPackage, ...secret],
    'truncated',
  ),
]

// -- admitted-‖hex(vlanId): UTF-8 JSON ----------------------------------------

const A = '12D3KooWAdmittedA'
const B = '12D3KooWRemovedB'
const C = '12D3KooWRemovedC'
const M1 = '0024080112203a'
const M2 = '0024080112207b'

const ADMIT = 'the owner admits its config members, plus added, minus removed'

const admValid = [
  {
    name: 'no changes, written while not a member',
    text: '{"added":[],"removed":[]}',
    record: { added: [], removed: [] },
    canonical: true,
  },
  {
    name: 'changes, written while not a member',
    text: `{"added":["${A}"],"removed":["${B}","${C}"]}`,
    record: { added: [A], removed: [B, C] },
    canonical: true,
  },
  {
    name: 'changes with the epoch and members as of the write',
    text: `{"added":["${A}"],"removed":["${B}"],"epoch":4,"members":["${M1}","${M2}"]}`,
    record: { added: [A], removed: [B], at: { epoch: 4, members: [M1, M2] } },
    canonical: true,
  },
  {
    name: 'epoch 0, no members',
    text: '{"added":[],"removed":[],"epoch":0,"members":[]}',
    record: { added: [], removed: [], at: { epoch: 0, members: [] } },
    canonical: true,
  },
  {
    name: 'the largest epoch: 2^53 - 1',
    text: '{"added":[],"removed":[],"epoch":9007199254740991,"members":[]}',
    record: { added: [], removed: [], at: { epoch: 9007199254740991, members: [] } },
    canonical: true,
  },
  {
    name: 'any JSON spelling: whitespace and another key order',
    text: `{ "removed" : [ "${B}" ],\n  "added" : [ ] }\n`,
    record: { added: [], removed: [B] },
    canonical: false,
  },
  {
    name: 'other keys are ignored',
    text: '{"added":[],"removed":[],"note":"x","v":2}',
    record: { added: [], removed: [] },
    canonical: false,
  },
  {
    name: 'an epoch without members is ignored (read only together)',
    text: '{"added":[],"removed":[],"epoch":3}',
    record: { added: [], removed: [] },
    canonical: false,
  },
  {
    name: 'members without an epoch are ignored (read only together)',
    text: `{"added":[],"removed":[],"members":["${M1}"]}`,
    record: { added: [], removed: [] },
    canonical: false,
  },
  {
    name: 'members that are not a list: both ignored',
    text: '{"added":[],"removed":[],"epoch":3,"members":"none"}',
    record: { added: [], removed: [] },
    canonical: false,
  },
].map(({ text, ...v }) => ({ ...v, bytes: hex(utf8(text)), outcome: ADMIT }))

const STOP = 'the VLAN does not open (mls-state-corrupt)'
const admBad = (name: string, bytes: number[]) => ({
  name,
  bytes: hex(bytes),
  error: 'bad-record',
  outcome: STOP,
})
const admBadText = (name: string, text: string) => admBad(name, utf8(text))

const admInvalid = [
  admBad('empty', []),
  admBad('not UTF-8 (0xff)', [0xff]),
  admBad('not UTF-8 inside a string', [...utf8('{"added":["'), 0xc3, ...utf8('"],"removed":[]}')]),
  admBadText('cut short', '{"added":[],"removed":[]'),
  admBadText('null', 'null'),
  admBadText('a list, not an object', '[]'),
  admBadText('a number', '4'),
  admBadText('no removed', '{"added":[]}'),
  admBadText('no added', '{"removed":[]}'),
  admBadText('added is not a list', `{"added":"${A}","removed":[]}`),
  admBadText('added holds a number', '{"added":[1],"removed":[]}'),
  admBadText('removed holds null', '{"added":[],"removed":[null]}'),
  admBadText('a negative epoch', '{"added":[],"removed":[],"epoch":-1,"members":[]}'),
  admBadText('a fractional epoch', '{"added":[],"removed":[],"epoch":1.5,"members":[]}'),
  admBadText('an epoch of 2^53', '{"added":[],"removed":[],"epoch":9007199254740992,"members":[]}'),
  admBadText('an epoch as a string', '{"added":[],"removed":[],"epoch":"4","members":[]}'),
  admBadText('a null epoch beside members', '{"added":[],"removed":[],"epoch":null,"members":[]}'),
  admBadText('members holding a number', '{"added":[],"removed":[],"epoch":1,"members":[2]}'),
]

writeFileSync(
  new URL('./mls-records.json', import.meta.url),
  `${JSON.stringify(
    {
      spec: 'docs/spec/11-mls.md §11.6 (records beside the group record)',
      keyPackage: {
        name: 'kp-‖hex(vlanId)',
        layout: 'empty | u32 len (big-endian) ‖ keyPackage(len, ≥ 1) ‖ secret(≥ 1)',
        valid: kpValid,
        invalid: kpInvalid,
      },
      admission: {
        name: 'admitted-‖hex(vlanId)',
        layout:
          'UTF-8 JSON object: "added" and "removed" lists of PeerId texts; "epoch" (0 to 2^53 - 1) and "members" (list of hex PeerIds) read only together',
        valid: admValid,
        invalid: admInvalid,
      },
    },
    null,
    2,
  )}\n`,
)
