// Writes mls-control.json from the layouts of docs/spec/11-mls.md §11.2 and
// §11.3, byte by byte here, never from src/: `node
// test/vectors/generate-mls-control.ts` in packages/mls. Inputs are fixed:
// the VLAN-ID is the bytes 0x00..0x1f and the opaque MLS fields (key
// package, Welcome, proposal, lease, bundle) are short filler, since the
// layouts wrap them without reading them.
import { writeFileSync } from 'node:fs'

const hex = (b: number[]) => Buffer.from(b).toString('hex')
const u16 = (n: number) => [n >> 8, n & 255]
const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
const u64 = (n: bigint) => [...u32(Number(n >> 32n)), ...u32(Number(n & 0xffff_ffffn))]
/** `length` bytes of `tag`, then `tag + 1`, …, recognisable in a hex dump. */
const filler = (tag: number, length: number) => Array.from({ length }, (_, i) => (tag + i) & 255)

const vlanId = Array.from({ length: 32 }, (_, i) => i)
const keyPackage = filler(0x4b, 7) // 'K'
const welcome = filler(0x57, 9) // 'W'
const proposal = filler(0x50, 6) // 'P'
const lease = filler(0x4c, 5) // 'L'
const bundleA = filler(0xb0, 15) // a bundle's smallest size (11-mls.md §6)
const bundleB = filler(0xc0, 3)

const valid = [
  {
    name: 'key package (channel 1)',
    layer: 'control',
    channel: 'key-package',
    message: { type: 'key-package', vlanId: hex(vlanId), keyPackage: hex(keyPackage) },
    bytes: hex([...vlanId, ...keyPackage]),
  },
  {
    name: 'Welcome (channel 2)',
    layer: 'control',
    channel: 'welcome',
    message: { type: 'welcome', vlanId: hex(vlanId), welcome: hex(welcome) },
    bytes: hex([...vlanId, ...welcome]),
  },
  {
    name: 'catch-up request (channel 3, 0x01), since 0',
    layer: 'control',
    channel: 'catch-up',
    message: { type: 'catch-up-request', vlanId: hex(vlanId), since: '0' },
    bytes: hex([0x01, ...vlanId, ...u64(0n)]),
  },
  {
    name: 'catch-up request (channel 3, 0x01), since 2^64 - 1',
    layer: 'control',
    channel: 'catch-up',
    message: { type: 'catch-up-request', vlanId: hex(vlanId), since: '18446744073709551615' },
    bytes: hex([0x01, ...vlanId, ...u64((1n << 64n) - 1n)]),
  },
  {
    name: 'catch-up answer (channel 3, 0x02), one bundle',
    layer: 'control',
    channel: 'catch-up',
    message: { type: 'catch-up-answer', vlanId: hex(vlanId), bundles: [hex(bundleA)] },
    bytes: hex([0x02, ...vlanId, ...u16(1), ...u32(bundleA.length), ...bundleA]),
  },
  {
    name: 'catch-up answer (channel 3, 0x02), two bundles',
    layer: 'control',
    channel: 'catch-up',
    message: {
      type: 'catch-up-answer',
      vlanId: hex(vlanId),
      bundles: [hex(bundleA), hex(bundleB)],
    },
    bytes: hex([
      0x02,
      ...vlanId,
      ...u16(2),
      ...u32(bundleA.length),
      ...bundleA,
      ...u32(bundleB.length),
      ...bundleB,
    ]),
  },
  {
    name: 'commit too large for a frame (channel 3, 0x03)',
    layer: 'control',
    channel: 'catch-up',
    message: { type: 'catch-up-commit', vlanId: hex(vlanId), bundle: hex(bundleA) },
    bytes: hex([0x03, ...vlanId, ...bundleA]),
  },
  {
    name: 'proposal (channel 5)',
    layer: 'control',
    channel: 'proposal',
    message: { type: 'proposal', vlanId: hex(vlanId), proposal: hex(proposal) },
    bytes: hex([...vlanId, ...proposal]),
  },
  {
    name: 'lease (channel 6)',
    layer: 'control',
    channel: 'lease',
    message: { type: 'lease', vlanId: hex(vlanId), lease: hex(lease) },
    bytes: hex([...vlanId, ...lease]),
  },
  {
    name: 'in-VLAN commit (0x01)',
    layer: 'vlan',
    message: { type: 'commit', bundle: hex(bundleA) },
    bytes: hex([0x01, ...bundleA]),
  },
  {
    name: 'in-VLAN ack (0x02)',
    layer: 'vlan',
    message: { type: 'ack', epoch: '258', leafIndex: 65539 },
    bytes: hex([0x02, ...u64(258n), ...u32(65539)]),
  },
  {
    name: 'in-VLAN ack (0x02), largest epoch and leaf',
    layer: 'vlan',
    message: { type: 'ack', epoch: '18446744073709551615', leafIndex: 4294967295 },
    bytes: hex([0x02, ...u64((1n << 64n) - 1n), ...u32(4294967295)]),
  },
  {
    name: 'in-VLAN switch (0x03)',
    layer: 'vlan',
    message: { type: 'switch', epoch: '7' },
    bytes: hex([0x03, ...u64(7n)]),
  },
]

const control = (name: string, channel: string, bytes: number[], error: string) => ({
  name,
  layer: 'control',
  channel,
  bytes: hex(bytes),
  error,
})
const inVlan = (name: string, bytes: number[], error: string) => ({
  name,
  layer: 'vlan',
  bytes: hex(bytes),
  error,
})

const invalid = [
  ...['key-package', 'welcome', 'proposal', 'lease'].flatMap((channel) => [
    control(`${channel}: empty payload`, channel, [], 'truncated'),
    control(`${channel}: vlanId cut short`, channel, vlanId.slice(0, 31), 'truncated'),
    control(`${channel}: vlanId and nothing after`, channel, vlanId, 'empty'),
  ]),
  control('catch-up: empty payload', 'catch-up', [], 'truncated'),
  control('catch-up: unknown sub-type 0x00', 'catch-up', [0x00, ...vlanId], 'unknown-type'),
  control('catch-up: unknown sub-type 0x04', 'catch-up', [0x04, ...vlanId], 'unknown-type'),
  control('catch-up: vlanId cut short', 'catch-up', [0x01, ...vlanId.slice(0, 20)], 'truncated'),
  control(
    'catch-up request: since cut short',
    'catch-up',
    [0x01, ...vlanId, 0, 0, 0, 0, 0, 0, 1],
    'truncated',
  ),
  control(
    'catch-up request: a byte after since',
    'catch-up',
    [0x01, ...vlanId, ...u64(1n), 0],
    'trailing-bytes',
  ),
  control('catch-up answer: no count', 'catch-up', [0x02, ...vlanId, 0], 'truncated'),
  control('catch-up answer: zero bundles', 'catch-up', [0x02, ...vlanId, ...u16(0)], 'empty'),
  control(
    'catch-up answer: count larger than the bytes can hold',
    'catch-up',
    [0x02, ...vlanId, ...u16(65535), ...u32(bundleA.length), ...bundleA],
    'count-too-large',
  ),
  control(
    'catch-up answer: a bundle running past the end',
    'catch-up',
    [0x02, ...vlanId, ...u16(1), ...u32(bundleA.length + 1), ...bundleA],
    'truncated',
  ),
  control(
    'catch-up answer: second bundle length cut short',
    'catch-up',
    [
      0x02,
      ...vlanId,
      ...u16(2),
      ...u32(bundleA.length),
      ...bundleA,
      0,
      0,
      0,
      3,
      0xc0,
      0xc1,
      0xc2,
    ].slice(0, -5),
    'truncated',
  ),
  control(
    'catch-up answer: an empty bundle',
    'catch-up',
    [0x02, ...vlanId, ...u16(1), ...u32(0), 0, 0, 0, 0, 0],
    'empty',
  ),
  control(
    'catch-up answer: a byte after the last bundle',
    'catch-up',
    [0x02, ...vlanId, ...u16(1), ...u32(bundleA.length), ...bundleA, 0],
    'trailing-bytes',
  ),
  control('catch-up commit: no bundle', 'catch-up', [0x03, ...vlanId], 'empty'),
  inVlan('in-VLAN: empty body', [], 'truncated'),
  inVlan('in-VLAN: unknown type 0x00', [0x00, 1, 2, 3], 'unknown-type'),
  inVlan('in-VLAN: unknown type 0x04', [0x04, ...u64(1n)], 'unknown-type'),
  inVlan('in-VLAN commit: no bundle', [0x01], 'empty'),
  inVlan('in-VLAN ack: leaf cut short', [0x02, ...u64(1n), 0, 0, 1], 'truncated'),
  inVlan('in-VLAN ack: a byte after the leaf', [0x02, ...u64(1n), ...u32(1), 0], 'trailing-bytes'),
  inVlan('in-VLAN switch: epoch cut short', [0x03, 0, 0, 0, 0, 0, 0, 1], 'truncated'),
  inVlan('in-VLAN switch: a byte after the epoch', [0x03, ...u64(1n), 0], 'trailing-bytes'),
]

writeFileSync(
  new URL('./mls-control.json', import.meta.url),
  `${JSON.stringify(
    {
      spec: 'docs/spec/11-mls.md §11.2 (trunk CONTROL) and §11.3 (kind-2 inside the VLAN)',
      channels: { 'key-package': 1, welcome: 2, 'catch-up': 3, proposal: 5, lease: 6 },
      valid,
      invalid,
    },
    null,
    2,
  )}\n`,
)
